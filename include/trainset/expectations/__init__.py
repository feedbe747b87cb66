"""Great Expectations suites that judge measurement tables, row by row, with a reason code per failure.

Usage (any stage)::

    from trainset.expectations import SuiteError, validate_dataframe

    outcome = validate_dataframe(df, "refine_measurements", id_column="image_id",
                                 parameters={"blur_min_sharpness": cfg.refine.quality.blur_min_sharpness},
                                 docs_dir=Path(".../reports/data_docs"), run_name=run_id)
    outcome.failures          # {"17": ["blurry", "too_small"], ...}  row id (as str) -> sorted reason codes
    outcome.passed_ids(df["image_id"])   # ids with no failure
    outcome.expectations      # one ExpectationOutcome per expectation (table-level ones included)
    outcome.docs_path         # .../data_docs/index.html (None without docs_dir)

As a pipeline step use ``validate_step`` (``records``; in Airflow ``trainset_airflow.operators.gx.
GxValidationOperator``): SELECT (``sql`` + ``sql_params``) -> DataFrame -> this function -> your ``record_with``
function ``fn(conn, outcome, *, run_id, batch_id) -> dict`` (it may also take ``config``) in the same DB
transaction; ``parameters`` may be a callable ``fn(config) -> dict``; Data Docs default to
``<reports root>/data_docs``. ``record_image_verdicts`` is a generic ``record_with`` for image-keyed suites.

Modules: ``outcome`` (what a run tells), ``suites`` (suite files), ``validate`` (the run), ``gxcontext`` (GX's
context and logging), ``docs`` (Data Docs and the offline pages), ``records`` (the step over the records DB).

Suites are versioned JSON files ``include/expectations/<name>.json`` (GX 1.x ExpectationSuite form)::

    {"name": "refine_measurements",
     "expectations": [
       {"type": "expect_column_values_to_be_between",
        "kwargs": {"column": "sharpness", "min_value": {"$PARAMETER": "blur_min_sharpness"}},
        "meta": {"reason_code": "blurry", "description": "sharpness below the configured minimum"}}]}

- Every expectation needs ``meta.reason_code`` (SuiteError otherwise). Thresholds come from the project config
  through GX suite parameters (``{"$PARAMETER": "name"}``, values passed as ``parameters=``); a parameter the
  suite uses but the caller does not pass is a SuiteError.
- Row-level (map) expectations give each failing row its reason code, whatever ``mostly`` says: ``mostly`` only
  decides whether the *expectation* (the batch as a whole) succeeds; every unexpected row is still rejected.
  Uniqueness expectations mark every row of a duplicated group (GX reports all of them).
- Missing values: GX skips nulls/NaN in map expectations (and leaves them out of the ``mostly`` denominator).
  A row whose checked column is null was not measured, so it must not pass: for single-column map expectations
  we add those rows to the expectation's failures with the same reason code (``null_count`` tells how many),
  and the expectation then counts as failed. Exceptions: ``expect_column_values_to_be_null`` / ``..._unique``
  (nulls are not a violation there), and any expectation with ``meta.nulls: "ignore"``. Suites that want a
  distinct code for unmeasured rows add ``expect_column_values_to_not_be_null`` with e.g. ``not_measured``.
- Table-level expectations (row count, column set, ...) report success/failure in ``expectations`` only; they
  give no row ids. ``SuiteOutcome.success`` is False when any expectation failed.
- SuiteError means the suite could not run (bad file, unknown expectation or argument, missing column or
  parameter, GX exception); bad *rows* never raise.
- Data Docs: with ``docs_dir`` a filesystem site is (re)built there, and our own static pages of the same
  results in ``docs_dir/offline/`` (``trainset.validation_report``: one local CSS file, no CDN, no script, so they
  render on a network without internet; ``outcome.report_path`` / ``report_page``, the link in ``summary()``); validation results (slimmed to what the
  pages show) and suites are kept in ``docs_dir/.gx_stores`` so the index lists earlier runs too (newest 100).
  Parallel tasks may share one folder (file lock). Docs failures are logged, not raised (``docs_path`` is then
  None): the verdicts matter more than the report.
- GX is not thread-safe: validations in one process are serialized by a lock (Airflow tasks are processes).
- Cost (``benchmarks/gx_bench.py``): importing great_expectations takes 5-15 s once per process; after that
  GX's per-expectation overhead dominates: ``refine_measurements`` (19 expectations) takes ~1-1.5 s whether the
  table has 200 or 5,000 rows, and Data Docs add ~1-2 s (2 busy cores). Judge a batch in one call, not per row.
- CLI: ``python -m trainset expectations list|check|run`` (see ``trainset.commands.expectations``).
"""

from __future__ import annotations

# gxcontext first: it quiets GX's loggers before anything imports great_expectations.
from trainset.expectations.gxcontext import GX_LOG_LEVEL, GX_LOGGER, quiet_gx_logging
from trainset.expectations.outcome import ExpectationOutcome, SuiteError, SuiteOutcome
from trainset.expectations.records import (
    default_docs_dir,
    query_dataframe,
    record_image_verdicts,
    suite_arguments,
    validate_step,
)
from trainset.expectations.suites import (
    SUITES_DIR,
    SUITES_DIR_ENV,
    check_suite,
    load_suite,
    suite_parameters,
    suite_path,
    suites_dir,
)
from trainset.expectations.validate import validate_dataframe

__all__ = [
    "GX_LOGGER", "GX_LOG_LEVEL", "SUITES_DIR", "SUITES_DIR_ENV", "ExpectationOutcome", "SuiteError", "SuiteOutcome",
    "check_suite", "default_docs_dir", "load_suite", "query_dataframe", "quiet_gx_logging", "record_image_verdicts",
    "suite_arguments", "suite_parameters", "suite_path", "suites_dir", "validate_dataframe", "validate_step",
]
