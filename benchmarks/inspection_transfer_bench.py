"""Inspection transfer throughput against a real S3 protocol server (moto server mode on loopback) and PostgreSQL:
items/s and MiB/s of a first send (upload + HEAD verification + records + manifest), of a re-run (HEAD check
only, nothing sent), and of one large file sent as multipart (composite SHA-256 verified).

    .venv/bin/python benchmarks/inspection_transfer_bench.py [--count 100] [--large-mb 48]

Uses a throwaway records DB on the dev PostgreSQL (.local/pgdata, started if needed). The last line is one JSON
object. moto keeps objects in memory in-process, so these numbers measure our code and the protocol round trips,
not a network or a disk.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from trainset import db
from trainset.config import load_config
from trainset.inspection.server import InspectionServer
from trainset.inspection.transfer import transfer_passed
from trainset_dev import devstack
from trainset_dev.peers.localpeers import LocalS3
from trainset_dev.seeds.inspection import seed_passed_items

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--large-mb", type=int, default=48)
    args = ap.parse_args()
    pgdata = Path(os.environ.get("TRAINSET_PGDATA") or ROOT / ".local" / "pgdata")
    devstack.start_postgres(pgdata)
    admin = devstack.admin_dsn(pgdata)
    name = f"trainset_bench_{uuid.uuid4().hex[:8]}"
    db.ensure_database(admin, name)
    s3 = LocalS3().start()
    try:
        conn = db.connect(admin.replace("/postgres?", f"/{name}?"))
        db.upgrade(conn)
        config = load_config()
        with tempfile.TemporaryDirectory() as tmp:
            specs = [(f"TS_person_20260314_{n:06d}", "person", "w1") for n in range(args.count)]
            items = seed_passed_items(conn, Path(tmp), specs, image_size=(1280, 960))
            total = sum(i.image_path.stat().st_size + i.label_path.stat().st_size for i in items)
            server = InspectionServer(f"s3://bench-{uuid.uuid4().hex[:8]}/incoming", s3.client(), config.inspection)
            t0 = time.perf_counter()
            first = transfer_passed(conn, config, server, batch_id="bench1")
            t1 = time.perf_counter()
            again = transfer_passed(conn, config, server, batch_id="bench1")
            t2 = time.perf_counter()
            big = seed_passed_items(conn, Path(tmp), [("TS_object_20260314_999999", "object", "w1")],
                                    batch_id="seed-large")[0]
            big.image_path.write_bytes(os.urandom(args.large_mb * 1024 * 1024))
            t3 = time.perf_counter()
            large = transfer_passed(conn, config, server, batch_id="bench2", item_keys=[big.item_key])
            t4 = time.perf_counter()
        conn.close()
    finally:
        s3.stop()
        db.drop_database(admin, name)
    result = {
        "items": args.count, "mib": round(total / 2**20, 1),
        "first_send_items_per_s": round(args.count / (t1 - t0), 1),
        "first_send_mib_per_s": round(total / 2**20 / (t1 - t0), 1),
        "rerun_items_per_s": round(args.count / (t2 - t1), 1),
        "rerun_vs_first_speedup": round((t1 - t0) / (t2 - t1), 2),
        "large_file_mib": args.large_mb, "large_file_mib_per_s": round(args.large_mb / (t4 - t3), 1),
        "actions_first": dict(first.actions), "actions_rerun": dict(again.actions),
        "actions_large": dict(large.actions),
    }
    print(first.summary())
    print(again.summary())
    print(large.summary())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
