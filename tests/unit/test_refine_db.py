"""refine against the records DB: the multi-index near-duplicate lookup, name sequences, and one whole batch
(measure → GX suite → quarantine / warehouse) on generated photos with known answers."""

from __future__ import annotations

import hashlib
import io
import random
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter
from trainset import db
from trainset.refine import dedup
from trainset.refine.measure import hamming, to_signed64
from trainset.refine.naming import allocate_sequences
from trainset.refine.plan import plan_batches
from trainset.refine.source import SourceReader
from trainset.refine.steps import refine_batch
from trainset.storage import LocalStorage


def _add_images(conn, n: int, status: str = "raw") -> list[int]:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES ('c1', 'collect', 'r') "
                    "ON CONFLICT DO NOTHING")
        rows = db.execute_batch(cur, "INSERT INTO images (sha256, size_bytes, source_uri, original_name, batch_id, "
                                     "status) VALUES %s RETURNING image_id",
                                [(hashlib.sha256(f"{random.random()}".encode()).hexdigest(), 1, f"s{i}",
                                  f"f{i}.jpg", "c1", status) for i in range(n)], fetch=True)
    conn.commit()
    return [r[0] for r in rows]


def _flip(h: int, bits: list[int]) -> int:
    u = h & ((1 << 64) - 1)
    for b in bits:
        u ^= 1 << b
    return to_signed64(u)


def test_multi_index_lookup_finds_exactly_what_a_scan_finds(records):
    rng = random.Random(7)
    ids = _add_images(records, 3000)
    hashes = {i: to_signed64(rng.getrandbits(64)) for i in ids}
    # Plant neighbours of a probe at every distance 0..9 (bits spread over all bands).
    probe = to_signed64(rng.getrandbits(64))
    planted = _add_images(records, 10)
    for d, image_id in enumerate(planted):
        hashes[image_id] = _flip(probe, rng.sample(range(64), d))
    with records.cursor() as cur:
        dedup.register(cur, hashes.items())
    records.commit()
    memory = dedup.MemoryIndex()
    for image_id, h in hashes.items():
        memory.add(image_id, h)
    for radius in (0, 3, 6, 9):
        expected = min(((hamming(h, probe), i) for i, h in hashes.items() if hamming(h, probe) <= radius),
                       default=None)
        with records.cursor() as cur:
            got = dedup.find_near_duplicate(cur, probe, radius)
        want = None if expected is None else dedup.Match(expected[1], expected[0])
        assert got == want, radius
        assert memory.nearest(probe, radius) == want
    # Rejected images are not originals any more; the image itself is never its own duplicate.
    with records.cursor() as cur:
        cur.execute("UPDATE images SET status = 'rejected' WHERE image_id = %s", (planted[0],))
        assert dedup.find_near_duplicate(cur, probe, 0) is None
        assert dedup.find_near_duplicate(cur, hashes[planted[1]], 0, exclude=planted[1]) is None


