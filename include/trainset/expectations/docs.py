"""Reports of a validation: GX's Data Docs site and our offline pages (``trainset.validation_report``), both in
one folder that parallel tasks may share (an exclusive file lock around each update)."""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path

from trainset.expectations.gxcontext import DOCS_SITE, STORES_SUBDIR, gx_context
from trainset.expectations.outcome import SuiteOutcome
from trainset.expectations.suites import build_suite

log = logging.getLogger("trainset.expectations")


def build_docs(docs_dir: Path, suite_data: dict, context, result) -> tuple[Path | None, Path | None]:
    """Add this run to the Data Docs site in ``docs_dir``; returns (index.html, this run's page).

    Parallel tasks (mapped batches) may share one folder: the store update and the index rebuild run under an
    exclusive file lock. The stored result is slimmed to what the pages show (GX renders the partial lists),
    so the index stays quick to rebuild however large the batches are."""
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
            docs = gx_context(docs_dir)
            docs.suites.add_or_update(build_suite(suite_data))
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


def build_offline_report(docs_dir: Path, outcome: SuiteOutcome,
                          run_name: str | None) -> tuple[Path | None, Path | None]:
    """Our own static pages of this run (no CDN, no script), under the Data Docs folder's lock."""
    from trainset.validation_report import write_report

    try:
        (docs_dir / STORES_SUBDIR).mkdir(parents=True, exist_ok=True)
        with open(docs_dir / STORES_SUBDIR / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return write_report(docs_dir, outcome, run_name=run_name, gx_page=outcome.validation_page)
    except Exception as err:  # a report problem must not hide the verdicts
        log.warning("offline report for suite %s could not be written in %s: %s", outcome.suite_name, docs_dir, err)
        return None, None
