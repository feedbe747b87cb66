"""First-inspection throughput: items/s for reading + JSON-Schema validation, flattening, and the GX suite.

Generates N project-format labels (two objects each, 1 in 4 with a defect) in memory and times each step of the
same code path the DAG and ``python -m trainset validate`` use.  The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from trainset.annotate.readers import read_label
from trainset.annotate.rules import (
    ImageFacts,
    RuleUnit,
    dataframe,
    flatten,
    judge,
    prune_attribute_rows,
    suite_parameters,
)
from trainset.config import get_config


def _label(n: int) -> bytes:
    w, h = 1920, 1080
    anns = [{"id": 1, "category": "person", "shape": "bbox", "bbox": [100, 100, 300, 500],
             "attributes": {"pose": "standing"}},
            {"id": 2, "category": "person", "shape": "polygon",
             "points": [[900, 100], [1200, 150], [1150, 600], [950, 550], [920, 300]], "attributes": {}}]
    if n % 4 == 1:
        anns[0]["bbox"] = [1800, 100, 300, 500]  # outside the image
    doc = {"info": {"version": "1.0"}, "image": {"file_name": f"TS_person_{n:06d}.jpg", "width": w, "height": h,
                                                 "class_name": "person"},
           "capture": {"date": "2026-03-14"}, "annotations": anns}
    return json.dumps(doc).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    args = parser.parse_args()
    config = get_config()
    day = dt.date(2026, 3, 16)
    files = [(f"TS_person_{n:06d}.json", _label(n)) for n in range(args.items)]

    t0 = time.perf_counter()
    parsed = [read_label(name, data, class_order=config.class_names)[0] for name, data in files]
    t_read = time.perf_counter() - t0
    units = [RuleUnit(str(n), p.item_key, p.item, ImageFacts(p.item_key, 1920, 1080)) for n, p in enumerate(parsed)]
    t0 = time.perf_counter()
    rows = flatten(units, day)
    prune_attribute_rows(rows, suite_parameters(config))
    dataframe(rows)
    t_flat = time.perf_counter() - t0
    judge(units[:10], config, day)  # GX import and first-run setup, not part of the steady state
    t0 = time.perf_counter()
    findings, outcome = judge(units, config, day)
    t_judge = time.perf_counter() - t0
    failed = len(findings)
    print(f"{args.items} items, {len(rows)} table rows, {failed} failing")
    print(f"read + JSON Schema: {args.items / t_read:,.0f} items/s")
    print(f"flatten: {args.items / t_flat:,.0f} items/s")
    print(f"GX suite (flatten included): {args.items / t_judge:,.0f} items/s ({t_judge:.2f} s)")
    print(json.dumps({"items": args.items, "rows": len(rows), "failed": failed,
                      "read_schema_items_per_s": round(args.items / t_read), "flatten_items_per_s":
                      round(args.items / t_flat), "gx_items_per_s": round(args.items / t_judge),
                      "gx_seconds": round(t_judge, 2)}))


if __name__ == "__main__":
    main()
