"""Many distinct photo-like JPEGs, cheap to make, that pass refine's gates (for scale tests and benchmarks).

Each image is a smooth random colour field (its own low-frequency layout, so perceptual hashes differ) with a
fine texture on top (sharp enough for the blur gate), camera EXIF with a capture time inside the project period.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
from PIL import Image


def photo(seed: int, size: tuple[int, int] = (640, 480), when: dt.datetime | None = None) -> bytes:
    rng = np.random.default_rng(seed)
    w, h = size
    coarse = rng.integers(30, 225, size=(6, 8, 3), dtype=np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    texture = rng.normal(0, 18, size=(h, w, 1)).astype(np.float32)
    pixels = np.clip(field + texture, 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Samsung", "SM-S918N"
    when = when or dt.datetime(2026, 3, 14, 9, 0) + dt.timedelta(seconds=37 * seed)
    stamp = when.strftime("%Y:%m:%d %H:%M:%S")
    exif[0x0132] = stamp
    exif.get_ifd(0x8769)[0x9003] = stamp
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=88, exif=exif)
    return buf.getvalue()


def write_drop_zone(root: Path, count: int, classes: list[str], size: tuple[int, int] = (640, 480),
                    seed: int = 0) -> list[str]:
    """``count`` photos spread over ``classes`` as ``<root>/<class>/gen_<n>.jpg``; returns the keys."""
    keys = []
    for n in range(count):
        cls = classes[n % len(classes)]
        key = f"{cls}/gen_{seed + n:06d}.jpg"
        path = Path(root) / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(photo(seed + n, size))
        keys.append(key)
    return keys
