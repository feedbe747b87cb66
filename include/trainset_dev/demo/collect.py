"""The collect lines of the demo's summary (the PM's view of the stage, over the records DB)."""

from __future__ import annotations

from trainset.collect import STAGE


def demo_summary(conn, *, run_id: str | None = None) -> list[str]:
    """The collect lines of the PM's summary: what this run did (``run_id``: its batches' counts) and the records
    DB's totals, each labelled; a re-run that found nothing new says so."""
    lines = []
    with conn.cursor() as cur:
        if run_id is not None:
            cur.execute("SELECT counts FROM batches WHERE stage = %s AND run_id = %s", (STAGE, run_id))
            runs = [r[0] or {} for r in cur.fetchall()]
            seen = sum(c.get("seen", 0) for c in runs)
            registered = sum(c.get("registered", 0) for c in runs)
            already = sum(c.get("already_registered", 0) for c in runs)
            if registered:
                quarantined = sum(c.get("quarantined_total", 0) for c in runs)
                # A re-dropped file is a new arrival, registered as an exact duplicate of the first one; "already
                # registered" is only this same arrival seen by an earlier try (a crash between DB and move).
                retried = f"; {already} of {seen} files seen were registered by an earlier try" if already else ""
                lines.append(f"this run: {registered} registered (accepted {sum(c.get('accepted', 0) for c in runs)}, "
                             f"exact duplicates of earlier files {sum(c.get('duplicates', 0) for c in runs)}, "
                             f"quarantined {quarantined}){retried}")
            else:
                lines.append(f"this run: 0 registered (nothing new: {seen} files seen, {already} already registered)")
        cur.execute("SELECT count(*), count(*) FILTER (WHERE status = 'duplicate') FROM images")
        total, duplicates = cur.fetchone()
        cur.execute("SELECT reason_code, count(*) FROM quarantine WHERE stage = %s AND reason_code <> "
                    "'exact_duplicate' GROUP BY reason_code ORDER BY reason_code", (STAGE,))
        reasons = cur.fetchall()
        cur.execute("SELECT class_name, count(*) FROM images WHERE stage <> %s OR status = 'raw' "
                    "GROUP BY class_name ORDER BY class_name", (STAGE,))
        classes = cur.fetchall()
    quarantined = sum(n for _, n in reasons)
    return [
        *lines,
        f"all time: {total} files registered (accepted {total - duplicates - quarantined}, exact duplicates "
        f"{duplicates}, quarantined {quarantined})",
        "all time, quarantined by reason: " + (", ".join(f"{k} {v}" for k, v in reasons) or "none"),
        "all time, accepted per class: " + (", ".join(f"{k} {v}" for k, v in classes) or "none"),
    ]
