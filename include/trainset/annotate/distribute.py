"""The day's distribution (task group ``labeling_distribution``): roster sync, the day's assignment (reused
verbatim when the day was already distributed) and each worker's list in ``labeling/assignments/<date>/``.

The assignment itself is ``trainset.annotate.distribution`` (pure, deterministic); this is its records-DB side.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter

from trainset.annotate.distribution import Candidate, Worker, class_priority, distribute, is_working_day
from trainset.annotate.roster import load_roster, sync_roster
from trainset.annotate.uploads import assignment_list_key, upload_prefix
from trainset.annotate.warehouse import stem
from trainset.annotate.workday import due_at
from trainset.config import ProjectConfig
from trainset.db import execute_batch, fetch_dicts
from trainset.step import StepContext, StepResult
from trainset.storage import Storage

# Assignment kinds the list shows as 'label': a labeler must not know which items are GT or replicas
# (the quality assignments, ``trainset.quality.assign``).
HIDDEN_KINDS = ("gt", "consensus_1", "consensus_2")

# Refined, named images nobody was given to label yet.
UNASSIGNED_SQL = """FROM images i WHERE status = 'refined' AND dataset_name IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.image_id = i.image_id
                                    AND a.task_kind = 'label')"""


def _workers(cur) -> list[Worker]:
    rows = fetch_dicts(cur, "SELECT * FROM workers ORDER BY worker_id")
    return [Worker(r["worker_id"], r["daily_capacity"], frozenset(r["classes"]), r["employment_start"],
                   r["employment_end"], r["active"]) for r in rows]


def write_lists(cur, labeling: Storage, config: ProjectConfig, day: dt.date) -> list[str]:
    """Each worker's list for ``day`` (every assignment of the day, hidden kinds shown as ``label``)."""
    rows = fetch_dicts(cur, """
        SELECT a.worker_id, i.item_key, i.location, i.class_name, a.task_kind, a.due_at
        FROM assignments a JOIN images i USING (image_id)
        WHERE a.work_date = %s ORDER BY a.worker_id, a.task_kind DESC, i.item_key""", (day,))
    written = []
    for worker_id in sorted({r["worker_id"] for r in rows}):
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(["item_key", "image_uri", "class_name", "task_kind", "due_at", "upload_to"])
        for r in rows:
            if r["worker_id"] == worker_id:
                kind = "label" if r["task_kind"] in HIDDEN_KINDS else r["task_kind"]
                out.writerow([r["item_key"], r["location"], r["class_name"], kind,
                              r["due_at"].isoformat() if r["due_at"] else "",
                              labeling.child_uri(upload_prefix(day, worker_id)) + "/"])
        written.append(labeling.write_bytes(assignment_list_key(day, worker_id), buf.getvalue().encode("utf-8")))
    return written


def _day_state(cur, config: ProjectConfig, day: dt.date) -> dict:
    """What the day starts from: its existing assignment, what is left to label, open rework, class priority."""
    existing = fetch_dicts(cur, """SELECT a.worker_id, a.task_kind, i.class_name FROM assignments a
                                   JOIN images i USING (image_id) WHERE a.work_date = %s""", (day,))
    cur.execute(f"SELECT class_name, count(*) {UNASSIGNED_SQL} GROUP BY 1")
    remaining = {r[0]: r[1] for r in cur.fetchall()}
    cur.execute("SELECT count(*) FROM rework_queue WHERE status = 'open' AND opened_on < %s", (day,))
    rework_open = cur.fetchone()[0]
    cur.execute("""SELECT i.class_name, count(DISTINCT a.image_id) FROM assignments a JOIN images i USING (image_id)
                   WHERE a.task_kind = 'label' AND a.work_date < %s GROUP BY 1""", (day,))
    done = {r[0]: r[1] for r in cur.fetchall()}
    priority = class_priority(day, config.project, {c.name: c.target_count for c in config.classes}, done)
    return {"existing": existing, "remaining": remaining, "rework_open": rework_open, "priority": priority}


def _assign_new(cur, config: ProjectConfig, day: dt.date, priority, working: bool,
                dry_run: bool) -> list[tuple[str, str, str]]:
    """Plan the day's new work and rework, and record it (unless a dry run): ``(worker, class, kind)`` pairs."""
    candidates = [Candidate(r["class_name"], stem(r["dataset_name"]), r["image_id"]) for r in fetch_dicts(
        cur, f"SELECT image_id, class_name, dataset_name {UNASSIGNED_SQL} AND class_name IS NOT NULL")]
    rework = fetch_dicts(cur, """
        SELECT r.rework_id, r.image_id, r.item_key, r.worker_id, i.class_name FROM rework_queue r
        JOIN images i USING (image_id) WHERE r.status = 'open' AND r.opened_on < %s""", (day,))
    candidates += [Candidate(r["class_name"], r["item_key"], r["image_id"], "rework", r["worker_id"])
                   for r in rework]
    within = label_order(cur, config, candidates)
    plan = distribute(day, _workers(cur), candidates, priority=[p[0] for p in priority], working_day=working,
                      within_class=within)
    if not dry_run and plan:
        due = due_at(config, day)
        execute_batch(cur, """INSERT INTO assignments (image_id, worker_id, task_kind, work_date, due_at,
                              reason) VALUES %s ON CONFLICT (image_id, task_kind, work_date) DO NOTHING""",
                      [(a.image_id, a.worker_id, a.task_kind, day, due, a.reason) for a in plan])
        reworked = [r["rework_id"] for r in rework
                    if any(a.image_id == r["image_id"] and a.task_kind == "rework" for a in plan)]
        if reworked:
            cur.execute("UPDATE rework_queue SET status = 'assigned', assigned_on = %s "
                        "WHERE rework_id = ANY(%s)", (day, reworked))
    return [(a.worker_id, a.class_name, a.task_kind) for a in plan]


