"""The records-DB side of the annotate_intake tasks; every function is keyed by the work date and re-runnable.

- ``distribute_day``: roster sync, the day's assignment (reused verbatim when the day was already distributed),
  each worker's list in ``labeling/assignments/<date>/<worker>.csv``;
- ``check_uploads`` / ``notify_missing``: the upload check at the due time, one Slack message per worker with
  missing items, deduplicated through ``notifications``;
- ``ingest_day``: read the day's uploads (zips safely), JSON-Schema validation and normalisation, annotations
  rows, and the flattened table ``annotation_rule_rows`` the GX suite judges;
- ``record_first_inspection``: the GX operator's ``record_with``: verdicts, inspections (round 'first');
- ``repair_day``: refinement remedies and the second inspection;
- ``publish_results``: accepted labels, quarantine, rework queue, the PM's daily tables.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

from trainset import figures
from trainset.annotate.distribution import Candidate, Worker, class_priority, distribute, is_working_day
from trainset.annotate.model import (
    REASON_CATEGORY,
    REFINEMENT_REASONS,
    SYNTAX_REASONS,
    Finding,
    LabelItem,
    to_project_json,
)
from trainset.annotate.readers import parse_files
from trainset.annotate.roster import load_roster, sync_roster
from trainset.annotate.rules import (
    COLUMNS,
    ImageFacts,
    RuleUnit,
    findings_from_failures,
    flatten,
    judge,
    prune_attribute_rows,
    suite_parameters,
)
from trainset.annotate.uploads import (
    accepted_key,
    assignment_list_key,
    read_upload,
    safe_zip_members,
    upload_prefix,
)
from trainset.config import ProjectConfig
from trainset.db import execute_batch, fetch_dicts
from trainset.storage import Storage

log = logging.getLogger(__name__)
STAGE = "annotate"


def batch_id_for(day: dt.date) -> str:
    return f"annotate_intake__{day.isoformat()}"


def day_from_batch_id(batch_id: str) -> dt.date:
    return dt.date.fromisoformat(batch_id.rsplit("__", 1)[-1])


def due_at(config: ProjectConfig, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, config.schedules.labeling_upload_due, tzinfo=ZoneInfo(config.project.timezone))


def _stem(name: str | None) -> str | None:
    return PurePosixPath(name).stem if name else None


def _ensure_batch(cur, day: dt.date, run_id: str, counts: dict | None = None) -> str:
    batch_id = batch_id_for(day)
    cur.execute("""INSERT INTO batches (batch_id, stage, run_id, counts) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (batch_id) DO UPDATE SET run_id = EXCLUDED.run_id,
                       counts = batches.counts || EXCLUDED.counts, finished_at = now()""",
                (batch_id, STAGE, run_id, json.dumps(counts or {})))
    return batch_id


# ---------------------------------------------------------------- distribution

def _workers(cur) -> list[Worker]:
    rows = fetch_dicts(cur, "SELECT * FROM workers ORDER BY worker_id")
    return [Worker(r["worker_id"], r["daily_capacity"], frozenset(r["classes"]), r["employment_start"],
                   r["employment_end"], r["active"]) for r in rows]


def _write_lists(cur, labeling: Storage, config: ProjectConfig, day: dt.date) -> list[str]:
    rows = fetch_dicts(cur, """
        SELECT a.worker_id, regexp_replace(i.dataset_name, '\\.[^.]*$', '') AS item_key, i.location, i.class_name,
               a.task_kind, a.due_at
        FROM assignments a JOIN images i USING (image_id)
        WHERE a.work_date = %s ORDER BY a.worker_id, a.task_kind DESC, item_key""", (day,))
    written = []
    for worker_id in sorted({r["worker_id"] for r in rows}):
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(["item_key", "image_uri", "class_name", "task_kind", "due_at", "upload_to"])
        for r in rows:
            if r["worker_id"] == worker_id:
                # GT and consensus replicas look like any other work (trainset.quality.service.HIDDEN_KINDS).
                kind = "label" if r["task_kind"] in ("gt", "consensus_1", "consensus_2") else r["task_kind"]
                out.writerow([r["item_key"], r["location"], r["class_name"], kind,
                              r["due_at"].isoformat() if r["due_at"] else "",
                              labeling.child_uri(upload_prefix(day, worker_id)) + "/"])
        written.append(labeling.write_bytes(assignment_list_key(day, worker_id), buf.getvalue().encode("utf-8")))
    return written


def distribute_day(conn, config: ProjectConfig, labeling: Storage, day: dt.date, *, dry_run: bool = False,
                   sync: bool = True) -> dict:
    """Assign the day's work (see ``trainset.annotate.distribution``); re-running a day reuses its assignment."""
    roster = None
    if sync:
        entries = load_roster(config)
        roster = sync_roster(conn, entries) if not dry_run else {"workers": len(entries)}
    with conn.cursor() as cur:
        existing = fetch_dicts(cur, """SELECT a.worker_id, a.task_kind, i.class_name FROM assignments a
                                       JOIN images i USING (image_id) WHERE a.work_date = %s""", (day,))
        working = is_working_day(day, config.project)
        cur.execute("""SELECT class_name, count(*) FROM images i WHERE status = 'refined' AND dataset_name IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.image_id = i.image_id
                                       AND a.task_kind = 'label') GROUP BY 1""")
        remaining = {r[0]: r[1] for r in cur.fetchall()}
        cur.execute("SELECT count(*) FROM rework_queue WHERE status = 'open' AND opened_on < %s", (day,))
        rework_open = cur.fetchone()[0]
        cur.execute("""SELECT i.class_name, count(DISTINCT a.image_id) FROM assignments a JOIN images i USING (image_id)
                       WHERE a.task_kind = 'label' AND a.work_date < %s GROUP BY 1""", (day,))
        done = {r[0]: r[1] for r in cur.fetchall()}
        priority = class_priority(day, config.project, {c.name: c.target_count for c in config.classes}, done)
        reused = bool(existing)
        if reused:
            pairs = [(r["worker_id"], r["class_name"], r["task_kind"]) for r in existing]
        else:
            candidates = [Candidate(r["class_name"], _stem(r["dataset_name"]), r["image_id"]) for r in fetch_dicts(
                cur, """SELECT image_id, class_name, dataset_name FROM images i
                        WHERE status = 'refined' AND dataset_name IS NOT NULL AND class_name IS NOT NULL
                          AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.image_id = i.image_id
                                          AND a.task_kind = 'label')""")]
            rework = fetch_dicts(cur, """
                SELECT r.rework_id, r.image_id, r.item_key, r.worker_id, i.class_name FROM rework_queue r
                JOIN images i USING (image_id) WHERE r.status = 'open' AND r.opened_on < %s""", (day,))
            candidates += [Candidate(r["class_name"], r["item_key"], r["image_id"], "rework", r["worker_id"])
                           for r in rework]
            within = label_order(cur, config, candidates)
            plan = distribute(day, _workers(cur), candidates, priority=[p[0] for p in priority], working_day=working,
                              within_class=within)
            pairs = [(a.worker_id, a.class_name, a.task_kind) for a in plan]
            if not dry_run and plan:
                due = due_at(config, day)
                execute_batch(cur, """INSERT INTO assignments (image_id, worker_id, task_kind, work_date, due_at,
                                      reason) VALUES %s ON CONFLICT (image_id, task_kind, work_date) DO NOTHING""",
                              [(a.image_id, a.worker_id, a.task_kind, day, due, a.reason) for a in plan])
                reworked = [r["rework_id"] for r in rework
                            if any(a.image_id == r["image_id"] and a.task_kind == "rework" for a in plan)]
                if reworked:
                    cur.execute("UPDATE rework_queue SET status = 'assigned', assigned_on = %s "
                                "WHERE rework_id = ANY(%s)", (day, reworked))
        lists = [] if dry_run else _write_lists(cur, labeling, config, day)
    by_worker = Counter(w for w, _, _ in pairs)
    by_class = Counter(c for _, c, _ in pairs)
    return {
        "work_date": day.isoformat(), "working_day": working, "reused": reused, "dry_run": dry_run,
        "assigned": len(pairs), "rework": sum(1 for *_, k in pairs if k == "rework"),
        "by_worker": dict(sorted(by_worker.items())), "by_class": dict(sorted(by_class.items())),
        "priority": [{"class": c, "deficit": d} for c, d in priority],
        "remaining_before": remaining, "rework_open": rework_open, "roster": roster, "lists": lists,
    }


