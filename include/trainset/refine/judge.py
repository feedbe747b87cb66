"""Judging: the suite ``refine_measurements`` over a batch's measurement rows, and the verdicts recorded.

The suite reads one table, ``JUDGE_COLUMNS`` of ``refine_measurements``: every column is stored when the
measurement is written (the derived ones by ``Measurement.judged_fields``), so the GX task's query is a plain
select and the local path (``refine.local``) judges the very same columns of its in-memory rows.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import psycopg2.extras

from trainset import db
from trainset.config import ProjectConfig
from trainset.refine.records import STAGE, add_seconds
from trainset.refine.route import quarantine_uri
from trainset.step import StepContext, StepResult, Storages, project_day

SUITE = "refine_measurements"

# Which check (check_results.check_name) each reason code of the suite belongs to.
CHECK_OF_REASON = {
    "corrupt": "spec", "bad_format": "spec", "too_small": "spec", "too_large": "spec",
    "exif_missing_date": "exif", "exif_bad_date": "exif", "exif_date_out_of_period": "exif",
    "exif_future_date": "exif", "exif_missing_make": "exif", "exif_missing_model": "exif",
    "exif_missing_field": "exif", "blurry": "sharpness", "dark": "exposure", "light": "exposure",
    "low_information": "information", "near_duplicate": "near_duplicate", "domain_outlier": "domain_outlier",
}
MEASURED_CHECKS = ("spec", "exif", "sharpness", "exposure", "information", "near_duplicate", "domain_outlier")
# Reason codes that, in curation.domain_outlier_mode "flag", mark the image for review instead of rejecting it.
FLAG_ONLY = ("domain_outlier",)

# The table the suite judges: one row per image.  Required EXIF fields arrive as booleans.
JUDGE_COLUMNS = (
    "image_id", "format", "width", "height", "pixels", "decode_error", "capture_time_raw", "capture_time_valid",
    "capture_epoch", "sharpness", "edge_sharpness", "domain_score", "brightness", "contrast", "entropy",
    "near_duplicate_of", "exif_make_missing", "exif_model_missing", "exif_other_missing",
)
JUDGE_SQL = f"""
SELECT {", ".join(f"m.{c}" for c in JUDGE_COLUMNS)}
FROM refine_measurements m
JOIN refine_batch_items b ON b.image_id = m.image_id
JOIN images i ON i.image_id = m.image_id
WHERE b.batch_id = %(batch_id)s AND i.status = 'raw'
ORDER BY m.image_id
"""


def suite_parameters(config: ProjectConfig, now: dt.datetime | None = None) -> dict:
    """The suite's thresholds from the project file (the period in the project's time zone)."""
    tz = ZoneInfo(config.project.timezone)
    period = config.project.period
    start = dt.datetime.combine(period.start, dt.time(0), tz)
    end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(0), tz) - dt.timedelta(seconds=1)
    q, spec = config.refine.quality, config.image_spec
    return {
        "formats": list(spec.formats), "min_width": spec.min_width, "min_height": spec.min_height,
        "max_width": spec.max_width, "max_height": spec.max_height, "max_pixels": spec.max_pixels,
        "period_start_epoch": start.timestamp(), "period_end_epoch": end.timestamp(),
        "now_epoch": (now or dt.datetime.now(dt.UTC)).timestamp(),
        "blur_min_sharpness": q.blur_min_sharpness, "blur_min_edge_sharpness": q.blur_min_edge_sharpness,
        # domain_outlier off: no score can exceed the limit
        "domain_outlier_max_score": config.curation.domain_outlier_threshold if config.curation.domain_outlier
        else 1e300,
        "dark_max_brightness": q.dark_max_brightness,
        "light_min_brightness": q.light_min_brightness,
        "low_information_min_entropy": q.low_information_min_entropy,
    }


def judge_table(rows: list[dict]):
    """The suite's table from measurement rows held in memory (the local path): ``JUDGE_COLUMNS`` of each."""
    import pandas as pd

    return pd.DataFrame([{c: r.get(c) for c in JUDGE_COLUMNS} for r in rows], columns=list(JUDGE_COLUMNS))


def judge_batch(conn, config: ProjectConfig, batch_id: str, *, run_id: str, docs_dir=None) -> StepResult:
    """The DAG's GX task in this process: the same step (``validate_step``) over ``JUDGE_SQL`` with the same
    suite, parameters and recorder.  ``docs_dir`` None: no Data Docs."""
    from trainset.expectations.records import validate_step

    ctx = StepContext(conn=conn, config=config, storages=Storages(config), work_date=project_day(config),
                      run_id=run_id, args={
                          "sql": JUDGE_SQL, "sql_params": {"batch_id": batch_id}, "suite_name": SUITE,
                          "id_column": "image_id", "parameters": suite_parameters, "record_with": record_verdicts,
                          "batch_id": batch_id, "docs_dir": "" if docs_dir is None else str(docs_dir)})
    return validate_step(ctx)


