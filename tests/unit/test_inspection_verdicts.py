"""Verdicts back from the server (S3 protocol server + PostgreSQL) and rework notices (a real Slack HTTP endpoint)."""

from __future__ import annotations

import json
import uuid

import pytest
from trainset.config import load_config
from trainset.inspection.rework import notify_rework, send_pending
from trainset.inspection.server import InspectionServer
from trainset.inspection.transfer import transfer_passed
from trainset.inspection.verdicts import ingest_verdicts
from trainset.outbox import slack_client_sender
from trainset.storage import LocalStorage, open_storage
from trainset_dev.seeds.inspection import seed_passed_items

SPECS = [("TS_person_20260314_000001", "person", "w1"), ("TS_animal_20260314_000002", "animal", "w1"),
         ("TS_food_20260314_000003", "food", "w2"), ("TS_vehicle_20260314_000004", "vehicle", "w2"),
         ("TS_object_20260314_000005", "object", "w3")]
K = [s[0] for s in SPECS]


@pytest.fixture
def config():
    base = load_config()
    return base.model_copy(update={"inspection": base.inspection.model_copy(
        update={"retry_base_delay_s": 0.0, "notice_retry_delay_s": 0.0})})


@pytest.fixture
def on_server(records, tmp_path, config, s3_server):
    """Five items sent to a fresh bucket; labelers w1 (Slack U0W1), w2 (no Slack id), w3 (Slack U0W3)."""
    client = s3_server.client()
    seed_passed_items(records, tmp_path, SPECS, workers={"w1": "U0W1", "w2": None, "w3": "U0W3"})
    server = InspectionServer(f"s3://insp-{uuid.uuid4().hex[:10]}/incoming", client, config.inspection)
    transfer_passed(records, config, server, batch_id="b1")
    verdicts = open_storage(f"{server.uri}/{config.inspection.verdict_prefix}", client)
    return verdicts, LocalStorage(tmp_path / "quarantine")


CSV_DAY1 = (
    "item_key,verdict,reason_category,reason_code,comment,inspector\n"
    f"{K[0]},fail,annotation,box_loose,박스가 너무 큼,insp_kim\n"
    f"{K[1]},fail,annotation,wrong_class;attribute_wrong,class is dog not cat,insp_kim\n"
    f"{K[2]},fail,annotation,box_missing,사람 한 명 누락,insp_lee\n"
    f"{K[3]},fail,image,blurred,,insp_lee\n"
    f"{K[4]},pass,,,,insp_lee\n"
    "TS_ghost_20260314_000099,pass,,,,insp_lee\n"
    f"{K[4]},maybe,,,,insp_lee\n"
    f"{K[3]},fail,paperwork,,,insp_lee\n"
    f"{K[2]},fail,annotation,not_a_code,,insp_lee\n"
).encode() + f"{K[1]},fail,annotation,box_loose,caf\xe9 latin-1,insp_park\n".encode("latin-1")


