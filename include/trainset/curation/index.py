"""Nearest-neighbour search over image features: an HNSW graph (usearch, Apache-2.0, from PyPI), not a full scan.

Keys are the caller's integer ids (image ids in the records DB, positions in a file list in the CLI).  Distances
are Euclidean (the index stores squared L2; ``search`` returns the root) over whatever vectors the caller
standardised; the index is rebuilt from the stored features when needed, so it is never the source of truth.
"""

from __future__ import annotations

import numpy as np
from usearch.index import Index


class FeatureIndex:
    def __init__(self, ndim: int, *, connectivity: int = 16, expansion_search: int = 64):
        self.ndim = ndim
        self._index = Index(ndim=ndim, metric="l2sq", connectivity=connectivity,
                            expansion_search=expansion_search)

    def __len__(self) -> int:
        return len(self._index)

    def add(self, keys, vectors) -> None:
        vectors = np.ascontiguousarray(np.asarray(vectors, np.float32).reshape(-1, self.ndim))
        keys = np.asarray(keys, np.uint64).reshape(-1)
        if len(keys):
            self._index.add(keys, vectors)

    def search(self, vector, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(keys, distances) of the ``k`` nearest stored vectors, nearest first."""
        if len(self) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        m = self._index.search(np.asarray(vector, np.float32).reshape(self.ndim), min(k, len(self)))
        return np.asarray(m.keys, np.int64), np.sqrt(np.maximum(np.asarray(m.distances, np.float64), 0.0))

    def nearest_distance(self, vectors) -> np.ndarray:
        """Distance from each row to its nearest stored vector (inf when the index is empty)."""
        vectors = np.asarray(vectors, np.float32).reshape(-1, self.ndim)
        if len(self) == 0:
            return np.full(len(vectors), np.inf)
        m = self._index.search(np.ascontiguousarray(vectors), 1)
        d = np.asarray(m.distances, np.float64).reshape(len(vectors), -1)[:, 0]
        return np.sqrt(np.maximum(d, 0.0))
