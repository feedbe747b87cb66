"""The refine stage over the records DB, one batch at a time: measure → judge (GX) → route rejects → write outputs.

Every step is idempotent: measurements are cached per image and content hash, check rows and detections upsert
on their natural keys, names are allocated once and kept in ``images.dataset_name``, quarantine copies are
skipped when already there, and only images still ``raw`` are worked on, so re-running a run changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

import psycopg2.extras

from trainset import db
from trainset.config import ProjectConfig
from trainset.refine import dedup
from trainset.refine.measure import WORK_SIDE, Measurement, measure_bytes
from trainset.refine.parallel import pool_map
from trainset.storage import Storage

log = logging.getLogger(__name__)

STAGE = "refine"
SUITE = "refine_measurements"
_PHASH_LOCK = 727_200  # pg advisory lock: near-duplicate lookups + registrations of parallel batches serialise

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

# The table the suite judges: one row per image of the batch.  Required EXIF fields arrive as booleans.
JUDGE_SQL = """
SELECT m.image_id, m.format, m.width, m.height, m.pixels, m.decode_error, m.capture_time_raw,
       CASE WHEN m.capture_time_raw IS NULL THEN NULL ELSE m.capture_time IS NOT NULL END AS capture_time_valid,
       m.capture_epoch, m.sharpness, m.edge_sharpness, m.domain_score, m.brightness, m.contrast, m.entropy, m.near_duplicate_of,
       ('Make' = ANY(m.exif_missing_fields)) AS exif_make_missing,
       ('Model' = ANY(m.exif_missing_fields)) AS exif_model_missing,
       (cardinality(array_remove(array_remove(m.exif_missing_fields, 'Make'), 'Model')) > 0) AS exif_other_missing
