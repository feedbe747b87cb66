"""Calibrate refine.quality.blur_min_sharpness on labelled photos; prints the accuracy of each candidate and the best.

Labelled data: real photos (../shared/corpus: cleanvision's test photos, whose MANIFEST marks image_601 blurry;
camera, GPS, face and plate photos; the low-contrast photo, which is NOT blurry) plus scikit-image's sample photos
(its ``clock`` is documented as motion-blurred), and for every sharp photo generated blurred copies: a Gaussian
blur of sigma 2, 3 and 5 px at 512 px (scaled to the photo's size, so "blurred" means the same
on a 12 MP and a 0.3 MP photo).  Last line: one JSON object.

    python benchmarks/calibrate_blur.py [--corpus ../shared/corpus]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

from trainset.refine.measure import measure_bytes  # noqa: E402

BLUR_SIGMAS = (2.0, 3.0, 5.0)  # in pixels of the photo shown at 512 px (scaled to each photo's size)
REFERENCE_SIDE = 512
NOT_PHOTOS = {"image_417.png", "image_588.png", "image_591.png", "image_604.png", "940x2.png"}  # dark/placeholder


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=92)
    return buf.getvalue()


def labelled(corpus: Path | None) -> list[tuple[str, bytes, bool, bool]]:
    """(name, bytes, is_blurry, generated)."""
    out = []
    sharp: list[tuple[str, Image.Image]] = []
    warnings.filterwarnings("ignore")
    import skimage.data as data

    for name in ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "immunohistochemistry"):
        sharp.append((f"skimage/{name}", Image.fromarray(getattr(data, name)())))
    out.append(("skimage/clock (motion blurred)", _jpeg(Image.fromarray(data.clock())), True, False))
    if corpus is not None:
        dirs = ["quality/cleanvision", "quality/low_contrast", "exif/camera", "exif/gps", "faces/face", "faces/plates/eu"]
        for d in dirs:
            for p in sorted((corpus / d).glob("*")):
                if p.suffix.lower() not in (".jpg", ".jpeg", ".png") or p.name in NOT_PHOTOS:
                    continue
                try:
                    im = Image.open(p)
                    im.load()
                except Exception:  # noqa: BLE001 - odd corpus files are not calibration data
                    continue
                if min(im.size) < 128:
                    continue
                if p.name == "image_601.png":
                    out.append((f"{d}/{p.name}", p.read_bytes(), True, False))
                else:
                    sharp.append((f"{d}/{p.name}", im))
    for name, im in sharp:
        im = im.convert("RGB")
        out.append((name, _jpeg(im), False, False))
        scale = max(im.size) / REFERENCE_SIDE
        for sigma in BLUR_SIGMAS:
            out.append((f"{name} blur{sigma:g}", _jpeg(im.filter(ImageFilter.GaussianBlur(sigma * scale))), True, True))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    args = parser.parse_args()
    corpus = args.corpus if (args.corpus / "README.md").exists() else None
    rows = []
    for name, data, blurry, generated in labelled(corpus):
        m = measure_bytes(data, required_fields=[])
        if m.sharpness is not None:
            rows.append((name, m.sharpness, blurry, generated))
    scores = np.array([r[1] for r in rows])
    labels = np.array([r[2] for r in rows])
    candidates = sorted(set(np.round(np.concatenate([scores, scores + 1e-3]), 3)))
    best = max(candidates, key=lambda t: (((scores < t) == labels).mean(), -abs(t - 60)))
    acc = float(((scores < best) == labels).mean())
    # A round threshold near the best, as a project default should be.
    round_t = float(min((10, 15, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100, 120, 150, 200),
                        key=lambda t: (-(((scores < t) == labels).mean()), abs(t - best))))
    round_acc = float(((scores < round_t) == labels).mean())
    real = np.array([not r[3] for r in rows])
    for name, score, blurry, _ in sorted(rows, key=lambda r: r[1]):
        mark = "ok " if (score < round_t) == blurry else "ERR"
        print(f"{mark} {score:9.1f} {'blurry' if blurry else 'sharp '} {name}")
    summary = {
        "images": len(rows), "blurry": int(labels.sum()), "sharp": int((~labels).sum()),
        "real_images": int(real.sum()), "best_threshold": round(float(best), 2), "best_accuracy": round(acc, 4),
        "threshold": round_t, "accuracy": round(round_acc, 4),
        "accuracy_real_only": round(float(((scores[real] < round_t) == labels[real]).mean()), 4),
        "false_rejects": int(((scores < round_t) & ~labels).sum()),
        "missed_blurry": int(((scores >= round_t) & labels).sum()),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
