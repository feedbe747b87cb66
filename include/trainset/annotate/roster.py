"""The labeler roster the PM edits (YAML or CSV) and its sync into the ``workers`` table.

YAML::

    workers:
      - {worker_id: kim, name: 김라벨, slack_user_id: U01KIM, employment_start: 2026-01-05,
         employment_end: null, daily_capacity: 40, classes: [person, animal]}

CSV: the same columns; ``classes`` separated by ``;`` or ``|``; empty ``employment_end`` means open-ended.
``classes: [all]`` (or ``*``) means every project class.  Workers missing from the roster are deactivated in
the DB (never deleted: their assignments and annotations keep pointing at them).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trainset.config import PROJECT_ROOT, ProjectConfig
from trainset.db import execute_batch


class RosterError(ValueError):
    """The roster file is unreadable or invalid; the message names the row and field."""


class RosterEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    worker_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str
    slack_user_id: str | None = None
    employment_start: dt.date
    employment_end: dt.date | None = None
    daily_capacity: int | None = Field(default=None, ge=0)
    classes: list[str] = []
    active: bool = True

    @field_validator("slack_user_id", "employment_end", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value in ("", None) else value


def roster_path(config: ProjectConfig) -> Path:
    path = Path(config.annotate.roster_path)
    return path if path.is_absolute() else PROJECT_ROOT / path


def _rows_from_text(text: str, suffix: str) -> list[dict]:
    if suffix == ".csv":
        rows = []
        for row in csv.DictReader(io.StringIO(text)):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            row["classes"] = [c.strip() for c in row.get("classes", "").replace("|", ";").split(";") if c.strip()]
            if row.get("daily_capacity", "") == "":
                row.pop("daily_capacity", None)
            if "active" in row:
                row["active"] = row["active"].lower() not in ("false", "0", "no", "n")
            rows.append(row)
        return rows
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("workers"), list):
        raise RosterError("the roster must be a mapping with a 'workers' list")
    return data["workers"]


def load_roster(config: ProjectConfig, path: Path | None = None) -> list[RosterEntry]:
    path = path or roster_path(config)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RosterError(f"cannot read roster {path}: {err.strerror}") from None
    try:
        rows = _rows_from_text(text, path.suffix.lower())
    except yaml.YAMLError as err:
        raise RosterError(f"roster {path} is not valid YAML: {err}") from None
    entries, seen = [], set()
    known = set(config.class_names)
    for n, row in enumerate(rows, 1):
        try:
            entry = RosterEntry.model_validate(row)
        except ValidationError as err:
            where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
            raise RosterError(f"roster {path} worker #{n}: {where}") from None
        classes = sorted(known) if {"all", "*"} & set(entry.classes) else entry.classes
        if unknown := sorted(set(classes) - known):
            raise RosterError(f"roster {path} worker {entry.worker_id}: unknown class(es) {unknown}")
        if entry.worker_id in seen:
            raise RosterError(f"roster {path}: worker_id {entry.worker_id} appears twice")
        if entry.employment_end and entry.employment_end < entry.employment_start:
            raise RosterError(f"roster {path} worker {entry.worker_id}: employment_end before employment_start")
        seen.add(entry.worker_id)
        capacity = entry.daily_capacity if entry.daily_capacity is not None else config.annotate.default_daily_capacity
        entries.append(entry.model_copy(update={"classes": sorted(classes), "daily_capacity": capacity}))
    return entries


def sync_roster(conn, entries: list[RosterEntry]) -> dict[str, int]:
    """Upsert the roster into ``workers``; workers no longer listed become inactive. Returns counts."""
    with conn.cursor() as cur:
        execute_batch(cur, """
            INSERT INTO workers (worker_id, name, slack_user_id, employment_start, employment_end, daily_capacity,
                                 classes, active)
            VALUES %s
            ON CONFLICT (worker_id) DO UPDATE SET
                name = EXCLUDED.name, slack_user_id = EXCLUDED.slack_user_id,
                employment_start = EXCLUDED.employment_start, employment_end = EXCLUDED.employment_end,
                daily_capacity = EXCLUDED.daily_capacity, classes = EXCLUDED.classes, active = EXCLUDED.active,
                synced_at = now()
        """, [(e.worker_id, e.name, e.slack_user_id, e.employment_start, e.employment_end, e.daily_capacity,
               list(e.classes), e.active) for e in entries], page_size=500)
        cur.execute("UPDATE workers SET active = false, synced_at = now() WHERE active AND NOT worker_id = ANY(%s)",
                    ([e.worker_id for e in entries],))
        deactivated = cur.rowcount
    return {"workers": len(entries), "active": sum(e.active for e in entries), "deactivated": deactivated}
