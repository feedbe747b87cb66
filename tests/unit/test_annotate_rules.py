"""The first inspection, rule by rule: syntax from the JSON Schemas (no GX), then every GX rule with its exact
reason and where it was found (one suite run over a table holding one case per rule)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from trainset.annotate.model import REASON_CATEGORY
from trainset.annotate.readers import read_label
from trainset.annotate.rules import ImageFacts, RuleUnit, judge, polygon_is_simple
from trainset.config import get_config

WORK_DATE = dt.date(2026, 3, 16)
W, H = 640, 480


def label(stem: str = "item", annotations=None, **changes) -> dict:
    doc = {
        "info": {"version": "1.0"},
        "image": {"file_name": f"{stem}.jpg", "width": W, "height": H, "class_name": "person"},
        "capture": {"date": "2026-03-14", "device": "SM-S918N"},
        "annotations": annotations if annotations is not None else [
            {"id": 1, "category": "person", "shape": "bbox", "bbox": [10, 20, 100, 120],
             "attributes": {"pose": "standing"}},
            {"id": 2, "category": "person", "shape": "polygon",
             "points": [[300, 50], [400, 60], [380, 200], [310, 180]], "attributes": {}},
        ],
    }
    for path, value in changes.items():
        section, key = path.split("__")
        doc[section][key] = value
    return doc


def codes(data: bytes, name: str = "item.json") -> list[str]:
    parsed = read_label(name, data, class_order=get_config().class_names)
    assert len(parsed) == 1
    return sorted({f.code for f in parsed[0].findings})


def box(x, y, w, h, id=1, category="person", **attrs):
    return {"id": id, "category": category, "shape": "bbox", "bbox": [x, y, w, h], "attributes": attrs}


def poly(points, id=2, category="person"):
    return {"id": id, "category": category, "shape": "polygon", "points": points}


# ---------------------------------------------------------------- syntax (JSON Schema), before GX

def test_a_clean_label_has_no_syntax_findings():
    assert codes(json.dumps(label()).encode()) == []


@pytest.mark.parametrize(("mutate", "expected", "where"), [
    (lambda d: d.pop("capture"), "schema_missing_key", "$.capture"),
    (lambda d: d["image"].pop("width"), "schema_missing_key", "$.image.width"),
    (lambda d: d["annotations"][0].pop("category"), "schema_missing_key", "$.annotations[0].category"),
    (lambda d: d["annotations"][0].pop("bbox"), "schema_missing_key", "$.annotations[0].bbox"),
    (lambda d: d["annotations"][1].pop("points"), "schema_missing_key", "$.annotations[1].points"),
    (lambda d: d["image"].update(width="640"), "schema_wrong_type", "$.image.width"),
    (lambda d: d["annotations"][0].update(bbox="10,20,100,120"), "schema_wrong_type", "$.annotations[0].bbox"),
    (lambda d: d.update(annotations={}), "schema_wrong_type", "$.annotations"),
    (lambda d: d["capture"].update(date=20260314), "schema_wrong_type", "$.capture.date"),
    (lambda d: d["annotations"][0].update(shape="rectangle"), "schema_bad_enum", "$.annotations[0].shape"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "schema_violation", "$.annotations[0].bbox"),
    (lambda d: d["image"].update(width=0), "schema_violation", "$.image.width"),
    (lambda d: d["annotations"][0].update(colour="red"), "schema_violation", "$.annotations[0]"),
])
def test_schema_rejects_each_malformed_sample(mutate, expected, where):
    doc = label()
    mutate(doc)
    parsed = read_label("item.json", json.dumps(doc).encode(), class_order=get_config().class_names)[0]
    assert parsed.item is None
    assert [(f.code, f.where) for f in parsed.findings] == [(expected, where)]
    assert REASON_CATEGORY[expected] == "syntax"


def test_encoding_and_json_errors():
    good = json.dumps(label(), ensure_ascii=False).encode()
    assert codes(good.replace(b'"SM-S918N"', b'"\xbc\xad\xbf\xef"')) == ["invalid_utf8"]
    assert codes(good[:-5]) == ["invalid_json"]
    assert codes(b"") == ["invalid_json"]
    assert codes(b"\xef\xbb\xbf" + good) == []  # a UTF-8 BOM is tolerated
    assert codes(b"<annotation/>", name="item.xml") == ["unknown_format"]
    too_big = read_label("item.json", good, class_order=[], max_bytes=10)[0]
    assert [f.code for f in too_big.findings] == ["file_too_large"]


def test_yolo_lines():
    assert codes(b"0 0.5 0.5 0.2 0.2\n", name="item.txt") == []
    assert codes(b"0 0.5 0.5 0.2\n", name="item.txt") == ["yolo_malformed_line"]
    assert codes(b"person 0.5 0.5 0.2 0.2\n", name="item.txt") == ["yolo_malformed_line"]
    parsed = read_label("item.txt", b"1 0.5 0.5 0.5 0.5\n\n2 0.1 0.1 0.3 0.1 0.2 0.4\n",
                        class_order=["person", "animal", "vehicle"], image_size=lambda stem: (200, 100))[0]
    first, second = parsed.item.objects
    assert first.category == "animal" and first.bbox == [50.0, 25.0, 100.0, 50.0]
    assert second.category == "vehicle" and second.points == [[20.0, 10.0], [60.0, 10.0], [40.0, 40.0]]


def test_polygon_simplicity():
    assert polygon_is_simple([[0, 0], [10, 0], [10, 10], [0, 10]])
    assert not polygon_is_simple([[0, 0], [20, 10], [20, 0], [0, 20]])


# ---------------------------------------------------------------- the GX rules, one case each

CASES = {
    "clean": (label("clean"), []),
    "outside_right": (label("outside_right", [box(600, 10, 100, 50)]), [("outside_image", "annotation 1")]),
    "outside_left": (label("outside_left", [box(-5, 10, 50, 50)]), [("outside_image", "annotation 1")]),
    "outside_poly": (label("outside_poly", [poly([[10, 10], [700, 20], [50, 90]])]),
                     [("outside_image", "annotation 2")]),
    "box_zero": (label("box_zero", [box(10, 10, 0, 50)]), [("box_non_positive", "annotation 1")]),
    "box_negative": (label("box_negative", [box(100, 10, 20, -30)]), [("box_non_positive", "annotation 1")]),
    "box_small": (label("box_small", [box(10, 10, 3, 50)]), [("box_too_small", "annotation 1")]),
    "poly_two": (label("poly_two", [poly([[10, 10], [50, 50]])]), [("polygon_too_few_points", "annotation 2")]),
    "poly_line": (label("poly_line", [poly([[10, 10], [20, 20], [30, 30]])]), [("polygon_zero_area", "annotation 2")]),
    "poly_bowtie": (label("poly_bowtie", [poly([[0, 0], [200, 100], [200, 0], [0, 200]])]),
                    [("polygon_self_intersecting", "annotation 2")]),
    "unknown_class": (label("unknown_class", [box(10, 10, 50, 50, category="unicorn")]),
                      [("unknown_class", "annotation 1")]),
    "unknown_attr": (label("unknown_attr", [box(10, 10, 50, 50, colour="red")]),
                     [("unknown_attribute", "annotation 1 attribute colour")]),
    "unknown_value": (label("unknown_value", [box(10, 10, 50, 50, pose="flying")]),
                      [("unknown_attribute_value", "annotation 1 attribute pose")]),
    "free_attr": (label("free_attr", [box(10, 10, 50, 50, category="food", taste="sweet")]),
                  [("unknown_attribute", "annotation 1 attribute taste")]),
    "date_format": (label("date_format", capture__date="2026/03/14"), [("capture_date_format", "capture.date")]),
    "date_invalid": (label("date_invalid", capture__date="2026-02-30"), [("capture_date_format", "capture.date")]),
    "date_future": (label("date_future", capture__date="2026-03-17"), [("capture_date_future", "capture.date")]),
    "date_today": (label("date_today", capture__date="2026-03-16"), []),
    "dup_object": (label("dup_object", [box(10, 10, 100, 100), box(12, 10, 100, 100, id=2)]),
                   [("duplicate_object", "annotation 2")]),
    "overlap_other_class": (label("overlap_other_class", [box(10, 10, 100, 100),
                                                           box(10, 10, 100, 100, id=2, category="animal")]), []),
    "dup_id": (label("dup_id", [box(10, 10, 50, 50), box(300, 10, 50, 50)]),
               [("duplicate_annotation_id", "annotation 1")]),
    "size": (label("size", image__width=W * 2), [("image_size_mismatch", "image.width/height")]),
    "stem": (label("stem", image__file_name="IMG_0001.jpg"), [("stem_mismatch", "image.file_name")]),
}


@pytest.fixture(scope="module")
def judged():
    config = get_config()
    units = []
    for key, (doc, _) in CASES.items():
        parsed = read_label(f"{key}.json", json.dumps(doc).encode(), class_order=config.class_names)[0]
        assert parsed.item is not None, (key, parsed.findings)
        units.append(RuleUnit(ref=key, item_key=key, item=parsed.item, image=ImageFacts(key, W, H)))
    no_image = read_label("orphan.json", json.dumps(label("orphan")).encode(), class_order=config.class_names)[0]
    units.append(RuleUnit(ref="orphan", item_key="orphan", item=no_image.item, image=None))
    units.append(RuleUnit(ref="missing", item_key="missing", item=None, image=ImageFacts("missing", W, H)))
    findings, outcome = judge(units, config, WORK_DATE)
    return findings, outcome


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_gives_its_exact_reason(judged, case):
    findings, _ = judged
    got = sorted((f.code, f.where) for f in findings.get(case, []))
    assert got == sorted(CASES[case][1])


def test_pairing_rules(judged):
    findings, outcome = judged
    assert [(f.code, f.where) for f in findings["orphan"]] == [("no_image", "label file stem")]
    assert [(f.code, f.where) for f in findings["missing"]] == [("no_label", "assigned image")]
    # Every reason the table can give comes from a named expectation with that reason code.
    assert {e.reason_code for e in outcome.expectations} >= {c for c, cat in REASON_CATEGORY.items()
                                                            if cat not in ("syntax", "upload")}
