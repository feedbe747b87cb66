"""Every suite committed in include/expectations builds in great_expectations with a reason code per
expectation (a suite GX cannot build would fail its DAG's task at run time)."""

from __future__ import annotations

from pathlib import Path

import pytest
from trainset.expectations import SUITES_DIR, check_suite, load_suite

SUITES = sorted(p.stem for p in Path(SUITES_DIR).glob("*.json"))


@pytest.mark.parametrize("name", SUITES)
def test_committed_suite_builds(name):
    data = check_suite(name, suite_dir=SUITES_DIR)
    assert data == load_suite(name, SUITES_DIR)
    codes = [e["meta"]["reason_code"] for e in data["expectations"]]
    assert all(codes) and len(codes) == len(data["expectations"])
