"""Issue 14 item 1: a photo dropped again after it was refined is an exact duplicate, never a leak.

On the old code collect cut the warehouse location with the quarantine's URI length, moved the re-dropped raw
photo (faces unmasked, GPS in EXIF) into a misnamed folder and wrote no quarantine row."""

from __future__ import annotations

import hashlib
from pathlib import Path

from trainset import db
from trainset.config import get_config
from trainset_dev.demo.dropzone import build_drop_zone


def _tree(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file() and ".gx_stores" not in p.parts}


def test_redrop_after_refine_is_an_exact_duplicate(project_env, run_dag):
    drop = project_env.data_root / "drop_zone"
    demo = build_drop_zone(drop)
    run_dag("collect")
    run_dag("refine")
    config = get_config()
    warehouse = Path(config.storage.warehouse.removeprefix("file://"))
    raw = Path(config.storage.raw.removeprefix("file://"))
    quarantine_root = config.storage.quarantine
    conn = project_env.records
    with conn.cursor() as cur:
        first = db.fetch_dicts(cur, "SELECT * FROM images ORDER BY image_id")
    assert any(r["status"] == "refined" for r in first)
    warehouse_before, raw_before = _tree(warehouse), _tree(raw)

    build_drop_zone(drop)  # the same files, at the same paths, again
    run_dag("collect")

    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, "SELECT * FROM images ORDER BY image_id")
        quarantine = {int(r["entity_key"]): r for r in db.fetch_dicts(
            cur, "SELECT * FROM quarantine WHERE stage = 'collect' AND reason_code = 'exact_duplicate'")}
    by_id = {r["image_id"]: r for r in rows}
    assert rows[:len(first)] == first or all(
        {k: v for k, v in a.items() if k != "updated_at"} == {k: v for k, v in b.items() if k != "updated_at"}
        for a, b in zip(rows, first, strict=False)), "the first arrivals' rows are untouched"
    redrops = rows[len(first):]
    assert len(redrops) == len(demo), "every re-dropped file is registered once, as a new arrival"
    for r in redrops:
        assert r["status"] == "duplicate" and r["reason_codes"] == ["exact_duplicate"] and r["arrival"] == 1, r
        root = by_id[r["duplicate_of"]]
        assert root["sha256"] == r["sha256"] and root["status"] != "duplicate"
        q = quarantine[r["image_id"]]
        expected = f"{quarantine_root}/collect/exact_duplicate/{r['image_id']}_{r['original_name']}"
        assert r["location"] == q["location"] == expected, (r["location"], q["location"])
        assert Path(expected.removeprefix("file://")).is_file()
    assert not (drop.exists() and any(p.is_file() for p in drop.rglob("*"))), "drop zone drained"
    # Nothing was written next to or over the warehouse objects or the raw originals.
    assert _tree(warehouse) == warehouse_before
    assert _tree(raw) == raw_before
    # Nothing landed anywhere in the quarantine except under its reason folders with an id prefix.
    qroot = Path(quarantine_root.removeprefix("file://"))
    for p in (qroot / "collect").rglob("*"):
        if p.is_file():
            assert p.parent.parent == qroot / "collect" and p.name.split("_", 1)[0].isdigit(), p

    # A third collect with nothing dropped changes nothing.
    run_dag("collect")
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM images")
        assert cur.fetchone()[0] == len(rows)
