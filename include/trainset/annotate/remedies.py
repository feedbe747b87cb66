"""Refinement remedies and the second inspection (task ``labeling_refinement_validation.repair_and_reinspect``).

A label can fail only because refinement changed its image: it names the photo's pre-rename file
(``no_image`` / ``stem_mismatch``), or the image was resized after labeling (``image_size_mismatch``, boxes
outside the image).  Where the fix is certain (one image had that name; one scale explains both sides) the label
is repaired, the repair recorded in ``annotation_repairs``, and the rules run again (round 'second').
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import PurePosixPath

from trainset.annotate.first_inspection import record_verdicts
from trainset.annotate.model import REFINEMENT_REASONS, Finding, LabelItem
from trainset.annotate.rules import ImageFacts, RuleUnit, judge
from trainset.annotate.warehouse import ImageFactsCache, original_candidates, stem
from trainset.config import ProjectConfig
from trainset.db import execute_batch, fetch_dicts
from trainset.expectations import default_docs_dir
from trainset.step import StepContext, StepResult

Remedies = list[tuple[str, dict]]


def plan_repair(item: LabelItem, codes: set[str], image: ImageFacts | None, by_original: list[dict],
                tolerance: float) -> tuple[LabelItem | None, Remedies, str | None]:
    """The repaired item and the remedies applied, or (None, [], why) when a fix is not certain."""
    remedies: Remedies = []
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
                                                                       stem(image.original_name)):
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


def _plan_day(cur, config: ProjectConfig, day: dt.date, facts: ImageFactsCache):
    """The day's refinement-caused failures: ``(attempts [(row, repaired item, remedies)], uncertain [...])``."""
    allowed = REFINEMENT_REASONS | {"outside_image"}
    failed = fetch_dicts(cur, """SELECT annotation_id, item_key, reason_codes, payload FROM annotations
                                 WHERE work_date = %s AND status = 'failed' AND payload IS NOT NULL
                                 ORDER BY annotation_id""", (day,))
    attempts, uncertain = [], []
    for r in failed:
        codes = set(r["reason_codes"])
        if not codes & REFINEMENT_REASONS or not codes <= allowed:
            continue
        item = LabelItem.model_validate(r["payload"])
        by_original = original_candidates(cur, item.label_stem) if "no_image" in codes else []
        repaired, remedies, why = plan_repair(item, codes, facts.get(item.item_key), by_original,
                                              config.annotate.resize_tolerance_px)
        if repaired is None:
            uncertain.append({"annotation_id": r["annotation_id"], "item_key": r["item_key"], "why": why})
            continue
        attempts.append((r, repaired, remedies))
    return attempts, uncertain


def _apply(cur, day: dt.date, attempts, findings: dict[str, list[Finding]],
           facts: ImageFactsCache) -> dict[int, list[Finding]]:
    """Write the repaired labels and their repairs; the second round's verdicts, and passed assignments."""
    verdicts: dict[int, list[Finding]] = {}
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
    record_verdicts(cur, day, verdicts, "second")
    passed_keys = [item.item_key for r, item, _ in attempts if not verdicts[r["annotation_id"]]]
    if passed_keys:
        cur.execute("""UPDATE assignments a SET status = 'passed', reason_codes = '{}'
                       FROM images i WHERE a.image_id = i.image_id AND a.work_date = %s
                         AND i.item_key = ANY(%s)""", (day, passed_keys))
    return verdicts


def repair_day(conn, config: ProjectConfig, day: dt.date, *, docs_dir=None, run_name: str | None = None) -> dict:
    """Repair failures caused by refinement where the fix is certain, and inspect the repaired items again."""
    with conn.cursor() as cur:
        facts = ImageFactsCache(cur)
        attempts, uncertain = _plan_day(cur, config, day, facts)
        verdicts: dict[int, list[Finding]] = {}
        if attempts:
            units = [RuleUnit(ref=str(r["annotation_id"]), item_key=item.item_key, item=item,
                              image=facts.get(item.item_key)) for r, item, _ in attempts]
            findings, _ = judge(units, config, day, docs_dir=docs_dir, run_name=run_name)
            verdicts = _apply(cur, day, attempts, findings, facts)
    repaired = sum(1 for v in verdicts.values() if not v)
    return {"work_date": day.isoformat(), "attempted": len(attempts), "repaired": repaired,
            "still_failed": len(attempts) - repaired, "uncertain": len(uncertain),
            "remedies": dict(Counter(name for _, _, rem in attempts for name, _ in rem)),
            "uncertain_items": uncertain[:20]}


def remedy_step(ctx: StepContext) -> StepResult:
    """``labeling_refinement_validation.repair_and_reinspect``: certain repairs, then the second inspection."""
    day = ctx.work_date
    result = repair_day(ctx.conn, ctx.config, day, docs_dir=default_docs_dir(ctx.config),
                        run_name=f"{ctx.run_id}__second")
    summary = (f"refinement remedies {day}: {result['attempted']} attempted, {result['repaired']} repaired and "
               f"passed, {result['still_failed']} still failing, {result['uncertain']} uncertain (left failed); "
               f"remedies {result['remedies']}")
    details = [f"  uncertain {u['item_key']}: {u['why']}" for u in result["uncertain_items"]]
    return StepResult(summary, xcom=result, details=details)
