"""The refine lines of the demo's summary: the warehouse, rejects, masking and names (all time) after what this
run did (``trainset.refine.summary.run_counts``)."""

from __future__ import annotations

from trainset import db
from trainset.refine.records import STAGE
from trainset.refine.summary import run_counts


def demo_summary(conn, *, run_id: str | None = None) -> list[str]:
    """PM-facing lines for the demo: warehouse inventory, rejects by reason, masking, examples of names (all
    time), after what this run (``run_id``) did."""
    with conn.cursor() as cur:
        inv = db.fetch_dicts(cur, "SELECT class_name, status, images FROM warehouse_inventory "
                                  "WHERE status IN ('refined', 'rejected') ORDER BY class_name, status")
        cur.execute("SELECT reason, count(*) FROM images, unnest(reason_codes) AS reason "
                    "WHERE stage = %s AND status = 'rejected' GROUP BY reason ORDER BY 2 DESC, 1", (STAGE,))
        reasons = cur.fetchall()
        cur.execute("SELECT kind, count(*), count(DISTINCT image_id) FROM detections GROUP BY kind ORDER BY kind")
        dets = cur.fetchall()
        cur.execute("SELECT original_name, dataset_name FROM images WHERE status = 'refined' "
                    "ORDER BY image_id LIMIT 3")
        names = cur.fetchall()
        cur.execute("SELECT counts->>'docs' FROM batches WHERE stage = %s AND counts ? 'docs' "
                    "ORDER BY started_at DESC LIMIT 1", (STAGE,))
        docs = cur.fetchone()
    per_class: dict[str, dict[str, int]] = {}
    for r in inv:
        per_class.setdefault(r["class_name"], {})[r["status"]] = r["images"]
    lines = ["refine (정제): warehouse (all time) " + ", ".join(
        f"{c} {v.get('refined', 0)}" + (f" (+{v['rejected']} rejected)" if v.get("rejected") else "")
        for c, v in sorted(per_class.items()))]
    lines.append("  rejected by reason (all time): " + (", ".join(f"{r} {n}" for r, n in reasons) or "none"))
    lines.append("  de-identified (all time): " + (", ".join(f"{n} {k}s in {i} images" for k, n, i in dets) or "nothing found"))
    if names:
        lines.append("  named e.g. " + "; ".join(f"{o} → {d}" for o, d in names))
    if docs and docs[0] and docs[0] != "None":
        lines.append(f"  GX Data Docs: {docs[0]}")
    if run_id is not None:
        run = run_counts(conn, run_id)
        lines.insert(0, f"this run: {run['images']} images ({run['refined']} refined into the warehouse, "
                        f"{run['rejected']} rejected)" if run["images"]
                     else "this run: 0 images (nothing new to refine)")
    return lines
