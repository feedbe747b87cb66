"""``validate_dataframe``: a suite run over a table, every failing row with its reason codes (see the package notes)."""

from __future__ import annotations

import math
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainset.expectations.docs import build_docs, build_offline_report
from trainset.expectations.gxcontext import gx_context
from trainset.expectations.outcome import ExpectationOutcome, SuiteError, SuiteOutcome
from trainset.expectations.suites import build_suite, load_suite, suite_parameters

if TYPE_CHECKING:  # pragma: no cover
    import pandas

# GX's suite-parameter parser (pyparsing) is not thread-safe: one validation at a time per process. Tasks run in
# processes of their own, and across processes the Data Docs folder is guarded by a file lock.
_GX_LOCK = threading.RLock()

# Map expectations where a null is not a violation of what the expectation checks.
_NULLS_NOT_A_FAILURE = {
    "expect_column_values_to_be_null",
    "expect_column_values_to_not_be_null",  # already counts nulls as unexpected itself
    "expect_column_values_to_be_unique",
}


def jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):  # numpy scalars
        return jsonable(value.item())
    return value


def _safe_run_name(run_name: str | None) -> str | None:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_name).strip("_") or None if run_name else None


def validate_dataframe(df: pandas.DataFrame, suite_name: str, *, id_column: str,
                       parameters: dict | None = None, docs_dir: Path | None = None,
                       run_name: str | None = None, suite_dir: Path | None = None) -> SuiteOutcome:
    """Run the suite ``include/expectations/<suite_name>.json`` on ``df``; see the package notes."""
    started = time.perf_counter()
    suite_data = load_suite(suite_name, suite_dir)
    parameters = {k: jsonable(v) for k, v in (parameters or {}).items()}
    _check_inputs(df, suite_data, id_column, parameters)
    with _GX_LOCK:
        context, result = _run_suite(df, suite_data, id_column, parameters, run_name)
        outcome = _outcome(df, suite_name, id_column, result)
        if docs_dir is not None:
            outcome.docs_path, outcome.validation_page = build_docs(Path(docs_dir).resolve(), suite_data, context,
                                                                    result)
            outcome.report_path, outcome.report_page = build_offline_report(Path(docs_dir).resolve(), outcome,
                                                                            run_name)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _check_inputs(df, suite_data: dict, id_column: str, parameters: dict) -> None:
    """What must hold before GX runs: every suite parameter given, the id column present, unique, without nulls."""
    suite_name = suite_data["name"]
    if missing := sorted(suite_parameters(suite_data) - set(parameters)):
        raise SuiteError(f"suite {suite_name!r}: no value for parameter(s) {missing} (pass them as parameters=)")
    if id_column not in df.columns:
        raise SuiteError(f"suite {suite_name!r}: id column {id_column!r} is not in the table "
                         f"(columns: {list(df.columns)})")
    if df[id_column].isna().any():
        raise SuiteError(f"suite {suite_name!r}: id column {id_column!r} has nulls")
    if df[id_column].duplicated().any():
        dupes = sorted({str(v) for v in df.loc[df[id_column].duplicated(), id_column]})[:5]
        raise SuiteError(f"suite {suite_name!r}: id column {id_column!r} is not unique (e.g. {dupes})")


def _run_suite(df, suite_data: dict, id_column: str, parameters: dict, run_name: str | None):
    """GX's validation of ``df`` in an ephemeral context; returns (context, result). Any GX error is a SuiteError."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    suite_name = suite_data["name"]
    try:
        context = gx_context()
        suite = context.suites.add(build_suite(suite_data))
        batch_definition = (context.data_sources.add_pandas("trainset")
                            .add_dataframe_asset(suite_name)
                            .add_batch_definition_whole_dataframe("table"))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(data=batch_definition, suite=suite, name=suite_name))
        result = definition.run(
            batch_parameters={"dataframe": df},
            expectation_parameters=parameters,
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [id_column]},
            run_id=RunIdentifier(run_name=_safe_run_name(run_name)),
        )
    except SuiteError:
        raise
    except Exception as err:  # GX raises many types: all mean "this suite cannot run"
        raise SuiteError(f"suite {suite_name!r} cannot run: {type(err).__name__}: {err}") from err
    return context, result


def _outcome(df, suite_name: str, id_column: str, result) -> SuiteOutcome:
    """GX's result as our outcome: each failing row id with its sorted reason codes, the counts per code."""
    failures: dict[str, set[str]] = {}
    outcomes = [_expectation_outcome(df, suite_name, id_column, res, failures) for res in result.results]
    reason_counts: dict[str, int] = {}
    for codes in failures.values():
        for code in codes:
            reason_counts[code] = reason_counts.get(code, 0) + 1
    return SuiteOutcome(
        suite_name=suite_name,
        success=all(o.success for o in outcomes),
        evaluated=len(df),
        failures={row_id: sorted(codes) for row_id, codes in sorted(failures.items())},
        expectations=outcomes,
        docs_path=None,
        reason_counts=dict(sorted(reason_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        ids=[str(jsonable(v)) for v in df[id_column]],
    )


def _expectation_outcome(df, suite_name: str, id_column: str, res, failures: dict[str, set[str]]):
    """One expectation's result; its failing row ids (and, see the notes, rows null in its column) get its reason
    code in ``failures``.  An expectation that raised inside GX makes the suite unrunnable."""
    cfg = res.expectation_config
    meta = cfg.meta or {}
    exc = res.exception_info or {}
    # exception_info is either {"raised_exception": ...} or keyed by metric id when several metrics failed.
    raised = [exc] if "raised_exception" in exc else [v for v in exc.values() if isinstance(v, dict)]
    errors = [e.get("exception_message") for e in raised if e.get("raised_exception")]
    if errors:
        raise SuiteError(f"suite {suite_name!r}: {cfg.type} ({meta.get('reason_code')}) raised: {errors[0]}")
    code = meta["reason_code"]
    kwargs = {k: jsonable(v) for k, v in cfg.kwargs.items()}
    column = kwargs.get("column")
    rows = res.result.get("unexpected_index_list") or []
    ids = {str(jsonable(r[id_column])) if isinstance(r, dict) else str(jsonable(r)) for r in rows}
    null_ids: set[str] = set()
    if (column and "missing_count" in res.result and res.result.get("missing_count")
            and cfg.type not in _NULLS_NOT_A_FAILURE and meta.get("nulls", "fail") == "fail"):
        null_ids = {str(jsonable(v)) for v in df.loc[df[column].isna(), id_column]} - ids
    for row_id in ids | null_ids:
        failures.setdefault(row_id, set()).add(code)
    return ExpectationOutcome(
        expectation_type=cfg.type, column=column, success=bool(res.success) and not null_ids,
        unexpected_count=int(res.result.get("unexpected_count") or len(ids)), reason_code=code,
        kwargs=kwargs, null_count=len(null_ids), description=str(meta.get("description", "")),
    )
