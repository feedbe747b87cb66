"""Routing rejects: where a rejected image goes in quarantine, and copying its bytes there."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath

from trainset import db
from trainset.config import ProjectConfig
from trainset.refine.records import STAGE
from trainset.refine.source import SourceReader
from trainset.storage import Storage, transfer

log = logging.getLogger(__name__)


def quarantine_uri(root: str, image_id: int, original_name: str, reason: str) -> str:
    name = PurePosixPath(original_name.replace("\\", "_")).name or "image"
    return f"{root}/{STAGE}/{reason}/{image_id}_{name}"


def route_rejects(conn, batch_id: str, reader: SourceReader, quarantine: Storage) -> int:
    """Copy each rejected image of the batch to its quarantine location (skipped when already there)."""
    copied = 0
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, """
            SELECT DISTINCT i.image_id, i.location, i.size_bytes, q.location AS target
            FROM refine_batch_items b JOIN images i ON i.image_id = b.image_id
            JOIN quarantine q ON q.entity_kind = 'image' AND q.entity_key = i.image_id::text AND q.stage = %s
            WHERE b.batch_id = %s AND i.status = 'rejected' AND i.location IS DISTINCT FROM q.location""",
                              (STAGE, batch_id))
    for r in rows:
        key = r["target"][len(quarantine.uri) + 1:]
        if not (quarantine.exists(key) and quarantine.size(key) == r["size_bytes"]):
            src, src_key = reader.store_and_key(r["location"])
            try:
                transfer(src, src_key, quarantine, key, remove_source=False)
            except FileNotFoundError:
                # The raw bytes vanished (deleted by hand): the verdict stands, the location stays the raw one.
                log.warning("image %s: raw file %s is missing; nothing to copy to quarantine", r["image_id"],
                            r["location"])
                continue
            copied += 1
        with conn.cursor() as cur:
            cur.execute("UPDATE images SET location = %s, updated_at = now() WHERE image_id = %s",
                        (r["target"], r["image_id"]))
        conn.commit()  # a file was copied: its location is recorded even if a later image fails
    return copied


def reject_at_output(cur, config: ProjectConfig, r: dict, error: str, batch_id: str, reader: SourceReader,
                     quarantine: Storage) -> None:
    """An image that passed the suite but cannot be rendered: copied to quarantine as ``corrupt``, recorded."""
    target = quarantine_uri(config.storage.quarantine, r["image_id"], r["original_name"], "corrupt")
    src, key = reader.store_and_key(r["location"])
    try:
        transfer(src, key, quarantine, target[len(quarantine.uri) + 1:], remove_source=False)
    except FileNotFoundError:
        target = r["location"]  # the raw bytes vanished: record the verdict, keep the last known location
    cur.execute("UPDATE images SET status = 'rejected', stage = %s, reason_codes = %s, location = %s, "
                "updated_at = now() WHERE image_id = %s", (STAGE, ["corrupt"], target, r["image_id"]))
    cur.execute("UPDATE refine_measurements SET verdict = 'rejected', reason_codes = %s WHERE image_id = %s",
                (["corrupt"], r["image_id"]))
    cur.execute("INSERT INTO quarantine (entity_kind, entity_key, stage, reason_code, detail, location, batch_id) "
                "VALUES ('image', %s, %s, 'corrupt', %s, %s, %s) ON CONFLICT (entity_kind, entity_key, stage, "
                "reason_code) DO NOTHING", (str(r["image_id"]), STAGE, f"output failed: {error}", target, batch_id))
