"""Measuring a batch and writing its check rows: one decode per image (``ensure_measured``, shared by the two
check tasks), then the header checks (``exif``, ``spec``), the near-duplicate lookup, the domain-outlier score
(the curation features are computed inside the same measurement pass) and the pixel checks.

Every write is idempotent: measurements are cached per image and content hash, check rows upsert on their
natural keys, and only images still ``raw`` are worked on.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import psycopg2.extras

from trainset import db
from trainset.config import ProjectConfig
from trainset.refine import dedup
from trainset.refine.measure import WORK_SIDE, Measurement, measure_bytes
from trainset.refine.parallel import pool_map
from trainset.refine.records import add_seconds, batch_measurements, upsert_checks
from trainset.refine.source import SourceReader

_PHASH_LOCK = 727_200  # pg advisory lock: near-duplicate lookups + registrations of parallel batches serialise

# Every stored column of a measurement row (``Measurement.as_dict``), the judged derived ones included.
MEASURE_COLUMNS = ("format", "width", "height", "pixels", "bytes", "orientation", "capture_time_raw", "capture_time",
                   "capture_epoch", "make", "model", "has_gps", "exif_error", "exif_missing_fields", "sharpness",
                   "edge_sharpness", "brightness", "contrast", "entropy", "dhash", "decode_error",
                   "capture_time_valid", "exif_make_missing", "exif_model_missing", "exif_other_missing")


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


def _unmeasured(cur, batch_id: str) -> list[dict]:
    """The batch's raw images without a measurement of their current bytes, and whether features are stored."""
    from trainset.curation.features import FEATURES_VERSION

    todo = db.fetch_dicts(cur, """
        SELECT i.image_id, i.sha256, i.location FROM refine_batch_items b JOIN images i USING (image_id)
        LEFT JOIN refine_measurements m ON m.image_id = i.image_id
        WHERE b.batch_id = %s AND i.status = 'raw' AND (m.image_id IS NULL OR m.sha256 <> i.sha256)
        ORDER BY i.image_id""", (batch_id,))
    cur.execute("SELECT sha256 FROM image_features WHERE kind = %s AND sha256 = ANY(%s)",
                (FEATURES_VERSION, [r["sha256"] for r in todo]))
    have = {r[0] for r in cur.fetchall()}
    for r in todo:
        r["want_features"] = r["sha256"] not in have
    return todo


def _store_measurements(cur, rows: list[tuple], features: dict[str, list[float]]) -> None:
    from trainset.curation.features import FEATURES_VERSION

    cols = ", ".join(MEASURE_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in ("batch_id", "sha256", *MEASURE_COLUMNS))
    db.execute_batch(cur, f"INSERT INTO refine_measurements (image_id, batch_id, sha256, {cols}) VALUES %s "
                          f"ON CONFLICT (image_id) DO UPDATE SET {updates}, near_duplicate_of = NULL, "
                          "near_duplicate_distance = NULL, verdict = NULL, reason_codes = '{}', "
                          "measured_at = now(), judged_at = NULL", rows)
    if features:
        db.execute_batch(cur, "INSERT INTO image_features (sha256, kind, vector) VALUES %s "
                              "ON CONFLICT (sha256, kind) DO NOTHING",
                         [(h, FEATURES_VERSION, v) for h, v in features.items()])


def ensure_measured(conn, config: ProjectConfig, batch_id: str, reader: SourceReader) -> tuple[int, float]:
    """Measure the batch's raw images that have no measurement for their current bytes; (measured, seconds).
    The first check operator of a batch pays for the decode, the others reuse the rows."""
    started = time.perf_counter()
    with conn.cursor() as cur:
        todo = _unmeasured(cur, batch_id)
    if not todo:
        return 0, time.perf_counter() - started
    required = list(config.refine.exif.required_fields)
    tasks = [(r["image_id"], reader.source(r["location"]), required, config.project.timezone,
              config.image_spec.max_pixels, r["want_features"]) for r in todo]
    sha = {r["image_id"]: r["sha256"] for r in todo}
    rows, features = [], {}
    # ~5 ms per image: processes pay off only for big batches.
    for image_id, m, vector in pool_map(_measure_task, tasks, workers=config.refine.workers,
                                        min_items_per_worker=100):
        rows.append((image_id, batch_id, sha[image_id], *(m[c] for c in MEASURE_COLUMNS)))
        if vector is not None:
            features[sha[image_id]] = vector
    with conn.cursor() as cur:
        _store_measurements(cur, rows, features)
        add_seconds(cur, batch_id, "measure", time.perf_counter() - started)
    # The decode is the expensive part: kept even when a later write of this task fails (the retry and the
    # batch's other check task reuse the rows).
    conn.commit()
    return len(rows), time.perf_counter() - started


def write_header_checks(conn, batch_id: str) -> Counter:
    """check_results rows ``exif`` (capture time, camera, GPS, orientation) and ``spec`` (format, size)."""
    counts: Counter = Counter()
    J = psycopg2.extras.Json
    with conn.cursor() as cur:
        rows = []
        for m in batch_measurements(cur, batch_id):
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
        upsert_checks(cur, rows)
    return counts


def check_near_duplicates(conn, batch_id: str, radius: int) -> int:
    """Look each hash of the batch up among all registered hashes (the whole warehouse and every batch measured
    before), in image order; record the closest match, register the hash when there is none.  Serialised with an
    advisory lock so two batches never both keep one of a pair."""
    found = 0
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PHASH_LOCK,))
        for m in batch_measurements(cur, batch_id):
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
    # Ends the transaction that holds the advisory lock: other batches wait for the lookup only, not for the
    # rest of this task.
    conn.commit()
    return found


def _score_group(cur, config: ProjectConfig, members: list[dict], group: str | None, *, by_class: bool) -> int:
    """Score one group's batch images against the group's earlier kept images; returns how many are above."""
    import numpy as np

    from trainset.curation.domain import judge_group
    from trainset.curation.features import FEATURES_VERSION

    settings = config.curation
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
    above = 0
    for r, v in zip(members, verdicts[:len(members)], strict=True):
        # a group too small to have a majority is left unscored (the suite ignores nulls)
        rows.append((v.domain, v.score if judged else None, v.cluster, group or "(project)", len(vectors),
                     r["image_id"]))
        above += v.outlier
    psycopg2.extras.execute_batch(cur, "UPDATE refine_measurements SET domain = %s, domain_score = %s, "
                                       "domain_cluster = %s, domain_group = %s, domain_group_size = %s "
                                       "WHERE image_id = %s", rows)
    return above


def check_domain_outliers(conn, config: ProjectConfig, batch_id: str) -> int:
    """Score the batch's raw images against their group (class, or the whole project): the batch's images plus
    every image of the group refine kept before (``refined``/later), from the features stored by content hash.
    Writes ``domain*`` columns of refine_measurements; the suite judges ``domain_score``.  Returns the number
    above the threshold."""
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
        if settings.domain_outlier_scope != "class":
            return _score_group(cur, config, batch, None, by_class=False)
        return sum(_score_group(cur, config, [r for r in batch if r["class_name"] == group], group, by_class=True)
                   for group in sorted({r["class_name"] for r in batch}))


def write_pixel_checks(conn, batch_id: str) -> Counter:
    """check_results rows ``sharpness``, ``exposure``, ``information``, ``near_duplicate`` and
    ``domain_outlier``."""
    J = psycopg2.extras.Json
    counts: Counter = Counter()
    with conn.cursor() as cur:
        rows = []
        for m in batch_measurements(cur, batch_id):
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
        upsert_checks(cur, rows)
    return counts
