"""The first inspection's rule checks (1차 검수): the flattened annotation table and its GX suite.

Measure, then judge: ``flatten`` turns items into one table with three kinds of rows, every row keyed by
``row_id`` and pointing back to its item through ``ref``:

- ``item`` rows: pairing (has_image, has_label, label_stem vs declared_stem), image facts (declared vs actual
  width/height) and capture metadata (capture_date, capture_days_after_work);
- ``object`` rows: category, extents against the image, box sides, polygon point count / area / simplicity,
  the highest IoU with an earlier object of the same class, and the annotation id's scoped uid;
- ``attribute`` rows: ``<class>.<key>`` and ``<class>.<key>=<value>`` for the taxonomy.

Columns that do not apply to a row are null; the suite ``include/expectations/annotation_rules.json`` names one
reason code per expectation (``meta.reason_code``; sparse columns use ``meta.nulls: "ignore"``), and thresholds
and the taxonomy arrive as suite parameters from the project file (``suite_parameters``).  The DAG stores the
table in ``annotation_rule_rows`` and runs the suite with the GX operator; the CLI runs the same suite on the
same table in memory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import combinations

from trainset.annotate.model import Finding, LabelItem
from trainset.config import ProjectConfig

SUITE_NAME = "annotation_rules"
COLUMNS = (
    "row_id", "ref", "item_key", "row_kind", "row_where",
    "has_label", "has_image", "label_stem", "declared_stem",
    "declared_width", "actual_width", "declared_height", "actual_height",
    "capture_date", "capture_days_after_work",
    "category", "x_min", "y_min", "x_max", "y_max", "img_w", "img_h", "box_w", "box_h", "box_min_side",
    "polygon_points", "polygon_area", "polygon_simple", "max_iou_same_class", "annotation_uid",
    "attribute_key", "attribute_pair",
)
# Where an item-level reason points in the label, for the finding's ``where``.
ITEM_WHERE = {
    "no_image": "label file stem", "no_label": "assigned image", "stem_mismatch": "image.file_name",
    "image_size_mismatch": "image.width/height", "capture_date_format": "capture.date",
    "capture_date_future": "capture.date",
}


@dataclass
class ImageFacts:
    """What the warehouse knows about the image an item's stem names."""

    item_key: str
    width: int | None
    height: int | None
    image_id: int | None = None
    original_name: str | None = None
    class_name: str | None = None
    location: str | None = None


@dataclass
class RuleUnit:
    """One item to judge: its label (None when an assigned image has no label) and its image (None if absent)."""

    ref: str  # stable reference used in row ids (annotation id in the DB, index in the CLI)
    item_key: str
    item: LabelItem | None
    image: ImageFacts | None


def suite_parameters(config: ProjectConfig) -> dict:
    """Thresholds and the taxonomy from the project file, as the suite's parameters."""
    keys, pairs = [], []
    for c in config.classes:
        for key, values in c.attributes.items():
            keys.append(f"{c.name}.{key}")
            pairs += [f"{c.name}.{key}={v}" for v in values]
    return {
        "class_names": [c.name for c in config.classes],
        "attribute_keys": keys or ["-"],
        "attribute_pairs": pairs or ["-"],
        "min_box_size": float(config.annotate.min_box_size),
        "duplicate_iou": float(config.annotate.duplicate_iou),
    }


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def polygon_area(points: list[list[float]]) -> float:
    n = len(points)
    s = sum(points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1] for i in range(n))
    return abs(s) / 2.0


def _orient(p, q, r) -> float:
    return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])


def _on_segment(p, q, r) -> bool:
    return min(p[0], r[0]) <= q[0] <= max(p[0], r[0]) and min(p[1], r[1]) <= q[1] <= max(p[1], r[1])


def _segments_intersect(p1, p2, p3, p4) -> bool:
    d1, d2, d3, d4 = _orient(p3, p4, p1), _orient(p3, p4, p2), _orient(p1, p2, p3), _orient(p1, p2, p4)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return ((d1 == 0 and _on_segment(p3, p1, p4)) or (d2 == 0 and _on_segment(p3, p2, p4))
            or (d3 == 0 and _on_segment(p1, p3, p2)) or (d4 == 0 and _on_segment(p1, p4, p2)))


def polygon_is_simple(points: list[list[float]]) -> bool:
    """No two non-adjacent edges touch (a closed ring; O(n^2), fine for hand-drawn polygons)."""
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i, j in combinations(range(n), 2):
        if j == i + 1 or (i == 0 and j == n - 1):
            continue
        if _segments_intersect(*edges[i], *edges[j]):
            return False
    return True


def _capture(item: LabelItem, work_date: dt.date) -> tuple[str | None, int | None]:
    raw = item.capture.date
    if raw is None:
        return None, None
    try:
        day = dt.date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    return raw, (day - work_date).days if day else None


