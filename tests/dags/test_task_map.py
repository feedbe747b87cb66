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