def label_order(cur, config, candidates) -> dict[int, tuple[int, str]] | None:
    """``curation.label_order: diversity``: new work per class in k-center order over the stored features, seeded
    with the class's images already assigned for labelling (rarity); None keeps the item-key order."""
    if config.curation.label_order != "diversity":
        return None
    from trainset.curation.features import FEATURES_VERSION
    from trainset.curation.select import k_center_order

    new = [c for c in candidates if c.task_kind == "label"]
    if not new:
        return None
    cur.execute("""SELECT i.image_id, i.class_name, f.vector, EXISTS (SELECT 1 FROM assignments a
                          WHERE a.image_id = i.image_id AND a.task_kind = 'label') AS labelled
                   FROM images i JOIN image_features f ON f.sha256 = i.sha256 AND f.kind = %s
                   WHERE i.class_name = ANY(%s) AND i.status NOT IN ('raw', 'rejected')""",
                (FEATURES_VERSION, sorted({c.class_name for c in new})))
    rows = cur.fetchall()
    wanted = {c.image_id for c in new}
    out: dict[int, tuple[int, str]] = {}
    for class_name in sorted({c.class_name for c in new}):
        cands = {r[0]: r[2] for r in rows if r[1] == class_name and r[0] in wanted}
        labelled = [r[2] for r in rows if r[1] == class_name and r[3]]
        for p in k_center_order(cands, labelled):
            out[p.image_id] = (p.rank, p.reason)
    return out


# ---------------------------------------------------------------- upload check

def _labels_in(labeling: Storage, day: dt.date, worker_id: str, config: ProjectConfig):
    files, problems = read_upload(labeling, upload_prefix(day, worker_id), config)
    parsed = parse_files([(f.name, f.data, f.source_uri) for f in files],
                         class_order=[c.name for c in sorted(config.classes, key=lambda c: c.id)],
                         max_bytes=config.annotate.label_max_bytes)
    return parsed, problems


