"""Registration and duplicate logic of the collect stage, against a real PostgreSQL records DB (no Airflow)."""

from __future__ import annotations

import io
import os

from PIL import Image
from trainset import db
from trainset.collect import run_collect
from trainset.config import load_config
from trainset.storage import LocalStorage


def jpeg(color, size=(320, 260)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


def setup_roots(tmp_path):
    roots = {name: LocalStorage(tmp_path / name) for name in ("drop", "raw", "quarantine")}
    return roots["drop"], roots["raw"], roots["quarantine"]


def collect(conn, tmp_path, run_id="manual__1", **kwargs):
    drop, raw, quarantine = setup_roots(tmp_path)
    return run_collect(conn=conn, config=load_config(), drop_zone=drop, raw=raw, quarantine=quarantine,
                       run_id=run_id, **kwargs)


def rows(conn):
    with conn.cursor() as cur:
        return db.fetch_dicts(cur, "SELECT * FROM images ORDER BY original_name")


def test_registers_and_moves_accepted_files(records, tmp_path):
    drop, raw, _ = setup_roots(tmp_path)
    drop.write_bytes("person/a.jpg", jpeg("red"))
    drop.write_bytes("animal/b.jpg", jpeg("blue"))
    summary = collect(records, tmp_path)
    assert (summary.registered, summary.accepted, summary.duplicates) == (2, 2, 0)
    got = rows(records)
    assert [(r["original_name"], r["class_name"], r["status"], r["format"]) for r in got] == [
        ("a.jpg", "person", "raw", "jpeg"), ("b.jpg", "animal", "raw", "jpeg")]
    for r in got:
        key = r["location"][len(raw.uri) + 1:]
        assert raw.exists(key) and key.startswith(f"{r['class_name']}/{r['sha256'][:2]}/")
    assert list(drop.list()) == []


def test_exact_duplicates_within_a_batch_and_against_earlier_batches(records, tmp_path):
    drop, _, quarantine = setup_roots(tmp_path)
    same = jpeg("green")
    drop.write_bytes("person/first.jpg", same)
    drop.write_bytes("person/second.jpg", same)
    collect(records, tmp_path, run_id="r1")
    drop.write_bytes("vehicle/later.jpg", same)
    summary = collect(records, tmp_path, run_id="r2")
    assert summary.duplicates == 1
    by_name = {r["original_name"]: r for r in rows(records)}
    original = by_name["first.jpg"]
    assert original["status"] == "raw" and original["duplicate_of"] is None
    for name in ("second.jpg", "later.jpg"):
        assert by_name[name]["status"] == "duplicate"
        assert by_name[name]["duplicate_of"] == original["image_id"]
        assert by_name[name]["reason_codes"] == ["exact_duplicate"]
        assert quarantine.exists(by_name[name]["location"][len(quarantine.uri) + 1:])


def test_quarantine_reasons_are_recorded_and_nothing_is_lost(records, tmp_path):
    drop, _, quarantine = setup_roots(tmp_path)
    drop.write_bytes("person/empty.jpg", b"")
    drop.write_bytes("person/notes.jpg", b"not an image at all")
    drop.write_bytes("furniture/chair.jpg", jpeg("white"))
    drop.write_bytes("loose.jpg", jpeg("black"))
    good = jpeg("yellow")
    drop.write_bytes("person/cut.jpg", good[: len(good) // 2])
    summary = collect(records, tmp_path)
    assert dict(summary.quarantined) == {"zero_byte": 1, "unknown_format": 1, "unknown_class": 1,
                                         "unknown_layout": 1, "truncated": 1}
    with records.cursor() as cur:
        q = db.fetch_dicts(cur, "SELECT reason_code, location FROM quarantine ORDER BY reason_code")
    assert len(q) == 5
    for row in q:
        assert quarantine.exists(row["location"][len(quarantine.uri) + 1:])
    assert list(drop.list()) == []


def test_sidecar_manifest_assigns_classes(records, tmp_path):
    drop, _, _ = setup_roots(tmp_path)
    drop.write_bytes("x1.jpg", jpeg("red"))
    drop.write_bytes("x2.jpg", jpeg("blue"))
    drop.write_bytes("manifest.csv", b"file,class\nx1.jpg,food\nx2.jpg,spaceship\n")
    collect(records, tmp_path)
    by_name = {r["original_name"]: r for r in rows(records)}
    assert by_name["x1.jpg"]["class_name"] == "food" and by_name["x1.jpg"]["status"] == "raw"
    assert by_name["x2.jpg"]["reason_codes"] == ["unknown_class"]


def test_unreadable_name_is_quarantined(records, tmp_path):
    drop, _, quarantine = setup_roots(tmp_path)
    folder = tmp_path / "drop" / "person"
    folder.mkdir(parents=True)
    with open(os.path.join(os.fsencode(folder), b"bad\xff\xfename.jpg"), "wb") as fh:
        fh.write(jpeg("red"))
    summary = collect(records, tmp_path)
    assert dict(summary.quarantined) == {"unreadable_name": 1}
    (row,) = rows(records)
    assert "\\xff\\xfe" in row["original_name"]
    assert quarantine.exists(row["location"][len(quarantine.uri) + 1:])


def test_rerun_after_crash_between_register_and_move_finishes_the_move(records, tmp_path):
    drop, raw, _ = setup_roots(tmp_path)
    drop.write_bytes("person/a.jpg", jpeg("red"))
    summary = collect(records, tmp_path, run_id="r1", dry_run=True)
    assert summary.registered == 1 and rows(records) == []  # dry run wrote nothing
    collect(records, tmp_path, run_id="r1")
    # Simulate the crash: bytes put back in the drop zone although the row (and the raw copy) exist, and the
    # batch never reached its end (a finished batch would make this a re-drop: test_redrop_* below).
    drop.write_bytes("person/a.jpg", jpeg("red"))
    with records.cursor() as cur:
        cur.execute("UPDATE batches SET finished_at = NULL")
    records.commit()
    again = collect(records, tmp_path, run_id="r1")
    assert (again.registered, again.already_registered) == (0, 1)
    assert len(rows(records)) == 1 and list(drop.list()) == []
    with records.cursor() as cur:
        cur.execute("SELECT count(*) FROM batches")
        assert cur.fetchone()[0] == 1


def test_redrop_of_a_collected_file_is_an_exact_duplicate_with_its_own_row(records, tmp_path):
    drop, raw, quarantine = setup_roots(tmp_path)
    drop.write_bytes("person/a.jpg", jpeg("red"))
    collect(records, tmp_path, run_id="r1")
    raw_keys = [e.key for e in raw.list()]
    for n, run_id in enumerate(("r2", "r3"), start=1):
        drop.write_bytes("person/a.jpg", jpeg("red"))
        summary = collect(records, tmp_path, run_id=run_id)
        assert (summary.registered, summary.duplicates, summary.already_registered) == (1, 1, 0)
        all_rows = sorted(rows(records), key=lambda r: r["image_id"])
        redrop = all_rows[-1]
        assert len(all_rows) == n + 1 and redrop["status"] == "duplicate" and redrop["arrival"] == n
        assert redrop["duplicate_of"] == all_rows[0]["image_id"]
        assert redrop["location"] == quarantine.child_uri(f"collect/exact_duplicate/{redrop['image_id']}_a.jpg")
        assert quarantine.exists(f"collect/exact_duplicate/{redrop['image_id']}_a.jpg")
        with records.cursor() as cur:
            cur.execute("SELECT reason_code, location FROM quarantine WHERE entity_key = %s",
                        (str(redrop["image_id"]),))
            assert cur.fetchall() == [("exact_duplicate", redrop["location"])]
    assert [e.key for e in raw.list()] == raw_keys and list(drop.list()) == []


def test_drop_zone_layouts(records, tmp_path):
    """Issue 14 item 8: <class>/<file>, <batch>/<class>/<file> and manifest rows are accepted; a file at the top
    without a manifest, or too deep, is quarantined as unknown_layout (a batch folder is never read as a class)."""
    drop, _, _ = setup_roots(tmp_path)
    drop.write_bytes("person/a.jpg", jpeg("red"))
    drop.write_bytes("batch2/person/b.jpg", jpeg("blue"))
    drop.write_bytes("batch2/animal/c.jpg", jpeg("green"))
    drop.write_bytes("loose.jpg", jpeg("black"))
    drop.write_bytes("batch3/day1/person/d.jpg", jpeg("white"))
    collect(records, tmp_path)
    by_name = {r["original_name"]: r for r in rows(records)}
    assert {n: (r["status"], r["class_name"]) for n, r in by_name.items() if r["status"] == "raw"} == {
        "a.jpg": ("raw", "person"), "b.jpg": ("raw", "person"), "c.jpg": ("raw", "animal")}
    assert by_name["loose.jpg"]["reason_codes"] == ["unknown_layout"]
    assert by_name["d.jpg"]["reason_codes"] == ["unknown_layout"]
    with records.cursor() as cur:
        cur.execute("SELECT reason_code, detail FROM quarantine ORDER BY detail")
        details = cur.fetchall()
    assert [r for r, _ in details] == ["unknown_layout", "unknown_layout"]
    assert "3 folders deep" in details[0][1] and "no manifest" in details[1][1]


def test_batch_layout_under_a_source_prefix(records, tmp_path):
    drop, _, _ = setup_roots(tmp_path)
    drop.write_bytes("incoming/person/a.jpg", jpeg("red"))          # prefix/<class>/<file>
    drop.write_bytes("incoming/batch7/vehicle/b.jpg", jpeg("blue"))  # prefix/<batch>/<class>/<file>
    collect(records, tmp_path, prefix="incoming")
    assert {r["original_name"]: r["class_name"] for r in rows(records)} == {"a.jpg": "person", "b.jpg": "vehicle"}
    assert all(r["status"] == "raw" for r in rows(records))
