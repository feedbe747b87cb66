"""Measuring the domain-outlier flag on labelled folders (``../shared/corpus/domain``-style: ``illustration/``,
``photo/``; used by ``benchmarks/curation_bench.py`` and the corpus tests).

Split: each file goes to ``calibration`` or ``held_out`` by a hash of its name (stable across machines and runs).
Mixes: every illustration source (file-name prefix before ``_``) of at least 5 files in a split is cut into folders
of up to 20 and gets a few photos of the same split added (one per 5 files, at most 3); the photos are cut into
folders of 10 and get illustrations added the same way.  Truth: the added images.  Several seeds of the mixing
give more trials from a small corpus.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainset.curation.domain import DEFAULT_THRESHOLD, DomainModel, judge_group
from trainset.curation.features import features_file


@dataclass
class Labelled:
    name: str
    domain: str  # photo | illustration
    vector: list[float]

    @property
    def source(self) -> str:
        return self.name.split("_")[0]


def split_of(name: str) -> str:
    return "held_out" if int(hashlib.sha256(name.encode()).hexdigest(), 16) % 2 else "calibration"


def load_labelled(root: Path) -> list[Labelled]:
    out = []
    for domain in ("illustration", "photo"):
        for path in sorted((root / domain).iterdir()):
            if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
                continue
            r = features_file(path)
            if r.vector is None:
                raise ValueError(f"{path}: {r.error}")
            out.append(Labelled(path.name, domain, r.vector))
    return out


def mixes(items: list[Labelled], seed: int) -> list[tuple[list[Labelled], list[bool]]]:
    """(folder, is_added) pairs built from ``items`` (one split)."""
    rng = random.Random(seed)
    ill = [i for i in items if i.domain == "illustration"]
    photos = [i for i in items if i.domain == "photo"]
    out = []
    by_source: dict[str, list[Labelled]] = {}
    for i in ill:
        by_source.setdefault(i.source, []).append(i)
    for members in by_source.values():
        for k in range(0, len(members), 20):
            part = members[k:k + 20]
            if len(part) < 5:
                continue
            added = rng.sample(photos, max(1, min(3, len(part) // 5)))
            out.append((part + added, [False] * len(part) + [True] * len(added)))
    shuffled = photos[:]
    rng.shuffle(shuffled)
    for k in range(0, len(shuffled), 10):
        part = shuffled[k:k + 10]
        if len(part) < 5:
            continue
        added = rng.sample(ill, max(1, min(3, len(part) // 5)))
        out.append((part + added, [False] * len(part) + [True] * len(added)))
    return out


def precision_recall(items: list[Labelled], *, threshold: float = DEFAULT_THRESHOLD,
                     model: DomainModel | None = None, seeds: int = 5) -> dict:
    tp = fp = fn = folders = 0
    for seed in range(seeds):
        for folder, truth in mixes(items, seed):
            folders += 1
            verdicts = judge_group(np.array([i.vector for i in folder]), threshold=threshold, model=model)
            for v, t in zip(verdicts, truth, strict=True):
                tp += v.outlier and t
                fp += v.outlier and not t
                fn += t and not v.outlier
    return {"precision": round(tp / max(1, tp + fp), 3), "recall": round(tp / max(1, tp + fn), 3),
            "tp": tp, "fp": fp, "fn": fn, "folders": folders, "threshold": threshold}
