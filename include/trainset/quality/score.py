"""The day's quality scores (task ``labeling_refinement_validation.quality_scores``), after the first inspection.

GT uploads are scored against GT and set aside (status ``gt_scored``: never accepted, never released as the
labeler's work); consensus replicas are merged (agreed: one annotation carries the merged label, the others
become ``consensus_replica``; disputed: all become ``consensus_disputed`` and the item waits for inspection with
every version in ``quality_consensus_results``); per-labeler daily and rolling scores; label-error hints.  The
gating thresholds are judged next by the GX suite ``labeler_quality`` (``trainset.quality.gating``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable

from trainset.annotate.model import LabelItem
from trainset.config import ProjectConfig
from trainset.db import execute_batch, fetch_dicts
from trainset.quality.consensus import merge_replicas
from trainset.quality.gating import judge_gating, update_gating
from trainset.quality.scoring import CONFLICT_TYPES, Counts, compare_item
from trainset.step import StepContext, StepResult

HINT_CONTEXT_ROWS = 2000  # earlier accepted labels that join the day's as the class statistics' population


def _item(payload) -> LabelItem | None:
    if payload is None:
        return None
    return LabelItem.model_validate(payload if isinstance(payload, dict) else json.loads(payload))


def _score_rows(day, worker, key, kind, annotation_id, score) -> tuple:
    c = score.counts
    m = c.metrics()
    return (day, worker, key, kind, annotation_id, c.gt, c.labeled, c.valid, c.mismatching_label, c.iou_sum,
            c.attributes_equal, json.dumps(c.conflicts), json.dumps([vars(x) for x in score.conflicts]),
            m["accuracy"])


class _DayScores:
    """What scoring the day writes: item scores, consensus results, pair agreement, set-aside annotations."""

    def __init__(self) -> None:
        self.score_rows: list[tuple] = []
        self.set_aside: dict[str, list[int]] = defaultdict(list)
        self.consensus_rows: list[tuple] = []
        self.pair_rows: list[tuple] = []
        self.payload_updates: list[tuple[int, str]] = []
        self.disputed = 0


def _score_gt(out: _DayScores, rows: list[dict], config: ProjectConfig, day: dt.date) -> None:
    q = config.quality
    for r in (r for r in rows if r["role"] == "gt"):
        labeled = _item(r["payload"]) if r["status"] != "failed" else None
        s = compare_item(_item(r["gt_payload"]), labeled, iou_threshold=q.gt_iou, low_overlap=q.low_overlap_iou,
                         item_key=r["item_key"])
        out.score_rows.append(_score_rows(day, r["worker_id"], r["item_key"], "gt", r["annotation_id"], s))
        if r["annotation_id"]:
            out.set_aside["gt_scored"].append(r["annotation_id"])


def _merge_consensus(out: _DayScores, rows: list[dict], config: ProjectConfig, day: dt.date) -> None:
    q = config.quality
    by_item = defaultdict(list)
    for r in (r for r in rows if r["role"] == "consensus"):
        by_item[r["item_key"]].append(r)
    for key, reps in sorted(by_item.items()):
        replicas = {r["worker_id"]: (_item(r["payload"]) if r["status"] == "passed" else None) for r in reps}
        result = merge_replicas(replicas, iou_threshold=q.consensus_iou, quorum=q.consensus_quorum)
        out.disputed += result.disputed
        out.consensus_rows.append((day, key, reps[0]["image_id"], result.labelers, result.quorum, result.agreement,
                                   result.disputed, result.reasons,
                                   result.merged.model_dump_json() if result.merged else None,
                                   json.dumps({w: (i.model_dump(mode="json") if i else None)
                                               for w, i in replicas.items()}, ensure_ascii=False)))
        out.pair_rows += [(day, key, a, b, v) for (a, b), v in result.pair_agreement.items()]
        for r in reps:
            if result.merged is not None:
                s = compare_item(result.merged, replicas[r["worker_id"]], iou_threshold=q.consensus_iou,
                                 low_overlap=q.low_overlap_iou, item_key=key)
                out.score_rows.append(_score_rows(day, r["worker_id"], key, "consensus", r["annotation_id"], s))
        primary = next((r for r in reps if r["task_kind"] == "label"), None)
        for r in reps:
            if not r["annotation_id"]:
                continue
            if result.disputed:
                out.set_aside["consensus_disputed"].append(r["annotation_id"])
            elif r is primary and result.merged is not None and r["status"] == "passed":
                out.payload_updates.append((r["annotation_id"], result.merged.model_dump_json()))
            else:
                out.set_aside["consensus_replica"].append(r["annotation_id"])


def _write(cur, out: _DayScores, day: dt.date) -> None:
    execute_batch(cur, """INSERT INTO quality_item_scores (work_date, worker_id, item_key, kind, annotation_id,
                              gt_boxes, labeled_boxes, matched, mismatching_label, iou_sum, attributes_equal,
                              conflicts, conflict_list, accuracy) VALUES %s""", out.score_rows)
    execute_batch(cur, """INSERT INTO quality_consensus_results (work_date, item_key, image_id, workers, quorum,
                              agreement, disputed, reasons, merged, replicas) VALUES %s""", out.consensus_rows)
    execute_batch(cur, """INSERT INTO quality_pair_agreement (work_date, item_key, worker_a, worker_b, agreement)
                          VALUES %s""", out.pair_rows)
    for status, ids in out.set_aside.items():
        # Only what the first inspection passed or failed; never touch another day's rows.
        cur.execute("UPDATE annotations SET status = %s, updated_at = now() WHERE annotation_id = ANY(%s) "
                    "AND work_date = %s", (status, ids, day))
    if out.payload_updates:
        execute_batch(cur, """UPDATE annotations a SET payload = v.p::jsonb, updated_at = now()
                              FROM (VALUES %s) AS v(id, p) WHERE a.annotation_id = v.id""", out.payload_updates)


def score_day(conn, config: ProjectConfig, day: dt.date, send: Callable[[str, str], None] | None = None, *,
              judge_in_memory: bool = False) -> dict:
    """GT scores, consensus merges, per-labeler daily and rolling scores for ``day``.  The DAG judges the
    thresholds with the GX suite ``labeler_quality`` (``record_gating``); ``judge_in_memory`` runs the same suite
    here (scripts and tests without Airflow)."""
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, """
            SELECT qa.role, qa.item_key, a.assignment_id, a.worker_id, a.image_id, a.task_kind,
                   n.annotation_id, n.payload, n.status, g.payload AS gt_payload
            FROM quality_assignments qa JOIN assignments a USING (assignment_id)
            LEFT JOIN LATERAL (SELECT annotation_id, payload, status FROM annotations x
                               WHERE x.image_id = a.image_id AND x.worker_id = a.worker_id AND x.work_date = a.work_date
                               ORDER BY x.updated_at DESC LIMIT 1) n ON true
            LEFT JOIN quality_gt_items g ON g.image_id = a.image_id AND qa.role = 'gt'
            WHERE qa.work_date = %s ORDER BY qa.item_key, a.worker_id""", (day,))
        cur.execute("DELETE FROM quality_item_scores WHERE work_date = %s", (day,))
        cur.execute("DELETE FROM quality_pair_agreement WHERE work_date = %s", (day,))
        cur.execute("DELETE FROM quality_consensus_results WHERE work_date = %s", (day,))
        out = _DayScores()
        _score_gt(out, rows, config, day)
        _merge_consensus(out, rows, config, day)
        _write(cur, out, day)
        daily = _labeler_daily(cur, config, day)
        hints = record_hints(cur, config, day)
    gating = {}
    if judge_in_memory:
        gating = update_gating(conn, config, day, judge_gating(conn, config, day), send)
    return {"work_date": day.isoformat(), "gt_scored": len(out.set_aside["gt_scored"]),
            "gt_items": sum(1 for r in rows if r["role"] == "gt"), "consensus_items": len(out.consensus_rows),
            "consensus_disputed": out.disputed, "hints": hints, "labelers": daily, **gating}


def record_hints(cur, config: ProjectConfig, day: dt.date) -> dict[str, int]:
    """Label-error hints on the day's uploads (passed or set aside); earlier accepted labels are context only.
    Crops are read from local (``file://``) warehouse images; elsewhere only the geometry hints run."""
    from pathlib import Path

    from trainset.quality.files import crop_loader
    from trainset.quality.hints import label_hints

    today = fetch_dicts(cur, """SELECT a.annotation_id, a.item_key, a.worker_id, a.payload, i.location
                                FROM annotations a LEFT JOIN images i USING (image_id)
                                WHERE a.work_date = %s AND a.payload IS NOT NULL AND a.status <> 'failed'""", (day,))
    context = fetch_dicts(cur, """SELECT a.annotation_id, a.item_key, a.worker_id, a.payload, i.location
                                  FROM annotations a LEFT JOIN images i USING (image_id)
                                  WHERE a.work_date < %s AND a.status = 'passed' AND a.payload IS NOT NULL
                                  ORDER BY a.work_date DESC, a.annotation_id LIMIT %s""", (day, HINT_CONTEXT_ROWS))
    items, paths, owner = [], {}, {}
    for r in today + context:
        uid = str(r["annotation_id"])
        items.append(_item(r["payload"]).model_copy(update={"item_key": uid}))
        owner[uid] = r
        if r["location"] and str(r["location"]).startswith("file://"):
            paths[uid] = Path(str(r["location"]).removeprefix("file://"))
    mine = {str(r["annotation_id"]) for r in today}
    hints = [h for h in label_hints(items, config.quality.hints, crops=crop_loader(paths)) if h.item in mine]
    cur.execute("DELETE FROM quality_hints WHERE work_date = %s", (day,))
    execute_batch(cur, """INSERT INTO quality_hints (work_date, annotation_id, item_key, worker_id, object_id, code,
                              score, detail) VALUES %s ON CONFLICT DO NOTHING""",
                  [(day, int(h.item), owner[h.item]["item_key"], owner[h.item]["worker_id"], h.object or "", h.code,
                    h.score, h.detail) for h in hints])
    counts: dict[str, int] = defaultdict(int)
    for h in hints:
        counts[h.code] += 1
    return dict(counts)


def hint_lines(conn, day: dt.date) -> dict[str, list[str]]:
    """The day's hints per item, as lines for the gallery's side panel."""
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, """SELECT item_key, worker_id, object_id, code, score, detail FROM quality_hints
                                   WHERE work_date = %s ORDER BY item_key, score DESC""", (day,))
    out: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        where = f"object {r['object_id']}" if r["object_id"] else "item"
        out[r["item_key"]].append(f"{r['worker_id']}: {r['code']} {r['score']:.2f} ({where}) {r['detail']}")
    return dict(out)