FROM refine_measurements m
JOIN refine_batch_items b ON b.image_id = m.image_id
JOIN images i ON i.image_id = m.image_id
WHERE b.batch_id = %(batch_id)s AND i.status = 'raw'
ORDER BY m.image_id
"""


def batch_id_for(run_id: str, index: int) -> str:
    return f"{STAGE}__{run_id}__{index:04d}"


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


# ---------------------------------------------------------------------------------------------------- planning


def plan_batches(conn, config: ProjectConfig, run_id: str, *, limit: int | None = None,
                 classes: list[str] | None = None, batch_size: int | None = None) -> list[str]:
    """Cut the images still ``raw`` into batches of this run (re-planning a run reuses its batches)."""
    size = batch_size or config.refine.batch_size
    with conn.cursor() as cur:
        existing = db.fetch_dicts(cur, """
            SELECT b.batch_id, bi.image_id, i.status FROM batches b
            JOIN refine_batch_items bi ON bi.batch_id = b.batch_id JOIN images i ON i.image_id = bi.image_id
            WHERE b.stage = %s AND b.run_id = %s ORDER BY b.batch_id""", (STAGE, run_id))
        planned = {r["image_id"] for r in existing}
        keep = sorted({r["batch_id"] for r in existing if r["status"] == "raw"})
        cur.execute("SELECT count(*) FROM batches WHERE stage = %s AND run_id = %s", (STAGE, run_id))
        next_index = cur.fetchone()[0]
        sql = "SELECT image_id FROM images WHERE status = 'raw'"
        params: list = []
        if classes:
            sql += " AND class_name = ANY(%s)"
            params.append(list(classes))
        sql += " ORDER BY image_id"
        if limit:
            sql += " LIMIT %s"
            params.append(int(limit))
        cur.execute(sql, params)
        todo = [r[0] for r in cur.fetchall() if r[0] not in planned]
        new = []
        for start in range(0, len(todo), size):
            batch_id = batch_id_for(run_id, next_index)
            next_index += 1
            cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES (%s, %s, %s) "
                        "ON CONFLICT (batch_id) DO NOTHING", (batch_id, STAGE, run_id))
            db.execute_batch(cur, "INSERT INTO refine_batch_items (batch_id, image_id) VALUES %s "
                                  "ON CONFLICT DO NOTHING", [(batch_id, i) for i in todo[start:start + size]])
            new.append(batch_id)
    conn.commit()
    return keep + new


def batch_position(conn, batch_id: str) -> tuple[int, int]:
    """(1-based index, total) of a batch within its run, for the summary line."""
    with conn.cursor() as cur:
        cur.execute("SELECT run_id FROM batches WHERE batch_id = %s", (batch_id,))
        row = cur.fetchone()
        if row is None:
            raise ValueError(f"unknown batch {batch_id}")
        cur.execute("SELECT batch_id FROM batches WHERE stage = %s AND run_id = %s ORDER BY batch_id",
                    (STAGE, row[0]))
        ids = [r[0] for r in cur.fetchall()]
    return ids.index(batch_id) + 1, len(ids)


# ------------------------------------------------------------------------------------------------- measuring


class SourceReader:
    """Image bytes by URI from the configured roots: a local path when the root is a folder (workers read it
    themselves), the bytes otherwise."""

    def __init__(self, stores: list[Storage]):
        self.stores = sorted(stores, key=lambda s: -len(s.uri))

    def _locate(self, uri: str) -> tuple[Storage, str]:
        for store in self.stores:
            if uri.startswith(store.uri + "/"):
                return store, uri[len(store.uri) + 1:]
        raise ValueError(f"{uri} is under none of the roots {[s.uri for s in self.stores]}")

    def source(self, uri: str) -> str | bytes:
        store, key = self._locate(uri)
        path = store.local_path(key)
        return str(path) if path is not None else store.read_bytes(key)

    def store_and_key(self, uri: str) -> tuple[Storage, str]:
        return self._locate(uri)


def _measure_task(args) -> tuple[int, dict, list[float] | None]:
    """(image id, measurement, classical feature vector or None when already stored / undecodable)."""
    from trainset.curation.features import features_bytes

    image_id, source, required, tz, max_pixels, want_features = args
    vector = None
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        m = measure_bytes(data, required_fields=required, timezone=tz, max_pixels=max_pixels)
        if want_features and m.decode_error is None:
            vector = features_bytes(data, max_pixels=max_pixels).vector
    except OSError as err:
        m = Measurement(decode_error=f"cannot read: {err}"[:300])
    return image_id, m.as_dict(), vector


_MEASURE_COLUMNS = ("format", "width", "height", "pixels", "bytes", "orientation", "capture_time_raw", "capture_time",
                    "capture_epoch", "make", "model", "has_gps", "exif_error", "exif_missing_fields", "sharpness",
                    "edge_sharpness", "brightness", "contrast", "entropy", "dhash", "decode_error")


def ensure_measured(conn, config: ProjectConfig, batch_id: str, reader: SourceReader) -> tuple[int, float]:
    """Measure the batch's raw images that have no measurement for their current bytes; (measured, seconds).
    The first check operator of a batch pays for the decode, the others reuse the rows."""
    started = time.perf_counter()
    with conn.cursor() as cur:
        todo = db.fetch_dicts(cur, """
            SELECT i.image_id, i.sha256, i.location FROM refine_batch_items b JOIN images i USING (image_id)
            LEFT JOIN refine_measurements m ON m.image_id = i.image_id
            WHERE b.batch_id = %s AND i.status = 'raw' AND (m.image_id IS NULL OR m.sha256 <> i.sha256)
            ORDER BY i.image_id""", (batch_id,))
    if not todo:
        return 0, time.perf_counter() - started
    required = list(config.refine.exif.required_fields)
    from trainset.curation.features import FEATURES_VERSION

    with conn.cursor() as cur:
        cur.execute("SELECT sha256 FROM image_features WHERE kind = %s AND sha256 = ANY(%s)",
                    (FEATURES_VERSION, [r["sha256"] for r in todo]))
        have = {r[0] for r in cur.fetchall()}
    tasks = [(r["image_id"], reader.source(r["location"]), required, config.project.timezone,
              config.image_spec.max_pixels, r["sha256"] not in have) for r in todo]
    sha = {r["image_id"]: r["sha256"] for r in todo}
    rows, features = [], {}
    # ~5 ms per image: processes pay off only for big batches.
    for image_id, m, vector in pool_map(_measure_task, tasks, workers=config.refine.workers,
                                        min_items_per_worker=100):
        rows.append((image_id, batch_id, sha[image_id], *(m[c] for c in _MEASURE_COLUMNS)))
        if vector is not None:
            features[sha[image_id]] = vector
    cols = ", ".join(_MEASURE_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in ("batch_id", "sha256", *_MEASURE_COLUMNS))
    with conn.cursor() as cur:
        db.execute_batch(cur, f"INSERT INTO refine_measurements (image_id, batch_id, sha256, {cols}) VALUES %s "
                              f"ON CONFLICT (image_id) DO UPDATE SET {updates}, near_duplicate_of = NULL, "
                              "near_duplicate_distance = NULL, verdict = NULL, reason_codes = '{}', "
                              "measured_at = now(), judged_at = NULL", rows)
        if features:
            db.execute_batch(cur, "INSERT INTO image_features (sha256, kind, vector) VALUES %s "
                                  "ON CONFLICT (sha256, kind) DO NOTHING",
                             [(h, FEATURES_VERSION, v) for h, v in features.items()])
        add_seconds(cur, batch_id, "measure", time.perf_counter() - started)
    conn.commit()
    return len(rows), time.perf_counter() - started


def add_seconds(cur, batch_id: str, step: str, seconds: float) -> None:
    """Time spent per step, kept in batches.counts.seconds_by_step (the summary line's img/s)."""
    cur.execute("UPDATE batches SET counts = jsonb_set(counts, '{seconds_by_step}', coalesce(counts->"
                "'seconds_by_step', '{}'::jsonb) || jsonb_build_object(%s::text, %s::float)) WHERE batch_id = %s",
                (step, round(seconds, 4), batch_id))


def _upsert_checks(cur, rows: list[tuple]) -> None:
    """rows: (image_id, check_name, value_num, value_text, details, batch_id); verdict columns come later."""
    db.execute_batch(cur, "INSERT INTO check_results (image_id, check_name, value_num, value_text, details, batch_id) "
                          "VALUES %s ON CONFLICT (image_id, check_name) DO UPDATE SET value_num = EXCLUDED.value_num, "
                          "value_text = EXCLUDED.value_text, details = EXCLUDED.details, batch_id = EXCLUDED.batch_id, "
                          "measured_at = now()", rows)


def _batch_measurements(cur, batch_id: str) -> list[dict]:
    return db.fetch_dicts(cur, """
        SELECT m.* FROM refine_measurements m JOIN refine_batch_items b ON b.image_id = m.image_id
        JOIN images i ON i.image_id = m.image_id
        WHERE b.batch_id = %s AND i.status = 'raw' ORDER BY m.image_id""", (batch_id,))


def write_header_checks(conn, batch_id: str) -> Counter:
    """check_results rows ``exif`` (capture time, camera, GPS, orientation) and ``spec`` (format, size)."""
    counts: Counter = Counter()
    J = psycopg2.extras.Json
    with conn.cursor() as cur:
        rows = []
        for m in _batch_measurements(cur, batch_id):
            rows.append((m["image_id"], "exif", m["capture_epoch"], m["capture_time_raw"], J({
                "orientation": m["orientation"], "make": m["make"], "model": m["model"], "has_gps": m["has_gps"],
                "capture_time": m["capture_time"].isoformat() if m["capture_time"] else None,
                "missing_fields": m["exif_missing_fields"], "exif_error": m["exif_error"]}), batch_id))
            rows.append((m["image_id"], "spec", m["pixels"], m["format"], J({
                "width": m["width"], "height": m["height"], "bytes": m["bytes"],
                "decode_error": m["decode_error"]}), batch_id))
            counts["gps"] += bool(m["has_gps"])
            counts["rotated"] += (m["orientation"] or 1) != 1
            counts["no_date"] += m["capture_time_raw"] is None
        _upsert_checks(cur, rows)
    conn.commit()
    return counts


def check_near_duplicates(conn, batch_id: str, radius: int) -> int:
    """Look each hash of the batch up among all registered hashes (the whole warehouse and every batch measured
    before), in image order; record the closest match, register the hash when there is none.  Serialised with an
    advisory lock so two batches never both keep one of a pair."""
    found = 0
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PHASH_LOCK,))
        for m in _batch_measurements(cur, batch_id):
            if m["dhash"] is None:
                continue
            match = dedup.find_near_duplicate(cur, m["dhash"], radius, exclude=m["image_id"])
            if match is not None:
                found += 1
                cur.execute("UPDATE refine_measurements SET near_duplicate_of = %s, near_duplicate_distance = %s "
                            "WHERE image_id = %s", (match.image_id, match.distance, m["image_id"]))
                cur.execute("DELETE FROM image_phash WHERE image_id = %s", (m["image_id"],))
            else:
                cur.execute("UPDATE refine_measurements SET near_duplicate_of = NULL, near_duplicate_distance = NULL "
                            "WHERE image_id = %s", (m["image_id"],))
                dedup.register(cur, [(m["image_id"], m["dhash"])])  # at once: later images of this batch see it
    conn.commit()
    return found


