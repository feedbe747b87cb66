"""refine + curation against the records DB: features stored once per content hash, the domain_outlier check
scored within the class and judged by the refine suite in flag and reject mode."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image
from trainset import db
from trainset.refine.plan import plan_batches
from trainset.refine.source import SourceReader
from trainset.refine.steps import refine_batch
from trainset.storage import LocalStorage

from tests.unit.test_curation import drawing


def _photo_jpeg() -> bytes:
    from skimage import data

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2026:03:14 10:30:00"
    buf = io.BytesIO()
    Image.fromarray(data.coffee()).save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


@pytest.fixture
def world(records, tmp_path, monkeypatch):
    from trainset.config import load_config

    monkeypatch.setenv("TRAINSET_DATA_ROOT", str(tmp_path))
    config = load_config()
    config = config.model_copy(update={"refine": config.refine.model_copy(update={
        "anonymize": config.refine.anonymize.model_copy(update={"faces": False, "plates": False}),
        "resize": config.refine.resize.model_copy(update={"long_side": 320})})})
    raw = LocalStorage(tmp_path / "raw")
    files = {f"d{s}.png": drawing(s) for s in range(8)} | {"photo.jpg": _photo_jpeg()}
    files["d0_again.png"] = files["d0.png"]  # same bytes under another name: one feature row
    with records.cursor() as cur:
        cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES ('c1', 'collect', 'r')")
        for name, data in files.items():
            sha = hashlib.sha256(data).hexdigest()
            uri = raw.write_bytes(f"object/{name}", data)
            cur.execute("INSERT INTO images (sha256, size_bytes, source_uri, original_name, class_name, batch_id, "
                        "status, location) VALUES (%s, %s, %s, %s, 'object', 'c1', 'raw', %s)",
                        (sha, len(data), f"drop/{name}", name, uri))
    records.commit()
    return config, raw, tmp_path


@pytest.mark.parametrize("mode", ["flag", "reject"])
def test_domain_outlier_is_scored_in_class_and_judged(records, world, mode):
    config, raw, root = world
    config = config.model_copy(update={"curation": config.curation.model_copy(update={"domain_outlier_mode": mode})})
    reader = SourceReader([raw])
    for batch_id in plan_batches(records, config, "run1", batch_size=50):
        refine_batch(records, config, batch_id, run_id="run1", reader=reader,
                            warehouse=LocalStorage(root / "warehouse"), quarantine=LocalStorage(root / "quarantine"))
    with records.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT sha256) FROM image_features")
        assert cur.fetchone() == (9, 9)  # ten images, nine distinct contents
        rows = {r["original_name"]: r for r in db.fetch_dicts(cur, """
            SELECT i.original_name, i.reason_codes, i.status, m.domain, m.domain_score, m.domain_group_size,
                   m.edge_sharpness, c.passed, c.reason_code
            FROM images i JOIN refine_measurements m USING (image_id)
            JOIN check_results c ON c.image_id = i.image_id AND c.check_name = 'domain_outlier'""")}
    assert rows["photo.jpg"]["domain"] == "photo" and rows["d3.png"]["domain"] == "illustration"
    assert all(r["domain_group_size"] == 10 and r["domain_score"] is not None for r in rows.values())
    assert rows["photo.jpg"]["passed"] is False and rows["photo.jpg"]["reason_code"] == "domain_outlier"
    assert [n for n, r in rows.items() if r["passed"] is False] == ["photo.jpg"]
    assert ("domain_outlier" in rows["photo.jpg"]["reason_codes"]) == (mode == "reject")
    assert rows["photo.jpg"]["status"] == ("rejected" if mode == "reject" else "refined")
    assert rows["photo.jpg"]["edge_sharpness"] > config.refine.quality.blur_min_edge_sharpness
