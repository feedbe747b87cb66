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

In Airflow use ``trainset_airflow.operators.gx.GxValidationOperator``: SELECT (``sql`` + ``sql_params``) ->
DataFrame -> this function -> your ``record_with`` function ``fn(conn, outcome, *, run_id, batch_id) -> dict`` in
the same DB transaction; ``parameters`` may be a callable ``fn(config) -> dict``; Data Docs default to
``<reports root>/data_docs``. ``record_image_verdicts`` below is a generic ``record_with`` for image-keyed suites.

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

import copy
import json
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas

log = logging.getLogger(__name__)

# GX logs its own bookkeeping at INFO: importing it registers its public API for its docs and logs ~214
# "Skipping registering function ..." lines (great_expectations._docs_decorators), then metric re-declarations
# and datasource loading.  A task log at INFO would bury our summary under them, so GX's loggers start at
# WARNING (its warnings and errors still show); a level set explicitly by whoever runs us is left alone.
GX_LOG_LEVEL = logging.WARNING
GX_LOGGER = "great_expectations"


def quiet_gx_logging() -> None:
    gx_logger = logging.getLogger(GX_LOGGER)
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(GX_LOG_LEVEL)


quiet_gx_logging()  # before anything imports great_expectations (its import is what logs the most)

SUITES_DIR = Path(__file__).resolve().parents[1] / "expectations"
SUITES_DIR_ENV = "TRAINSET_EXPECTATIONS_DIR"
DOCS_SITE = "trainset"
DOCS_RESULTS_LIMIT = 100
STORES_SUBDIR = ".gx_stores"
# GX's suite-parameter parser (pyparsing) is not thread-safe: one validation at a time per process. Tasks run in
# processes of their own, and across processes the Data Docs folder is guarded by a file lock.
_GX_LOCK = threading.RLock()

# Map expectations where a null is not a violation of what the expectation checks.
_NULLS_NOT_A_FAILURE = {
    "expect_column_values_to_be_null",
    "expect_column_values_to_not_be_null",  # already counts nulls as unexpected itself
    "expect_column_values_to_be_unique",
}


class SuiteError(RuntimeError):
    """The suite cannot run (bad file, unknown expectation, missing column/parameter, GX error): fail the task."""


@dataclass
class ExpectationOutcome:
    expectation_type: str
    column: str | None
    success: bool
    unexpected_count: int
    reason_code: str
    kwargs: dict
    null_count: int = 0  # rows failed because the checked value was null (see module notes)
    description: str = ""


@dataclass
class SuiteOutcome:
    suite_name: str
    success: bool
    evaluated: int
    failures: dict[str, list[str]]
    expectations: list[ExpectationOutcome]
    docs_path: Path | None
    validation_page: Path | None = None  # this run's page inside the Data Docs site
    seconds: float = 0.0
    reason_counts: dict[str, int] = field(default_factory=dict)  # reason code -> failing rows
    ids: list[str] = field(default_factory=list)  # every evaluated row id, in table order
    # Our own static pages of the same results, readable offline (``trainset.validation_report``).
    report_path: Path | None = None  # <docs_dir>/offline/index.html
    report_page: Path | None = None  # this run's offline page

    def passed_ids(self, all_ids=None) -> list[str]:
        """Ids with no failure, from ``all_ids`` (default: every evaluated row)."""
        return [str(i) for i in (self.ids if all_ids is None else all_ids) if str(i) not in self.failures]

    @property
    def failed_count(self) -> int:
        return len(self.failures)

    def summary(self) -> str:
        """One line for a PM: ``suite x: 120 rows, 7 failing; blurry 4, too_small 3; docs file:///...``."""
        reasons = ", ".join(f"{code} {n}" for code, n in self.reason_counts.items()) or "no failures"
        table = [e for e in self.expectations if not e.success and e.unexpected_count == 0 and not e.null_count]
        if table:
            reasons += "; table checks failed: " + ", ".join(e.reason_code for e in table)
        # The offline report is the link a PM can open on the office network; GX's site needs CDNs.
        link = self.report_path or self.docs_path
        docs = f"; docs {link.as_uri()}" if link else ""
        return f"suite {self.suite_name}: {self.evaluated} rows, {self.failed_count} failing; {reasons}{docs}"

    def to_dict(self) -> dict:
        """A small JSON-able digest (for XCom / CLI output)."""
        return {
            "suite": self.suite_name,
            "success": self.success,
            "evaluated": self.evaluated,
            "failed": self.failed_count,
            "passed": self.evaluated - self.failed_count,
            "reasons": dict(self.reason_counts),
            "failed_expectations": [e.reason_code for e in self.expectations if not e.success],
            "docs_path": str(self.docs_path) if self.docs_path else None,
            "validation_page": str(self.validation_page) if self.validation_page else None,
            "report_path": str(self.report_path) if self.report_path else None,
            "report_page": str(self.report_page) if self.report_page else None,
            "seconds": round(self.seconds, 3),
        }