def check_domain_outliers(conn, config: ProjectConfig, batch_id: str) -> int:
    """Score the batch's raw images against their group (class, or the whole project): the batch's images plus
    every image of the group refine kept before (``refined``/later), from the features stored by content hash.
    Writes ``domain*`` columns of refine_measurements; the suite judges ``domain_score``.  Returns the number
    above the threshold."""
    import numpy as np

    from trainset.curation.domain import judge_group
    from trainset.curation.features import FEATURES_VERSION

    settings = config.curation
    if not settings.domain_outlier:
        return 0
    with conn.cursor() as cur:
        batch = db.fetch_dicts(cur, """
            SELECT i.image_id, i.class_name, f.vector FROM refine_batch_items b JOIN images i USING (image_id)
            JOIN image_features f ON f.sha256 = i.sha256 AND f.kind = %s
            WHERE b.batch_id = %s AND i.status = 'raw' ORDER BY i.image_id""", (FEATURES_VERSION, batch_id))
        if not batch:
            return 0
        by_class = settings.domain_outlier_scope == "class"
        groups = sorted({r["class_name"] for r in batch}) if by_class else [None]
        above = 0
        for group in groups:
            members = [r for r in batch if not by_class or r["class_name"] == group]
            ids = [r["image_id"] for r in members]
            sql = ("SELECT i.image_id, f.vector FROM images i JOIN image_features f ON f.sha256 = i.sha256 "
                   "AND f.kind = %s WHERE i.status NOT IN ('raw', 'rejected') AND NOT (i.image_id = ANY(%s))")
            params: list = [FEATURES_VERSION, ids]
            if by_class:
                sql += " AND i.class_name = %s"
                params.append(group)
            cur.execute(sql + " ORDER BY i.image_id", params)
            earlier = cur.fetchall()
            vectors = np.array([r["vector"] for r in members] + [v for _, v in earlier], np.float64)
            verdicts = judge_group(vectors, threshold=settings.domain_outlier_threshold,
                                   min_group=settings.domain_outlier_min_group)
            judged = len(vectors) >= settings.domain_outlier_min_group
            rows = []
            for r, v in zip(members, verdicts[:len(members)], strict=True):
                # a group too small to have a majority is left unscored (the suite ignores nulls)
                rows.append((v.domain, v.score if judged else None, v.cluster, group or "(project)",
                             len(vectors), r["image_id"]))
                above += v.outlier
            psycopg2.extras.execute_batch(cur, "UPDATE refine_measurements SET domain = %s, domain_score = %s, "
                                               "domain_cluster = %s, domain_group = %s, domain_group_size = %s "
                                               "WHERE image_id = %s", rows)
    conn.commit()
    return above