def check_uploads(conn, config: ProjectConfig, labeling: Storage, day: dt.date) -> dict[str, dict]:
    """Assignments due on ``day`` against what each worker uploaded: {worker: {assigned, uploaded, missing}}."""
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, """
            SELECT a.assignment_id, a.worker_id, regexp_replace(i.dataset_name, '\\.[^.]*$', '') AS item_key,
                   regexp_replace(i.original_name, '\\.[^.]*$', '') AS original_stem, w.name, w.slack_user_id
            FROM assignments a JOIN images i USING (image_id) JOIN workers w USING (worker_id)
            WHERE a.work_date = %s ORDER BY a.worker_id, item_key""", (day,))
        report: dict[str, dict] = {}
        uploaded_ids = []
        for worker_id in sorted({r["worker_id"] for r in rows}):
            parsed, _ = _labels_in(labeling, day, worker_id, config)
            keys = {p.item_key for p in parsed}
            mine = [r for r in rows if r["worker_id"] == worker_id]
            # A label named after the photo's pre-rename name counts as uploaded (refinement remedies repair it).
            missing = [r["item_key"] for r in mine if r["item_key"] not in keys and r["original_stem"] not in keys]
            uploaded_ids += [r["assignment_id"] for r in mine if r["item_key"] in keys or r["original_stem"] in keys]
            report[worker_id] = {"name": mine[0]["name"], "slack_user_id": mine[0]["slack_user_id"],
                                 "assigned": len(mine), "uploaded": len(mine) - len(missing), "missing": missing,
                                 "upload_to": labeling.child_uri(upload_prefix(day, worker_id)) + "/"}
        if uploaded_ids:
            cur.execute("UPDATE assignments SET status = 'uploaded' WHERE assignment_id = ANY(%s) "
                        "AND status = 'assigned'", (uploaded_ids,))
    return report


def missing_message(config: ProjectConfig, day: dt.date, name: str, missing: list[str], upload_to: str | None = None,
                    limit: int = 30) -> str:
    due = config.schedules.labeling_upload_due.strftime("%H:%M")
    shown = "\n".join(f"• {key}" for key in missing[:limit])
    more = f"\n… 외 {len(missing) - limit}건" if len(missing) > limit else ""
    where = upload_to or f"labeling/{upload_prefix(day)}/<worker_id>/"
    return (f":warning: {name}님, {day.isoformat()} 라벨링 마감({due}) 기준 미제출 {len(missing)}건이 있습니다 "
            f"(missing uploads for {day}).\n{shown}{more}\n업로드 위치 (upload to): {where}")


def notify_missing(conn, config: ProjectConfig, day: dt.date, report: dict[str, dict],
                   send: Callable[[str, str], None], *, dry_run: bool = False) -> dict:
    """One Slack message per worker with missing items; ``notifications`` makes a re-run send nothing new.

    ``send(channel, text)`` raises on failure: the attempt is recorded and the error re-raised (task retry)."""
    sent, skipped, failed = [], [], []
    for worker_id, info in sorted(report.items()):
        if not info["missing"]:
            continue
        channel = info["slack_user_id"] or config.slack.labeling
        text = missing_message(config, day, info["name"], info["missing"], info.get("upload_to"))
        key = f"annotate:missing_upload:{day.isoformat()}:{worker_id}"
        if dry_run:
            skipped.append(worker_id)
            continue
        with conn.cursor() as cur:
            cur.execute("""INSERT INTO notifications (dedupe_key, channel, recipient, payload) VALUES (%s, %s, %s, %s)
                           ON CONFLICT (dedupe_key) DO NOTHING""",
                        (key, "slack_dm" if info["slack_user_id"] else "slack_channel", channel,
                         json.dumps({"text": text, "worker_id": worker_id, "missing": info["missing"]},
                                    ensure_ascii=False)))
            cur.execute("SELECT notification_id, status FROM notifications WHERE dedupe_key = %s FOR UPDATE", (key,))
            notification_id, status = cur.fetchone()
            if status == "sent":
                skipped.append(worker_id)
                continue
            try:
                send(channel, text)
            except Exception as err:
                cur.execute("UPDATE notifications SET status = 'failed', attempts = attempts + 1, last_error = %s "
                            "WHERE notification_id = %s", (str(err)[:500], notification_id))
                conn.commit()
                failed.append(worker_id)
                raise
            cur.execute("UPDATE notifications SET status = 'sent', attempts = attempts + 1, sent_at = now(), "
                        "last_error = NULL WHERE notification_id = %s", (notification_id,))
        conn.commit()  # a message out is a fact: record it before the next one
        sent.append(worker_id)
    return {"sent": sent, "already_sent_or_dry_run": skipped, "failed": failed}


# ---------------------------------------------------------------- ingest (syntax + normalisation + flatten)

# Refine records the output size in its anonymize check; images.width/height keep the size as received.
SIZE_SQL = """COALESCE((SELECT (c.details->'output'->>'width')::int FROM check_results c
                        WHERE c.image_id = i.image_id AND c.check_name = 'anonymize'), i.width) AS width,
              COALESCE((SELECT (c.details->'output'->>'height')::int FROM check_results c
                        WHERE c.image_id = i.image_id AND c.check_name = 'anonymize'), i.height) AS height"""


def real_size(location: str | None, fallback: tuple[int | None, int | None]) -> tuple[int | None, int | None]:
    """The warehouse file's own size from its header when it is a local file; else what the DB says."""
    if location and location.startswith("file://"):
        try:
            from PIL import Image

            with Image.open(location.removeprefix("file://")) as im:
                return im.size
        except Exception:  # unreadable or gone: the DB's value is the best we have
            pass
    return fallback


class _Facts:
    """Warehouse image facts by item key (the dataset name's stem), fetched on demand and cached."""

    def __init__(self, cur):
        self.cur = cur
        self.cache: dict[str, ImageFacts | None] = {}

    def load(self, keys) -> None:
        keys = sorted({k for k in keys if k not in self.cache})
        if not keys:
            return
        for k in keys:
            self.cache[k] = None
        rows = fetch_dicts(self.cur, f"""
            SELECT image_id, regexp_replace(dataset_name, '\\.[^.]*$', '') AS item_key, {SIZE_SQL},
                   original_name, class_name, location
            FROM images i WHERE dataset_name IS NOT NULL  -- any status: a later stage may have moved it on
              AND regexp_replace(dataset_name, '\\.[^.]*$', '') = ANY(%s)""", (keys,))
        for r in rows:
            w, h = real_size(r["location"], (r["width"], r["height"]))
            self.cache[r["item_key"]] = ImageFacts(r["item_key"], w, h, r["image_id"], r["original_name"],
                                                   r["class_name"], r["location"])

    def get(self, key: str) -> ImageFacts | None:
        self.load([key])
        return self.cache.get(key)


