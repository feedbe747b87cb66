"""refine's scale-out under the real scheduler: CeleryExecutor with 1 and 2 workers, beside the in-process rate.

    .venv/bin/python benchmarks/scale_bench.py [--photos 400] [--size 1152x864] [--batch-size 200] [--workers 1,2]

The same generated photos (about 1 MP by default, trainset_dev.photos) go through, each time into a fresh records
DB and fresh file:// storage roots:

1. in-process: ``refine_batch`` (every step of a batch, GX judge included) in this process, one process per batch
   (``refine.workers: 1``): the work itself, no Airflow;
2. under the scheduler: api-server, scheduler, dag-processor, triggerer, a Redis broker and N Celery workers
   (concurrency 1, ``refine.workers: 1``: the cores are the workers'), collect then refine triggered through the REST
   API; refine's rate is its images over the run's wall time (run start to end, from the API).

Reported: images/s in-process and with each N, the 2-vs-1 ratio (target >= 1.7 on 2 cores), and the scheduling
overhead: (refine's wall time under the scheduler with 1 worker, one task at a time - the same batches in-process)
/ that wall time (target <= 10 % at the default batch size), and its share per task.  Then a projection for 133k 1 MP
photos on N workers (``docs/scaling.md`` explains it).  Everything is measured in one run; on a loaded machine
the absolute numbers drop, the ratios less so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "include"), str(ROOT / "plugins")]

import yaml  # noqa: E402
from trainset import db  # noqa: E402
from trainset_dev import devstack  # noqa: E402
from trainset_dev.airflow_stack import AirflowStack, prepare_metadata_db  # noqa: E402
from trainset_dev.photos import write_drop_zone  # noqa: E402

CLASSES = ["person", "animal", "vehicle", "food", "object"]
SEED_PHOTOS = 133_000
BATCH_TASKS = 5  # exif_check, blur_check, judge_measurements, quarantine_rejects, anonymize_and_store


def _project_file(path: Path, batch_size: int) -> Path:
    data = yaml.safe_load((ROOT / "include" / "project.yaml").read_text(encoding="utf-8"))
    data["project"]["period"] = {"start": "2026-03-01", "end": "2026-03-20"}
    for key in ("collect", "inspection", "daily_report", "annotate_intake"):
        data["schedules"][key] = None
    data["refine"]["batch_size"] = batch_size
    data["refine"]["workers"] = 1
    data["tasks"]["retry_delay_seconds"] = 2
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _records_db(admin: str) -> tuple[str, str]:
    name = f"trainset_bench_{uuid.uuid4().hex[:8]}"
    db.ensure_database(admin, name)
    dsn = admin.replace("/postgres?", f"/{name}?")
    conn = db.connect(dsn)
    db.upgrade(conn)
    conn.close()
    return name, dsn


def _conn_env(dsn: str) -> str:
    from urllib.parse import parse_qs, urlparse

    u = urlparse(dsn)
    return json.dumps({"conn_type": "postgres", "host": parse_qs(u.query)["host"][0], "login": "postgres",
                       "schema": u.path.lstrip("/")})


def in_process(admin: str, photos: Path, work: Path, project: Path) -> dict:
    """collect (not timed) and every refine batch in this process."""
    os.environ["TRAINSET_CONFIG"] = str(project)
    os.environ["TRAINSET_DATA_ROOT"] = str(work / "data")
    from trainset.collect import run_collect
    from trainset.config import get_config
    from trainset.refine.plan import plan_batches
    from trainset.refine.source import SourceReader
    from trainset.refine.steps import refine_batch
    from trainset.storage import open_storage

    shutil.copytree(photos, work / "data" / "drop_zone")
    config = get_config()
    name, dsn = _records_db(admin)
    conn = db.connect(dsn)
    try:
        st = {k: open_storage(getattr(config.storage, k)) for k in ("drop_zone", "raw", "quarantine", "warehouse")}
        run_collect(conn=conn, config=config, drop_zone=st["drop_zone"], raw=st["raw"], quarantine=st["quarantine"],
                    run_id="bench_inprocess")
        batches = plan_batches(conn, config, "bench_inprocess")
        reader = SourceReader([st["raw"]])
        times = []
        for batch_id in batches:
            started = time.perf_counter()
            s = refine_batch(conn, config, batch_id, run_id="bench_inprocess", reader=reader,
                             warehouse=st["warehouse"], quarantine=st["quarantine"])
            times.append((s.images, time.perf_counter() - started))
    finally:
        conn.close()
        db.drop_database(admin, name)
    images = sum(n for n, _ in times)
    seconds = sum(t for _, t in times)
    return {"images": images, "seconds": round(seconds, 2), "images_per_s": round(images / seconds, 2),
            "batch_seconds": [round(t, 2) for _, t in times]}


def _ts(value: str | None) -> float | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def under_scheduler(admin: str, photos: Path, work: Path, project: Path, workers: int) -> dict:
    shutil.copytree(photos, work / "data" / "drop_zone")
    name, dsn = _records_db(admin)
    meta = f"airflow_bench_{uuid.uuid4().hex[:8]}"
    url = prepare_metadata_db(admin, meta, work / "migrate.log")
    env = {"TRAINSET_CONFIG": str(project), "TRAINSET_DATA_ROOT": str(work / "data"), "TRAINSET_TASK_RETRIES": "0",
           "AIRFLOW_CONN_TRAINSET_DB": _conn_env(dsn)}
    stack = AirflowStack(work / "airflow", url, env=env, executor="CeleryExecutor", celery_workers=workers,
                         worker_concurrency=1, parallelism=max(4, workers * 2))
    try:
        stack.start()
        api = stack.client()
        api.wait_for_dags(["collect", "refine"])
        for dag_id in ("collect", "refine"):
            api.set_paused(dag_id, False)
        run = api.wait_run("collect", api.trigger("collect"), timeout=600, stack=stack)
        assert run["state"] == "success", run
        run_id = api.wait_new_run("refine", set(), timeout=120)
        run = api.wait_run("refine", run_id, timeout=3600, stack=stack)
        assert run["state"] == "success", run
        tis = api.task_instances("refine", run_id)
    finally:
        stack.stop()
        db.drop_database(admin, meta)
    conn = db.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM images WHERE status IN ('refined', 'rejected')")
        images = cur.fetchone()[0]
    conn.close()
    db.drop_database(admin, name)
    wall = _ts(run["end_date"]) - _ts(run["start_date"])
    per_batch: dict[int, list[dict]] = {}
    for t in tis:
        if t["task_id"].startswith("batch."):
            per_batch.setdefault(t["map_index"], []).append(t)
    batch_walls, task_seconds = [], []
    for group in per_batch.values():
        start = min(_ts(t["start_date"]) for t in group)
        end = max(_ts(t["end_date"]) for t in group)
        batch_walls.append(end - start)
        task_seconds += [t["duration"] for t in group if t.get("duration") is not None]
    return {"workers": workers, "images": images, "run_seconds": round(wall, 2),
            "images_per_s": round(images / wall, 2), "batches": len(per_batch),
            "batch_wall_seconds": [round(b, 2) for b in sorted(batch_walls)],
            "mean_task_seconds": round(sum(task_seconds) / max(1, len(task_seconds)), 2),
            "task_seconds_total": round(sum(t["duration"] or 0 for t in tis), 2)}


def projection(per_worker_rate: float, efficiency: float, counts=(1, 2, 4, 8, 16, 32)) -> list[dict]:
    """Hours for the seed corpus on N one-core workers, scaled by the measured 2-worker efficiency."""
    rows = []
    for n in counts:
        rate = per_worker_rate * (1 if n == 1 else n * efficiency)
        rows.append({"workers": n, "images_per_s": round(rate, 1), "hours": round(SEED_PHOTOS / rate / 3600, 2)})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=400)
    ap.add_argument("--size", default="1152x864", help="WxH of the generated photos (1152x864 ≈ 1 MP)")
    ap.add_argument("--batch-size", type=int, default=200, help="refine.batch_size (the project default: 200)")
    ap.add_argument("--workers", default="1,2", help="Celery worker counts to run, comma-separated")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    pgdata = Path(os.environ.get("TRAINSET_PGDATA") or ROOT / ".local" / "pgdata")
    admin = devstack.start_postgres(pgdata)
    admin = devstack.admin_dsn(pgdata)
    tmp = Path(tempfile.mkdtemp(prefix="scale_bench_"))
    try:
        photos = tmp / "photos"
        write_drop_zone(photos, args.photos, CLASSES, size=(w, h))
        project = _project_file(tmp / "project.yaml", args.batch_size)
        print(f"{args.photos} photos {w}x{h} ({w * h / 1e6:.2f} MP), batch size {args.batch_size}, "
              f"{os.cpu_count()} cores", flush=True)
        results = {"photos": args.photos, "size": [w, h], "batch_size": args.batch_size,
                   "cpu_count": os.cpu_count(), "load_avg_start": os.getloadavg()}
        results["in_process"] = inproc = in_process(admin, photos, tmp / "inproc", project)
        print(f"in-process (1 process): {inproc['images_per_s']} img/s, batches {inproc['batch_seconds']} s",
              flush=True)
        results["scheduler"] = []
        for n in [int(v) for v in args.workers.split(",")]:
            r = under_scheduler(admin, photos, tmp / f"celery{n}", project, n)
            results["scheduler"].append(r)
            print(f"CeleryExecutor, {n} worker(s): {r['images_per_s']} img/s (refine run {r['run_seconds']} s, "
                  f"{r['batches']} batches, batch wall {r['batch_wall_seconds']} s, "
                  f"mean task {r['mean_task_seconds']} s)", flush=True)
        by_n = {r["workers"]: r for r in results["scheduler"]}
        if 1 in by_n:
            one = by_n[1]
            # One worker with one slot runs the tasks one after another, so the run's wall time is the work plus
            # everything the scheduler adds: queueing, a task process per task (DAG parse, imports, models).
            overhead = max(0.0, one["run_seconds"] - inproc["seconds"])
            tasks = one["batches"] * BATCH_TASKS + 2  # + plan_batches, publish_source_images
            results["overhead"] = {"seconds_in_process": inproc["seconds"], "seconds_scheduled": one["run_seconds"],
                                   "share": round(overhead / one["run_seconds"], 3),
                                   "per_task_seconds": round(overhead / tasks, 2),
                                   "task_process_seconds": round(one["task_seconds_total"] - inproc["seconds"], 2)}
            print(f"scheduling overhead at batch size {args.batch_size}: {overhead:.1f} s of {one['run_seconds']:.1f} s "
                  f"= {100 * overhead / one['run_seconds']:.1f} % ({overhead / tasks:.2f} s per task over {tasks} "
                  f"tasks; target <= 10 %)")
            if 2 in by_n:
                ratio = by_n[2]["images_per_s"] / one["images_per_s"]
                results["speedup_2_vs_1"] = round(ratio, 2)
                print(f"2 workers vs 1: {ratio:.2f}x (target >= 1.7x on 2 cores)")
                mp = w * h / 1e6
                per_worker_1mp = one["images_per_s"] * mp  # cost grows about linearly with pixels
                results["projection_133k_1mp"] = projection(per_worker_1mp, min(1.0, ratio / 2))
                print(f"projection, {SEED_PHOTOS} photos of 1 MP (one core per worker):")
                for p in results["projection_133k_1mp"]:
                    print(f"  {p['workers']:3d} workers: {p['images_per_s']:7.1f} img/s, {p['hours']:6.2f} h")
        results["load_avg_end"] = os.getloadavg()
        print(f"load average at start {results['load_avg_start']}, end {results['load_avg_end']}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
