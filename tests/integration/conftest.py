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
