"""The refine stage's rows in the records DB that every step shares: its stage name, a batch's measurement rows,
check rows, and the time each step took."""

from __future__ import annotations

from trainset import db

STAGE = "refine"


def batch_measurements(cur, batch_id: str) -> list[dict]:
    """The measurement rows of the batch's images still ``raw``, in image order."""
    return db.fetch_dicts(cur, """
        SELECT m.* FROM refine_measurements m JOIN refine_batch_items b ON b.image_id = m.image_id
        JOIN images i ON i.image_id = m.image_id
        WHERE b.batch_id = %s AND i.status = 'raw' ORDER BY m.image_id""", (batch_id,))


def upsert_checks(cur, rows: list[tuple]) -> None:
    """rows: (image_id, check_name, value_num, value_text, details, batch_id); verdict columns come later."""
    db.execute_batch(cur, "INSERT INTO check_results (image_id, check_name, value_num, value_text, details, batch_id) "
                          "VALUES %s ON CONFLICT (image_id, check_name) DO UPDATE SET value_num = EXCLUDED.value_num, "
                          "value_text = EXCLUDED.value_text, details = EXCLUDED.details, batch_id = EXCLUDED.batch_id, "
                          "measured_at = now()", rows)


def add_seconds(cur, batch_id: str, step: str, seconds: float) -> None:
    """Time spent per step, kept in batches.counts.seconds_by_step (the summary line's img/s)."""
    cur.execute("UPDATE batches SET counts = jsonb_set(counts, '{seconds_by_step}', coalesce(counts->"
                "'seconds_by_step', '{}'::jsonb) || jsonb_build_object(%s::text, %s::float)) WHERE batch_id = %s",
                (step, round(seconds, 4), batch_id))
