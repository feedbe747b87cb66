"""Consensus: the same item labeled by 2-3 labelers (replicas), merged where a quorum agrees.

Follows CVAT's consensus merge (``cvat/apps/consensus/intersect_merge.py``): boxes of every pair of replicas are
matched (IoU >= ``iou_threshold``, CVAT's 0.5); matches are joined into clusters that hold at most one box per
replica and whose boxes all overlap each other at the threshold.  A cluster's label is the most voted one; it is
merged when that label has at least ``quorum`` votes, and the merged box is the member nearest the cluster's mean
box.  Its score is (votes / replicas) x (mean IoU of the members with the merged box).  CVAT's default quorum was
floor(n/2); the project default is a strict majority, floor(n/2) + 1, so with two replicas both must agree.

Per pair of replicas, agreement is the accuracy of one against the other (symmetric): matched same-label boxes /
(boxes of a + boxes of b - matched).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from trainset.annotate.model import LabelItem, LabelObject
from trainset.quality.matching import Box, boxes_of, iou_matrix, match_boxes


def default_quorum(replicas: int) -> int:
    return replicas // 2 + 1


@dataclass
class Cluster:
    members: dict[str, Box]  # labeler -> box
    votes: dict[str, int]
    label: str | None  # None when no label reached the quorum
    box: Box | None
    score: float

    @property
    def agreed(self) -> bool:
        return self.label is not None


@dataclass
class ConsensusResult:
    item_key: str
    labelers: list[str]
    quorum: int
    clusters: list[Cluster]
    pair_agreement: dict[tuple[str, str], float]
    merged: LabelItem | None = None
    disputed: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def agreement(self) -> float | None:
        values = list(self.pair_agreement.values())
        return round(float(np.mean(values)), 6) if values else None


def pair_agreement(a: LabelItem | None, b: LabelItem | None, iou_threshold: float = 0.5) -> float:
    ba, bb = boxes_of(a), boxes_of(b)
    if not ba and not bb:
        return 1.0
    valid = len(match_boxes(ba, bb, iou_threshold).same_label)
    return round(valid / (len(ba) + len(bb) - valid), 6)


def merge_replicas(replicas: dict[str, LabelItem | None], *, iou_threshold: float = 0.5,
                   quorum: int | None = None) -> ConsensusResult:
    """Merge the replicas of one item (labeler -> label; None = uploaded nothing for it)."""
    labelers = sorted(replicas)
    n = len(labelers)
    quorum = default_quorum(n) if quorum is None else quorum
    boxes = {name: boxes_of(replicas[name]) for name in labelers}
    key = next((it.item_key for it in replicas.values() if it is not None), "")
    # node = (labeler, box index); edges from pairwise matches regardless of label, so a label disagreement
    # shows up as a split vote in one cluster rather than two lonely boxes.
    adjacent: dict[tuple[str, int], list[tuple[str, int]]] = {(name, i): [] for name in labelers
                                                              for i in range(len(boxes[name]))}
    ious: dict[frozenset, float] = {}
    for la, lb in combinations(labelers, 2):
        m = match_boxes(boxes[la], boxes[lb], iou_threshold)
        full = iou_matrix(boxes[la], boxes[lb])
        for i in range(full.shape[0]):
            for j in range(full.shape[1]):
                ious[frozenset({(la, i), (lb, j)})] = float(full[i, j])
        for i, j, _ in m.same_label + m.other_label:
            adjacent[(la, i)].append((lb, j))
            adjacent[(lb, j)].append((la, i))
    visited: set = set()
    clusters: list[Cluster] = []
    for start in adjacent:
        if start in visited:
            continue
        cluster = {start}
        visited.add(start)
        frontier = [start]
        while frontier:
            node = frontier.pop()
            for nxt in adjacent[node]:
                if nxt in visited or any(c[0] == nxt[0] for c in cluster):
                    continue
                if any(ious[frozenset({c, nxt})] < iou_threshold for c in cluster):
                    continue
                cluster.add(nxt)
                visited.add(nxt)
                frontier.append(nxt)
        clusters.append(_merge_cluster({name: boxes[name][i] for name, i in cluster}, n, quorum))
    pairs = {(a, b): pair_agreement(replicas[a], replicas[b], iou_threshold) for a, b in combinations(labelers, 2)}
    result = ConsensusResult(key, labelers, quorum, clusters, pairs)
    failed = [c for c in clusters if not c.agreed]
    if failed:
        result.disputed = True
        result.reasons.append(f"{len(failed)} object(s) without a quorum of {quorum}/{n}")
    if any(c.agreed and c.votes[c.label] < n for c in clusters):
        result.reasons.append("outvoted replica(s)")
    template = next((it for it in replicas.values() if it is not None), None)
    if template is not None:
        objects = [LabelObject(id=str(k + 1), category=c.label, bbox=[round(v, 2) for v in c.box.as_xywh()],
                               attributes=c.box.attributes)
                   for k, c in enumerate(sorted((c for c in clusters if c.agreed),
                                                key=lambda c: (c.box.y1, c.box.x1)))]
        result.merged = template.model_copy(update={"objects": objects, "source_uri": f"consensus:{key}",
                                                    "id_scope": f"consensus:{key}"})
    return result


def _merge_cluster(members: dict[str, Box], replicas: int, quorum: int) -> Cluster:
    votes: dict[str, int] = {}
    for b in members.values():
        votes[b.category] = votes.get(b.category, 0) + 1
    label, count = max(sorted(votes.items()), key=lambda kv: kv[1])
    ordered = [members[k] for k in sorted(members)]
    mean = np.mean([[b.x1, b.y1, b.x2, b.y2] for b in ordered], axis=0)
    mean_box = Box(-1, "mean", label, *map(float, mean))
    to_mean = iou_matrix([mean_box], ordered)[0]
    nearest = ordered[int(np.argmax(to_mean))]
    shape_score = float(np.mean(iou_matrix([nearest], ordered)[0]))
    if count < quorum:
        return Cluster(members, votes, None, None, 0.0)
    return Cluster(members, votes, label, nearest, round(count / replicas * shape_score, 6))
