"""Box geometry shared by the detectors: the reduced copy detection runs on, mapping boxes back to full
resolution (rounding outwards, so a box never shrinks), overlap, and input normalisation."""

from __future__ import annotations

import math

import cv2
import numpy as np

from trainset.refine.deid.masking import Detection

# Below this many pixels on a side a reduced image has nothing a detector could find.
MIN_DETECT_SIDE = 16


def reduce_for_detection(rgb: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """``rgb`` shrunk so its long side is at most ``long_side`` (never enlarged), and the scale applied."""
    height, width = rgb.shape[:2]
    scale = min(1.0, long_side / max(height, width))
    if scale >= 1.0:
        return rgb, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Area-averaging at a non-integer ratio is OpenCV's slow path (3 ms from 1 MP, 11 ms from 12 MP to 640 px on
    # one core).  Down to half size a bilinear reduction reads every source pixel's neighbourhood anyway (0.5 ms;
    # same per-set recall in benchmarks/deid_recall.py); below it, sampling to twice the target first (nearest)
    # takes the 2:1 area fast path, 2 ms in all, each pixel the mean of 4 samples spread over its footprint.
    if scale >= 0.5:
        return cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR), scale
    rgb = cv2.resize(rgb, (size[0] * 2, size[1] * 2), interpolation=cv2.INTER_NEAREST)
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def map_box_to_full(
    x: float, y: float, w: float, h: float, scale_x: float, scale_y: float, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """A box found on a reduced image, in full-resolution pixels: rounded outwards, clipped to the image;
    ``None`` when nothing of it lies inside the image."""
    x0 = max(0, math.floor(x / scale_x))
    y0 = max(0, math.floor(y / scale_y))
    x1 = min(width, math.ceil((x + w) / scale_x))
    y1 = min(height, math.ceil((y + h) / scale_y))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def as_rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")


def overlap_share(a: Detection, b: Detection) -> float:
    """Intersection over the smaller box's area."""
    ix = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    iy = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    smaller = min(a.area, b.area)
    return max(0, ix) * max(0, iy) / smaller if smaller else 0.0
