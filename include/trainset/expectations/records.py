"""A suite run over a records-DB table as a pipeline step: ``validate_step`` (the GX task of every DAG: SELECT →
validate → the stage's ``record_with`` in the same transaction → ``StepResult``) and ``record_image_verdicts``, a
generic ``record_with`` for image-keyed suites."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from trainset.config import ProjectConfig
from trainset.expectations.outcome import SuiteError, SuiteOutcome
from trainset.expectations.validate import validate_dataframe
from trainset.step import StepContext, StepInputError, StepResult

# ``fn(conn, outcome, *, run_id, batch_id[, config]) -> dict``: a stage's verdicts into the records DB.
RecordFn = Callable[..., dict | None]


def default_docs_dir(config: ProjectConfig) -> Path | None:
    """``<reports root>/data_docs`` when the reports root is a local folder (Data Docs are a filesystem site)."""
    reports = config.storage.reports
    return Path(reports.removeprefix("file://")) / "data_docs" if reports.startswith("file://") else None


def docs_dir_for(value: str | Path | None, config: ProjectConfig) -> Path | None:
    """The Data Docs folder a task asked for: None = the default, "" = none, else a path or ``file://`` URI."""
    if value is None:
        return default_docs_dir(config)
    return Path(str(value).removeprefix("file://")) if str(value).strip() else None


def _number(value: Any) -> Any:
    """Templated parameter values arrive as strings; GX compares numbers."""
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def suite_arguments(parameters: dict | Callable[..., dict] | None, config: ProjectConfig) -> dict:
    """The suite's parameters: a dict (numeric strings become numbers) or ``fn(config)`` / ``fn()`` returning one."""
    if callable(parameters):
        parameters = parameters(config) if inspect.signature(parameters).parameters else parameters()
    if parameters is not None and not isinstance(parameters, dict):
        raise StepInputError(f"parameters must be a dict (or a callable returning one), got {parameters!r}")
    return {k: _number(v) for k, v in (parameters or {}).items()}


def query_dataframe(conn, sql: str, params: dict | Sequence | None = None):
    """Run a SELECT on a DB-API connection into a DataFrame; NUMERIC columns become floats (GX compares numbers)."""
    import pandas as pd

    with conn.cursor() as cur:
        cur.execute(sql, params or None)
        if cur.description is None:
            raise SuiteError("the sql did not return a table (use a SELECT)")
        columns = [d[0] for d in cur.description]
        df = pd.DataFrame.from_records(cur.fetchall(), columns=columns)
    for column in df.columns:
        if df[column].dtype == object:
            values = df[column].dropna()
            if len(values) and all(isinstance(v, Decimal) for v in values):
                df[column] = df[column].astype(float)
    return df


def record_verdicts(record: RecordFn, ctx: StepContext, outcome: SuiteOutcome) -> dict | None:
    """Call the stage's ``record_with``; a function that declares ``config`` gets the run's config (no global)."""
    kwargs: dict[str, Any] = {"run_id": ctx.run_id, "batch_id": ctx.arg("batch_id")}
    if "config" in inspect.signature(record).parameters:
        kwargs["config"] = ctx.config
    return record(ctx.conn, outcome, **kwargs)


def validate_step(ctx: StepContext) -> StepResult:
    """The GX task: run ``sql`` (bind ``sql_params``) on the records DB, validate the table with suite
    ``suite_name`` (rows keyed by ``id_column``; thresholds from ``parameters``), and hand the outcome to
    ``record_with`` in the same transaction.  Bad rows never fail the step (they get reason codes through
    ``record_with``); a suite that cannot run (bad file, missing column or parameter, GX error) is a
    ``StepInputError``: it stays broken on retry.  The XCom is the outcome's digest (+ ``recorded``)."""
    parameters = suite_arguments(ctx.arg("parameters"), ctx.config)
    docs_dir = docs_dir_for(ctx.args.get("docs_dir"), ctx.config)
    try:
        df = query_dataframe(ctx.conn, ctx.arg("sql"), ctx.arg("sql_params"))
        outcome = validate_dataframe(df, ctx.arg("suite_name"), id_column=ctx.arg("id_column"),
                                     parameters=parameters, docs_dir=docs_dir, run_name=ctx.run_id)
    except SuiteError as err:
        raise StepInputError(str(err)) from err
    xcom, details = outcome.to_dict(), outcome.detail_lines()
    record = ctx.arg("record_with")
    recorded = record_verdicts(record, ctx, outcome) if record else None
    if recorded is not None:
        xcom["recorded"] = recorded
        details.append(f"recorded by {record.__module__}.{record.__qualname__}: {recorded}")
    return StepResult(summary=outcome.summary(), xcom=xcom, details=details)


def record_image_verdicts(conn, outcome: SuiteOutcome, *, run_id: str, batch_id: str | None = None) -> dict:
    """A generic ``record_with`` for suites keyed by ``image_id``: one ``check_results`` row per image and suite
    (``check_name = "suite:<name>"``, passed, the first reason code, every code in ``details.reasons``).
    Upserts, so a re-run of the same run changes nothing. Image status changes stay with each stage.
    """
    from trainset.db import execute_batch

    ids = outcome.ids
    check = f"suite:{outcome.suite_name}"
    rows = []
    for image_id in ids:
        reasons = outcome.failures.get(image_id, [])
        details = json.dumps({"reasons": reasons, "run_id": run_id, "suite": outcome.suite_name})
        rows.append((int(image_id), check, not reasons, reasons[0] if reasons else None, details, batch_id))
    with conn.cursor() as cur:
        execute_batch(cur, "INSERT INTO check_results (image_id, check_name, passed, reason_code, details, batch_id) "
                           "VALUES %s ON CONFLICT (image_id, check_name) DO UPDATE SET passed = EXCLUDED.passed, "
                           "reason_code = EXCLUDED.reason_code, details = EXCLUDED.details, "
                           "batch_id = EXCLUDED.batch_id, measured_at = now()", rows)
    return {"rows": len(rows), "failed": sum(1 for r in rows if not r[2])}