def test_sequences_never_collide_across_parallel_batches(records_dsn):
    results: list[range] = []

    def allocate():
        conn = db.connect(records_dsn)
        try:
            for _ in range(20):
                with conn.cursor() as cur:
                    results.append(allocate_sequences(cur, "TS|person|20260314", 7))
                conn.commit()
        finally:
            conn.close()

    threads = [threading.Thread(target=allocate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = [n for r in results for n in r]
    assert sorted(numbers) == list(range(1, 4 * 20 * 7 + 1))


def _photo(seed: int, w: int = 900, h: int = 700) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = np.zeros((h, w, 3), np.float32) + rng.integers(40, 200, 3)
    for _ in range(40):
        x0, y0 = rng.integers(0, w - 60), rng.integers(0, h - 60)
        arr[y0:y0 + rng.integers(20, 200), x0:x0 + rng.integers(20, 200)] = rng.integers(0, 255, 3)
    arr += rng.normal(0, 5, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _jpeg(im: Image.Image, when: str | None = "2026:03:14 10:30:00", gps: bool = False, orientation: int = 1,
          quality: int = 92) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Canon", "EOS R6", orientation
    if when:
        exif.get_ifd(0x8769)[0x9003] = when
    if gps:
        exif.get_ifd(0x8825)[1] = "N"
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()


CASES = {
    # name: (bytes, expected reason codes)
    "sharp.jpg": (lambda: _jpeg(_photo(1), gps=True), []),
    "other.jpg": (lambda: _jpeg(_photo(2)), []),
    "rotated.jpg": (lambda: _jpeg(_photo(3).transpose(Image.Transpose.ROTATE_90), orientation=6), []),
    "blurred.jpg": (lambda: _jpeg(_photo(4).filter(ImageFilter.GaussianBlur(6))), ["blurry"]),
    "recompressed.jpg": (lambda: _jpeg(_photo(1).resize((600, 467)), quality=40), ["near_duplicate"]),
    "no_date.jpg": (lambda: _jpeg(_photo(5), when=None), ["exif_missing_date"]),
    "bad_date.jpg": (lambda: _jpeg(_photo(6), when="0000:00:00 00:00:00"), ["exif_bad_date"]),
    "old.jpg": (lambda: _jpeg(_photo(7), when="2019:05:01 09:00:00"), ["exif_date_out_of_period"]),
    "future.jpg": (lambda: _jpeg(_photo(10), when="2099:01:01 09:00:00"),
                   ["exif_date_out_of_period", "exif_future_date"]),
    "tiny.jpg": (lambda: _jpeg(_photo(8, 200, 150)), ["too_small"]),
    # Darkening a photo 5x also divides its edge contrast, which the Laplacian score measures: blurry too.
    "dark.jpg": (lambda: _jpeg(Image.fromarray((np.asarray(_photo(9)) * 0.2).astype(np.uint8))), ["blurry", "dark"]),
    # Not even a header: no capture time could be read either.
    "truncated.jpg": (lambda: b"\xff\xd8\xff\xe0" + b"\x00" * 40, ["corrupt", "exif_missing_date"]),
}


@pytest.fixture
def refine_world(records, records_dsn, tmp_path, monkeypatch):
    from trainset.config import load_config

    monkeypatch.setenv("TRAINSET_DATA_ROOT", str(tmp_path))
    config = load_config()
    config = config.model_copy(update={"refine": config.refine.model_copy(update={
        "anonymize": config.refine.anonymize.model_copy(update={"faces": False, "plates": False}),
        "resize": config.refine.resize.model_copy(update={"long_side": 640})})})
    raw = LocalStorage(tmp_path / "raw")
    with records.cursor() as cur:
        cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES ('c1', 'collect', 'r')")
        for name, (make, _) in CASES.items():
            data = make()
            sha = hashlib.sha256(data).hexdigest()
            uri = raw.write_bytes(f"object/{sha}.jpg", data)
            cur.execute("INSERT INTO images (sha256, size_bytes, source_uri, original_name, class_name, batch_id, "
                        "status, location) VALUES (%s, %s, %s, %s, 'object', 'c1', 'raw', %s)",
                        (sha, len(data), f"drop/{name}", name, uri))
    records.commit()
    return config, raw, tmp_path


def test_one_batch_end_to_end_and_rerun_changes_nothing(records, refine_world):
    config, raw, root = refine_world
    warehouse, quarantine = LocalStorage(root / "warehouse"), LocalStorage(root / "quarantine")
    reader = SourceReader([raw])
    # Three batches of four: the re-compressed copy (5th image) meets its original (1st) across batches.
    batches = plan_batches(records, config, "run1", batch_size=4)
    assert len(batches) == 3
    summaries = [refine_batch(records, config, b, run_id="run1", reader=reader, warehouse=warehouse,
                                     quarantine=quarantine, docs_dir=root / "docs") for b in batches]
    with records.cursor() as cur:
        rows = {r["original_name"]: r for r in db.fetch_dicts(cur, "SELECT * FROM images")}
    for name, (_, reasons) in CASES.items():
        r = rows[name]
        assert r["reason_codes"] == reasons, (name, r["reason_codes"])
        if reasons:
            assert r["status"] == "rejected"
            assert Path(r["location"].removeprefix("file://")).is_file()
            assert f"/refine/{reasons[0]}/" in r["location"]
        else:
            assert r["status"] == "refined"
            assert r["dataset_name"].startswith("TS_object_20260314_")
            with Image.open(r["location"].removeprefix("file://")) as im:
                assert max(im.size) == 640 and 0x8825 not in im.getexif()
    assert rows["recompressed.jpg"]["duplicate_of"] == rows["sharp.jpg"]["image_id"]
    with Image.open(rows["rotated.jpg"]["location"].removeprefix("file://")) as im:
        assert im.size == (640, 498), "upright: landscape again"
    assert sum(x.images for x in summaries) == len(CASES) and sum(x.passed for x in summaries) == 3
    assert summaries[0].line().startswith("batch 1/3: 4 images, 3 passed; blurry 1;")
    assert summaries[1].line().startswith("batch 2/3: 4 images, 0 passed; ")
    assert "near_duplicate 1" in summaries[1].line()
    assert (root / "docs" / "index.html").is_file()

    with records.cursor() as cur:
        cur.execute("SELECT count(*) FROM quarantine WHERE stage = 'refine'")
        assert cur.fetchone()[0] == sum(len(r) for _, r in CASES.values())
        cur.execute("SELECT check_name, count(*) FROM check_results GROUP BY 1 ORDER BY 1")
        checks = dict(cur.fetchall())
    assert checks["exif"] == checks["sharpness"] == len(CASES) and checks["anonymize"] == 3

    def snapshot():
        with records.cursor() as cur:
            cur.execute("SELECT image_id, status, location, reason_codes, dataset_name FROM images ORDER BY 1")
            images = cur.fetchall()
            cur.execute("SELECT * FROM name_sequences")
            seqs = cur.fetchall()
        files = sorted((str(p), p.stat().st_mtime_ns) for p in root.rglob("*.jpg"))
        return images, seqs, files

    before = snapshot()
    again = plan_batches(records, config, "run1", batch_size=4)
    assert again == []
    for b in batches:
        refine_batch(records, config, b, run_id="run1", reader=reader, warehouse=warehouse,
                            quarantine=quarantine)
    assert snapshot() == before


def test_missing_raw_file_is_rejected_not_a_crash(records, refine_world):
    config, raw, root = refine_world
    with records.cursor() as cur:
        cur.execute("SELECT image_id, location FROM images WHERE original_name = 'other.jpg'")
        image_id, location = cur.fetchone()
    Path(location.removeprefix("file://")).unlink()
    reader = SourceReader([raw])
    [batch_id] = plan_batches(records, config, "run2", batch_size=100)
    refine_batch(records, config, batch_id, run_id="run2", reader=reader,
                        warehouse=LocalStorage(root / "warehouse"), quarantine=LocalStorage(root / "quarantine"))
    with records.cursor() as cur:
        cur.execute("SELECT status, reason_codes FROM images WHERE image_id = %s", (image_id,))
        status, reasons = cur.fetchone()
    assert status == "rejected" and "corrupt" in reasons
