"""The figures a PM reads, each defined once.

The counts are SQL views (``include/sql/migrations/0620_figures.sql``, where each figure's numerator,
denominator and day are written down) and every rate is ``fig_rate(numerator, denominator)`` there; this module
is the one Python reader of those views. Every surface (task-log summary lines, the ``make demo`` summary, the
data card, the daily report CSV/XLSX and e-mail) takes its figures from here and formats them with ``pct`` and
``target_status``, so the same figure reads the same everywhere.

Figures (README "Figures"):

- 구문 정확성 (syntax accuracy) = first-inspected items without a syntax-family reason / first-inspected items.
- first-inspection pass rate = first-inspected items whose final verdict of the day passed / first-inspected items.
  Unit: an item uploaded for a work date; missing uploads (no_label) are counted as ``missing``, not inspected.
- inspection (검수) pass rate = pass verdicts of the inspection server / server verdicts (one per item and day).
- counts per reason = ITEMS per reason (an item with several reasons counts under each).
- per worker, per class: the same counts grouped by the labeler and by the image's class.

Scopes: ``Scope.work_date(day)`` (first inspection: that work date; server: verdicts of that day) and
``Scope.all_time(upto)`` (every day up to ``upto``, or every day at all), always printed with the figure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from trainset.db import fetch_dicts

FIRST_COUNTS = ("assigned", "uploaded", "missing", "inspected", "syntax_ok", "passed", "repaired", "failed")
SERVER_COUNTS = ("inspected", "passed", "failed")


@dataclass(frozen=True)
class Scope:
    """Which days a figure covers: ``day_from``..``day_to`` inclusive (None = open)."""

    day_from: dt.date | None
    day_to: dt.date | None
    label: str

    @classmethod
    def work_date(cls, day: dt.date) -> Scope:
        return cls(day, day, f"work date {day.isoformat()}")

    @classmethod
    def day(cls, day: dt.date) -> Scope:
        return cls(day, day, f"day {day.isoformat()}")

    @classmethod
    def all_time(cls, upto: dt.date | None = None) -> Scope:
        return cls(None, upto, "all time" + (f" to {upto.isoformat()}" if upto else ""))

    def where(self, column: str) -> tuple[str, list]:
        # ``column`` comes from this module's fixed queries, never from input.
        parts, params = ["TRUE"], []
        if self.day_from is not None:
            parts.append(f"{column} >= %s")
            params.append(self.day_from)
        if self.day_to is not None:
            parts.append(f"{column} <= %s")
            params.append(self.day_to)
        return " AND ".join(parts), params


def _rate(value) -> float | None:
    return None if value is None else float(value)


@dataclass
class FirstInspection:
    """The first inspection (1차 검수) over a scope; ``per_worker`` / ``per_class`` hold the same counts grouped."""

    scope: str
    assigned: int = 0
    uploaded: int = 0
    missing: int = 0
    inspected: int = 0
    syntax_ok: int = 0
    passed: int = 0
    repaired: int = 0
    failed: int = 0
    syntax_accuracy: float | None = None    # 구문 정확성 = syntax_ok / inspected
    pass_rate: float | None = None          # first-inspection pass rate = passed / inspected
    reasons: dict[str, int] = field(default_factory=dict)   # failed inspected items per reason (no no_label)
    per_worker: dict[str, dict] = field(default_factory=dict)
    per_class: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"scope": self.scope, **{k: getattr(self, k) for k in FIRST_COUNTS},
                "syntax_accuracy": self.syntax_accuracy, "pass_rate": self.pass_rate, "reasons": dict(self.reasons),
                "per_worker": self.per_worker, "per_class": self.per_class}


@dataclass
class ServerInspection:
    """The inspection server's verdicts (검수) over a scope."""

    scope: str
    inspected: int = 0
    passed: int = 0
    failed: int = 0
    pass_rate: float | None = None          # inspection pass rate = passed / inspected (verdicts)
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)  # category -> reason -> verdicts
    per_worker: dict[str, dict] = field(default_factory=dict)
    per_class: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"scope": self.scope, **{k: getattr(self, k) for k in SERVER_COUNTS}, "pass_rate": self.pass_rate,
                "reasons": {c: dict(r) for c, r in self.reasons.items()}, "per_worker": self.per_worker,
                "per_class": self.per_class}


def _first_sums(cur, scope: Scope, group: str | None) -> list[dict]:
    where, params = scope.where("work_date")
    sums = ", ".join(f"coalesce(sum({c}), 0)::bigint AS {c}" for c in FIRST_COUNTS)
    key = f"{group} AS key, " if group else ""
    return fetch_dicts(cur, f"""
        SELECT {key}{sums}, fig_rate(sum(syntax_ok), sum(inspected)) AS syntax_accuracy,
               fig_rate(sum(passed), sum(inspected)) AS pass_rate
        FROM fig_first_inspection WHERE {where}""" + (f" GROUP BY {group} ORDER BY {group}" if group else ""), params)


