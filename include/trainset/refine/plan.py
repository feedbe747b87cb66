"""Planning: the images still ``raw`` cut into the batches of one refine run (one mapped task group each)."""

from __future__ import annotations

from trainset import db
from trainset.config import ProjectConfig
from trainset.refine.records import STAGE


def batch_id_for(run_id: str, index: int) -> str:
    return f"{STAGE}__{run_id}__{index:04d}"


def _raw_images(cur, *, limit: int | None, classes: list[str] | None) -> list[int]:
    sql = "SELECT image_id FROM images WHERE status = 'raw'"
    params: list = []
    if classes:
        sql += " AND class_name = ANY(%s)"
        params.append(list(classes))
    sql += " ORDER BY image_id"
    if limit:
        sql += " LIMIT %s"
        params.append(int(limit))
    cur.execute(sql, params)
    return [r[0] for r in cur.fetchall()]


def plan_batches(conn, config: ProjectConfig, run_id: str, *, limit: int | None = None,
                 classes: list[str] | None = None, batch_size: int | None = None) -> list[str]:
    """Cut the images still ``raw`` into batches of this run (re-planning a run reuses its batches)."""
    size = batch_size or config.refine.batch_size
    with conn.cursor() as cur:
        existing = db.fetch_dicts(cur, """
            SELECT b.batch_id, bi.image_id, i.status FROM batches b
            JOIN refine_batch_items bi ON bi.batch_id = b.batch_id JOIN images i ON i.image_id = bi.image_id
            WHERE b.stage = %s AND b.run_id = %s ORDER BY b.batch_id""", (STAGE, run_id))
        planned = {r["image_id"] for r in existing}
        keep = sorted({r["batch_id"] for r in existing if r["status"] == "raw"})
        cur.execute("SELECT count(*) FROM batches WHERE stage = %s AND run_id = %s", (STAGE, run_id))
        next_index = cur.fetchone()[0]
        todo = [i for i in _raw_images(cur, limit=limit, classes=classes) if i not in planned]
        new = []
        for start in range(0, len(todo), size):
            batch_id = batch_id_for(run_id, next_index)
            next_index += 1
            cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES (%s, %s, %s) "
                        "ON CONFLICT (batch_id) DO NOTHING", (batch_id, STAGE, run_id))
            db.execute_batch(cur, "INSERT INTO refine_batch_items (batch_id, image_id) VALUES %s "
                                  "ON CONFLICT DO NOTHING", [(batch_id, i) for i in todo[start:start + size]])
            new.append(batch_id)
    return keep + new


def batch_position(conn, batch_id: str) -> tuple[int, int]:
    """(1-based index, total) of a batch within its run, for the summary line."""
    with conn.cursor() as cur:
        cur.execute("SELECT run_id FROM batches WHERE batch_id = %s", (batch_id,))
        row = cur.fetchone()
        if row is None:
            raise ValueError(f"unknown batch {batch_id}")
        cur.execute("SELECT batch_id FROM batches WHERE stage = %s AND run_id = %s ORDER BY batch_id",
                    (STAGE, row[0]))
        ids = [r[0] for r in cur.fetchall()]
    return ids.index(batch_id) + 1, len(ids)
