"""The whole chain under the real scheduler (LocalExecutor), driven through the REST API only.

collect (triggered with Params) → refine (its Asset; >1 process per batch under the Task SDK) → the labelers
upload → annotate_intake (triggered with a work date) → inspection (its Asset) → the inspector's verdicts →
inspection (triggered) → train_handoff (its Asset): a release that verifies.  Then annotate_intake over three
past working days twice, from one records DB state: once as a REST backfill, once triggered day by day; the
assignments, upload checks, daily results and messages must be the same.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid

import pytest

from .conftest import ROOT, connection_fields, write_project_file

pytestmark = pytest.mark.slow

CHAIN_DAY = dt.date(2026, 3, 16)  # the demo's labeling day (Monday); photos are taken 2026-03-14
BACKFILL_DAYS = [dt.date(2026, 3, 17), dt.date(2026, 3, 18), dt.date(2026, 3, 19)]  # Tue, Wed, Thu
STAGE_DAGS = ["collect", "refine", "annotate_intake", "inspection", "train_handoff"]


@pytest.fixture(scope="module")
def scheduler_stack(tmp_path_factory, pg_admin_dsn, make_records_db, slack_sink, s3_server):
    from trainset import db
    from trainset_dev.airflow_stack import AirflowStack, prepare_metadata_db
    from trainset_dev.demo.dropzone import build_drop_zone
    from trainset_dev.peers.localpeers import airflow_connection_env
    from trainset_dev.peers.mailsink import SmtpSink

    tmp = tmp_path_factory.mktemp("system")
    data_root = tmp / "data"
    # A smaller daily capacity than the demo roster's, so the warehouse lasts several days of distribution.
    import yaml

    roster = yaml.safe_load((ROOT / "include" / "roster.yaml").read_text())
    for w in roster["workers"]:
        w["daily_capacity"] = min(w["daily_capacity"], 3)
    (tmp / "roster.yaml").write_text(yaml.safe_dump(roster, allow_unicode=True))
    project = write_project_file(
        tmp / "project.yaml",
        project__period={"start": "2026-03-01", "end": "2026-03-20"},  # in the past: no scheduled run on unpause
        schedules__collect=None, schedules__inspection=None, schedules__daily_report=None,
        refine__workers=2,  # two processes per batch: the pool under the Task SDK
        annotate__roster_path=str(tmp / "roster.yaml"),
        tasks__retry_delay_seconds=2,
    )
    bucket = f"sys-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    records_name, records_dsn = make_records_db()
    mail = SmtpSink().start()
    env = {
        "TRAINSET_CONFIG": str(project), "TRAINSET_DATA_ROOT": str(data_root),
        "TRAINSET_INSPECTION_URI": f"s3://{bucket}/incoming", "TRAINSET_TASK_RETRIES": "0",
        "AIRFLOW_CONN_SMTP_DEFAULT": mail.airflow_connection(),
        **airflow_connection_env(slack_sink, s3_server.endpoint),
    }
    env.pop("AIRFLOW_CONN_TRAINSET_DB", None)  # set through the REST API below, so the test can switch it
    meta = f"airflow_sys_{uuid.uuid4().hex[:8]}"
    url = prepare_metadata_db(pg_admin_dsn, meta, tmp / "migrate.log")
    stack = AirflowStack(tmp / "airflow", url, env={k: v for k, v in env.items()}, parallelism=4)
    # The test's own process reads the same project file and storage roots as the components.
    saved = {k: os.environ.get(k) for k in ("TRAINSET_CONFIG", "TRAINSET_DATA_ROOT", "TRAINSET_INSPECTION_URI",
                                            "AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_TRAINSET_DB")}
    os.environ.update({k: env[k] for k in ("TRAINSET_CONFIG", "TRAINSET_DATA_ROOT", "TRAINSET_INSPECTION_URI",
                                           "AIRFLOW_CONN_AWS_DEFAULT")})
    os.environ.pop("AIRFLOW_CONN_TRAINSET_DB", None)
    from trainset.config import get_config

    config = get_config()
    build_drop_zone(data_root / "drop_zone")
    started = time.monotonic()
    stack.start()
    try:
        api = stack.client()
        api.set_connection("trainset_db", **connection_fields(records_dsn))
        api.wait_for_dags(STAGE_DAGS)
        yield {"stack": stack, "api": api, "config": config, "records_dsn": records_dsn,
               "records_name": records_name, "slack": slack_sink, "s3": s3_server, "mail": mail,
               "data_root": data_root, "started": started, "make_records_db": make_records_db}
    finally:
        stack.stop()
        mail.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        db.drop_database(pg_admin_dsn, meta)


def _failed_tasks(api, dag_id, run_id) -> list:
    return [(t["task_id"], t.get("map_index"), t["state"]) for t in api.task_instances(dag_id, run_id)
            if t["state"] != "success"]


def _assert_success(s, dag_id, run_id, timeout=300) -> dict:
    api = s["api"]
    run = api.wait_run(dag_id, run_id, timeout=timeout, stack=s["stack"])
    assert run["state"] == "success", (dag_id, run_id, _failed_tasks(api, dag_id, run_id))
    return run


def _rows(dsn: str, sql: str, params=()) -> list[tuple]:
    from trainset import db

    conn = db.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_whole_chain_under_the_scheduler(scheduler_stack):
    s = scheduler_stack
    api, config, dsn = s["api"], s["config"], s["records_dsn"]
    for dag_id in STAGE_DAGS:
        api.set_paused(dag_id, False)
    assert all(not api.get(f"/dags/{d}")["is_paused"] for d in STAGE_DAGS)

    # 1. collect, triggered with its Params; its raw_images Asset starts refine.
    run = api.trigger("collect", {"source_prefix": None, "dry_run": False})
    _assert_success(s, "collect", run)
    refine_run = api.wait_new_run("refine", set())
    assert api.run("refine", refine_run)["run_type"] == "asset_triggered"
    _assert_success(s, "refine", refine_run, timeout=420)
    refined = _rows(dsn, "SELECT count(*) FROM images WHERE status = 'refined'")[0][0]
    assert refined >= 25
    assert _rows(dsn, "SELECT count(*) FROM images WHERE status = 'raw'")[0][0] == 0
    # The batch's outputs were rendered on two processes inside the Task SDK's task process (no BrokenProcessPool).
    log = api.task_log("refine", refine_run, "batch.anonymize_and_store", map_index=0)
    assert "pool: 2 processes" in log, log[-3000:]
    assert "refined into the warehouse" in api.task_log("refine", refine_run, "publish_source_images")

    # 2. the labelers: the morning distribution (the DAG reuses it) and their uploads; then the day's run.
    from trainset import db
    from trainset_dev.demo.annotate import demo_prepare

    conn = db.connect(dsn)
    try:
        expected = demo_prepare(conn, config, CHAIN_DAY)
        conn.commit()
    finally:
        conn.close()
    assert expected
    known_inspection = {r["dag_run_id"] for r in api.runs("inspection")}
    run = api.trigger("annotate_intake", {"work_date": CHAIN_DAY.isoformat()})
    _assert_success(s, "annotate_intake", run)
    passed = _rows(dsn, "SELECT count(DISTINCT item_key) FROM annotations WHERE status IN ('passed', 'repaired')")[0][0]
    assert passed > 0
    assert s["slack"].messages("/api/"), "the missing-upload DM to choi"

    # 3. first_inspection_passed starts inspection: everything accepted goes to the inspection server.
    insp_run = api.wait_new_run("inspection", known_inspection)
    _assert_success(s, "inspection", insp_run)
    sent = _rows(dsn, "SELECT count(DISTINCT item_key) FROM transfers WHERE kind = 'label' AND status = 'verified'")
    assert sent[0][0] == passed

    # 4. the inspectors publish verdicts; the next inspection run takes them, inspection_passed starts the release.
    from trainset_dev.demo.inspection import simulate_inspector

    conn = db.connect(dsn)
    try:
        verdicts = simulate_inspector(conn, config, s["s3"].client(), CHAIN_DAY)
    finally:
        conn.close()
    assert verdicts.get("pass", 0) > 0
    known_train = {r["dag_run_id"] for r in api.runs("train_handoff")}
    run = api.trigger("inspection", {"item_keys": None, "verdict_day": None})
    _assert_success(s, "inspection", run)
    train_run = api.wait_new_run("train_handoff", known_train)
    assert api.run("train_handoff", train_run)["run_type"] == "asset_triggered"
    _assert_success(s, "train_handoff", train_run)

    # The release: published, its items exactly the inspection passes, verifying against its manifest.
    from trainset.storage import open_storage
    from trainset.train.verify import verify_release

    releases = _rows(dsn, "SELECT release_name FROM releases ORDER BY created_at")
    assert len(releases) == 1
    name = releases[0][0]
    items = _rows(dsn, "SELECT count(*) FROM release_items WHERE release_name = %s",
                  (name,))[0][0]
    server_passes = _rows(dsn, "SELECT count(DISTINCT item_key) FROM inspections WHERE round = 'server' "
                               "AND verdict = 'pass'")[0][0]
    assert items == server_passes > 0
    assert verify_release(open_storage(config.storage.training), name) == []
    _assert_integrity(dsn, config)
    line = run_audit(dsn, {"AWS_ENDPOINT_URL": s["s3"].endpoint, "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    print(f"\naudit after the chain: {line}")


def run_audit(dsn: str, env: dict | None = None, skip: tuple[str, ...] = ()) -> str:
    """``python -m trainset audit`` over the records DB and every storage root (what an operator runs); asserts it
    is clean and returns its summary line."""
    import subprocess
    import sys

    argv = [sys.executable, "-m", "trainset", "audit", "--dsn", dsn]
    for name in skip:
        argv += ["--skip-root", name]
    out = subprocess.run(argv, env={**os.environ, "PYTHONPATH": f"{ROOT / 'include'}:{ROOT / 'plugins'}",
                                    **(env or {})}, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    return out.stdout.strip().splitlines()[-1]


def _assert_integrity(dsn: str, config) -> None:
    """Invariants straight from the records DB and the storage roots (beside the audit, which checks more)."""
    from trainset.storage import open_storage

    # every image in exactly one final state; refined ones named once, uniquely, with the file in the warehouse
    states = dict(_rows(dsn, "SELECT status, count(*) FROM images GROUP BY 1"))
    assert states.get("raw", 0) == 0 and states.get("refined", 0) > 0, states
    dup = _rows(dsn, "SELECT dataset_name, count(*) FROM images WHERE dataset_name IS NOT NULL GROUP BY 1 "
                     "HAVING count(*) > 1")
    assert dup == []
    _assert_names_gap_free(dsn)
    warehouse = open_storage(config.storage.warehouse)
    for (location,) in _rows(dsn, "SELECT location FROM images WHERE status = 'refined'"):
        assert location.startswith(warehouse.uri + "/") and warehouse.exists(location[len(warehouse.uri) + 1:])


def _assert_names_gap_free(dsn: str) -> None:
    """Per naming scope (class/day), the sequence numbers handed out are exactly 1..n."""
    rows = _rows(dsn, "SELECT dataset_name FROM images WHERE dataset_name IS NOT NULL")
    scopes: dict[str, list[int]] = {}
    for (name,) in rows:
        stem = name.rsplit(".", 1)[0]
        prefix, _, seq = stem.rpartition("_")
        scopes.setdefault(prefix, []).append(int(seq))
    for prefix, seqs in scopes.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), (prefix, sorted(seqs))
    last = dict(_rows(dsn, "SELECT scope, last_value FROM name_sequences"))
    assert sum(last.values()) == len(rows), (last, len(rows))


ANNOTATE_STATE = {
    "assignments": "SELECT a.work_date, a.worker_id, i.dataset_name, a.task_kind, a.status, a.reason_codes "
                   "FROM assignments a JOIN images i USING (image_id) WHERE a.work_date = ANY(%s) ORDER BY 1, 2, 3, 4",
    "daily_results": "SELECT * FROM labeling_daily_results WHERE work_date = ANY(%s) ORDER BY 1, 2, 3",
    "daily_reasons": "SELECT * FROM labeling_daily_reasons WHERE work_date = ANY(%s) ORDER BY 1, 2, 3, 4",
    "notifications": "SELECT dedupe_key, channel, recipient, payload::text, status FROM notifications "
                     "WHERE dedupe_key ~ ANY(%s) ORDER BY 1",
}


def _annotate_state(dsn: str) -> dict:
    days = list(BACKFILL_DAYS)
    out = {}
    for key, sql in ANNOTATE_STATE.items():
        out[key] = _rows(dsn, sql, ([d.isoformat() for d in days],) if key == "notifications" else (days,))
    return out


def test_backfill_equals_day_by_day(scheduler_stack):
    """annotate_intake over three past working days: a REST backfill, and the same days triggered one by one from
    the same starting state (a copy of the records DB), give the same rows."""
    s = scheduler_stack
    api = s["api"]
    api.set_paused("annotate_intake", False)
    # The day-by-day twin starts from the same state: a copy of the records DB as the chain left it.
    twin_name, twin_dsn = s["make_records_db"]("trainset_twin", template=s["records_name"])

    before = {r["dag_run_id"] for r in api.runs("annotate_intake")}
    backfill = api.backfill("annotate_intake", f"{BACKFILL_DAYS[0].isoformat()}T00:00:00Z",
                            f"{BACKFILL_DAYS[-1].isoformat()}T00:00:00Z")
    deadline = time.monotonic() + 420
    # After a backfill Airflow also schedules the latest past tick (today): a day outside the project period, so
    # it assigns nothing; only the backfill's runs are waited for and compared.
    while time.monotonic() < deadline:
        runs = [r for r in api.runs("annotate_intake") if r["dag_run_id"] not in before and r["run_type"] == "backfill"]
        if len(runs) == 3 and all(r["state"] in ("success", "failed") for r in runs):
            break
        time.sleep(2)
    runs = [r for r in api.runs("annotate_intake") if r["dag_run_id"] not in before and r["run_type"] == "backfill"]
    assert [r["run_type"] for r in runs] == ["backfill"] * 3, runs
    assert [r["state"] for r in runs] == ["success"] * 3, [(r["dag_run_id"], _failed_tasks(
        api, "annotate_intake", r["dag_run_id"])) for r in runs]
    by_backfill = _annotate_state(s["records_dsn"])
    for _ in range(60):  # the scheduler closes a backfill whose runs all finished on its next pass
        if api.get(f"/backfills/{backfill['id']}")["completed_at"] is not None:
            break
        time.sleep(1)
    assert api.get(f"/backfills/{backfill['id']}")["completed_at"] is not None

    api.set_connection("trainset_db", **connection_fields(twin_dsn))
    for day in BACKFILL_DAYS:
        run = api.trigger("annotate_intake", {"work_date": day.isoformat()})
        _assert_success(s, "annotate_intake", run)
    one_by_one = _annotate_state(twin_dsn)
    api.set_connection("trainset_db", **connection_fields(s["records_dsn"]))

    assert by_backfill["assignments"], "the three days assigned nothing: the comparison would be empty"
    assert {r[0] for r in by_backfill["assignments"]} - set(BACKFILL_DAYS) == set()
    for key in ANNOTATE_STATE:
        assert by_backfill[key] == one_by_one[key], (key, json.dumps([by_backfill[key], one_by_one[key]],
                                                                     default=str)[:3000])
