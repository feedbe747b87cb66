"""What goes into a release: the items whose latest human verdict is *pass*, read from the records DB.

An item is one 원천데이터 image + one 라벨링데이터 annotation sharing a file stem.  The annotate-intake stage stores
the annotation in its canonical form (``annotations.payload``); ``objects_from_payload`` is the one place that
reads that form, so a change there is absorbed here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlparse

from trainset.db import fetch_dicts


@dataclass(frozen=True)
class LabeledObject:
    class_name: str
    bbox: tuple[float, float, float, float]  # x, y, width, height in pixels, origin top-left
    polygon: tuple[tuple[float, float], ...] | None = None
    attributes: dict = field(default_factory=dict, hash=False, compare=False)
    object_id: str | None = None


@dataclass(frozen=True)
class DatasetItem:
    item_key: str
    image_id: int
    file_name: str  # the image's file name in the release (dataset name under the naming rule)
    class_name: str
    location: str  # URI of the image bytes (warehouse)
    width: int
    height: int
    sha256: str
    capture_time: dt.datetime | None = None
    camera: str | None = None  # "Make Model" from EXIF when refine recorded it
    phash: str | None = None  # perceptual hash (hex) when refine recorded it
    worker_id: str | None = None
    annotation_id: int | None = None
    objects: tuple[LabeledObject, ...] = ()
    payload: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def stem(self) -> str:
        return self.file_name.rsplit(".", 1)[0]


def _bbox(obj: dict) -> tuple[float, float, float, float] | None:
    box = obj.get("bbox")
    if isinstance(box, dict):  # {"x", "y", "width"|"w", "height"|"h"}
        box = [box.get("x"), box.get("y"), box.get("width", box.get("w")), box.get("height", box.get("h"))]
    if isinstance(box, list | tuple) and len(box) == 4 and all(isinstance(v, int | float) for v in box):
        return tuple(float(v) for v in box)
    return None


def _polygon(obj: dict) -> tuple[tuple[float, float], ...] | None:
    poly = obj.get("points") or obj.get("polygon") or obj.get("segmentation")
    if not poly:
        return None
    if all(isinstance(p, list | tuple) and len(p) == 2 for p in poly):
        return tuple((float(x), float(y)) for x, y in poly)
    if all(isinstance(v, int | float) for v in poly) and len(poly) % 2 == 0:  # flat [x1, y1, x2, y2, ...]
        return tuple((float(poly[i]), float(poly[i + 1])) for i in range(0, len(poly), 2))
    return None


def objects_from_payload(payload: dict | None, width: int | None = None,
                         height: int | None = None) -> tuple[LabeledObject, ...]:
    """The labeled objects of a canonical annotation: annotate-intake's ``LabelItem`` dump (``objects`` with
    ``category``/``bbox``/``points``) or its project JSON (``annotations``).  Relative YOLO coordinates
    (``normalized``) are scaled to pixels with the image size."""
    if not payload:
        return ()
    sx = sy = 1.0
    if payload.get("normalized"):
        w, h = width or payload.get("width"), height or payload.get("height")
        if not (w and h):
            return ()
        sx, sy = float(w), float(h)
    raw = payload.get("objects")
    if raw is None:
        raw = payload.get("annotations", [])
    out = []
    for i, obj in enumerate(raw or []):
        box = _bbox(obj)
        polygon = _polygon(obj)
        if box is not None:
            box = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
        if polygon is not None:
            polygon = tuple((x * sx, y * sy) for x, y in polygon)
        if box is None and polygon:
            xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
            box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
        if box is None:
            continue
        out.append(LabeledObject(
            class_name=str(obj.get("class_name") or obj.get("category") or obj.get("label") or ""),
            bbox=box, polygon=polygon, attributes=dict(obj.get("attributes") or {}),
            object_id=str(obj.get("id", i + 1))))
    return tuple(out)


def _file_name(row: dict) -> str:
    if row.get("dataset_name"):
        return row["dataset_name"]
    payload = row.get("payload") or {}
    declared = ((payload.get("image") or {}).get("file_name")) or payload.get("image_file_name")
    if declared:
        return declared
    path = urlparse(row["location"] or "").path
    return path.rsplit("/", 1)[-1] or f"{row['item_key']}.jpg"


# The view (migration 0700) is the one definition of a passed item; the inspection_passed event counts it too.
_PASSED_ITEMS_SQL = """
SELECT item_key, annotation_id, payload, worker_id, image_id, dataset_name, class_name, location, width, height,
       capture_time, image_sha256 AS sha256
FROM inspection_passed_items
WHERE (%(keys)s::text[] IS NULL OR item_key = ANY(%(keys)s::text[]))
ORDER BY item_key
"""


# Where refine records the facts the split groups by: perceptual hashes in ``image_phash`` (signed 64-bit dHash)
# and the camera in ``refine_measurements``.  Read only when those tables exist: an image without them is simply
# not grouped by that fact (documented in split.py).
def _grouping_facts(cur, image_ids: list[int]) -> dict[int, dict]:
    facts: dict[int, dict] = {i: {} for i in image_ids}
    if not image_ids:
        return facts
    cur.execute("SELECT to_regclass('image_phash') IS NOT NULL, to_regclass('refine_measurements') IS NOT NULL")
    has_phash, has_measurements = cur.fetchone()
    if has_phash:
        cur.execute("SELECT image_id, phash FROM image_phash WHERE image_id = ANY(%s)", (image_ids,))
        for image_id, phash in cur.fetchall():
            facts[image_id]["phash"] = f"{int(phash) & (2**64 - 1):016x}"
    if has_measurements:
        cur.execute("SELECT image_id, make, model FROM refine_measurements WHERE image_id = ANY(%s)", (image_ids,))
        for image_id, make, model in cur.fetchall():
            camera = " ".join(p.strip() for p in (make or "", model or "") if p and p.strip())
            if camera:
                facts[image_id]["camera"] = camera
    return facts


def load_passed_items(conn, item_keys: Iterable[str] | None = None) -> list[DatasetItem]:
    """Items whose latest inspection-server verdict is pass, with the annotation that verdict was about."""
    keys = sorted(item_keys) if item_keys is not None else None
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, _PASSED_ITEMS_SQL, {"keys": keys})
        facts = _grouping_facts(cur, [r["image_id"] for r in rows])
    items = []
    for r in rows:
        payload = r["payload"] or {}
        image = payload.get("image") or {}
        f = facts.get(r["image_id"], {})
        width = int(r["width"] or image.get("width") or payload.get("width") or 0)
        height = int(r["height"] or image.get("height") or payload.get("height") or 0)
        items.append(DatasetItem(
            item_key=r["item_key"], image_id=r["image_id"], file_name=_file_name(r),
            class_name=r["class_name"] or "", location=r["location"],
            width=width, height=height,
            sha256=(r["sha256"] or "").strip(), capture_time=r["capture_time"], camera=f.get("camera"),
            phash=f.get("phash"), worker_id=r["worker_id"], annotation_id=r["annotation_id"],
            objects=objects_from_payload(payload, width, height), payload=payload))
    return items
