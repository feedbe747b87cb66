"""Safe zip extraction, the upload folder reader, and the refinement remedies' certainty rules."""

from __future__ import annotations

import io
import json
import stat
import zipfile

import pytest
from trainset.annotate.model import CaptureMeta, LabelItem, LabelObject
from trainset.annotate.remedies import plan_repair
from trainset.annotate.rules import ImageFacts
from trainset.annotate.uploads import ZipRefused, read_upload, safe_zip_members
from trainset.config import get_config
from trainset.storage import LocalStorage

LIMITS = {"max_members": 10, "max_bytes": 10_000_000, "max_ratio": 100}


def _zip(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_unsafe_member_names_are_refused_and_the_rest_kept():
    data = _zip({"ok/a.json": b"{}", "../evil.json": b"{}", "/abs.json": b"{}", "a\\..\\b.json": b"{}",
                 "x/../../up.txt": b"0"}, symlink="link.json")
    members, refused = safe_zip_members(data, **LIMITS)
    assert [n for n, _ in members] == ["ok/a.json"]
    assert sorted(n for n, _, _ in refused) == sorted(["../evil.json", "/abs.json", "a\\..\\b.json", "x/../../up.txt",
                                                       "link.json"])
    assert {code for _, code, _ in refused} == {"zip_unsafe_path"}


def test_zip_limits():
    with pytest.raises(ZipRefused) as err:
        safe_zip_members(_zip({f"{i}.txt": b"0" for i in range(11)}), **LIMITS)
    assert err.value.code == "zip_too_many_members"
    bomb = _zip({"big.txt": b"\0" * 5_000_000})
    with pytest.raises(ZipRefused) as err:
        safe_zip_members(bomb, **LIMITS)
    assert err.value.code == "zip_too_large" and "ratio" in str(err.value)
    with pytest.raises(ZipRefused) as err:
        safe_zip_members(bomb, max_members=10, max_bytes=1000, max_ratio=1e9)
    assert err.value.code == "zip_too_large"
    with pytest.raises(ZipRefused) as err:
        safe_zip_members(b"PK\x03\x04 not really a zip", **LIMITS)
    assert err.value.code == "zip_corrupt"


def test_read_upload_reports_problems_and_skips_images(tmp_path):
    store = LocalStorage(tmp_path)
    store.write_bytes("uploads/2026-03-16/kim/a.json", b"{}")
    store.write_bytes("uploads/2026-03-16/kim/a.jpg", b"\xff\xd8 image bytes")
    store.write_bytes("uploads/2026-03-16/kim/more.zip", _zip({"b.json": b"{}", "../c.json": b"{}"}))
    store.write_bytes("uploads/2026-03-16/kim/broken.zip", b"PK\x03\x04")
    files, problems = read_upload(store, "uploads/2026-03-16/kim", get_config())
    assert sorted(f.name for f in files) == ["a.json", "more.zip!/b.json"]
    assert sorted((p.name, p.code) for p in problems) == [("broken.zip", "zip_corrupt"),
                                                          ("more.zip!/../c.json", "zip_unsafe_path")]


def _item(**changes) -> LabelItem:
    base = dict(item_key="TS_person_000001", source_format="aihub", source_uri="u", label_stem="TS_person_000001",
                image_file_name="TS_person_000001.jpg", width=1280, height=960, capture=CaptureMeta(date="2026-03-14"),
                objects=[LabelObject(id="1", category="person", bbox=[100, 200, 300, 400])], id_scope="u")
    base.update(changes)
    return LabelItem(**base)


IMAGE = ImageFacts("TS_person_000001", 640, 480, 7, "IMG_1234.JPG", "person", "file:///w/x.jpg")


def test_rescale_when_one_scale_explains_both_sides():
    repaired, remedies, why = plan_repair(_item(), {"image_size_mismatch"}, IMAGE, [], 1.0)
    assert why is None and [r[0] for r in remedies] == ["rescale"]
    assert (repaired.width, repaired.height) == (640, 480)
    assert repaired.objects[0].bbox == [50.0, 100.0, 150.0, 200.0]


def test_no_rescale_when_the_ratio_is_not_certain():
    repaired, remedies, why = plan_repair(_item(width=1300), {"image_size_mismatch"}, IMAGE, [], 1.0)
    assert repaired is None and remedies == [] and "not one scale" in why


def test_pre_rename_names_are_mapped_only_when_certain():
    item = _item(image_file_name="IMG_1234.JPG", width=640, height=480)
    repaired, remedies, _ = plan_repair(item, {"stem_mismatch"}, IMAGE, [], 1.0)
    assert repaired.image_file_name == "TS_person_000001.JPG" and remedies[0][0] == "original_name"
    repaired, _, why = plan_repair(_item(image_file_name="other.jpg", width=640, height=480), {"stem_mismatch"},
                                   IMAGE, [], 1.0)
    assert repaired is None and "not the image's name before renaming" in why
    orphan = _item(item_key="IMG_1234", label_stem="IMG_1234", image_file_name="IMG_1234.JPG", width=640,
                   height=480)
    target = {"image_id": 7, "item_key": "TS_person_000001", "dataset_name": "TS_person_000001.jpg",
              "original_name": "IMG_1234.JPG", "width": 640, "height": 480, "class_name": "person", "location": "x"}
    repaired, remedies, _ = plan_repair(orphan, {"no_image"}, None, [target], 1.0)
    assert repaired.item_key == "TS_person_000001" and repaired.image_file_name == "TS_person_000001.jpg"
    repaired, _, why = plan_repair(orphan, {"no_image"}, None, [target, {**target, "image_id": 8}], 1.0)
    assert repaired is None and "2 warehouse images" in why


def test_project_json_round_trip():
    from trainset.annotate.model import to_project_json
    from trainset.annotate.readers import read_label

    doc = to_project_json(_item(objects=[LabelObject(id="1", category="person", bbox=[1, 2, 30, 40],
                                                     attributes={"pose": "standing"}),
                                         LabelObject(id="2", category="animal", points=[[0, 0], [9, 0], [5, 5]])]))
    parsed = read_label("TS_person_000001.json", json.dumps(doc).encode(), class_order=[])[0]
    assert parsed.findings == [] and [o.shape for o in parsed.item.objects] == ["bbox", "polygon"]
