"""A labeler's work against ground truth (GT), with CVAT quality control's definitions.

Per item, GT boxes and the labeler's boxes are matched at ``iou_threshold`` (default 0.4, CVAT's):

- a *valid* match has the same label; accuracy = valid / (valid + extra + missing) where extra and missing count
  every box left without a valid partner, i.e. ``valid / (gt + labeled - valid)``; precision = valid / labeled;
  recall = valid / gt; mean IoU over valid matches;
- conflicts: ``missing`` (a GT box nothing overlaps enough), ``extra`` (a labeled box overlapping no GT box),
  ``mismatching_label`` (overlapping, other label), ``low_overlap`` (valid, but IoU below ``low_overlap``, CVAT's
  0.8 warning), ``attributes`` (valid, but some attribute value differs);
- label agreement = valid / (valid + mismatching_label); attribute agreement = valid pairs with equal attributes /
  valid pairs.

Per labeler, counts are summed over items first and the ratios taken from the sums (a box weighs the same in a
busy item as in a sparse one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from trainset.annotate.model import LabelItem
from trainset.quality.matching import Box, boxes_of, match_boxes

CONFLICT_TYPES = ("missing", "extra", "mismatching_label", "low_overlap", "attributes")


@dataclass
class Conflict:
    type: str
    gt_object: str | None
    labeled_object: str | None
    iou: float | None = None
    detail: str = ""


@dataclass
class Counts:
    gt: int = 0
    labeled: int = 0
    valid: int = 0
    mismatching_label: int = 0
    iou_sum: float = 0.0
    attributes_equal: int = 0
    conflicts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CONFLICT_TYPES, 0))

    def add(self, other: Counts) -> None:
        self.gt += other.gt
        self.labeled += other.labeled
        self.valid += other.valid
        self.mismatching_label += other.mismatching_label
        self.iou_sum += other.iou_sum
        self.attributes_equal += other.attributes_equal
        for k, v in other.conflicts.items():
            self.conflicts[k] = self.conflicts.get(k, 0) + v

    def metrics(self) -> dict:
        """The scores; a ratio with an empty denominator is None (nothing to judge), not 0 or 1."""
        def ratio(n, d):
            return round(n / d, 6) if d else None

        return {
            "accuracy": ratio(self.valid, self.gt + self.labeled - self.valid),
            "precision": ratio(self.valid, self.labeled),
            "recall": ratio(self.valid, self.gt),
            "mean_iou": ratio(self.iou_sum, self.valid),
            "label_agreement": ratio(self.valid, self.valid + self.mismatching_label),
            "attribute_agreement": ratio(self.attributes_equal, self.valid),
            "gt_boxes": self.gt, "labeled_boxes": self.labeled, "matched": self.valid,
            "conflicts": dict(self.conflicts),
        }


@dataclass
class ItemScore:
    item_key: str
    counts: Counts
    conflicts: list[Conflict]

    def as_dict(self) -> dict:
        return {"item": self.item_key, **self.counts.metrics(), "conflict_list": [asdict(c) for c in self.conflicts]}


def _attributes_differ(gt: Box, labeled: Box) -> list[str]:
    keys = set(gt.attributes) | set(labeled.attributes)
    return sorted(k for k in keys if gt.attributes.get(k) != labeled.attributes.get(k))


def compare_item(gt: LabelItem | None, labeled: LabelItem | None, *, iou_threshold: float = 0.4,
                 low_overlap: float = 0.8, item_key: str | None = None,
                 compare_attributes: bool = True) -> ItemScore:
    """Score one labeled item against its GT (either side may be None: no label means no boxes)."""
    g, d = boxes_of(gt), boxes_of(labeled)
    m = match_boxes(g, d, iou_threshold)
    counts = Counts(gt=len(g), labeled=len(d), valid=len(m.same_label), mismatching_label=len(m.other_label))
    conflicts: list[Conflict] = []
    for i, j, iou in m.same_label:
        counts.iou_sum += iou
        if iou < low_overlap:
            conflicts.append(Conflict("low_overlap", g[i].object_id, d[j].object_id, round(iou, 4)))
        differ = _attributes_differ(g[i], d[j]) if compare_attributes else []
        if differ:
            conflicts.append(Conflict("attributes", g[i].object_id, d[j].object_id, round(iou, 4),
                                      ",".join(differ)))
        else:
            counts.attributes_equal += 1
    for i, j, iou in m.other_label:
        conflicts.append(Conflict("mismatching_label", g[i].object_id, d[j].object_id, round(iou, 4),
                                  f"{g[i].category}->{d[j].category}"))
    conflicts += [Conflict("missing", g[i].object_id, None) for i in m.unmatched_a]
    conflicts += [Conflict("extra", None, d[j].object_id) for j in m.unmatched_b]
    for c in conflicts:
        counts.conflicts[c.type] += 1
    key = item_key or (gt.item_key if gt is not None else labeled.item_key if labeled is not None else "")
    return ItemScore(key, counts, conflicts)


def summarize(scores: list[ItemScore]) -> Counts:
    total = Counts()
    for s in scores:
        total.add(s.counts)
    return total
