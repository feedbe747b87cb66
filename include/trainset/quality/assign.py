"""The quality assignments (task ``labeling_distribution.quality_assignments``) and the PM's GT set.

- ``mark_gt`` / ``add_reference_gt``: the PM's GT set (passed labels, or reference labels from a folder);
- ``plan_quality_assignments``: after the day's distribution, each labeler gets a share of GT items (never one
  they labeled themselves) and a share of new items goes to 1-2 more labelers (consensus replicas); the
  assignment list shows them all as ordinary ``label`` work (``trainset.annotate.distribute.HIDDEN_KINDS``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict

from trainset.annotate.distribute import write_lists
from trainset.annotate.model import LabelItem
from trainset.annotate.uploads import upload_workers
from trainset.config import ProjectConfig
from trainset.db import execute_batch, fetch_dicts
from trainset.step import StepContext, StepResult


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
        rows = fetch_dicts(cur, "SELECT image_id, item_key FROM images WHERE item_key = ANY(%s)",
                           ([i.item_key for i in items],))
        ids = {r["item_key"]: r["image_id"] for r in rows}
        execute_batch(cur, """INSERT INTO quality_gt_items (item_key, image_id, payload, source, added_on) VALUES %s
                              ON CONFLICT (item_key) DO UPDATE SET payload = EXCLUDED.payload, active = true""",
                      [(i.item_key, ids[i.item_key], i.model_dump_json(), "reference", day)
                       for i in items if i.item_key in ids])
        return sum(1 for i in items if i.item_key in ids)


def _can_label(skills: dict[str, set], worker: str, class_name: str | None) -> bool:
    return "all" in skills.get(worker, ()) or class_name in skills.get(worker, ())


def _gt_slots(cur, config: ProjectConfig, day: dt.date, label: list[dict], workers: list[str], skills, due):
    """Each labeler's share of GT items (never one they labeled): ``(assignment rows, roles)``."""
    q = config.quality
    gt = fetch_dicts(cur, """SELECT g.item_key, g.image_id, i.class_name,
                                    array_remove(array_agg(DISTINCT a.worker_id), NULL)
                                    || array_remove(array_agg(DISTINCT s.worker_id), NULL) AS labeled_by
                             FROM quality_gt_items g JOIN images i USING (image_id)
                             LEFT JOIN annotations a ON a.image_id = g.image_id
                             LEFT JOIN assignments s ON s.image_id = g.image_id AND s.task_kind = 'label'
                             WHERE g.active GROUP BY 1, 2, 3""")
    new_rows, roles = [], []
    used_gt: set[int] = set()
    for w in workers:
        mine = [r for r in label if r["worker_id"] == w]
        want = round(q.gt_share * len(mine)) if q.gt_share > 0 else 0
        want = max(want, 1) if q.gt_share > 0 and mine else want
        pool = sorted((g for g in gt if w not in g["labeled_by"] and g["image_id"] not in used_gt
                       and _can_label(skills, w, g["class_name"])),
                      key=lambda g: _rank(day, w, g["item_key"]))
        for g in pool[:want]:
            used_gt.add(g["image_id"])
            new_rows.append((g["image_id"], w, "gt", day, mine[0]["due_at"] or due))
            roles.append(("gt", g["item_key"]))
    return new_rows, roles


def _consensus_slots(config: ProjectConfig, day: dt.date, label: list[dict], workers: list[str], skills, due):
    """A share of the day's new items for 1-2 more labelers: ``(assignment rows, roles, primary assignments)``."""
    q = config.quality
    n_consensus = round(q.consensus_share * len(label)) if len(workers) >= 2 else 0
    picked = sorted(label, key=lambda r: _rank(day, "consensus", r["item_key"]))[:n_consensus]
    load = defaultdict(int)
    new_rows, roles, primary = [], [], []
    for r in picked:
        others = sorted((w for w in workers if w != r["worker_id"] and _can_label(skills, w, r["class_name"])),
                        key=lambda w: (load[w], _rank(day, r["item_key"], w)))[:q.consensus_replicas - 1]
        if not others:
            continue
        primary.append(r)
        for k, w in enumerate(others, 1):
            load[w] += 1
            new_rows.append((r["image_id"], w, f"consensus_{k}", day, r["due_at"] or due))
            roles.append(("consensus", r["item_key"]))
    return new_rows, roles, primary


