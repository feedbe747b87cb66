"""What to label next, within a class: diversity (k-center greedy) and rarity (far from what is labelled).

Given the unlabelled candidates' features and the features of the images already labelled, the order is built
greedily: each next pick is the candidate farthest from everything labelled or already picked (k-center greedy;
so near-identical shots never go first together, and shots unlike anything labelled — rare ones — go early).
Distances are Euclidean over features standardised by the candidates' own spread; the nearest labelled image is
found through the usearch index, not a scan.  Ties break by image id: the same inputs give the same order.
``distribute`` (annotate) takes the ranks as its within-class order; the class order stays the schedule deficit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainset.curation.index import FeatureIndex


@dataclass(frozen=True)
class Pick:
    image_id: int
    rank: int  # 0 = first
    distance: float  # to the nearest labelled or earlier-picked image when chosen (inf: nothing labelled yet)
    reason: str


def standardise(vectors: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    ref = vectors if reference is None or len(reference) == 0 else reference
    mean, scale = ref.mean(axis=0), ref.std(axis=0)
    return (vectors - mean) / np.where(scale > 1e-9, scale, 1.0)


def k_center_order(candidates: dict[int, list[float]], labelled: list[list[float]] | None = None,
                   limit: int | None = None) -> list[Pick]:
    """Candidates (image id → feature vector) in labelling order, each with why it was picked."""
    ids = sorted(candidates)
    if not ids:
        return []
    x = np.array([candidates[i] for i in ids], np.float64)
    lab = np.array(labelled, np.float64) if labelled else np.zeros((0, x.shape[1]))
    z = standardise(x, x)
    zl = standardise(lab, x) if len(lab) else lab
    if len(zl):
        index = FeatureIndex(z.shape[1])
        index.add(np.arange(len(zl)), zl)
        nearest = index.nearest_distance(z)
    else:
        nearest = np.full(len(ids), np.inf)
    picks: list[Pick] = []
    chosen = np.zeros(len(ids), bool)
    n = len(ids) if limit is None else min(limit, len(ids))
    for rank in range(n):
        if rank == 0 and not len(zl):
            j = int(np.argmin(((z - z.mean(axis=0)) ** 2).sum(axis=1)))
            reason = "first of its class: nothing labelled yet (the most typical image)"
        else:
            j = int(np.argmax(np.where(chosen, -1.0, nearest)))  # first maximum: lowest image id among ties
            what = "rarest: farthest from every labelled image" if rank == 0 else \
                "diversity: farthest from the labelled images and earlier picks"
            reason = f"{what} (distance {float(nearest[j]):.2f})"
        dist = float(nearest[j])
        picks.append(Pick(ids[j], rank, dist, reason))
        chosen[j] = True
        nearest = np.minimum(nearest, np.sqrt(((z - z[j]) ** 2).sum(axis=1)))
    return picks


def coverage(pool: np.ndarray, selected: np.ndarray, *, worst: bool = False) -> float:
    """Mean (``worst``: largest) distance from each pool image to its nearest selected one (lower: the selection
    covers the pool better; the largest is what k-center greedy minimises)."""
    if len(selected) == 0:
        return float("inf")
    d = np.sqrt(((pool[:, None, :] - pool[selected][None, :, :]) ** 2).sum(-1)).min(axis=1)
    return float(d.max() if worst else d.mean())
