"""train-handoff throughput: split (grouping + stratification + leak check) in items/s on synthetic items, and a
release build (exports, balance, data card, manifest) in images/s against a scratch records DB.

    python benchmarks/train_bench.py --items 20000 --release-items 300

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

from trainset.train.items import DatasetItem
from trainset.train.split import group_items, leak_check, split_items

RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def synthetic(n: int, seed: int = 1) -> list[DatasetItem]:
    rng = random.Random(seed)
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    items = []
    base_hashes = [rng.getrandbits(64) for _ in range(max(1, n // 3))]
    for k in range(n):
        h = rng.choice(base_hashes) ^ (1 << rng.randrange(64)) if rng.random() < 0.3 else rng.getrandbits(64)
        items.append(DatasetItem(
            item_key=f"i{k:07d}", image_id=k, file_name=f"i{k:07d}.jpg", class_name=f"c{rng.randrange(12)}",
            location="file:///dev/null", width=1920, height=1080, sha256=f"{k:064x}",
            capture_time=t0 + dt.timedelta(minutes=rng.randrange(60 * 24 * 60)),
            camera=f"cam{rng.randrange(20)}", phash=f"{h:016x}"))
    return items


def bench_split(n: int) -> dict:
    items = synthetic(n)
    t = time.perf_counter()
    groups = group_items(items, session_gap_minutes=5, near_duplicate_radius=6)
    t_group = time.perf_counter() - t
    t = time.perf_counter()
    plan = split_items(items, RATIOS, 7, groups)
    t_split = time.perf_counter() - t
    t = time.perf_counter()
    leak = leak_check(items, plan, near_duplicate_radius=6)
    t_leak = time.perf_counter() - t
    total = t_group + t_split + t_leak
    return {"items": n, "groups": leak["groups"], "multi_item_groups": leak["multi_item_groups"],
            "leak_check_passed": leak["passed"], "group_s": round(t_group, 3), "split_s": round(t_split, 3),
            "leak_check_s": round(t_leak, 3), "items_per_s": round(n / total, 1)}


def bench_release(n: int) -> dict:
    from trainset import db
    from trainset.config import get_config
    from trainset.storage import LocalStorage
    from trainset.train.release import plan_release, publish_release, uri_reader
    from trainset_dev import devstack
    from trainset_dev.seeds.train import seed_inspected_items

    pgdata = Path(os.environ.get("TRAINSET_PGDATA", ".local/pgdata"))
    admin = devstack.admin_dsn(pgdata)
    name = f"trainset_bench_{uuid.uuid4().hex[:8]}"
    db.ensure_database(admin, name)
    conn = db.connect(admin.replace("/postgres?", f"/{name}?"))
    try:
        db.upgrade(conn)
        with tempfile.TemporaryDirectory() as tmp:
            per_class = {c: n // 5 for c in ("person", "animal", "vehicle", "food", "object")}
            seed_inspected_items(conn, Path(tmp) / "warehouse", per_class, session_size=3)
            config = get_config()
            t = time.perf_counter()
            plan = plan_release(conn, config, name="bench", run_id="bench")
            t_plan = time.perf_counter() - t
            t = time.perf_counter()
            summary = publish_release(conn, config, name="bench", run_id="bench",
                                      storage=LocalStorage(Path(tmp) / "training"), read=uri_reader())
            t_publish = time.perf_counter() - t
    finally:
        conn.close()
        db.drop_database(admin, name)
    return {"release_items": plan["items"], "plan_s": round(t_plan, 3), "publish_s": round(t_publish, 3),
            "images_per_s": round(plan["items"] / t_publish, 1), "objects": summary["counts"]["objects"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--release-items", type=int, default=300)
    args = parser.parse_args()
    result = {"split": bench_split(args.items)}
    if args.release_items:
        result["release"] = bench_release(args.release_items)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
