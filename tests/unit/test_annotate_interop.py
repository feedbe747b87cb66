"""Labels as other tools write them (COCO from COCO itself, CVAT, Label Studio, Roboflow, pycocotools; YOLO from
Ultralytics, Label Studio, CVAT, Roboflow) pass the first inspection through the CLI's code path; what cannot be
read is reported under the format it is."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from trainset.annotate.coco import coco_capture, rle_bbox, rle_counts
from trainset.annotate.offline import validate_paths
from trainset.annotate.readers import read_label
from trainset.config import DEFAULT_CONFIG_PATH, get_config, parse_config

WORK_DATE = dt.date(2026, 3, 16)
W, H = 320, 240


def _image(folder: Path, stem: str, size=(W, H)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 130, 140)).save(folder / f"{stem}.jpg", "JPEG")


def _coco(images: list[dict], annotations: list[dict], **top) -> dict:
    doc = {"images": images, "annotations": annotations,
           "categories": [{"id": 1, "name": "person", "supercategory": "object"},
                          {"id": 3, "name": "vehicle", "supercategory": "object"}]}
    doc.update(top)
    return doc


def _by_item(results: list[dict]) -> dict[str, dict]:
    return {r["item"]: r for r in results}


# ------------------------------------------------------------------ date_captured as the writers write it

DATES = {
    "coco_reference": "2013-11-14 11:18:45",  # COCO 2014/2017 instances files
    "iso_offset": "2020-07-20T19:39:26+00:00",  # Roboflow
    "iso_fraction": "2026-03-14T09:00:00.123456+09:00",  # Python isoformat() of an aware datetime (our release)
    "iso_zulu": "2026-03-14T00:00:00Z",
    "iso_naive": "2026-03-14T08:30:00",
    "date_only": "2026-03-14",
    "exif_form": "2026:03:14 08:30:00",
    "cvat_zero": 0,  # CVAT writes 0
    "empty": "",
    "missing": None,  # Label Studio and pycocotools-made files have no key
}
BAD_DATES = {"slashes": "14/11/2013", "no_such_day": "2026-02-30 10:00:00", "words": "yesterday"}


def test_coco_date_captured_in_every_real_form_passes_and_bad_ones_fail(tmp_path):
    images, annotations = [], []
    for n, (stem, value) in enumerate({**DATES, **BAD_DATES}.items(), 1):
        _image(tmp_path / "images", stem)
        entry = {"id": n, "file_name": f"{stem}.jpg", "width": W, "height": H}
        if value is not None:
            entry["date_captured"] = value
        images.append(entry)
        annotations.append({"id": n, "image_id": n, "category_id": 1, "bbox": [10, 10, 50, 80], "area": 4000,
                            "iscrowd": 0, "segmentation": []})
    path = tmp_path / "instances_default.json"
    path.write_text(json.dumps(_coco(images, annotations)), encoding="utf-8")
    results = _by_item(validate_paths(tmp_path / "images", [path], get_config(), work_date=WORK_DATE))
    for stem in DATES:
        assert results[stem]["passed"], (stem, results[stem])
    for stem in BAD_DATES:
        assert results[stem]["reason_codes"] == ["capture_date_format"], (stem, results[stem])


def test_coco_capture_keeps_the_written_day_and_time():
    assert coco_capture("2013-11-14 11:18:45").model_dump() == {"date": "2013-11-14", "time": "11:18:45",
                                                                "device": None, "location": None}
    assert coco_capture("2026-03-14T23:30:00-05:00").date == "2026-03-14"  # the camera's day, not converted
    assert coco_capture(0).date is None and coco_capture("").date is None
    assert coco_capture("14/11/2013").date == "14/11/2013"  # passed on, so the rule names it


def test_a_future_coco_timestamp_is_still_in_the_future(tmp_path):
    _image(tmp_path / "images", "late")
    path = tmp_path / "instances_x.json"
    path.write_text(json.dumps(_coco([{"id": 1, "file_name": "late.jpg", "width": W, "height": H,
                                       "date_captured": "2026-03-17 00:00:01"}], [])), encoding="utf-8")
    [result] = validate_paths(tmp_path / "images", [path], get_config(), work_date=WORK_DATE)
    assert result["reason_codes"] == ["capture_date_future"]


# ------------------------------------------------------------------ a file that does not parse keeps its format

@pytest.mark.parametrize(("name", "cut", "expected"), [
    ("instances_train.json", 0.6, "coco"),  # cut inside "annotations": the keys before it say COCO
    ("_annotations.coco.json", 0.02, "coco"),  # Roboflow's name; cut before any COCO key
    ("result.json", 0.6, "coco"),  # Label Studio's name says nothing; the content does
    ("TS_person_000001.json", 0.6, "aihub"),
    ("TS_coconut_000001.json", 0.6, "aihub"),  # a class name is not a format
    ("coco_train.json", 0.02, "coco"),
])
def test_a_truncated_file_is_reported_under_its_own_format(name, cut, expected):
    if expected == "coco":
        doc = _coco([{"id": k, "file_name": f"x{k}.jpg", "width": W, "height": H} for k in range(5)],
                    [{"id": k, "image_id": k, "category_id": 1, "bbox": [1, 2, 3, 4]} for k in range(5)],
                    info={"description": "d"}, licenses=[])
    else:
        doc = {"info": {"version": "1.0"}, "image": {"file_name": "TS_person_000001.jpg", "width": W, "height": H,
                                                     "class_name": "person"},
               "capture": {"date": "2026-03-14"}, "annotations": [{"id": 1, "category": "person", "shape": "bbox",
                                                                   "bbox": [1, 2, 3, 4]}] * 5}
    data = json.dumps(doc, indent=1).encode()
    [parsed] = read_label(name, data[: int(len(data) * cut)], class_order=get_config().class_names)
    assert parsed.item is None and [f.code for f in parsed.findings] == ["invalid_json"]
    assert parsed.source_format == expected


def test_a_coco_file_without_annotations_is_told_so_by_the_coco_schema():
    doc = _coco([{"id": 1, "file_name": "a.jpg", "width": W, "height": H}], [])
    del doc["annotations"]
    [parsed] = read_label("image_info_test.json", json.dumps(doc).encode(), class_order=get_config().class_names)
    assert parsed.source_format == "coco"
    assert [(f.code, f.where) for f in parsed.findings] == [("schema_missing_key", "$.annotations")]


# ------------------------------------------------------------------ COCO as each tool writes it

def _cvat_coco() -> dict:
    """CVAT 2.x 'COCO 1.0' export: empty info/licenses, date_captured 0, attributes occluded/rotation on every
    annotation, polygons as [[...]], masks as uncompressed RLE with iscrowd 1."""
    info = {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""}
    img = {"id": 1, "width": W, "height": H, "file_name": "cvat_1.jpg", "license": 0, "flickr_url": "",
           "coco_url": "", "date_captured": 0}
    mask = np.zeros((H, W), dtype=np.uint8, order="F")
    mask[100:140, 200:260] = 1
    flat = mask.flatten(order="F")
    runs, current, count = [], 0, 0
    for v in flat:
        if v != current:
            runs.append(count)
            current, count = v, 0
        count += 1
    runs.append(count)
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [], "area": 4000.0,
         "bbox": [10.0, 10.0, 50.0, 80.0], "iscrowd": 0, "attributes": {"occluded": False, "rotation": 0.0}},
        {"id": 2, "image_id": 1, "category_id": 1,
         "segmentation": [[100.0, 20.0, 150.0, 25.0, 140.0, 90.0, 105.0, 80.0]], "area": 2800.0,
         "bbox": [100.0, 20.0, 50.0, 70.0], "iscrowd": 0, "attributes": {"occluded": False}},
        {"id": 3, "image_id": 1, "category_id": 3, "segmentation": {"counts": runs, "size": [H, W]},
         "area": 2400.0, "bbox": [200.0, 100.0, 60.0, 40.0], "iscrowd": 1, "attributes": {"occluded": False}},
        {"id": 4, "image_id": 1, "category_id": 3, "segmentation": [], "area": 1200.0,
         "bbox": [40.0, 150.0, 60.0, 20.0], "iscrowd": 0, "attributes": {"occluded": False, "rotation": 30.0,
                                                                        "type": "car"}},
    ]
    return {"licenses": [{"name": "", "id": 0, "url": ""}], "info": info,
            "categories": [{"id": 1, "name": "person", "supercategory": ""},
                           {"id": 2, "name": "animal", "supercategory": ""},
                           {"id": 3, "name": "vehicle", "supercategory": ""}],
            "images": [img], "annotations": anns}


def _label_studio_coco() -> dict:
    """Label Studio's 'COCO' export (result.json): ids from 0, no date_captured, 'ignore', images/ prefix."""
    return {"images": [{"width": W, "height": H, "id": 0, "file_name": "images/ls_1.jpg"}],
            "categories": [{"id": 0, "name": "animal"}, {"id": 1, "name": "person"}],
            "annotations": [{"id": 0, "image_id": 0, "category_id": 1, "segmentation": [],
                             "bbox": [12.5, 30.25, 80.0, 120.0], "ignore": 0, "iscrowd": 0, "area": 9600.0}],
            "info": {"year": 2026, "version": "1.0", "description": "", "contributor": "Label Studio", "url": "",
                     "date_created": "2026-03-14 08:11:02.123456"}}


