"""The PM's reports: the progress table (per day, class, stage and worker) as CSV and XLSX, the day's key
numbers, the daily e-mail's body, and exports of the ad-hoc analysis views.

Views (SQL, ``include/sql/migrations/0500_train.sql``) answer the common questions; ``export_view`` writes any
of them to CSV or XLSX (``python -m trainset report export VIEW --out FILE``).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import shutil
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from trainset import figures, outbox
from trainset.db import fetch_dicts
from trainset.step import StepContext, StepResult, StepSkipped

# The views a PM or data engineer may export, with what each answers.
VIEWS: dict[str, str] = {
    "report_progress": "items per day, stage, class and worker, with passed/failed and the pass rate",
    "v_progress_per_class": "where each class stands: collected, refined, annotated, inspected, released",
    "v_rejection_reasons_per_day": "rejections per day, stage and reason code",
    "v_worker_throughput": "per worker and day: assigned, uploaded, first-inspection and server failure rates",
    "v_release_splits": "releases with items, classes and groups per split",
    "v_labeler_quality": "품질관리 per labeler and day: GT accuracy/precision/recall, conflicts, consensus, gating",
}
QUALITY_COLUMNS = ("day", "worker_id", "gt_items", "gt_boxes", "labeled_boxes", "matched", "accuracy", "precision",
                   "recall", "mean_iou", "label_agreement", "attribute_agreement", "missing", "extra",
                   "mismatching_label", "low_overlap", "attribute_conflicts", "consensus_items",
                   "consensus_agreement", "rolling_gt_boxes", "rolling_accuracy", "gated")


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones; values are UTC as stored
    return value


def view_table(conn, view: str, *, day_from: dt.date | None = None,
               day_to: dt.date | None = None) -> tuple[list[str], list[dict]]:
    """(column names, rows) of one of ``VIEWS``, optionally limited to a day range (views with a ``day``)."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")
    where, params = [], []
    with conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", (view,))
        if "day" in {r[0] for r in cur.fetchall()}:
            if day_from:
                where.append("day >= %s")
                params.append(day_from)
            if day_to:
                where.append("day <= %s")
                params.append(day_to)
        # The view name comes from the fixed VIEWS mapping, never from free text.
        cur.execute(f"SELECT * FROM {view}" + (" WHERE " + " AND ".join(where) if where else ""), params)
        columns = [d[0] for d in cur.description]
        rows = [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in cur.fetchall()]
    return columns, rows


def view_rows(conn, view: str, **filters) -> list[dict]:
    return view_table(conn, view, **filters)[1]


def rows_to_csv(rows: Sequence[dict], columns: Sequence[str] | None = None) -> bytes:
    columns = list(columns or (rows[0].keys() if rows else []))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    # UTF-8 with BOM: Excel (Korean locale) opens Hangul correctly only with it.
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def rows_to_xlsx(sheets: dict[str, Sequence[dict]], columns: dict[str, Sequence[str]] | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title[:31])
        names = list((columns or {}).get(title) or (rows[0].keys() if rows else ["(no rows)"]))
        ws.append(names)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([row.get(c) for c in names])
        ws.freeze_panes = "A2"
        for idx, column in enumerate(names, 1):
            width = max([len(str(column))] + [len(str(r.get(column) or "")) for r in rows[:500]])
            ws.column_dimensions[ws.cell(1, idx).column_letter].width = min(40, width + 2)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_view(conn, view: str, out: Path, **filters) -> int:
    """Write a view to ``out`` (.csv or .xlsx by suffix); returns the number of rows."""
    columns, rows = view_table(conn, view, **filters)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        data = rows_to_csv(rows, columns)
    elif suffix == ".xlsx":
        data = rows_to_xlsx({view: rows}, {view: columns})
    else:
        raise ValueError(f"{out}: use a .csv or .xlsx file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}")
    tmp.write_bytes(data)
    tmp.replace(out)
    return len(rows)


