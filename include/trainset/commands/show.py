"""``python -m trainset show``: draw ground truth over images (boxes, polygons, Korean class names).

    python -m trainset show IMAGE LABEL.json [-o out.jpg]             one item
    python -m trainset show --images DIR --labels DIR -o GALLERY_DIR  a gallery of every pair (by file stem)
    python -m trainset show --db [--day YYYY-MM-DD] [--verdict fail|pass|all] -o GALLERY_DIR
                                                                       the server's verdicts from the records DB

A gallery is ``index.html`` with contact sheets per class, worker and reason; open it in a browser.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from trainset.config import load_config


def register(sub) -> None:
    p = sub.add_parser("show", help="render labels over images (one item, a folder, or the DB's verdicts)")
    p.add_argument("paths", type=Path, nargs="*", help="IMAGE LABEL.json for one item")
    p.add_argument("--images", type=Path, help="folder of images (matched to labels by file stem)")
    p.add_argument("--labels", type=Path, help="folder of label JSON files (project / AI Hub style)")
    p.add_argument("--db", action="store_true", help="items with a server verdict, from the records DB")
    p.add_argument("--dsn", help="records DB (default TRAINSET_DB_DSN / AIRFLOW_CONN_TRAINSET_DB)")
    p.add_argument("--day", type=dt.date.fromisoformat, help="only verdicts of this day (with --db)")
    p.add_argument("--verdict", choices=("fail", "pass", "all"), default="fail", help="with --db (default fail)")
    p.add_argument("--s3-endpoint", help="S3 endpoint for s3:// image locations (with --db)")
    p.add_argument("--group-by", default="class,worker,reason", help="contact sheets by (default class,worker,reason)")
    p.add_argument("-o", "--out", type=Path, help="output image (one item) or gallery folder")
    p.add_argument("--config", type=Path, help="project file (default include/project.yaml or TRAINSET_CONFIG)")
    p.set_defaults(func=_show)


def _label_meta(doc: dict) -> tuple[str | None, str | None]:
    from trainset.inspection import labels

    image = labels.image_info(doc)
    cls = image.get("class_name") or next((labels.category_of(a) for a in labels.annotation_list(doc)), None)
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    return cls, info.get("annotator") or info.get("worker_id")


def _show(args) -> int:
    from PIL import Image

    from trainset.inspection.viewer import GROUPS, ViewItem, build_gallery, render

    config = load_config(args.config)
    group_by = tuple(g.strip() for g in args.group_by.split(",") if g.strip())
    if bad := [g for g in group_by if g not in GROUPS]:
        raise SystemExit(f"show: --group-by {bad} not in {GROUPS}")
    if len(args.paths) == 2:
        image_path, label_path = args.paths
        doc = json.loads(label_path.read_text(encoding="utf-8-sig"))
        out = args.out or image_path.with_name(f"{image_path.stem}_show.jpg")
        with Image.open(image_path) as im:
            render(im, doc, config=config, caption=image_path.stem).save(out, quality=90)
        print(out)
        return 0
    if args.paths:
        raise SystemExit("show: give IMAGE LABEL.json, or --images/--labels, or --db")
    if not args.out:
        raise SystemExit("show: a gallery needs -o/--out FOLDER")
    if args.db:
        items = _items_from_db(args)
        title = f"검수 {args.verdict}" + (f" — {args.day}" if args.day else "")
    elif args.images and args.labels:
        items = []
        images = {p.stem: p for p in sorted(args.images.rglob("*")) if p.is_file() and
                  p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")}
        for label in sorted(args.labels.rglob("*.json")):
            try:
                doc = json.loads(label.read_text(encoding="utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                print(f"skipped {label}: {err}")
                continue
            if label.stem not in images or not isinstance(doc, dict):
                print(f"skipped {label}: no image with that stem" if label.stem not in images else
                      f"skipped {label}: not a JSON object")
                continue
            cls, worker = _label_meta(doc)
            items.append(ViewItem(label.stem, images[label.stem], doc, cls, worker))
        title = f"labels in {args.labels}"
    else:
        raise SystemExit("show: give IMAGE LABEL.json, or --images DIR --labels DIR, or --db")
    page = build_gallery(items, args.out, config=config, group_by=group_by, title=title)
    print(f"{len(items)} item(s): {page.as_uri()}")
    return 0


def _items_from_db(args):
    import tempfile

    from trainset import db
    from trainset.inspection.transfer import fetch_uri
    from trainset.inspection.viewer import failed_items, view_items_from_rows

    client = None
    if args.s3_endpoint:
        import boto3

        client = boto3.client("s3", endpoint_url=args.s3_endpoint)
    conn = db.connect(args.dsn)
    try:
        rows = failed_items(conn, day=args.day, verdict=args.verdict)
    finally:
        conn.close()
    work = Path(tempfile.mkdtemp(prefix="trainset-show-"))
    return view_items_from_rows(rows, lambda uri: fetch_uri(uri, client, work))
