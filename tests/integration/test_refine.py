"""refine through dag.test() on the demo drop zone (after collect), against real PostgreSQL and the real models."""

from __future__ import annotations

import io
import re
import string
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from trainset import db
from trainset.config import DEFAULT_CONFIG_PATH, load_config
from trainset_dev.demo.dropzone import build_drop_zone

LONG_SIDE = 400  # smaller than the demo photos (512 px), so every output is really resized


def _snapshot(conn, warehouse: Path, quarantine: Path) -> dict:
    with conn.cursor() as cur:
        out = {}
        for sql in ("SELECT image_id, status, location, reason_codes, dataset_name FROM images ORDER BY 1",
                    "SELECT entity_key, reason_code, location FROM quarantine ORDER BY 1, 2",
                    "SELECT image_id, check_name, value_num, passed, reason_code FROM check_results ORDER BY 1, 2",
                    "SELECT image_id, kind, x, y, w, h FROM detections ORDER BY 1, 2, 3, 4",
                    "SELECT scope, last_value FROM name_sequences ORDER BY 1",
                    "SELECT image_id, phash FROM image_phash ORDER BY 1"):
            cur.execute(sql)
            out[sql] = cur.fetchall()
    for root in (warehouse, quarantine):
        out[str(root)] = sorted((str(p.relative_to(root)), p.stat().st_mtime_ns) for p in root.rglob("*")
                                if p.is_file() and ".gx_stores" not in p.parts)
    return out


@pytest.fixture
def refine_config(project_env, monkeypatch):
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data.setdefault("refine", {}).setdefault("resize", {})["long_side"] = LONG_SIDE
    path = project_env.tmp_path / "project.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("TRAINSET_CONFIG", str(path))
    return load_config(path)