def _roboflow_coco() -> dict:
    """Roboflow '_annotations.coco.json': ISO date_captured with offset, a 'extra' key, supercategory tree."""
    return {"info": {"year": "2026", "version": "3", "description": "Exported from roboflow.com",
                     "contributor": "", "url": "https://public.roboflow.com", "date_created": "2026-03-14T08:11:02+00:00"},
            "licenses": [{"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}],
            "categories": [{"id": 0, "name": "things", "supercategory": "none"},
                           {"id": 1, "name": "person", "supercategory": "things"}],
            "images": [{"id": 0, "license": 1, "file_name": "rf_1.jpg", "height": H, "width": W,
                        "date_captured": "2026-03-14T08:11:02+00:00", "extra": {"name": "rf_1.jpg"}}],
            "annotations": [{"id": 0, "image_id": 0, "category_id": 1, "bbox": [5, 6, 70, 90], "area": 6300,
                             "segmentation": [], "iscrowd": 0}]}


def _pycocotools_coco() -> dict:
    """Masks encoded by pycocotools (compressed RLE strings), area and bbox from pycocotools; COCO's own
    date form; no info/licenses."""
    from pycocotools import mask as mask_utils

    anns = []
    for n, (y0, y1, x0, x1) in enumerate([(10, 60, 20, 90), (120, 200, 150, 300)], 1):
        m = np.zeros((H, W), dtype=np.uint8, order="F")
        m[y0:y1, x0:x1] = 1
        rle = mask_utils.encode(np.asfortranarray(m))
        anns.append({"id": n, "image_id": 7, "category_id": 1, "iscrowd": 1, "area": float(mask_utils.area(rle)),
                     "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")},
                     **({"bbox": [float(v) for v in mask_utils.toBbox(rle)]} if n == 1 else {})})
    return {"images": [{"id": 7, "file_name": "pct_1.jpg", "width": W, "height": H,
                        "date_captured": "2026-03-14 08:30:00"}],
            "annotations": anns, "categories": [{"id": 1, "name": "person"}]}


