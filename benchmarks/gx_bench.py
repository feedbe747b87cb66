"""Cost of judging a measurement table with Great Expectations (trainset.expectations.validate_dataframe):
the one-time import, then seconds per validation by table size, without and with Data Docs, for the project's
``refine_measurements`` suite on generated measurement rows (about 10% failing).

    .venv/bin/python benchmarks/gx_bench.py [--sizes 200 1000 5000] [--repeat 3]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from trainset.config import load_config

SUITE = "refine_measurements"


def measurement_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """The columns refine's measurement table gives the suite, with plausible values; ~10% of rows break a rule."""
    rng = np.random.default_rng(seed)
    bad = rng.random(rows) < 0.1
    period_start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()
    width = np.where(bad & (rng.random(rows) < 0.3), 120, rng.integers(640, 4000, rows))
    height = rng.integers(480, 3000, rows)
    return pd.DataFrame({
        "image_id": np.arange(1, rows + 1),
        "decode_error": [None] * rows,
        "format": rng.choice(["jpeg", "png"], rows),
        "width": width, "height": height, "pixels": width * height,
        "capture_time_raw": ["2026:03:01 10:00:00"] * rows,
        "capture_time_valid": [True] * rows,
        "capture_epoch": period_start + rng.uniform(0, 86400 * 30, rows),
        "exif_make_missing": [False] * rows, "exif_model_missing": [False] * rows,
        "exif_other_missing": [False] * rows,
        "sharpness": np.where(bad, rng.uniform(0, 20, rows), rng.uniform(100, 2000, rows)),
        "brightness": rng.uniform(0.3, 0.7, rows),
        "entropy": rng.uniform(5, 7.5, rows),
        "near_duplicate_of": [None] * rows,
    })


def parameters() -> dict:
    from trainset.refine.judge import suite_parameters

    return suite_parameters(load_config())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    import great_expectations  # noqa: F401

    import_s = time.perf_counter() - started
    from trainset.expectations import validate_dataframe

    params = parameters()
    result: dict[str, object] = {"suite": SUITE, "import_s": round(import_s, 2)}
    print(f"import great_expectations: {import_s:.2f} s")
    validate_dataframe(measurement_table(10), SUITE, id_column="image_id", parameters=params)  # warm-up
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.sizes:
            df = measurement_table(rows)
            plain, docs = [], []
            for i in range(args.repeat):
                t = time.perf_counter()
                outcome = validate_dataframe(df, SUITE, id_column="image_id", parameters=params)
                plain.append(time.perf_counter() - t)
                t = time.perf_counter()
                validate_dataframe(df, SUITE, id_column="image_id", parameters=params,
                                   docs_dir=Path(tmp) / "docs", run_name=f"bench_{rows}_{i}")
                docs.append(time.perf_counter() - t)
            p, d = statistics.median(plain), statistics.median(docs)
            print(f"{rows:>6} rows: validate {p:.3f} s ({rows / p:,.0f} rows/s), with Data Docs {d:.3f} s; "
                  f"{outcome.failed_count} failing")
            result[f"validate_s_{rows}"] = round(p, 3)
            result[f"with_docs_s_{rows}"] = round(d, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
