"""``python -m trainset quality score|hints``: labeling quality control on files, without the DB.

``score --images DIR --gt GT... --labels LABELS... [--iou 0.4]`` compares each labeler's items with GT (CVAT's
definitions, ``trainset.quality.scoring``) and prints one JSON line per item (``kind: item``) and then one per
labeler (``kind: labeler``: labeler, accuracy, precision, recall, mean_iou, conflicts by type, ...).

``hints --images DIR LABELS... [--predictions F]`` prints one JSON line per label-error hint (item, object, code,
score, detail, labeler); ``--predictions`` is a COCO results file of any detector.

Labels: every format ``validate`` reads (project JSON, K-Fashion JSON, COCO, YOLO + names, zips); the labeler is
the folder name above each label file unless ``--labeler`` names one.  Files that cannot be read are printed as
``kind: unreadable`` lines with their reason codes (run ``validate`` for the first inspection itself).
"""

from __future__ import annotations

import json
from pathlib import Path

from trainset.config import load_config


def register(sub) -> None:
    p = sub.add_parser("quality", help="labeling quality: scores against GT, label-error hints (no DB)")
    qsub = p.add_subparsers(dest="quality_command", required=True)
    s = qsub.add_parser("score", help="score labelers against ground-truth labels")
    s.add_argument("--images", type=Path, required=True, help="folder with the images (sizes, YOLO scaling)")
    s.add_argument("--gt", type=Path, nargs="+", required=True, help="ground-truth label files or folders")
    s.add_argument("--labels", type=Path, nargs="+", required=True, help="labelers' label files or folders")
    s.add_argument("--iou", type=float, default=None, help="match IoU (default quality.gt_iou, 0.4)")
    s.add_argument("--labeler", help="one labeler name for every label file (default: the folder above each file)")
    s.add_argument("--config", type=Path, help="project file (default include/project.yaml or TRAINSET_CONFIG)")
    s.set_defaults(func=_score)
    h = qsub.add_parser("hints", help="label-error hints (box statistics, appearance, duplicates, predictions)")
    h.add_argument("--images", type=Path, required=True, help="folder with the images")
    h.add_argument("labels", type=Path, nargs="+", help="label files or folders")
    h.add_argument("--predictions", type=Path, help="COCO results JSON: [{image_id, category_id, bbox, score}]")
    h.add_argument("--labeler", help="one labeler name for every label file (default: the folder above each file)")
    h.add_argument("--config", type=Path, help="project file (default include/project.yaml or TRAINSET_CONFIG)")
    h.set_defaults(func=_hints)
    g = qsub.add_parser("gt", help="mark the GT (honeypot) set in the records DB: passed items or reference labels")
    g.add_argument("--items", nargs="+", default=[], help="item keys whose passed label becomes GT")
    g.add_argument("--labels", type=Path, nargs="+", default=[],
                   help="reference label files or folders (any format validate reads) for warehouse images")
    g.add_argument("--images", type=Path, help="folder with the images (sizes for YOLO labels)")
    g.add_argument("--dsn", help="PostgreSQL DSN (default: TRAINSET_DB_DSN or AIRFLOW_CONN_TRAINSET_DB)")
    g.add_argument("--config", type=Path, help="project file (default include/project.yaml or TRAINSET_CONFIG)")
    g.set_defaults(func=_gt)


def _check_paths(what: str, paths: list[Path]) -> None:
    for path in paths:
        if not path.exists():
            raise SystemExit(f"quality {what}: {path} does not exist")


def _print(row: dict) -> None:
    print(json.dumps(row, ensure_ascii=False))


def _unreadable(problems: list[dict]) -> None:
    for p in problems:
        _print({"kind": "unreadable", "item": p.get("item"), "label": p.get("label"),
                "reason_codes": p.get("reason_codes", [])})


def _score(args) -> int:
    from trainset.quality.files import image_sizes, read_label_paths
    from trainset.quality.scoring import compare_item, summarize

    config = load_config(args.config)
    if not args.images.is_dir():
        raise SystemExit(f"quality score: {args.images} is not a folder")
    _check_paths("score", args.gt + args.labels)
    q = config.quality
    iou = q.gt_iou if args.iou is None else args.iou
    if not 0 < iou <= 1:
        raise SystemExit("quality score: --iou must be in (0, 1]")
    sizes, _ = image_sizes(args.images)
    gt_set = read_label_paths(args.gt, config, sizes, labeler="gt")
    labels = read_label_paths(args.labels, config, sizes, labeler=args.labeler)
    _unreadable(gt_set.problems + labels.problems)
    gt = gt_set.items.get("gt", {})
    if not gt:
        raise SystemExit("quality score: no readable ground-truth item")
    scored_any = False
    for labeler in sorted(labels.items):
        items = labels.items[labeler]
        scores = []
        for key in sorted(set(items) & set(gt)):
            score = compare_item(gt[key], items[key], iou_threshold=iou, low_overlap=q.low_overlap_iou)
            scores.append(score)
            _print({"kind": "item", "labeler": labeler, **score.as_dict()})
        total = summarize(scores).metrics()
        scored_any |= bool(scores)
        _print({"kind": "labeler", "labeler": labeler, "items": len(scores),
                "items_without_gt": len(set(items) - set(gt)), **total})
    return 0 if scored_any else 1