def _mark_checks(cur, image_id: int, codes: list[str]) -> None:
    """Every measured check row of the image passed / failed (with the first reason code of that check)."""
    for check in MEASURED_CHECKS:
        failed = [c for c in codes if CHECK_OF_REASON.get(c, "spec") == check]
        cur.execute("UPDATE check_results SET passed = %s, reason_code = %s WHERE image_id = %s "
                    "AND check_name = %s", (not failed, failed[0] if failed else None, image_id, check))


def _reject(cur, r: dict, codes: list[str], *, quarantine_root: str, batch_id: str) -> None:
    """Status ``rejected`` with the reason codes, and one quarantine row per reason (bytes copied later)."""
    location = quarantine_uri(quarantine_root, r["image_id"], r["original_name"], codes[0])
    cur.execute("UPDATE images SET status = 'rejected', stage = %s, reason_codes = %s, duplicate_of = %s, "
                "updated_at = now() WHERE image_id = %s",
                (STAGE, codes, r["near_duplicate_of"] if "near_duplicate" in codes else None, r["image_id"]))
    db.execute_batch(cur, "INSERT INTO quarantine (entity_kind, entity_key, stage, reason_code, detail, "
                          "location, batch_id) VALUES %s ON CONFLICT (entity_kind, entity_key, stage, "
                          "reason_code) DO UPDATE SET detail = EXCLUDED.detail, location = EXCLUDED.location",
                     [("image", str(r["image_id"]), STAGE, code, _detail(code, r), location, batch_id)
                      for code in codes])


def record_verdicts(conn, outcome, *, run_id: str, batch_id: str, config: ProjectConfig) -> dict:
    """The suite's verdicts into the DB (GxValidationOperator's ``record_with``; it passes the run's ``config``):
    each failing image gets its reason codes, status ``rejected`` and a quarantine row per reason; every measured
    check row gets passed / failed.  The bytes are copied to quarantine by ``route_rejects``."""
    failures = {int(k): v for k, v in outcome.failures.items()}
    flag_only = FLAG_ONLY if config.curation.domain_outlier_mode == "flag" else ()
    passed = flagged = 0
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, """
            SELECT i.image_id, i.original_name, m.near_duplicate_of, m.near_duplicate_distance, m.decode_error,
                   m.exif_missing_fields, m.sharpness, m.capture_time_raw
            FROM refine_measurements m JOIN refine_batch_items b ON b.image_id = m.image_id
            JOIN images i ON i.image_id = m.image_id
            WHERE b.batch_id = %s AND i.status = 'raw'""", (batch_id,))
        for r in rows:
            all_codes = failures.get(r["image_id"], [])
            flagged += any(c in flag_only for c in all_codes)  # passes; its failed check row asks for review
            codes = [c for c in all_codes if c not in flag_only]
            cur.execute("UPDATE refine_measurements SET verdict = %s, reason_codes = %s, judged_at = now() "
                        "WHERE image_id = %s", ("rejected" if codes else "passed", codes, r["image_id"]))
            _mark_checks(cur, r["image_id"], all_codes)
            if codes:
                _reject(cur, r, codes, quarantine_root=config.storage.quarantine, batch_id=batch_id)
            else:
                passed += 1
        cur.execute("UPDATE batches SET counts = counts || %s WHERE batch_id = %s", (psycopg2.extras.Json({
            "judged": len(rows), "passed": passed, "flagged_for_review": flagged, "reasons": outcome.reason_counts,
            "docs": str(outcome.docs_path) if outcome.docs_path else None}), batch_id))
        add_seconds(cur, batch_id, "judge", float(getattr(outcome, "seconds", 0.0) or 0.0))
    return {"judged": len(rows), "passed": passed, "rejected": len(rows) - passed}


def _detail(code: str, r: dict) -> str:
    if code == "near_duplicate":
        return f"near duplicate of image {r['near_duplicate_of']} (dHash distance {r['near_duplicate_distance']})"
    if code == "corrupt":
        return f"cannot decode: {r['decode_error']}"
    if code == "blurry":
        return f"sharpness {r['sharpness']:.1f}" if r["sharpness"] is not None else "sharpness not measured"
    if code == "domain_outlier":
        return "style domain differs from the rest of its class (curation.domain_outlier_threshold)"
    if code.startswith("exif_missing_"):
        return f"missing EXIF: {', '.join(r['exif_missing_fields'] or []) or 'capture time'}"
    if code.startswith("exif_"):
        return f"capture time {r['capture_time_raw']!r}"
    return code