def plan_quality_assignments(conn, config: ProjectConfig, day: dt.date, *, uploads_started: bool = False) -> dict:
    """Add GT and consensus assignments to ``day`` (once: a re-run finds them and changes nothing).  A day whose
    uploads have started keeps its lists as they are: labelers already work from them."""
    due = dt.datetime.combine(day, config.schedules.labeling_upload_due)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM quality_assignments WHERE work_date = %s", (day,))
        if cur.fetchone()[0]:
            return {"work_date": day.isoformat(), "reused": True}
        if uploads_started:
            return {"work_date": day.isoformat(), "reused": False, "skipped": "uploads already started"}
        label = fetch_dicts(cur, """SELECT a.assignment_id, a.image_id, a.worker_id, a.due_at, i.class_name, i.item_key
                                    FROM assignments a JOIN images i USING (image_id)
                                    WHERE a.work_date = %s AND a.task_kind = 'label'""", (day,))
        workers = sorted({r["worker_id"] for r in label})
        skills = {r["worker_id"]: set(r["classes"]) for r in fetch_dicts(cur, "SELECT worker_id, classes FROM workers")}
        new_rows, roles = _gt_slots(cur, config, day, label, workers, skills, due)
        more_rows, more_roles, consensus_primary = _consensus_slots(config, day, label, workers, skills, due)
        new_rows, roles = new_rows + more_rows, roles + more_roles
        ids = execute_batch(cur, """INSERT INTO assignments (image_id, worker_id, task_kind, work_date, due_at)
                                    VALUES %s ON CONFLICT (image_id, task_kind, work_date) DO NOTHING
                                    RETURNING assignment_id, image_id, task_kind""", new_rows, fetch=True)
        by_slot = {(image_id, kind): aid for aid, image_id, kind in ids}
        quality_rows = [(by_slot[(row[0], row[2])], role, key, day)
                        for row, (role, key) in zip(new_rows, roles, strict=True) if (row[0], row[2]) in by_slot]
        quality_rows += [(r["assignment_id"], "consensus", r["item_key"], day) for r in consensus_primary]
        execute_batch(cur, "INSERT INTO quality_assignments (assignment_id, role, item_key, work_date) VALUES %s "
                           "ON CONFLICT DO NOTHING", quality_rows)
    return {"work_date": day.isoformat(), "reused": False,
            "gt_assigned": sum(1 for r, _ in roles if r == "gt"),
            "consensus_items": len(consensus_primary),
            "consensus_replicas": sum(1 for r, _ in roles if r == "consensus")}


def quality_assignment_step(ctx: StepContext) -> StepResult:
    """``labeling_distribution.quality_assignments``: GT items and consensus replicas added to the day, then the
    lists rewritten (``dry_run``: nothing added, as the distribution's dry run writes nothing either)."""
    day = ctx.work_date
    if ctx.arg("dry_run", False):
        return StepResult("dry run: no GT or consensus assignments added",
                          xcom={"work_date": day.isoformat(), "dry_run": True})
    labeling = ctx.storages.labeling
    result = plan_quality_assignments(ctx.conn, ctx.config, day,
                                      uploads_started=bool(upload_workers(labeling, day)))
    if not result.get("reused") and not result.get("skipped"):
        with ctx.conn.cursor() as cur:
            result["lists"] = write_lists(cur, labeling, ctx.config, day)
    shown = {k: v for k, v in result.items() if k != "lists"}
    return StepResult(f"quality assignments {day}: {shown}", xcom=result)
