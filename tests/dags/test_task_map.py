"""README's task map is generated from the DAGs: it must match them (run scripts/task_map.py to refresh)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _task_map_module():
    spec = importlib.util.spec_from_file_location("task_map", ROOT / "scripts" / "task_map.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_task_map_is_current():
    assert _task_map_module().main(["--check"]) == 0


def test_every_trainset_task_runs_one_step():
    """The contract: every task of ours is a TrainsetStepOperator naming one domain step (Airflow's own sensors
    and the DAGs' tiny wiring tasks aside)."""
    from airflow.dag_processing.dagbag import DagBag
    from trainset_airflow.operators.base import TrainsetStepOperator

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    ours = [(dag_id, task.task_id, getattr(task, "operator_class", None) or type(task))
            for dag_id in bag.dag_ids for task in bag.get_dag(dag_id).tasks]
    ours = [(d, t, cls) for d, t, cls in ours if cls.__module__.startswith("trainset_airflow")]
    assert len(ours) >= 30
    for dag_id, task_id, cls in ours:
        assert issubclass(cls, TrainsetStepOperator), f"{dag_id}.{task_id}: {cls.__name__} has no step"
        assert callable(getattr(cls, "step", None)), f"{dag_id}.{task_id}: {cls.__name__} names no step"