def _upload_workers(labeling: Storage, day: dt.date) -> set[str]:
    prefix = upload_prefix(day)
    return {e.key[len(prefix):].lstrip("/").split("/", 1)[0] for e in labeling.list(prefix)
            if "/" in e.key[len(prefix):].lstrip("/")}


def ingest_day(conn, config: ProjectConfig, labeling: Storage, quarantine: Storage, day: dt.date, *,
               run_id: str) -> dict:
    """Read, validate (JSON Schema) and normalise the day's uploads; rebuild the day's rule table."""
    counts: Counter = Counter()
    syntax_by_code: Counter = Counter()
    with conn.cursor() as cur:
        batch_id = _ensure_batch(cur, day, run_id)
        assigned = fetch_dicts(cur, """
            SELECT a.assignment_id, a.worker_id, a.image_id, regexp_replace(i.dataset_name, '\\.[^.]*$', '') AS item_key,
                   regexp_replace(i.original_name, '\\.[^.]*$', '') AS original_stem
            FROM assignments a JOIN images i USING (image_id) WHERE a.work_date = %s""", (day,))
        facts = _Facts(cur)
        facts.load(r["item_key"] for r in assigned)
        workers = sorted({r["worker_id"] for r in assigned} | _upload_workers(labeling, day))
        records: dict[tuple[str, str], dict] = {}
        items: dict[tuple[str, str], LabelItem] = {}
        for worker_id in workers:
            files, problems = read_upload(labeling, upload_prefix(day, worker_id), config)
            counts["files"] += len(files)
            for prob in problems:
                counts["upload_problems"] += 1
                cur.execute("""INSERT INTO quarantine (entity_kind, entity_key, stage, reason_code, detail, location,
                                                       batch_id) VALUES ('upload', %s, %s, %s, %s, %s, %s)
                               ON CONFLICT (entity_kind, entity_key, stage, reason_code) DO NOTHING""",
                            (f"{day}/{worker_id}/{prob.name}", STAGE, prob.code, prob.detail,
                             _quarantine_copy(labeling, quarantine, prob.source_uri, day, worker_id), batch_id))

            def size(stem: str):
                f = facts.get(stem)
                return (f.width, f.height) if f and f.width else None

            parsed = parse_files([(f.name, f.data, f.source_uri) for f in files],
                                 class_order=[c.name for c in sorted(config.classes, key=lambda c: c.id)],
                                 image_size=size, max_bytes=config.annotate.label_max_bytes)
            for p in parsed:
                image = facts.get(p.item_key)
                syntax = sorted({f.code for f in p.findings})
                syntax_by_code.update(syntax)
                class_name = (image.class_name if image else None) or (p.item.class_name if p.item else None)
                records[(p.item_key, p.sha256)] = {
                    "image_id": image.image_id if image else None, "item_key": p.item_key, "worker_id": worker_id,
                    "source_uri": p.source_uri, "sha256": p.sha256, "source_format": p.source_format,
                    "status": "failed" if p.findings else "pending", "reason_codes": syntax,
                    "findings": json.dumps([f.model_dump() for f in p.findings], ensure_ascii=False),
                    "object_count": len(p.item.objects) if p.item else 0,
                    "payload": p.item.model_dump_json() if p.item else None, "class_name": class_name,
                }
                if p.item is not None:
                    items[(p.item_key, p.sha256)] = p.item
        # A label an earlier run re-keyed (pre-rename file name -> item key) keeps its row: upsert under that key.
        renamed = {(r["from_key"], r["sha256"]): r["item_key"] for r in fetch_dicts(cur, """
            SELECT a.item_key, a.sha256, r.details->>'from' AS from_key FROM annotations a
            JOIN annotation_repairs r USING (annotation_id)
            WHERE r.remedy = 'original_name' AND a.sha256 = ANY(%s)""", (sorted({k[1] for k in records}),))}
        for key in list(records):
            if key in renamed:
                records[key]["item_key"] = renamed[key]
        keys = list(records)
        ids = execute_batch(cur, """
            INSERT INTO annotations (image_id, item_key, worker_id, work_date, source_uri, sha256, source_format, status,
                                     reason_codes, findings, object_count, payload, class_name)
            VALUES %s
            ON CONFLICT (item_key, sha256) DO UPDATE SET
                image_id = EXCLUDED.image_id, worker_id = EXCLUDED.worker_id, work_date = EXCLUDED.work_date,
                source_uri = EXCLUDED.source_uri, source_format = EXCLUDED.source_format, status = EXCLUDED.status,
                reason_codes = EXCLUDED.reason_codes, findings = EXCLUDED.findings,
                object_count = EXCLUDED.object_count, payload = EXCLUDED.payload, class_name = EXCLUDED.class_name,
                label_uri = NULL, updated_at = now()
            RETURNING annotation_id, item_key, sha256""",
            [(r["image_id"], r["item_key"], r["worker_id"], day, r["source_uri"], r["sha256"], r["source_format"],
              r["status"], r["reason_codes"], r["findings"], r["object_count"], r["payload"], r["class_name"])
             for r in (records[k] for k in keys)], fetch=True)
        by_row_key = {(item_key, sha): aid for aid, item_key, sha in ids}
        annotation_ids = {k: by_row_key[(records[k]["item_key"], k[1])] for k in keys}
        cur.execute("DELETE FROM annotation_repairs WHERE annotation_id = ANY(%s)", (list(annotation_ids.values()),))

        labeled = {(records[k]["worker_id"], k[0]) for k in keys}
        units = [RuleUnit(ref=str(annotation_ids[k]), item_key=k[0], item=item, image=facts.get(k[0]))
                 for k, item in sorted(items.items(), key=lambda kv: annotation_ids[kv[0]])]
        missing = [r for r in assigned if (r["worker_id"], r["item_key"]) not in labeled
                   and (r["worker_id"], r["original_stem"]) not in labeled]
        units += [RuleUnit(ref=f"missing:{r['assignment_id']}", item_key=r["item_key"], item=None,
                           image=facts.get(r["item_key"])) for r in missing]
        rows = flatten(units, day)
        prune_attribute_rows(rows, suite_parameters(config))
        cur.execute("DELETE FROM annotation_rule_rows WHERE work_date = %s", (day,))
        execute_batch(cur, f"INSERT INTO annotation_rule_rows (work_date, {', '.join(COLUMNS)}) VALUES %s",
                      [(day, *(r[c] for c in COLUMNS)) for r in rows], page_size=1000)
        counts.update(workers=len(workers), labels=len(records), syntax_failed=sum(
            1 for r in records.values() if r["status"] == "failed"), missing=len(missing), rule_rows=len(rows))
        summary = {"work_date": day.isoformat(), "batch_id": batch_id, **counts,
                   "syntax_reasons": dict(syntax_by_code)}
        _ensure_batch(cur, day, run_id, {"ingest": summary})
    return summary


