"""Collect's rows in the records DB: which files are registered already (a healed crash or a re-drop), exact
duplicates within and across batches, the new rows and where their bytes go."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainset import db

if TYPE_CHECKING:
    from trainset.collect import Examined
    from trainset.storage import Storage

STAGE = "collect"


def psycopg_json(value: dict):
    import psycopg2.extras

    return psycopg2.extras.Json(value)


def mark_registered(cur, examined: list[Examined], raw: Storage, quarantine: Storage) -> None:
    """Rows that already exist for (source_uri, sha256). Two cases, told apart by the registering batch:
    - its batch never finished and the row's location is still in the raw area or the collect quarantine: a
      crash between register and move; the row is reused and the bytes are moved where it says;
    - otherwise the file was collected before (and may since be refined, rejected, released...): a re-drop. It is
      a new arrival of the same bytes, registered as an exact duplicate of the first arrival's image and moved to
      the collect quarantine under its own image id; the earlier row and its bytes are never touched."""
    if not examined:
        return
    rows = db.fetch_dicts(
        cur,
        "SELECT i.image_id, i.source_uri, i.sha256, i.status, i.reason_codes, i.location, i.duplicate_of,"
        " i.arrival, b.finished_at IS NOT NULL AS batch_finished FROM images i JOIN batches b USING (batch_id)"
        " WHERE (i.source_uri, i.sha256) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
        " ORDER BY i.arrival",
        ([ex.source_uri for ex in examined], [ex.sha256 for ex in examined]),
    )
    by_key: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        by_key.setdefault((r["source_uri"], r["sha256"]), []).append(r)
    movable = (raw.uri + "/", quarantine.uri + "/")
    for ex in examined:
        arrivals = by_key.get((ex.source_uri, ex.sha256))
        if not arrivals:
            continue
        healing = [r for r in arrivals if not r["batch_finished"] and (r["location"] or "").startswith(movable)]
        if healing:
            row = healing[-1]
            ex.already_registered = True
            ex.image_id, ex.status, ex.target_uri = row["image_id"], row["status"], row["location"]
            ex.duplicate_of, ex.arrival = row["duplicate_of"], row["arrival"]
            ex.reason = row["reason_codes"][0] if row["reason_codes"] else None
            continue
        first = arrivals[0]
        ex.arrival = arrivals[-1]["arrival"] + 1
        ex.status, ex.reason = "duplicate", "exact_duplicate"
        ex.duplicate_of = first["duplicate_of"] if first["status"] == "duplicate" and first["duplicate_of"] \
            else first["image_id"]
        ex.detail = f"dropped again: same path and bytes as image {first['image_id']} ({first['status']})"


def mark_duplicates(cur, examined: list[Examined]) -> None:
    """Exact duplicates: same bytes as an accepted image registered earlier, or earlier in this batch."""
    fresh = [ex for ex in examined if not ex.already_registered and not ex.arrival and ex.reason is None]
    if not fresh:
        return
    rows = db.fetch_dicts(
        cur,
        "SELECT DISTINCT ON (sha256) sha256, image_id FROM images "
        "WHERE sha256 = ANY(%s) AND status NOT IN ('duplicate', 'quarantined') ORDER BY sha256, image_id",
        ([ex.sha256 for ex in fresh],),
    )
    earlier = {r["sha256"]: r["image_id"] for r in rows}
    first_in_batch: dict[str, Examined] = {}
    for ex in sorted(fresh, key=lambda e: e.entry.key):
        if ex.sha256 in earlier:
            ex.duplicate_of = earlier[ex.sha256]
            ex.status = "duplicate"
        elif ex.sha256 in first_in_batch:
            ex.status = "duplicate"  # original's id is known after it is inserted
        else:
            first_in_batch[ex.sha256] = ex


def register(cur, examined: list[Examined], batch_id: str, run_id: str, source: str) -> None:
    cur.execute(
        "INSERT INTO batches (batch_id, stage, run_id, source_uri) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (batch_id) DO NOTHING",
        (batch_id, STAGE, run_id, source),
    )
    new = [ex for ex in examined if not ex.already_registered]
    # Originals first, so in-batch duplicates can point at their ids.
    originals = sorted((ex for ex in new if ex.status != "duplicate"), key=lambda ex: ex.entry.key)
    duplicates = sorted((ex for ex in new if ex.status == "duplicate"), key=lambda ex: ex.entry.key)
    ids_by_sha: dict[str, int] = {}
    for group in (originals, duplicates):
        for ex in group:
            if ex.status == "duplicate" and ex.duplicate_of is None:
                ex.duplicate_of = ids_by_sha[ex.sha256]
        rows = [
            (ex.sha256, ex.size, ex.format, ex.width, ex.height, ex.source_uri, ex.original_name, ex.class_name,
             batch_id, ex.status, STAGE, [ex.reason] if ex.reason else [], ex.warnings, ex.duplicate_of,
             ex.arrival)
            for ex in group
        ]
        returned = db.execute_batch(
            cur,
            "INSERT INTO images (sha256, size_bytes, format, width, height, source_uri, original_name, class_name,"
            " batch_id, status, stage, reason_codes, warnings, duplicate_of, arrival) VALUES %s"
            " ON CONFLICT ON CONSTRAINT images_natural_key DO UPDATE SET updated_at = images.updated_at"
            " RETURNING image_id, source_uri, sha256",
            rows, fetch=True,
        )
        ids = {(r[1], r[2]): r[0] for r in returned}
        for ex in group:
            ex.image_id = ids[(ex.source_uri, ex.sha256)]
            if ex.status == "raw":
                ids_by_sha.setdefault(ex.sha256, ex.image_id)


def record_locations(cur, examined: list[Examined], batch_id: str) -> None:
    new = [ex for ex in examined if not ex.already_registered]
    db.execute_batch(
        cur,
        "UPDATE images SET location = v.location, updated_at = now() FROM (VALUES %s) AS v(image_id, location)"
        " WHERE images.image_id = v.image_id",
        [(ex.image_id, ex.target_uri) for ex in new],
    )
    db.execute_batch(
        cur,
        "INSERT INTO quarantine (entity_kind, entity_key, stage, reason_code, detail, location, batch_id)"
        " VALUES %s ON CONFLICT ON CONSTRAINT quarantine_natural_key DO NOTHING",
        [("image", str(ex.image_id), STAGE, ex.reason,
          (ex.detail or (f"same bytes as image {ex.duplicate_of}" if ex.duplicate_of else ""))[:1000],
          ex.target_uri, batch_id)
         for ex in new if ex.status != "raw"],
    )
