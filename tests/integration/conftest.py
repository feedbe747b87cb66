"""dag.test() helpers: load DAGs from dags/ and run them in-process against the real services of conftest."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert not bag.import_errors, bag.import_errors
    return bag


def failed_tasks(dag_run) -> dict[str, str]:
    return {ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): str(ti.state)
            for ti in dag_run.get_task_instances() if str(ti.state) not in ("success", "skipped")}


@pytest.fixture
def run_dag(dagbag):
    """Run a DAG once with dag.test() and return the DagRun, asserting its state (dag.test() never raises)."""

    from airflow.dag_processing.dagbag import DagBag

    def run(dag_id: str, *, conf: dict | None = None, expect: str = "success", **kwargs):
        # A fresh parse per run: in-process, template rendering overwrites the operator's attributes, so a
        # DAG object reused across dag.test() calls would carry one run's rendered Params into the next.
        dag = DagBag(dag_folder=dagbag.get_dag(dag_id).fileloc).get_dag(dag_id)
        dag_run = dag.test(run_conf=conf, **kwargs)
        assert str(dag_run.state) == expect, f"{dag_id} ended {dag_run.state}; not successful: {failed_tasks(dag_run)}"
        return dag_run

    return run


def audit_breaches(project_env) -> list[dict]:
    """``trainset audit`` over this test's storage roots and records DB (issue 14: every stage ends clean)."""
    from trainset.audit import open_roots, run_audit
    from trainset.config import get_config

    config = get_config()
    project_env.records.rollback()
    return run_audit(project_env.records, config, open_roots(config, project_env.s3.client())).breaches


@pytest.fixture(autouse=True)
def clean_audit_after_each_test(request):
    """Every integration test that runs the pipeline ends with a clean audit; a test that injects breaches on
    purpose opts out with ``@pytest.mark.audit_breaches_expected``."""
    if "project_env" not in request.fixturenames or request.node.get_closest_marker("audit_breaches_expected"):
        yield
        return
    # Requested at setup, so this teardown runs before project_env's (its environment is still in place).
    env = request.getfixturevalue("project_env")
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is None or rep.failed:
        return  # the test's own failure is the news
    breaches = audit_breaches(env)
    assert breaches == [], "audit after the test:\n" + "\n".join(map(str, breaches[:20]))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.when == "call":
        item.rep_call = rep
    return rep
