"""COCO instances JSON into the canonical model: polygons (one object per ring), RLE masks (compressed or not) as
their extent, CVAT's rotated boxes as polygons, ``date_captured`` in the writers' many spellings."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import PurePosixPath

from trainset.annotate.model import CaptureMeta, LabelItem, LabelObject

# Tool fields CVAT writes into every COCO annotation's ``attributes``: not taxonomy attributes.  ``rotation`` is
# geometry (degrees clockwise about the box centre) and becomes a polygon when it is not 0; ``occluded`` is kept
# only when set (it is information, and the project may list it), its default ``false`` is dropped.
CVAT_TOOL_ATTRIBUTES = ("rotation", "track_id", "keyframe", "z_order")
_EXIF_DATETIME = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}:\d{2}:\d{2})")


def coco_capture(value) -> CaptureMeta:
    """``images[].date_captured`` as the canonical capture date (and time), as the writers put it:
    COCO's own ``"2013-11-14 11:18:45"``, ISO 8601 with ``T``, fractions, ``Z`` or an offset (Roboflow, this
    project's release), a date alone, EXIF's ``"2013:11:14 11:18:45"``; CVAT's ``0``, ``""`` or no key mean
    unknown.  The date is the one written (the camera's local day), not converted.  Anything else is passed on
    as written so the rules report ``capture_date_format``."""
    if not isinstance(value, str) or not value.strip():
        return CaptureMeta()
    text = value.strip()
    if m := _EXIF_DATETIME.match(text):
        text = f"{m.group(1)}-{m.group(2)}-{m.group(3)} {m.group(4)}"
    if len(text) == 10:
        return CaptureMeta(date=text)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return CaptureMeta(date=value)
    return CaptureMeta(date=when.date().isoformat(), time=when.strftime("%H:%M:%S"))


def rle_counts(counts) -> list[int] | None:
    """Run lengths of a COCO RLE: the list as written (uncompressed), or decoded from pycocotools' compressed
    string (``rleFrString``: 5-bit groups offset by 48, sign bit 0x10, each run after the second a delta)."""
    if isinstance(counts, list):
        return [int(c) for c in counts] if all(isinstance(c, int) and c >= 0 for c in counts) else None
    if not isinstance(counts, str):
        return None
    out: list[int] = []
    p = 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            if p >= len(counts):
                return None
            c = ord(counts[p]) - 48
            if not 0 <= c < 64:
                return None
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        if x < 0:
            return None
        out.append(x)
    return out


def rle_bbox(counts: list[int], height: int) -> list[float] | None:
    """``[x, y, w, h]`` of an RLE mask (column-major runs, zeros first), as ``pycocotools.mask.toBbox``."""
    xs, ys = [], []
    pos = 0
    for i, run in enumerate(counts):
        if i % 2 and run:
            first, last = pos, pos + run - 1
            c0, c1 = divmod(first, height)[0], divmod(last, height)[0]
            xs += [c0, c1]
            ys += [first % height, last % height] if c0 == c1 else [0, height - 1]
        pos += run
    if not xs:
        return None
    return [float(min(xs)), float(min(ys)), float(max(xs) - min(xs) + 1), float(max(ys) - min(ys) + 1)]


def _rotated_box(bbox: list[float], degrees: float) -> list[list[float]]:
    x, y, w, h = bbox
    cx, cy = x + w / 2, y + h / 2
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)
    corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return [[cx + dx * cos - dy * sin, cy + dx * sin + dy * cos] for dx, dy in corners]


def _coco_objects(ann: dict, category: str, image_height: int) -> list[LabelObject]:
    """One COCO annotation as canonical objects: one, or one per part when its polygon has several rings (an
    occluded object drawn in pieces, as COCO itself does): the model holds one polygon per object, and keeping
    only the first ring would drop the rest from the checks and from every export.  Parts are ``<id>``,
    ``<id>.2``, ...; each part's box is its own ring's extent."""
    seg = ann.get("segmentation")
    rings = [r for r in seg if isinstance(r, list)] if isinstance(seg, list) else []
    if len(rings) <= 1:
        return [_coco_object(ann, category, image_height)]
    base = _coco_object({**ann, "segmentation": [rings[0]], "bbox": None}, category, image_height)
    parts = [base]
    for k, ring in enumerate(rings[1:], 2):
        parts.append(base.model_copy(update={
            "id": f"{base.id}.{k}", "bbox": None,
            "points": [[float(ring[i]), float(ring[i + 1])] for i in range(0, len(ring) - 1, 2)]}))
    return parts


def _coco_object(ann: dict, category: str, image_height: int) -> LabelObject:
    seg = ann.get("segmentation")
    points = None
    bbox = [float(v) for v in ann["bbox"]] if ann.get("bbox") is not None else None
    if isinstance(seg, list) and seg and isinstance(seg[0], list):
        ring = seg[0]
        points = [[float(ring[i]), float(ring[i + 1])] for i in range(0, len(ring) - 1, 2)]
    elif isinstance(seg, dict) and bbox is None:
        # An RLE mask (iscrowd=1, or CVAT/pycocotools masks) with no bbox: the mask's extent is the box.
        height = seg.get("size", [image_height])[0] if isinstance(seg.get("size"), list) else image_height
        counts = rle_counts(seg.get("counts"))
        bbox = rle_bbox(counts, int(height)) if counts and height else None
    attributes = dict(ann.get("attributes") or {})
    rotation = attributes.get("rotation")
    for key in CVAT_TOOL_ATTRIBUTES:
        attributes.pop(key, None)
    if attributes.get("occluded") is False:
        del attributes["occluded"]
    if isinstance(rotation, (int, float)) and rotation % 360 and bbox is not None and points is None:
        points = [[round(px, 3), round(py, 3)] for px, py in _rotated_box(bbox, float(rotation))]
        bbox = None
    return LabelObject(id=str(ann["id"]), category=category, bbox=bbox, points=points, attributes=attributes)


def coco_items(data: dict, source_uri: str) -> list[LabelItem]:
    """A schema-valid COCO instances JSON as one canonical item per ``images`` entry (keyed by its file stem)."""
    categories = {str(c["id"]): c["name"] for c in data["categories"]}
    by_image: dict[str, list[dict]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(str(ann["image_id"]), []).append(ann)
    out = []
    for image in data["images"]:
        objects = [obj for ann in by_image.get(str(image["id"]), [])
                   for obj in _coco_objects(ann, categories.get(str(ann["category_id"]),
                                                               f"category_{ann['category_id']}"), image["height"])]
        stem = PurePosixPath(image["file_name"]).stem
        out.append(LabelItem(item_key=stem, source_format="coco", source_uri=source_uri, label_stem=stem,
                             image_file_name=image["file_name"], width=image["width"], height=image["height"],
                             capture=coco_capture(image.get("date_captured")), objects=objects,
                             id_scope=source_uri))
    return out
