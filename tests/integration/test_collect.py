"""collect through dag.test() against real PostgreSQL: the demo drop zone, then the real-world corpus."""

from __future__ import annotations

import resource
import shutil
from collections import Counter
from pathlib import Path

import pytest
from trainset import db
from trainset_dev.demo.dropzone import build_drop_zone


def _images(conn) -> list[dict]:
    with conn.cursor() as cur:
        return db.fetch_dicts(cur, "SELECT * FROM images ORDER BY image_id")


def _table_counts(conn) -> dict[str, int]:
    with conn.cursor() as cur:
        out = {}
        for table in ("images", "quarantine", "batches"):
            cur.execute(f"SELECT count(*) FROM {table}")
            out[table] = cur.fetchone()[0]
        return out


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_collect_demo_drop_zone(project_env, run_dag):
    drop = project_env.data_root / "drop_zone"
    demo = build_drop_zone(drop)
    run = run_dag("collect")

    rows = _images(project_env.records)
    assert len(rows) == len(demo), "every file is registered exactly once"
    by_name = {(r["class_name"], r["original_name"]): r for r in rows}
    for f in demo:
        cls, name = f.key.split("/")
        row = by_name[(cls, name)]
        if f.expected == "raw":
            assert row["status"] == "raw", (f.key, row["reason_codes"])
        elif f.expected == "duplicate":
            assert row["status"] == "duplicate" and row["duplicate_of"] is not None
            original = next(r for r in rows if r["image_id"] == row["duplicate_of"])
            assert original["sha256"] == row["sha256"] and original["status"] == "raw"
        else:
            reason = f.expected.split(":")[1]
            assert row["status"] == "quarantined" and row["reason_codes"] == [reason], (f.key, row)
    png_as_jpg = by_name[("object", "clock_really_png.jpg")]
    assert png_as_jpg["format"] == "png" and "extension_mismatch" in png_as_jpg["warnings"]

    # Bytes moved out of the drop zone to where the DB says they are.
    assert _files(drop) == []
    for row in rows:
        assert Path(row["location"].removeprefix("file://")).is_file(), row
    with project_env.records.cursor() as cur:
        cur.execute("SELECT count(*) FROM quarantine")
        assert cur.fetchone()[0] == sum(1 for f in demo if f.expected != "raw")

    # The Asset event carries the counts and the batch id.
    ti = run.get_task_instance("collect_drop_zone")
    assert ti.state == "success"

    # Same demo dropped again: each file is a new arrival, an exact duplicate (issue 14), the raw area untouched.
    before = _table_counts(project_env.records)
    raw_files = {p: p.read_bytes() for p in _files(project_env.data_root / "raw")}
    build_drop_zone(drop)
    run_dag("collect")
    after = _table_counts(project_env.records)
    assert after["images"] == before["images"] + len(demo)
    assert after["quarantine"] == before["quarantine"] + len(demo)
    assert {p: p.read_bytes() for p in _files(project_env.data_root / "raw")} == raw_files
    assert _files(drop) == []
    # A run with nothing dropped changes nothing.
    run_dag("collect")
    assert _table_counts(project_env.records)["images"] == after["images"]


def test_collect_dry_run_changes_nothing(project_env, run_dag):
    drop = project_env.data_root / "drop_zone"
    build_drop_zone(drop)
    files_before = _files(drop)
    events_before = len(_raw_images_events())
    run = run_dag("collect", conf={"dry_run": True})
    assert _table_counts(project_env.records)["images"] == 0
    assert _files(drop) == files_before
    # Dry means dry: no raw_images event (it would start refine) and the log says what it WOULD do.
    assert len(_raw_images_events()) == events_before
    counts = run.get_task_instance("collect_drop_zone").xcom_pull(task_ids="collect_drop_zone")
    assert counts["dry_run"] is True and counts["registered"] == len(files_before)
    # A real run afterwards does emit the event.
    run_dag("collect")
    assert len(_raw_images_events()) == events_before + 1


def _raw_images_events() -> list:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.execute(select(AssetEvent.id).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                               .where(AssetModel.name == "trainset://raw_images")).all()


def test_dry_run_line_says_what_it_would_do():
    from trainset.collect import CollectSummary

    summary = CollectSummary(batch_id="collect__manual__x", seen=51, registered=51, accepted=45, duplicates=2,
                             dry_run=True)
    summary.quarantined.update({"truncated": 1, "zero_byte": 3})
    line = summary.line()
    assert line.startswith("DRY RUN: ") and "would register 51" in line and "would accept 45" in line
    assert " registered 51" not in line.replace("would register 51", "")


def test_failure_alert_reaches_slack(project_env, run_dag, monkeypatch):
    # A drop zone whose manifest lacks the required columns makes the task fail: the alert must arrive.
    drop = project_env.data_root / "drop_zone"
    drop.mkdir(parents=True)
    (drop / "manifest.csv").write_text("name,label\nx.jpg,person\n", encoding="utf-8")
    run = run_dag("collect", expect="failed")
    messages = project_env.slack.messages("/services/")
    assert len(messages) == 1, [m.body for m in messages]
    text = messages[0].text
    assert "*DAG*: collect" in text and "*Task*: collect_drop_zone" in text
    assert f"*Run*: {run.run_id}" in text and "*Try*: 1" in text and "*Log*: http" in text