def test_coco_written_by_cvat_label_studio_roboflow_and_pycocotools_passes(tmp_path):
    from pycocotools.coco import COCO

    files = {"annotations/instances_default.json": _cvat_coco(), "ls/result.json": _label_studio_coco(),
             "train/_annotations.coco.json": _roboflow_coco(), "pct/masks.json": _pycocotools_coco()}
    for name, doc in files.items():
        path = tmp_path / "labels" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc), encoding="utf-8")
        COCO(str(path))  # each file is COCO by pycocotools' own reader
    for stem in ("cvat_1", "ls_1", "rf_1", "pct_1"):
        _image(tmp_path / "images", stem)
    results = _by_item(validate_paths(tmp_path / "images", [tmp_path / "labels"], get_config(), work_date=WORK_DATE))
    assert set(results) == {"cvat_1", "ls_1", "rf_1", "pct_1"}
    for stem, r in results.items():
        assert r["format"] == "coco" and r["passed"], (stem, r)
    assert {k: r["objects"] for k, r in results.items()} == {"cvat_1": 4, "ls_1": 1, "rf_1": 1, "pct_1": 2}


def test_cvat_tool_attributes_are_geometry_not_taxonomy():
    [parsed] = read_label("instances_default.json", json.dumps(_cvat_coco()).encode(),
                          class_order=get_config().class_names)
    objs = {o.id: o for o in parsed.item.objects}
    assert all("occluded" not in o.attributes and "rotation" not in o.attributes for o in objs.values())
    assert objs["4"].attributes == {"type": "car"}
    # A 30-degree rotated box is a polygon about the same centre (the checks see where it really reaches).
    rotated = objs["4"].points
    assert rotated is not None and len(rotated) == 4
    assert np.mean([p[0] for p in rotated]) == pytest.approx(70.0) and np.mean([p[1] for p in rotated]) == \
        pytest.approx(160.0)
    assert objs["3"].bbox == [200.0, 100.0, 60.0, 40.0]
    flagged = _cvat_coco()
    flagged["annotations"][0]["attributes"]["occluded"] = True  # set: kept, so the taxonomy judges it
    [parsed] = read_label("instances_default.json", json.dumps(flagged).encode(), class_order=[])
    assert parsed.item.objects[0].attributes == {"occluded": True}


