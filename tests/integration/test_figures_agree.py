"""One demo day through every stage (dag.test()), then every surface a PM reads: the figures agree, figure by
figure, with each other and with a count made here from the raw records (annotations, inspections).

Surfaces: annotate-intake's task-log line (publish_results), the `make demo` summary lines, the data card
(HTML and quality.json), the daily report (XLSX summary and workers sheets, CSV, e-mail body) and the
missing-upload Slack message. A re-run of collect says what it did ("this run: 0 registered")."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
from trainset import db, figures
from trainset.annotate import demo as annotate_demo
from trainset.annotate import service
from trainset.annotate.model import SYNTAX_REASONS
from trainset.collect import demo_summary as collect_summary
from trainset.config import get_config
from trainset.demo import build_drop_zone
from trainset.inspection import demo as inspection_demo
from trainset.mailsink import SmtpSink
from trainset.reports import demo_summary as report_summary
from trainset.train import demo_summary as train_summary

WORK_DATE = dt.date(2026, 3, 16)   # the demo's labeling day
REPORT_DAY = dt.date(2026, 3, 17)  # the demo's verdict day and daily report


@pytest.fixture
def demo_day(project_env, run_dag, monkeypatch):
    """The demo's stages as `make demo` runs them; returns what the surfaces need."""
    with SmtpSink() as mail:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", mail.airflow_connection())
        conn = project_env.records
        config = get_config()
        build_drop_zone(project_env.data_root / "drop_zone")
        runs = {"collect": run_dag("collect"), "refine": run_dag("refine")}
        annotate_demo.demo_prepare(conn=conn, config=config)
        conn.commit()
        runs["annotate_intake"] = run_dag("annotate_intake", conf={"work_date": WORK_DATE.isoformat()})
        runs["transfer"] = run_dag("inspection")
        inspection_demo.demo_prepare(conn=conn, config=config)
        conn.commit()
        runs["inspection"] = run_dag("inspection")
        runs["train_handoff"] = run_dag("train_handoff")
        runs["daily_report"] = run_dag("daily_report", conf={"day": REPORT_DAY.isoformat()})
        mails = mail.received()
    return conn, config, runs, mails


def _truth(conn) -> dict:
    """The first inspection of the work date counted here from the raw records, independently of the views."""
    with conn.cursor() as cur:
        items = db.fetch_dicts(cur, """
            SELECT DISTINCT ON (a.item_key) a.item_key, a.worker_id, a.status, a.reason_codes,
                   COALESCE(i.class_name, a.class_name, 'unknown') AS class_name
            FROM annotations a LEFT JOIN images i USING (image_id)
            WHERE a.work_date = %s ORDER BY a.item_key, a.annotation_id DESC""", (WORK_DATE,))
        cur.execute("SELECT count(*) FROM inspections WHERE round = 'first' AND inspected_on = %s "
                    "AND reason_codes = '{no_label}' AND annotation_id IS NULL", (WORK_DATE,))
        missing = cur.fetchone()[0]
        server = db.fetch_dicts(cur, "SELECT verdict FROM inspections WHERE round = 'server'")
    failed = [i for i in items if i["status"] != "passed"]
    return {
        "inspected": len(items), "passed": len(items) - len(failed), "failed": len(failed), "missing": missing,
        "syntax_ok": sum(1 for i in items if not set(i["reason_codes"]) & SYNTAX_REASONS),
        "reasons": Counter(c for i in failed for c in i["reason_codes"]),
        "per_worker": Counter(i["worker_id"] for i in items),
        "per_class": Counter(i["class_name"] for i in items),
        "server": (len(server), sum(1 for v in server if v["verdict"] == "pass")),
    }


def _card_value(page: str, label: str) -> str:
    m = re.search(rf"<td>{re.escape(html.escape(label))}</td><td>(.*?)</td>", page)
    assert m, f"data card has no row {label!r}"
    return html.unescape(m.group(1))


