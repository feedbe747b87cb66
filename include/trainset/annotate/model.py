"""The canonical annotation model every input format is normalised to, and the first inspection's reason codes.

Coordinates are pixels of the image the label describes: ``bbox`` is ``[x, y, width, height]`` from the top-left
corner, ``points`` a polygon's vertices ``[[x, y], ...]``.  An object has a box, a polygon, or both (COCO gives
both); every check applies to what is present.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SourceFormat = Literal["aihub", "aihub_kfashion", "coco", "yolo"]

# Reason codes by category; the category decides who fixes it and what counts as a syntax failure.
REASONS: dict[str, dict[str, str]] = {
    "syntax": {
        "invalid_utf8": "the file is not UTF-8 text",
        "invalid_json": "the file is not valid JSON",
        "schema_missing_key": "a required key is missing (JSON Schema)",
        "schema_wrong_type": "a value has the wrong type (JSON Schema)",
        "schema_bad_enum": "a value is not one of the allowed values (JSON Schema)",
        "schema_violation": "the JSON breaks another rule of its schema",
        "yolo_malformed_line": "a YOLO line is not 'class cx cy w h' (or a polygon) with numbers",
        "unknown_format": "the file is not a label format the project accepts",
        "file_too_large": "the label file is larger than annotate.label_max_bytes",
    },
    "pairing": {
        "no_image": "no warehouse image has the label's file stem",
        "no_label": "an assigned image has no label in the upload",
        "stem_mismatch": "the label's image.file_name stem differs from the label file's stem",
    },
    "image": {
        "image_size_mismatch": "the width/height in the label differ from the real image",
    },
    "geometry": {
        "outside_image": "a box or polygon reaches outside the image",
        "box_non_positive": "a box has zero or negative width or height",
        "box_too_small": "a box side is below annotate.min_box_size",
        "polygon_too_few_points": "a polygon has fewer than 3 points",
        "polygon_zero_area": "a polygon has zero area",
        "polygon_self_intersecting": "a polygon's edges cross",
    },
    "taxonomy": {
        "unknown_class": "the category is not one of the project's classes",
        "unknown_attribute": "the attribute is not defined for the class",
        "unknown_attribute_value": "the attribute's value is not one of the allowed values",
    },
    "metadata": {
        "capture_date_format": "capture.date (COCO: date_captured) is not a date (YYYY-MM-DD, or a COCO/ISO date-time)",
        "capture_date_future": "capture.date is after the work date",
    },
    "duplicates": {
        "duplicate_object": "the same object is annotated twice (IoU above annotate.duplicate_iou, same class)",
        "duplicate_annotation_id": "two annotations share an id in one file",
    },
    "upload": {
        "zip_unsafe_path": "a zip member would be written outside the upload folder",
        "zip_too_many_members": "the zip has more members than annotate.zip_max_members",
        "zip_too_large": "the zip expands beyond annotate.zip_max_bytes or its compression ratio is a bomb",
        "zip_corrupt": "the zip file cannot be read",
    },
}
REASON_CATEGORY = {code: category for category, codes in REASONS.items() for code in codes}
SYNTAX_REASONS = frozenset(REASONS["syntax"])
# Failures a refinement remedy may resolve (with box/polygon bounds that follow from a wrong size).
REFINEMENT_REASONS = frozenset({"image_size_mismatch", "stem_mismatch", "no_image"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Finding(_Model):
    """One failed rule for one item: the reason code and where (a field path or an annotation)."""

    code: str
    where: str = ""
    detail: str = ""

    @property
    def category(self) -> str:
        return REASON_CATEGORY.get(self.code, "other")


class LabelObject(_Model):
    id: str | None = None
    category: str
    bbox: list[float] | None = Field(default=None, description="[x, y, width, height] in pixels")
    points: list[list[float]] | None = Field(default=None, description="polygon vertices [[x, y], ...]")
    attributes: dict[str, Any] = {}

    @property
    def shape(self) -> str:
        return "polygon" if self.points is not None else "bbox"

    def extent(self) -> tuple[float, float, float, float] | None:
        """(x_min, y_min, x_max, y_max) of whatever geometry the object has."""
        if self.points:
            xs = [p[0] for p in self.points]
            ys = [p[1] for p in self.points]
            return min(xs), min(ys), max(xs), max(ys)
        if self.bbox is not None:
            x, y, w, h = self.bbox
            return x, y, x + w, y + h
        return None


class CaptureMeta(_Model):
    date: str | None = None
    time: str | None = None
    device: str | None = None
    location: str | None = None


class LabelItem(_Model):
    """One dataset item's label (원천데이터 image + 라벨링데이터 label share ``item_key``, the file stem)."""

    item_key: str
    source_format: SourceFormat
    source_uri: str
    label_stem: str = Field(description="stem of the label file (COCO: of the image entry's file_name)")
    image_file_name: str | None = None  # the image the label says it describes
    width: int | None = None  # as declared by the label (None for YOLO, which has no sizes)
    height: int | None = None
    class_name: str | None = None  # item-level class, when the format has one
    capture: CaptureMeta = CaptureMeta()
    objects: list[LabelObject] = []
    id_scope: str = Field(description="annotation ids must be unique within this scope (the source file)")
    normalized: bool = Field(default=False, description="YOLO coordinates still relative (image size unknown)")

    def scaled(self, sx: float, sy: float, width: int, height: int) -> LabelItem:
        """The same label for the image resized by (sx, sy) to width x height."""
        objects = []
        for obj in self.objects:
            bbox = [obj.bbox[0] * sx, obj.bbox[1] * sy, obj.bbox[2] * sx, obj.bbox[3] * sy] if obj.bbox else None
            points = [[p[0] * sx, p[1] * sy] for p in obj.points] if obj.points is not None else None
            objects.append(obj.model_copy(update={"bbox": bbox, "points": points}))
        return self.model_copy(update={"objects": objects, "width": width, "height": height})


def to_project_json(item: LabelItem, *, image_file_name: str | None = None) -> dict:
    """The project's AI Hub-style JSON for an item (what ``accepted/<item_key>.json`` holds)."""
    annotations = []
    for n, obj in enumerate(item.objects, 1):
        ann: dict[str, Any] = {"id": obj.id if obj.id is not None else str(n), "category": obj.category,
                               "shape": obj.shape, "attributes": obj.attributes}
        if obj.bbox is not None:
            ann["bbox"] = [round(v, 2) for v in obj.bbox]
        if obj.points is not None:
            ann["points"] = [[round(p[0], 2), round(p[1], 2)] for p in obj.points]
        annotations.append(ann)
    capture = {k: v for k, v in item.capture.model_dump().items() if v is not None}
    return {
        "info": {"format": "trainset-aihub", "version": "1.0", "source_format": item.source_format},
        "image": {"file_name": image_file_name or item.image_file_name or f"{item.item_key}.jpg",
                  "width": item.width, "height": item.height, "class_name": item.class_name},
        "capture": capture,
        "annotations": annotations,
    }
