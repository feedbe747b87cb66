"""The day's results (task ``labeling_refinement_validation.publish_results``): accepted labels in the project
format, quarantine, the rework queue, the PM's daily tables, and the figures of the ``first_inspection_passed``
event."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict

from trainset import figures
from trainset.annotate.model import SYNTAX_REASONS, LabelItem, to_project_json
from trainset.annotate.uploads import accepted_key, quarantine_copy
from trainset.annotate.workday import STAGE, batch_id_for
from trainset.config import ProjectConfig
from trainset.db import execute_batch, fetch_dicts
from trainset.step import StepContext, StepResult
from trainset.storage import Storage

DAILY_FIELDS = figures.FIRST_COUNTS  # the daily table's columns are the figures' counts
# What the first_inspection_passed event's extra carries.
EVENT_FIELDS = ("work_date", "inspected", "passed", "repaired", "failed", "missing", "syntax_accuracy", "accepted")


def _day_rows(cur, day: dt.date) -> tuple[list[dict], list[dict]]:
    """The day's annotations (with whether each was repaired) and its assigned items nobody uploaded."""
    anns = fetch_dicts(cur, """
        SELECT a.annotation_id, a.item_key, a.worker_id, a.source_uri, a.sha256, a.status, a.reason_codes,
               a.findings, a.payload, a.image_id, COALESCE(i.class_name, a.class_name, 'unknown') AS class_name,
               i.dataset_name, EXISTS (SELECT 1 FROM annotation_repairs r
                                       WHERE r.annotation_id = a.annotation_id) AS repaired
        FROM annotations a LEFT JOIN images i USING (image_id)
        WHERE a.work_date = %s ORDER BY a.annotation_id""", (day,))
    missing = fetch_dicts(cur, """
        SELECT x.item_key, a.worker_id, a.image_id, i.class_name FROM inspections x
        JOIN images i ON x.item_key = i.item_key
        JOIN assignments a ON a.image_id = i.image_id AND a.work_date = x.inspected_on
        WHERE x.inspected_on = %s AND x.round = 'first' AND x.reason_codes = '{no_label}'
          AND NOT EXISTS (SELECT 1 FROM annotations n WHERE n.item_key = x.item_key AND n.status = 'passed')""",
                          (day,))
    return anns, missing