def write_pixel_checks(conn, batch_id: str) -> Counter:
    """check_results rows ``sharpness``, ``exposure``, ``information`` and ``near_duplicate``."""
    J = psycopg2.extras.Json
    counts: Counter = Counter()
    with conn.cursor() as cur:
        rows = []
        for m in _batch_measurements(cur, batch_id):
            i = m["image_id"]
            rows += [
                (i, "sharpness", m["sharpness"], None, J({"work_side": WORK_SIDE}), batch_id),
                (i, "exposure", m["brightness"], None, J({"contrast": m["contrast"]}), batch_id),
                (i, "information", m["entropy"], None, J({}), batch_id),
                (i, "near_duplicate", m["near_duplicate_distance"],
                 str(m["near_duplicate_of"]) if m["near_duplicate_of"] else None,
                 J({"dhash": m["dhash"], "of": m["near_duplicate_of"]}), batch_id),
                (i, "domain_outlier", m.get("domain_score"), m.get("domain"),
                 J({"cluster": m.get("domain_cluster"), "group": m.get("domain_group"),
                    "group_size": m.get("domain_group_size"), "edge_sharpness": m.get("edge_sharpness")}), batch_id),
            ]
            counts["near_duplicate"] += m["near_duplicate_of"] is not None
        _upsert_checks(cur, rows)
    conn.commit()
    return counts