def _sum_counts(rows: list[dict]) -> Counts:
    c = Counts()
    for r in rows:
        c.add(Counts(gt=r["gt_boxes"], labeled=r["labeled_boxes"], valid=r["matched"],
                     mismatching_label=r["mismatching_label"], iou_sum=r["iou_sum"],
                     attributes_equal=r["attributes_equal"],
                     conflicts={k: int(r["conflicts"].get(k, 0)) for k in CONFLICT_TYPES}))
    return c


def _labeler_daily(cur, config: ProjectConfig, day: dt.date) -> dict[str, dict]:
    q = config.quality
    start = day - dt.timedelta(days=q.rolling_days - 1)
    rows = fetch_dicts(cur, "SELECT * FROM quality_item_scores WHERE work_date BETWEEN %s AND %s", (start, day))
    pairs = fetch_dicts(cur, "SELECT * FROM quality_pair_agreement WHERE work_date = %s", (day,))
    workers = sorted({r["worker_id"] for r in rows if r["work_date"] == day}
                     | {p["worker_a"] for p in pairs} | {p["worker_b"] for p in pairs})
    out = {}
    cur.execute("DELETE FROM quality_labeler_daily WHERE work_date = %s", (day,))
    for w in workers:
        today = [r for r in rows if r["worker_id"] == w and r["work_date"] == day and r["kind"] == "gt"]
        window = [r for r in rows if r["worker_id"] == w and r["kind"] == "gt"]
        m = _sum_counts(today).metrics()
        rolling = _sum_counts(window).metrics()
        mine = [p["agreement"] for p in pairs if w in (p["worker_a"], p["worker_b"])]
        out[w] = {"gt_items": len(today), "accuracy": m["accuracy"], "precision": m["precision"],
                  "recall": m["recall"], "mean_iou": m["mean_iou"], "conflicts": m["conflicts"],
                  "consensus_items": len(mine),
                  "consensus_agreement": round(sum(mine) / len(mine), 6) if mine else None,
                  "rolling_accuracy": rolling["accuracy"], "rolling_gt_boxes": rolling["gt_boxes"]}
        cur.execute("""INSERT INTO quality_labeler_daily (work_date, worker_id, gt_items, gt_boxes, labeled_boxes,
                           matched, accuracy, precision, recall, mean_iou, label_agreement, attribute_agreement,
                           conflicts, consensus_items, consensus_agreement, rolling_gt_boxes, rolling_accuracy,
                           judged_accuracy)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    (day, w, len(today), m["gt_boxes"], m["labeled_boxes"], m["matched"], m["accuracy"],
                     m["precision"], m["recall"], m["mean_iou"], m["label_agreement"], m["attribute_agreement"],
                     json.dumps(m["conflicts"]), len(mine), out[w]["consensus_agreement"], rolling["gt_boxes"],
                     rolling["accuracy"], rolling["accuracy"] if rolling["gt_boxes"] >= q.min_gt_boxes else None))
    return out


def score_step(ctx: StepContext) -> StepResult:
    """``labeling_refinement_validation.quality_scores``: the day's GT scores, consensus merges and labeler scores."""
    result = score_day(ctx.conn, ctx.config, ctx.work_date)
    summary = (f"GT uploads set aside {result['gt_scored']}, consensus items {result['consensus_items']} "
               f"({result['consensus_disputed']} disputed)")
    details = [f"{worker}: GT accuracy {row['accuracy']} today, rolling {row['rolling_accuracy']} over "
               f"{row['rolling_gt_boxes']} GT boxes" for worker, row in result["labelers"].items()]
    return StepResult(summary, xcom=result, details=details)
