"""Labeling quality control: matching, GT scoring (CVAT's definitions), consensus merge, hints, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from trainset.annotate.model import CaptureMeta, LabelItem, LabelObject
from trainset.cli import main
from trainset.config import QualityHintSettings
from trainset.quality.consensus import default_quorum, merge_replicas, pair_agreement
from trainset.quality.hints import Prediction, label_hints, prediction_hints, read_coco_results, value_shape
from trainset.quality.matching import Box, boxes_of, iou_matrix, match_boxes
from trainset.quality.scoring import compare_item, summarize


def _item(key, *objs, w=1000, h=800):
    objects = [LabelObject(id=str(n + 1), category=c, bbox=list(b), attributes=a[0] if a else {})
               for n, (c, b, *a) in enumerate(objs)]
    return LabelItem(item_key=key, source_format="aihub", source_uri=f"{key}.json", label_stem=key, width=w,
                     height=h, objects=objects, id_scope=key, class_name="vehicle",
                     capture=CaptureMeta(date="2026-03-02"))


def test_iou_matrix_values():
    a = [Box(0, "1", "x", 0, 0, 10, 10)]
    b = [Box(0, "1", "x", 5, 0, 15, 10), Box(1, "2", "x", 20, 20, 30, 30), Box(2, "3", "x", 0, 0, 10, 10)]
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150, 0.0, 1.0]])


def test_matching_prefers_same_label_then_records_label_conflicts():
    a = [Box(0, "1", "cat", 0, 0, 10, 10), Box(1, "2", "dog", 50, 50, 60, 60)]
    # b0 overlaps a0 best but has a0's label only in b1; b2 overlaps a1 with another label.
    b = [Box(0, "1", "dog", 0, 0, 10, 10), Box(1, "2", "cat", 1, 0, 11, 10), Box(2, "3", "cat", 50, 50, 60, 60)]
    m = match_boxes(a, b, 0.4)
    assert [(i, j) for i, j, _ in m.same_label] == [(0, 1)]
    assert [(i, j) for i, j, _ in m.other_label] == [(1, 2)]
    assert m.unmatched_a == [] and m.unmatched_b == [0]


def test_compare_item_cvat_definitions():
    gt = _item("a", ("car", (0, 0, 100, 50), {"type": "car"}), ("car", (200, 0, 100, 50)), ("person", (400, 0, 50, 100)),
               ("car", (600, 0, 100, 50)))
    labeled = _item("a",
                    ("car", (0, 0, 100, 50), {"type": "rocket"}),  # valid, attribute conflict
                    ("car", (210, 5, 100, 50)),  # valid, IoU 0.69 < 0.8: low_overlap
                    ("car", (400, 0, 50, 100)),  # overlaps the person: mismatching_label
                    ("car", (800, 500, 50, 50)))  # extra; GT car at 600 is missing
    s = compare_item(gt, labeled)
    m = s.counts.metrics()
    assert m["matched"] == 2
    assert m["conflicts"] == {"missing": 1, "extra": 1, "mismatching_label": 1, "low_overlap": 1, "attributes": 1}
    assert m["accuracy"] == pytest.approx(2 / (4 + 4 - 2))
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    assert m["label_agreement"] == pytest.approx(2 / 3) and m["attribute_agreement"] == pytest.approx(0.5)
    iou2 = (90 * 45) / (2 * 5000 - 90 * 45)
    assert m["mean_iou"] == pytest.approx((1 + iou2) / 2, abs=1e-5)


def test_summary_is_micro_averaged_and_empty_is_none():
    gt1, gt2 = _item("a", ("car", (0, 0, 10, 10))), _item("b", *[("car", (20 * k, 0, 10, 10)) for k in range(9)])
    s = summarize([compare_item(gt1, _item("a")), compare_item(gt2, gt2)]).metrics()
    assert s["recall"] == pytest.approx(9 / 10) and s["accuracy"] == pytest.approx(9 / 10)
    assert compare_item(_item("c"), _item("c")).counts.metrics()["accuracy"] is None


def test_polygons_are_matched_by_their_extent():
    poly = LabelItem(item_key="p", source_format="aihub", source_uri="p", label_stem="p", width=100, height=100,
                     objects=[LabelObject(id="1", category="car", points=[[0, 0], [10, 0], [10, 10], [0, 10]])],
                     id_scope="p")
    assert boxes_of(poly)[0].as_xywh() == [0, 0, 10, 10]
    assert compare_item(poly, _item("p", ("car", (0, 0, 10, 10)))).counts.valid == 1


def test_consensus_three_replicas_majority_merges_and_reports_the_outvoted():
    a = _item("x", ("car", (0, 0, 100, 50)), ("person", (300, 0, 50, 100)))
    b = _item("x", ("car", (2, 1, 100, 50)), ("person", (302, 0, 50, 100)))
    c = _item("x", ("animal", (1, 0, 100, 50)))  # other label, and misses the person
    r = merge_replicas({"ann": a, "bob": b, "cho": c})
    assert r.quorum == default_quorum(3) == 2
    assert not r.disputed and "outvoted replica(s)" in r.reasons
    assert sorted(o.category for o in r.merged.objects) == ["car", "person"]
    car = next(cl for cl in r.clusters if cl.label == "car")
    assert car.votes == {"car": 2, "animal": 1} and 0 < car.score < 2 / 3 + 1e-9
    assert r.pair_agreement[("ann", "bob")] == 1.0 and r.pair_agreement[("ann", "cho")] == 0.0


def test_consensus_two_replicas_disagreeing_is_disputed():
    a = _item("x", ("car", (0, 0, 100, 50)), ("car", (500, 0, 100, 50)))
    b = _item("x", ("car", (0, 0, 100, 50)))
    r = merge_replicas({"ann": a, "bob": b})
    assert r.quorum == 2 and r.disputed
    assert [o.bbox for o in r.merged.objects] == [[0, 0, 100, 50]]
    assert pair_agreement(a, b) == pytest.approx(1 / 2)


def _population(n=30, seed=0):
    rng = np.random.default_rng(seed)
    items = []
    for k in range(n):
        x, y = rng.uniform(300, 600), rng.uniform(400, 500)
        w = rng.uniform(90, 110)
        items.append(_item(f"i{k:02d}", ("car", (x, y, w, w / 2), {"type": "car"}),
                           ("person", (x + 200, y - 200, w / 3, w), {"pose": "standing"})))
    return items


def test_hints_find_duplicate_wrong_class_and_count_outliers_but_not_clean_items():
    s = QualityHintSettings(appearance=False)
    items = _population()
    assert label_hints(items, s) == []
    dup = items[3].objects[0]
    items[3] = items[3].model_copy(update={"objects": [*items[3].objects, dup.model_copy(
        update={"id": "3", "bbox": [dup.bbox[0] + 3, dup.bbox[1], dup.bbox[2], dup.bbox[3]]})]})
    wrong = items[5].objects[1]
    items[5] = items[5].model_copy(update={"objects": [items[5].objects[0], wrong.model_copy(update={
        "category": "car"})]})
    crowd = [("person", (50 * k, 100, 30, 90), {"pose": "standing"}) for k in range(12)]
    items[7] = _item("i07", ("car", (400, 450, 100, 50), {"type": "car"}), *crowd)
    hints = label_hints(items, s)
    got = {(h.item, h.object, h.code) for h in hints}
    assert ("i03", "3", "near_duplicate") in got
    assert ("i05", "2", "class_mismatch") in got
    assert ("i07", None, "count_outlier") in got
    assert not [h for h in hints if h.item not in {"i03", "i05", "i07"}]


def test_attribute_and_cooccurrence_hints():
    s = QualityHintSettings(appearance=False, z_threshold=50)
    items = _population(40)
    items[2] = items[2].model_copy(update={"objects": [items[2].objects[0].model_copy(
        update={"attributes": {"type": "rocket"}}), items[2].objects[1]]})
    items += [_item(f"f{k}", ("food", (10, 10, 50, 50))) for k in range(25)]
    items[0] = items[0].model_copy(update={"objects": [*items[0].objects, LabelObject(id="9", category="food",
                                                                                     bbox=[0, 0, 40, 40])]})
    got = {(h.item, h.object, h.code) for h in label_hints(items, s)}
    assert ("i02", "1", "attribute_rare") in got
    assert ("i00", "9", "rare_cooccurrence") in got
    assert value_shape("12가A3") == "99AA9"


def test_prediction_hints_overlooked_swapped_badly_located():
    item = _item("x", ("car", (0, 0, 100, 50)), ("person", (300, 0, 50, 100)), ("car", (600, 0, 100, 50)))
    preds = [Prediction("x", "car", [0, 0, 100, 50], 0.9),  # agrees
             Prediction("x", "animal", [300, 0, 50, 100], 0.8),  # the person looks like an animal
             Prediction("x", "car", [650, 20, 100, 50], 0.9),  # the third car is off
             Prediction("x", "person", [800, 400, 50, 100], 0.95),  # nobody labeled this one
             Prediction("x", "person", [900, 400, 50, 100], 0.2)]  # too unsure to count
    got = {(h.object, h.code) for h in prediction_hints([item], preds, QualityHintSettings())}
    assert got == {("2", "swapped_class"), ("3", "badly_located"), (None, "overlooked")}
    parsed, problems = read_coco_results([{"image_id": 7, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5},
                                          {"image_id": 7, "category_id": 99, "bbox": [0, 0, 1, 1]}, {"x": 1}],
                                         categories={1: "car"}, image_ids={"7": "x"})
    assert [p.item for p in parsed] == ["x"] and len(problems) == 2


def _write_json(path, item):
    from trainset.annotate.model import to_project_json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_project_json(item)))


def test_cli_score_and_hints_labeler_from_folder(tmp_path, capsys):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    for key in ("a", "b"):
        Image.new("RGB", (1000, 800), "gray").save(images / f"{key}.jpg")
    gt_a = _item("a", ("vehicle", (0, 0, 100, 50), {"type": "car"}))
    gt_b = _item("b", ("person", (10, 10, 50, 100), {"pose": "standing"}))
    _write_json(tmp_path / "gt" / "a.json", gt_a)
    _write_json(tmp_path / "gt" / "b.json", gt_b)
    _write_json(tmp_path / "up" / "alice" / "a.json", gt_a)
    _write_json(tmp_path / "up" / "alice" / "b.json", gt_b)
    _write_json(tmp_path / "up" / "bob" / "a.json", _item("a", ("person", (0, 0, 100, 50))))
    (tmp_path / "up" / "bob" / "b.json").write_text("{not json")
    code = main(["quality", "score", "--images", str(images), "--gt", str(tmp_path / "gt"),
                 "--labels", str(tmp_path / "up")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    labelers = {r["labeler"]: r for r in lines if r["kind"] == "labeler"}
    assert labelers["alice"]["accuracy"] == 1.0 and labelers["alice"]["items"] == 2
    assert labelers["bob"]["accuracy"] == 0.0 and labelers["bob"]["conflicts"]["mismatching_label"] == 1
    assert {(r["labeler"], r["item"]) for r in lines if r["kind"] == "item"} == {("alice", "a"), ("alice", "b"),
                                                                               ("bob", "a")}
    assert [r["reason_codes"] for r in lines if r["kind"] == "unreadable"] == [["invalid_json"]]

    dup = _item("a", ("vehicle", (0, 0, 100, 50)), ("vehicle", (2, 0, 100, 50)))
    _write_json(tmp_path / "h" / "carol" / "a.json", dup)
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps([{"image_id": "a", "category_id": 1, "bbox": [500, 500, 50, 100], "score": 0.9}]))
    assert main(["quality", "hints", "--images", str(images), str(tmp_path / "h"), "--predictions", str(preds)]) == 0
    hints = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(h["labeler"], h["item"], h["object"], h["code"]) for h in hints} == {
        ("carol", "a", "2", "near_duplicate"), ("carol", "a", None, "overlooked")}