def _quarantine_copy(labeling: Storage, quarantine: Storage, source_uri: str, day: dt.date, worker_id: str,
                     cache: dict | None = None) -> str | None:
    """Copy a rejected label (or the zip holding it) to ``quarantine/annotate/<day>/<worker>/``; returns its URI."""
    if not source_uri.startswith(labeling.uri + "/"):
        return None
    key = source_uri[len(labeling.uri) + 1:]
    container = key.split("!/", 1)[0]
    member = key.split("!/", 1)[1] if "!/" in key else None
    try:
        data = labeling.read_bytes(container)
        if member is not None:
            members, _ = safe_zip_members(data, max_members=10**6, max_bytes=1 << 62, max_ratio=1e12)
            data = dict(members).get(member)
            if data is None:
                return None
    except Exception as err:  # the record matters more than the copy
        log.warning("cannot copy %s to quarantine: %s", source_uri, err)
        return None
    name = PurePosixPath(member or container).name
    return quarantine.write_bytes(f"annotate/{day.isoformat()}/{worker_id}/{name}", data)


# ---------------------------------------------------------------- first inspection verdicts (GX record_with)

def _record_verdicts(cur, day: dt.date, verdicts: dict[int, list[Finding]], round_name: str,
                     item_keys: dict[int, str] | None = None) -> None:
    """annotations status/reasons and one inspections row per item (the last annotation of an item wins).

    ``item_keys`` names the item each verdict is about (default: the annotation's current key); the first round
    passes the key as uploaded, so a later repair that re-keys the label does not change the first verdict."""
    if not verdicts:
        return
    rows = fetch_dicts(cur, "SELECT annotation_id, item_key FROM annotations WHERE annotation_id = ANY(%s)",
                       (list(verdicts),))
    updates, inspections = [], {}
    for r in sorted(rows, key=lambda r: r["annotation_id"]):
        if item_keys and r["annotation_id"] in item_keys:
            r["item_key"] = item_keys[r["annotation_id"]]
        found = verdicts[r["annotation_id"]]
        codes = sorted({f.code for f in found})
        updates.append((r["annotation_id"], "failed" if codes else "passed", codes,
                        json.dumps([f.model_dump() for f in found], ensure_ascii=False)))
        category = _category(codes)
        inspections[r["item_key"]] = (r["item_key"], r["annotation_id"], round_name, "fail" if codes else "pass",
                                      codes, category, "auto", None, day)
    execute_batch(cur, """UPDATE annotations a SET status = v.status, reason_codes = v.codes::text[],
                                 findings = v.findings::jsonb, updated_at = now()
                          FROM (VALUES %s) AS v(annotation_id, status, codes, findings)
                          WHERE a.annotation_id = v.annotation_id""", updates)
    _upsert_inspections(cur, list(inspections.values()))


def _category(codes: list[str]) -> str | None:
    if not codes:
        return None
    cats = {REASON_CATEGORY.get(c, "annotation") for c in codes}
    return "refinement" if cats <= {"pairing", "image"} and set(codes) & REFINEMENT_REASONS else "annotation"


def _upsert_inspections(cur, rows: list[tuple]) -> None:
    # One row per (item, round, day) per statement (PostgreSQL refuses to upsert a row twice in one statement).
    rows = list({(r[0], r[2], r[8]): r for r in rows}.values())
    execute_batch(cur, """
        INSERT INTO inspections (item_key, annotation_id, round, verdict, reason_codes, reason_category, inspector,
                                 comment, inspected_on) VALUES %s
        ON CONFLICT (item_key, round, inspected_on) DO UPDATE SET annotation_id = EXCLUDED.annotation_id,
            verdict = EXCLUDED.verdict, reason_codes = EXCLUDED.reason_codes,
            reason_category = EXCLUDED.reason_category, recorded_at = now()""", rows)