# --------------------------------------------------------------------------------------------------- judging


def record_verdicts(conn, outcome, *, run_id: str, batch_id: str) -> dict:
    """The suite's verdicts into the DB (GxValidationOperator's ``record_with``): each failing image gets its
    reason codes, status ``rejected`` and a quarantine row per reason; every measured check row gets passed /
    failed.  The bytes are copied to quarantine by ``route_rejects``."""
    from trainset.config import get_config

    config = get_config()
    failures = {int(k): v for k, v in outcome.failures.items()}
    J = psycopg2.extras.Json
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, """
            SELECT i.image_id, i.original_name, m.near_duplicate_of, m.near_duplicate_distance, m.decode_error,
                   m.exif_missing_fields, m.sharpness, m.capture_time_raw
            FROM refine_measurements m JOIN refine_batch_items b ON b.image_id = m.image_id
            JOIN images i ON i.image_id = m.image_id
            WHERE b.batch_id = %s AND i.status = 'raw'""", (batch_id,))
        passed = 0
        flagged = 0
        flag_only = FLAG_ONLY if config.curation.domain_outlier_mode == "flag" else ()
        for r in rows:
            all_codes = failures.get(r["image_id"], [])
            flagged += any(c in flag_only for c in all_codes)  # passes; its failed check row asks for review
            codes = [c for c in all_codes if c not in flag_only]
            cur.execute("UPDATE refine_measurements SET verdict = %s, reason_codes = %s, judged_at = now() "
                        "WHERE image_id = %s", ("rejected" if codes else "passed", codes, r["image_id"]))
            for check in MEASURED_CHECKS:
                failed = [c for c in all_codes if CHECK_OF_REASON.get(c, "spec") == check]
                cur.execute("UPDATE check_results SET passed = %s, reason_code = %s WHERE image_id = %s "
                            "AND check_name = %s", (not failed, failed[0] if failed else None, r["image_id"], check))
            if not codes:
                passed += 1
                continue
            location = quarantine_uri(config.storage.quarantine, r["image_id"], r["original_name"], codes[0])
            cur.execute("UPDATE images SET status = 'rejected', stage = %s, reason_codes = %s, duplicate_of = %s, "
                        "updated_at = now() WHERE image_id = %s",
                        (STAGE, codes, r["near_duplicate_of"] if "near_duplicate" in codes else None, r["image_id"]))
            db.execute_batch(cur, "INSERT INTO quarantine (entity_kind, entity_key, stage, reason_code, detail, "
                                  "location, batch_id) VALUES %s ON CONFLICT (entity_kind, entity_key, stage, "
                                  "reason_code) DO UPDATE SET detail = EXCLUDED.detail, location = EXCLUDED.location",
                             [("image", str(r["image_id"]), STAGE, code, _detail(code, r), location, batch_id)
                              for code in codes])
        cur.execute("UPDATE batches SET counts = counts || %s WHERE batch_id = %s",
                    (J({"judged": len(rows), "passed": passed, "flagged_for_review": flagged, "reasons": outcome.reason_counts,
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
    from trainset.storage import transfer

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
        conn.commit()
    return copied


# --------------------------------------------------------------------------------------------------- outputs


def dataset_fields(config: ProjectConfig, class_name: str, capture_time: dt.datetime | None) -> dict:
    tz = ZoneInfo(config.project.timezone)
    when = (capture_time or dt.datetime.now(tz)).astimezone(tz)
    cls = config.class_by_name(class_name)
    return {"project": config.project.code, "class_name": class_name, "class_id": cls.id if cls else 0,
            "yyyymmdd": when.strftime("%Y%m%d")}


def sequence_scope(pattern: str, fields: dict) -> str:
    """Numbers restart per distinct name prefix (what the pattern's other placeholders make of an image)."""
    import string

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
    conn.commit()


_DETECTORS = None


def init_detectors(settings) -> None:
    """Load the face/plate models once per process (pool initializer)."""
    global _DETECTORS
    if settings is None or not (settings.faces or settings.plates):
        _DETECTORS = None
        return
    if _DETECTORS is None or _DETECTORS.settings != settings:
        from trainset.refine.deid import Detectors

        _DETECTORS = Detectors(settings)


def detector_seconds() -> float:
    return _DETECTORS.detector_seconds() if _DETECTORS is not None else 0.0


def _render_task(args) -> tuple[int, dict]:
    from trainset.refine.render import render

    image_id, source, config = args
    try:
        data = source if isinstance(source, bytes) else open(source, "rb").read()
        out = render(data, config, _DETECTORS)
    except Exception as err:  # noqa: BLE001 - one bad file must not stop the batch
        return image_id, {"error": f"{type(err).__name__}: {err}"[:300]}
    return image_id, {"data": out.data, "width": out.width, "height": out.height, "seconds": out.seconds,
                      "detections": [d.as_dict() for d in out.detections]}


@dataclass
class OutputSummary:
    written: int = 0
    failed: int = 0
    faces: int = 0
    plates: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def write_outputs(conn, config: ProjectConfig, batch_id: str, reader: SourceReader, warehouse: Storage,
                  quarantine: Storage) -> OutputSummary:
    """De-identify, upright, clean, rename, resize and re-encode every passed image of the batch into the
    warehouse; record detections and the ``anonymize`` check; mark the images ``refined``."""
    summary = OutputSummary()
    started = time.perf_counter()
    with conn.cursor() as cur:
        images = db.fetch_dicts(cur, """
            SELECT i.image_id, i.class_name, i.location, i.dataset_name, i.original_name, m.capture_time
            FROM refine_batch_items b JOIN images i ON i.image_id = b.image_id
            JOIN refine_measurements m ON m.image_id = i.image_id
            WHERE b.batch_id = %s AND i.status = 'raw' AND m.verdict = 'passed' ORDER BY i.image_id""", (batch_id,))
    if not images:
        return summary
    assign_names(conn, config, images)
    by_id = {r["image_id"]: r for r in images}
    anon = config.refine.anonymize
    settings = anon if (anon.faces or anon.plates) else None
    tasks = [(r["image_id"], reader.source(r["location"]), config) for r in images]
    J = psycopg2.extras.Json
    for image_id, result in pool_map(_render_task, tasks, workers=config.refine.workers,
                                     initializer=init_detectors, initargs=(settings,)):
        r = by_id[image_id]
        with conn.cursor() as cur:
            if "error" in result:
                summary.failed += 1
                _reject_at_output(cur, config, r, result["error"], batch_id, reader, quarantine)
                conn.commit()
                continue
            key = f"{r['class_name']}/{r['dataset_name']}"
            uri = warehouse.write_bytes(key, result["data"])
            dets = result["detections"]
            db.execute_batch(cur, "INSERT INTO detections (image_id, kind, x, y, w, h, score, masked, detector) "
                                  "VALUES %s ON CONFLICT (image_id, kind, x, y, w, h) DO UPDATE SET "
                                  "score = EXCLUDED.score, masked = EXCLUDED.masked, detector = EXCLUDED.detector",
                             [(image_id, d["kind"], d["x"], d["y"], d["w"], d["h"], d["score"], True, d["detector"])
                              for d in dets])
            faces = sum(d["kind"] == "face" for d in dets)
            plates = sum(d["kind"] == "plate" for d in dets)
            summary.faces += faces
            summary.plates += plates
            _upsert_checks(cur, [(image_id, "anonymize", len(dets), anon.mode if dets else None, J({
                "faces": faces, "plates": plates, "mode": anon.mode, "margin": anon.margin,
                "detectors_enabled": {"faces": anon.faces, "plates": anon.plates},
                "output": {"width": result["width"], "height": result["height"], "uri": uri}}), batch_id)])
            cur.execute("UPDATE check_results SET passed = true WHERE image_id = %s AND check_name = 'anonymize'",
                        (image_id,))
            cur.execute("UPDATE images SET status = 'refined', stage = %s, location = %s, reason_codes = '{}', "
                        "capture_time = %s, updated_at = now() WHERE image_id = %s",
                        (STAGE, uri, r["capture_time"], image_id))
        conn.commit()
        summary.written += 1
        for k, v in result["seconds"].items():
            summary.seconds[k] = summary.seconds.get(k, 0.0) + v
    with conn.cursor() as cur:
        add_seconds(cur, batch_id, "output", time.perf_counter() - started)
    conn.commit()
    return summary


def _reject_at_output(cur, config, r: dict, error: str, batch_id: str, reader: SourceReader,
                      quarantine: Storage) -> None:
    from trainset.storage import transfer

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


# --------------------------------------------------------------------------------------------------- summary


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
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0])))
        rate = self.images / self.seconds if self.seconds else 0.0
        return (f"batch {self.index}/{self.total}: {self.images} images, {self.passed} passed; "
                f"{reasons or 'no rejects'}; faces {self.faces}, plates {self.plates} masked; {rate:.0f} img/s")

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
    conn.commit()
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
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(counts["reasons"].items(), key=lambda kv: (-kv[1], kv[0])))
    return (f"refine {counts['run_id']}: {counts['batches']} batches, {counts['images']} images, "
            f"{counts['refined']} refined into the warehouse, {counts['rejected']} rejected "
            f"({reasons or 'none'}); faces {counts['faces']}, plates {counts['plates']} masked")


