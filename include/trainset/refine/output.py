"""Output: each passed image de-identified, upright, EXIF cleaned, renamed, resized and re-encoded into the
warehouse (``render`` in a process pool; the face/plate models loaded once per worker), detections and the
``anonymize`` check recorded, the image marked ``refined``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg2.extras

from trainset import db
from trainset.config import ProjectConfig
from trainset.refine.naming import assign_names
from trainset.refine.parallel import pool_map
from trainset.refine.records import STAGE, add_seconds, upsert_checks
from trainset.refine.route import reject_at_output
from trainset.refine.source import SourceReader
from trainset.storage import Storage

# The face/plate detectors of this process (a pool worker's, or the parent's when the batch runs inline).
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


def detector_settings(config: ProjectConfig):
    """The pool initializer's argument: the anonymize settings, None when neither detector is on."""
    anon = config.refine.anonymize
    return anon if (anon.faces or anon.plates) else None


def render_task(args) -> tuple[int, dict]:
    """(id, the rendered output or ``{"error": ...}``) for one source (a path or bytes); runs in a pool worker."""
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

    def add(self, result: dict) -> None:
        self.written += 1
        for k, v in result["seconds"].items():
            self.seconds[k] = self.seconds.get(k, 0.0) + v


def _passed_images(conn, batch_id: str) -> list[dict]:
    with conn.cursor() as cur:
        return db.fetch_dicts(cur, """
            SELECT i.image_id, i.class_name, i.location, i.dataset_name, i.original_name, m.capture_time
            FROM refine_batch_items b JOIN images i ON i.image_id = b.image_id
            JOIN refine_measurements m ON m.image_id = i.image_id
            WHERE b.batch_id = %s AND i.status = 'raw' AND m.verdict = 'passed' ORDER BY i.image_id""", (batch_id,))


def _record_output(cur, config: ProjectConfig, r: dict, result: dict, uri: str, batch_id: str) -> tuple[int, int]:
    """Detections, the passed ``anonymize`` check row and status ``refined`` for one written image; (faces,
    plates)."""
    anon = config.refine.anonymize
    image_id, dets = r["image_id"], result["detections"]
    db.execute_batch(cur, "INSERT INTO detections (image_id, kind, x, y, w, h, score, masked, detector) "
                          "VALUES %s ON CONFLICT (image_id, kind, x, y, w, h) DO UPDATE SET "
                          "score = EXCLUDED.score, masked = EXCLUDED.masked, detector = EXCLUDED.detector",
                     [(image_id, d["kind"], d["x"], d["y"], d["w"], d["h"], d["score"], True, d["detector"])
                      for d in dets])
    faces = sum(d["kind"] == "face" for d in dets)
    plates = sum(d["kind"] == "plate" for d in dets)
    upsert_checks(cur, [(image_id, "anonymize", len(dets), anon.mode if dets else None, psycopg2.extras.Json({
        "faces": faces, "plates": plates, "mode": anon.mode, "margin": anon.margin,
        "detectors_enabled": {"faces": anon.faces, "plates": anon.plates},
        "output": {"width": result["width"], "height": result["height"], "uri": uri}}), batch_id)])
    cur.execute("UPDATE check_results SET passed = true WHERE image_id = %s AND check_name = 'anonymize'",
                (image_id,))
    cur.execute("UPDATE images SET status = 'refined', stage = %s, location = %s, reason_codes = '{}', "
                "capture_time = %s, updated_at = now() WHERE image_id = %s",
                (STAGE, uri, r["capture_time"], image_id))
    return faces, plates


def write_outputs(conn, config: ProjectConfig, batch_id: str, reader: SourceReader, warehouse: Storage,
                  quarantine: Storage) -> OutputSummary:
    """De-identify, upright, clean, rename, resize and re-encode every passed image of the batch into the
    warehouse; record detections and the ``anonymize`` check; mark the images ``refined``."""
    summary = OutputSummary()
    started = time.perf_counter()
    images = _passed_images(conn, batch_id)
    if not images:
        return summary
    assign_names(conn, config, images)
    by_id = {r["image_id"]: r for r in images}
    tasks = [(r["image_id"], reader.source(r["location"]), config) for r in images]
    for image_id, result in pool_map(render_task, tasks, workers=config.refine.workers,
                                     initializer=init_detectors, initargs=(detector_settings(config),)):
        r = by_id[image_id]
        with conn.cursor() as cur:
            if "error" in result:
                summary.failed += 1
                reject_at_output(cur, config, r, result["error"], batch_id, reader, quarantine)
            else:
                uri = warehouse.write_bytes(f"{r['class_name']}/{r['dataset_name']}", result["data"])
                faces, plates = _record_output(cur, config, r, result, uri, batch_id)
                summary.faces += faces
                summary.plates += plates
                summary.add(result)
        conn.commit()  # a file was written (or copied to quarantine): record it before the next image
    with conn.cursor() as cur:
        add_seconds(cur, batch_id, "output", time.perf_counter() - started)
    return summary