def key_numbers(conn, day: dt.date, *, syntax_target: float | None = None) -> dict:
    """The day's headline numbers and the project's so far.

    ``*_today``: the first inspection of work date ``day`` and the server's verdicts of ``day``; ``*_total``: all
    days up to ``day``. Every inspection figure comes from its one definition (trainset.figures)."""
    with conn.cursor() as cur:
        r = fetch_dicts(cur, """
            SELECT
              (SELECT count(*) FROM images WHERE received_at::date = %(d)s) AS collected_today,
              (SELECT count(*) FROM images) AS collected_total,
              (SELECT count(*) FROM images WHERE dataset_name IS NOT NULL) AS refined_total,
              (SELECT count(*) FROM quarantine WHERE created_at::date = %(d)s) AS quarantined_today,
              (SELECT count(DISTINCT item_key) FROM release_items) AS released_items_total,
              (SELECT count(*) FROM releases) AS releases_total
            """, {"d": day})[0]
    out = {k: int(v) for k, v in r.items()}
    for suffix, first_scope, server_scope in (("today", figures.Scope.work_date(day), figures.Scope.day(day)),
                                              ("total", figures.Scope.all_time(day), figures.Scope.all_time(day))):
        first = figures.first_inspection(conn, first_scope)
        server = figures.server_inspection(conn, server_scope)
        out.update({
            f"assigned_{suffix}": first.assigned, f"uploaded_{suffix}": first.uploaded,
            f"missing_{suffix}": first.missing,
            f"first_inspected_{suffix}": first.inspected, f"first_passed_{suffix}": first.passed,
            f"first_failed_{suffix}": first.failed,
            f"first_pass_rate_{suffix}": first.pass_rate, f"syntax_accuracy_{suffix}": first.syntax_accuracy,
            f"server_inspected_{suffix}": server.inspected, f"server_passed_{suffix}": server.passed,
            f"server_pass_rate_{suffix}": server.pass_rate,
            f"first_inspection_scope_{suffix}": first.scope, f"inspection_scope_{suffix}": server.scope,
        })
    if syntax_target is not None:
        out["syntax_accuracy_target"] = syntax_target
        out["syntax_accuracy_status_today"] = figures.target_status(out["syntax_accuracy_today"], syntax_target)
        out["syntax_accuracy_status_total"] = figures.target_status(out["syntax_accuracy_total"], syntax_target)
    return out


def annotation_data_to_csv(conn, out_dir: Path, day: dt.date, *, syntax_target: float | None = None) -> dict:
    """The PM's progress table up to ``day`` as CSV and XLSX (the XLSX adds the key numbers and the analysis
    views as sheets). Returns the file paths, the key numbers and the row count."""
    progress = view_rows(conn, "report_progress", day_to=day)
    numbers = key_numbers(conn, day, syntax_target=syntax_target)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"progress_{day:%Y%m%d}.csv"
    xlsx_path = out_dir / f"progress_{day:%Y%m%d}.xlsx"
    csv_path.write_bytes(rows_to_csv(progress, ["day", "stage", "class_name", "worker_id", "items", "passed",
                                                "failed", "pass_rate"]))
    sheets = {
        "summary": [{"figure": k, "value": v} for k, v in numbers.items()],
        "progress": progress,
        "per_class": view_rows(conn, "v_progress_per_class"),
        "rejections": view_rows(conn, "v_rejection_reasons_per_day", day_to=day),
        "workers": view_rows(conn, "v_worker_throughput", day_to=day),
    }
    quality = view_rows(conn, "v_labeler_quality", day_to=day)
    sheets["quality"] = quality
    quality_path = out_dir / f"quality_{day:%Y%m%d}.csv"
    quality_path.write_bytes(rows_to_csv(quality, QUALITY_COLUMNS))
    xlsx_path.write_bytes(rows_to_xlsx(sheets, {"quality": QUALITY_COLUMNS}))
    return {"csv": csv_path, "xlsx": xlsx_path, "quality_csv": quality_path, "key_numbers": numbers,
            "rows": len(progress)}


