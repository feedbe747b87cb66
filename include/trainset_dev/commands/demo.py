"""``python -m trainset_dev demo build DIR``: write the demo drop zone (real photos from installed packages)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def register(sub) -> None:
    parser = sub.add_parser("demo", help="demo data")
    actions = parser.add_subparsers(dest="demo_command", required=True)
    build = actions.add_parser("build", help="write the demo drop zone into DIR")
    build.add_argument("dir", type=Path)
    build.set_defaults(func=_build)


def _build(args) -> int:
    from trainset_dev.demo.dropzone import build_drop_zone

    files = build_drop_zone(args.dir)
    expected = Counter(f.expected for f in files)
    print(f"demo drop zone: {len(files)} files in {args.dir} ({', '.join(f'{k} {v}' for k, v in sorted(expected.items()))})")
    return 0
