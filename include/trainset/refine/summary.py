"""Summaries: a batch's line when it is closed, and a run's counts for the ``source_images`` event — both from
the DB, so a re-run reports the same."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import psycopg2.extras

from trainset import db
from trainset.refine.plan import batch_position
from trainset.refine.records import STAGE


def _by_count(reasons: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass
class BatchSummary:
    batch_id: str
    index: int
    total: int
    images: int = 0
    passed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    faces: int = 0
    plates: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.images / self.seconds if self.seconds else 0.0
        # A small batch can run under 1 img/s (the first one on a machine also builds the int8 models).
        shown = f"{rate:.0f}" if rate >= 10 else f"{rate:.2g}"
        return (f"batch {self.index}/{self.total}: {self.images} images, {self.passed} passed; "
                f"{_by_count(self.reasons) or 'no rejects'}; faces {self.faces}, plates {self.plates} masked; "
                f"{shown} img/s, {self.seconds:.1f} s")

    def as_dict(self) -> dict:
        return {"batch_id": self.batch_id, "index": self.index, "total": self.total, "images": self.images,
                "passed": self.passed, "rejected": self.images - self.passed, "reasons": self.reasons,
                "faces": self.faces, "plates": self.plates, "seconds": round(self.seconds, 3)}


def finish_batch(conn, batch_id: str) -> BatchSummary:
    """Close the batch: its counts from the DB (so a re-run reports the same), stored in batches.counts."""
    index, total = batch_position(conn, batch_id)
    s = BatchSummary(batch_id, index, total)
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, """
            SELECT i.image_id, i.status, i.reason_codes FROM refine_batch_items b JOIN images i USING (image_id)
            WHERE b.batch_id = %s""", (batch_id,))
        reasons: Counter = Counter()
        for r in rows:
            s.images += 1
            if r["status"] == "refined":
                s.passed += 1
            elif r["status"] == "rejected":
                reasons.update(r["reason_codes"])
        s.reasons = dict(reasons)
        cur.execute("SELECT kind, count(*) FROM detections d JOIN refine_batch_items b USING (image_id) "
                    "WHERE b.batch_id = %s GROUP BY kind", (batch_id,))
        kinds = dict(cur.fetchall())
        s.faces, s.plates = kinds.get("face", 0), kinds.get("plate", 0)
        cur.execute("SELECT counts->'seconds_by_step' FROM batches WHERE batch_id = %s", (batch_id,))
        s.seconds = sum((cur.fetchone()[0] or {}).values())
        cur.execute("UPDATE batches SET finished_at = now(), counts = counts || %s WHERE batch_id = %s",
                    (psycopg2.extras.Json(s.as_dict()), batch_id))
    return s


def run_counts(conn, run_id: str) -> dict:
    """What a run of refine did (for the ``source_images`` event) plus the warehouse inventory."""
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, """
            SELECT i.status, i.class_name, i.reason_codes FROM batches b JOIN refine_batch_items bi USING (batch_id)
            JOIN images i ON i.image_id = bi.image_id WHERE b.stage = %s AND b.run_id = %s""", (STAGE, run_id))
        cur.execute("SELECT count(*) FROM batches WHERE stage = %s AND run_id = %s", (STAGE, run_id))
        batches = cur.fetchone()[0]
        inventory = db.fetch_dicts(cur, "SELECT class_name, status, images FROM warehouse_inventory "
                                        "ORDER BY class_name, status")
        cur.execute("SELECT kind, count(*) FROM detections d JOIN refine_batch_items bi USING (image_id) "
                    "JOIN batches b USING (batch_id) WHERE b.stage = %s AND b.run_id = %s GROUP BY kind",
                    (STAGE, run_id))
        kinds = dict(cur.fetchall())
    reasons: Counter = Counter()
    per_class: Counter = Counter()
    for r in rows:
        if r["status"] == "rejected":
            reasons.update(r["reason_codes"])
        elif r["status"] == "refined":
            per_class[r["class_name"]] += 1
    refined = sum(per_class.values())
    return {
        "run_id": run_id, "batches": batches, "images": len(rows), "refined": refined,
        "rejected": sum(r["status"] == "rejected" for r in rows), "pending": sum(r["status"] == "raw" for r in rows),
        "reasons": dict(sorted(reasons.items())), "per_class": dict(sorted(per_class.items())),
        "faces": kinds.get("face", 0), "plates": kinds.get("plate", 0),
        "warehouse": {f"{r['class_name']}/{r['status']}": r["images"] for r in inventory},
    }


def run_summary_line(counts: dict) -> str:
    return (f"refine {counts['run_id']}: {counts['batches']} batches, {counts['images']} images, "
            f"{counts['refined']} refined into the warehouse, {counts['rejected']} rejected "
            f"({_by_count(counts['reasons']) or 'none'}); faces {counts['faces']}, plates {counts['plates']} masked")