def flatten(units: list[RuleUnit], work_date: dt.date) -> list[dict]:
    """The annotation table the suite judges (see the module notes)."""
    rows: list[dict] = []

    def row(**values) -> dict:
        r = dict.fromkeys(COLUMNS)
        r.update(values)  # may carry private keys (``_category``) that are not table columns
        rows.append(r)
        return r

    for unit in units:
        item, image = unit.item, unit.image
        base = {"ref": unit.ref, "item_key": unit.item_key}
        actual_w = image.width if image else None
        actual_h = image.height if image else None
        if item is None:
            row(row_id=f"{unit.ref}:item", row_kind="item", row_where="", has_label=False,
                has_image=image is not None, **base)
            continue
        capture_date, days_after = _capture(item, work_date)
        declared_stem = item.image_file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0] if item.image_file_name else None
        row(row_id=f"{unit.ref}:item", row_kind="item", row_where="", has_label=True,
            has_image=image is not None, label_stem=item.label_stem, declared_stem=declared_stem,
            declared_width=item.width, actual_width=actual_w if item.width is not None else None,
            declared_height=item.height, actual_height=actual_h if item.height is not None else None,
            capture_date=capture_date, capture_days_after_work=days_after, **base)
        img_w = actual_w if actual_w is not None else item.width
        img_h = actual_h if actual_h is not None else item.height
        if item.normalized:
            img_w = img_h = 1
        _object_rows(row, unit.ref, item, img_w, img_h, base)
    return rows


def _object_rows(row, ref: str, item: LabelItem, img_w, img_h, base: dict) -> None:
    """The ``object`` and ``attribute`` rows of one item (``row(**values)`` adds a row to the table)."""
    extents = []
    for j, obj in enumerate(item.objects):
        where = f"annotation {obj.id if obj.id is not None else j + 1}"
        ext = obj.extent()
        r = row(row_id=f"{ref}:o{j}", row_kind="object", row_where=where, category=obj.category,
                img_w=img_w, img_h=img_h,
                annotation_uid=f"{item.id_scope}#{obj.id}" if obj.id is not None else None, **base)
        if ext is not None:
            r.update(x_min=ext[0], y_min=ext[1], x_max=ext[2], y_max=ext[3])
        if obj.bbox is not None:
            w, h = obj.bbox[2], obj.bbox[3]
            r.update(box_w=w, box_h=h)
            if w > 0 and h > 0 and not item.normalized:
                r["box_min_side"] = min(w, h)
        if obj.points is not None:
            r["polygon_points"] = len(obj.points)
            if len(obj.points) >= 3:
                area = polygon_area(obj.points)
                r["polygon_area"] = area
                if area > 0:
                    r["polygon_simple"] = polygon_is_simple(obj.points)
        if ext is not None and ext[2] > ext[0] and ext[3] > ext[1]:
            earlier = [_iou(ext, e) for cat, e in extents if cat == obj.category]
            if earlier:
                r["max_iou_same_class"] = max(earlier)
            extents.append((obj.category, ext))
        for k, (key, value) in enumerate(sorted(obj.attributes.items())):
            values = value if isinstance(value, list) else [value]
            for m, v in enumerate(values):
                row(row_id=f"{ref}:o{j}:a{k}.{m}", row_kind="attribute", row_where=f"{where} attribute {key}",
                    _category=obj.category, attribute_key=f"{obj.category}.{key}",
                    attribute_pair=f"{obj.category}.{key}={v}", **base)


def dataframe(rows: list[dict]):
    import pandas as pd

    df = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    for col in ("declared_width", "actual_width", "declared_height", "actual_height", "capture_days_after_work",
                "x_min", "y_min", "x_max", "y_max", "img_w", "img_h", "box_w", "box_h", "box_min_side",
                "polygon_points", "polygon_area", "max_iou_same_class"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return df


def prune_attribute_rows(rows: list[dict], parameters: dict) -> None:
    """An attribute of an unknown class, or an unknown key, is reported once (not again as its value)."""
    classes, keys = set(parameters["class_names"]), set(parameters["attribute_keys"])
    allowed_values = {p.split("=", 1)[0] for p in parameters["attribute_pairs"]}
    for r in rows:
        if r["row_kind"] != "attribute":
            continue
        if r.get("_category") not in classes:
            r["attribute_key"] = r["attribute_pair"] = None
        elif r["attribute_key"] not in keys or r["attribute_key"] not in allowed_values:
            r["attribute_pair"] = None  # unknown key: one finding; a key with no listed values: free text


def findings_from_failures(failures: dict[str, list[str]], rows: list[dict]) -> dict[str, list[Finding]]:
    """GX failures (row id -> reason codes) as findings per ``ref``, each with where it was found."""
    by_id = {r["row_id"]: r for r in rows}
    out: dict[str, list[Finding]] = {}
    for row_id, codes in failures.items():
        r = by_id.get(row_id)
        if r is None:
            continue
        for code in codes:
            where = r["row_where"] or ITEM_WHERE.get(code, "")
            out.setdefault(r["ref"], []).append(Finding(code=code, where=where))
    for ref in out:
        out[ref] = sorted({(f.code, f.where): f for f in out[ref]}.values(), key=lambda f: (f.code, f.where))
    return out


def judge(units: list[RuleUnit], config: ProjectConfig, work_date: dt.date, *, docs_dir=None,
          run_name: str | None = None) -> tuple[dict[str, list[Finding]], object]:
    """Flatten and run the suite in memory (the CLI path); returns findings per ref and the SuiteOutcome."""
    from trainset.expectations import validate_dataframe

    rows = flatten(units, work_date)
    params = suite_parameters(config)
    prune_attribute_rows(rows, params)
    if not rows:
        return {}, None
    outcome = validate_dataframe(dataframe(rows), SUITE_NAME, id_column="row_id", parameters=params,
                                 docs_dir=docs_dir, run_name=run_name)
    return findings_from_failures(outcome.failures, rows), outcome
