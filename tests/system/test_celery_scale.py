"""Scale-out on CeleryExecutor: a Redis broker on 127.0.0.1, two Celery workers sharing file:// storage roots.

refine runs over 600 generated photos; in the middle of a batch's output step, one worker is killed with SIGKILL
(its whole process group: worker, task supervisor, task process and its pool, as when the machine dies).  The
scheduler notices the missing heartbeat, the try fails and is retried on the other worker; the run must end with
nothing lost or counted twice: every image in exactly one final state, the warehouse holding exactly the refined
images' files (no partial or temporary files), names unique and gap-free per class and day.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from .conftest import connection_env, write_project_file
from .test_pipeline_scheduler import _assert_names_gap_free, _failed_tasks, _rows, run_audit

pytestmark = pytest.mark.slow

PHOTOS = 600
BATCH = 100
CLASSES = ["person", "animal", "vehicle", "food", "object"]


@pytest.fixture(scope="module")
def celery_stack(tmp_path_factory, pg_admin_dsn, make_records_db, slack_sink):
    from trainset import db
    from trainset_dev.airflow_stack import AirflowStack, prepare_metadata_db
    from trainset_dev.peers.localpeers import airflow_connection_env
    from trainset_dev.photos import write_drop_zone

    tmp = tmp_path_factory.mktemp("celery")
    data_root = tmp / "data"
    project = write_project_file(
        tmp / "project.yaml", project__period={"start": "2026-03-01", "end": "2026-03-20"},
        schedules__collect=None, schedules__inspection=None, schedules__daily_report=None,
        schedules__annotate_intake=None,
        refine__batch_size=BATCH, refine__workers=1,  # the cores are the Celery workers' here
        tasks__retry_delay_seconds=2)
    _, dsn = make_records_db("trainset_celery")
    write_drop_zone(data_root / "drop_zone", PHOTOS, CLASSES, size=(384, 288))  # small: fast, still in spec
    env = {"TRAINSET_CONFIG": str(project), "TRAINSET_DATA_ROOT": str(data_root), "TRAINSET_TASK_RETRIES": "2",
           "AIRFLOW_CONN_TRAINSET_DB": connection_env(dsn), **airflow_connection_env(slack_sink)}
    meta = f"airflow_celery_{uuid.uuid4().hex[:8]}"
    url = prepare_metadata_db(pg_admin_dsn, meta, tmp / "migrate.log")
    stack = AirflowStack(tmp / "airflow", url, env=env, executor="CeleryExecutor", celery_workers=2,
                         worker_concurrency=1, parallelism=4)
    saved = {k: os.environ.get(k) for k in ("TRAINSET_CONFIG", "TRAINSET_DATA_ROOT")}
    os.environ.update({"TRAINSET_CONFIG": str(project), "TRAINSET_DATA_ROOT": str(data_root)})
    stack.start()
    try:
        api = stack.client()
        api.wait_for_dags(["collect", "refine"])
        from trainset.config import get_config

        yield {"stack": stack, "api": api, "dsn": dsn, "config": get_config(), "data_root": data_root}
    finally:
        stack.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        db.drop_database(pg_admin_dsn, meta)


def _partial_batch(dsn: str) -> tuple[str, int, int] | None:
    """A batch whose output step is half done: (batch_id, refined so far, named but not yet written)."""
    rows = _rows(dsn, """
        SELECT b.batch_id, count(*) FILTER (WHERE i.status = 'refined'),
               count(*) FILTER (WHERE i.status = 'raw' AND i.dataset_name IS NOT NULL)
        FROM refine_batch_items b JOIN images i USING (image_id) GROUP BY 1 ORDER BY 1""")
    for batch_id, refined, pending in rows:
        if refined >= 5 and pending >= 20:
            return batch_id, refined, pending
    return None


def test_worker_killed_mid_batch_loses_and_doubles_nothing(celery_stack):
    s = celery_stack
    api, dsn, stack, config = s["api"], s["dsn"], s["stack"], s["config"]
    for dag_id in ("collect", "refine"):
        api.set_paused(dag_id, False)
    _ok(api, stack, "collect", api.trigger("collect", {"source_prefix": None, "dry_run": False}))
    assert _rows(dsn, "SELECT count(*) FROM images WHERE status = 'raw'")[0][0] == PHOTOS
    run_id = api.wait_new_run("refine", set())

    # Wait for a batch half way through writing its outputs, find the worker running it, kill that worker.
    deadline = time.monotonic() + 300
    victim = None
    while time.monotonic() < deadline and victim is None:
        found = _partial_batch(dsn)
        if found:
            index = int(found[0].rsplit("__", 1)[1])
            ti = next((t for t in api.task_instances("refine", run_id)
                       if t["task_id"] == "batch.anonymize_and_store" and t["map_index"] == index), None)
            worker = stack.component_of(ti["pid"]) if ti and ti["state"] == "running" and ti.get("pid") else None
            if worker and worker.startswith("worker"):
                victim = (found, worker, ti["try_number"])
                break
        time.sleep(0.3)
    assert victim, "no batch was caught half way through its output step"
    (batch_id, refined_at_kill, pending_at_kill), worker, try_at_kill = victim
    stack.kill(worker)

    run = api.wait_run("refine", run_id, timeout=600)
    assert run["state"] == "success", _failed_tasks(api, "refine", run_id)
    index = int(batch_id.rsplit("__", 1)[1])
    retried = next(t for t in api.task_instances("refine", run_id)
                   if t["task_id"] == "batch.anonymize_and_store" and t["map_index"] == index)
    assert retried["try_number"] > try_at_kill, retried
    assert not stack.components[worker].alive  # so the retry finished on the surviving worker
    print(f"\nkilled {worker} in {batch_id} with {refined_at_kill} written, {pending_at_kill} named and pending; "
          f"try {retried['try_number']} finished on the other worker")

    # Nothing lost, nothing twice.
    images = _rows(dsn, "SELECT image_id, status, dataset_name, location FROM images")
    assert len(images) == PHOTOS
    states = {}
    for _, status, _, _ in images:
        states[status] = states.get(status, 0) + 1
    assert set(states) <= {"refined", "rejected"}, states
    assert states.get("refined", 0) >= PHOTOS * 0.95, states
    in_batches = _rows(dsn, "SELECT image_id, count(*) FROM refine_batch_items GROUP BY 1 HAVING count(*) > 1")
    assert in_batches == []
    _assert_names_gap_free(dsn)
    from trainset.storage import open_storage

    warehouse = open_storage(config.storage.warehouse)
    root = Path(config.storage.warehouse.removeprefix("file://"))
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    expected = {loc[len(warehouse.uri) + 1:] for _, status, _, loc in images if status == "refined"}
    assert files == expected, (sorted(files - expected)[:10], sorted(expected - files)[:10])
    anonymized = _rows(dsn, "SELECT count(*) FROM check_results WHERE check_name = 'anonymize'")[0][0]
    assert anonymized == states["refined"]
    summary = api.task_log("refine", run_id, "publish_source_images")
    assert f"{PHOTOS} images, {states['refined']} refined into the warehouse" in summary, summary[-2000:]
    # The inspection server (s3://) is not part of this stack; every file:// root is walked.
    print(f"audit after the kill: {run_audit(dsn, skip=('inspection_server',))}")


def _ok(api, stack, dag_id, run_id):
    run = api.wait_run(dag_id, run_id, timeout=300, stack=stack)
    assert run["state"] == "success", _failed_tasks(api, dag_id, run_id)
