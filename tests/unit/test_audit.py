"""trainset audit: a clean pipeline state passes, and each breach kind, injected alone, is detected."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image
from trainset.audit import raw_key, run_audit, unmasked_boxes
from trainset.config import load_config
from trainset.refine.deid import Detection, mask
from trainset.storage import LocalStorage

BOX = (120, 80, 96, 112)  # a "face": x, y, w, h in the original's pixels


def _jpeg(arr: np.ndarray, exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90, **({"exif": exif} if exif else {}))
    return buf.getvalue()


def _original() -> np.ndarray:
    rng = np.random.default_rng(7)
    smooth = np.linspace(40, 200, 480, dtype=np.float32)[None, :, None].repeat(360, 0).repeat(3, 2)
    texture = rng.normal(0, 35, (360, 480, 3))
    return np.clip(smooth + texture, 0, 255).astype(np.uint8)


def _gps_exif() -> bytes:
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (37.0, 33.0, 0.0)})
    return exif.tobytes()


@pytest.fixture
def state(records, tmp_path):
    """One refined image done right: raw original, masked and resized warehouse object, detection row."""
    roots = {name: LocalStorage(tmp_path / name) for name in ("raw", "warehouse", "quarantine")}
    original = _jpeg(_original(), exif=_gps_exif())
    sha = hashlib.sha256(original).hexdigest()
    row = {"sha256": sha, "format": "jpeg", "class_name": "person"}
    roots["raw"].write_bytes(raw_key(row), original)
    masked = mask(_original(), [Detection("face", *BOX, 0.9, "test")], mode="mosaic", margin=0.1)
    stored = Image.fromarray(masked).resize((320, 240))
    refined = _jpeg(np.asarray(stored))
    location = roots["warehouse"].write_bytes("person/TS_person_1.jpg", refined)
    with records.cursor() as cur:
        cur.execute("INSERT INTO batches (batch_id, stage, run_id, finished_at) VALUES ('b', 'collect', 'r', now())")
        cur.execute("INSERT INTO images (sha256, size_bytes, format, width, height, source_uri, original_name, "
                    "class_name, batch_id, status, stage, location, dataset_name) VALUES (%s, %s, 'jpeg', 480, 360, "
                    "'file:///drop/person/a.jpg', 'a.jpg', 'person', 'b', 'refined', 'refine', %s, 'TS_person_1.jpg')"
                    " RETURNING image_id", (sha, len(original), location))
        image_id = cur.fetchone()[0]
        cur.execute("INSERT INTO detections (image_id, kind, x, y, w, h, score, masked, detector) "
                    "VALUES (%s, 'face', %s, %s, %s, %s, 0.9, true, 'test')", (image_id, *BOX))
    records.commit()
    return {"roots": roots, "conn": records, "image_id": image_id, "original": original, "location": location,
            "sha": sha}


def _kinds(state) -> list[str]:
    return sorted(b["kind"] for b in run_audit(state["conn"], load_config(), state["roots"]).breaches)


def test_clean_state_has_no_breach(state):
    result = run_audit(state["conn"], load_config(), state["roots"])
    assert result.breaches == [] and result.checked["masked_boxes"] == 1


def test_file_without_row(state):
    state["roots"]["warehouse"].write_bytes("person/stray.jpg", b"\xff\xd8\xffxx")
    assert _kinds(state) == ["file_without_row"]


def test_row_without_file(state):
    state["roots"]["warehouse"].delete("person/TS_person_1.jpg")
    assert _kinds(state) == ["row_without_file"]


def test_unmasked_warehouse_image(state):
    unmasked = Image.fromarray(_original()).resize((320, 240))
    state["roots"]["warehouse"].write_bytes("person/TS_person_1.jpg", _jpeg(np.asarray(unmasked)))
    assert _kinds(state) == ["unmasked_detection"]


def test_raw_copy_in_a_misnamed_quarantine_folder(state):
    """Issue 14 item 1's leak: the raw original, unmasked with GPS, under quarantine/erson/ with no row."""
    state["roots"]["quarantine"].write_bytes("erson/TS_person_1.jpg", state["original"])
    assert _kinds(state) == ["file_without_row", "gps_in_exif", "unmasked_detection"]


