"""GxValidationOperator: judge a records-DB table with a Great Expectations suite (thin over
``trainset.expectations``), record per-row verdicts through a stage's function, and build Data Docs.

We do not use ``airflow-provider-great-expectations``: it cannot be installed beside Airflow 3.3.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException
from trainset.config import ProjectConfig, get_config
from trainset.expectations import SuiteError, SuiteOutcome, validate_dataframe

from trainset_airflow.hooks import RecordsDbHook

RecordFn = Callable[..., dict]


def default_docs_dir(config: ProjectConfig) -> Path | None:
    """``<reports root>/data_docs`` when the reports root is a local folder (Data Docs are a filesystem site)."""
    reports = config.storage.reports
    return Path(reports.removeprefix("file://")) / "data_docs" if reports.startswith("file://") else None


def import_record_fn(dotted: str) -> RecordFn:
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise ValueError(f"record_with must be a dotted path 'package.module.function', got {dotted!r}")
    fn = getattr(importlib.import_module(module_name), attr, None)
    if not callable(fn):
        raise ValueError(f"record_with {dotted!r} is not a function")
    return fn


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


def _number(value: Any) -> Any:
    """Templated parameter values arrive as strings; GX compares numbers."""
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


class GxValidationOperator(BaseOperator):
    """Run ``sql`` on the records DB, validate the table with suite ``include/expectations/<suite_name>.json``,
    and hand the outcome to ``record_with`` in the same transaction.

    Bad rows never fail the task (they get reason codes through ``record_with``); the task fails only when the
    suite cannot run (bad suite file, missing column or parameter, GX error), without retrying.

    :param sql: a SELECT yielding the table to judge (one row per entity, ``id_column`` unique).
    :param sql_params: bind parameters for ``sql`` (``%(name)s`` style), so values need not be templated into SQL.
    :param suite_name: suite file name without ``.json``.
    :param id_column: the column identifying a row; failures are keyed by ``str(value)``.
    :param parameters: suite parameters (thresholds): a dict (templated; numeric strings become numbers) or a
        callable ``fn(config) -> dict`` (or ``fn() -> dict``) called at execute time with the project config,
        so thresholds come from ``include/project.yaml``.
    :param docs_dir: local folder of the Data Docs site; default ``<reports root>/data_docs``; "" for none.
    :param records_db_conn_id: default ``config.connections.records_db``.
    :param record_with: ``fn(conn, outcome, *, run_id, batch_id) -> dict`` (or its dotted path) that records the
        verdicts (stage-specific; one that also declares ``config`` gets the project config); its dict is returned
        under ``recorded``.
    :param batch_id: passed to ``record_with`` (templated).
    """

    template_fields: Sequence[str] = ("sql", "suite_name", "docs_dir", "parameters", "batch_id", "sql_params")
    template_fields_renderers = {"sql": "sql", "parameters": "json"}
    template_ext: Sequence[str] = (".sql",)
    ui_color = "#ffe5d4"

    def __init__(
        self,
        *,
        sql: str,
        suite_name: str,
        id_column: str,
        parameters: dict | Callable[..., dict] | None = None,
        docs_dir: str | Path | None = None,
        records_db_conn_id: str | None = None,
        record_with: str | RecordFn | None = None,
        batch_id: str | None = None,
        sql_params: dict | Sequence | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.suite_name = suite_name
        self.id_column = id_column
        # Airflow calls a callable template field with (context, jinja_env) while rendering; ours takes the
        # project config at execute time, so it is kept out of the templated attribute.
        self.parameters_fn = parameters if callable(parameters) else None
        self.parameters = None if callable(parameters) else parameters
        self.docs_dir = docs_dir
        self.records_db_conn_id = records_db_conn_id
        self.record_with = record_with
        self.batch_id = batch_id
        self.sql_params = sql_params

    def _parameters(self, config: ProjectConfig) -> dict:
        params = self.parameters
        if self.parameters_fn is not None:
            fn = self.parameters_fn
            params = fn(config) if inspect.signature(fn).parameters else fn()
        if params is not None and not isinstance(params, dict):
            raise AirflowFailException(f"parameters must be a dict (or a callable returning one), got {params!r}")
        return {k: _number(v) for k, v in (params or {}).items()}

    def _docs_dir(self, config: ProjectConfig) -> Path | None:
        if self.docs_dir is None:
            return default_docs_dir(config)
        return Path(str(self.docs_dir).removeprefix("file://")) if str(self.docs_dir).strip() else None

    def execute(self, context: Context) -> dict:
        config = get_config()
        try:
            record_fn = self.record_with if callable(self.record_with) else (
                import_record_fn(self.record_with) if self.record_with else None)
        except (ImportError, ValueError) as err:  # a wrong dotted path does not fix itself on retry
            raise AirflowFailException(f"record_with {self.record_with!r}: {err}") from err
        parameters = self._parameters(config)
        docs_dir = self._docs_dir(config)
        run_id = context["run_id"]
        hook = RecordsDbHook(postgres_conn_id=self.records_db_conn_id or config.connections.records_db)
        with hook.connection() as conn:
            try:
                df = query_dataframe(conn, self.sql, self.sql_params)
                outcome = validate_dataframe(df, self.suite_name, id_column=self.id_column, parameters=parameters,
                                             docs_dir=docs_dir, run_name=run_id)
            except SuiteError as err:
                # A broken suite stays broken on retry: fail now, loudly.
                raise AirflowFailException(str(err)) from err
            self._log_outcome(outcome)
            # A record function that declares ``config`` gets the run's config (no global lookup in the domain).
            extra = {"config": config} if record_fn and "config" in inspect.signature(record_fn).parameters else {}
            recorded = record_fn(conn, outcome, run_id=run_id, batch_id=self.batch_id, **extra) if record_fn else None
        result = outcome.to_dict()
        if recorded is not None:
            result["recorded"] = recorded
            name = self.record_with if isinstance(self.record_with, str) else (
                f"{self.record_with.__module__}.{self.record_with.__qualname__}")
            self.log.info("recorded by %s: %s", name, recorded)
        return result

    def _log_outcome(self, outcome: SuiteOutcome) -> None:
        self.log.info(outcome.summary())
        for exp in outcome.expectations:
            if not exp.success:
                limits = {k: v for k, v in exp.kwargs.items() if k not in ("column", "result_format", "batch_id")}
                nulls = f" (+{exp.null_count} null)" if exp.null_count else ""
                self.log.info("  %s: %s(%s%s) failed for %d rows%s", exp.reason_code, exp.expectation_type,
                              f"{exp.column}, " if exp.column else "", limits, exp.unexpected_count, nulls)
        if outcome.report_page:
            self.log.info("report (offline): %s", outcome.report_page.as_uri())
        if outcome.docs_path:
            self.log.info("Data Docs: %s", outcome.docs_path.as_uri())
            if outcome.validation_page:
                self.log.info("this validation: %s", outcome.validation_page.as_uri())
        else:
            self.log.info("Data Docs: not built (no local docs_dir)")
