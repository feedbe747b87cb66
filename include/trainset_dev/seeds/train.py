"""Synthetic inspected items for tests and benchmarks of the train-handoff stage.

Writes small generated JPEGs into a warehouse folder and the records the upstream stages would have written
(images, canonical annotations, first-inspection and inspection-server verdicts), so the release can be built
without running the four stages before it.  Not used by the pipeline itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw
from trainset.db import execute_batch


def _jpeg(width: int, height: int, color: tuple[int, int, int], boxes: list[list[float]]) -> bytes:
    im = Image.new("RGB", (width, height), (235, 235, 235))
    draw = ImageDraw.Draw(im)
    for x, y, w, h in boxes:
        draw.rectangle([x, y, x + w, y + h], fill=color)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def seed_inspected_items(conn, warehouse: Path, per_class: dict[str, int], *, seed: int = 1,
                         session_size: int = 1, failed_share: float = 0.0, project_code: str = "TS",
                         day: dt.date = dt.date(2026, 3, 16), camera: tuple[str, str] | None = ("Samsung", "SM-S918N"),
                         syntax_failures: int = 0) -> list[str]:
    """Create inspected items; returns the item keys whose server verdict is pass.

    ``session_size`` consecutive items of a class are shot one minute apart (one capture session); sessions are
    an hour apart.  ``failed_share`` of the items get a failing server verdict.  ``syntax_failures`` extra items
    fail the first inspection with a syntax reason (they never reach the server)."""
    rng = random.Random(seed)
    warehouse.mkdir(parents=True, exist_ok=True)
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('refine_measurements') IS NOT NULL")
        item = _ItemSeeder(cur, rng, warehouse, project_code, day, camera if cur.fetchone()[0] else None,
                           batch_id=f"train-sample-{seed}")
        cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES (%s, 'refine', %s) "
                    "ON CONFLICT DO NOTHING", (item.batch_id, item.batch_id))
        passed: list[str] = []
        start = dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.UTC)
        seq = 0
        for class_index, (class_name, n) in enumerate(per_class.items()):
            for k in range(n):
                seq += 1
                session, pos = divmod(k, session_size)
                when = start + dt.timedelta(days=class_index, hours=session, minutes=pos)
                stem, verdict = item.seed(class_name, seq, when, failed_share)
                if verdict == "pass":
                    passed.append(stem)
        for j in range(syntax_failures):
            key = f"{project_code}_broken_{seed}_{j:04d}"
            execute_batch(cur, "INSERT INTO inspections (item_key, round, verdict, reason_codes, inspected_on) "
                               "VALUES %s", [(key, "first", "fail", ["invalid_json"], day)])
        _record_daily_results(cur, item.batch_id, day, syntax_failures)
    conn.commit()
    return sorted(passed)


class _ItemSeeder:
    """Writes one item: its JPEG in the warehouse and the rows refine, annotate and inspection would write."""

    def __init__(self, cur, rng: random.Random, warehouse: Path, project_code: str, day: dt.date,
                 camera: tuple[str, str] | None, *, batch_id: str) -> None:
        self.cur, self.rng, self.warehouse, self.project_code = cur, rng, warehouse, project_code
        self.day, self.camera, self.batch_id = day, camera, batch_id

    def seed(self, class_name: str, seq: int, when: dt.datetime, failed_share: float) -> tuple[str, str]:
        """``(item key, server verdict)`` of a new item."""
        rng, cur, day = self.rng, self.cur, self.day
        width, height = rng.choice([(96, 64), (80, 80), (64, 96), (120, 72)])
        boxes = []
        for _ in range(rng.randint(1, 3)):
            w, h = rng.randint(8, width // 2), rng.randint(8, height // 2)
            boxes.append([float(rng.randint(0, width - w)), float(rng.randint(0, height - h)), float(w), float(h)])
        color = (rng.randint(0, 200), rng.randint(0, 200), rng.randint(0, 200))
        data = _jpeg(width, height, color, boxes)
        name = f"{self.project_code}_{class_name}_{day:%Y%m%d}_{seq:06d}.jpg"
        path = self.warehouse / class_name / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        image_id = self._image_row(data, width, height, class_name, seq, path, name, when)
        stem = name.rsplit(".", 1)[0]
        payload = {
            "image": {"file_name": name, "width": width, "height": height, "class_name": class_name},
            "annotations": [{"id": str(j + 1), "category": class_name, "shape": "bbox", "bbox": b,
                             "attributes": {}} for j, b in enumerate(boxes)],
        }
        cur.execute("""
            INSERT INTO annotations (image_id, item_key, worker_id, work_date, source_uri, sha256,
                                     source_format, status, object_count, payload)
            VALUES (%s, %s, %s, %s, %s, %s, 'aihub', 'passed', %s, %s) RETURNING annotation_id""",
                    (image_id, stem, f"w{seq % 3 + 1}", day, f"file://labels/{stem}.json",
                     hashlib.sha256(json.dumps(payload).encode()).hexdigest(), len(boxes), json.dumps(payload)))
        annotation_id = cur.fetchone()[0]
        verdict = "fail" if rng.random() < failed_share else "pass"
        execute_batch(cur, "INSERT INTO inspections (item_key, annotation_id, round, verdict, reason_codes, "
                           "reason_category, inspector, inspected_on) VALUES %s",
                      [(stem, annotation_id, "first", "pass", [], None, None, day),
                       (stem, annotation_id, "server", verdict, [] if verdict == "pass" else ["box_loose"],
                        None if verdict == "pass" else "annotation", "inspector1",
                        day + dt.timedelta(days=1 + seq % 2))])
        return stem, verdict

    def _image_row(self, data: bytes, width: int, height: int, class_name: str, seq: int, path: Path, name: str,
                   when: dt.datetime) -> int:
        sha = hashlib.sha256(data).hexdigest()
        self.cur.execute("""
            INSERT INTO images (sha256, size_bytes, format, width, height, source_uri, original_name,
                                class_name, batch_id, status, stage, location, dataset_name, capture_time)
            VALUES (%s, %s, 'jpeg', %s, %s, %s, %s, %s, %s, 'refined', 'refine', %s, %s, %s)
            RETURNING image_id""",
                         (sha, len(data), width, height, f"file://drop/{class_name}/{seq}.jpg", f"{seq}.jpg",
                          class_name, self.batch_id, path.as_uri(), name, when))
        image_id = self.cur.fetchone()[0]
        if self.camera:
            self.cur.execute("INSERT INTO refine_measurements (image_id, batch_id, sha256, make, model) "
                             "VALUES (%s, %s, %s, %s, %s)", (image_id, self.batch_id, sha, *self.camera))
        return image_id


def _record_daily_results(cur, batch_id: str, day: dt.date, syntax_failures: int) -> None:
    """The first inspection's daily record, as annotate-intake's publish_results writes it (the PM's figures
    read it): every seeded label was assigned, uploaded and passed; the broken uploads failed on syntax."""
    cur.execute("""
        INSERT INTO labeling_daily_results (work_date, worker_id, class_name, assigned, uploaded, inspected,
                                            syntax_ok, passed)
        SELECT a.work_date, a.worker_id, i.class_name, count(*), count(*), count(*), count(*), count(*)
        FROM annotations a JOIN images i USING (image_id) WHERE i.batch_id = %s GROUP BY 1, 2, 3
        ON CONFLICT (work_date, worker_id, class_name) DO UPDATE SET
            assigned = labeling_daily_results.assigned + EXCLUDED.assigned,
            uploaded = labeling_daily_results.uploaded + EXCLUDED.uploaded,
            inspected = labeling_daily_results.inspected + EXCLUDED.inspected,
            syntax_ok = labeling_daily_results.syntax_ok + EXCLUDED.syntax_ok,
            passed = labeling_daily_results.passed + EXCLUDED.passed""", (batch_id,))
    if not syntax_failures:
        return
    n = syntax_failures
    cur.execute("""
        INSERT INTO labeling_daily_results (work_date, worker_id, class_name, assigned, uploaded, inspected,
                                            failed) VALUES (%s, 'w1', 'unknown', %s, %s, %s, %s)
        ON CONFLICT (work_date, worker_id, class_name) DO UPDATE SET
            assigned = labeling_daily_results.assigned + EXCLUDED.assigned,
            uploaded = labeling_daily_results.uploaded + EXCLUDED.uploaded,
            inspected = labeling_daily_results.inspected + EXCLUDED.inspected,
            failed = labeling_daily_results.failed + EXCLUDED.failed""", (day, n, n, n, n))
    cur.execute("""
        INSERT INTO labeling_daily_reasons (work_date, worker_id, class_name, reason_code, items)
        VALUES (%s, 'w1', 'unknown', 'invalid_json', %s)
        ON CONFLICT (work_date, worker_id, class_name, reason_code)
        DO UPDATE SET items = labeling_daily_reasons.items + EXCLUDED.items""", (day, n))