def _rows(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def test_malformed_rows_are_rejected_with_reasons_and_good_rows_recorded_and_routed(records, config, on_server):
    verdicts, quarantine = on_server
    verdicts.write_bytes("2026-03-15.csv", CSV_DAY1)
    verdicts.write_bytes("2026-03-16.json", b'{"verdicts": [{"item": "x", "verdict": "pass"}')  # truncated JSON
    result = ingest_verdicts(records, config, verdicts, batch_id="v1", quarantine=quarantine)
    assert result.recorded == 5 and result.passed == 1
    assert result.failed_by_category == {"annotation": 3, "image": 1}
    assert result.rejected_by_reason == {"verdict_unknown_item": 1, "verdict_unknown_value": 1,
                                         "verdict_unknown_category": 1, "verdict_unknown_reason_code": 1,
                                         "verdict_bad_encoding": 1, "verdict_bad_json": 1}
    assert _rows(records, "SELECT item_key, verdict, reason_category, reason_codes FROM inspections "
                          "WHERE round = 'server' ORDER BY item_key") == sorted([
        (K[0], "fail", "annotation", ["box_loose"]), (K[1], "fail", "annotation", ["wrong_class", "attribute_wrong"]),
        (K[2], "fail", "annotation", ["box_missing"]), (K[3], "fail", "image", ["blurred"]),
        (K[4], "pass", None, [])])
    q = _rows(records, "SELECT entity_key, reason_code, location FROM quarantine WHERE entity_kind = 'verdict' "
                       "ORDER BY reason_code")
    assert len(q) == 6 and all(loc for _, _, loc in q)
    assert any(key.endswith("2026-03-15.csv#L11") and code == "verdict_bad_encoding" for key, code, _ in q)
    rejected_file = quarantine.list("inspection/verdicts")
    assert sum(len(quarantine.read_bytes(e.key).splitlines()) for e in rejected_file) == 6

    # Routing: annotation failures to the labelers' rework queue, the image failure to refine's queue.
    assert _rows(records, "SELECT item_key, worker_id, source FROM rework_queue ORDER BY item_key") == sorted(
        [(K[0], "w1", "server"), (K[1], "w1", "server"), (K[2], "w2", "server")])
    [(status, codes)] = _rows(records, "SELECT status, reason_codes FROM images WHERE original_name = %s",
                              (K[3] + ".jpg",))
    assert status == "refine_rework" and {"server_image", "blurred"} <= set(codes)
    assert _rows(records, "SELECT count(*) FROM images WHERE status = 'refine_rework'") == [(1,)]
    assert _rows(records, "SELECT item_key FROM inspection_passed_items") == [(K[4],)]

    # The same files again: nothing new.
    again = ingest_verdicts(records, config, verdicts, batch_id="v2", quarantine=quarantine)
    assert again.files == 0 and again.files_skipped == 2
    assert _rows(records, "SELECT count(*) FROM inspections WHERE round = 'server'") == [(5,)]


def test_rework_notices_reach_the_right_labelers_once(records, config, on_server, slack_sink):
    from slack_sdk import WebClient

    slack_sink.clear()
    slack_sink.down = False
    verdicts, quarantine = on_server
    verdicts.write_bytes("2026-03-15.csv", CSV_DAY1)
    ingest_verdicts(records, config, verdicts, batch_id="v1", quarantine=quarantine)
    post = slack_client_sender(WebClient(token="xoxb-test", base_url=slack_sink.api_base_url))
    result = notify_rework(records, config, post, sleep=lambda _: None)
    assert (result.planned, result.sent, result.failed) == (2, 2, 0)
    messages = {m.body["channel"]: m.text for m in slack_sink.messages("chat.postMessage")}
    assert set(messages) == {"U0W1", "#trainset-labeling"}  # w2 has no Slack id: the team channel; w3 had no fail
    assert K[0] in messages["U0W1"] and K[1] in messages["U0W1"] and K[2] not in messages["U0W1"]
    assert "박스가 너무 큼" in messages["U0W1"] and "class is dog not cat" in messages["U0W1"]
    assert K[2] in messages["#trainset-labeling"] and "labeler w2" in messages["#trainset-labeling"]
    assert "사람 한 명 누락" in messages["#trainset-labeling"]

    again = notify_rework(records, config, post, sleep=lambda _: None)
    assert (again.planned, again.sent) == (0, 0)
    assert len(slack_sink.messages("chat.postMessage")) == 2
    assert _rows(records, "SELECT status, count(*) FROM notifications GROUP BY 1") == [("sent", 2)]


def test_slack_outage_is_retried_recorded_and_sent_later(records, config, on_server, slack_sink):
    from slack_sdk import WebClient

    slack_sink.clear()
    verdicts, quarantine = on_server
    verdicts.write_bytes("2026-03-15.csv", CSV_DAY1)
    ingest_verdicts(records, config, verdicts, batch_id="v1", quarantine=quarantine)
    post = slack_client_sender(WebClient(token="xoxb-test", base_url=slack_sink.api_base_url))
    slack_sink.down = True
    try:
        result = notify_rework(records, config, post, sleep=lambda _: None)
    finally:
        slack_sink.down = False
    assert (result.planned, result.sent, result.failed) == (2, 0, 2)
    assert result.attempts == 2 * config.inspection.notice_max_attempts
    assert slack_sink.messages("chat.postMessage") == []
    rows = _rows(records, "SELECT status, attempts, last_error IS NOT NULL, payload FROM notifications")
    assert [(s, a, e) for s, a, e, _ in rows] == [("failed", 3, True)] * 2
    assert {i["item_key"] for *_, p in rows for i in p["items"]} == {K[0], K[1], K[2]}  # nothing lost

    # One transient failure then success inside the retries; the other notice goes through at once.
    slack_sink.fail_next(1)
    later = send_pending(records, config, post, sleep=lambda _: None)
    assert (later.sent, later.failed, later.attempts) == (2, 0, 3)
    assert len(slack_sink.messages("chat.postMessage")) == 2
    assert _rows(records, "SELECT status, count(*) FROM notifications GROUP BY 1") == [("sent", 2)]
    assert json.dumps(rows[0][3], ensure_ascii=False).count("item_key") >= 1


def test_json_verdicts_in_korean_and_a_later_day_overrides(records, config, on_server):
    verdicts, quarantine = on_server
    verdicts.write_bytes("2026-03-15.csv", f"item_key,verdict\n{K[4]},pass\n".encode())
    verdicts.write_bytes("verdicts_20260316.json", json.dumps({"verdicts": [
        {"item": K[4], "verdict": "불합격", "category": "annotation", "reason_code": "box_missing",
         "comment": "사람 누락", "inspector": "insp_choi"},
        {"item": K[0], "verdict": "합격"}]}, ensure_ascii=False).encode())
    result = ingest_verdicts(records, config, verdicts, batch_id="v1", quarantine=quarantine)
    assert (result.recorded, result.passed, sum(result.rejected_by_reason.values())) == (3, 2, 0)
    assert _rows(records, "SELECT item_key, inspected_on::text, verdict FROM inspections WHERE round = 'server' "
                          "ORDER BY 1, 2") == sorted([(K[0], "2026-03-16", "pass"), (K[4], "2026-03-15", "pass"),
                                                      (K[4], "2026-03-16", "fail")])
    # The latest verdict counts: K[4] failed on the 16th, so only K[0] is passed for train-handoff.
    assert _rows(records, "SELECT item_key FROM inspection_passed_items") == [(K[0],)]
    assert _rows(records, "SELECT item_key, worker_id FROM rework_queue") == [(K[4], "w3")]
