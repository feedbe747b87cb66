"""`make demo`: build the demo drop zone, run the pipeline's DAGs in-process (dag.test()), print a summary.

Peers are real and local: the records DB is the embedded PostgreSQL, the inspection server is moto's S3 server on
127.0.0.1, Slack messages and e-mails go to local endpoints whose traffic is saved in .local/peers/messages.jsonl
(the messages page of `make up` shows it). Task logs are written where the UI of `make up` reads them.
Running it again is safe: nothing is registered, sent or transferred twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
os.environ.setdefault("TRAINSET_TASK_RETRIES", "0")  # a demo failure should show at once, not after retries

from trainset import db  # noqa: E402
from trainset.config import get_config  # noqa: E402
from trainset_dev.demo import STAGES, call  # noqa: E402
from trainset_dev.demo.dropzone import build_drop_zone  # noqa: E402
from trainset_dev.peers.localpeers import LocalS3, SlackSink, airflow_connection_env  # noqa: E402
from trainset_dev.peers.mailsink import SmtpSink  # noqa: E402
from trainset_dev.peers.peerserver import MessageLog  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dag_test_logs import task_log_files  # noqa: E402


def _stack_scheduler_pid() -> int | None:
    """The pid of `make up`'s scheduler when it runs on this AIRFLOW_HOME."""
    pidfile = Path(os.environ.get("AIRFLOW_HOME", ".local/airflow")).parent / "run" / "scheduler.pid"
    try:
        pid = int(pidfile.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _restore_s3(client, snapshot: Path) -> int:
    """moto keeps objects in memory: put back what the previous demo left on the "inspection server", so a
    second `make demo` meets the server the first one left, as it would in production."""
    count = 0
    if snapshot.is_dir():
        for bucket_dir in sorted(p for p in snapshot.iterdir() if p.is_dir()):
            client.create_bucket(Bucket=bucket_dir.name)
            for f in sorted(p for p in bucket_dir.rglob("*") if p.is_file()):
                body = f.read_bytes()
                # As the transfer wrote it: S3's SHA-256 checksum (what it verifies) and our sha256 metadata.
                client.put_object(Bucket=bucket_dir.name, Key=str(f.relative_to(bucket_dir)), Body=body,
                                  ChecksumAlgorithm="SHA256", Metadata={"sha256": hashlib.sha256(body).hexdigest()})
                count += 1
    return count


def _save_s3(client, snapshot: Path) -> None:
    import shutil

    tmp = snapshot.with_name(snapshot.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for bucket in client.list_buckets().get("Buckets", []):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for obj in page.get("Contents", []):
                target = tmp / bucket["Name"] / obj["Key"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(client.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read())
    shutil.rmtree(snapshot, ignore_errors=True)
    if tmp.exists():
        tmp.rename(snapshot)


def main() -> int:
    started = time.monotonic()
    if (pid := _stack_scheduler_pid()) is not None:
        # dag.test() runs every task in this process; the running scheduler would start them a second time.
        print(f"`make up` is running (scheduler pid {pid}): stop it with `make down` first, or trigger the DAGs "
              "from the UI. The demo's runs and task logs show in the UI after the next `make up`.", file=sys.stderr)
        return 2
    config = get_config()
    # Every message goes to the same log as `make up`'s peers, so its messages page shows the demo's too.
    messages = MessageLog(Path(os.environ.get("AIRFLOW_HOME", ".local/airflow")).parent / "peers")
    s3 = LocalS3().start()
    data_root = Path(config.storage.raw.removeprefix("file://")).parent
    s3_snapshot = data_root / "s3_snapshot"
    _restore_s3(s3.client(), s3_snapshot)
    sink = SlackSink()
    sink.on_record = messages.slack
    sink.start()
    mail = SmtpSink()
    mail.on_record = messages.email
    mail.start()
    os.environ.update(airflow_connection_env(sink, s3.endpoint))
    os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = mail.airflow_connection()
    drop_zone = config.storage.drop_zone.removeprefix("file://")
    demo_files = build_drop_zone(Path(drop_zone))
    print(f"demo drop zone: {len(demo_files)} files in {drop_zone}")

    from airflow.dag_processing.dagbag import DagBag

    dags_dir = Path(__file__).resolve().parents[1] / "dags"
    bag = DagBag(dag_folder=str(dags_dir))
    if bag.import_errors:
        print("DAG import errors:", json.dumps(bag.import_errors, indent=2), file=sys.stderr)
        return 1
    results = []
    conn = db.connect()
    logs = task_log_files()
    log_folder = logs.__enter__()  # each task's log is written where the UI of `make up` reads it
    try:
        for stage in STAGES:
            if "before" in stage:
                call(stage["before"], conn=conn, config=config)
                conn.commit()
            # A fresh parse per run: in-process, rendering templates overwrites operator attributes.
            dag = DagBag(dag_folder=bag.get_dag(stage["dag_id"]).fileloc).get_dag(stage["dag_id"])
            run = dag.test(run_conf=stage.get("conf"))
            results.append((stage, run))
            if str(run.state) != "success":
                failed = [ti.task_id for ti in run.get_task_instances() if str(ti.state) != "success"]
                print(f"\n{stage['dag_id']} ended {run.state}: {failed}", file=sys.stderr)
                return 1

        print("\n" + "=" * 78)
        print(f"trainset demo — project {config.project.code} ({config.project.name})")
        print("=" * 78)
        for stage, run in results:
            print(f"\n{stage['title']}  [dag {stage['dag_id']}: {run.state}, run {run.run_id}]")
            # Each stage says what this run did, then the records DB's totals, each labelled as such.
            for line in call(stage["summary"], conn, run_id=run.run_id):
                print(f"   {line}")
        print("\n   note: the demo's S3 server (moto, on 127.0.0.1) keeps objects in memory; the demo saves them to")
        print(f"   {s3_snapshot} when it ends and puts them back when it starts, so a rerun meets the same server.")
        print("\nwhere things are:")
        for name, uri in config.storage.model_dump().items():
            print(f"   {name:18s} {uri}")
        print(f"   {'records DB':18s} {db.resolve_dsn()}")
        print(f"   {'messages':18s} {messages.path} ({len(sink.messages())} Slack, {len(mail.received())} e-mail "
              "this run; `make up` shows them all on its messages page)")
        print(f"   {'task logs':18s} {log_folder} (in the UI: `make up`, then the run's tasks)")
        # The pipeline's invariants (python -m trainset audit), while the demo's S3 server is still up.
        from trainset.audit import open_roots, run_audit

        conn.rollback()
        audit = run_audit(conn, config, open_roots(config, s3.client()))
        print("\n" + audit.line())
        for breach in audit.breaches[:20]:
            print(f"   {json.dumps(breach, ensure_ascii=False)}")
        print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
        if not audit.ok:
            return 1
    finally:
        logs.__exit__(None, None, None)
        conn.close()
        sink.stop()
        mail.stop()
        _save_s3(s3.client(), s3_snapshot)
        s3.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
