"""Simulated labelers for the demo and the tests, and the PM's summary lines for the stage.

``simulate_labelers(conn, config, day)`` reads the day's assignments and writes what each worker "uploads" into
``<labeling>/uploads/<day>/<worker>/``: kim and lee (and any other worker) the project's JSON per item, park
one COCO file, yoon a zip of YOLO txt (with ``classes.txt`` and one member trying ``../`` path traversal), and
choi nothing.  Among the per-item JSON workers' items (sorted by item key), every ``clean_every``-th item is
clean and the others carry the defects of ``DEFECTS`` in turn, so each defect's rate is known:
1 / (len(DEFECTS) * clean_every / (clean_every - 1)) of those items.  The return value says, per item, which
defect was injected and the reason codes the first inspection must give (empty for clean items and for
defects the refinement remedies repair).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import PurePosixPath

from trainset.annotate.distribute import distribute_day
from trainset.annotate.uploads import upload_prefix
from trainset.annotate.warehouse import SIZE_SQL, real_size
from trainset.config import ProjectConfig
from trainset.db import fetch_dicts
from trainset.storage import Storage, open_storage

SILENT_WORKERS = ("choi",)
WORKER_FORMATS = {"park": "coco", "yoon": "yolo_zip"}  # everyone else: the project's per-item JSON

# defect -> the reason codes the first inspection must record (after remedies; [] = repaired and passed).
# Ordered so that a small day (the demo's) still meets every category: syntax, geometry, taxonomy, metadata,
# duplicates, pairing and the refinement remedies.
DEFECTS: dict[str, list[str]] = {
    "invalid_json": ["invalid_json"],
    "outside_image": ["outside_image"],
    "unknown_class": ["unknown_class"],
    "capture_date_future": ["capture_date_future"],
    "duplicate_object": ["duplicate_object"],
    "prerename_file_name": [],  # label file named after the original photo: repaired (original_name)
    "schema_missing_key": ["schema_missing_key"],
    "box_too_small": ["box_too_small"],
    "unknown_attribute_value": ["unknown_attribute_value"],
    "duplicate_annotation_id": ["duplicate_annotation_id"],
    "resized_after_labeling": [],  # labeled on the 2x original: repaired (rescale)
    "stem_mismatch": ["stem_mismatch"],  # a name that is not the image's original name: not repairable
    "polygon_self_intersecting": ["polygon_self_intersecting"],
    "capture_date_format": ["capture_date_format"],
    "invalid_utf8": ["invalid_utf8"],
    "image_size_mismatch": ["image_size_mismatch"],  # not one scale: not repairable
    "prerename_image_field": [],  # image.file_name = original name: repaired (original_name)
    "schema_wrong_type": ["schema_wrong_type"],
    "box_non_positive": ["box_non_positive"],
    "unknown_attribute": ["unknown_attribute"],
    "polygon_too_few_points": ["polygon_too_few_points"],
    "schema_bad_enum": ["schema_bad_enum"],
    "polygon_zero_area": ["polygon_zero_area"],
}


def _objects(cls: str, w: int, h: int, attributes: dict) -> list[dict]:
    box = [round(w * 0.2, 1), round(h * 0.25, 1), round(w * 0.4, 1), round(h * 0.5, 1)]
    poly = [[w * 0.65, h * 0.2], [w * 0.9, h * 0.25], [w * 0.85, h * 0.7], [w * 0.7, h * 0.6]]
    return [
        {"id": 1, "category": cls, "shape": "bbox", "bbox": box, "attributes": attributes},
        {"id": 2, "category": cls, "shape": "polygon", "points": [[round(x, 1), round(y, 1)] for x, y in poly],
         "attributes": attributes},
    ]


def _first_attribute(config: ProjectConfig, cls: str) -> dict:
    c = config.class_by_name(cls)
    return {k: v[0] for k, v in list(c.attributes.items())[:1] if v} if c else {}


def project_label(config: ProjectConfig, item: dict, day: dt.date, defect: str | None) -> tuple[str, bytes]:
    """(file name, bytes) of one item's label in the project's JSON, with ``defect`` injected.

    Long on purpose: one short branch per defect the demo injects, read top to bottom as the table of what each
    reason code looks like in a real upload (splitting it would scatter that table)."""
    key, cls, w, h = item["item_key"], item["class_name"], item["width"], item["height"]
    original = item["original_name"]
    doc = {
        "info": {"format": "trainset-aihub", "version": "1.0", "annotator": item["worker_id"]},
        "image": {"file_name": item["dataset_name"], "width": w, "height": h, "class_name": cls},
        "capture": {"date": (day - dt.timedelta(days=2)).isoformat(), "device": "SM-S918N", "location": "서울"},
        "annotations": _objects(cls, w, h, _first_attribute(config, cls)),
    }
    anns = doc["annotations"]
    name = f"{key}.json"
    if defect == "schema_missing_key":
        del doc["capture"]
    elif defect == "schema_wrong_type":
        doc["image"]["width"] = str(w)
    elif defect == "schema_bad_enum":
        anns[0]["shape"] = "rectangle"
    elif defect == "outside_image":
        anns[0]["bbox"] = [w - 20.0, 10.0, 80.0, 40.0]
    elif defect == "box_non_positive":
        anns[0]["bbox"][2] = 0
    elif defect == "box_too_small":
        anns[0]["bbox"] = [30.0, 30.0, 2.0, 2.0]
    elif defect == "polygon_too_few_points":
        anns[1]["points"] = anns[1]["points"][:2]
    elif defect == "polygon_zero_area":
        anns[1]["points"] = [[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]]
    elif defect == "polygon_self_intersecting":
        anns[1]["points"] = [[w * 0.6, h * 0.1], [w * 0.9, h * 0.5], [w * 0.9, h * 0.1], [w * 0.6, h * 0.7]]
    elif defect == "unknown_class":
        anns[0]["category"] = "unicorn"
        anns[0]["attributes"] = {}
    elif defect == "unknown_attribute":
        anns[0]["attributes"] = {**anns[0]["attributes"], "color": "red"}
    elif defect == "unknown_attribute_value":
        anns.append({"id": 3, "category": "person", "shape": "bbox", "bbox": [5.0, 5.0, 30.0, 30.0],
                     "attributes": {"pose": "flying"}})
    elif defect == "capture_date_format":
        doc["capture"]["date"] = day.strftime("%Y/%m/%d")
    elif defect == "capture_date_future":
        doc["capture"]["date"] = (day + dt.timedelta(days=30)).isoformat()
    elif defect == "duplicate_object":
        b = anns[0]["bbox"]
        anns.append({"id": 3, "category": cls, "shape": "bbox", "bbox": [b[0] + 1, b[1], b[2], b[3]],
                     "attributes": anns[0]["attributes"]})
    elif defect == "duplicate_annotation_id":
        anns[1]["id"] = 1
    elif defect == "stem_mismatch":
        doc["image"]["file_name"] = "IMG_0001.jpg"
    elif defect == "image_size_mismatch":
        doc["image"]["width"] = w + 37
    elif defect == "prerename_file_name":
        doc["image"]["file_name"] = original
        name = f"{PurePosixPath(original).stem}.json"
    elif defect == "prerename_image_field":
        doc["image"]["file_name"] = original
    elif defect == "resized_after_labeling":
        doc["image"]["width"], doc["image"]["height"] = w * 2, h * 2
        for a in anns:
            if "bbox" in a:
                a["bbox"] = [v * 2 for v in a["bbox"]]
            if "points" in a:
                a["points"] = [[x * 2, y * 2] for x, y in a["points"]]
    data = json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")
    if defect == "invalid_json":
        data = data[: len(data) // 2]
    elif defect == "invalid_utf8":
        data = data.replace("서울".encode(), b"\xbc\xad\xbf\xef")  # EUC-KR bytes of 서울
    return name, data


def _coco(config: ProjectConfig, items: list[dict], day: dt.date) -> bytes:
    cats = sorted(config.classes, key=lambda c: c.id)
    images, annotations = [], []
    for n, item in enumerate(items, 1):
        # date_captured in COCO's own form ("2013-11-14 11:18:45"), as COCO-writing tools put it.
        images.append({"id": n, "file_name": item["dataset_name"], "width": item["width"], "height": item["height"],
                       "date_captured": f"{day:%Y-%m-%d} 09:{n % 60:02d}:00"})
        cat_id = next(c.id for c in cats if c.name == item["class_name"])
        for obj in _objects(item["class_name"], item["width"], item["height"], {}):
            ann = {"id": len(annotations) + 1, "image_id": n, "category_id": cat_id, "iscrowd": 0,
                   "attributes": _first_attribute(config, item["class_name"])}
            if obj["shape"] == "bbox":
                ann["bbox"] = obj["bbox"]
                ann["segmentation"] = []
            else:
                flat = [v for p in obj["points"] for v in p]
                xs, ys = flat[0::2], flat[1::2]
                ann["segmentation"] = [flat]
                ann["bbox"] = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
            annotations.append(ann)
    doc = {"info": None, "licenses": [], "images": images, "annotations": annotations,
           "categories": [{"id": c.id, "name": c.name, "supercategory": ""} for c in cats]}
    return json.dumps(doc, indent=1).encode()


def _yolo_zip(config: ProjectConfig, items: list[dict]) -> bytes:
    names = [c.name for c in sorted(config.classes, key=lambda c: c.id)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("labels/classes.txt", "\n".join(names) + "\n")
        for item in items:
            idx = names.index(item["class_name"])
            zf.writestr(f"labels/{item['item_key']}.txt", f"{idx} 0.4 0.5 0.4 0.5\n{idx} 0.75 0.3 0.2 0.2\n")
        zf.writestr("../../outside.txt", "0 0.5 0.5 0.1 0.1\n")  # path traversal: must be refused
    return buf.getvalue()


def simulate_labelers(conn, config: ProjectConfig, day: dt.date, labeling: Storage | None = None, *,
                      clean_every: int = 2) -> dict[str, dict]:
    """Write the day's simulated uploads; returns {item_key: {worker_id, format, defect, expected}}."""
    labeling = labeling or open_storage(config.storage.labeling)
    with conn.cursor() as cur:
        items = fetch_dicts(cur, f"""
            SELECT a.worker_id, regexp_replace(i.dataset_name, '\\.[^.]*$', '') AS item_key, i.dataset_name,
                   i.original_name, i.class_name, i.location, {SIZE_SQL}
            FROM assignments a JOIN images i USING (image_id)
            WHERE a.work_date = %s ORDER BY item_key""", (day,))
    for item in items:  # labelers see the warehouse file
        item["width"], item["height"] = real_size(item["location"], (item["width"], item["height"]))
    truth: dict[str, dict] = {}
    by_worker: dict[str, list[dict]] = {}
    for item in items:
        by_worker.setdefault(item["worker_id"], []).append(item)
    kinds = list(DEFECTS)
    position = 0
    for worker_id, mine in sorted(by_worker.items()):
        prefix = upload_prefix(day, worker_id)
        fmt = "silent" if worker_id in SILENT_WORKERS else WORKER_FORMATS.get(worker_id, "aihub")
        if fmt == "silent":
            for item in mine:
                truth[item["item_key"]] = {"worker_id": worker_id, "format": fmt, "defect": "not_uploaded",
                                           "expected": ["no_label"]}
        elif fmt == "coco":
            labeling.write_bytes(f"{prefix}/annotations_{day:%Y%m%d}.json", _coco(config, mine, day))
            truth.update({i["item_key"]: {"worker_id": worker_id, "format": fmt, "defect": None, "expected": []}
                          for i in mine})
        elif fmt == "yolo_zip":
            labeling.write_bytes(f"{prefix}/labels_{day:%Y%m%d}.zip", _yolo_zip(config, mine))
            truth.update({i["item_key"]: {"worker_id": worker_id, "format": fmt, "defect": None, "expected": []}
                          for i in mine})
        else:
            for item in mine:
                defect = None if position % clean_every == 0 else kinds[(position - position // clean_every - 1)
                                                                          % len(kinds)]
                position += 1
                # A pre-rename file name needs a unique original name to be repairable: otherwise stay clean.
                if defect == "prerename_file_name" and sum(1 for i in items
                                                          if i["original_name"] == item["original_name"]) > 1:
                    defect = None
                name, data = project_label(config, item, day, defect)
                labeling.write_bytes(f"{prefix}/{name}", data)
                truth[item["item_key"]] = {"worker_id": worker_id, "format": fmt, "defect": defect,
                                           "expected": DEFECTS[defect] if defect else []}
    return truth


DEMO_WORK_DATE = dt.date(2026, 3, 16)  # the Monday after the demo photos were taken


def demo_prepare(conn, config: ProjectConfig, day: dt.date = DEMO_WORK_DATE) -> dict[str, dict]:
    """The demo day before the DAG runs: the morning distribution (as the 09:00 task would; the DAG then reuses
    it) and the labelers' uploads. Run the DAG with ``conf={"work_date": "2026-03-16"}`` afterwards."""
    labeling = open_storage(config.storage.labeling)
    distribute_day(conn, config, labeling, day)
    conn.commit()
    return simulate_labelers(conn, config, day, labeling)


def demo_summary(conn, day: dt.date | None = None, *, run_id: str | None = None,
                 config: ProjectConfig | None = None) -> list[str]:
    """The PM's lines for the stage: the day's distribution and first-inspection results (trainset.figures).

    The figures are the work date's (a re-run rebuilds that day whole, so they are never doubled)."""
    from trainset import figures
    from trainset.config import get_config

    target = (config or get_config()).annotate.syntax_accuracy_target
    with conn.cursor() as cur:
        if day is None:
            cur.execute("SELECT max(work_date) FROM assignments")
            day = cur.fetchone()[0]
        if day is None:
            return ["annotate_intake: no assignments yet"]
        dist = fetch_dicts(cur, """SELECT worker_id, count(*) AS n, count(*) FILTER (WHERE task_kind = 'rework') AS rw
                                   FROM assignments WHERE work_date = %s GROUP BY 1 ORDER BY 1""", (day,))
        cur.execute("SELECT count(*) FROM notifications WHERE dedupe_key LIKE %s AND status = 'sent'",
                    (f"annotate:missing_upload:{day.isoformat()}:%",))
        messages = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM rework_queue WHERE opened_on = %s", (day,))
        rework = cur.fetchone()[0]
    fig = figures.first_inspection(conn, figures.Scope.work_date(day))
    lines = [f"annotate_intake {day}: distributed {sum(r['n'] for r in dist)} items to {len(dist)} workers ("
             + ", ".join(f"{r['worker_id']} {r['n']}" + (f" incl. {r['rw']} rework" if r["rw"] else "")
                         for r in dist) + ")"]
    for worker, r in fig.per_worker.items():
        lines.append(f"  {worker}: assigned {r['assigned']}, missing {r['missing']}, first-inspected "
                     f"{r['inspected']}, passed {r['passed']} ({r['repaired']} after repair), failed {r['failed']}")
    lines.append("  " + figures.first_inspection_line(fig, target))
    lines.append(f"  missing-upload Slack messages: {messages}; rework queue: {rework} items opened on this work date")
    return lines