# ------------------------------------------------------------------------------------------- whole batch, no Airflow


def judge_batch(conn, config: ProjectConfig, batch_id: str, *, run_id: str, docs_dir=None):
    """The suite over the batch's measurement rows, verdicts recorded (what the DAG's GX task does)."""
    import pandas as pd

    from trainset.expectations import validate_dataframe

    with conn.cursor() as cur:
        cur.execute(JUDGE_SQL, {"batch_id": batch_id})
        df = pd.DataFrame.from_records(cur.fetchall(), columns=[d[0] for d in cur.description])
    outcome = validate_dataframe(df, SUITE, id_column="image_id", parameters=suite_parameters(config),
                                 docs_dir=docs_dir, run_name=run_id)
    record_verdicts(conn, outcome, run_id=run_id, batch_id=batch_id)
    conn.commit()
    return outcome


def refine_batch(conn, config: ProjectConfig, batch_id: str, *, run_id: str, reader: SourceReader,
                 warehouse: Storage, quarantine: Storage, docs_dir=None) -> BatchSummary:
    """Every step of one batch in order, in this process (the DAG runs the same steps as separate tasks)."""
    ensure_measured(conn, config, batch_id, reader)
    write_header_checks(conn, batch_id)
    check_near_duplicates(conn, batch_id, config.refine.quality.near_duplicate_radius)
    check_domain_outliers(conn, config, batch_id)
    write_pixel_checks(conn, batch_id)
    judge_batch(conn, config, batch_id, run_id=run_id, docs_dir=docs_dir)
    route_rejects(conn, batch_id, reader, quarantine)
    write_outputs(conn, config, batch_id, reader, warehouse, quarantine)
    return finish_batch(conn, batch_id)
