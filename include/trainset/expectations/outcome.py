"""What a suite run tells: one ``ExpectationOutcome`` per expectation and the ``SuiteOutcome`` of the table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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

    def detail_lines(self) -> list[str]:
        """The log lines under ``summary()``: each failed expectation with its limits, then where the reports are."""
        lines = []
        for exp in self.expectations:
            if not exp.success:
                limits = {k: v for k, v in exp.kwargs.items() if k not in ("column", "result_format", "batch_id")}
                nulls = f" (+{exp.null_count} null)" if exp.null_count else ""
                lines.append(f"  {exp.reason_code}: {exp.expectation_type}({f'{exp.column}, ' if exp.column else ''}"
                             f"{limits}) failed for {exp.unexpected_count} rows{nulls}")
        if self.report_page:
            lines.append(f"report (offline): {self.report_page.as_uri()}")
        if self.docs_path:
            lines.append(f"Data Docs: {self.docs_path.as_uri()}")
            if self.validation_page:
                lines.append(f"this validation: {self.validation_page.as_uri()}")
        else:
            lines.append("Data Docs: not built (no local docs_dir)")
        return lines

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
