"""Round trip: a demo release (the train-handoff stage's own publish, over seeded inspected items) is read back by
the project's own first inspection (``python -m trainset validate``): every COCO, YOLO and AI Hub file passes,
and every released image has its label."""

from __future__ import annotations

import datetime as dt
import json
import zipfile

import pytest
from trainset.cli import main
from trainset.config import get_config
from trainset.storage import LocalStorage
from trainset.train.exports import AIHUB_LABEL, AIHUB_SOURCE, AIHUB_SPLITS
from trainset.train.release import plan_release, publish_release, uri_reader
from trainset_dev.seeds.train import seed_inspected_items

SPLITS = ("train", "validation", "test")
WORK_DATE = dt.date(2026, 3, 31)  # after every seeded capture day


@pytest.fixture(scope="module")
def release(records_dsn, tmp_path_factory, truncate_records):
    from trainset import db

    tmp = tmp_path_factory.mktemp("roundtrip")
    conn = db.connect(records_dsn)
    truncate_records(conn)
    passed = seed_inspected_items(conn, tmp / "warehouse", {"person": 6, "animal": 5, "vehicle": 5, "food": 3,
                                                            "object": 3}, session_size=2, failed_share=0.1)
    with conn.cursor() as cur:
        # What the demo's seeded boxes do not have: a polygon with class attributes, a box touching the right
        # and bottom edges (YOLO's rounding must not push it outside), and a photo with no capture time.
        cur.execute("SELECT a.annotation_id, a.payload, i.width, i.height, a.item_key FROM annotations a "
                    "JOIN images i USING (image_id) WHERE i.class_name = 'person' ORDER BY a.item_key")
        rows = cur.fetchall()
        (first_id, payload, w, h, _), (second_id, payload2, w2, h2, second_key) = rows[0], rows[1]
        payload["annotations"].append({"id": "p1", "category": "person", "shape": "polygon",
                                       "points": [[2, 3], [w / 2, 4], [w / 2 - 3, h / 2], [4, h / 2 + 2]],
                                       "bbox": [2, 3, w / 2 - 2, h / 2 - 1], "attributes": {"pose": "sitting"}})
        payload["annotations"][0]["attributes"] = {"pose": "standing"}
        payload2["annotations"].append({"id": "edge", "category": "person", "shape": "bbox",
                                        "bbox": [w2 / 3, h2 / 3, w2 - w2 / 3, h2 - h2 / 3], "attributes": {}})
        for annotation_id, doc in ((first_id, payload), (second_id, payload2)):
            cur.execute("UPDATE annotations SET payload = %s, object_count = %s WHERE annotation_id = %s",
                        (json.dumps(doc), len(doc["annotations"]), annotation_id))
        cur.execute("UPDATE images SET capture_time = NULL WHERE dataset_name = %s", (f"{second_key}.jpg",))
        assert cur.rowcount == 1
        # Shot at 08:30 KST on the 17th = 23:30 UTC on the 16th: the labels must say the 17th.
        early_key = next(r[4] for r in rows[2:] if r[4] in passed)
        cur.execute("UPDATE images SET capture_time = '2026-03-16 23:30:00+00' WHERE dataset_name = %s",
                    (f"{early_key}.jpg",))
        assert cur.rowcount == 1
    conn.commit()
    storage = LocalStorage(tmp / "training")
    plan_release(conn, get_config(), name="rt-1", run_id="run-rt")
    summary = publish_release(conn, get_config(), name="rt-1", run_id="run-rt", storage=storage, read=uri_reader())
    conn.close()
    return {"root": tmp / "training" / "rt-1", "passed": passed, "summary": summary, "early": early_key}


def _validate(capsys, images, *labels) -> list[dict]:
    code = main(["validate", str(images), *map(str, labels), "--require-labels",
                 "--work-date", WORK_DATE.isoformat()])
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    failed = [r for r in results if not r["passed"]]
    assert code == 0 and not failed, [(r["item"], r["reasons"]) for r in failed[:5]]
    return results


def test_every_coco_export_passes_the_first_inspection(release, capsys):
    root, seen = release["root"], set()
    for split in SPLITS:
        results = _validate(capsys, root / "images" / split, root / "annotations" / f"instances_{split}.json")
        assert {r["format"] for r in results} == {"coco"}
        seen |= {r["item"] for r in results}
    assert seen == set(release["passed"])


def test_every_yolo_export_passes_the_first_inspection(release, capsys):
    root, seen = release["root"], set()
    for split in SPLITS:
        # data.yaml (the class names) and the split's labels, as a user would point the CLI at them.
        results = _validate(capsys, root / "images" / split, root / "data.yaml", root / "labels" / split)
        assert {r["format"] for r in results} == {"yolo"}
        seen |= {r["item"] for r in results}
    assert seen == set(release["passed"])


def test_every_aihub_export_passes_the_first_inspection(release, capsys):
    root, seen = release["root"] / "aihub", set()
    zips = 0
    for split in SPLITS:
        top = root / AIHUB_SPLITS[split][0]
        # The label folders and their zips (what AI Hub receives) are read: each item passes both ways.
        results = _validate(capsys, top / AIHUB_SOURCE, top / AIHUB_LABEL)
        assert {r["format"] for r in results} == {"aihub"}
        zips += sum(1 for r in results if "!/" in r["label"])
        by_copy = {}
        for r in results:
            by_copy.setdefault(r["item"], set()).add("zip" if "!/" in r["label"] else "folder")
        assert all(copies == {"zip", "folder"} for copies in by_copy.values())
        seen |= set(by_copy)
    assert seen == set(release["passed"]) and zips == len(seen)


def test_the_roundtrip_covers_polygons_attributes_and_unknown_capture_days(release):
    root = release["root"]
    coco = [json.loads((root / "annotations" / f"instances_{s}.json").read_text()) for s in SPLITS]
    anns = [a for doc in coco for a in doc["annotations"]]
    assert any(a["segmentation"] and a["attributes"] == {"pose": "sitting"} for a in anns)
    dates = [img["date_captured"] for doc in coco for img in doc["images"]]
    assert None in dates and any(isinstance(d, str) and "T" in d for d in dates)  # ISO timestamps, as written
    labels = []
    for top in (root / "aihub").iterdir():
        for z in (top / AIHUB_LABEL).glob("*.zip"):
            with zipfile.ZipFile(z) as zf:
                labels += [json.loads(zf.read(n)) for n in zf.namelist()]
    assert any(lab["capture"] == {"date": None, "device": "Samsung SM-S918N"} for lab in labels)
    # Capture days are the project time zone's (Asia/Seoul), in both formats.
    early = release["early"]
    [stamp] = [img["date_captured"] for doc in coco for img in doc["images"] if img["file_name"] == f"{early}.jpg"]
    assert stamp == "2026-03-17T08:30:00+09:00"
    [label] = [lab for lab in labels if lab["image"]["file_name"] == f"{early}.jpg"]
    assert label["capture"]["date"] == "2026-03-17" and label["capture"]["time"] == "08:30:00"
