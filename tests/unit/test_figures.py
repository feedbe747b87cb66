"""The PM's figures on a day with nothing to count: every rate is n/a and n/a is never "met"."""

from __future__ import annotations

import datetime as dt

from trainset import figures, reports
from trainset.annotate import publish
from trainset.config import load_config
from trainset.storage import LocalStorage

EMPTY_DAY = dt.date(2026, 3, 18)


def test_empty_day_reads_n_a_not_met(records, tmp_path):
    config = load_config()
    target = config.annotate.syntax_accuracy_target
    fig = figures.first_inspection(records, figures.Scope.work_date(EMPTY_DAY))
    assert (fig.inspected, fig.passed, fig.missing, fig.syntax_accuracy, fig.pass_rate) == (0, 0, 0, None, None)
    assert figures.syntax_text(fig.syntax_accuracy, target) == "n/a (target 99.5%, no items)"
    server = figures.server_inspection(records, figures.Scope.day(EMPTY_DAY))
    assert (server.inspected, server.pass_rate) == (0, None)

    # The task-log line of annotate-intake's publish_results for that day.
    result = publish.publish_results(records, config, LocalStorage(tmp_path / "labeling"),
                                     LocalStorage(tmp_path / "quarantine"), EMPTY_DAY)
    assert result["syntax_accuracy"] is None and result["syntax_accuracy_met"] is None
    line = publish.results_line(result)
    assert "구문 정확성 n/a (target 99.5%, no items)" in line
    assert "met" not in line

    # The daily report's numbers and e-mail body for that day.
    numbers = reports.key_numbers(records, EMPTY_DAY, syntax_target=target)
    assert numbers["syntax_accuracy_today"] is None and numbers["syntax_accuracy_status_today"] == "no items"
    body = reports.report_html("demo", EMPTY_DAY, numbers)
    assert "n/a (target 99.5%, no items)" in body and "met" not in body


def test_rate_and_status_words():
    assert figures.pct(0.923077) == "92.3%" and figures.pct(None) == "n/a" and figures.pct(0.0) == "0.0%"
    assert figures.target_status(0.995, 0.995) == "met"
    assert figures.target_status(0.99, 0.995) == "BELOW TARGET"
    assert figures.target_met(None, 0.995) is None


def test_fig_rate_is_null_on_an_empty_denominator(records):
    with records.cursor() as cur:
        cur.execute("SELECT fig_rate(0, 0), fig_rate(24, 26), fig_rate(0, 5)")
        assert [None if v is None else float(v) for v in cur.fetchone()] == [None, 0.9231, 0.0]
