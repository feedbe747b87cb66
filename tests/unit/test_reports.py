"""PM reports: progress views, CSV/XLSX exports and the CLI, and the e-mail through a real SMTP server."""

from __future__ import annotations

import datetime as dt
import smtplib
from email.message import EmailMessage

import openpyxl
import pytest
from trainset import reports
from trainset.cli import main
from trainset_dev.peers.mailsink import SmtpSink
from trainset_dev.seeds.train import seed_inspected_items

DAY = dt.date(2026, 3, 16)


@pytest.fixture
def seeded(records, tmp_path):
    seed_inspected_items(records, tmp_path / "warehouse", {"person": 4, "food": 3}, failed_share=0.3, day=DAY,
                         syntax_failures=2)
    with records.cursor() as cur:
        cur.execute("INSERT INTO quarantine (entity_kind, entity_key, stage, reason_code) VALUES "
                    "('image', '1', 'collect', 'truncated'), ('image', '2', 'collect', 'truncated')")
        cur.execute("INSERT INTO labeling_daily_results (work_date, worker_id, class_name, assigned, uploaded, missing) "
                    "VALUES (%s, 'w9', 'person', 3, 1, 2)", (DAY,))
    records.commit()
    return records


def test_views_answer_the_common_questions(seeded):
    progress = reports.view_rows(seeded, "report_progress")
    first = [r for r in progress if r["stage"] == "first_inspection" and r["class_name"] != "unknown"]
    assert sum(r["items"] for r in first) == 7 and all(r["pass_rate"] == 1.0 for r in first)
    broken = [r for r in progress if r["stage"] == "first_inspection" and r["class_name"] == "unknown"]
    assert [(r["items"], r["failed"]) for r in broken] == [(2, 2)]
    per_class = {r["class_name"]: r for r in reports.view_rows(seeded, "v_progress_per_class")}
    assert per_class["person"]["collected"] == 4 and per_class["food"]["annotated"] == 3
    assert per_class["person"]["inspection_passed"] + per_class["person"]["inspection_failed"] == 4
    reasons = reports.view_rows(seeded, "v_rejection_reasons_per_day")
    by = {(r["stage"], r["reason_code"]): r["rejections"] for r in reasons}
    assert by[("first_inspection", "invalid_json")] == 2
    assert sum(n for (s, c), n in by.items() if s == "collect" and c == "truncated") == 2
    labeling = [r for r in progress if r["stage"] == "labeling" and r["worker_id"] == "w9"]
    assert [(r["worker_id"], r["items"], r["passed"], r["failed"]) for r in labeling] == [("w9", 3, 1, 2)]
    workers = reports.view_rows(seeded, "v_worker_throughput")
    assert {r["worker_id"] for r in workers} == {"w1", "w2", "w3", "w9"}
    assert [(r["assigned"], r["uploaded"]) for r in workers if r["worker_id"] == "w9"] == [(3, 1)]
    assert all(r["first_failure_rate"] == 0 for r in workers if r["first_inspected"] and r["worker_id"] != "w1")
    assert sum(r["first_failed"] for r in workers if r["worker_id"] == "w1") == 2  # the seed's broken uploads
    with pytest.raises(ValueError, match="unknown view"):
        reports.view_rows(seeded, "images; DROP TABLE images")


def test_annotation_data_to_csv_and_key_numbers(seeded, tmp_path):
    out = reports.annotation_data_to_csv(seeded, tmp_path / "out", DAY, syntax_target=0.995)
    numbers = out["key_numbers"]
    assert numbers["first_inspected_today"] == 9 and numbers["first_passed_today"] == 7
    assert numbers["syntax_accuracy_today"] == pytest.approx(7 / 9, abs=1e-4)
    text = out["csv"].read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    assert len(text.decode("utf-8-sig").splitlines()) == out["rows"] + 1
    wb = openpyxl.load_workbook(out["xlsx"])
    summary = {r[0]: r[1] for r in wb["summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["first_inspected_today"] == 9


def test_cli_exports_a_view(seeded, records_dsn, tmp_path, capsys):
    out = tmp_path / "w.xlsx"
    assert main(["report", "export", "v_worker_throughput", "--out", str(out), "--dsn", records_dsn]) == 0
    assert "row(s)" in capsys.readouterr().out
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("worker_id", "day", "assigned") and len(rows) > 1
    csv_out = tmp_path / "r.csv"
    assert main(["report", "export", "v_rejection_reasons_per_day", "--out", str(csv_out), "--dsn", records_dsn,
                 "--from", "2030-01-01"]) == 0
    assert csv_out.read_text(encoding="utf-8-sig").strip() == "day,stage,reason_code,rejections"
    with pytest.raises(SystemExit):
        main(["report", "export", "images", "--out", str(csv_out), "--dsn", records_dsn])


def test_daily_report_is_sent_once_with_attachments(seeded, tmp_path):
    out = reports.annotation_data_to_csv(seeded, tmp_path / "out", DAY)
    files = [out["csv"], out["xlsx"]]
    with SmtpSink() as sink:
        def send(to, subject, html_body, paths):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "trainset@localhost", ", ".join(to), subject
            msg.set_content("see HTML")
            msg.add_alternative(html_body, subtype="html")
            for p in paths:
                with open(p, "rb") as fh:
                    msg.add_attachment(fh.read(), maintype="application", subtype="octet-stream",
                                       filename=p.rsplit("/", 1)[-1])
            with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
                client.send_message(msg)

        html_body = reports.report_html("demo", DAY, out["key_numbers"], attachments=[p.name for p in files])
        first = reports.send_daily_report(seeded, send, day=DAY, recipients=["pm@example.test"], subject="s",
                                          html_body=html_body, files=files)
        second = reports.send_daily_report(seeded, send, day=DAY, recipients=["pm@example.test"], subject="s",
                                           html_body=html_body, files=files)
        mails = sink.received()
    assert first["status"] == "sent" and second["status"] == "already_sent"
    assert len(mails) == 1 and mails[0].recipients == ["pm@example.test"]
    assert mails[0].attachments()[out["csv"].name] == out["csv"].read_bytes()
    assert "구문 정확성" in mails[0].html()


def test_a_failed_send_is_recorded_and_retried_later(seeded, tmp_path):
    def down(*args):
        raise smtplib.SMTPServerDisconnected("connection refused")

    with pytest.raises(smtplib.SMTPServerDisconnected):
        reports.send_daily_report(seeded, down, day=DAY, recipients=["pm@example.test"], subject="s", html_body="b",
                                  files=[])
    with seeded.cursor() as cur:
        cur.execute("SELECT status, attempts, last_error FROM notifications")
        assert cur.fetchone() == ("failed", 1, "SMTPServerDisconnected: connection refused")
    sent = []
    result = reports.send_daily_report(seeded, lambda *a: sent.append(a), day=DAY, recipients=["pm@example.test"],
                                       subject="s", html_body="b", files=[])
    assert result["status"] == "sent" and len(sent) == 1
