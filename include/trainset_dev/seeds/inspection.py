"""First-inspection passes written straight into the records DB and the warehouse, for tests and for running the
inspection stage on its own (what annotate-intake would have recorded): small generated JPEGs, one per item,
an annotation payload with boxes and a polygon, a passed first inspection, and the labeler in ``workers``."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from trainset.inspection import labels


@dataclass(frozen=True)
class SeededItem:
    item_key: str
    class_name: str
    worker_id: str
    image_path: Path
    label_path: Path
    annotation_id: int
    image_id: int


def make_jpeg(seed: int, size: tuple[int, int] = (96, 72)) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def make_payload(item_key: str, file_name: str, class_name: str, width: int, height: int, *,
                 worker_id: str = "w1", attributes: dict | None = None) -> dict:
    """A label in the project's AI Hub-style JSON (include/schemas/aihub_label.schema.json): a box and a polygon."""
    return {
        "info": {"format": "trainset-aihub", "version": "1.0", "annotator": worker_id},
        "image": {"file_name": file_name, "width": width, "height": height, "class_name": class_name},
        "capture": {"date": "2026-03-14"},
        "annotations": [
            {"id": 1, "category": class_name, "shape": "bbox", "bbox": [4, 6, width // 2, height // 2],
             "attributes": dict(attributes or {})},
            {"id": 2, "category": class_name, "shape": "polygon",
             "points": [[round(width * 0.6, 2), 5], [width - 4, 10], [round(width * 0.7, 2), height - 6]],
             "attributes": {}},
        ],
    }


def seed_passed_items(conn, root: Path, specs: list[tuple[str, str, str]], *, work_date: dt.date = dt.date(2026, 3, 14),
                      batch_id: str = "seed", image_size: tuple[int, int] = (96, 72),
                      workers: dict[str, str | None] | None = None) -> list[SeededItem]:
    """``specs``: (item_key, class_name, worker_id). Writes ``root/warehouse/<class>/<item>.jpg`` and
    ``root/labeling/accepted/<item>.json`` and the DB rows; returns what it made."""
    out = []
    with conn.cursor() as cur:
        cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES (%s, 'seed', %s) ON CONFLICT DO NOTHING",
                    (batch_id, batch_id))
        for worker_id, slack in (workers or {}).items():
            cur.execute("""INSERT INTO workers (worker_id, name, slack_user_id, employment_start, daily_capacity)
                           VALUES (%s, %s, %s, '2026-01-01', 50) ON CONFLICT (worker_id) DO NOTHING""",
                        (worker_id, f"labeler {worker_id}", slack))
        # The annotate stage's migration adds annotations.label_uri (where the accepted label file is).
        cur.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'annotations' "
                    "AND column_name = 'label_uri'")
        has_label_uri = cur.fetchone() is not None
        for n, (item_key, class_name, worker_id) in enumerate(specs):
            data = make_jpeg(n + int(hashlib.sha256(item_key.encode()).hexdigest()[:6], 16), image_size)
            image_path = root / "warehouse" / class_name / f"{item_key}.jpg"
            image_path.parent.mkdir(parents=True, exist_ok=True)
            image_path.write_bytes(data)
            payload = make_payload(item_key, image_path.name, class_name, *image_size, worker_id=worker_id)
            label = labels.label_bytes(payload)
            label_path = root / "labeling" / "accepted" / f"{item_key}.json"
            label_path.parent.mkdir(parents=True, exist_ok=True)
            label_path.write_bytes(label)
            cur.execute("""
                INSERT INTO images (sha256, size_bytes, format, width, height, source_uri, original_name, class_name,
                                    batch_id, status, stage, location, dataset_name)
                VALUES (%s, %s, 'jpeg', %s, %s, %s, %s, %s, %s, 'refined', 'annotate', %s, %s) RETURNING image_id""",
                        (hashlib.sha256(data).hexdigest(), len(data), image_size[0], image_size[1],
                         f"seed://{item_key}", image_path.name, class_name, batch_id, "file://" + str(image_path),
                         image_path.name))
            image_id = cur.fetchone()[0]
            cur.execute("""
                INSERT INTO annotations (image_id, item_key, worker_id, work_date, source_uri, sha256, source_format,
                                         status, object_count, payload)
                VALUES (%s, %s, %s, %s, %s, %s, 'aihub', 'passed', 2, %s) RETURNING annotation_id""",
                        (image_id, item_key, worker_id, work_date, "file://" + str(label_path), labels.sha256_hex(label),
                         json.dumps(payload)))
            annotation_id = cur.fetchone()[0]
            if has_label_uri:
                cur.execute("UPDATE annotations SET label_uri = %s WHERE annotation_id = %s",
                            ("file://" + str(label_path), annotation_id))
            cur.execute("""INSERT INTO inspections (item_key, annotation_id, round, verdict, inspected_on)
                           VALUES (%s, %s, 'first', 'pass', %s)""", (item_key, annotation_id, work_date))
            out.append(SeededItem(item_key, class_name, worker_id, image_path, label_path, annotation_id, image_id))
    conn.commit()
    return out