def record_first_inspection(conn, outcome, *, run_id: str, batch_id: str) -> dict:
    """``record_with`` for the GX operator: the suite's failures become the day's first-inspection verdicts."""
    day = day_from_batch_id(batch_id)
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, "SELECT row_id, ref, item_key, row_where FROM annotation_rule_rows WHERE work_date = %s",
                           (day,))
        findings = findings_from_failures(outcome.failures, rows)
        refs = {r["ref"] for r in rows}
        verdicts = {int(ref): findings.get(ref, []) for ref in refs if not ref.startswith("missing:")}
        # Syntax failures never reached the table: their first inspection is the schema's verdict.
        syntax = fetch_dicts(cur, """SELECT annotation_id, item_key, reason_codes FROM annotations
                                     WHERE work_date = %s AND status = 'failed'
                                       AND reason_codes && %s::text[]""", (day, sorted(SYNTAX_REASONS)))
        uploaded_keys = {int(r["ref"]): r["item_key"] for r in rows if not r["ref"].startswith("missing:")}
        # A broken upload first, so a readable upload of the same item the same day gives the item's verdict.
        _upsert_inspections(cur, [(r["item_key"], r["annotation_id"], "first", "fail", r["reason_codes"],
                                   "annotation", "auto", None, day) for r in syntax])
        _record_verdicts(cur, day, verdicts, "first", uploaded_keys)
        missing = [r for r in rows if r["ref"].startswith("missing:") and r["row_id"].endswith(":item")]
        _upsert_inspections(cur, [(r["item_key"], None, "first", "fail", ["no_label"], "annotation", "auto", None,
                                   day) for r in missing])
        # Assignments follow their item's verdict.
        cur.execute("""
            UPDATE assignments a SET status = CASE WHEN x.verdict = 'pass' THEN 'passed' ELSE 'failed' END,
                   reason_codes = x.reason_codes
            FROM inspections x, images i
            WHERE a.work_date = %s AND x.inspected_on = %s AND x.round = 'first' AND a.image_id = i.image_id
              AND x.item_key = regexp_replace(i.dataset_name, '\\.[^.]*$', '')""", (day, day))
        passed = sum(1 for v in verdicts.values() if not v)
    # The first round only, before repairs: the day's figures are publish_results' (trainset.figures).
    return {"work_date": day.isoformat(), "round": "first, before repairs",
            "inspected": len(verdicts) + len(syntax), "passed": passed,
            "failed": len(verdicts) - passed + len(syntax), "missing": len(missing),
            "rule_failures_rows_per_reason": dict(outcome.reason_counts), "syntax_failed": len(syntax)}


# ---------------------------------------------------------------- refinement remedies + second inspection

def _original_candidates(cur, stem: str) -> list[dict]:
    rows = fetch_dicts(cur, f"""
        SELECT image_id, regexp_replace(dataset_name, '\\.[^.]*$', '') AS item_key, dataset_name, original_name,
               {SIZE_SQL}, class_name, location
        FROM images i WHERE dataset_name IS NOT NULL
          AND (original_name = %s OR regexp_replace(original_name, '\\.[^.]*$', '') = %s)""", (stem, stem))
    for r in rows:
        r["width"], r["height"] = real_size(r["location"], (r["width"], r["height"]))
    return rows


def plan_repair(item: LabelItem, codes: set[str], image: ImageFacts | None, by_original: list[dict],
                tolerance: float) -> tuple[LabelItem | None, list[tuple[str, dict]], str | None]:
    """The repaired item and the remedies applied, or (None, [], why) when a fix is not certain."""
    remedies: list[tuple[str, dict]] = []
    if "no_image" in codes:
        if len(by_original) != 1:
            return None, [], f"{len(by_original)} warehouse images were named {item.label_stem} before renaming"
        target = by_original[0]
        image = ImageFacts(target["item_key"], target["width"], target["height"], target["image_id"],
                           target["original_name"], target["class_name"], target["location"])
        remedies.append(("original_name", {"from": item.item_key, "to": target["item_key"]}))
        item = item.model_copy(update={"item_key": target["item_key"], "label_stem": target["item_key"],
                                       "image_file_name": target["dataset_name"]})
    elif "stem_mismatch" in codes:
        declared = item.image_file_name or ""
        if image is None or not image.original_name or declared not in (image.original_name,
                                                                       _stem(image.original_name)):
            return None, [], f"image.file_name {declared!r} is not the image's name before renaming"
        renamed = f"{item.item_key}{PurePosixPath(declared).suffix or '.jpg'}"
        remedies.append(("original_name", {"from": declared, "to": renamed}))
        item = item.model_copy(update={"image_file_name": renamed})
    if image is not None and item.width and item.height and image.width and image.height \
            and (item.width, item.height) != (image.width, image.height):
        sx, sy = image.width / item.width, image.height / item.height
        # Certain only when one scale explains both sides (aspect ratio kept, up to rounding).
        if abs(item.width * sy - image.width) > tolerance or abs(item.height * sx - image.height) > tolerance:
            return None, [], f"size {item.width}x{item.height} -> {image.width}x{image.height} is not one scale"
        remedies.append(("rescale", {"from": [item.width, item.height], "to": [image.width, image.height],
                                     "scale": [round(sx, 6), round(sy, 6)]}))
        item = item.scaled(sx, sy, image.width, image.height)
    if not remedies:
        return None, [], "nothing certain to repair"
    return item, remedies, None


