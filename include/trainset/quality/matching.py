"""Boxes, IoU and one-to-one matching.

Every object becomes an axis-aligned box ``(x1, y1, x2, y2)`` in pixels: its bbox, or a polygon's extent (the
first inspection already judged the polygon itself).  Matching follows CVAT's quality control: pairs of the same
label are matched first (Hungarian assignment maximising IoU among pairs at or above the threshold), then what is
left is matched regardless of label; those pairs are label conflicts, not misses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from trainset.annotate.model import LabelItem


@dataclass(frozen=True)
class Box:
    """One object of one item, as a box; ``index`` is its position among the item's objects."""

    index: int
    object_id: str
    category: str
    x1: float
    y1: float
    x2: float
    y2: float
    attributes: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def as_xywh(self) -> list[float]:
        return [self.x1, self.y1, self.width, self.height]


def boxes_of(item: LabelItem | None) -> list[Box]:
    """The item's objects that have a geometry, as boxes (objects without one cannot be matched)."""
    out = []
    if item is None:
        return out
    for n, obj in enumerate(item.objects):
        extent = obj.extent()
        if extent is None:
            continue
        out.append(Box(n, obj.id if obj.id is not None else str(n + 1), obj.category, *extent,
                       attributes=dict(obj.attributes)))
    return out


def iou_matrix(a: list[Box], b: list[Box]) -> np.ndarray:
    """IoU of every box of ``a`` (rows) with every box of ``b`` (columns)."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    pa = np.array([[x.x1, x.y1, x.x2, x.y2] for x in a], dtype=float)
    pb = np.array([[x.x1, x.y1, x.x2, x.y2] for x in b], dtype=float)
    ix = np.clip(np.minimum(pa[:, None, 2], pb[None, :, 2]) - np.maximum(pa[:, None, 0], pb[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(pa[:, None, 3], pb[None, :, 3]) - np.maximum(pa[:, None, 1], pb[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = np.clip(pa[:, 2] - pa[:, 0], 0, None) * np.clip(pa[:, 3] - pa[:, 1], 0, None)
    area_b = np.clip(pb[:, 2] - pb[:, 0], 0, None) * np.clip(pb[:, 3] - pb[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _assign(iou: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """Maximum-IoU one-to-one assignment restricted to ``allowed`` pairs."""
    if not allowed.any():
        return []
    rows = np.flatnonzero(allowed.any(axis=1))
    cols = np.flatnonzero(allowed.any(axis=0))
    sub = np.where(allowed[np.ix_(rows, cols)], iou[np.ix_(rows, cols)], -1.0)
    r, c = linear_sum_assignment(sub, maximize=True)
    return [(int(rows[i]), int(cols[j])) for i, j in zip(r, c, strict=True) if sub[i, j] >= 0]


@dataclass
class Matching:
    """Result of matching boxes ``a`` to boxes ``b``: index pairs with their IoU."""

    same_label: list[tuple[int, int, float]]
    other_label: list[tuple[int, int, float]]
    unmatched_a: list[int]
    unmatched_b: list[int]


def match_boxes(a: list[Box], b: list[Box], iou_threshold: float) -> Matching:
    iou = iou_matrix(a, b)
    if iou.size == 0:
        return Matching([], [], list(range(len(a))), list(range(len(b))))
    close = iou >= iou_threshold
    same = np.array([[x.category == y.category for y in b] for x in a], dtype=bool)
    first = _assign(iou, close & same)
    used_a = {i for i, _ in first}
    used_b = {j for _, j in first}
    rest = close.copy()
    rest[list(used_a), :] = False
    rest[:, list(used_b)] = False
    second = _assign(iou, rest)
    used_a |= {i for i, _ in second}
    used_b |= {j for _, j in second}
    return Matching(
        same_label=[(i, j, float(iou[i, j])) for i, j in first],
        other_label=[(i, j, float(iou[i, j])) for i, j in second],
        unmatched_a=[i for i in range(len(a)) if i not in used_a],
        unmatched_b=[j for j in range(len(b)) if j not in used_b],
    )
