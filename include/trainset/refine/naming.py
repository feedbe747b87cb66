"""Naming: each refined image's dataset name under the naming rule (``naming.pattern``), its sequence number
allocated once per name prefix and kept in ``images.dataset_name``."""

from __future__ import annotations

import datetime as dt
import string
from zoneinfo import ZoneInfo

from trainset.config import ProjectConfig


def dataset_fields(config: ProjectConfig, class_name: str, capture_time: dt.datetime | None) -> dict:
    tz = ZoneInfo(config.project.timezone)
    when = (capture_time or dt.datetime.now(tz)).astimezone(tz)
    cls = config.class_by_name(class_name)
    return {"project": config.project.code, "class_name": class_name, "class_id": cls.id if cls else 0,
            "yyyymmdd": when.strftime("%Y%m%d")}


def sequence_scope(pattern: str, fields: dict) -> str:
    """Numbers restart per distinct name prefix (what the pattern's other placeholders make of an image)."""
    used = sorted(name for _, name, _, _ in string.Formatter().parse(pattern) if name and name != "seq")
    return pattern + "|" + "|".join(f"{k}={fields[k]}" for k in used)


def allocate_sequences(cur, scope: str, count: int) -> range:
    """``count`` fresh numbers for ``scope``, atomically (a row lock held until commit; parallel batches wait)."""
    cur.execute("INSERT INTO name_sequences (scope, last_value) VALUES (%s, %s) ON CONFLICT (scope) DO UPDATE "
                "SET last_value = name_sequences.last_value + EXCLUDED.last_value RETURNING last_value",
                (scope, count))
    last = cur.fetchone()[0]
    return range(last - count + 1, last + 1)


def assign_names(conn, config: ProjectConfig, images: list[dict]) -> None:
    """Give each image without one its name under the naming rule (kept in images.dataset_name)."""
    need = [r for r in images if not r["dataset_name"]]
    groups: dict[str, list[dict]] = {}
    for r in need:
        r["_fields"] = dataset_fields(config, r["class_name"], r["capture_time"])
        groups.setdefault(sequence_scope(config.naming.pattern, r["_fields"]), []).append(r)
    with conn.cursor() as cur:
        for scope, rows in sorted(groups.items()):
            for r, seq in zip(rows, allocate_sequences(cur, scope, len(rows)), strict=True):
                r["dataset_name"] = config.naming.pattern.format(**r["_fields"], seq=seq)
                cur.execute("UPDATE images SET dataset_name = %s, updated_at = now() WHERE image_id = %s",
                            (r["dataset_name"], r["image_id"]))
    # Files are written under these names next: the names (and the sequence rows' locks) must not wait for the
    # whole batch, and a failed render must not hand the numbers out again.
    conn.commit()