def _accept(cur, labeling: Storage, anns: list[dict]) -> int:
    """Accepted labels in the project format, whatever came in; their URIs on the annotations."""
    accepted = []
    for a in anns:
        if a["status"] != "passed":
            continue
        item = LabelItem.model_validate(a["payload"])
        doc = to_project_json(item, image_file_name=a["dataset_name"])
        uri = labeling.write_bytes(accepted_key(a["item_key"]),
                                   json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
        accepted.append((a["annotation_id"], uri))
    if accepted:
        execute_batch(cur, """UPDATE annotations a SET label_uri = v.uri FROM (VALUES %s) AS v(id, uri)
                              WHERE a.annotation_id = v.id""", accepted)
    return len(accepted)


def _quarantine(cur, labeling: Storage, quarantine: Storage, day: dt.date, anns: list[dict]) -> int:
    """Every failed label to quarantine, once per reason (with where in the label each reason points)."""
    q_rows = []
    for a in anns:
        if a["status"] != "failed":
            continue
        location = quarantine_copy(labeling, quarantine, a["source_uri"], day, a["worker_id"] or "unknown")
        wheres = defaultdict(list)
        for f in a["findings"] or []:
            wheres[f["code"]].append(f.get("where") or "")
        for code in a["reason_codes"]:
            q_rows.append(("annotation", f"{a['item_key']}:{a['sha256'][:12]}", STAGE, code,
                           "; ".join(w for w in wheres.get(code, []) if w)[:1000] or None, location,
                           batch_id_for(day)))
    execute_batch(cur, """INSERT INTO quarantine (entity_kind, entity_key, stage, reason_code, detail, location,
                                                  batch_id) VALUES %s
                          ON CONFLICT (entity_kind, entity_key, stage, reason_code) DO UPDATE
                          SET detail = EXCLUDED.detail, location = EXCLUDED.location""", q_rows)
    return len(q_rows)


def _rework(cur, day: dt.date, anns: list[dict], missing: list[dict]) -> int:
    """Each failed or missing item back to its labeler; items that passed today close older entries."""
    rework = {}
    for a in anns:
        if a["status"] == "failed" and a["worker_id"]:
            rework[a["item_key"]] = (a["item_key"], a["image_id"], a["worker_id"], "first", a["reason_codes"], day)
    for m in missing:
        rework[m["item_key"]] = (m["item_key"], m["image_id"], m["worker_id"], "first", ["no_label"], day)
    passed_keys = sorted({a["item_key"] for a in anns if a["status"] == "passed"})
    for key in passed_keys:
        rework.pop(key, None)
    cur.execute("DELETE FROM rework_queue WHERE opened_on = %s AND source = 'first' AND status = 'open' "
                "AND NOT item_key = ANY(%s)", (day, list(rework)))
    execute_batch(cur, """INSERT INTO rework_queue (item_key, image_id, worker_id, source, reason_codes, opened_on)
                          SELECT v.item_key, v.image_id::bigint, v.worker_id, v.source, v.codes::text[],
                                 v.opened_on::date
                          FROM (VALUES %s) AS v(item_key, image_id, worker_id, source, codes, opened_on)
                          JOIN workers w ON w.worker_id = v.worker_id
                          ON CONFLICT (item_key, source, opened_on) DO UPDATE
                          SET reason_codes = EXCLUDED.reason_codes""", list(rework.values()))
    if passed_keys:
        cur.execute("""UPDATE rework_queue SET status = 'closed', closed_on = %s
                       WHERE item_key = ANY(%s) AND status <> 'closed' AND opened_on < %s""",
                    (day, passed_keys, day))
    return len(rework)


def _daily_tables(cur, day: dt.date, anns: list[dict], missing: list[dict]) -> None:
    """The PM's daily tables ``labeling_daily_results`` and ``labeling_daily_reasons``, rebuilt for the day."""
    assigned = fetch_dicts(cur, """SELECT a.worker_id, i.class_name, a.status, i.item_key
                                   FROM assignments a JOIN images i USING (image_id) WHERE a.work_date = %s""",
                           (day,))
    stats: dict[tuple[str, str], Counter] = defaultdict(Counter)
    reasons: Counter = Counter()
    missing_keys = {m["item_key"] for m in missing}
    for r in assigned:
        s = stats[(r["worker_id"], r["class_name"] or "unknown")]
        s["assigned"] += 1
        if r["item_key"] in missing_keys:
            s["missing"] += 1
            reasons[(r["worker_id"], r["class_name"] or "unknown", "no_label")] += 1
        else:
            s["uploaded"] += 1
    # One item counts once (its last upload of the day), as the first inspection gives an item one verdict.
    for a in {a["item_key"]: a for a in anns}.values():
        s = stats[(a["worker_id"] or "unknown", a["class_name"])]
        s["inspected"] += 1
        s["syntax_ok"] += not (set(a["reason_codes"]) & SYNTAX_REASONS)
        s["passed"] += a["status"] == "passed"
        s["repaired"] += a["status"] == "passed" and a["repaired"]
        s["failed"] += a["status"] == "failed"
        for code in a["reason_codes"]:
            reasons[(a["worker_id"] or "unknown", a["class_name"], code)] += 1
    cur.execute("DELETE FROM labeling_daily_results WHERE work_date = %s", (day,))
    cur.execute("DELETE FROM labeling_daily_reasons WHERE work_date = %s", (day,))
    execute_batch(cur, f"INSERT INTO labeling_daily_results (work_date, worker_id, class_name, "
                       f"{', '.join(DAILY_FIELDS)}) VALUES %s",
                  [(day, w, c, *(s[f] for f in DAILY_FIELDS)) for (w, c), s in sorted(stats.items())])
    execute_batch(cur, "INSERT INTO labeling_daily_reasons (work_date, worker_id, class_name, reason_code, items) "
                       "VALUES %s", [(day, w, c, code, n) for (w, c, code), n in sorted(reasons.items())])


def publish_results(conn, config: ProjectConfig, labeling: Storage, quarantine: Storage, day: dt.date) -> dict:
    """Accepted labels, quarantine, rework queue and the PM's daily tables for ``day``."""
    with conn.cursor() as cur:
        anns, missing = _day_rows(cur, day)
        accepted = _accept(cur, labeling, anns)
        quarantined = _quarantine(cur, labeling, quarantine, day, anns)
        rework_queued = _rework(cur, day, anns, missing)
        _daily_tables(cur, day, anns, missing)
        # The day's figures from their one definition (trainset.figures over the rows just written).
        fig = figures.first_inspection(conn, figures.Scope.work_date(day))
    target = config.annotate.syntax_accuracy_target
    return {
        "work_date": day.isoformat(), "scope": fig.scope, **{f: getattr(fig, f) for f in figures.FIRST_COUNTS},
        "syntax_accuracy": fig.syntax_accuracy, "first_inspection_pass_rate": fig.pass_rate,
        "syntax_accuracy_target": target, "syntax_accuracy_met": figures.target_met(fig.syntax_accuracy, target),
        "reasons": fig.reasons, "rework_queued": rework_queued, "quarantined": quarantined,
        "accepted": accepted,
    }


def results_line(r: dict) -> str:
    """The first inspection's task-log line (the same words as the demo summary: trainset.figures)."""
    fig = figures.FirstInspection(scope=r.get("scope") or f"work date {r['work_date']}",
                                  **{f: r[f] for f in figures.FIRST_COUNTS}, syntax_accuracy=r["syntax_accuracy"],
                                  pass_rate=r.get("first_inspection_pass_rate"), reasons=r["reasons"])
    return figures.first_inspection_line(fig, r["syntax_accuracy_target"])


def publish_step(ctx: StepContext) -> StepResult:
    """``labeling_refinement_validation.publish_results``: the day's results and the ``first_inspection_passed``
    event's counts."""
    result = publish_results(ctx.conn, ctx.config, ctx.storages.labeling, ctx.storages.quarantine, ctx.work_date)
    return StepResult(results_line(result), xcom=result, event_extra={k: result[k] for k in EVENT_FIELDS})
