"""The first inspection's verdicts (task ``labeling_validation.first_inspection``, the GX operator's
``record_with``): the suite's failures become each item's verdict (``annotations``, ``inspections`` round
'first'), and the assignments follow.  ``record_verdicts`` also records the second round (``remedies``)."""

from __future__ import annotations

import datetime as dt
import json

from trainset.annotate.model import REASON_CATEGORY, REFINEMENT_REASONS, SYNTAX_REASONS, Finding
from trainset.annotate.rules import findings_from_failures
from trainset.annotate.workday import day_from_batch_id
from trainset.db import execute_batch, fetch_dicts


def record_verdicts(cur, day: dt.date, verdicts: dict[int, list[Finding]], round_name: str,
                    item_keys: dict[int, str] | None = None) -> None:
    """annotations status/reasons and one inspections row per item (the last annotation of an item wins).

    ``item_keys`` names the item each verdict is about (default: the annotation's current key); the first round
    passes the key as uploaded, so a later repair that re-keys the label does not change the first verdict."""
    if not verdicts:
        return
    rows = fetch_dicts(cur, "SELECT annotation_id, item_key FROM annotations WHERE annotation_id = ANY(%s)",
                       (list(verdicts),))
    updates, inspections = [], {}
    for r in sorted(rows, key=lambda r: r["annotation_id"]):
        if item_keys and r["annotation_id"] in item_keys:
            r["item_key"] = item_keys[r["annotation_id"]]
        found = verdicts[r["annotation_id"]]
        codes = sorted({f.code for f in found})
        updates.append((r["annotation_id"], "failed" if codes else "passed", codes,
                        json.dumps([f.model_dump() for f in found], ensure_ascii=False)))
        category = _category(codes)
        inspections[r["item_key"]] = (r["item_key"], r["annotation_id"], round_name, "fail" if codes else "pass",
                                      codes, category, "auto", None, day)
    execute_batch(cur, """UPDATE annotations a SET status = v.status, reason_codes = v.codes::text[],
                                 findings = v.findings::jsonb, updated_at = now()
                          FROM (VALUES %s) AS v(annotation_id, status, codes, findings)
                          WHERE a.annotation_id = v.annotation_id""", updates)
    upsert_inspections(cur, list(inspections.values()))


def _category(codes: list[str]) -> str | None:
    if not codes:
        return None
    cats = {REASON_CATEGORY.get(c, "annotation") for c in codes}
    return "refinement" if cats <= {"pairing", "image"} and set(codes) & REFINEMENT_REASONS else "annotation"


def upsert_inspections(cur, rows: list[tuple]) -> None:
    # One row per (item, round, day) per statement (PostgreSQL refuses to upsert a row twice in one statement).
    rows = list({(r[0], r[2], r[8]): r for r in rows}.values())
    execute_batch(cur, """
        INSERT INTO inspections (item_key, annotation_id, round, verdict, reason_codes, reason_category, inspector,
                                 comment, inspected_on) VALUES %s
        ON CONFLICT (item_key, round, inspected_on) DO UPDATE SET annotation_id = EXCLUDED.annotation_id,
            verdict = EXCLUDED.verdict, reason_codes = EXCLUDED.reason_codes,
            reason_category = EXCLUDED.reason_category, recorded_at = now()""", rows)


def record_first_inspection(conn, outcome, *, run_id: str, batch_id: str) -> dict:
    """``record_with`` for the GX operator: the suite's failures become the day's first-inspection verdicts."""
    day = day_from_batch_id(batch_id)
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, "SELECT row_id, ref, item_key, row_where FROM annotation_rule_rows WHERE work_date = %s",
                           (day,))
        findings = findings_from_failures(outcome.failures, rows)
        refs = {r["ref"] for r in rows}
        verdicts = {int(ref): findings.get(ref, []) for ref in refs if not ref.startswith("missing:")}
        # Syntax failures never reached the table: their first inspection is the schema's verdict.
        syntax = fetch_dicts(cur, """SELECT annotation_id, item_key, reason_codes FROM annotations
                                     WHERE work_date = %s AND status = 'failed'
                                       AND reason_codes && %s::text[]""", (day, sorted(SYNTAX_REASONS)))
        uploaded_keys = {int(r["ref"]): r["item_key"] for r in rows if not r["ref"].startswith("missing:")}
        # A broken upload first, so a readable upload of the same item the same day gives the item's verdict.
        upsert_inspections(cur, [(r["item_key"], r["annotation_id"], "first", "fail", r["reason_codes"],
                                  "annotation", "auto", None, day) for r in syntax])
        record_verdicts(cur, day, verdicts, "first", uploaded_keys)
        missing = [r for r in rows if r["ref"].startswith("missing:") and r["row_id"].endswith(":item")]
        upsert_inspections(cur, [(r["item_key"], None, "first", "fail", ["no_label"], "annotation", "auto", None,
                                  day) for r in missing])
        # Assignments follow their item's verdict.
        cur.execute("""
            UPDATE assignments a SET status = CASE WHEN x.verdict = 'pass' THEN 'passed' ELSE 'failed' END,
                   reason_codes = x.reason_codes
            FROM inspections x, images i
            WHERE a.work_date = %s AND x.inspected_on = %s AND x.round = 'first' AND a.image_id = i.image_id
              AND x.item_key = i.item_key""", (day, day))
        passed = sum(1 for v in verdicts.values() if not v)
    # The first round only, before repairs: the day's figures are publish_results' (trainset.figures).
    return {"work_date": day.isoformat(), "round": "first, before repairs",
            "inspected": len(verdicts) + len(syntax), "passed": passed,
            "failed": len(verdicts) - passed + len(syntax), "missing": len(missing),
            "rule_failures_rows_per_reason": dict(outcome.reason_counts), "syntax_failed": len(syntax)}