def _coco_image_ids(paths: list[Path]) -> tuple[dict[str, str], dict[int, str]]:
    """COCO image id -> item key and category id -> name from any COCO label file given."""
    image_ids: dict[str, str] = {}
    categories: dict[int, str] = {}
    for root in paths:
        for path in (sorted(root.rglob("*.json")) if root.is_dir() else [root] if root.suffix == ".json" else []):
            try:
                data = json.loads(path.read_text(encoding="utf-8-sig"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and isinstance(data.get("images"), list):
                for im in data["images"]:
                    if isinstance(im, dict) and "id" in im and isinstance(im.get("file_name"), str):
                        image_ids[str(im["id"])] = Path(im["file_name"]).stem
                for c in data.get("categories") or []:
                    if isinstance(c, dict) and isinstance(c.get("id"), int):
                        categories[c["id"]] = str(c.get("name"))
    return image_ids, categories


def _hints(args) -> int:
    from trainset.quality.files import crop_loader, image_sizes, read_label_paths
    from trainset.quality.hints import label_hints, prediction_hints, read_coco_results

    config = load_config(args.config)
    if not args.images.is_dir():
        raise SystemExit(f"quality hints: {args.images} is not a folder")
    _check_paths("hints", args.labels + ([args.predictions] if args.predictions else []))
    settings = config.quality.hints
    sizes, photos = image_sizes(args.images)
    labels = read_label_paths(args.labels, config, sizes, labeler=args.labeler)
    _unreadable(labels.problems)
    # One population for the class statistics; an item labeled by several labelers appears once per labeler.
    pooled, owner = [], {}
    for labeler, items in sorted(labels.items.items()):
        for key, item in sorted(items.items()):
            uid = f"{labeler}/{key}"
            owner[uid] = (labeler, key)
            pooled.append(item.model_copy(update={"item_key": uid}))
    pooled_sizes = {uid: sizes[key] for uid, (_, key) in owner.items() if key in sizes}
    loader = crop_loader({uid: photos[key] for uid, (_, key) in owner.items() if key in photos})
    hints = label_hints(pooled, settings, sizes=pooled_sizes, crops=loader)
    if args.predictions:
        image_ids, categories = _coco_image_ids(args.labels)
        categories = categories or {c.id: c.name for c in config.classes}
        try:
            data = json.loads(args.predictions.read_text(encoding="utf-8-sig"))
        except ValueError as err:
            raise SystemExit(f"quality hints: {args.predictions} is not JSON ({err})") from err
        preds, problems = read_coco_results(data, categories=categories, image_ids=image_ids)
        for problem in problems:
            _print({"kind": "unreadable", "item": None, "label": str(args.predictions),
                    "reason_codes": ["prediction_unreadable"], "detail": problem})
        for labeler, items in sorted(labels.items.items()):
            for h in prediction_hints(list(items.values()), preds, settings):
                h.item = f"{labeler}/{h.item}"
                hints.append(h)
    for h in sorted(hints, key=lambda h: (h.item, h.object or "", h.code)):
        labeler, key = owner.get(h.item, (None, h.item))
        _print({"kind": "hint", "labeler": labeler, "item": key, "object": h.object, "code": h.code,
                "score": h.score, "detail": h.detail})
    return 0


def _gt(args) -> int:
    from trainset import db
    from trainset.quality.assign import add_reference_gt, mark_gt
    from trainset.quality.files import image_sizes, read_label_paths

    config = load_config(args.config)
    if not args.items and not args.labels:
        raise SystemExit("quality gt: give --items and/or --labels")
    _check_paths("gt", args.labels)
    day = config.project.today()
    conn = db.connect(args.dsn)
    try:
        marked = mark_gt(conn, args.items, day) if args.items else 0
        added = 0
        if args.labels:
            sizes = image_sizes(args.images)[0] if args.images else {}
            labels = read_label_paths(args.labels, config, sizes, labeler="reference")
            _unreadable(labels.problems)
            added = add_reference_gt(conn, list(labels.items.get("reference", {}).values()), day)
        conn.commit()  # the command is the runner: one commit for both writes
    finally:
        conn.close()
    _print({"kind": "gt", "marked_from_passed": marked, "reference_added": added})
    return 0 if marked or added else 1