def default_docs_dir(config) -> Path | None:
    """``<reports root>/data_docs`` when the reports root is a local folder (Data Docs are a filesystem site)."""
    reports = config.storage.reports
    return Path(reports.removeprefix("file://")) / "data_docs" if reports.startswith("file://") else None


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


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):  # numpy scalars
        return _jsonable(value.item())
    return value


def _safe_run_name(run_name: str | None) -> str | None:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_name).strip("_") or None if run_name else None


def _context(docs_dir: Path | None = None):
    """An ephemeral GX context: in-memory stores for validating; with ``docs_dir``, a filesystem Data Docs site
    there and the validation results and suites kept beside it (``docs_dir/.gx_stores``), so the index lists
    earlier runs and several suites can share one folder (GX deletes pages whose source is gone)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no usage statistics from a pipeline worker
    quiet_gx_logging()  # again: a logging config applied since our import may have reset the level
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                               data_docs_sites={}, analytics_enabled=False,
                               progress_bars=ProgressBarsConfig(globally=False))
    if docs_dir is not None:
        config.data_docs_sites = {DOCS_SITE: {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                                   "validation_results_limit": DOCS_RESULTS_LIMIT},
        }}
        stores_root = Path(docs_dir) / STORES_SUBDIR
        stores = dict(config.stores)
        stores[config.validation_results_store_name] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(stores_root / "validations")},
        }
        stores[config.expectations_store_name] = {
            "class_name": "ExpectationsStore",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(stores_root / "expectations")},
        }
        config.stores = stores
    return gx.get_context(mode="ephemeral", project_config=config)


def _null_mask(df, column: str):
    return df[column].isna()


def validate_dataframe(df: pandas.DataFrame, suite_name: str, *, id_column: str,
                       parameters: dict | None = None, docs_dir: Path | None = None,
                       run_name: str | None = None, suite_dir: Path | None = None) -> SuiteOutcome:
    """Run the suite ``include/expectations/<suite_name>.json`` on ``df``; see the module notes."""
    started = time.perf_counter()
    suite_data = load_suite(suite_name, suite_dir)
    parameters = {k: _jsonable(v) for k, v in (parameters or {}).items()}
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

    with _GX_LOCK:
        outcome, context, result = _run(df, suite_data, id_column, parameters, run_name)
        if docs_dir is not None:
            outcome.docs_path, outcome.validation_page = _build_docs(Path(docs_dir).resolve(), suite_data, context,
                                                                     result)
            outcome.report_path, outcome.report_page = _build_offline_report(Path(docs_dir).resolve(), outcome,
                                                                             run_name)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _run(df, suite_data: dict, id_column: str, parameters: dict, run_name: str | None):
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    suite_name = suite_data["name"]
    try:
        context = _context()
        suite = context.suites.add(_build_suite(suite_data))
        batch_definition = (context.data_sources.add_pandas("trainset")
                            .add_dataframe_asset(suite_name)
                            .add_batch_definition_whole_dataframe("table"))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(data=batch_definition, suite=suite, name=suite_name))
        run_id = RunIdentifier(run_name=_safe_run_name(run_name))
        result = definition.run(
            batch_parameters={"dataframe": df},
            expectation_parameters=parameters,
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [id_column]},
            run_id=run_id,
        )
    except SuiteError:
        raise
    except Exception as err:  # GX raises many types: all mean "this suite cannot run"
        raise SuiteError(f"suite {suite_name!r} cannot run: {type(err).__name__}: {err}") from err

    failures: dict[str, set[str]] = {}
    outcomes: list[ExpectationOutcome] = []
    for res in result.results:
        cfg = res.expectation_config
        meta = cfg.meta or {}
        exc = res.exception_info or {}
        # exception_info is either {"raised_exception": ...} or keyed by metric id when several metrics failed.
        raised = [exc] if "raised_exception" in exc else [v for v in exc.values() if isinstance(v, dict)]
        errors = [e.get("exception_message") for e in raised if e.get("raised_exception")]
        if errors:
            raise SuiteError(f"suite {suite_name!r}: {cfg.type} ({meta.get('reason_code')}) raised: {errors[0]}")
        code = meta["reason_code"]
        kwargs = {k: _jsonable(v) for k, v in cfg.kwargs.items()}
        column = kwargs.get("column")
        rows = res.result.get("unexpected_index_list") or []
        ids = {str(_jsonable(r[id_column])) if isinstance(r, dict) else str(_jsonable(r)) for r in rows}
        null_ids: set[str] = set()
        if (column and "missing_count" in res.result and res.result.get("missing_count")
                and cfg.type not in _NULLS_NOT_A_FAILURE and meta.get("nulls", "fail") == "fail"):
            null_ids = {str(_jsonable(v)) for v in df.loc[_null_mask(df, column), id_column]} - ids
        for row_id in ids | null_ids:
            failures.setdefault(row_id, set()).add(code)
        outcomes.append(ExpectationOutcome(
            expectation_type=cfg.type, column=column, success=bool(res.success) and not null_ids,
            unexpected_count=int(res.result.get("unexpected_count") or len(ids)), reason_code=code,
            kwargs=kwargs, null_count=len(null_ids), description=str(meta.get("description", "")),
        ))

    reason_counts: dict[str, int] = {}
    for codes in failures.values():
        for code in codes:
            reason_counts[code] = reason_counts.get(code, 0) + 1
    outcome = SuiteOutcome(
        suite_name=suite_name,
        success=all(o.success for o in outcomes),
        evaluated=len(df),
        failures={row_id: sorted(codes) for row_id, codes in sorted(failures.items())},
        expectations=outcomes,
        docs_path=None,
        reason_counts=dict(sorted(reason_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        ids=[str(_jsonable(v)) for v in df[id_column]],
    )
    return outcome, context, result


def _build_suite(data: dict):
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


def _build_docs(docs_dir: Path, suite_data: dict, context, result) -> tuple[Path | None, Path | None]:
    """Add this run to the Data Docs site in ``docs_dir``; returns (index.html, this run's page).

    Parallel tasks (mapped batches) may share one folder: the store update and the index rebuild run under an
    exclusive file lock. The stored result is slimmed to what the pages show (GX renders the partial lists),
    so the index stays quick to rebuild however large the batches are."""
    import fcntl

    suite_name = suite_data["name"]
    try:
        from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

        keys = list(context.validation_results_store.list_keys())
        if len(keys) != 1:
            raise RuntimeError(f"expected one validation result in the run's context, found {len(keys)}")
        key = keys[0]
        for res in result.results:
            for bulky in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
                res.result.pop(bulky, None)
        (docs_dir / STORES_SUBDIR).mkdir(parents=True, exist_ok=True)
        with open(docs_dir / STORES_SUBDIR / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            docs = _context(docs_dir)
            docs.suites.add_or_update(_build_suite(suite_data))
            docs.validation_results_store.set(key, result)
            # Only this run's page and the suite's page are rendered; the index is rebuilt over all stored runs.
            docs.build_data_docs(site_names=[DOCS_SITE],
                                 resource_identifiers=[key, ExpectationSuiteIdentifier(name=suite_name)])
        index = docs_dir / "index.html"
        page = docs_dir / "validations" / Path(*key.to_tuple()).with_suffix(".html")
        return (index if index.exists() else None), (page if page.exists() else None)
    except Exception as err:  # a report problem must not hide the verdicts
        log.warning("Data Docs for suite %s could not be built in %s: %s", suite_name, docs_dir, err)
        return None, None


def _build_offline_report(docs_dir: Path, outcome: SuiteOutcome,
                          run_name: str | None) -> tuple[Path | None, Path | None]:
    """Our own static pages of this run (no CDN, no script), under the Data Docs folder's lock."""
    import fcntl

    from trainset.validation_report import write_report

    try:
        (docs_dir / STORES_SUBDIR).mkdir(parents=True, exist_ok=True)
        with open(docs_dir / STORES_SUBDIR / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return write_report(docs_dir, outcome, run_name=run_name, gx_page=outcome.validation_page)
    except Exception as err:  # a report problem must not hide the verdicts
        log.warning("offline report for suite %s could not be written in %s: %s", outcome.suite_name, docs_dir, err)
        return None, None


def check_suite(name: str, parameters: dict | None = None, suite_dir: Path | None = None) -> dict:
    """Check a suite file fully (structure, GX can build every expectation, parameters present); returns it."""
    data = load_suite(name, suite_dir)
    if parameters is not None and (missing := sorted(suite_parameters(data) - set(parameters))):
        raise SuiteError(f"suite {name!r}: no value for parameter(s) {missing}")
    try:
        _build_suite(data)
    except SuiteError:
        raise
    except Exception as err:
        raise SuiteError(f"suite {name!r} is invalid: {type(err).__name__}: {err}") from err
    return data


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
