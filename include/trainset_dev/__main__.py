import sys

from trainset_dev.cli import main

sys.exit(main())
