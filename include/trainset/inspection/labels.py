"""Reading the objects of an annotation payload (the canonical / AI Hub-style JSON) for drawing and fixing.

The annotate stage owns the canonical model; this module only reads the fields every form of it has: a list of
annotations, each with a category, a box ``[x, y, w, h]`` and/or a polygon, and attributes.  Keys are looked up
under the names the AI Hub samples and the COCO-like forms use, so a file from either draws the same.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

ANNOTATION_LIST_KEYS = ("annotations", "objects", "labels")
CATEGORY_KEYS = ("category", "class_name", "category_name", "label", "class")
POLYGON_KEYS = ("polygon", "points", "segmentation")
IMAGE_KEYS = ("image", "images", "image_info", "source_data_info")


@dataclass
class LabelObject:
    category: str | None
    bbox: tuple[float, float, float, float] | None  # x, y, w, h
    polygon: list[tuple[float, float]] | None
    attributes: dict = field(default_factory=dict)


def annotation_list(payload: dict) -> list[dict]:
    for key in ANNOTATION_LIST_KEYS:
        value = payload.get(key)
        if isinstance(value, list):
            return [a for a in value if isinstance(a, dict)]
    return []


def category_key(annotation: dict) -> str | None:
    for key in CATEGORY_KEYS:
        if key in annotation:
            return key
    return None


def category_of(annotation: dict) -> str | None:
    key = category_key(annotation)
    if key is None:
        return None
    value = annotation[key]
    if isinstance(value, dict):  # {"name": ..., "id": ...}
        value = value.get("name")
    return None if value is None else str(value)


def bbox_of(annotation: dict) -> tuple[float, float, float, float] | None:
    value = annotation.get("bbox") or annotation.get("box")
    if isinstance(value, dict):
        try:
            return (float(value["x"]), float(value["y"]), float(value.get("w", value.get("width"))),
                    float(value.get("h", value.get("height"))))
        except (KeyError, TypeError, ValueError):
            return None
    if isinstance(value, list | tuple) and len(value) == 4:
        try:
            return tuple(float(v) for v in value)  # type: ignore[return-value]
        except (TypeError, ValueError):
            return None
    return None


def polygon_of(annotation: dict) -> list[tuple[float, float]] | None:
    for key in POLYGON_KEYS:
        value = annotation.get(key)
        if not value:
            continue
        if isinstance(value, list) and value and isinstance(value[0], list) and value[0] \
                and not isinstance(value[0][0], list | tuple) and len(value[0]) > 2:
            value = value[0]  # COCO: a list of flat rings; draw the first
        try:
            if isinstance(value[0], dict):
                return [(float(p["x"]), float(p["y"])) for p in value]
            if isinstance(value[0], list | tuple):
                return [(float(p[0]), float(p[1])) for p in value]
            flat = [float(v) for v in value]
            return list(zip(flat[0::2], flat[1::2], strict=False))
        except (KeyError, TypeError, ValueError, IndexError):
            return None
    return None


def objects(payload: dict) -> list[LabelObject]:
    return [LabelObject(category=category_of(a), bbox=bbox_of(a), polygon=polygon_of(a),
                        attributes=a.get("attributes") if isinstance(a.get("attributes"), dict) else {})
            for a in annotation_list(payload)]


def image_info(payload: dict) -> dict:
    for key in IMAGE_KEYS:
        value = payload.get(key)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return value[0]
        if isinstance(value, dict):
            return value
    return {}


def image_size(payload: dict) -> tuple[int, int] | None:
    info = image_info(payload)
    if "width" not in info and "width" in payload:  # the canonical model keeps the size at the top level
        info = payload
    try:
        return int(info["width"]), int(info["height"])
    except (KeyError, TypeError, ValueError):
        return None


def label_bytes(payload: dict) -> bytes:
    """The label file written for an item: deterministic bytes, so its sha256 names its content."""
    return (json.dumps(payload, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
