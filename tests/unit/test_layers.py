"""The import boundary: the product (include/trainset, plugins/, dags/) never imports the development tools
(include/trainset_dev), and the domain library never imports Airflow.

ruff's TID251 bans both in include/trainset; dags/ and plugins/ import Airflow, so ruff's global ban cannot cover
them and this walk of every product module's AST does (imports at any depth, and module names passed as strings to
``importlib.import_module`` or in ``"module:function"`` tables)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [ROOT / "include" / "trainset", ROOT / "plugins", ROOT / "dags"]


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import in ``source``, and of every string constant naming a module the code could
    import dynamically (``"pkg.mod"`` or ``"pkg.mod:function"``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and " " not in node.value:
            found.append((node.lineno, node.value.partition(":")[0]))
    return found


def offending(paths: list[Path], banned: str) -> list[str]:
    hits = []
    for path in paths:
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            if module == banned or module.startswith(banned + "."):
                hits.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    return hits


def product_modules() -> list[Path]:
    return sorted(p for root in PRODUCT for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_walk_sees_every_kind_of_import():
    source = ("import trainset_dev\nfrom trainset_dev.demo import STAGES\n"
              "def f():\n    import trainset_dev.peers.mailsink\n"
              "MODULES = ('trainset_dev.commands.dev', 'trainset_dev.demo.collect:demo_summary')\n"
              "from trainset import db\nimport trainset_devices\n")
    names = {m for _, m in imported_modules(source) if m == "trainset_dev" or m.startswith("trainset_dev.")}
    assert names == {"trainset_dev", "trainset_dev.demo", "trainset_dev.peers.mailsink",
                     "trainset_dev.commands.dev", "trainset_dev.demo.collect"}


def test_there_are_product_modules_to_check():
    modules = product_modules()
    assert ROOT / "include" / "trainset" / "cli.py" in modules
    assert any(p.is_relative_to(ROOT / "dags") for p in modules)
    assert any(p.is_relative_to(ROOT / "plugins") for p in modules)


@pytest.mark.parametrize("root", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_product_never_imports_the_development_tools(root):
    assert offending(sorted(root.rglob("*.py")), "trainset_dev") == []


def test_the_domain_library_never_imports_airflow():
    assert offending(sorted((ROOT / "include" / "trainset").rglob("*.py")), "airflow") == []