def test_every_surface_shows_the_same_figures(demo_day, project_env, run_dag):
    conn, config, runs, mails = demo_day
    target = config.annotate.syntax_accuracy_target
    truth = _truth(conn)
    # The demo's known shape (so this test notices when the demo changes under it).
    assert truth["inspected"] == 26 and truth["missing"] == 4 and truth["failed"] == 6

    syntax = truth["syntax_ok"] / truth["inspected"]
    first_rate = truth["passed"] / truth["inspected"]
    server_rate = truth["server"][1] / truth["server"][0]
    syntax_words = figures.syntax_text(round(syntax, 4), target)          # "92.3% (target 99.5%, BELOW TARGET)"
    reasons_words = ", ".join(f"{k} {v}" for k, v in sorted(truth["reasons"].items(), key=lambda kv: (-kv[1], kv[0])))
    counts_words = f"{truth['inspected']} inspected, {truth['passed']} passed"

    # 1. annotate-intake's task-log line (what LabelingResultsOperator logs) and its XCom.
    published = runs["annotate_intake"].get_task_instance(
        "labeling_refinement_validation.publish_results").xcom_pull(
        task_ids="labeling_refinement_validation.publish_results")
    log_line = service.results_line(published)
    assert counts_words in log_line and f"{truth['failed']} failed" in log_line
    assert f"구문 정확성 {syntax_words}" in log_line
    assert f"pass rate {figures.pct(first_rate)}" in log_line
    assert f"{truth['missing']} of " in log_line and "not uploaded" in log_line
    assert f"reasons of the {truth['failed']} failed (items per reason" in log_line
    assert log_line.endswith(reasons_words)
    assert "no_label" not in reasons_words  # missing uploads are counted as missing, not as failed items

    # 2. the `make demo` summary: annotate-intake, inspection, train-handoff, daily report.
    annotate_lines = "\n".join(annotate_demo.demo_summary(conn, WORK_DATE))
    assert log_line in annotate_lines
    for worker, n in truth["per_worker"].items():
        assert f"  {worker}: assigned " in annotate_lines and f"first-inspected {n}," in annotate_lines.split(
            f"  {worker}: ")[1].splitlines()[0]
    inspection_lines = "\n".join(inspection_demo.demo_summary(conn))
    assert (f"{truth['server'][0]} verdicts, {truth['server'][1]} passed" in inspection_lines
            and f"pass rate {figures.pct(server_rate)}" in inspection_lines)
    train_lines = "\n".join(train_summary(conn, run_id=runs["train_handoff"].run_id))
    assert f"this run: published " in train_lines
    assert (f"구문 정확성 {syntax_words}, first-inspection pass rate {figures.pct(first_rate)}, inspection pass rate "
            f"{figures.pct(server_rate)}") in train_lines
    report_lines = "\n".join(report_summary(conn))
    assert (f"first inspection (all time to {REPORT_DAY}): {truth['passed']}/{truth['inspected']} passed "
            f"({figures.pct(first_rate)}); 구문 정확성 {syntax_words}") in report_lines
    assert f"first inspection (work date {REPORT_DAY}): 0/0 passed (n/a); 구문 정확성 n/a" in report_lines

    # 3. the data card (HTML and quality.json).
    with conn.cursor() as cur:
        cur.execute("SELECT uri FROM releases ORDER BY created_at DESC LIMIT 1")
        release = Path(cur.fetchone()[0].removeprefix("file://"))
    page = (release / "datacard" / "index.html").read_text(encoding="utf-8")
    assert _card_value(page, "구문 정확성 (syntax accuracy)") == syntax_words
    assert _card_value(page, "first inspection pass rate").startswith(
        f"{figures.pct(first_rate)} ({truth['passed']} of {truth['inspected']} first-inspected items")
    assert _card_value(page, "inspection (검수) pass rate").startswith(
        f"{figures.pct(server_rate)} ({truth['server'][1]} of {truth['server'][0]} server verdicts")
    quality = json.loads((release / "quality.json").read_text(encoding="utf-8"))
    assert quality["first_inspected"] == truth["inspected"] and quality["first_passed"] == truth["passed"]
    assert quality["syntax_accuracy"] == pytest.approx(syntax, abs=5e-5)

    # 4. the daily report: XLSX summary and workers sheets, CSV, e-mail body.
    built = runs["daily_report"].get_task_instance("annotation_data_to_csv").xcom_pull(
        task_ids="annotation_data_to_csv")
    files = {Path(u).name: Path(u.removeprefix("file://")) for u in built["files"]}
    wb = openpyxl.load_workbook(files[f"progress_{REPORT_DAY:%Y%m%d}.xlsx"])
    summary = {r[0]: r[1] for r in wb["summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["first_inspected_total"] == truth["inspected"] and summary["first_passed_total"] == truth["passed"]
    assert summary["missing_total"] == truth["missing"]
    assert summary["syntax_accuracy_total"] == pytest.approx(syntax, abs=5e-5)
    assert summary["first_pass_rate_total"] == pytest.approx(first_rate, abs=5e-5)
    assert summary["server_pass_rate_total"] == pytest.approx(server_rate, abs=5e-5)
    assert summary["syntax_accuracy_today"] is None and summary["syntax_accuracy_status_today"] == "no items"
    sheet = list(wb["workers"].iter_rows(values_only=True))
    header = sheet[0]
    workers = [dict(zip(header, row, strict=True)) for row in sheet[1:]]
    per_worker = {w["worker_id"]: w["first_inspected"] for w in workers if w["day"].date() == WORK_DATE}
    assert {w: n for w, n in per_worker.items() if n} == dict(truth["per_worker"])
    rejections = [dict(zip([c.value for c in wb["rejections"][1]], row, strict=True))
                  for row in wb["rejections"].iter_rows(min_row=2, values_only=True)]
    first_reasons = {r["reason_code"]: r["rejections"] for r in rejections if r["stage"] == "first_inspection"}
    assert {k: v for k, v in first_reasons.items() if k != "no_label"} == dict(truth["reasons"])
    assert first_reasons.get("no_label") == truth["missing"]
    csv_rows = files[f"progress_{REPORT_DAY:%Y%m%d}.csv"].read_text(encoding="utf-8-sig").splitlines()
    per_class: Counter = Counter()
    for row in csv_rows[1:]:
        day, stage, class_name, _worker, items = row.split(",")[:5]
        if stage == "first_inspection" and day == WORK_DATE.isoformat():
            per_class[class_name] += int(items)
    assert per_class == truth["per_class"]
    assert len(mails) == 1
    body = mails[0].html()
    assert html.escape(syntax_words) in body
    assert f"{truth['passed']} / {truth['inspected']} ({figures.pct(first_rate)})" in body

    # 5. Slack: the missing-upload message names as many items as the figures count missing for that worker.
    fig = figures.first_inspection(conn, figures.Scope.work_date(WORK_DATE))
    texts = [m.body.get("text", "") for m in project_env.slack.messages("chat.postMessage")]
    missing_texts = [t for t in texts if "미제출" in t]
    assert len(missing_texts) == sum(1 for w in fig.per_worker.values() if w["missing"])
    assert any(f"미제출 {w['missing']}건" in t for t in missing_texts for w in fig.per_worker.values() if w["missing"])

    # 6. a re-run says what it did, then the totals, labelled.
    again = run_dag("collect")
    lines = collect_summary(conn, run_id=again.run_id)
    assert lines[0].startswith("this run: 0 registered (nothing new")
    assert lines[1].startswith("all time: ")
