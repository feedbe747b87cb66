"""Domain outliers: a photo among illustrations, an illustration among photos, judged within a group of images.

Two parts:

1. A photo-vs-illustration estimate per image: a logistic model over the classical descriptor's style features
   (``domain_model.json``, fitted by ``benchmarks/curation_bench.py --fit`` on the calibration half of
   ``../shared/corpus/domain`` only; the other half is the held-out split the closing note reports).  Its logit is
   the image's position on the photo ↔ illustration axis; ``domain`` is its sign.
2. Within a group (a class folder, or the whole project), the group's own domain is the median logit's side.
   Each image's ``score`` is its isolation from that majority along the axis: the distance from the group's
   median towards the other domain in robust standard deviations (MAD, floored at 1 logit so a very uniform group
   does not turn small differences into outliers).  ``outlier`` is ``score > threshold`` (project file,
   ``curation.domain_outlier_threshold``).  ``cluster`` is a DBSCAN label over the standardised features
   (-1: in no dense cluster), so a reviewer sees which images go together.

Judging relative to the group matters: painted game art reads as fairly photographic to the global model, but
among its own kind the real photo is still the one far out on the axis.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from trainset.curation.features import CLASSICAL_NAMES, FEATURES_VERSION

MODEL_PATH = Path(__file__).with_name("domain_model.json")
# Style features the domain model reads (brightness and transparency are left out on purpose: a white or
# transparent background says nothing about how the subject was made).
DOMAIN_FEATURES = (
    "content_unique_ratio", "content_noise", "content_grey_entropy", "content_flat_share",
    "sat_mean", "sat_std", "val_std", "colourfulness", "hue_entropy", "unique_colour_ratio", "top8_colour_share",
    "edge_density", "orient_entropy", "axis_aligned_share", "grad_mean", "grad_std", "grad_tail", "noise_floor",
    "grey_entropy", "flat_exact_share", "flat_share",
)
_LOG_FEATURES = {"unique_colour_ratio", "noise_floor", "edge_density"}
MAD_FLOOR = 1.0
DEFAULT_THRESHOLD = 2.5


def domain_matrix(vectors: np.ndarray) -> np.ndarray:
    """The model's inputs from classical vectors (rows in ``CLASSICAL_NAMES`` order)."""
    idx = [CLASSICAL_NAMES.index(n) for n in DOMAIN_FEATURES]
    z = np.asarray(vectors, np.float64)[:, idx].copy()
    for j, name in enumerate(DOMAIN_FEATURES):
        if name in _LOG_FEATURES:
            z[:, j] = np.log(z[:, j] + 1e-3)
    return z


@dataclass(frozen=True)
class DomainModel:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logit(self, vectors: np.ndarray) -> np.ndarray:
        """> 0: photo-like, < 0: illustration-like."""
        return ((domain_matrix(vectors) - self.mean) / self.scale) @ self.coef + self.intercept

    def standardised(self, vectors: np.ndarray) -> np.ndarray:
        return (domain_matrix(vectors) - self.mean) / self.scale

    def to_json(self, **provenance) -> dict:
        return {"features": list(DOMAIN_FEATURES), "features_version": FEATURES_VERSION,
                "mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept, **provenance}


def fit_domain_model(vectors: np.ndarray, is_photo: np.ndarray, *, c: float = 0.3) -> DomainModel:
    """L2-regularised, class-balanced logistic regression (scikit-learn) on standardised style features."""
    from sklearn.linear_model import LogisticRegression

    z = domain_matrix(vectors)
    mean, scale = z.mean(axis=0), z.std(axis=0) + 1e-9
    lr = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit((z - mean) / scale,
                                                                            np.asarray(is_photo, int))
    return DomainModel(mean, scale, lr.coef_[0].astype(np.float64), float(lr.intercept_[0]))


@lru_cache(maxsize=1)
def load_domain_model(path: str = str(MODEL_PATH)) -> DomainModel:
    doc = json.loads(Path(path).read_text())
    if tuple(doc["features"]) != DOMAIN_FEATURES or doc.get("features_version") != FEATURES_VERSION:
        raise ValueError(f"{path} was fitted on other features; refit with benchmarks/curation_bench.py --fit")
    return DomainModel(np.array(doc["mean"]), np.array(doc["scale"]), np.array(doc["coef"]), float(doc["intercept"]))


@dataclass
class GroupVerdict:
    domain: str  # the image's own domain estimate: photo | illustration
    photo_probability: float
    score: float  # isolation from the group's majority domain (robust z along the domain axis; ≥ 0)
    outlier: bool
    cluster: int
    group_domain: str


def isolation_scores(logits: np.ndarray) -> tuple[np.ndarray, int]:
    """(score per image, side of the group: +1 photo, -1 illustration)."""
    med = float(np.median(logits))
    side = 1 if med >= 0 else -1
    mad = float(np.median(np.abs(logits - med))) * 1.4826
    return np.maximum(0.0, -side * (logits - med) / max(mad, MAD_FLOOR)), side


def clusters(standardised: np.ndarray) -> np.ndarray:
    """DBSCAN labels over standardised features (eps from the group's own neighbour distances)."""
    from sklearn.cluster import DBSCAN

    n = len(standardised)
    if n < 3:
        return np.zeros(n, int)
    k = min(4, n - 1)
    d = np.sqrt(((standardised[:, None, :] - standardised[None, :, :]) ** 2).sum(-1)) if n <= 2000 else None
    if d is None:  # large groups: the k-th neighbour distance from the ANN index
        from trainset.curation.index import FeatureIndex

        index = FeatureIndex(standardised.shape[1])
        index.add(np.arange(n), standardised)
        kth = np.array([index.search(v, k + 1)[1][-1] for v in standardised])
    else:
        kth = np.sort(d, axis=1)[:, k]
    eps = float(np.median(kth)) * 1.5 or 1e-6
    return DBSCAN(eps=eps, min_samples=k).fit(standardised).labels_


def judge_group(vectors: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD, model: DomainModel | None = None,
                min_group: int = 5) -> list[GroupVerdict]:
    """Verdicts for one group of classical vectors (rows)."""
    vectors = np.asarray(vectors, np.float64)
    if len(vectors) == 0:
        return []
    model = model or load_domain_model()
    logits = model.logit(vectors)
    scores, side = isolation_scores(logits)
    labels = clusters(model.standardised(vectors))
    group_domain = "photo" if side > 0 else "illustration"
    # A handful of images has no majority to differ from: scored, never flagged.
    judge = len(vectors) >= max(3, min_group)
    return [GroupVerdict("photo" if lg >= 0 else "illustration", 1.0 / (1.0 + math.exp(-float(lg))),
                         round(float(s), 4), bool(judge and s > threshold), int(c), group_domain)
            for lg, s, c in zip(logits, scores, labels, strict=True)]