def repair_day(conn, config: ProjectConfig, day: dt.date, *, docs_dir=None, run_name: str | None = None) -> dict:
    """Repair failures caused by refinement where the fix is certain, and inspect the repaired items again."""
    allowed = REFINEMENT_REASONS | {"outside_image"}
    with conn.cursor() as cur:
        failed = fetch_dicts(cur, """SELECT annotation_id, item_key, reason_codes, payload FROM annotations
                                     WHERE work_date = %s AND status = 'failed' AND payload IS NOT NULL
                                     ORDER BY annotation_id""", (day,))
        facts = _Facts(cur)
        attempts, uncertain = [], []
        for r in failed:
            codes = set(r["reason_codes"])
            if not codes & REFINEMENT_REASONS or not codes <= allowed:
                continue
            item = LabelItem.model_validate(r["payload"])
            by_original = _original_candidates(cur, item.label_stem) if "no_image" in codes else []
            repaired, remedies, why = plan_repair(item, codes, facts.get(item.item_key), by_original,
                                                  config.annotate.resize_tolerance_px)
            if repaired is None:
                uncertain.append({"annotation_id": r["annotation_id"], "item_key": r["item_key"], "why": why})
                continue
            attempts.append((r, repaired, remedies))
        verdicts: dict[int, list[Finding]] = {}
        if attempts:
            units = [RuleUnit(ref=str(r["annotation_id"]), item_key=item.item_key, item=item,
                              image=facts.get(item.item_key)) for r, item, _ in attempts]
            findings, _ = judge(units, config, day, docs_dir=docs_dir, run_name=run_name)
            for r, item, remedies in attempts:
                aid = r["annotation_id"]
                verdicts[aid] = findings.get(str(aid), [])
                image = facts.get(item.item_key)
                cur.execute("""UPDATE annotations SET item_key = %s, image_id = %s, payload = %s, object_count = %s,
                                      class_name = COALESCE(%s, class_name), updated_at = now()
                               WHERE annotation_id = %s""",
                            (item.item_key, image.image_id if image else None, item.model_dump_json(),
                             len(item.objects), image.class_name if image else None, aid))
                execute_batch(cur, """INSERT INTO annotation_repairs (annotation_id, remedy, details, repaired_on)
                                      VALUES %s ON CONFLICT (annotation_id, remedy) DO UPDATE
                                      SET details = EXCLUDED.details, repaired_on = EXCLUDED.repaired_on""",
                              [(aid, name, json.dumps(details, ensure_ascii=False), day) for name, details in remedies])
            _record_verdicts(cur, day, verdicts, "second")
            passed_keys = [item.item_key for r, item, _ in attempts if not verdicts[r["annotation_id"]]]
            if passed_keys:
                cur.execute("""UPDATE assignments a SET status = 'passed', reason_codes = '{}'
                               FROM images i WHERE a.image_id = i.image_id AND a.work_date = %s
                                 AND regexp_replace(i.dataset_name, '\\.[^.]*$', '') = ANY(%s)""", (day, passed_keys))
    repaired = sum(1 for v in verdicts.values() if not v)
    return {"work_date": day.isoformat(), "attempted": len(attempts), "repaired": repaired,
            "still_failed": len(attempts) - repaired, "uncertain": len(uncertain),
            "remedies": dict(Counter(name for _, _, rem in attempts for name, _ in rem)),
            "uncertain_items": uncertain[:20]}


# ---------------------------------------------------------------- results