@pytest.mark.corpus
def test_collect_real_world_corpus(project_env, run_dag, corpus):
    """Every file of edge_cases/ and pillow/ ends registered or quarantined with a reason, none lost or counted
    twice, bombs rejected without blowing memory, and a second run changes nothing."""
    drop = project_env.data_root / "drop_zone"
    sources = [p for sub in ("edge_cases", "pillow") for p in (corpus / sub).rglob("*")
               if p.is_file() and p.name not in ("MANIFEST.tsv", "SHA256SUMS")]
    for i, src in enumerate(sources):
        # Each corpus file goes under a class folder; keep its (possibly odd) name, made unique by index.
        target = drop / "object" / f"{i:04d}_{src.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    run_dag("collect")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mib < 1024, f"peak RSS {peak_mib:.0f} MiB"

    rows = _images(project_env.records)
    assert len(rows) == len(sources)
    assert len({r["source_uri"] for r in rows}) == len(sources)
    for r in rows:
        assert r["status"] in ("raw", "duplicate", "quarantined"), r
        if r["status"] != "raw":
            assert r["reason_codes"], r
    reasons = Counter(r["reason_codes"][0] for r in rows if r["reason_codes"])
    assert reasons["decompression_bomb"] >= 2, reasons
    assert reasons["truncated"] + reasons["corrupt"] >= 5, reasons
    # What the corpus manifest says MUST be rejected is rejected; what it says loads is accepted.
    by_source = {r["original_name"].split("_", 1)[1]: r for r in rows}
    must_reject = {
        "giant-image.jpg": "decompression_bomb", "16384x16384.png": "decompression_bomb",
        "16383x16383.png": "decompression_bomb", "9643x10328.jpg": "decompression_bomb",
        "truncated.jpg": "truncated", "truncated.png": "truncated", "image_invalid.jpg": "unknown_format",
    }
    for name, reason in must_reject.items():
        assert by_source[name]["reason_codes"] == [reason], (name, by_source[name]["reason_codes"])
    for name in ("corrupt-header.jpg", "image-size_invalid_sample.png", "image-png_x_ihdr_missing.png",
                 "image-png_x_issue#214.png", "image-png_x_issue#230.0.png", "image-png_x_consecutive_idat.png",
                 "image-png_x_image-issue#1075.png", "monkey12.jpg"):
        assert by_source[name]["status"] == "quarantined", (name, by_source[name])
    for name in ("png-masquerading-as-jpg.jpg", "file-webp-masquerading-as-png.png", "image", "maracujá.jpg",
                 "image%20space.jpg", "2569067123_aca715a2ee_o.jpg", "testorig.jpg"):
        assert by_source[name]["status"] in ("raw", "duplicate"), (name, by_source[name])
    assert by_source["png-masquerading-as-jpg.jpg"]["format"] == "png"
    assert by_source["file-webp-masquerading-as-png.png"]["format"] == "webp"

    assert _files(drop) == []
    before = _table_counts(project_env.records)
    run_dag("collect")
    assert _table_counts(project_env.records)["images"] == before["images"]


def test_collect_from_an_s3_prefix(project_env, run_dag, monkeypatch):
    """The drop zone on S3 (moto's server on loopback, reached through the aws_default connection)."""
    from trainset_dev.demo.dropzone import build_files

    client = project_env.s3.client()
    client.create_bucket(Bucket="drop-zone-test")
    demo = [(f, data) for f, data in build_files() if f.key.startswith(("food/", "furniture/"))]
    for f, data in demo:
        client.put_object(Bucket="drop-zone-test", Key=f"incoming/2026-03-14/{f.key}", Body=data)
    client.put_object(Bucket="drop-zone-test", Key="elsewhere/person/x.jpg", Body=demo[0][1])
    monkeypatch.setenv("TRAINSET_DROP_ZONE", "s3://drop-zone-test/incoming")

    run_dag("collect", conf={"source_prefix": "2026-03-14"})
    rows = _images(project_env.records)
    assert len(rows) == len(demo)
    assert all(r["source_uri"].startswith("s3://drop-zone-test/incoming/2026-03-14/") for r in rows)
    statuses = Counter(r["status"] for r in rows)
    expected = Counter("quarantined" if f.expected.startswith("quarantine") else f.expected for f, _ in demo)
    assert statuses == expected
    left = client.list_objects_v2(Bucket="drop-zone-test").get("Contents", [])
    assert [o["Key"] for o in left] == ["elsewhere/person/x.jpg"], "only the scanned prefix was drained"
    for r in rows:
        assert Path(r["location"].removeprefix("file://")).is_file()