def test_raw_photos_are_allowed_in_the_collect_quarantine(state):
    uri = state["roots"]["quarantine"].write_bytes("collect/exact_duplicate/9_a.jpg", state["original"])
    with state["conn"].cursor() as cur:
        cur.execute("INSERT INTO quarantine (entity_kind, entity_key, stage, reason_code, location) "
                    "VALUES ('image', '9', 'collect', 'exact_duplicate', %s)", (uri,))
    state["conn"].commit()
    assert _kinds(state) == []


def test_gps_kept_in_the_warehouse(state):
    with Image.open(io.BytesIO(state["roots"]["warehouse"].read_bytes("person/TS_person_1.jpg"))) as im:
        arr = np.asarray(im.convert("RGB"))
    state["roots"]["warehouse"].write_bytes("person/TS_person_1.jpg", _jpeg(arr, exif=_gps_exif()))
    assert _kinds(state) == ["gps_in_exif"]


def test_counted_twice(state):
    with state["conn"].cursor() as cur:
        cur.execute("INSERT INTO images (sha256, size_bytes, source_uri, original_name, class_name, batch_id, "
                    "status) VALUES (%s, 1, 'file:///drop/person/b.jpg', 'b.jpg', 'person', 'b', 'raw')",
                    (state["sha"],))
    state["conn"].commit()
    assert "counted_twice" in _kinds(state)


def test_item_in_two_splits(state):
    with state["conn"].cursor() as cur:
        cur.execute("INSERT INTO release_builds (release_name, version, seed) VALUES ('rel', 'v1', 1)")
        cur.execute("INSERT INTO releases (release_name, version, uri, manifest_sha256) "
                    "VALUES ('rel', 'v1', 'file:///x/rel', %s)", ("0" * 64,))
        for key, split in (("TS_person_1", "train"), ("TS_person_1_copy", "validation")):
            cur.execute("INSERT INTO release_plan_items (release_name, item_key, image_id, class_name, split, "
                        "group_key) VALUES ('rel', %s, %s, 'person', %s, 'g')", (key, state["image_id"], split))
            cur.execute("INSERT INTO release_items (release_name, item_key, split) VALUES ('rel', %s, %s)",
                        (key, split))
    state["conn"].commit()
    assert _kinds(state) == ["item_in_two_splits"]


@pytest.mark.parametrize("mode", ["mosaic", "blur", "fill"])
def test_pixel_check_accepts_every_mask_mode_and_rejects_none(mode):
    original = _jpeg(_original())
    boxes = [BOX]
    masked = mask(_original(), [Detection("face", *BOX, 0.9, "t")], mode=mode, margin=0.1)
    assert unmasked_boxes(_jpeg(np.asarray(Image.fromarray(masked).resize((240, 180)))), original, boxes) == []
    plain = _jpeg(np.asarray(Image.fromarray(_original()).resize((240, 180))))
    assert len(unmasked_boxes(plain, original, boxes)) == 1


def test_pixel_check_rerenders_with_refine_for_boxes_too_small_for_the_energy_test():
    """A 13x5 px plate under an 8-cell mosaic keeps its detail energy (2 px cells); refine's re-rendering with
    the recorded box tells the mask apart (found on the corpus: faces/plates/eu/eu10.jpg)."""
    from trainset.audit import RecordedDetections
    from trainset.refine.render import render

    config = load_config()
    original = _jpeg(_original())
    boxes = [(98, 235, 13, 5), BOX]
    masked = render(original, config, RecordedDetections(boxes, 480)).data
    plain = render(original, config, None).data
    assert unmasked_boxes(masked, original, boxes, config) == []
    assert len(unmasked_boxes(plain, original, boxes, config)) == 2