def test_refine_demo(project_env, refine_config, run_dag):
    config = refine_config
    build_drop_zone(project_env.data_root / "drop_zone")
    run_dag("collect")
    run = run_dag("refine")
    conn = project_env.records
    with conn.cursor() as cur:
        rows = {r["original_name"]: r for r in db.fetch_dicts(cur, "SELECT * FROM images")}
        cur.execute("SELECT count(*) FROM images WHERE status = 'raw'")
        assert cur.fetchone()[0] == 0, "every raw image was refined or rejected"

    warehouse = Path(config.storage.warehouse.removeprefix("file://"))
    quarantine = Path(config.storage.quarantine.removeprefix("file://"))
    # Names follow the rule; files are where the DB says, resized, re-encoded JPEG.
    pattern = config.naming.pattern
    regex = "".join(re.escape(lit) + ({"seq": r"\d{6}", "yyyymmdd": r"\d{8}"}.get(name, r"[A-Za-z0-9_]+")
                                      if name else "")
                    for lit, name, _, _ in string.Formatter().parse(pattern))
    refined = [r for r in rows.values() if r["status"] == "refined"]
    with conn.cursor() as cur:
        cur.execute("SELECT image_id, greatest(width, height) FROM refine_measurements")
        source_long = dict(cur.fetchall())
    assert len(refined) >= 20
    for r in refined:
        assert re.fullmatch(regex, r["dataset_name"]), r["dataset_name"]
        assert r["dataset_name"].startswith(f"{config.project.code}_{r['class_name']}_20260314_")
        path = warehouse / r["class_name"] / r["dataset_name"]
        assert r["location"] == "file://" + str(path) and path.is_file()
        with Image.open(path) as im:
            expected = min(LONG_SIDE, source_long[r["image_id"]])  # never upscaled
            assert im.format == "JPEG" and max(im.size) == expected, (r["original_name"], im.size)
            assert 0x8825 not in im.getexif(), "no GPS in any output"
    assert len({r["dataset_name"] for r in refined}) == len(refined)

    # Blurred and near-duplicate shots rejected with reasons, copied to quarantine.
    blurred, reencoded = rows["chelsea_blurred.jpg"], rows["rocket_reencoded.jpg"]
    assert blurred["status"] == "rejected" and "blurry" in blurred["reason_codes"]
    assert reencoded["status"] == "rejected" and reencoded["reason_codes"] == ["near_duplicate"]
    assert reencoded["duplicate_of"] == rows["rocket.jpg"]["image_id"]
    for r in (blurred, reencoded):
        assert Path(r["location"].removeprefix("file://")).is_file()
        assert f"/refine/{r['reason_codes'][0]}/" in r["location"]
    with conn.cursor() as cur:
        cur.execute("SELECT reason_code FROM quarantine WHERE entity_key = %s AND stage = 'refine'",
                    (str(reencoded["image_id"]),))
        assert [x[0] for x in cur.fetchall()] == ["near_duplicate"]
        cur.execute("SELECT check_name, passed FROM check_results WHERE image_id = %s", (blurred["image_id"],))
        checks = dict(cur.fetchall())
        assert checks["sharpness"] is False and checks["spec"] is True and checks["exif"] is True

    # The illustrations among the object photos: features stored, flagged domain_outlier for review (mode flag;
    # the silhouette and the white logo also fail light/low_information, which reject them on their own).
    with conn.cursor() as cur:
        cur.execute("""SELECT i.original_name, c.passed, i.status, i.reason_codes FROM check_results c
                       JOIN images i USING (image_id) WHERE c.check_name = 'domain_outlier'""")
        got = cur.fetchall()
        domain = {n: ok for n, ok, _, _ in got}
        assert all("domain_outlier" not in codes for *_, codes in got)
        cur.execute("SELECT count(*) FROM refine_measurements m JOIN images i USING (image_id) "
                    "JOIN image_features f ON f.sha256 = i.sha256 WHERE m.decode_error IS NULL")
        with_features = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM refine_measurements WHERE decode_error IS NULL")
        assert with_features == cur.fetchone()[0]
    flagged = {n for n, ok in domain.items() if ok is False}
    assert flagged == {"skimage_logo.png", "horse_silhouette.png", "matplotlib_logo.png"}, flagged
    assert {n for n, _, status, _ in got if status == "refined"} == {r["original_name"] for r in refined}

    # The rotated photo comes out upright (same as the un-rotated crop it was made from).
    rotated = rows["astronaut_rotated.jpg"]
    assert rotated["status"] == "refined"
    with Image.open(rotated["location"].removeprefix("file://")) as im:
        out = np.asarray(im.convert("L").resize((112, 112)), dtype=np.float32)
    from trainset_dev.demo.dropzone import build_files

    src = dict((f.key, data) for f, data in build_files())["person/astronaut.jpg"]
    ref = Image.open(io.BytesIO(src)).crop((64, 0, 512, 448)).convert("L").resize((112, 112))
    assert np.abs(out - np.asarray(ref, dtype=np.float32)).mean() < 12

    # Faces were found and masked: a second detector pass over the outputs finds none above the threshold.
    from trainset.refine.deid import Detectors

    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM detections WHERE kind = 'face' AND masked")
        assert cur.fetchone()[0] >= 5
    second = Detectors(config.refine.anonymize.model_copy(update={"plates": False}))
    for r in refined:
        if r["class_name"] == "person":
            with Image.open(r["location"].removeprefix("file://")) as im:
                assert second.detect(np.asarray(im.convert("RGB"))) == [], r["original_name"]

    # GX Data Docs were built.
    docs = Path(config.storage.reports.removeprefix("file://")) / "data_docs" / "index.html"
    assert docs.is_file()

    assert run.get_task_instance("publish_source_images").state == "success"
    from trainset_dev.demo.refine import demo_summary

    lines = demo_summary(conn)
    assert lines[0].startswith("refine (정제): warehouse (all time) ") and f"person {sum(r['class_name'] == 'person' for r in refined)}" in lines[0]
    assert any("blurry" in line and "near_duplicate" in line for line in lines)

    # A re-run changes nothing.
    before = _snapshot(conn, warehouse, quarantine)
    run_dag("refine")
    assert _snapshot(conn, warehouse, quarantine) == before
