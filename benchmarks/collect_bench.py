"""Collect throughput: files/s for the per-file examination (read, sha256, sniff, header, 1/8-scale decode check)
compared with a bare full decode of the same files, on generated JPEG photos of 1 MP and 12 MP.

    .venv/bin/python benchmarks/collect_bench.py [--count 40] [--workers 1]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from trainset.collect import examine
from trainset.config import load_config
from trainset.storage import LocalStorage


def make_photo(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    # Smooth gradients plus texture: compresses like a photo, unlike pure noise.
    y, x = np.mgrid[0:height, 0:width]
    base = (np.sin(x / (37 + seed)) + np.cos(y / 53)) * 60 + 128
    pixels = np.clip(base[..., None] + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def run(size: tuple[int, int], count: int, workers: int) -> dict:
    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStorage(Path(tmp))
        for i in range(count):
            store.write_bytes(f"person/{i:04d}.jpg", make_photo(*size, seed=i))
        entries = list(store.list())

        def bare(entry):
            with Image.open(store.local_path(entry.key)) as im:
                im.load()

        def timed(fn) -> float:
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(fn, entries))
            return time.perf_counter() - started

        timed(bare)  # warm the page cache
        decode_s = timed(bare)
        examine_s = timed(lambda e: examine(store, e, config))
    return {
        "megapixels": round(size[0] * size[1] / 1e6, 1), "files": count, "workers": workers,
        "bare_decode_files_per_s": round(count / decode_s, 1),
        "examine_files_per_s": round(count / examine_s, 1),
        "examine_vs_decode": round(decode_s / examine_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    results = [run((1152, 864), args.count, args.workers), run((4000, 3000), max(4, args.count // 4), args.workers)]
    for r in results:
        print(f"{r['megapixels']:>5} MP: examine {r['examine_files_per_s']} files/s, bare decode "
              f"{r['bare_decode_files_per_s']} files/s, ratio {r['examine_vs_decode']}x ({r['workers']} worker)")
    print(json.dumps({f"{r['megapixels']}MP": r for r in results}))


if __name__ == "__main__":
    main()
