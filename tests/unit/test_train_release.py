"""A release end to end against the real records DB: plan, exports read back by reference readers, balance,
data card plots, manifest verification, immutability; file:// and s3:// training storage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from trainset.config import get_config
from trainset.storage import LocalStorage
from trainset.train import exports
from trainset.train.release import (
    NothingToRelease,
    ReleaseError,
    ReleaseExists,
    plan_release,
    publish_release,
    uri_reader,
)
from trainset.train.verify import read_manifest, release_check_rows, verify_release
from trainset_dev.demo.train import demo_summary
from trainset_dev.seeds.train import seed_inspected_items

PER_CLASS = {"person": 14, "animal": 10, "vehicle": 8, "food": 5, "object": 3}


@pytest.fixture(scope="module")
def released(records_dsn, tmp_path_factory, truncate_records):
    """One release built once for the module (the DB-state tests come before the ones using ``records``)."""
    from trainset import db

    tmp_path = tmp_path_factory.mktemp("release")
    conn = db.connect(records_dsn)
    truncate_records(conn)
    passed = seed_inspected_items(conn, tmp_path / "warehouse", PER_CLASS, session_size=2, failed_share=0.1,
                                  syntax_failures=1)
    config = get_config()
    storage = LocalStorage(tmp_path / "training")
    plan = plan_release(conn, config, name="rel-1", run_id="run-a")
    summary = publish_release(conn, config, name="rel-1", run_id="run-a", storage=storage, read=uri_reader())
    conn.rollback()
    conn.autocommit = True  # reads between tests must not hold locks that the next module's TRUNCATE waits on
    yield {"passed": passed, "plan": plan, "summary": summary, "root": tmp_path / "training" / "rel-1",
           "storage": storage, "config": config, "conn": conn}
    conn.close()


def test_plan_groups_sessions_and_records_the_leak_check(released):
    conn, plan = released["conn"], released["plan"]
    assert plan["items"] == len(released["passed"]) and plan["leak_check_passed"]
    assert plan["multi_item_groups"] > 0  # session_size=2: pairs shot a minute apart move together
    with conn.cursor() as cur:
        cur.execute("SELECT group_key, count(DISTINCT split) FROM release_plan_items WHERE release_name = 'rel-1' "
                    "GROUP BY group_key HAVING count(*) > 1")
        rows = cur.fetchall()
        cur.execute("SELECT status, leak_check->>'passed', version FROM release_builds WHERE release_name = 'rel-1'")
        assert cur.fetchone() == ("published", "true", "v1")
        cur.execute("SELECT count(*) FROM release_items WHERE release_name = 'rel-1'")
        assert cur.fetchone()[0] == len(released["passed"])
    assert rows and all(n == 1 for _, n in rows)


def test_coco_reads_back_with_pycocotools(released):
    from pycocotools.coco import COCO

    root = released["root"]
    total_images = total_anns = 0
    for split in ("train", "validation", "test"):
        coco = COCO(str(root / "annotations" / f"instances_{split}.json"))
        for img in coco.loadImgs(coco.getImgIds()):
            path = root / "images" / split / img["file_name"]
            with Image.open(path) as im:
                assert im.size == (img["width"], img["height"])
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]])):
                x, y, w, h = ann["bbox"]
                assert w > 0 and h > 0 and x + w <= img["width"] + 0.01 and y + h <= img["height"] + 0.01
                assert coco.loadCats(ann["category_id"])[0]["name"] in PER_CLASS
        total_images += len(coco.getImgIds())
        total_anns += len(coco.getAnnIds())
    assert total_images == len(released["passed"])
    assert total_anns == released["summary"]["counts"]["objects"]


def test_yolo_and_aihub_read_back_strictly(released):
    root = released["root"]
    yolo = exports.read_yolo(root)
    aihub = exports.read_aihub(root / "aihub")
    items = {s: set(v) for s, v in yolo.items()}
    assert {s: set(v) for s, v in aihub.items()} == items
    assert sum(len(v) for v in items.values()) == len(released["passed"])
    # Same boxes in both: the YOLO box, scaled back to pixels, is the AI Hub label's box.
    stem = sorted(items["train"])[0]
    label = aihub["train"][stem]
    w, h = label["image"]["width"], label["image"]["height"]
    cls, cx, cy, bw, bh = yolo["train"][stem][0]
    x, y, lw, lh = label["annotations"][0]["bbox"]
    assert (cx * w, cy * h, bw * w, bh * h) == pytest.approx((x + lw / 2, y + lh / 2, lw, lh), abs=0.01)


def test_aihub_labels_follow_the_project_schema_and_read_back_through_annotate(released):
    import jsonschema
    from trainset.annotate.readers import read_label

    root, config = released["root"], released["config"]
    schema = json.loads((Path(__file__).resolve().parents[2] / "include" / "schemas" /
                         "aihub_label.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    coco = json.loads((root / "annotations" / "instances_train.json").read_text())
    boxes = {}
    for ann in coco["annotations"]:
        boxes.setdefault(coco["images"][ann["image_id"] - 1]["file_name"].rsplit(".", 1)[0], []).append(ann["bbox"])
    labels = sorted((root / "aihub" / "Training" / exports.AIHUB_LABEL).glob("TL_*/*.json"))
    assert labels
    for path in labels:
        data = path.read_bytes()
        assert not list(validator.iter_errors(json.loads(data))), path.name
        parsed = read_label(path.name, data, class_order=config.class_names)
        assert len(parsed) == 1 and not parsed[0].findings, (path.name, parsed[0].findings)
        assert [o.bbox for o in parsed[0].item.objects] == boxes.get(path.stem, [])


def test_strict_readers_reject_broken_exports(released, tmp_path):
    import shutil

    copy = tmp_path / "broken"
    shutil.copytree(released["root"], copy)
    label = next((copy / "labels" / "train").glob("*.txt"))
    label.write_text("0 0.5 0.5 1.4 0.2\n")
    with pytest.raises(exports.ExportFormatError, match="outside"):
        exports.read_yolo(copy)
    label.unlink()
    with pytest.raises(exports.ExportFormatError, match="images without labels"):
        exports.read_yolo(copy)
    folder = next(p for p in (copy / "aihub" / "Training" / exports.AIHUB_LABEL).glob("TL_*") if p.is_dir())
    next(folder.glob("*.json")).write_text("{not json")
    with pytest.raises(exports.ExportFormatError, match="differs from its folder"):
        exports.read_aihub(copy / "aihub")


def test_balance_and_manifest(released):
    root, storage = released["root"], released["storage"]
    balance = json.loads((root / "balance.json").read_text())
    train = balance["images_per_split"]["train"]
    assert balance["imbalance_ratio"] == pytest.approx(max(train.values()) / min(v for v in train.values() if v))
    n = sum(train.values())
    assert balance["class_weights"]["person"] == pytest.approx(n / (len(train) * train["person"]), abs=1e-3)
    actions = {r["class_name"]: r["action"] for r in balance["sampling_plan"]}
    assert actions["person"] == "undersample" and actions["object"] == "oversample"
    manifest = read_manifest(storage, "rel-1")
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {"manifest.json"}
    assert {f["path"] for f in manifest["files"]} == on_disk
    assert manifest["config"]["train"]["seed"] == released["config"].train.seed
    assert manifest["counts"]["items"] == len(released["passed"])
    assert verify_release(storage, "rel-1") == []
    rows = release_check_rows(storage, "rel-1")
    assert {r["kind"] for r in rows} == {"file", "item", "split"}


def test_tampering_is_detected(released, tmp_path):
    import shutil

    shutil.copytree(released["root"], tmp_path / "rel-1")
    root, storage = tmp_path / "rel-1", LocalStorage(tmp_path)
    assert verify_release(storage, "rel-1") == []
    victim = next((root / "images" / "train").iterdir())
    victim.write_bytes(victim.read_bytes() + b"x")
    (root / "labels" / "test" / "extra.txt").write_text("")
    next((root / "annotations").iterdir()).unlink()
    problems = verify_release(storage, "rel-1")
    assert any("checksum" in p and victim.name in p for p in problems)
    assert any("extra.txt" in p for p in problems)
    assert any(p.endswith("missing") for p in problems)


def test_release_is_immutable(released):
    conn, config, storage = released["conn"], released["config"], released["storage"]
    with pytest.raises(ReleaseExists):
        plan_release(conn, config, name="rel-1", run_id="run-b")
    with pytest.raises(ReleaseExists):
        publish_release(conn, config, name="rel-1", run_id="run-b", storage=storage, read=uri_reader())
    # The same run finishing again (a retry) is a no-op that reports the existing release.
    again = publish_release(conn, config, name="rel-1", run_id="run-a", storage=storage, read=uri_reader())
    assert again["already_published"] and again["manifest_sha256"] == released["summary"]["manifest_sha256"]
    # A manifest in storage that the DB does not know about also blocks the name.
    (storage.root / "rel-x").mkdir()
    (storage.root / "rel-x" / "manifest.json").write_text("{}")
    plan_release(conn, config, name="rel-x", run_id="run-c")
    with pytest.raises(ReleaseExists):
        publish_release(conn, config, name="rel-x", run_id="run-c", storage=storage, read=uri_reader())
    with pytest.raises(ReleaseError):
        plan_release(conn, config, name="../evil", run_id="run-d")


def test_data_card_plots_are_real_images(released):
    card = released["root"] / "datacard"
    html = (card / "index.html").read_text(encoding="utf-8")
    assert "구문 정확성" in html and "Leak check passed" in html
    pngs = sorted(card.glob("*.png"))
    assert {p.stem for p in pngs} == {"class_distribution", "image_sizes", "aspect_ratios", "boxes_per_image",
                                      "box_sizes", "pass_rates", "eda_samples", "eda_size_per_class",
                                      "eda_aspect_per_class"}
    assert 'id="eda"' in html and "Samples per class" in html
    for png in pngs:
        assert f'src="{png.name}"' in html
        with Image.open(png) as im:
            pixels = np.asarray(im.convert("RGB")).astype(int)
        assert im.size[0] >= 400 and im.size[1] >= 200
        # Something was drawn: many pixels neither white nor the same colour (axes + data, not a blank canvas).
        non_white = (pixels.sum(axis=2) < 720).mean()
        assert non_white > 0.01, png.name
        packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
        assert len(np.unique(packed)) > 20, png.name
    quality = json.loads((released["root"] / "quality.json").read_text())
    # One syntax failure among first-inspected items: 구문 정확성 below 100%.
    assert 0.9 < quality["syntax_accuracy"] < 1.0
    lines = demo_summary(released["conn"])
    assert lines[-1].endswith("rel-1/datacard/index.html") and "rel-1" in lines[0]


def test_payload_path_is_the_one_adapter():
    # Guard: the loader reads the annotation through objects_from_payload only.
    source = Path(__file__).resolve().parents[2] / "include" / "trainset" / "train" / "items.py"
    assert source.read_text().count("objects_from_payload(") == 2  # definition + the one call


def test_release_suite_names_each_defect(released, tmp_path):
    import shutil

    import pandas as pd
    from trainset.expectations import validate_dataframe

    storage = released["storage"]
    clean = validate_dataframe(pd.DataFrame(release_check_rows(storage, "rel-1")), "train_release",
                               id_column="check_id")
    assert clean.success and not clean.failures
    shutil.copytree(released["root"], tmp_path / "rel-1")
    root, copy = tmp_path / "rel-1", LocalStorage(tmp_path)
    victim = next((root / "images" / "train").iterdir())
    victim.write_bytes(b"changed")
    shutil.copyfile(victim, root / "images" / "test" / victim.name)  # the same image in a second split
    outcome = validate_dataframe(pd.DataFrame(release_check_rows(copy, "rel-1")), "train_release",
                                 id_column="check_id")
    assert not outcome.success
    assert outcome.failures[f"file:images/train/{victim.name}"] == ["checksum_mismatch"]
    assert outcome.failures[f"file:images/test/{victim.name}"] == ["checksum_mismatch"]  # not in the manifest
    assert outcome.failures[f"image:{victim.name}"] == ["item_in_two_splits"]


def test_an_unchanged_automatic_release_is_skipped(released):
    conn, config = released["conn"], released["config"]
    with pytest.raises(NothingToRelease, match="nothing changed since release rel-1"):
        plan_release(conn, config, name="auto-1", run_id="run-auto", skip_if_unchanged=True)
    # Other parameters are a change; a named release is always planned.
    assert plan_release(conn, config, name="auto-2", run_id="run-auto", seed=99, skip_if_unchanged=True)["items"]
    assert plan_release(conn, config, name="named", run_id="run-named")["items"] == len(released["passed"])


def test_cli_lists_and_verifies_releases(released, records_dsn, capsys):
    from trainset.cli import main

    assert main(["release", "list", "--dsn", records_dsn]) == 0
    assert "rel-1  v1" in capsys.readouterr().out
    assert main(["release", "verify", "rel-1", "--uri", released["storage"].uri]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["release", "verify", "nope", "--uri", released["storage"].uri]) == 2
    assert "not a release" in capsys.readouterr().out


def test_balanced_view_is_train_only_and_records_sources(released):
    import json

    root = released["root"]
    manifest = json.loads((root / "balanced" / "manifest.json").read_text(encoding="utf-8"))
    balance = json.loads((root / "balance.json").read_text(encoding="utf-8"))
    plan = {r["class_name"]: r for r in balance["sampling_plan"]}
    train = {c: balance["images_per_split"]["train"].get(c, 0) for c in balance["class_names"]}
    for c, v in manifest["counts"].items():
        assert v["before"] == train[c]
        assert v["after"] == (plan[c]["target"] or v["before"])
    split_of = {}
    with open(root / "items.csv", encoding="utf-8") as f:
        for line in f.read().splitlines()[1:]:
            cols = line.split(",")
            split_of[cols[4]] = cols[1]
    for e in manifest["files"]:
        assert (root / "balanced" / e["file"]).is_file()
        assert split_of[e["source_file"]] == "train"  # never a validation or test image
        assert (e["transform"] is None) == ("_aug" not in e["file"])
    card = (root / "datacard" / "index.html").read_text(encoding="utf-8")
    assert 'id="balanced"' in card
