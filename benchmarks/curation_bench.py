"""Curation figures: domain-outlier precision/recall on ../shared/corpus/domain (calibration and held-out
halves), and classical feature extraction speed at 1 MP (images/s on one core, beside refine's measurement).

    python benchmarks/curation_bench.py [--corpus ../shared/corpus] [--fit]

``--fit`` refits the domain model on the calibration half ONLY and writes include/trainset/curation/
domain_model.json; the threshold sweep is printed for both halves, the held-out figures are the honest ones.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

from trainset.curation.domain import MODEL_PATH, fit_domain_model  # noqa: E402
from trainset.curation.evaluate import load_labelled, precision_recall, split_of  # noqa: E402
from trainset.curation.features import features_bytes  # noqa: E402
from trainset.refine.measure import measure_bytes  # noqa: E402


def speed(photo_dir: Path, n: int = 200) -> dict:
    """Per-image seconds, one process, on 1 MP JPEGs made from the corpus photos (q 90)."""
    blobs = []
    for path in sorted(photo_dir.iterdir())[:20]:
        with Image.open(path) as im:
            im = im.convert("RGB")
            s = (1_000_000 / (im.width * im.height)) ** 0.5
            im = im.resize((round(im.width * s), round(im.height * s)))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=90)
            blobs.append(buf.getvalue())
    data = [blobs[i % len(blobs)] for i in range(n)]
    t = time.perf_counter()
    for b in data:
        features_bytes(b)
    feat = time.perf_counter() - t
    t = time.perf_counter()
    for b in data:
        measure_bytes(b, required_fields=[])
    meas = time.perf_counter() - t
    return {"features_images_per_s": round(n / feat, 1), "refine_measure_images_per_s": round(n / meas, 1),
            "features_over_measure_cost": round(feat / meas, 2), "images": n, "megapixels": 1.0}


def k_center_vs_random(items, budgets=(5, 10, 20), seeds: int = 50) -> dict:
    """Coverage (mean distance from every image to its nearest selected one, standardised classical features;
    lower is better) of the k-center order's first k picks versus k random picks, over the whole domain corpus."""
    from trainset.curation.select import coverage, k_center_order

    cands = {i: it.vector for i, it in enumerate(items)}
    pool = np.array([it.vector for it in items])
    pool = (pool - pool.mean(0)) / np.where(pool.std(0) > 1e-9, pool.std(0), 1.0)
    order = [p.image_id for p in k_center_order(cands)]
    rng = np.random.default_rng(0)
    out = {}
    for k in budgets:
        draws = [rng.choice(len(pool), k, replace=False) for _ in range(seeds)]
        row = {}
        for label, worst in (("mean", False), ("max", True)):
            kc = coverage(pool, np.array(order[:k]), worst=worst)
            rnd = float(np.mean([coverage(pool, d, worst=worst) for d in draws]))
            row[label] = {"k_center": round(kc, 3), "random": round(rnd, 3), "ratio": round(kc / rnd, 3)}
        # how many of the corpus's sources (file-name prefix: noto, fluent3d, photoprism, ...) the picks reach
        sources = {it.source for it in items}
        row["sources_reached"] = {"k_center": len({items[i].source for i in order[:k]}),
                                  "random": round(float(np.mean([len({items[i].source for i in d}) for d in draws])), 2),
                                  "of": len(sources)}
        out[str(k)] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--fit", action="store_true")
    args = ap.parse_args()
    root = args.corpus / "domain"
    items = load_labelled(root)
    calib = [i for i in items if split_of(i.name) == "calibration"]
    held = [i for i in items if split_of(i.name) == "held_out"]
    model = None
    if args.fit:
        model = fit_domain_model(np.array([i.vector for i in calib]), np.array([i.domain == "photo" for i in calib]))
        MODEL_PATH.write_text(json.dumps(model.to_json(
            fitted_on=f"{root.name}/ calibration half ({len(calib)} files: sha256(name) even)",
            fitted_by="benchmarks/curation_bench.py --fit", c=0.3), indent=1) + "\n")
        print(f"wrote {MODEL_PATH}")
    for t in (1.5, 2.0, 2.5, 3.0, 3.5):
        c, h = precision_recall(calib, threshold=t, model=model), precision_recall(held, threshold=t, model=model)
        print(f"threshold {t}: calibration P {c['precision']:.2f} R {c['recall']:.2f}   "
              f"held-out P {h['precision']:.2f} R {h['recall']:.2f} ({h['tp']}/{h['tp'] + h['fn']} found, "
              f"{h['fp']} false, {h['folders']} folders)")
    result = {"calibration": precision_recall(calib, model=model), "held_out": precision_recall(held, model=model),
              "files": {"calibration": len(calib), "held_out": len(held)}, "speed": speed(root / "photo"),
              "k_center_coverage_vs_random": k_center_vs_random(items)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
