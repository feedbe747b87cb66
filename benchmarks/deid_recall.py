"""De-identification recall and detector cost on the shared corpus, the configured settings ("after") against the
previous defaults ("before"), both measured in this one run on this machine.

Sets (``trainset_dev.deid_eval.load_corpus_sets``): ``faces`` (../shared/corpus/faces/face), ``plates/eu``
(faces/plates/eu), ``plates/us`` and ``plates/br`` (openalpr's benchmark photos), and ``faces/small``: sheets
of the corpus's face photos reduced until their faces are 10, 12, 14, 16 and 20 px wide
(``trainset_dev.deid_small_faces``; the corpus has no photo with faces that small), and
``faces/small@1024``: the same faces on sheets 1024 px wide.  Every photo is run through
both configurations one after the other, so load from other processes falls on both alike; the detector cost
is CPU time of this thread (both models compute on it with ``threads=1``), per corpus photo, and per generated
1 MP (1155x866) and 12 MP (4000x3000) photo (scikit-image's astronaut portrait enlarged into a frame).

Prints the photos where the configured settings miss something or find something unlisted, a table, and a last
line that is one JSON object.  Definitions ("masked", "covered", "false") are in ``trainset_dev.deid_eval``.

    python benchmarks/deid_recall.py [--corpus DIR] [--set plates/us ...] [--before '{"key": value}']
                                     [--after '{"key": value}'] [--repeats N] [--quiet]
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
from trainset.config import get_config
from trainset.refine.deid import Detection, Detectors, mask_in_place
from trainset_dev.deid_eval import PREVIOUS_DEFAULTS, case_rgb, load_corpus_sets, score_case
from trainset_dev.deid_small_faces import small_face_sheets

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = Path(os.environ.get("TRAINSET_CORPUS", ROOT.parent / "shared" / "corpus"))

BEFORE = PREVIOUS_DEFAULTS


def mask_cost_ms(noise: float, repeats: int = 20) -> dict[str, float]:
    """Median CPU milliseconds to mask one face-sized box (600x750 px, grown by 25%) on a 12 MP photo, per mode."""
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, size=(3000, 4000, 3), dtype=np.uint8)
    box = [Detection("face", 1700, 1100, 600, 750, 0.9, "bench")]
    costs = {}
    for mode in ("blur", "mosaic", "fill"):
        cpu = []
        for _ in range(repeats):
            target = photo.copy()
            started = time.thread_time()
            mask_in_place(target, box, mode=mode, margin=0.25, noise=noise)
            cpu.append(time.thread_time() - started)
        costs[mode] = round(1000 * statistics.median(cpu), 2)
    return costs


def generated_photo(size: tuple[int, int]) -> np.ndarray:
    path = Path(importlib.util.find_spec("skimage").origin).parent / "data" / "astronaut.png"
    portrait = np.asarray(Image.open(path).convert("RGB"))
    width, height = size
    photo = np.full((height, width, 3), 90, dtype=np.uint8)
    side = height
    x0 = (width - side) // 2
    photo[:, x0 : x0 + side] = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_CUBIC)
    return photo


def detector_cpu_ms(detectors: Detectors, rgb: np.ndarray) -> float:
    before = sum(detectors.cpu_timings.values())
    detectors.detect(rgb)
    return 1000 * (sum(detectors.cpu_timings.values()) - before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the shared corpus root")
    parser.add_argument("--set", action="append", dest="sets", help="only these sets (repeatable)")
    parser.add_argument("--before", default="{}", help="JSON overrides on top of BEFORE")
    parser.add_argument("--after", default="{}", help="JSON overrides on top of the configured settings")
    parser.add_argument("--repeats", type=int, default=3, help="passes over each generated photo")
    parser.add_argument("--quiet", action="store_true", help="only the JSON line")
    args = parser.parse_args(argv)
    if not (args.corpus / "faces" / "MANIFEST.tsv").exists():
        print(f"corpus not found at {args.corpus}", file=sys.stderr)
        return 2

    configured = get_config().refine.anonymize.model_copy(update={"threads": 1})
    configs = {
        "before": configured.model_copy(update={**BEFORE, **json.loads(args.before)}),
        "after": configured.model_copy(update=json.loads(args.after)),
    }
    detectors = {}
    load_s = {}
    for name, settings in configs.items():
        started = time.perf_counter()
        detectors[name] = Detectors(settings)
        load_s[name] = round(time.perf_counter() - started, 2)
    sets = load_corpus_sets(args.corpus)
    sets["faces/small"] = small_face_sheets(args.corpus)
    sets["faces/small@1024"] = small_face_sheets(args.corpus, sheet_width=1024)
    if args.sets:
        sets = {name: cases for name, cases in sets.items() if name in args.sets}

    report: dict = {"sets": {}, "settings": {k: v.model_dump(mode="json") for k, v in configs.items()}}
    for set_name, cases in sets.items():
        totals = {name: {"listed": 0, "masked": 0, "false": 0, "cpu_ms": 0.0} for name in configs}
        for case in cases:
            rgb = case_rgb(case)
            for name, det in detectors.items():
                before = sum(det.cpu_timings.values())
                found = det.detect(rgb)
                totals[name]["cpu_ms"] += 1000 * (sum(det.cpu_timings.values()) - before)
                result = score_case(case, found, configs[name].margin, rgb.shape[1], rgb.shape[0])
                kind = "plate" if result.listed["plate"] else "face"
                totals[name]["listed"] += result.listed[kind]
                totals[name]["masked"] += result.masked[kind]
                totals[name]["false"] += result.false
                if name == "after" and not args.quiet and (result.masked[kind] < result.listed[kind] or result.false):
                    boxes = ", ".join(f"{d.kind} {d.score:.2f} ({d.x},{d.y},{d.w},{d.h})" for d in found)
                    print(f"[{set_name}] {case.path.name}: {kind} {result.masked[kind]}/{result.listed[kind]}, "
                          f"false {result.false}; found: {boxes or 'nothing'}")
        row = {}
        for name, t in totals.items():
            row[name] = {
                "masked": t["masked"], "listed": t["listed"],
                "recall": round(t["masked"] / max(t["listed"], 1), 4),
                "false_per_image": round(t["false"] / max(len(cases), 1), 3),
                "detector_cpu_ms_per_image": round(t["cpu_ms"] / max(len(cases), 1), 1),
            }
        row["images"] = len(cases)
        report["sets"][set_name] = row

    for label, size in (("1mp", (1155, 866)), ("12mp", (4000, 3000))):
        photo = generated_photo(size)
        for det in detectors.values():
            det.detect(photo)  # warm-up
        samples: dict[str, list[float]] = {name: [] for name in detectors}
        for _ in range(args.repeats):
            for name, det in detectors.items():  # interleaved: load falls on both alike
                samples[name].append(detector_cpu_ms(det, photo))
        cost = {name: round(min(values), 1) for name, values in samples.items()}
        cost["ratio"] = round(cost["after"] / cost["before"], 3)
        report[f"detector_cpu_ms_{label}"] = cost
    report["mask_cpu_ms_per_box_12mp"] = {name: mask_cost_ms(configs[name].mask_noise) for name in configs}
    report["model_load_s"] = load_s
    plate = detectors["after"].plate_model
    report["plate_model_licence"] = plate.licence if plate else None
    report["load_average"] = os.getloadavg()

    if not args.quiet:
        print(f"\n{'set':<15} {'before':>22} {'after':>22}   (masked/listed recall, false/image, detector CPU ms/image)")
        for set_name, row in report["sets"].items():
            cells = [f"{r['masked']}/{r['listed']} {r['recall']:.1%} {r['false_per_image']:.2f} "
                     f"{r['detector_cpu_ms_per_image']:.0f}ms" for r in (row["before"], row["after"])]
            print(f"{set_name:<17} {cells[0]:>22} {cells[1]:>22}")
        for label in ("1mp", "12mp"):
            c = report[f"detector_cpu_ms_{label}"]
            print(f"detectors per {label} photo: before {c['before']} ms, after {c['after']} ms "
                  f"(ratio {c['ratio']})")
        print(f"load average {report['load_average']}")
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
