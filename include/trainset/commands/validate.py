"""``python -m trainset validate IMAGES_DIR LABELS_PATH...``: the first inspection's rules on files, no DB.

Prints one JSON line per item (passed, reason codes with the offending field or annotation, the normalised
annotation count); exits 1 when any item failed, 0 when all passed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from trainset.config import load_config


def register(sub) -> None:
    p = sub.add_parser("validate", help="run the first inspection (1차 검수) on label files without the DB")
    p.add_argument("images_dir", type=Path, help="folder with the images (matched to labels by file stem)")
    p.add_argument("labels", type=Path, nargs="+",
                   help="label files or folders: project JSON, AI Hub K-Fashion JSON, COCO JSON, YOLO txt, zip")
    p.add_argument("--config", type=Path, help="project file (default include/project.yaml or TRAINSET_CONFIG)")
    p.add_argument("--work-date", type=dt.date.fromisoformat, default=None,
                   help="date a capture date may not be after (default: today)")
    p.add_argument("--require-labels", action="store_true", help="report images without a label (no_label)")
    p.add_argument("--docs-dir", type=Path, help="build Great Expectations Data Docs in this folder")
    p.set_defaults(func=_validate)


def _validate(args) -> int:
    from trainset.annotate.offline import validate_paths

    config = load_config(args.config)
    if not args.images_dir.is_dir():
        raise SystemExit(f"validate: {args.images_dir} is not a folder")
    for path in args.labels:
        if not path.exists():
            raise SystemExit(f"validate: {path} does not exist")
    results = validate_paths(args.images_dir, list(args.labels), config,
                             work_date=args.work_date or config.project.today(),
                             require_labels=args.require_labels, docs_dir=args.docs_dir)
    for r in results:
        print(json.dumps(r, ensure_ascii=False))
    return 0 if all(r["passed"] for r in results) else 1
