"""Verdicts back from the inspection server: read, validate, record, route.

The server publishes one CSV or JSON file per day under ``<server>/<inspection.verdict_prefix>/`` (the day is in
the file name, e.g. ``2026-03-14.csv``).  Columns: ``item_key`` (or ``item``), ``verdict`` (pass/fail, 합격/불합격),
``reason_category`` (annotation / refinement / image; required for a fail), ``reason_code`` (optional, from the
known set of the category; several separated by ``;``), ``comment``, ``inspector``, ``inspected_on`` (optional).

A file is ingested once per content (``verdict_files``).  Every bad row is rejected with a reason code into
``quarantine`` (and the rejected rows, with their line numbers, into the quarantine storage root); the good rows
of the same file are still recorded.  Failures are routed: annotation → the labeler's rework queue (and a Slack
notice, see ``rework``), refinement/image → refine's queue (``images.status = 'refine_rework'``).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from trainset import db, figures
from trainset.config import ProjectConfig
from trainset.step import StepContext, StepResult, StepSkipped
from trainset.storage import Storage

log = logging.getLogger(__name__)

VERDICT_VALUES = {"pass": "pass", "passed": "pass", "ok": "pass", "합격": "pass", "적합": "pass",
                  "fail": "fail", "failed": "fail", "reject": "fail", "불합격": "fail", "부적합": "fail"}
FIELD_ALIASES = {"item": "item_key", "item_id": "item_key", "file": "item_key", "category": "reason_category",
                 "reason": "reason_category", "reason_codes": "reason_code", "date": "inspected_on",
                 "inspected_at": "inspected_on"}
REFINE_STATUS = "refine_rework"  # images.status of an image sent back to refine
_DAY = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")

# Reason codes of rejected verdict rows (quarantine.reason_code).
BAD_ENCODING = "verdict_bad_encoding"
BAD_JSON = "verdict_bad_json"
MISSING_COLUMN = "verdict_missing_column"
UNKNOWN_ITEM = "verdict_unknown_item"
UNKNOWN_VERDICT = "verdict_unknown_value"
UNKNOWN_CATEGORY = "verdict_unknown_category"
UNKNOWN_REASON = "verdict_unknown_reason_code"
BAD_DATE = "verdict_bad_date"
CONFLICT = "verdict_conflicting_duplicate"


@dataclass(frozen=True)
class VerdictRow:
    line: int
    item_key: str
    verdict: str
    category: str | None
    codes: tuple[str, ...]
    comment: str | None
    inspector: str | None
    inspected_on: dt.date


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str
    detail: str
    raw: str


@dataclass
class IngestResult:
    files: int = 0
    files_skipped: int = 0
    rows: int = 0
    recorded: int = 0
    passed: int = 0
    failed_by_category: Counter = field(default_factory=Counter)
    rejected_by_reason: Counter = field(default_factory=Counter)
    to_labelers: int = 0
    to_refine: int = 0
    days: set = field(default_factory=set)

    @property
    def counts(self) -> dict:
        return {"files": self.files, "files_skipped": self.files_skipped, "rows": self.rows,
                "recorded": self.recorded, "passed": self.passed, "failed": dict(self.failed_by_category),
                "rejected": dict(self.rejected_by_reason), "to_labelers": self.to_labelers,
                "to_refine": self.to_refine}

    def summary(self) -> str:
        failed = ", ".join(f"{k} {v}" for k, v in sorted(self.failed_by_category.items())) or "none"
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(self.rejected_by_reason.items())) or "none"
        return (f"verdicts: {self.files} new file(s) ({self.files_skipped} already ingested), {self.rows} rows → "
                f"recorded {self.recorded} (pass {self.passed}; fail {failed}); rejected {sum(self.rejected_by_reason.values())} "
                f"({rejected}); rework → labelers {self.to_labelers}, refine {self.to_refine}")


def day_of(name: str) -> dt.date | None:
    m = _DAY.search(PurePosixPath(name).name)
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------------------------
# Parsing and validation (no DB)


def _records_from_csv(data: bytes) -> tuple[list[tuple[int, dict, str]], list[RejectedRow]]:
    rejected: list[RejectedRow] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Keep the lines that decode; each line that does not is rejected on its own.
        good_lines, numbers = [], []
        for n, raw in enumerate(data.split(b"\n"), start=1):
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as err:
                rejected.append(RejectedRow(n, BAD_ENCODING, f"not UTF-8 at byte {err.start}",
                                            raw.decode("utf-8", "backslashreplace")[:500]))
                continue
            good_lines.append(line)
            numbers.append(n)
        text = "\n".join(good_lines)
    else:
        numbers = None
    reader = csv.DictReader(io.StringIO(text))
    out = []
    for row in reader:
        physical = reader.line_num if numbers is None else numbers[reader.line_num - 1]
        raw = ",".join("" if v is None else str(v) for v in row.values())
        out.append((physical, {str(k).strip().lower(): v for k, v in row.items() if k is not None}, raw))
    return out, rejected


def _records_from_json(data: bytes) -> tuple[list[tuple[int, dict, str]], list[RejectedRow]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return [], [RejectedRow(0, BAD_ENCODING, f"file is not UTF-8 at byte {err.start}", "")]
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        return [], [RejectedRow(err.lineno, BAD_JSON, err.msg, text[:500])]
    rows = doc.get("verdicts", doc.get("items")) if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        return [], [RejectedRow(0, BAD_JSON, "expected a list of verdicts (or {\"verdicts\": [...]})", text[:500])]
    out, rejected = [], []
    for n, row in enumerate(rows, start=1):
        raw = json.dumps(row, ensure_ascii=False)[:500]
        if not isinstance(row, dict):
            rejected.append(RejectedRow(n, BAD_JSON, "a verdict must be an object", raw))
            continue
        out.append((n, {str(k).strip().lower(): v for k, v in row.items()}, raw))
    return out, rejected


def _check_record(line: int, record: dict, raw: str, config: ProjectConfig, known_codes: set[str],
                  default_day: dt.date | None) -> VerdictRow | RejectedRow:
    """One record of a verdict file as a ``VerdictRow``, or the ``RejectedRow`` saying why it cannot be one."""
    settings = config.inspection
    record = {FIELD_ALIASES.get(k, k): v for k, v in record.items()}

    def text(key: str) -> str | None:
        value = record.get(key)
        value = None if value is None else str(value).strip()
        return value or None

    item_key = text("item_key")
    if not item_key:
        return RejectedRow(line, MISSING_COLUMN, "no item_key", raw)
    verdict = VERDICT_VALUES.get((text("verdict") or "").lower())
    if verdict is None:
        return RejectedRow(line, UNKNOWN_VERDICT, f"verdict {text('verdict')!r} is not pass/fail", raw)
    category = (text("reason_category") or "").lower() or None
    codes = tuple(c.strip() for c in re.split(r"[;|]", text("reason_code") or "") if c.strip())
    if verdict == "fail":
        if category not in settings.verdict_categories:
            return RejectedRow(line, UNKNOWN_CATEGORY,
                               f"reason category {category!r} not in {settings.verdict_categories}", raw)
        allowed = set(settings.verdict_reason_codes.get(category, []))
        if bad := [c for c in codes if c not in allowed]:
            return RejectedRow(line, UNKNOWN_REASON, f"reason code(s) {bad} not known for {category}", raw)
    else:
        if bad := [c for c in codes if c not in known_codes]:
            return RejectedRow(line, UNKNOWN_REASON, f"reason code(s) {bad} unknown", raw)
        category = None
    day = default_day
    if text("inspected_on"):
        try:
            day = dt.date.fromisoformat(text("inspected_on")[:10])
        except ValueError:
            return RejectedRow(line, BAD_DATE, f"inspected_on {text('inspected_on')!r}", raw)
    if day is None:
        return RejectedRow(line, BAD_DATE, "no inspected_on and no date in the file name", raw)
    return VerdictRow(line, item_key, verdict, category, codes, text("comment"), text("inspector"), day)


def parse_verdicts(name: str, data: bytes, config: ProjectConfig, default_day: dt.date | None) \
        -> tuple[list[VerdictRow], list[RejectedRow]]:
    """Syntactic and vocabulary checks of one verdict file; item existence is checked against the DB later."""
    if name.lower().endswith(".json"):
        records, rejected = _records_from_json(data)
    else:
        records, rejected = _records_from_csv(data)
    rows: list[VerdictRow] = []
    seen: dict[tuple[str, dt.date], VerdictRow] = {}
    known_codes = {c for codes in config.inspection.verdict_reason_codes.values() for c in codes}
    for line, record, raw in records:
        row = _check_record(line, record, raw, config, known_codes, default_day)
        if isinstance(row, RejectedRow):
            rejected.append(row)
            continue
        earlier = seen.get((row.item_key, row.inspected_on))
        if earlier is not None:
            if (earlier.verdict, earlier.category, earlier.codes) != (row.verdict, row.category, row.codes):
                rejected.append(RejectedRow(line, CONFLICT, f"contradicts line {earlier.line} for {row.item_key}",
                                            raw))
            continue
        seen[(row.item_key, row.inspected_on)] = row
        rows.append(row)
    return rows, rejected


# ---------------------------------------------------------------------------------------------------------------
# Ingestion


def _known_items(conn, keys: list[str]) -> dict[str, dict]:
    """Items on the server (a verified transfer) with their transferred annotation, image and labeler."""
    if not keys:
        return {}
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, """
            SELECT DISTINCT ON (a.item_key) a.item_key, a.annotation_id, a.image_id, a.worker_id
            FROM annotations a
            WHERE a.item_key = ANY(%s) AND a.status = 'passed'
              AND EXISTS (SELECT 1 FROM transfers t WHERE t.item_key = a.item_key AND t.kind = 'label'
                          AND t.status IN ('verified', 'superseded'))
            ORDER BY a.item_key, a.annotation_id DESC""", (keys,))
    return {r["item_key"]: r for r in rows}


def _quarantine(conn, quarantine: Storage | None, file_uri: str, file_sha: str, rejected: list[RejectedRow],
                batch_id: str) -> None:
    if not rejected:
        return
    location = None
    if quarantine is not None:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", PurePosixPath(file_uri).name)
        body = "".join(json.dumps({"file": file_uri, "line": r.line, "reason": r.reason, "detail": r.detail,
                                   "raw": r.raw}, ensure_ascii=False) + "\n" for r in rejected)
        location = quarantine.write_bytes(f"inspection/verdicts/{name}.{file_sha[:8]}.rejected.jsonl",
                                          body.encode("utf-8"))
    with conn.cursor() as cur:
        db.execute_batch(cur, """
            INSERT INTO quarantine (entity_kind, entity_key, stage, reason_code, detail, location, batch_id)
            VALUES %s ON CONFLICT (entity_kind, entity_key, stage, reason_code) DO UPDATE
            SET detail = EXCLUDED.detail, location = EXCLUDED.location, batch_id = EXCLUDED.batch_id""",
            [("verdict", f"{file_uri}#L{r.line}", "inspection", r.reason, f"{r.detail}: {r.raw}"[:2000], location,
              batch_id) for r in rejected])


def ingest_verdicts(conn, config: ProjectConfig, verdicts: Storage, *, batch_id: str,
                    quarantine: Storage | None = None, only_day: dt.date | None = None) -> IngestResult:
    """Ingest every verdict file not ingested yet (or only ``only_day``'s), record and route the good rows."""
    result = IngestResult()
    entries = [e for e in verdicts.list("") if e.key.lower().endswith((".csv", ".json"))]
    for entry in sorted(entries, key=lambda e: e.key):
        file_day = day_of(entry.key)
        if only_day is not None and file_day != only_day:
            continue
        data = verdicts.read_bytes(entry.key)
        sha = hashlib.sha256(data).hexdigest()
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM verdict_files WHERE uri = %s AND sha256 = %s", (entry.uri, sha))
            if cur.fetchone():
                result.files_skipped += 1
                continue
        rows, rejected = parse_verdicts(entry.key, data, config, file_day)
        known = _known_items(conn, sorted({r.item_key for r in rows}))
        good = []
        for r in rows:
            if r.item_key in known:
                good.append(r)
            else:
                rejected.append(RejectedRow(r.line, UNKNOWN_ITEM, f"item {r.item_key!r} was never sent to the server",
                                            r.item_key))
        _record(conn, good, known, result)
        _quarantine(conn, quarantine, entry.uri, sha, rejected, batch_id)
        result.files += 1
        result.rows += len(good) + len(rejected)  # a file rejected whole counts as one row
        for r in rejected:
            result.rejected_by_reason[r.reason] += 1
        with conn.cursor() as cur:
            cur.execute("""INSERT INTO verdict_files (uri, sha256, verdict_day, rows_total, rows_recorded,
                                                      rows_rejected, batch_id)
                           VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (uri, sha256) DO NOTHING""",
                        (entry.uri, sha, file_day, len(good) + len(rejected), len(good), len(rejected), batch_id))
        conn.commit()  # one file's progress: its rejected rows are already written to the quarantine storage
        log.info("verdict file %s: %d recorded, %d rejected", entry.uri, len(good), len(rejected))
    return result


def verdicts_step(ctx: StepContext) -> StepResult:
    """The ``labeling_verdicts`` task: ingest the server's new verdict files (``verdict_uri``, default
    ``<storage.inspection_server>/<verdict_prefix>``; ``only_day``: just that day's file), then each verdict day's
    figures as every other surface shows them (one definition: ``trainset.figures``)."""
    config = ctx.config
    uri = ctx.arg("verdict_uri") or f"{config.storage.inspection_server}/{config.inspection.verdict_prefix}"
    only_day = ctx.arg("only_day")
    ctx.log.info("reading verdicts from %s%s", uri, f" (day {only_day})" if only_day else "")
    result = ingest_verdicts(ctx.conn, config, ctx.storages.open(uri), batch_id=f"inspection__{ctx.run_id}",
                             quarantine=ctx.storages.quarantine, only_day=only_day)
    days = [figures.server_inspection_line(figures.server_inspection(ctx.conn, figures.Scope.day(day)))
            for day in sorted(result.days)]
    return StepResult(summary=f"this run: {result.summary()}", details=days,
                      xcom={**result.counts, "days": sorted(d.isoformat() for d in result.days)})


def publish_passed_step(ctx: StepContext) -> StepResult:
    """The ``publish_inspection_passed`` task: the ``inspection_passed`` event (new passes of this run, the total
    train-handoff would release, the days and failures) when the verdicts (``ctx.upstream["verdicts"]``) recorded
    new passes; otherwise skipped, so train-handoff is not started by a day without news."""
    counts = ctx.upstream.get("verdicts") or {}
    if not counts.get("passed"):
        raise StepSkipped("no new inspection passes in this run")
    with ctx.conn.cursor() as cur:
        # The view is the one definition of a passed item (train-handoff's items read it too).
        total = db.fetch_dicts(cur, "SELECT count(*) AS n FROM inspection_passed_items")[0]["n"]
    extra = {"new_passes": counts["passed"], "total_passed": total, "days": counts.get("days", []),
             "failed": counts.get("failed", {})}
    return StepResult(summary=f"inspection_passed: {extra}", xcom=extra, event_extra=extra)


def _record(conn, rows: list[VerdictRow], known: dict[str, dict], result: IngestResult) -> None:
    if not rows:
        return
    with conn.cursor() as cur:
        db.execute_batch(cur, """
            INSERT INTO inspections (item_key, annotation_id, round, verdict, reason_codes, reason_category,
                                     inspector, comment, inspected_on)
            VALUES %s ON CONFLICT (item_key, round, inspected_on) DO UPDATE SET
                annotation_id = EXCLUDED.annotation_id, verdict = EXCLUDED.verdict,
                reason_codes = EXCLUDED.reason_codes, reason_category = EXCLUDED.reason_category,
                inspector = EXCLUDED.inspector, comment = EXCLUDED.comment, recorded_at = now()""",
            [(r.item_key, known[r.item_key]["annotation_id"], "server", r.verdict, list(r.codes), r.category,
              r.inspector, r.comment, r.inspected_on) for r in rows])
        fails = [r for r in rows if r.verdict == "fail"]
        db.execute_batch(cur, """
            INSERT INTO inspection_rework (item_key, inspected_on, reason_category, reason_codes, routed_to,
                                           worker_id, image_id, inspector, comment)
            VALUES %s ON CONFLICT (item_key, inspected_on) DO UPDATE SET
                reason_category = EXCLUDED.reason_category, reason_codes = EXCLUDED.reason_codes,
                routed_to = EXCLUDED.routed_to, inspector = EXCLUDED.inspector, comment = EXCLUDED.comment""",
            [(r.item_key, r.inspected_on, r.category, list(r.codes),
              "labeler" if r.category == "annotation" else "refine", known[r.item_key]["worker_id"],
              known[r.item_key]["image_id"], r.inspector, r.comment) for r in fails])
        # A pass recorded for a day that had a fail (a corrected file) takes the item out of that day's rework.
        passes = [(r.item_key, r.inspected_on) for r in rows if r.verdict == "pass"]
        db.execute_batch(cur, """DELETE FROM inspection_rework w USING (VALUES %s) AS v(item_key, day)
                                 WHERE w.item_key = v.item_key AND w.inspected_on = v.day::date
                                   AND w.notification_id IS NULL""", passes)
        labeler = [r for r in fails if r.category == "annotation"]
        db.execute_batch(cur, """
            INSERT INTO rework_queue (item_key, image_id, worker_id, source, reason_codes, comment, opened_on)
            SELECT v.item_key, v.image_id::bigint, v.worker_id, 'server', v.codes::text[], v.comment, v.day::date
            FROM (VALUES %s) AS v(item_key, image_id, worker_id, codes, comment, day)
            WHERE EXISTS (SELECT 1 FROM workers w WHERE w.worker_id = v.worker_id)
            ON CONFLICT (item_key, source, opened_on) DO UPDATE SET
                reason_codes = EXCLUDED.reason_codes, comment = EXCLUDED.comment""",
            [(r.item_key, known[r.item_key]["image_id"], known[r.item_key]["worker_id"],
              list(r.codes) or ["server_annotation"], r.comment, r.inspected_on) for r in labeler])
        refine = [r for r in fails if r.category in ("refinement", "image")]
        db.execute_batch(cur, """
            UPDATE images i SET status = 'refine_rework', updated_at = now(),
                   reason_codes = ARRAY(SELECT DISTINCT unnest(i.reason_codes || v.codes::text[]))
            FROM (VALUES %s) AS v(image_id, codes) WHERE i.image_id = v.image_id::bigint""",
            [(known[r.item_key]["image_id"], [f"server_{r.category}", *r.codes]) for r in refine
             if known[r.item_key]["image_id"] is not None])
    result.recorded += len(rows)
    result.passed += len(rows) - len(fails)
    for r in fails:
        result.failed_by_category[r.category] += 1
    result.to_labelers += len(labeler)
    result.to_refine += len(refine)
    result.days.update(r.inspected_on for r in rows)
