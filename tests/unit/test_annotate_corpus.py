"""Label files made by others (../shared/corpus): COCO, YOLO and AI Hub samples through the CLI's code path."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from trainset.annotate.offline import validate_paths
from trainset.annotate.readers import parse_files
from trainset.cli import main
from trainset.config import get_config

pytestmark = pytest.mark.corpus
WORK_DATE = dt.date(2026, 3, 16)


def _by_item(results):
    return {(r["item"], r["label"].rsplit("/", 1)[-1]): r for r in results}


def test_coco_with_duplicate_annotation_ids_fails_with_that_reason(corpus, capsys):
    folder = corpus / "annotations_extra" / "mmdetection"
    code = main(["validate", str(folder), str(folder / "coco_wrong_format_sample.json"), str(folder / "coco_sample.json"),
                 "--work-date", WORK_DATE.isoformat()])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    results = _by_item(lines)
    wrong = results[("fake1", "coco_wrong_format_sample.json")]
    assert not wrong["passed"] and "duplicate_annotation_id" in wrong["reason_codes"]
    assert {r["where"] for r in wrong["reasons"] if r["code"] == "duplicate_annotation_id"} == {"annotation 1"}
    # The valid file reads cleanly ('info': null tolerated; an image without annotations is an item with none).
    sample = {k[0]: r for k, r in results.items() if k[1] == "coco_sample.json"}
    assert {k: r["objects"] for k, r in sample.items()} == {"fake1": 2, "fake2": 1, "fake3": 0}
    assert all("duplicate_annotation_id" not in r["reason_codes"] for r in sample.values())
    # Its images are not shipped, and bus/car are not project classes: those are the only reasons.
    assert set().union(*(r["reason_codes"] for r in sample.values())) == {"no_image", "unknown_class"}


def test_datumaro_coco_instances(corpus):
    root = corpus / "datumaro" / "coco" / "coco_instances"
    results = validate_paths(root / "images", [root / "annotations"], get_config(), work_date=WORK_DATE)
    by_item = {r["item"]: r for r in results}
    assert set(by_item) == {"a", "b"}
    for r in results:
        assert r["format"] == "coco"
        # Sizes in the JSON match the real files; no syntax problem (empty segmentation, RLE, custom attributes).
        assert not {"image_size_mismatch", "no_image"} & set(r["reason_codes"])
        assert not any(c.startswith("schema_") for c in r["reason_codes"])
    assert by_item["b"]["objects"] == 2 and by_item["a"]["objects"] == 1


def test_yolo_layouts(corpus):
    config = get_config()
    root = corpus / "datumaro" / "yolo" / "yolo_dataset" / "labels"
    results = validate_paths(root / "images", [root], config, work_date=WORK_DATE)
    # README.txt is not a label; 1.txt appears once per split; class names come from obj.names two levels up.
    assert sorted(r["label"].split("labels/labels/")[-1] for r in results) == ["train/1.txt", "val/1.txt"]
    files = [(p.relative_to(root).as_posix(), p.read_bytes(), str(p)) for p in root.rglob("*") if p.is_file()]
    parsed = parse_files(files, class_order=config.class_names, image_size=lambda stem: (15, 10))
    train = next(p for p in parsed if "train" in p.source_uri)
    assert [o.category for o in train.item.objects] == ["label_2", "label_4"]
    assert train.item.objects[0].bbox == pytest.approx([0.0, 2.0, 4.0, 2.0], abs=1e-4)
    roboflow = corpus / "datumaro" / "yolo" / "roboflow_yolo"
    results = validate_paths(roboflow, [roboflow], config, work_date=WORK_DATE)
    assert {r["format"] for r in results} == {"yolo"} and all(r["objects"] >= 1 for r in results)
    assert all(set(r["reason_codes"]) <= {"unknown_class", "box_too_small"} for r in results), results


def test_aihub_kfashion_labels(corpus):
    folder = corpus / "aihub" / "k-fashion"
    labels = sorted(p for p in folder.glob("*.json") if not p.stem.endswith("_extracted"))
    results = validate_paths(folder, labels, get_config(), work_date=WORK_DATE)
    assert len(results) == 3
    for r in results:
        assert r["format"] == "aihub_kfashion" and r["objects"] >= 1
        # 이미지 너비/높이 equal the real images; K-COORD renamed the images after labeling (stem mismatch),
        # and fashion garments are not this project's classes.
        assert "image_size_mismatch" not in r["reason_codes"]
        assert {"stem_mismatch", "unknown_class"} <= set(r["reason_codes"])
    # The derived '_extracted' files are not AI Hub labels: refused by the schema, not misread.
    extracted = validate_paths(folder, [folder / "100026_extracted.json"], get_config(), work_date=WORK_DATE)
    assert extracted[0]["reason_codes"] == ["schema_missing_key"]
