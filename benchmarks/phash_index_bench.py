"""Near-duplicate lookup at warehouse scale: a million 64-bit hashes in PostgreSQL, multi-index vs a full scan.

Creates a scratch database on the dev PostgreSQL (``make setup``), loads N random hashes (plus planted neighbours
of the probes at distances 0..radius+2, bits spread over every band), then times ``dedup.find_near_duplicate``
(the index lookup refine uses) and a full-scan query for the same probes, and checks both give the answer a
brute-force numpy scan gives.  Last line: one JSON object.

    python benchmarks/phash_index_bench.py [--n 1000000] [--probes 300]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

from trainset import db  # noqa: E402
from trainset.refine import dedup  # noqa: E402
from trainset.refine.measure import hamming  # noqa: E402
from trainset_dev import devstack  # noqa: E402

SCAN_SQL = """
SELECT p.image_id, bit_count((p.phash # %(h)s)::bit(64)) AS distance FROM image_phash p
JOIN images i ON i.image_id = p.image_id
WHERE bit_count((p.phash # %(h)s)::bit(64)) <= %(r)s AND i.status <> 'rejected'
ORDER BY distance, p.image_id LIMIT 1
"""


def _copy(cur, table: str, columns: str, rows) -> None:
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join(str(v) for v in row) + "\n")
    buf.seek(0)
    cur.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buf)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--radius", type=int, default=6)
    parser.add_argument("--scan-probes", type=int, default=5, help="probes also timed with a full scan")
    args = parser.parse_args()
    pgdata = Path(os.environ.get("TRAINSET_PGDATA") or ROOT / ".local" / "pgdata")
    devstack.start_postgres(pgdata)
    admin = devstack.admin_dsn(pgdata)
    name = "trainset_phash_bench"
    db.drop_database(admin, name)
    db.ensure_database(admin, name)
    conn = db.connect(admin.replace("/postgres?", f"/{name}?"))
    try:
        db.upgrade(conn)
        rng = np.random.default_rng(42)
        u = rng.integers(0, 2**63, size=args.n, dtype=np.int64) * 2 + rng.integers(0, 2, size=args.n)  # any 64 bit
        hashes = u.astype(np.int64)
        probes = rng.integers(-(2**63), 2**63 - 1, size=args.probes, dtype=np.int64)
        # Planted neighbours: probe k gets one image at distance k % (radius + 3).
        planted = []
        for k, p in enumerate(probes):
            d = k % (args.radius + 3)
            bits = rng.choice(64, size=d, replace=False)
            v = int(p) & ((1 << 64) - 1)
            for b in bits:
                v ^= 1 << int(b)
            planted.append(v - (1 << 64) if v >= 1 << 63 else v)
        all_hashes = np.concatenate([hashes, np.array(planted, dtype=np.int64)])
        total = len(all_hashes)
        t = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES ('bench', 'collect', 'bench')")
            _copy(cur, "images", "image_id, sha256, size_bytes, source_uri, original_name, batch_id, status",
                  ((i + 1, f"{i:064x}", 1, f"s{i}", f"f{i}.jpg", "bench", "refined") for i in range(total)))
            _copy(cur, "image_phash", "image_id, phash, band0, band1, band2, band3",
                  ((i + 1, int(h), *dedup.bands(int(h))) for i, h in enumerate(all_hashes)))
            cur.execute("SELECT setval('images_image_id_seq', %s)", (total,))
            cur.execute("ANALYZE images")
            cur.execute("ANALYZE image_phash")
        conn.commit()
        load_s = time.perf_counter() - t
        print(f"loaded {total} hashes in {load_s:.1f} s", flush=True)

        # Ground truth by brute force (numpy popcount of XOR).
        unsigned = all_hashes.view(np.uint64)

        def truth(p: int):
            x = unsigned ^ np.uint64(p & ((1 << 64) - 1))
            dist = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
            ok = np.nonzero(dist <= args.radius)[0]
            if len(ok) == 0:
                return None
            best = min(ok, key=lambda i: (dist[i], i))
            return dedup.Match(int(best) + 1, int(dist[best]))

        times, wrong, found = [], 0, 0
        with conn.cursor() as cur:
            for p in probes:
                t = time.perf_counter()
                got = dedup.find_near_duplicate(cur, int(p), args.radius)
                times.append(time.perf_counter() - t)
                want = truth(int(p))
                wrong += got != want
                found += got is not None
            scan_times = []
            for p in probes[: args.scan_probes]:
                t = time.perf_counter()
                cur.execute(SCAN_SQL, {"h": int(p), "r": args.radius})
                row = cur.fetchone()
                scan_times.append(time.perf_counter() - t)
                got = dedup.find_near_duplicate(cur, int(p), args.radius)
                assert (row is None and got is None) or (row and got and row[0] == got.image_id), (row, got)
        conn.rollback()
        times.sort()
        result = {
            "hashes": total, "radius": args.radius, "probes": len(probes), "found": found,
            "wrong_vs_bruteforce": wrong,
            "index_ms_median": round(1000 * times[len(times) // 2], 2),
            "index_ms_p95": round(1000 * times[int(len(times) * 0.95)], 2),
            "scan_ms_median": round(1000 * sorted(scan_times)[len(scan_times) // 2], 1),
            "probe_values_per_lookup": sum(len(v) for v in dedup.probes(0, args.radius)),
            "load_seconds": round(load_s, 1),
        }
        result["speedup_vs_scan"] = round(result["scan_ms_median"] / result["index_ms_median"], 1)
        print(f"index lookup: median {result['index_ms_median']} ms, p95 {result['index_ms_p95']} ms; "
              f"full scan {result['scan_ms_median']} ms; {wrong} disagreements with brute force over "
              f"{len(probes)} probes ({found} with a match)")
        assert hamming(0, 0) == 0
        print(json.dumps(result))
        return 0 if wrong == 0 else 1
    finally:
        conn.close()
        db.drop_database(admin, name)


if __name__ == "__main__":
    raise SystemExit(main())
