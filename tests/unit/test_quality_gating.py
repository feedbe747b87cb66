"""Gating on a real PostgreSQL: the GX suite labeler_quality judges the rolling accuracy; a labeler below target
is gated with one PM message per spell (outbox in ``notifications``), lifted when the score recovers; a window
with too few GT boxes is not judged."""

from __future__ import annotations

import datetime as dt
import json

from trainset.config import get_config
from trainset.quality.gating import judge_gating, send_pending_gating, update_gating

DAY = dt.date(2026, 3, 16)


def _day(conn, day, rows):
    with conn.cursor() as cur:
        for worker, accuracy, boxes in rows:
            cur.execute("""INSERT INTO quality_labeler_daily (work_date, worker_id, rolling_accuracy,
                               rolling_gt_boxes, judged_accuracy, conflicts) VALUES (%s, %s, %s, %s, %s, '{}')""",
                        (day, worker, accuracy, boxes, accuracy if boxes >= 10 else None))
    conn.commit()


def test_gate_once_lift_and_gate_again(records):
    config = get_config()
    with records.cursor() as cur:
        for w in ("bad", "good", "new"):
            cur.execute("INSERT INTO workers (worker_id, name, employment_start, daily_capacity) VALUES (%s, %s, %s, 5)",
                        (w, w.upper(), dt.date(2026, 1, 5)))
    sent = []

    def send(channel, text):
        sent.append((channel, text))

    def run(day, rows):
        _day(records, day, rows)
        result = update_gating(records, config, day, judge_gating(records, config, day), send)
        records.commit()
        return result

    first = run(DAY, [("bad", 0.5, 40), ("good", 0.95, 40), ("new", 0.1, 3)])
    assert first["gated"] == ["bad"] and first["messages_sent"] == ["bad"]
    assert len(sent) == 1 and sent[0][0] == config.slack.alerts and "BAD (bad)" in sent[0][1]
    # Still below the next day: still gated, no second message.
    second = run(DAY + dt.timedelta(days=1), [("bad", 0.6, 45), ("good", 0.9, 45), ("new", 0.1, 4)])
    assert second["gated"] == [] and len(sent) == 1
    # Recovered: lifted.
    third = run(DAY + dt.timedelta(days=2), [("bad", 0.9, 50)])
    assert third["lifted"] == ["bad"]
    with records.cursor() as cur:
        cur.execute("SELECT worker_id, gated, lifted_on FROM quality_gating ORDER BY 1")
        assert cur.fetchall() == [("bad", False, DAY + dt.timedelta(days=2))]  # 'new' was never judged
    # Below again: a new spell, a new message.
    fourth = run(DAY + dt.timedelta(days=3), [("bad", 0.7, 50)])
    assert fourth["gated"] == ["bad"] and len(sent) == 2
    with records.cursor() as cur:
        cur.execute("SELECT dedupe_key, status, payload FROM notifications ORDER BY notification_id")
        rows = cur.fetchall()
    assert [(k, s) for k, s, _ in rows] == [("quality:gated:bad:2026-03-16", "sent"),
                                            ("quality:gated:bad:2026-03-19", "sent")]
    assert (rows[0][2] if isinstance(rows[0][2], dict) else json.loads(rows[0][2]))["worker_id"] == "bad"
    assert send_pending_gating(records, send) == [] and len(sent) == 2


def test_slack_outage_keeps_the_message_pending(records):
    config = get_config()
    with records.cursor() as cur:
        cur.execute("INSERT INTO workers (worker_id, name, employment_start, daily_capacity) VALUES ('bad', 'B', %s, 5)",
                    (dt.date(2026, 1, 5),))
    _day(records, DAY, [("bad", 0.2, 30)])
    update_gating(records, config, DAY, judge_gating(records, config, DAY), None)
    records.commit()

    def down(channel, text):
        raise ConnectionError("slack down")

    try:
        send_pending_gating(records, down)
    except ConnectionError:
        pass
    with records.cursor() as cur:
        cur.execute("SELECT status, attempts FROM notifications")
        assert cur.fetchall() == [("failed", 1)]
    got = []
    assert send_pending_gating(records, lambda c, t: got.append(t)) == ["bad"] and len(got) == 1


def test_cli_marks_gt_from_passed_items_and_reference_labels(records, records_dsn, tmp_path, capsys):
    from trainset.annotate.model import CaptureMeta, LabelItem, LabelObject, to_project_json
    from trainset.cli import main

    with records.cursor() as cur:
        cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES ('b', 'refine', 't')")
        for n in (1, 2):
            cur.execute("""INSERT INTO images (sha256, size_bytes, format, width, height, source_uri, original_name,
                               class_name, batch_id, status, stage, location, dataset_name)
                           VALUES (%s, 1, 'jpeg', 100, 80, %s, 'p.jpg', 'vehicle', 'b', 'refined', 'refine', %s, %s)""",
                        (f"{n:064d}", f"file:///x/{n}.jpg", f"file:///w/{n}.jpg", f"TS_vehicle_{n}.jpg"))
    item = LabelItem(item_key="TS_vehicle_1", source_format="aihub", source_uri="x", label_stem="TS_vehicle_1",
                     width=100, height=80, class_name="vehicle", capture=CaptureMeta(date="2026-03-01"),
                     id_scope="x", objects=[LabelObject(id="1", category="vehicle", bbox=[1, 1, 20, 20])])
    with records.cursor() as cur:
        cur.execute("""INSERT INTO annotations (image_id, item_key, worker_id, work_date, source_uri, sha256,
                           source_format, status, payload) VALUES (1, 'TS_vehicle_1', NULL, %s, 'x', 'abc', 'aihub',
                           'passed', %s)""", (DAY, item.model_dump_json()))
    records.commit()
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "TS_vehicle_2.json").write_text(json.dumps(to_project_json(item.model_copy(
        update={"item_key": "TS_vehicle_2"}), image_file_name="TS_vehicle_2.jpg")))
    assert main(["quality", "gt", "--items", "TS_vehicle_1", "--labels", str(ref), "--dsn", records_dsn]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"kind": "gt", "marked_from_passed": 1,
                                                                   "reference_added": 1}
    with records.cursor() as cur:
        cur.execute("SELECT item_key, source FROM quality_gt_items ORDER BY 1")
        assert cur.fetchall() == [("TS_vehicle_1", "passed_annotation"), ("TS_vehicle_2", "reference")]