def first_inspection(conn, scope: Scope) -> FirstInspection:
    """The first inspection's figures over ``scope`` (work dates)."""
    with conn.cursor() as cur:
        total = _first_sums(cur, scope, None)[0]
        workers = _first_sums(cur, scope, "worker_id")
        classes = _first_sums(cur, scope, "class_name")
        where, params = scope.where("work_date")
        reasons = fetch_dicts(cur, f"""SELECT reason_code, sum(items)::bigint AS items FROM fig_first_inspection_reasons
                                       WHERE {where} AND NOT missing GROUP BY 1 ORDER BY 2 DESC, 1""", params)

    def counts(r: dict) -> dict:
        return {**{k: int(r[k]) for k in FIRST_COUNTS}, "syntax_accuracy": _rate(r["syntax_accuracy"]),
                "pass_rate": _rate(r["pass_rate"])}

    t = counts(total)
    return FirstInspection(scope=scope.label, **t, reasons={r["reason_code"]: int(r["items"]) for r in reasons},
                           per_worker={r["key"]: counts(r) for r in workers},
                           per_class={r["key"]: counts(r) for r in classes})


def _server_sums(cur, scope: Scope, group: str | None) -> list[dict]:
    where, params = scope.where("day")
    sums = ", ".join(f"coalesce(sum({c}), 0)::bigint AS {c}" for c in SERVER_COUNTS)
    key = f"{group} AS key, " if group else ""
    return fetch_dicts(cur, f"""SELECT {key}{sums}, fig_rate(sum(passed), sum(inspected)) AS pass_rate
                                FROM fig_server_inspection WHERE {where}"""
                       + (f" GROUP BY {group} ORDER BY {group}" if group else ""), params)


def server_inspection(conn, scope: Scope) -> ServerInspection:
    """The inspection server's figures over ``scope`` (verdict days)."""
    with conn.cursor() as cur:
        total = _server_sums(cur, scope, None)[0]
        workers = _server_sums(cur, scope, "worker_id")
        classes = _server_sums(cur, scope, "class_name")
        where, params = scope.where("day")
        reasons = fetch_dicts(cur, f"""SELECT reason_category, reason_code, sum(items)::bigint AS items
                                       FROM fig_server_inspection_reasons WHERE {where}
                                       GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2""", params)

    def counts(r: dict) -> dict:
        return {**{k: int(r[k]) for k in SERVER_COUNTS}, "pass_rate": _rate(r["pass_rate"])}

    by_category: dict[str, dict[str, int]] = {}
    for r in reasons:
        by_category.setdefault(r["reason_category"], {})[r["reason_code"]] = int(r["items"])
    return ServerInspection(scope=scope.label, **counts(total), reasons=by_category,
                            per_worker={r["key"]: counts(r) for r in workers},
                            per_class={r["key"]: counts(r) for r in classes})


def pass_rates_per_day(conn) -> dict[str, list[tuple[dt.date, float, int]]]:
    """(day, pass rate, denominator) per day with something counted: the first inspection by work date, the
    inspection server by verdict day."""
    with conn.cursor() as cur:
        first = fetch_dicts(cur, """SELECT work_date AS day, sum(inspected)::bigint AS n,
                                           fig_rate(sum(passed), sum(inspected)) AS rate
                                    FROM fig_first_inspection GROUP BY 1 HAVING sum(inspected) > 0 ORDER BY 1""")
        server = fetch_dicts(cur, """SELECT day, sum(inspected)::bigint AS n, fig_rate(sum(passed), sum(inspected)) AS rate
                                     FROM fig_server_inspection GROUP BY 1 HAVING sum(inspected) > 0 ORDER BY 1""")
    return {"first_inspection": [(r["day"], float(r["rate"]), int(r["n"])) for r in first],
            "inspection": [(r["day"], float(r["rate"]), int(r["n"])) for r in server]}


# ---------------------------------------------------------------- formatting (one way to print a figure)

def pct(value: float | None) -> str:
    """A rate as the PM reads it everywhere: one decimal, or "n/a" when nothing was counted."""
    return "n/a" if value is None else f"{value * 100:.1f}%"


def target_status(value: float | None, target: float) -> str:
    """"met", "BELOW TARGET", or "no items" (n/a is never met)."""
    if value is None:
        return "no items"
    return "met" if value >= target else "BELOW TARGET"


def target_met(value: float | None, target: float) -> bool | None:
    """True / False against the target; None when there is nothing to judge."""
    return None if value is None else value >= target


def syntax_text(value: float | None, target: float) -> str:
    """구문 정확성 as every surface prints it: ``92.3% (target 99.5%, BELOW TARGET)`` or ``n/a (target 99.5%, no
    items)``."""
    return f"{pct(value)} (target {pct(target)}, {target_status(value, target)})"


def reasons_text(reasons: dict[str, int]) -> str:
    """Counts per reason, most first (then by name), whatever order the dict arrives in (XCom, JSONB)."""
    return ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"


def first_inspection_line(f: FirstInspection, target: float) -> str:
    """The first inspection in one line, with its scope, as the task log and the demo summary print it."""
    return (f"first inspection ({f.scope}): {f.inspected} inspected, {f.passed} passed ({f.repaired} after "
            f"repair), {f.failed} failed (pass rate {pct(f.pass_rate)}); {f.missing} of {f.assigned} assigned "
            f"not uploaded (no_label); 구문 정확성 {syntax_text(f.syntax_accuracy, target)}; reasons of the "
            f"{f.failed} failed (items per reason, an item may have several): {reasons_text(f.reasons)}")


def server_inspection_line(s: ServerInspection) -> str:
    return (f"inspection (검수, {s.scope}): {s.inspected} verdicts, {s.passed} passed, {s.failed} failed "
            f"(pass rate {pct(s.pass_rate)})")
