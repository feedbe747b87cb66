"""De-identification recall on the shared corpus (../shared/corpus/faces), with the project's settings.

Prints the photos where something listed was missed or something unlisted was found, the masking cost per box on
a 12 MP photo, then the figures; the last line is one JSON object:

    faces_masked/faces_listed, plates_covered/plates_listed, false detections per image, ms per image per detector.

Definitions (what "masked", "covered" and "false" mean) are in ``trainset.anonymize_eval``.

    python benchmarks/deid_recall.py [--corpus DIR] [--detect-long-side N] [--face-min-score S]
                                     [--plate-min-score S] [--plate-input-long-side N]
                                     [--margin M] [--threads N] [--quiet]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from trainset.anonymize import Detection, Detectors, mask_in_place
from trainset.anonymize_eval import evaluate, load_faces_corpus
from trainset.config import get_config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = Path(os.environ.get("TRAINSET_CORPUS", ROOT.parent / "shared" / "corpus")) / "faces"


def mask_cost_ms(repeats: int = 20) -> dict[str, dict[str, float]]:
    """Median milliseconds (wall and CPU) to mask one face-sized box (600x750 px, grown by 15%) on a 12 MP
    (4000x3000) photo, per mode."""
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, size=(3000, 4000, 3), dtype=np.uint8)
    box = [Detection("face", 1700, 1100, 600, 750, 0.9, "bench")]
    costs: dict[str, dict[str, float]] = {"wall_ms": {}, "cpu_ms": {}}
    for mode in ("blur", "mosaic", "fill"):
        wall, cpu = [], []
        for _ in range(repeats):
            target = photo.copy()  # the frame copy is the caller's choice (mask vs mask_in_place): not timed
            wall_started, cpu_started = time.perf_counter(), time.thread_time()
            mask_in_place(target, box, mode=mode, margin=0.15)
            cpu.append(time.thread_time() - cpu_started)
            wall.append(time.perf_counter() - wall_started)
        costs["wall_ms"][mode] = round(1000 * statistics.median(wall), 2)
        costs["cpu_ms"][mode] = round(1000 * statistics.median(cpu), 2)
    return costs


def detect_cost_12mp(detectors: Detectors, repeats: int = 3) -> dict[str, dict[str, float]]:
    """Per-detector milliseconds (wall and CPU) for one 12 MP (4000x3000) photo at the configured sizes: the
    scikit-image astronaut portrait enlarged into a photo-sized frame, so the face detector has a real face."""
    path = Path(importlib.util.find_spec("skimage").origin).parent / "data" / "astronaut.png"
    portrait = np.asarray(Image.open(path).convert("RGB"))
    photo = np.full((3000, 4000, 3), 90, dtype=np.uint8)
    photo[:, 500:3500] = cv2.resize(portrait, (3000, 3000), interpolation=cv2.INTER_CUBIC)
    detectors.detect(photo)  # warm-up
    wall0, cpu0, images0 = dict(detectors.timings), dict(detectors.cpu_timings), detectors.images
    for _ in range(repeats):
        detectors.detect(photo)
    n = detectors.images - images0
    return {
        "wall_ms": {k: round(1000 * (v - wall0[k]) / n, 1) for k, v in detectors.timings.items()},
        "cpu_ms": {k: round(1000 * (v - cpu0[k]) / n, 1) for k, v in detectors.cpu_timings.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the corpus faces/ folder")
    parser.add_argument("--detect-long-side", type=int)
    parser.add_argument("--face-min-score", type=float)
    parser.add_argument("--plate-min-score", type=float)
    parser.add_argument("--plate-input-long-side", type=int)
    parser.add_argument("--margin", type=float)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--quiet", action="store_true", help="only the JSON line")
    args = parser.parse_args(argv)
    if not (args.corpus / "MANIFEST.tsv").exists():
        print(f"corpus not found at {args.corpus}", file=sys.stderr)
        return 2

    settings = get_config().refine.anonymize
    overrides = {
        key: value
        for key, value in {
            "detect_long_side": args.detect_long_side,
            "face_min_score": args.face_min_score,
            "plate_min_score": args.plate_min_score,
            "plate_input_long_side": args.plate_input_long_side,
            "margin": args.margin,
            "threads": args.threads,
        }.items()
        if value is not None
    }
    settings = settings.model_copy(update=overrides)
    cases = load_faces_corpus(args.corpus)
    started = time.perf_counter()
    detectors = Detectors(settings)
    load_s = time.perf_counter() - started
    summary, results = evaluate(cases, detectors)
    if not args.quiet:
        for result in results:
            missed = {k: result.listed[k] - result.masked[k] for k in result.listed if result.masked[k] < result.listed[k]}
            if missed or result.false:
                found = ", ".join(f"{d.kind} {d.score:.2f} ({d.x},{d.y},{d.w},{d.h})" for d in result.detections)
                print(f"{result.path.name}: missed {missed or '-'}, false {result.false}; found: {found or 'nothing'}")
    summary["mask_ms_per_box_12mp"] = mask_cost_ms()
    summary["detect_12mp"] = detect_cost_12mp(detectors)
    summary["model_load_s"] = round(load_s, 2)
    summary["settings"] = settings.model_dump(mode="json")
    summary["plate_model_licence"] = detectors.plate_model.licence if detectors.plate_model else None
    if not args.quiet:
        print(
            f"faces masked {summary['faces_masked']}/{summary['faces_listed']} ({summary['face_recall']:.1%}); "
            f"plates covered >= 80%: {summary['plates_covered']}/{summary['plates_listed']} "
            f"({summary['plate_coverage']:.1%}); false detections {summary['false_detections']} over "
            f"{summary['images']} images ({summary['false_per_image']:.2f}/image)"
        )
        print("ms per image (wall): " + ", ".join(f"{k} {v}" for k, v in summary["ms_per_image"].items()))
        print("ms per image (CPU): " + ", ".join(f"{k} {v}" for k, v in summary["cpu_ms_per_image"].items()))
        print("12 MP photo, ms per detector: wall " + json.dumps(summary["detect_12mp"]["wall_ms"])
              + ", CPU " + json.dumps(summary["detect_12mp"]["cpu_ms"]))
        print("mask ms per box on 12 MP: wall " + json.dumps(summary["mask_ms_per_box_12mp"]["wall_ms"])
              + ", CPU " + json.dumps(summary["mask_ms_per_box_12mp"]["cpu_ms"]))
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
