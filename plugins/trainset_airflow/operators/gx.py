"""GxValidationOperator: judge a records-DB table with a Great Expectations suite and record per-row verdicts
through a stage's function (the step ``trainset.expectations.validate_step``; Data Docs built beside).

We do not use ``airflow-provider-great-expectations``: it cannot be installed beside Airflow 3.3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trainset.expectations import default_docs_dir, validate_step
from trainset.expectations.records import RecordFn

from trainset_airflow.operators.base import TrainsetStepOperator

__all__ = ["GxValidationOperator", "default_docs_dir"]


class GxValidationOperator(TrainsetStepOperator):
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
    :param record_with: the function ``fn(conn, outcome, *, run_id, batch_id) -> dict`` that records the verdicts
        (stage-specific; one that also declares ``config`` gets the project config); its dict is returned under
        ``recorded``.
    :param batch_id: passed to ``record_with`` (templated).
    """

    step = staticmethod(validate_step)
    template_fields: Sequence[str] = ("sql", "suite_name", "docs_dir", "parameters", "batch_id", "sql_params")
    template_fields_renderers = {"sql": "sql", "parameters": "json"}
    template_ext: Sequence[str] = (".sql",)
    # No coercion: templated values pass as rendered ("" for docs_dir means "no Data Docs").
    ui_color = "#ffe5d4"

    def __init__(
        self,
        *,
        sql: str,
        suite_name: str,
        id_column: str,
        parameters: dict | Callable[..., dict] | None = None,
        docs_dir: str | Path | None = None,
        record_with: RecordFn | None = None,
        batch_id: str | None = None,
        sql_params: dict | Sequence | None = None,
        **kwargs,
    ) -> None:
        if record_with is not None and not callable(record_with):
            raise TypeError(f"record_with must be a function (import it in the DAG file), got {record_with!r}")
        super().__init__(**kwargs)
        self.sql = sql
        self.suite_name = suite_name
        self.id_column = id_column
        # Airflow calls a callable template field with (context, jinja_env) while rendering; ours takes the
        # project config at execute time, so it is kept out of the templated attribute.
        self.parameters_fn = parameters if callable(parameters) else None
        self.parameters = None if callable(parameters) else parameters
        self.docs_dir = docs_dir
        self.record_with = record_with
        self.batch_id = batch_id
        self.sql_params = sql_params

    def step_args(self) -> dict[str, Any]:
        """The templated fields plus what is not templated: the id column, ``record_with``, a parameters function."""
        args = super().step_args()
        args.update(id_column=self.id_column, record_with=self.record_with)
        if self.parameters_fn is not None:
            args["parameters"] = self.parameters_fn
        return args