def distribute_day(conn, config: ProjectConfig, labeling: Storage, day: dt.date, *, dry_run: bool = False,
                   sync: bool = True) -> dict:
    """Assign the day's work (see ``trainset.annotate.distribution``); re-running a day reuses its assignment."""
    roster = None
    if sync:
        entries = load_roster(config)
        roster = sync_roster(conn, entries) if not dry_run else {"workers": len(entries)}
    with conn.cursor() as cur:
        state = _day_state(cur, config, day)
        working = is_working_day(day, config.project)
        reused = bool(state["existing"])
        if reused:
            pairs = [(r["worker_id"], r["class_name"], r["task_kind"]) for r in state["existing"]]
        else:
            pairs = _assign_new(cur, config, day, state["priority"], working, dry_run)
        lists = [] if dry_run else write_lists(cur, labeling, config, day)
    by_worker = Counter(w for w, _, _ in pairs)
    by_class = Counter(c for _, c, _ in pairs)
    return {
        "work_date": day.isoformat(), "working_day": working, "reused": reused, "dry_run": dry_run,
        "assigned": len(pairs), "rework": sum(1 for *_, k in pairs if k == "rework"),
        "by_worker": dict(sorted(by_worker.items())), "by_class": dict(sorted(by_class.items())),
        "priority": [{"class": c, "deficit": d} for c, d in state["priority"]],
        "remaining_before": state["remaining"], "rework_open": state["rework_open"], "roster": roster,
        "lists": lists,
    }


def label_order(cur, config, candidates) -> dict[int, tuple[int, str]] | None:
    """``curation.label_order: diversity``: new work per class in k-center order over the stored features, seeded
    with the class's images already assigned for labelling (rarity); None keeps the item-key order."""
    if config.curation.label_order != "diversity":
        return None
    from trainset.curation.features import FEATURES_VERSION
    from trainset.curation.select import k_center_order

    new = [c for c in candidates if c.task_kind == "label"]
    if not new:
        return None
    cur.execute("""SELECT i.image_id, i.class_name, f.vector, EXISTS (SELECT 1 FROM assignments a
                          WHERE a.image_id = i.image_id AND a.task_kind = 'label') AS labelled
                   FROM images i JOIN image_features f ON f.sha256 = i.sha256 AND f.kind = %s
                   WHERE i.class_name = ANY(%s) AND i.status NOT IN ('raw', 'rejected')""",
                (FEATURES_VERSION, sorted({c.class_name for c in new})))
    rows = cur.fetchall()
    wanted = {c.image_id for c in new}
    out: dict[int, tuple[int, str]] = {}
    for class_name in sorted({c.class_name for c in new}):
        cands = {r[0]: r[2] for r in rows if r[1] == class_name and r[0] in wanted}
        labelled = [r[2] for r in rows if r[1] == class_name and r[3]]
        for p in k_center_order(cands, labelled):
            out[p.image_id] = (p.rank, p.reason)
    return out


def distribution_lines(result: dict) -> tuple[str, list[str]]:
    """The distribution's summary line and its details (the task log's words)."""
    day = result["work_date"]
    dry = " (dry run)" if result["dry_run"] else ""
    reused = " — reused the day's existing assignment" if result["reused"] else ""
    summary = (f"distribution {day}{dry}: {result['assigned']} assigned ({result['rework']} rework) to "
               f"{len(result['by_worker'])} workers{reused}")
    details = [] if result["working_day"] else [f"{day} is not a working day: nothing assigned"]
    details += [f"  by worker: {result['by_worker']}",
                f"  by class: {result['by_class']}; schedule priority: "
                + ", ".join(f"{p['class']} {p['deficit']:+g}" for p in result["priority"]),
                f"  remaining to label before today: {result['remaining_before']}; open rework: "
                f"{result['rework_open']}"]
    details += [f"  list: {uri}" for uri in result["lists"]]
    return summary, details


def distribution_step(ctx: StepContext) -> StepResult:
    """``labeling_distribution.distribute``: the day's assignment and lists (``dry_run``: compute and log only)."""
    result = distribute_day(ctx.conn, ctx.config, ctx.storages.labeling, ctx.work_date,
                            dry_run=bool(ctx.arg("dry_run", False)))
    summary, details = distribution_lines(result)
    return StepResult(summary, xcom=result, details=details)