def publish_results(conn, config: ProjectConfig, labeling: Storage, quarantine: Storage, day: dt.date) -> dict:
    """Accepted labels, quarantine, rework queue and the PM's daily tables for ``day``."""
    with conn.cursor() as cur:
        anns = fetch_dicts(cur, """
            SELECT a.annotation_id, a.item_key, a.worker_id, a.source_uri, a.sha256, a.status, a.reason_codes,
                   a.findings, a.payload, a.image_id, COALESCE(i.class_name, a.class_name, 'unknown') AS class_name,
                   i.dataset_name, EXISTS (SELECT 1 FROM annotation_repairs r
                                           WHERE r.annotation_id = a.annotation_id) AS repaired
            FROM annotations a LEFT JOIN images i USING (image_id)
            WHERE a.work_date = %s ORDER BY a.annotation_id""", (day,))
        missing = fetch_dicts(cur, """
            SELECT x.item_key, a.worker_id, a.image_id, i.class_name FROM inspections x
            JOIN images i ON x.item_key = regexp_replace(i.dataset_name, '\\.[^.]*$', '')
            JOIN assignments a ON a.image_id = i.image_id AND a.work_date = x.inspected_on
            WHERE x.inspected_on = %s AND x.round = 'first' AND x.reason_codes = '{no_label}'
              AND NOT EXISTS (SELECT 1 FROM annotations n WHERE n.item_key = x.item_key AND n.status = 'passed')""",
                              (day,))
        # Accepted labels in the project format, whatever came in.
        accepted = []
        for a in anns:
            if a["status"] != "passed":
                continue
            item = LabelItem.model_validate(a["payload"])
            doc = to_project_json(item, image_file_name=a["dataset_name"])
            uri = labeling.write_bytes(accepted_key(a["item_key"]),
                                       json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
            accepted.append((a["annotation_id"], uri))
        if accepted:
            execute_batch(cur, """UPDATE annotations a SET label_uri = v.uri FROM (VALUES %s) AS v(id, uri)
                                  WHERE a.annotation_id = v.id""", accepted)
        # Quarantine: every failed label, once per reason.
        q_rows = []
        for a in anns:
            if a["status"] != "failed":
                continue
            location = _quarantine_copy(labeling, quarantine, a["source_uri"], day, a["worker_id"] or "unknown")
            wheres = defaultdict(list)
            for f in a["findings"] or []:
                wheres[f["code"]].append(f.get("where") or "")
            for code in a["reason_codes"]:
                q_rows.append(("annotation", f"{a['item_key']}:{a['sha256'][:12]}", STAGE, code,
                               "; ".join(w for w in wheres.get(code, []) if w)[:1000] or None, location,
                               batch_id_for(day)))
        execute_batch(cur, """INSERT INTO quarantine (entity_kind, entity_key, stage, reason_code, detail, location,
                                                      batch_id) VALUES %s
                              ON CONFLICT (entity_kind, entity_key, stage, reason_code) DO UPDATE
                              SET detail = EXCLUDED.detail, location = EXCLUDED.location""", q_rows)
        # Rework queue: each failed item back to its labeler; items that passed today close older entries.
        rework = {}
        for a in anns:
            if a["status"] == "failed" and a["worker_id"]:
                rework[a["item_key"]] = (a["item_key"], a["image_id"], a["worker_id"], "first", a["reason_codes"], day)
        for m in missing:
            rework[m["item_key"]] = (m["item_key"], m["image_id"], m["worker_id"], "first", ["no_label"], day)
        passed_keys = sorted({a["item_key"] for a in anns if a["status"] == "passed"})
        for key in passed_keys:
            rework.pop(key, None)
        cur.execute("DELETE FROM rework_queue WHERE opened_on = %s AND source = 'first' AND status = 'open' "
                    "AND NOT item_key = ANY(%s)", (day, list(rework)))
        execute_batch(cur, """INSERT INTO rework_queue (item_key, image_id, worker_id, source, reason_codes, opened_on)
                              SELECT v.item_key, v.image_id::bigint, v.worker_id, v.source, v.codes::text[],
                                     v.opened_on::date
                              FROM (VALUES %s) AS v(item_key, image_id, worker_id, source, codes, opened_on)
                              JOIN workers w ON w.worker_id = v.worker_id
                              ON CONFLICT (item_key, source, opened_on) DO UPDATE
                              SET reason_codes = EXCLUDED.reason_codes""", list(rework.values()))
        if passed_keys:
            cur.execute("""UPDATE rework_queue SET status = 'closed', closed_on = %s
                           WHERE item_key = ANY(%s) AND status <> 'closed' AND opened_on < %s""",
                        (day, passed_keys, day))
        # The PM's daily tables.
        assigned = fetch_dicts(cur, """SELECT a.worker_id, i.class_name, a.status,
                                              regexp_replace(i.dataset_name, '\\.[^.]*$', '') AS item_key
                                       FROM assignments a JOIN images i USING (image_id) WHERE a.work_date = %s""",
                               (day,))
        stats: dict[tuple[str, str], Counter] = defaultdict(Counter)
        reasons: Counter = Counter()
        missing_keys = {m["item_key"] for m in missing}
        for r in assigned:
            s = stats[(r["worker_id"], r["class_name"] or "unknown")]
            s["assigned"] += 1
            if r["item_key"] in missing_keys:
                s["missing"] += 1
                reasons[(r["worker_id"], r["class_name"] or "unknown", "no_label")] += 1
            else:
                s["uploaded"] += 1
        # One item counts once (its last upload of the day), as the first inspection gives an item one verdict.
        for a in {a["item_key"]: a for a in anns}.values():
            s = stats[(a["worker_id"] or "unknown", a["class_name"])]
            s["inspected"] += 1
            s["syntax_ok"] += not (set(a["reason_codes"]) & SYNTAX_REASONS)
            s["passed"] += a["status"] == "passed"
            s["repaired"] += a["status"] == "passed" and a["repaired"]
            s["failed"] += a["status"] == "failed"
            for code in a["reason_codes"]:
                reasons[(a["worker_id"] or "unknown", a["class_name"], code)] += 1
        cur.execute("DELETE FROM labeling_daily_results WHERE work_date = %s", (day,))
        cur.execute("DELETE FROM labeling_daily_reasons WHERE work_date = %s", (day,))
        fields = ("assigned", "uploaded", "missing", "inspected", "syntax_ok", "passed", "repaired", "failed")
        execute_batch(cur, f"INSERT INTO labeling_daily_results (work_date, worker_id, class_name, {', '.join(fields)}) "
                           "VALUES %s", [(day, w, c, *(s[f] for f in fields)) for (w, c), s in sorted(stats.items())])
        execute_batch(cur, "INSERT INTO labeling_daily_reasons (work_date, worker_id, class_name, reason_code, items) "
                           "VALUES %s", [(day, w, c, code, n) for (w, c, code), n in sorted(reasons.items())])
        # The day's figures from their one definition (trainset.figures over the rows just written).
        fig = figures.first_inspection(conn, figures.Scope.work_date(day))
    target = config.annotate.syntax_accuracy_target
    return {
        "work_date": day.isoformat(), "scope": fig.scope, **{f: getattr(fig, f) for f in figures.FIRST_COUNTS},
        "syntax_accuracy": fig.syntax_accuracy, "first_inspection_pass_rate": fig.pass_rate,
        "syntax_accuracy_target": target, "syntax_accuracy_met": figures.target_met(fig.syntax_accuracy, target),
        "reasons": fig.reasons, "rework_queued": len(rework), "quarantined": len(q_rows),
        "accepted": len(accepted),
    }


def results_line(r: dict) -> str:
    """The first inspection's task-log line (the same words as the demo summary: trainset.figures)."""
    fig = figures.FirstInspection(scope=r.get("scope") or f"work date {r['work_date']}",
                                  **{f: r[f] for f in figures.FIRST_COUNTS}, syntax_accuracy=r["syntax_accuracy"],
                                  pass_rate=r.get("first_inspection_pass_rate"), reasons=r["reasons"])
    return figures.first_inspection_line(fig, r["syntax_accuracy_target"])
