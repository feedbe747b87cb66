"""The daily-report lines of the demo's summary: the newest report's figures, files and e-mail."""

from __future__ import annotations

from trainset import figures
from trainset.db import fetch_dicts


def demo_summary(conn, *, run_id: str | None = None) -> list[str]:
    """The PM's lines about the newest daily report: its figures, where its files are, whether the e-mail went."""
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, "SELECT report_day, file_uris, key_numbers FROM daily_reports "
                                "ORDER BY report_day DESC LIMIT 1")
        if not rows:
            return ["daily_report: no report built yet"]
        r = rows[0]
        sent = fetch_dicts(cur, "SELECT status, recipient, attempts FROM notifications WHERE dedupe_key = %s",
                           (f"daily_report:{r['report_day'].isoformat()}",))
    n = r["key_numbers"]
    mail = (f"e-mailed to {sent[0]['recipient']} ({sent[0]['status']})" if sent
            else "not e-mailed (no recipients configured)")
    lines = [f"daily_report {r['report_day']}: collected {n.get('collected_today')} images that day, "
             f"{n.get('collected_total')} in total"]
    for suffix in ("today", "total"):
        if f"first_inspection_scope_{suffix}" not in n:
            continue
        target = n.get("syntax_accuracy_target")
        acc = n.get(f"syntax_accuracy_{suffix}")
        lines.append(
            f"  first inspection ({n[f'first_inspection_scope_{suffix}']}): {n[f'first_passed_{suffix}']}/"
            f"{n[f'first_inspected_{suffix}']} passed ({figures.pct(n[f'first_pass_rate_{suffix}'])}); 구문 정확성 "
            + (figures.syntax_text(acc, target) if target is not None else figures.pct(acc))
            + f"; 검수 ({n[f'inspection_scope_{suffix}']}): {n[f'server_passed_{suffix}']}/"
            f"{n[f'server_inspected_{suffix}']} passed ({figures.pct(n[f'server_pass_rate_{suffix}'])})")
    return [*lines, f"  {mail}", *[f"  file: {u}" for u in r["file_uris"]]]
