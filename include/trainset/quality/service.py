"""The records-DB side of labeling quality control, keyed by the work date and re-runnable.

- ``mark_gt`` / ``add_reference_gt``: the PM's GT set (passed labels, or reference labels from a folder);
- ``plan_quality_assignments``: after the day's distribution, each labeler gets a share of GT items (never one
  they labeled themselves) and a share of new items goes to 1-2 more labelers (consensus replicas); the
  assignment list shows them all as ordinary ``label`` work;
- ``score_day``: after the first inspection, GT uploads are scored against GT and set aside (status
  ``gt_scored``: never accepted, never released as the labeler's work); consensus replicas are merged (agreed:
  one annotation carries the merged label, the others become ``consensus_replica``; disputed: all become
  ``consensus_disputed`` and the item waits for inspection with every version in ``quality_consensus_results``);
  per-labeler daily and rolling scores; gating with one Slack message to the PM per gated spell.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable

from trainset.annotate.model import LabelItem
from trainset.config import ProjectConfig
from trainset.db import execute_batch, fetch_dicts
from trainset.quality.consensus import merge_replicas
from trainset.quality.gating import GATING_SQL, GATING_SUITE, gating_parameters
from trainset.quality.scoring import CONFLICT_TYPES, Counts, compare_item

log = logging.getLogger(__name__)
# Assignment kinds the list shows as 'label': a labeler must not know which items are GT or replicas.
HIDDEN_KINDS = ("gt", "consensus_1", "consensus_2")
SET_ASIDE = ("gt_scored", "consensus_replica", "consensus_disputed")


def _rank(*parts) -> str:
    """A deterministic, well-mixed order (re-runs pick the same items)."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def mark_gt(conn, item_keys: list[str], day: dt.date) -> int:
    """Mark items whose label passed inspection as GT (their accepted payload is the reference)."""
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO quality_gt_items (item_key, image_id, payload, source, added_on)
                       SELECT DISTINCT ON (a.item_key) a.item_key, a.image_id, a.payload, 'passed_annotation', %s
                       FROM annotations a WHERE a.item_key = ANY(%s) AND a.status = 'passed' AND a.image_id IS NOT NULL
                       ORDER BY a.item_key, a.updated_at DESC
                       ON CONFLICT (item_key) DO UPDATE SET payload = EXCLUDED.payload, active = true""",
                    (day, list(item_keys)))
        return cur.rowcount


def add_reference_gt(conn, items: list[LabelItem], day: dt.date) -> int:
    """Reference labels (e.g. a folder the PM curated) as GT, for images already in the warehouse."""
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, """SELECT image_id, regexp_replace(dataset_name, '\\.[^.]*$', '') AS item_key
                                   FROM images WHERE regexp_replace(dataset_name, '\\.[^.]*$', '') = ANY(%s)""",
                           ([i.item_key for i in items],))
        ids = {r["item_key"]: r["image_id"] for r in rows}
        execute_batch(cur, """INSERT INTO quality_gt_items (item_key, image_id, payload, source, added_on) VALUES %s
                              ON CONFLICT (item_key) DO UPDATE SET payload = EXCLUDED.payload, active = true""",
                      [(i.item_key, ids[i.item_key], i.model_dump_json(), "reference", day)
                       for i in items if i.item_key in ids])
        return sum(1 for i in items if i.item_key in ids)


def plan_quality_assignments(conn, config: ProjectConfig, day: dt.date, *, uploads_started: bool = False) -> dict:
    """Add GT and consensus assignments to ``day`` (once: a re-run finds them and changes nothing).  A day whose
    uploads have started keeps its lists as they are: labelers already work from them."""
    q = config.quality
    due = dt.datetime.combine(day, config.schedules.labeling_upload_due)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM quality_assignments WHERE work_date = %s", (day,))
        if cur.fetchone()[0]:
            return {"work_date": day.isoformat(), "reused": True}
        if uploads_started:
            return {"work_date": day.isoformat(), "reused": False, "skipped": "uploads already started"}
        label = fetch_dicts(cur, """SELECT a.assignment_id, a.image_id, a.worker_id, a.due_at, i.class_name,
                                           regexp_replace(i.dataset_name, '\\.[^.]*$', '') AS item_key
                                    FROM assignments a JOIN images i USING (image_id)
                                    WHERE a.work_date = %s AND a.task_kind = 'label'""", (day,))
        workers = sorted({r["worker_id"] for r in label})
        gt = fetch_dicts(cur, """SELECT g.item_key, g.image_id, i.class_name,
                                        array_remove(array_agg(DISTINCT a.worker_id), NULL)
                                        || array_remove(array_agg(DISTINCT s.worker_id), NULL) AS labeled_by
                                 FROM quality_gt_items g JOIN images i USING (image_id)
                                 LEFT JOIN annotations a ON a.image_id = g.image_id
                                 LEFT JOIN assignments s ON s.image_id = g.image_id AND s.task_kind = 'label'
                                 WHERE g.active GROUP BY 1, 2, 3""")
        skills = {r["worker_id"]: set(r["classes"]) for r in fetch_dicts(cur, "SELECT worker_id, classes FROM workers")}
        new_rows, roles = [], []
        used_gt: set[int] = set()
        for w in workers:
            mine = [r for r in label if r["worker_id"] == w]
            want = round(q.gt_share * len(mine)) if q.gt_share > 0 else 0
            want = max(want, 1) if q.gt_share > 0 and mine else want
            pool = sorted((g for g in gt if w not in g["labeled_by"] and g["image_id"] not in used_gt
                           and ("all" in skills.get(w, ()) or g["class_name"] in skills.get(w, ()))),
                          key=lambda g: _rank(day, w, g["item_key"]))
            for g in pool[:want]:
                used_gt.add(g["image_id"])
                new_rows.append((g["image_id"], w, "gt", day, mine[0]["due_at"] or due))
                roles.append(("gt", g["item_key"]))
        n_consensus = round(q.consensus_share * len(label)) if len(workers) >= 2 else 0
        picked = sorted(label, key=lambda r: _rank(day, "consensus", r["item_key"]))[:n_consensus]
        load = defaultdict(int)
        consensus_primary = []
        for r in picked:
            others = sorted((w for w in workers if w != r["worker_id"]
                             and ("all" in skills.get(w, ()) or r["class_name"] in skills.get(w, ()))),
                            key=lambda w: (load[w], _rank(day, r["item_key"], w)))[:q.consensus_replicas - 1]
            if not others:
                continue
            consensus_primary.append(r)
            for k, w in enumerate(others, 1):
                load[w] += 1
                new_rows.append((r["image_id"], w, f"consensus_{k}", day, r["due_at"] or due))
                roles.append(("consensus", r["item_key"]))
        ids = execute_batch(cur, """INSERT INTO assignments (image_id, worker_id, task_kind, work_date, due_at)
                                    VALUES %s ON CONFLICT (image_id, task_kind, work_date) DO NOTHING
                                    RETURNING assignment_id, image_id, task_kind""", new_rows, fetch=True)
        by_slot = {(image_id, kind): aid for aid, image_id, kind in ids}
        quality_rows = [(by_slot[(row[0], row[2])], role, key, day) for row, (role, key) in zip(new_rows, roles,
                                                                                                 strict=True)
                        if (row[0], row[2]) in by_slot]
        quality_rows += [(r["assignment_id"], "consensus", r["item_key"], day) for r in consensus_primary]
        execute_batch(cur, "INSERT INTO quality_assignments (assignment_id, role, item_key, work_date) VALUES %s "
                           "ON CONFLICT DO NOTHING", quality_rows)
    return {"work_date": day.isoformat(), "reused": False,
            "gt_assigned": sum(1 for r, _ in roles if r == "gt"),
            "consensus_items": len(consensus_primary),
            "consensus_replicas": sum(1 for r, _ in roles if r == "consensus")}


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


def score_day(conn, config: ProjectConfig, day: dt.date, send: Callable[[str, str], None] | None = None, *,
              judge_in_memory: bool = False) -> dict:
    """GT scores, consensus merges, per-labeler daily and rolling scores for ``day``.  The DAG judges the
    thresholds with the GX suite ``labeler_quality`` (``record_gating``); ``judge_in_memory`` runs the same suite
    here (scripts and tests without Airflow)."""
    q = config.quality
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
        score_rows, set_aside = [], defaultdict(list)
        for r in (r for r in rows if r["role"] == "gt"):
            labeled = _item(r["payload"]) if r["status"] != "failed" else None
            s = compare_item(_item(r["gt_payload"]), labeled, iou_threshold=q.gt_iou, low_overlap=q.low_overlap_iou,
                             item_key=r["item_key"])
            score_rows.append(_score_rows(day, r["worker_id"], r["item_key"], "gt", r["annotation_id"], s))
            if r["annotation_id"]:
                set_aside["gt_scored"].append(r["annotation_id"])
        by_item = defaultdict(list)
        for r in (r for r in rows if r["role"] == "consensus"):
            by_item[r["item_key"]].append(r)
        consensus_rows, pair_rows, disputed = [], [], 0
        payload_updates = []
        for key, reps in sorted(by_item.items()):
            replicas = {r["worker_id"]: (_item(r["payload"]) if r["status"] == "passed" else None) for r in reps}
            result = merge_replicas(replicas, iou_threshold=q.consensus_iou, quorum=q.consensus_quorum)
            disputed += result.disputed
            consensus_rows.append((day, key, reps[0]["image_id"], result.labelers, result.quorum, result.agreement,
                                   result.disputed, result.reasons,
                                   result.merged.model_dump_json() if result.merged else None,
                                   json.dumps({w: (i.model_dump(mode="json") if i else None)
                                               for w, i in replicas.items()}, ensure_ascii=False)))
            pair_rows += [(day, key, a, b, v) for (a, b), v in result.pair_agreement.items()]
            for r in reps:
                if result.merged is not None:
                    s = compare_item(result.merged, replicas[r["worker_id"]], iou_threshold=q.consensus_iou,
                                     low_overlap=q.low_overlap_iou, item_key=key)
                    score_rows.append(_score_rows(day, r["worker_id"], key, "consensus", r["annotation_id"], s))
            primary = next((r for r in reps if r["task_kind"] == "label"), None)
            for r in reps:
                if not r["annotation_id"]:
                    continue
                if result.disputed:
                    set_aside["consensus_disputed"].append(r["annotation_id"])
                elif r is primary and result.merged is not None and r["status"] == "passed":
                    payload_updates.append((r["annotation_id"], result.merged.model_dump_json()))
                else:
                    set_aside["consensus_replica"].append(r["annotation_id"])
        execute_batch(cur, """INSERT INTO quality_item_scores (work_date, worker_id, item_key, kind, annotation_id,
                                  gt_boxes, labeled_boxes, matched, mismatching_label, iou_sum, attributes_equal,
                                  conflicts, conflict_list, accuracy) VALUES %s""", score_rows)
        execute_batch(cur, """INSERT INTO quality_consensus_results (work_date, item_key, image_id, workers, quorum,
                                  agreement, disputed, reasons, merged, replicas) VALUES %s""", consensus_rows)
        execute_batch(cur, """INSERT INTO quality_pair_agreement (work_date, item_key, worker_a, worker_b, agreement)
                              VALUES %s""", pair_rows)
        for status, ids in set_aside.items():
            # Only what the first inspection passed or failed; never touch another day's rows.
            cur.execute("UPDATE annotations SET status = %s, updated_at = now() WHERE annotation_id = ANY(%s) "
                        "AND work_date = %s", (status, ids, day))
        if payload_updates:
            execute_batch(cur, """UPDATE annotations a SET payload = v.p::jsonb, updated_at = now()
                                  FROM (VALUES %s) AS v(id, p) WHERE a.annotation_id = v.id""", payload_updates)
        daily = _labeler_daily(cur, config, day)
        hints = record_hints(cur, config, day)
    gating = {}
    if judge_in_memory:
        gating = update_gating(conn, config, day, judge_gating(conn, config, day), send)
    return {"work_date": day.isoformat(), "gt_scored": len(set_aside["gt_scored"]),
            "gt_items": sum(1 for r in rows if r["role"] == "gt"), "consensus_items": len(consensus_rows),
            "consensus_disputed": disputed, "hints": hints, "labelers": daily, **gating}


HINT_CONTEXT_ROWS = 2000  # earlier accepted labels that join the day's as the class statistics' population


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


def gating_message(config: ProjectConfig, worker: str, name: str, accuracy: float, day: dt.date) -> str:
    q = config.quality
    return (f"[{config.project.code}] 품질관리: {name} ({worker}) rolling GT accuracy {accuracy:.1%} over "
            f"{q.rolling_days} days is below the target {q.accuracy_target:.0%} on {day.isoformat()}. "
            f"Every item of theirs is now fully inspected until the score recovers.")


def verdicts_from_outcome(conn, outcome, day: dt.date) -> dict[str, bool]:
    """worker -> below target (True) / at or above (False), for the labelers the window lets us judge."""
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, "SELECT worker_id, judged_accuracy FROM quality_labeler_daily WHERE work_date = %s",
                           (day,))
    return {r["worker_id"]: "below_accuracy_target" in outcome.failures.get(r["worker_id"], [])
            for r in rows if r["judged_accuracy"] is not None}


def judge_gating(conn, config: ProjectConfig, day: dt.date) -> dict[str, bool]:
    """Run the gating suite in memory (what the DAG's GX task does) and return the verdicts."""
    import pandas as pd

    from trainset.expectations import validate_dataframe

    with conn.cursor() as cur:
        rows = fetch_dicts(cur, GATING_SQL, {"day": day})
    if not rows:
        return {}
    outcome = validate_dataframe(pd.DataFrame(rows), GATING_SUITE, id_column="worker_id",
                                 parameters=gating_parameters(config))
    return verdicts_from_outcome(conn, outcome, day)


def record_gating(conn, outcome, *, run_id: str, batch_id: str) -> dict:
    """``record_with`` for the GX operator: gate / lift labelers from the suite's verdicts (messages stay
    pending in ``notifications`` until ``send_pending_gating``)."""
    from trainset.config import get_config

    day = dt.date.fromisoformat(batch_id.rsplit("__", 1)[-1])
    config = get_config()
    return update_gating(conn, config, day, verdicts_from_outcome(conn, outcome, day), None)


def update_gating(conn, config: ProjectConfig, day: dt.date, verdicts: dict[str, bool],
                  send: Callable[[str, str], None] | None) -> dict:
    """Gate labelers judged below target (one PM message per spell, through ``notifications``), lift the ones
    judged at or above it; labelers not judged (too few GT boxes in the window) keep their state."""
    q = config.quality
    recipient = q.pm_slack or config.slack.alerts
    gated, lifted, messages = [], [], []
    with conn.cursor() as cur:
        state = {r["worker_id"]: r for r in fetch_dicts(cur, "SELECT * FROM quality_gating")}
        names = {r["worker_id"]: r["name"] for r in fetch_dicts(cur, "SELECT worker_id, name FROM workers")}
        daily = {r["worker_id"]: r for r in fetch_dicts(cur, "SELECT worker_id, rolling_accuracy FROM "
                                                             "quality_labeler_daily WHERE work_date = %s", (day,))}
        for w, below in sorted(verdicts.items()):
            row = daily[w]
            now = state.get(w)
            if below and not (now and now["gated"]):
                since = day
                key = f"quality:gated:{w}:{since.isoformat()}"
                text = gating_message(config, w, names.get(w, w), row["rolling_accuracy"], day)
                cur.execute("""INSERT INTO notifications (dedupe_key, channel, recipient, payload)
                               VALUES (%s, %s, %s, %s) ON CONFLICT (dedupe_key) DO NOTHING""",
                            (key, "slack_dm" if recipient.startswith("U") else "slack_channel", recipient,
                             json.dumps({"text": text, "worker_id": w, "rolling_accuracy": row["rolling_accuracy"]},
                                        ensure_ascii=False)))
                cur.execute("SELECT notification_id FROM notifications WHERE dedupe_key = %s", (key,))
                nid = cur.fetchone()[0]
                cur.execute("""INSERT INTO quality_gating (worker_id, gated, since, lifted_on, rolling_accuracy,
                                   notification_id) VALUES (%s, true, %s, NULL, %s, %s)
                               ON CONFLICT (worker_id) DO UPDATE SET gated = true, since = EXCLUDED.since,
                                   lifted_on = NULL, rolling_accuracy = EXCLUDED.rolling_accuracy,
                                   notification_id = EXCLUDED.notification_id, updated_at = now()""",
                            (w, since, row["rolling_accuracy"], nid))
                gated.append(w)
            elif not below and now and now["gated"]:
                cur.execute("UPDATE quality_gating SET gated = false, lifted_on = %s, rolling_accuracy = %s, "
                            "updated_at = now() WHERE worker_id = %s", (day, row["rolling_accuracy"], w))
                lifted.append(w)
            elif now:
                cur.execute("UPDATE quality_gating SET rolling_accuracy = %s, updated_at = now() WHERE worker_id = %s",
                            (row["rolling_accuracy"], w))
        cur.execute("UPDATE quality_labeler_daily d SET gated = g.gated FROM quality_gating g "
                    "WHERE d.worker_id = g.worker_id AND d.work_date = %s", (day,))
    if send is not None:
        conn.commit()  # the outbox row exists before the message goes out
        messages = send_pending_gating(conn, send)
    return {"gated": gated, "lifted": lifted, "messages_sent": messages}


def send_pending_gating(conn, send: Callable[[str, str], None]) -> list[str]:
    """Send the outbox's pending gating messages; each is recorded as sent before the next (a re-run sends none)."""
    sent = []
    with conn.cursor() as cur:
        pending = fetch_dicts(cur, """SELECT notification_id, recipient, payload FROM notifications
                                      WHERE dedupe_key LIKE 'quality:gated:%%' AND status <> 'sent'
                                      ORDER BY notification_id FOR UPDATE SKIP LOCKED""")
        for n in pending:
            try:
                send(n["recipient"], n["payload"]["text"])
            except Exception as err:
                cur.execute("UPDATE notifications SET status = 'failed', attempts = attempts + 1, last_error = %s "
                            "WHERE notification_id = %s", (str(err)[:500], n["notification_id"]))
                conn.commit()
                raise
            cur.execute("UPDATE notifications SET status = 'sent', attempts = attempts + 1, sent_at = now(), "
                        "last_error = NULL WHERE notification_id = %s", (n["notification_id"],))
            conn.commit()
            sent.append(n["payload"].get("worker_id"))
    return sent


def gated_workers(conn) -> set[str]:
    """Labelers whose items must all be inspected (no sampling) today."""
    with conn.cursor() as cur:
        cur.execute("SELECT worker_id FROM quality_gating WHERE gated")
        return {r[0] for r in cur.fetchall()}
