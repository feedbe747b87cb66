"""Label-error hints: labels that pass every rule but look wrong.  Each hint has a reason code and a score
(higher = more suspicious); they are hints for an inspector, never verdicts.

Without a model (``label_hints``), per class over all the items given:

- ``area_outlier`` / ``aspect_outlier`` / ``position_outlier``: robust z-score (median, 1.4826 x MAD with a floor
  so a class of near-identical boxes does not flag every small jitter) of log relative area, log aspect ratio,
  and the centre's position as a share of the image; score = |z| (Datumaro's validator flags far-from-mean box
  statistics the same way, with mean and sigma);
- ``class_mismatch``: the box's geometry (and, with images, its appearance) is an outlier for its own class and
  typical of another one; score = own-class z minus the other class's z;
- ``appearance_outlier``: with images, the crop's gradient-orientation histogram is far from its class's
  (k-nearest-neighbour distance, robust z over the class) -- a box drawn on nothing plate- or person-like;
- ``near_duplicate``: a second box of the item overlapping another at ``duplicate_iou`` (any class); score = IoU;
- ``rare_cooccurrence``: two classes in one item that (almost) never appear together; on the rarer class's object;
- ``attribute_rare``: an attribute value rare within its class (free-text values compared by their shape: letters
  -> A, digits -> 9); score = 1 - share;
- ``count_outlier``: the item's number of objects of a class far from that class's norm (item-level).

With a model (``prediction_hints``): a COCO results file (``[{image_id, category_id, bbox, score}]``) of any
detector.  Ideas after cleanlab's object-detection scores, reimplemented: ``overlooked`` (a confident prediction no
label box overlaps), ``swapped_class`` (a label box a confident prediction of another class covers better than any
prediction of its own class), ``badly_located`` (the best same-class prediction overlaps, but under the match IoU).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np

from trainset.annotate.model import LabelItem
from trainset.config import QualityHintSettings
from trainset.quality.matching import Box, boxes_of, iou_matrix

HINT_CODES = ("area_outlier", "aspect_outlier", "position_outlier", "class_mismatch", "appearance_outlier",
              "near_duplicate", "rare_cooccurrence", "attribute_rare", "count_outlier",
              "overlooked", "swapped_class", "badly_located")
# Grey crops (H x W float32 in 0..1) for a box, or None when the image is not available.
CropLoader = Callable[[str, list[Box]], "list[np.ndarray | None]"]


@dataclass
class Hint:
    item: str
    object: str | None
    code: str
    score: float
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def robust_z(values: np.ndarray, floor: float) -> np.ndarray:
    med = float(np.median(values))
    scale = max(1.4826 * float(np.median(np.abs(values - med))), floor)
    return (values - med) / scale


@dataclass
class _Obj:
    item: str
    box: Box
    features: np.ndarray  # log area share, log aspect, cx share, cy share


def _features(box: Box, size: tuple[int, int] | None) -> np.ndarray | None:
    if box.width <= 0 or box.height <= 0:
        return None
    w, h = size if size else (None, None)
    if not w or not h:
        return None
    return np.array([math.log(box.width * box.height / (w * h)), math.log(box.width / box.height),
                     (box.x1 + box.x2) / 2 / w, (box.y1 + box.y2) / 2 / h])


FEATURE_CODES = ("area_outlier", "aspect_outlier", "position_outlier", "position_outlier")


def _class_stats(feats: np.ndarray, s: QualityHintSettings) -> tuple[np.ndarray, np.ndarray]:
    med = np.median(feats, axis=0)
    mad = 1.4826 * np.median(np.abs(feats - med), axis=0)
    floors = np.array([s.log_scale_floor, s.log_scale_floor, s.position_scale_floor, s.position_scale_floor])
    return med, np.maximum(mad, floors)


def gradient_descriptor(crop: np.ndarray, cells: tuple[int, int] = (4, 12), bins: int = 9) -> np.ndarray:
    """Histogram of unsigned gradient orientations per cell (a small HOG), L2-normalised, plus the mean
    horizontal and vertical gradient strength and their log ratio (text and edges vs. smooth paint or sky).
    Calibrated on the corpus plates against same-size crops elsewhere in the photo: benchmarks/quality_eval.py."""
    gy, gx = np.gradient(crop.astype(np.float32))
    mag = np.hypot(gx, gy)
    ang = (np.arctan2(gy, gx) % np.pi) / np.pi * bins
    b = np.minimum(ang.astype(int), bins - 1)
    rows, cols = cells
    h, w = crop.shape
    out = []
    for r in range(rows):
        for c in range(cols):
            sl = (slice(r * h // rows, (r + 1) * h // rows), slice(c * w // cols, (c + 1) * w // cols))
            out.append(np.bincount(b[sl].ravel(), weights=mag[sl].ravel(), minlength=bins))
    vec = np.concatenate(out)
    vec = vec / (np.linalg.norm(vec) + 1e-6)
    ax, ay = float(np.abs(gx).mean()), float(np.abs(gy).mean())
    return np.concatenate([vec, [ax * 4, ay * 4, math.log((ax + 1e-3) / (ay + 1e-3))]])


def label_hints(items: list[LabelItem], settings: QualityHintSettings, *,
                sizes: dict[str, tuple[int, int]] | None = None, crops: CropLoader | None = None) -> list[Hint]:
    """Hints without a model over ``items``; ``sizes`` (stem -> (w, h)) fills in what a label does not declare."""
    s = settings
    sizes = sizes or {}
    hints: list[Hint] = []
    objs: list[_Obj] = []
    by_item: dict[str, list[Box]] = {}
    for item in items:
        size = sizes.get(item.item_key) or ((item.width, item.height) if item.width and item.height else None)
        boxes = boxes_of(item)
        by_item[item.item_key] = boxes
        for b in boxes:
            f = _features(b, size)
            if f is not None:
                objs.append(_Obj(item.item_key, b, f))
    hints += _duplicate_hints(by_item, s)
    hints += _geometry_hints(objs, s, crops)
    hints += _cooccurrence_hints(by_item, s)
    hints += _attribute_hints(by_item, s)
    hints += _count_hints(by_item, s)
    return sorted(hints, key=lambda h: (h.item, h.object or "", h.code))


def _duplicate_hints(by_item: dict[str, list[Box]], s: QualityHintSettings) -> list[Hint]:
    out = []
    for key, boxes in by_item.items():
        if len(boxes) < 2:
            continue
        iou = iou_matrix(boxes, boxes)
        for i, j in combinations(range(len(boxes)), 2):
            if iou[i, j] >= s.duplicate_iou:
                out.append(Hint(key, boxes[j].object_id, "near_duplicate", round(float(iou[i, j]), 4),
                                f"overlaps object {boxes[i].object_id} ({boxes[i].category})"))
    return out


def _appearance(objs: list[_Obj], crops: CropLoader | None) -> dict[int, np.ndarray]:
    if crops is None:
        return {}
    grouped: dict[str, list[int]] = defaultdict(list)
    for n, o in enumerate(objs):
        grouped[o.item].append(n)
    out = {}
    for key, idx in grouped.items():
        for n, crop in zip(idx, crops(key, [objs[n].box for n in idx]), strict=True):
            if crop is not None:
                out[n] = gradient_descriptor(crop)
    return out


def _knn_distance(query: np.ndarray, pool: np.ndarray, k: int, exclude_self: bool) -> np.ndarray:
    d = np.sqrt(((query[:, None, :] - pool[None, :, :]) ** 2).sum(axis=2))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    k = max(1, min(k, pool.shape[0] - (1 if exclude_self else 0)))
    return np.sort(d, axis=1)[:, :k].mean(axis=1)


def _appearance_z(objs: list[_Obj], classes: list[str], by_class: dict[str, list[int]], crops: CropLoader | None,
                  s: QualityHintSettings) -> tuple[dict[int, float], dict[int, tuple[str, float]]]:
    """Appearance: the k-NN distance of each crop to its own class's crops as a robust z score, and the other
    class whose crops it is nearest (with that z): ``(z by object, (class, z) by object)``."""
    desc = _appearance(objs, crops)
    app_z: dict[int, float] = {}
    app_other: dict[int, tuple[str, float]] = {}
    pools = {c: [n for n in by_class[c] if n in desc] for c in classes}
    for c in classes:
        idx = pools[c]
        if len(idx) < s.min_class_objects:
            continue
        own = np.array([desc[n] for n in idx])
        d_own = _knn_distance(own, own, s.appearance_neighbours, exclude_self=True)
        med = float(np.median(d_own))
        scale = max(1.4826 * float(np.median(np.abs(d_own - med))), 0.02)
        for k, n in enumerate(idx):
            app_z[n] = (d_own[k] - med) / scale
            for other in classes:
                if other == c or len(pools[other]) < s.min_class_objects:
                    continue
                pool = np.array([desc[m] for m in pools[other]])
                d = _knn_distance(own[k:k + 1], pool, s.appearance_neighbours, exclude_self=False)[0]
                z = (d - med) / scale
                if n not in app_other or z < app_other[n][1]:
                    app_other[n] = (other, z)
    return app_z, app_other


def _geometry_hints(objs: list[_Obj], s: QualityHintSettings, crops: CropLoader | None) -> list[Hint]:
    out: list[Hint] = []
    by_class: dict[str, list[int]] = defaultdict(list)
    for n, o in enumerate(objs):
        by_class[o.box.category].append(n)
    classes = [c for c, idx in by_class.items() if len(idx) >= s.min_class_objects]
    if not classes:
        return out
    feats = np.array([o.features for o in objs])
    stats = {c: _class_stats(feats[by_class[c]], s) for c in classes}
    app_z, app_other = _appearance_z(objs, classes, by_class, crops, s) if s.appearance else ({}, {})
    for c in classes:
        med, scale = stats[c]
        for n in by_class[c]:
            o = objs[n]
            z = (o.features - med) / scale
            worst = {}
            for code, value in zip(FEATURE_CODES, np.abs(z), strict=True):
                worst[code] = max(worst.get(code, 0.0), float(value))
            for code, value in worst.items():
                if value >= s.z_threshold:
                    out.append(Hint(o.item, o.box.object_id, code, round(value, 3), f"class {c}"))
            own_z = float(np.abs(z).max())
            a_z = app_z.get(n)
            if a_z is not None and a_z >= s.appearance_z_threshold:
                out.append(Hint(o.item, o.box.object_id, "appearance_outlier", round(float(a_z), 3), f"class {c}"))
            # Another class that explains the box better, in geometry or in appearance.
            best = None
            for other in classes:
                if other == c:
                    continue
                om, osc = stats[other]
                oz = float(np.abs((o.features - om) / osc).max())
                if own_z >= s.class_mismatch_min_z and own_z - oz >= s.class_mismatch_margin and \
                        (best is None or own_z - oz > best[1]):
                    best = (other, own_z - oz)
            if n in app_other and a_z is not None:
                other, oz = app_other[n]
                if a_z >= s.appearance_z_threshold and a_z - oz >= s.class_mismatch_margin and \
                        (best is None or a_z - oz > best[1]):
                    best = (other, float(a_z - oz))
            if best is not None:
                out.append(Hint(o.item, o.box.object_id, "class_mismatch", round(best[1], 3),
                                f"labeled {c}, looks like {best[0]}"))
    return out


def _cooccurrence_hints(by_item: dict[str, list[Box]], s: QualityHintSettings) -> list[Hint]:
    present = {key: {b.category for b in boxes} for key, boxes in by_item.items()}
    items_with = Counter(c for cats in present.values() for c in cats)
    together = Counter(frozenset(p) for cats in present.values() for p in combinations(sorted(cats), 2))
    out = []
    for key, cats in present.items():
        for a, b in combinations(sorted(cats), 2):
            n_a, n_b = items_with[a], items_with[b]
            if min(n_a, n_b) < s.min_class_objects:
                continue
            share = together[frozenset((a, b))] / min(n_a, n_b)
            if share < s.cooccurrence_min_share:
                rarer = a if (n_a, a) < (n_b, b) else b
                for box in by_item[key]:
                    if box.category == rarer:
                        out.append(Hint(key, box.object_id, "rare_cooccurrence", round(1 - share, 4),
                                        f"{a}+{b} together in {share:.1%} of items"))
    return out


def value_shape(value) -> str:
    """A categorical form of an attribute value: free text by its character classes (AB12 -> AA99)."""
    text = str(value)
    return re.sub(r"[^\W\d_]", "A", re.sub(r"\d", "9", text.upper()))


def _attribute_hints(by_item: dict[str, list[Box]], s: QualityHintSettings) -> list[Hint]:
    values: dict[tuple[str, str], list[tuple[str, Box, object]]] = defaultdict(list)
    for key, boxes in by_item.items():
        for b in boxes:
            for name, v in b.attributes.items():
                if isinstance(v, (str, int, bool)) or v is None:
                    values[(b.category, name)].append((key, b, v))
    out = []
    for (cls, name), rows in values.items():
        if len(rows) < s.min_class_objects:
            continue
        raw = [v for _, _, v in rows]
        # Mostly unique values (plate numbers, names) are compared by their shape, not their text, and only
        # when the class has a format (one shape for most values): free text with no format has no outliers.
        free_text = len(set(map(str, raw))) > 0.5 * len(raw)
        keys = [value_shape(v) if free_text else str(v) for v in raw]
        freq = Counter(keys)
        if free_text and freq.most_common(1)[0][1] < s.attribute_format_share * len(keys):
            continue
        for (key, b, _), k in zip(rows, keys, strict=True):
            share = freq[k] / len(rows)
            if share < s.attribute_min_share:
                out.append(Hint(key, b.object_id, "attribute_rare", round(1 - share, 4),
                                f"{cls}.{name}={k!s:.40} in {share:.1%} of the class"))
    return out


def _count_hints(by_item: dict[str, list[Box]], s: QualityHintSettings) -> list[Hint]:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for key, boxes in by_item.items():
        for cls, n in Counter(b.category for b in boxes).items():
            counts[cls][key] = n
    out = []
    for cls, per_item in counts.items():
        if len(per_item) < s.min_class_objects:
            continue
        keys = sorted(per_item)
        z = robust_z(np.log1p(np.array([per_item[k] for k in keys], dtype=float)), s.log_scale_floor * 3)
        for k, value in zip(keys, z, strict=True):
            if abs(value) >= s.z_threshold:
                out.append(Hint(k, None, "count_outlier", round(float(abs(value)), 3),
                                f"{per_item[k]} x {cls}"))
    return out


@dataclass
class Prediction:
    item: str
    category: str
    bbox: list[float]  # x, y, w, h
    score: float


def read_coco_results(data, *, categories: dict[int, str], image_ids: dict[str, str]) -> tuple[list[Prediction],
                                                                                                  list[str]]:
    """Predictions from a COCO results list; ``image_ids`` maps a COCO image id (as text) to the item key.
    Entries that cannot be used are returned as problems (reason text), never silently dropped."""
    preds, problems = [], []
    if not isinstance(data, list):
        return [], ["predictions: a COCO results file is a JSON list"]
    for n, row in enumerate(data):
        try:
            image = str(row["image_id"])
            bbox = [float(v) for v in row["bbox"]]
            score = float(row.get("score", 1.0))
            cat = categories.get(int(row["category_id"]))
        except (KeyError, TypeError, ValueError) as err:
            problems.append(f"entry {n}: {err!r}")
            continue
        item = image_ids.get(image, image)
        if cat is None or len(bbox) != 4:
            problems.append(f"entry {n}: unknown category_id {row.get('category_id')} or bad bbox")
            continue
        preds.append(Prediction(item, cat, bbox, score))
    return preds, problems


def prediction_hints(items: list[LabelItem], predictions: list[Prediction], settings: QualityHintSettings) -> list[Hint]:
    s = settings
    by_item: dict[str, list[Prediction]] = defaultdict(list)
    for p in predictions:
        if p.score >= s.prediction_min_score:
            by_item[p.item].append(p)
    out: list[Hint] = []
    for item in items:
        labels = boxes_of(item)
        preds = by_item.get(item.item_key, [])
        if not preds:
            continue
        pboxes = [Box(n, f"pred:{n}", p.category, p.bbox[0], p.bbox[1], p.bbox[0] + p.bbox[2], p.bbox[1] + p.bbox[3])
                  for n, p in enumerate(preds)]
        iou = iou_matrix(labels, pboxes)
        for j, p in enumerate(preds):
            best = float(iou[:, j].max()) if labels else 0.0
            if best < s.prediction_iou:
                out.append(Hint(item.item_key, None, "overlooked", round(p.score * (1 - best), 4),
                                f"{p.category} predicted at {[round(v) for v in p.bbox]} (score {p.score:.2f})"))
        for i, b in enumerate(labels):
            same = [(float(iou[i, j]), p.score) for j, p in enumerate(preds) if p.category == b.category]
            other = [(float(iou[i, j]), p.score, p.category) for j, p in enumerate(preds)
                     if p.category != b.category and iou[i, j] >= s.prediction_iou]
            same_hit = max((sc for v, sc in same if v >= s.prediction_iou), default=0.0)
            if other:
                v, sc, cat = max(other, key=lambda t: t[1])
                if sc > same_hit:
                    out.append(Hint(item.item_key, b.object_id, "swapped_class", round(sc - same_hit, 4),
                                    f"labeled {b.category}, predicted {cat} (score {sc:.2f}, IoU {v:.2f})"))
                    continue
            if same_hit == 0.0 and same:
                v, sc = max(same)
                if v > 0.1:
                    out.append(Hint(item.item_key, b.object_id, "badly_located", round(sc * (1 - v), 4),
                                    f"best {b.category} prediction IoU {v:.2f} (score {sc:.2f})"))
    return sorted(out, key=lambda h: (h.item, h.object or "", h.code))
