"""Write README's task map (task id → operator → step function, for every DAG) from the DAGs themselves.

    .venv/bin/python scripts/task_map.py          # rewrite the block between the task-map markers in README.md
    .venv/bin/python scripts/task_map.py --check  # exit 1 when README's block is stale (tests/dags runs this)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START, END = "<!-- task-map:start -->", "<!-- task-map:end -->"


def _operator_class(task) -> type:
    return getattr(task, "operator_class", None) or type(task)


def _step_name(cls: type) -> str:
    step = getattr(cls, "step", None)
    if step is None:
        return "—"
    fn = getattr(step, "__func__", step)
    return f"`{fn.__module__}.{fn.__qualname__}`"


def _operator_name(task) -> str:
    cls = _operator_class(task)
    if cls.__name__ in ("_PythonDecoratedOperator", "DecoratedMappedOperator") or cls.__module__.startswith("airflow"):
        return f"{cls.__name__} (Airflow)"
    return f"`{cls.__name__}`"


def task_map(dag_folder: Path = ROOT / "dags") -> str:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dag_folder))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    lines = ["| DAG | task id | operator | step function |", "|---|---|---|---|"]
    for dag_id in sorted(bag.dag_ids):
        dag = bag.get_dag(dag_id)
        for task in sorted(dag.tasks, key=lambda t: t.task_id):
            cls = _operator_class(task)
            lines.append(f"| {dag_id} | `{task.task_id}` | {_operator_name(task)} | {_step_name(cls)} |")
    return "\n".join(lines)


def render(readme: str, table: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that README's map is current")
    args = parser.parse_args(argv)
    readme = README.read_text(encoding="utf-8")
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md has no {START} … {END} block")
    wanted = render(readme, task_map())
    if args.check:
        if wanted != readme:
            print("README.md's task map is stale: run .venv/bin/python scripts/task_map.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
