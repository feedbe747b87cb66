"""``python -m trainset refine FILE_OR_DIR... --out DIR``: the refine checks and transformations on files, without
Airflow or the records DB; one JSON line per input (verdict, reason codes, measurements, detections, paths)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(sub) -> None:
    parser = sub.add_parser("refine", help="refine files outside Airflow (no DB): check, de-identify, resize",
                            description=__doc__)
    parser.add_argument("inputs", nargs="+", type=Path, metavar="FILE_OR_DIR")
    parser.add_argument("--out", type=Path, required=True, help="folder for the outputs")
    parser.add_argument("--config", type=Path, help="project file (default: include/project.yaml or $TRAINSET_CONFIG)")
    parser.add_argument("--all", action="store_true",
                        help="also write outputs for images that fail a check (under OUT/rejected/)")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    from trainset.config import get_config, load_config
    from trainset.refine.local import refine_files

    missing = [str(p) for p in args.inputs if not p.exists()]
    if missing:
        print(f"no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    config = load_config(args.config) if args.config else get_config()
    passed = rejected = 0
    for record in refine_files(args.inputs, args.out, config, write_all=args.all):
        print(json.dumps(record, ensure_ascii=False, default=str), flush=True)
        passed += record["verdict"] == "passed"
        rejected += record["verdict"] == "rejected"
    print(f"refine: {passed} passed, {rejected} rejected; outputs in {args.out}", file=sys.stderr)
    return 0
