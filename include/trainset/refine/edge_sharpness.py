"""Edge sharpness: a shake/defocus measure relative to the image's own edges, directional and local.

The Laplacian variance grows with contrast and texture, so one threshold cannot serve a foggy landscape and a
brick wall.  Here each edge is judged against itself: along a direction, at an edge pixel (a local maximum of the
derivative along the line), the ratio of the step across two neighbours to the range within 3 pixels either side,

    r = |I(p+d) - I(p-d)| / 2  /  (max - min of I over p-3d .. p+3d),

is 0.5 for a one-pixel step whatever its contrast, and about 0.5 / w for an edge smeared over w pixels.

- directional: r is collected for four directions (0°, 90°, 45°, 135°); motion blur smears edges along one of them
  only, so a region scores the minimum over directions that have enough edges (the blurred direction), not an
  average that the sharp directions would hold up;
- local: the image is cut into tiles; each tile with edges in at least two directions gets its score, and the
  image scores a high quantile of its tiles (the subject in focus carries the score, a soft bokeh background
  does not drag it down).

Computed on a larger grayscale than the other pixel scores (``SHAKE_SIDE``): a few pixels of real shake at
1280-2048 px vanish at 384 px.  Calibrated on real blur: ``benchmarks/calibrate_blur.py``.
"""

from __future__ import annotations

import cv2
import numpy as np

SHAKE_SIDE = 768
TILES = 4  # tiles per side
REACH = 3  # pixels either side over which the edge's range is taken
MIN_RANGE = 24  # grey levels: weaker steps are noise or shading, not edges
MIN_EDGE_PIXELS = 15  # per tile and direction
EDGE_QUANTILE = 50  # of r within a tile and direction
TILE_QUANTILE = 75  # of the tile scores

_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _line_kernel(dy: int, dx: int) -> np.ndarray:
    k = np.zeros((2 * REACH + 1, 2 * REACH + 1), np.uint8)
    for t in range(-REACH, REACH + 1):
        k[REACH + t * dy, REACH + t * dx] = 1
    return k


def _step_kernel(dy: int, dx: int) -> np.ndarray:
    k = np.zeros((3, 3), np.float32)
    k[1 + dy, 1 + dx], k[1 - dy, 1 - dx] = 0.5, -0.5
    return k


_KERNELS = [(_line_kernel(dy, dx), _step_kernel(dy, dx)) for dy, dx in _DIRECTIONS]
_BINS = 100  # ratio histogram bins over 0..0.5 (medians per tile from counts, not 64 sorts)


def edge_ratios(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ratio, direction index, flat pixel index) of every edge pixel, all directions."""
    g = gray.astype(np.float32)
    h, w = gray.shape
    inner = np.zeros((h, w), bool)
    inner[REACH + 1: h - REACH - 1, REACH + 1: w - REACH - 1] = True
    ratios, dirs, where = [], [], []
    for d, (line, step_k) in enumerate(_KERNELS):
        step = np.abs(cv2.filter2D(g, -1, step_k, borderType=cv2.BORDER_REPLICATE))
        rng = cv2.subtract(cv2.dilate(gray, line), cv2.erode(gray, line))
        mask = (rng >= MIN_RANGE) & inner
        mask &= step >= cv2.dilate(step, line)
        idx = np.flatnonzero(mask)
        r = step.ravel()[idx] / rng.ravel()[idx]
        keep = r > 0.1
        idx, r = idx[keep], r[keep]
        ratios.append(r)
        dirs.append(np.full(idx.size, d, np.int64))
        where.append(idx)
    return np.concatenate(ratios), np.concatenate(dirs), np.concatenate(where)


def edge_sharpness(gray: np.ndarray) -> float | None:
    """0..0.5 (0.5: one-pixel edges); None when the image has too few edges to judge (flat, tiny)."""
    h, w = gray.shape
    if min(h, w) < 4 * (REACH + 2):
        return None
    ratio, direction, where = edge_ratios(gray)
    if ratio.size == 0:
        return None
    tile = (where // w * TILES // h) * TILES + (where % w * TILES // w)
    bins = np.minimum((ratio * (2 * _BINS)).astype(np.int64), _BINS - 1)
    n_groups = TILES * TILES * len(_DIRECTIONS)
    counts = np.bincount((tile * len(_DIRECTIONS) + direction) * _BINS + bins,
                         minlength=n_groups * _BINS).reshape(TILES * TILES, len(_DIRECTIONS), _BINS)
    totals = counts.sum(axis=2)
    cum = np.cumsum(counts, axis=2)
    q = (np.argmax(cum >= np.ceil(totals[..., None] * EDGE_QUANTILE / 100.0), axis=2) + 0.5) / (2 * _BINS)
    enough = totals >= MIN_EDGE_PIXELS
    judged = enough.sum(axis=1) >= 2
    if not judged.any():
        return None
    tile_scores = np.where(enough, q, np.inf).min(axis=1)[judged]
    return round(float(np.percentile(tile_scores, TILE_QUANTILE)), 5)