def test_rle_decoding_matches_pycocotools():
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(3)
    for _ in range(25):
        h, w = int(rng.integers(5, 60)), int(rng.integers(5, 60))
        m = np.zeros((h, w), dtype=np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            m[y: y + int(rng.integers(1, h)), x: x + int(rng.integers(1, w))] = 1
        rle = mask_utils.encode(np.asfortranarray(m))
        counts = rle_counts(rle["counts"].decode("ascii"))
        assert sum(counts) == h * w and sum(counts[1::2]) == int(m.sum())
        assert rle_bbox(counts, h) == pytest.approx([float(v) for v in mask_utils.toBbox(rle)])
    assert rle_counts("not rle!") is None or sum(rle_counts("not rle!")) >= 0


def test_a_broken_rle_is_a_schema_finding():
    doc = _pycocotools_coco()
    doc["annotations"][1]["segmentation"] = {"counts": "abc"}  # no size
    [parsed] = read_label("x_coco.json", json.dumps(doc).encode(), class_order=["person"])
    assert parsed.source_format == "coco"
    assert ("schema_missing_key", "$.annotations[1].segmentation.size") in {(f.code, f.where)
                                                                            for f in parsed.findings}


# ------------------------------------------------------------------ YOLO as each tool writes it

def _yolo_box(cls: int, x: float, y: float, w: float, h: float) -> str:
    return f"{cls} {(x + w / 2) / W:.6f} {(y + h / 2) / H:.6f} {w / W:.6f} {h / H:.6f}"


def test_yolo_written_by_ultralytics_label_studio_cvat_and_roboflow_passes(tmp_path):
    labels = tmp_path / "labels"
    names = get_config().class_names  # person, animal, vehicle, food, object
    # Ultralytics / Roboflow: data.yaml (names as a dict or a list), labels/<split>/, an empty file per negative.
    (labels / "ultra").mkdir(parents=True)
    (labels / "ultra" / "data.yaml").write_text(yaml.safe_dump(
        {"path": ".", "train": "images/train", "val": "images/val", "nc": len(names), "names": dict(enumerate(names))}))
    (labels / "ultra" / "labels" / "train").mkdir(parents=True)
    (labels / "ultra" / "labels" / "train" / "u_1.txt").write_text(_yolo_box(2, 30, 40, 100, 60) + "\n")
    (labels / "ultra" / "labels" / "train" / "u_neg.txt").write_text("")
    (labels / "ultra" / "labels" / "train.cache").write_bytes(b"\x80\x04cache")
    (labels / "robo").mkdir()
    (labels / "robo" / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 5\n"
                                               f"names: {json.dumps(names)}\n")
    (labels / "robo" / "train" / "labels").mkdir(parents=True)
    (labels / "robo" / "train" / "labels" / "r_1.txt").write_text(_yolo_box(1, 5, 5, 40, 40))  # no final newline
    (labels / "robo" / "README.roboflow.txt").write_text("exported from roboflow")
    # Label Studio: classes.txt (sorted names), notes.json, labels/ + images/.
    ls_names = sorted(names)
    (labels / "ls" / "labels").mkdir(parents=True)
    (labels / "ls" / "classes.txt").write_text("\n".join(ls_names) + "\n")
    (labels / "ls" / "notes.json").write_text(json.dumps({"categories": [{"id": i, "name": n} for i, n in
                                                                         enumerate(ls_names)],
                                                          "info": {"year": 2026, "contributor": "Label Studio"}}))
    (labels / "ls" / "labels" / "ls_1.txt").write_text(_yolo_box(ls_names.index("person"), 50, 20, 60, 150) + "\n")
    # CVAT 'YOLO 1.1': obj.names, obj.data, train.txt, obj_train_data/.
    (labels / "cvat" / "obj_train_data").mkdir(parents=True)
    (labels / "cvat" / "obj.names").write_text("\n".join(names) + "\n")
    (labels / "cvat" / "obj.data").write_text("classes = 5\ntrain = data/train.txt\nnames = data/obj.names\n"
                                              "backup = backup/\n")
    (labels / "cvat" / "train.txt").write_text("data/obj_train_data/c_1.jpg\n")
    (labels / "cvat" / "obj_train_data" / "c_1.txt").write_text(
        _yolo_box(0, 10, 10, 30, 90) + "\r\n" + _yolo_box(4, 200, 150, 50, 50) + "\r\n")
    for stem in ("u_1", "u_neg", "r_1", "ls_1", "c_1"):
        _image(tmp_path / "images", stem)
    results = _by_item(validate_paths(tmp_path / "images", [labels], get_config(), work_date=WORK_DATE))
    assert set(results) == {"u_1", "u_neg", "r_1", "ls_1", "c_1"}
    for stem, r in results.items():
        assert r["format"] == "yolo" and r["passed"], (stem, r)
    assert {k: r["objects"] for k, r in results.items()} == {"u_1": 1, "u_neg": 0, "r_1": 1, "ls_1": 1, "c_1": 2}


# ------------------------------------------------------------------ the real files in the corpus

def _corpus_config(names: list[str]):
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data["classes"] = [{"id": i, "name": n, "name_ko": n, "target_count": 1, "attributes": {}} for i, n in enumerate(names, 1)]
    data["annotate"] = {**(data.get("annotate") or {}), "min_box_size": 0.5}  # the corpus images are 10x5 px
    return parse_config(data)


@pytest.mark.corpus
def test_corpus_coco_exports_of_other_tools_read_cleanly(corpus):
    coco = corpus / "datumaro" / "coco"
    cases = [(coco / "coco_roboflow", ["a", "b", "c"]), (coco / "kaggle_relaxed_coco", ["label_0", "label_1"]),
             (coco / "coco_instances", ["a", "b", "c"])]
    for root, names in cases:
        results = validate_paths(root, [root], _corpus_config(names), work_date=WORK_DATE)
        assert results and {r["format"] for r in results} == {"coco"}, root
        for r in results:
            # date_captured 0, RLE with iscrowd 1, empty segmentation: no syntax or date reason.  The one
            # 'attributes' {x, y} in the datumaro sample is not in any taxonomy (that is its only reason).
            assert set(r["reason_codes"]) <= {"unknown_attribute"}, (root, r)


@pytest.mark.corpus
def test_corpus_plates_as_pycocotools_coco_and_yolo(corpus, tmp_path):
    """Real photos with their ground-truth plate boxes (openalpr), written as COCO with the reference date form
    and as YOLO with data.yaml: both pass, and both give the same pixel boxes."""
    from pycocotools.coco import COCO

    folder = corpus / "plates" / "us"
    truths = sorted(folder.glob("*.txt"))[:12]
    images, anns, stems = [], [], []
    (tmp_path / "yolo" / "labels").mkdir(parents=True)
    for n, txt in enumerate(truths, 1):
        name, x, y, w, h, _plate = txt.read_text(encoding="utf-8").split("\t")[:6]
        image = folder / name.strip()
        if not image.is_file():
            continue
        with Image.open(image) as im:
            iw, ih = im.size
        x, y, w, h = (float(v) for v in (x, y, w, h))
        stems.append(image.stem)
        images.append({"id": n, "file_name": image.name, "width": iw, "height": ih,
                       "date_captured": "2016-05-04 12:30:00", "license": 1})
        anns.append({"id": n, "image_id": n, "category_id": 3, "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0,
                     "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]})
        (tmp_path / "yolo" / "labels" / f"{image.stem}.txt").write_text(
            f"2 {(x + w / 2) / iw:.6f} {(y + h / 2) / ih:.6f} {w / iw:.6f} {h / ih:.6f}\n")
    (tmp_path / "yolo" / "data.yaml").write_text(yaml.safe_dump({"nc": 5, "names": get_config().class_names}))
    coco_path = tmp_path / "coco" / "instances_plates.json"
    coco_path.parent.mkdir()
    coco_path.write_text(json.dumps(_coco(images, anns, info={"description": "openalpr us"},
                                          licenses=[{"id": 1, "name": "AGPL-3.0", "url": ""}])))
    assert len(COCO(str(coco_path)).getAnnIds()) == len(stems) >= 10
    for labels in (coco_path, tmp_path / "yolo"):
        results = validate_paths(folder, [labels], get_config(), work_date=WORK_DATE)
        assert {r["item"] for r in results} == set(stems)
        assert all(r["passed"] for r in results), [r for r in results if not r["passed"]]


def test_a_yolo_box_on_the_edge_is_inside_after_six_decimal_rounding(tmp_path):
    # 333 px wide, a box from x=111 to the right edge: printed as '0.666667 ... 0.666667', so cx + w/2 = 1.0000005.
    _image(tmp_path / "images", "edge", size=(333, 240))
    _image(tmp_path / "images", "out", size=(333, 240))
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "edge.txt").write_text(f"0 {222 / 333:.6f} 0.500000 {222 / 333:.6f} 0.400000\n")
    (tmp_path / "labels" / "out.txt").write_text("0 0.700000 0.500000 0.620000 0.400000\n")  # reaches 1.01
    results = _by_item(validate_paths(tmp_path / "images", [tmp_path / "labels"], get_config(), work_date=WORK_DATE))
    assert results["edge"]["passed"], results["edge"]
    assert results["out"]["reason_codes"] == ["outside_image"]


def test_a_coco_polygon_in_several_rings_keeps_every_ring():
    # COCO draws an occluded object in pieces: segmentation [[ring 1], [ring 2]], one bbox around both.
    doc = _coco([{"id": 1, "file_name": "rings.jpg", "width": W, "height": H}],
                [{"id": 9, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 1200.0, "bbox": [10, 10, 200, 60],
                  "segmentation": [[10, 10, 50, 10, 50, 40, 10, 40], [150, 20, 210, 20, 210, 70, 150, 70]]}])
    [parsed] = read_label("instances_rings.json", json.dumps(doc).encode(), class_order=get_config().class_names)
    parts = parsed.item.objects
    assert [o.id for o in parts] == ["9", "9.2"]
    assert parts[1].points == [[150.0, 20.0], [210.0, 20.0], [210.0, 70.0], [150.0, 70.0]]
    assert parts[1].extent() == (150.0, 20.0, 210.0, 70.0)


def test_a_ring_outside_the_image_is_caught_even_when_it_is_not_the_first(tmp_path):
    _image(tmp_path / "images", "rings")
    path = tmp_path / "instances_rings.json"
    path.write_text(json.dumps(_coco([{"id": 1, "file_name": "rings.jpg", "width": W, "height": H}],
                                     [{"id": 9, "image_id": 1, "category_id": 1, "bbox": [10, 10, 330, 60],
                                       "segmentation": [[10, 10, 50, 10, 50, 40, 10, 40],
                                                        [280, 20, 340, 20, 340, 70, 280, 70]]}])))
    [result] = validate_paths(tmp_path / "images", [path], get_config(), work_date=WORK_DATE)
    assert result["reasons"] == [{"code": "outside_image", "where": "annotation 9.2"}]
