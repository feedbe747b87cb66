"""Reading the day's uploads (task ``labeling_validation.validate_schema``): zips opened safely, JSON-Schema
validation and normalisation to the canonical model, the ``annotations`` rows, and the flattened table
``annotation_rule_rows`` that the GX suite ``annotation_rules`` judges next (``first_inspection``)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from trainset.annotate.model import LabelItem
from trainset.annotate.readers import parse_files
from trainset.annotate.rules import COLUMNS, RuleUnit, flatten, prune_attribute_rows, suite_parameters
from trainset.annotate.uploads import quarantine_copy, read_upload, upload_prefix, upload_workers
from trainset.annotate.warehouse import ORIGINAL_STEM_SQL, ImageFactsCache
from trainset.annotate.workday import STAGE, ensure_batch
from trainset.config import ProjectConfig
from trainset.db import execute_batch, fetch_dicts
from trainset.step import StepContext, StepResult
from trainset.storage import Storage

RecordKey = tuple[str, str]  # (item key as uploaded, sha256 of the label)


def _quarantine_problems(cur, labeling: Storage, quarantine: Storage, day: dt.date, worker_id: str, problems,
                         batch_id: str) -> None:
    """Unreadable upload files (refused zips, unknown formats, too large) to quarantine, once per reason."""
    for prob in problems:
        cur.execute("""INSERT INTO quarantine (entity_kind, entity_key, stage, reason_code, detail, location,
                                               batch_id) VALUES ('upload', %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (entity_kind, entity_key, stage, reason_code) DO NOTHING""",
                    (f"{day}/{worker_id}/{prob.name}", STAGE, prob.code, prob.detail,
                     quarantine_copy(labeling, quarantine, prob.source_uri, day, worker_id), batch_id))


def _read_worker(config: ProjectConfig, files, worker_id: str, facts: ImageFactsCache,
                 records: dict[RecordKey, dict], items: dict[RecordKey, LabelItem], syntax_by_code: Counter) -> None:
    """Parse one worker's files into ``records`` (the annotations rows) and ``items`` (the readable labels)."""

    def size(name_stem: str):
        f = facts.get(name_stem)
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


def _upsert_annotations(cur, day: dt.date, records: dict[RecordKey, dict]) -> dict[RecordKey, int]:
    """Write the day's labels to ``annotations`` (a re-upload of the same bytes updates its row); returns the
    annotation id of each record.  Earlier repairs of these rows are dropped: the remedies run again."""
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
    return annotation_ids


def _rebuild_rule_rows(cur, config: ProjectConfig, day: dt.date, units: list[RuleUnit]) -> int:
    """The day's ``annotation_rule_rows`` (what the GX suite judges), rebuilt from scratch."""
    rows = flatten(units, day)
    prune_attribute_rows(rows, suite_parameters(config))
    cur.execute("DELETE FROM annotation_rule_rows WHERE work_date = %s", (day,))
    execute_batch(cur, f"INSERT INTO annotation_rule_rows (work_date, {', '.join(COLUMNS)}) VALUES %s",
                  [(day, *(r[c] for c in COLUMNS)) for r in rows], page_size=1000)
    return len(rows)


def ingest_day(conn, config: ProjectConfig, labeling: Storage, quarantine: Storage, day: dt.date, *,
               run_id: str) -> dict:
    """Read, validate (JSON Schema) and normalise the day's uploads; rebuild the day's rule table."""
    counts: Counter = Counter()
    syntax_by_code: Counter = Counter()
    with conn.cursor() as cur:
        batch_id = ensure_batch(cur, day, run_id)
        assigned = fetch_dicts(cur, f"""
            SELECT a.assignment_id, a.worker_id, a.image_id, i.item_key,
                   {ORIGINAL_STEM_SQL} AS original_stem
            FROM assignments a JOIN images i USING (image_id) WHERE a.work_date = %s""", (day,))
        facts = ImageFactsCache(cur)
        facts.load(r["item_key"] for r in assigned)
        workers = sorted({r["worker_id"] for r in assigned} | upload_workers(labeling, day))
        records: dict[RecordKey, dict] = {}
        items: dict[RecordKey, LabelItem] = {}
        for worker_id in workers:
            files, problems = read_upload(labeling, upload_prefix(day, worker_id), config)
            counts["files"] += len(files)
            if problems:  # the key appears only when there were problems (as the summary always had it)
                counts["upload_problems"] += len(problems)
            _quarantine_problems(cur, labeling, quarantine, day, worker_id, problems, batch_id)
            _read_worker(config, files, worker_id, facts, records, items, syntax_by_code)
        annotation_ids = _upsert_annotations(cur, day, records)
        labeled = {(records[k]["worker_id"], k[0]) for k in records}
        units = [RuleUnit(ref=str(annotation_ids[k]), item_key=k[0], item=item, image=facts.get(k[0]))
                 for k, item in sorted(items.items(), key=lambda kv: annotation_ids[kv[0]])]
        missing = [r for r in assigned if (r["worker_id"], r["item_key"]) not in labeled
                   and (r["worker_id"], r["original_stem"]) not in labeled]
        units += [RuleUnit(ref=f"missing:{r['assignment_id']}", item_key=r["item_key"], item=None,
                           image=facts.get(r["item_key"])) for r in missing]
        rule_rows = _rebuild_rule_rows(cur, config, day, units)
        counts.update(workers=len(workers), labels=len(records), syntax_failed=sum(
            1 for r in records.values() if r["status"] == "failed"), missing=len(missing), rule_rows=rule_rows)
        summary = {"work_date": day.isoformat(), "batch_id": batch_id, **counts,
                   "syntax_reasons": dict(syntax_by_code)}
        ensure_batch(cur, day, run_id, {"ingest": summary})
    return summary


def ingest_line(result: dict) -> str:
    """The task log's line for the day's uploads."""
    return (f"uploads {result['work_date']}: {result.get('workers', 0)} workers, {result.get('files', 0)} files, "
            f"{result.get('labels', 0)} labels; syntax failures {result.get('syntax_failed', 0)} "
            f"{result['syntax_reasons']}; missing {result.get('missing', 0)}; upload problems "
            f"{result.get('upload_problems', 0)}; {result.get('rule_rows', 0)} rule rows")


def ingest_step(ctx: StepContext) -> StepResult:
    """``labeling_validation.validate_schema``: the day's uploads read, validated and flattened for the suite."""
    result = ingest_day(ctx.conn, ctx.config, ctx.storages.labeling, ctx.storages.quarantine, ctx.work_date,
                        run_id=ctx.run_id)
    return StepResult(ingest_line(result), xcom=result)