def daily_report_step(ctx: StepContext) -> StepResult:
    """The ``annotation_data_to_csv`` task: the day's (``day``, default the work date) progress files into
    ``<reports>/daily/<day>/`` and the ``daily_reports`` row; XCom ``{"day", "files", "key_numbers", "rows"}``
    (the CSV and XLSX are the e-mail's attachments; the quality CSV stays beside them)."""
    config = ctx.config
    day = ctx.arg("day") or ctx.work_date
    reports = ctx.storages.reports
    work = Path(tempfile.mkdtemp(prefix="daily-report-"))
    try:
        result = annotation_data_to_csv(ctx.conn, work, day, syntax_target=config.annotate.syntax_accuracy_target)
        uris = [reports.put_file(f"daily/{day.isoformat()}/{result[k].name}", result[k]) for k in ("csv", "xlsx")]
        reports.put_file(f"daily/{day.isoformat()}/{result['quality_csv'].name}", result["quality_csv"])
        record_daily_report(ctx.conn, day, uris, result["key_numbers"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = result["key_numbers"]
    line = (f"daily report {day}: {result['rows']} progress rows; collected today {n['collected_today']}; "
            f"first inspection ({n['first_inspection_scope_today']}) {n['first_passed_today']}/"
            f"{n['first_inspected_today']} passed, ({n['first_inspection_scope_total']}) {n['first_passed_total']}/"
            f"{n['first_inspected_total']}; 구문 정확성 ({n['first_inspection_scope_total']}) "
            f"{figures.syntax_text(n['syntax_accuracy_total'], config.annotate.syntax_accuracy_target)}; "
            f"검수 ({n['inspection_scope_today']}) {n['server_passed_today']}/{n['server_inspected_today']} passed; "
            f"files {', '.join(uris)}")
    return StepResult(summary=line, xcom={"day": day.isoformat(), "files": uris, "key_numbers": n,
                                          "rows": result["rows"]})


def email_report_step(ctx: StepContext) -> StepResult:
    """The ``email_report`` task: the built report (``ctx.upstream["built"]``) e-mailed once per day to
    ``recipients`` (default ``report.recipients``; none: skipped) over ``ctx.mail``, the CSV and XLSX attached
    under their report file names; a failed send is recorded and raised (the task retries)."""
    config = ctx.config
    built = ctx.upstream["built"]
    recipients = ctx.arg("recipients") or list(config.report.recipients)
    if not recipients:
        raise StepSkipped("no recipients (config report.recipients is empty)")
    day = dt.date.fromisoformat(built["day"])
    reports = ctx.storages.reports
    work = Path(tempfile.mkdtemp(prefix="daily-mail-"))
    try:
        files = []
        for uri in built["files"]:
            key = uri[len(reports.uri) + 1:]
            fetched = reports.fetch_to(key, work)
            target = work / Path(key).name  # attachments carry the report's file name
            if fetched != target:
                shutil.copyfile(fetched, target)
            files.append(target)
        body = report_html(config.project.name, day, built["key_numbers"], attachments=[p.name for p in files])
        result = send_daily_report(ctx.conn, ctx.mail, day=day, recipients=recipients,
                                   subject=report_subject(config.project.name, day), html_body=body, files=files)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return StepResult(summary=f"daily report {day}: {result['status']} to {', '.join(recipients)}", xcom=result)


_pct = figures.pct


def report_subject(project_name: str, day: dt.date) -> str:
    return f"[trainset] {project_name} — daily report {day.isoformat()}"


def report_html(project_name: str, day: dt.date, numbers: dict, *, attachments: Sequence[str] = ()) -> str:
    target = numbers.get("syntax_accuracy_target")

    def syntax(suffix: str) -> str:
        value = numbers[f"syntax_accuracy_{suffix}"]
        return figures.syntax_text(value, target) if target is not None else _pct(value)

    rows = [("collected today / total", f"{numbers['collected_today']} / {numbers['collected_total']}"),
            ("refined (total)", numbers["refined_total"])]
    for suffix in ("today", "total"):
        scope = numbers[f"first_inspection_scope_{suffix}"]
        rows += [
            (f"labeling ({scope}): uploaded / assigned",
             f"{numbers[f'uploaded_{suffix}']} / {numbers[f'assigned_{suffix}']} "
             f"({numbers[f'missing_{suffix}']} not uploaded)"),
            (f"first inspection ({scope}): passed / inspected",
             f"{numbers[f'first_passed_{suffix}']} / {numbers[f'first_inspected_{suffix}']} "
             f"({_pct(numbers[f'first_pass_rate_{suffix}'])})"),
            (f"구문 정확성 ({scope})", syntax(suffix)),
            (f"inspection (검수, {numbers[f'inspection_scope_{suffix}']}): passed / verdicts",
             f"{numbers[f'server_passed_{suffix}']} / {numbers[f'server_inspected_{suffix}']} "
             f"({_pct(numbers[f'server_pass_rate_{suffix}'])})"),
        ]
    rows += [
        ("quarantined today", numbers["quarantined_today"]),
        ("released items / releases (total)", f"{numbers['released_items_total']} / {numbers['releases_total']}"),
    ]
    body = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    files = "".join(f"<li>{html.escape(a)}</li>" for a in attachments)
    return (f"<h2>{html.escape(project_name)} — {day.isoformat()}</h2>"
            f"<table border='1' cellpadding='4' style='border-collapse:collapse'>{body}</table>"
            + (f"<p>Attached: the progress table per day, class, stage and worker:</p><ul>{files}</ul>" if files else ""))


def send_daily_report(conn, send, *, day: dt.date, recipients: Sequence[str], subject: str, html_body: str,
                      files: Sequence[Path]) -> dict:
    """Send the day's report once through the notifications outbox (dedupe key ``daily_report:<day>``): a re-run
    of the same day is a no-op; a failed send is recorded with its error and raised (the task retries)."""
    key = f"daily_report:{day.isoformat()}"
    if not recipients:
        return {"status": "skipped", "reason": "report.recipients is empty", "dedupe_key": key}
    status = outbox.send_once(
        conn, key, "email", ", ".join(recipients), {"subject": subject, "files": [p.name for p in files]},
        lambda row: send(list(recipients), subject, html_body, [str(p) for p in files]), on_failure="raise")
    if status != "sent":
        return {"status": "already_sent", "dedupe_key": key}
    return {"status": "sent", "dedupe_key": key, "recipients": list(recipients)}


def record_daily_report(conn, day: dt.date, file_uris: Sequence[str], numbers: dict) -> None:
    import json

    with conn.cursor() as cur:
        cur.execute("""INSERT INTO daily_reports (report_day, file_uris, key_numbers) VALUES (%s, %s, %s)
                       ON CONFLICT (report_day) DO UPDATE SET file_uris = EXCLUDED.file_uris,
                           key_numbers = EXCLUDED.key_numbers, created_at = now()""",
                    (day, list(file_uris), json.dumps(numbers)))
