"""A GX validation's task log: our summary, not GX's import-time bookkeeping (the ~214 "Skipping registering
function ..." INFO lines that buried it), while GX's own warnings still reach the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A fresh process (GX logs at import, once per process), logging at INFO to stdout as an Airflow task does,
# the operator module imported as a DAG would, one validation and the operator's own log of its outcome.
SCRIPT = r"""
import json, logging, os, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(name)s %(message)s")
import pandas as pd
from trainset_airflow.operators.gx import GxValidationOperator
from trainset.expectations import validate_dataframe
from trainset.step import StepResult

docs = Path(sys.argv[1])
df = pd.DataFrame({"image_id": [1, 2, 3], "sharpness": [1.0, 50.0, 80.0]})
outcome = validate_dataframe(df, "gx_log_test", id_column="image_id", docs_dir=docs / "data_docs", run_name="r1")
op = GxValidationOperator(task_id="judge", sql="SELECT 1", suite_name="gx_log_test", id_column="image_id")
op.report(StepResult(summary=outcome.summary(), details=outcome.detail_lines()), {})
logging.getLogger("great_expectations.core").warning("a GX warning that matters")
print("FAILURES", json.dumps(outcome.failures))
"""


def test_gx_task_log_has_our_summary_and_no_gx_registration_noise(tmp_path):
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "gx_log_test.json").write_text(json.dumps({"name": "gx_log_test", "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "sharpness", "min_value": 10},
         "meta": {"reason_code": "blurry"}}]}), encoding="utf-8")
    env = {**os.environ, "TRAINSET_EXPECTATIONS_DIR": str(suites),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), str(ROOT / "plugins")])}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    lines = log.splitlines()
    assert "Skipping registering function" not in log
    # Once the operator module is imported, Airflow renders stdlib logging through structlog ("[info     ] msg
    # [logger]"); before that, basicConfig's "INFO logger msg".  No GX logger may say anything at INFO.
    gx_info = [line for line in lines if "great_expectations" in line
               and ("[info" in line or line.startswith("INFO great_expectations"))]
    assert not gx_info, gx_info[:5]
    assert 'FAILURES {"1": ["blurry"]}' in log
    assert any("suite gx_log_test: 3 rows, 1 failing; blurry 1" in line for line in lines), log[-3000:]
    assert any("blurry: expect_column_values_to_be_between" in line and "failed for 1 rows" in line for line in lines)
    assert any("Data Docs: file://" in line for line in lines)
    assert any("a GX warning that matters" in line and "great_expectations.core" in line for line in lines)
