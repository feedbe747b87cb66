import sys

from trainset.cli import main

sys.exit(main())
