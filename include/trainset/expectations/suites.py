"""Suite files: ``include/expectations/<name>.json`` (or ``$TRAINSET_EXPECTATIONS_DIR``) read, checked and built
into GX ExpectationSuites."""

from __future__ import annotations

import copy
import json
import logging
import os
import re
from pathlib import Path

from trainset.expectations.outcome import SuiteError

SUITES_DIR = Path(__file__).resolve().parents[2] / "expectations"
SUITES_DIR_ENV = "TRAINSET_EXPECTATIONS_DIR"


def suites_dir() -> Path:
    return Path(os.environ.get(SUITES_DIR_ENV) or SUITES_DIR)


def suite_path(name: str, suite_dir: Path | None = None) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name or ""):
        raise SuiteError(f"invalid suite name {name!r}")
    return Path(suite_dir or suites_dir()) / f"{name}.json"


def suite_parameters(suite: dict) -> set[str]:
    """Names of the ``{"$PARAMETER": ...}`` references in a suite's kwargs."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"$PARAMETER"} and isinstance(node["$PARAMETER"], str):
                found.add(node["$PARAMETER"])
            else:
                for v in node.values():
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for exp in suite.get("expectations", []):
        walk(exp.get("kwargs", {}))
    return found


def load_suite(name: str, suite_dir: Path | None = None) -> dict:
    """Read and structurally check a suite file (no GX import). Raises SuiteError with the file and reason."""
    path = suite_path(name, suite_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"suite {name!r}: no file {path}") from None
    except (OSError, ValueError) as err:
        raise SuiteError(f"suite {name!r}: cannot read {path}: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise SuiteError(f"suite {name!r}: {path} must be an object with an 'expectations' list")
    if data.get("name", name) != name:
        raise SuiteError(f"suite {name!r}: {path} declares name {data.get('name')!r}")
    if not data["expectations"]:
        raise SuiteError(f"suite {name!r}: {path} has no expectations")
    for i, exp in enumerate(data["expectations"]):
        where = f"suite {name!r} expectation #{i}"
        if not isinstance(exp, dict) or not isinstance(exp.get("type"), str):
            raise SuiteError(f"{where}: needs a 'type'")
        meta = exp.get("meta") or {}
        code = meta.get("reason_code")
        if not isinstance(code, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", code):
            raise SuiteError(f"{where} ({exp['type']}): meta.reason_code missing or not snake_case: {code!r}")
        if meta.get("nulls", "fail") not in ("fail", "ignore"):
            raise SuiteError(f"{where}: meta.nulls must be 'fail' or 'ignore'")
        if not isinstance(exp.get("kwargs", {}), dict):
            raise SuiteError(f"{where}: kwargs must be an object")
    return {**data, "name": name}


def build_suite(data: dict):
    """A GX ExpectationSuite from a checked suite dict. GX logs and *drops* an expectation it cannot build
    (unknown type); a dropped check would silently pass every row, so that is a SuiteError here."""
    from great_expectations.core.expectation_suite import ExpectationSuite

    logging.getLogger("great_expectations.core.expectation_suite").disabled = True  # we raise instead
    try:
        # GX mutates what it is given (adds meta.great_expectations_version): hand it a copy.
        data = copy.deepcopy(data)
        suite = ExpectationSuite(name=data["name"], expectations=data["expectations"], meta=data.get("meta") or {})
    finally:
        logging.getLogger("great_expectations.core.expectation_suite").disabled = False
    built = [e.expectation_type for e in suite.expectations]
    wanted = [e["type"] for e in data["expectations"]]
    if built != wanted:
        dropped = [t for t in wanted if t not in built] or wanted
        raise SuiteError(f"suite {data['name']!r}: great_expectations cannot build {dropped} "
                         "(unknown expectation type or invalid arguments)")
    return suite


def check_suite(name: str, parameters: dict | None = None, suite_dir: Path | None = None) -> dict:
    """Check a suite file fully (structure, GX can build every expectation, parameters present); returns it."""
    data = load_suite(name, suite_dir)
    if parameters is not None and (missing := sorted(suite_parameters(data) - set(parameters))):
        raise SuiteError(f"suite {name!r}: no value for parameter(s) {missing}")
    try:
        build_suite(data)
    except SuiteError:
        raise
    except Exception as err:
        raise SuiteError(f"suite {name!r} is invalid: {type(err).__name__}: {err}") from err
    return data
