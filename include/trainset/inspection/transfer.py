"""Sending first-inspection passes to the inspection server's bucket, exactly once in effect.

Every object is keyed by item, kind and content hash (``transfers`` is UNIQUE on them).  For each object:

1. recorded as verified before → (optionally) HEAD-check it; if the bytes on the server changed, send again;
2. not recorded, but already on the server with the same size and SHA-256 (a crash after the upload and before
   the DB record) → record it without uploading again;
3. otherwise upload with an S3 SHA-256 checksum (multipart above the configured threshold), then HEAD the object
   and compare size and checksum (the composite checksum for multipart uploads, computed the same way locally).
   A mismatch or a transient error is retried with exponential backoff up to ``inspection.max_attempts``.

Items are sent by ``transfer_workers`` threads; records are written in batches (``record_batch_size``) and
committed from the calling thread, so a crash loses only records of objects already on the server, which the
next run recovers through step 2 without sending anything twice.  After the objects, the
run's manifest (CSV + JSON: item, object key, size, sha256, time) goes into the bucket and into the DB.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import shutil
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from trainset import db
from trainset.config import ProjectConfig
from trainset.inspection import labels
from trainset.inspection.layout import place
from trainset.inspection.manifest import write_manifest
from trainset.inspection.server import (
    MB,
    InspectionServer,
    ServerObject,
    TransferError,
    TransferHooks,
    hash_file,
    part_size,
)
from trainset.step import StepContext, StepResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassedItem:
    item_key: str
    annotation_id: int
    image_id: int | None
    class_name: str | None
    image_uri: str | None
    image_name: str
    label_uri: str | None
    payload: dict | None


@dataclass
class TransferResult:
    batch_id: str
    server_uri: str
    items: int = 0
    actions: Counter = field(default_factory=Counter)
    bytes_sent: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (item_key, error)
    manifest_csv_uri: str | None = None
    manifest_json_uri: str | None = None
    seconds: float = 0.0

    @property
    def counts(self) -> dict:
        return {"items": self.items, **{k: v for k, v in sorted(self.actions.items())},
                "bytes_sent": self.bytes_sent, "failed": len(self.failed)}

    def summary(self) -> str:
        acts = ", ".join(f"{k} {v}" for k, v in sorted(self.actions.items())) or "nothing to send"
        rate = self.bytes_sent / MB / self.seconds if self.seconds else 0.0
        return (f"inspection transfer {self.batch_id}: {self.items} items → {self.server_uri} ({acts}); "
                f"{self.bytes_sent / MB:.1f} MiB sent at {rate:.1f} MiB/s; failed {len(self.failed)}; "
                f"manifest {self.manifest_csv_uri}")


# ---------------------------------------------------------------------------------------------------------------
# The passed list


def passed_items(conn, item_keys: list[str] | None = None) -> list[PassedItem]:
    """Latest passed/repaired annotation per item whose first (or second) inspection said pass."""
    sql = """
        SELECT DISTINCT ON (a.item_key)
               a.item_key, a.annotation_id, a.image_id, a.payload,
               a.label_uri, coalesce(i.class_name, a.class_name) AS class_name,
               i.location AS image_uri, coalesce(i.dataset_name, i.original_name) AS image_name
        FROM annotations a
        LEFT JOIN images i ON i.image_id = a.image_id
        WHERE a.status = 'passed'
          AND EXISTS (SELECT 1 FROM inspections x WHERE x.item_key = a.item_key
                      AND x.round IN ('first', 'second') AND x.verdict = 'pass')
          AND (%(keys)s::text[] IS NULL OR a.item_key = ANY(%(keys)s::text[]))
        ORDER BY a.item_key, a.annotation_id DESC
    """
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, sql, {"keys": item_keys})
    return [PassedItem(item_key=r["item_key"], annotation_id=r["annotation_id"], image_id=r["image_id"],
                       class_name=r["class_name"], image_uri=r["image_uri"],
                       image_name=Path(urlparse(r["image_name"] or r["image_uri"] or r["item_key"]).path).name,
                       label_uri=r["label_uri"], payload=r["payload"]) for r in rows]


# ---------------------------------------------------------------------------------------------------------------
# Sources


def fetch_uri(uri: str, s3_client, directory: Path) -> Path:
    """A local file with the bytes at ``uri`` (file:// read in place, s3:// downloaded into ``directory``)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("file", ""):
        return Path(parsed.path)
    if parsed.scheme == "s3":
        if s3_client is None:
            raise ValueError(f"{uri} is on S3 but no S3 client was given")
        target = directory / hashlib.sha256(uri.encode()).hexdigest()[:16]
        s3_client.download_file(parsed.netloc, parsed.path.lstrip("/"), str(target))
        return target
    raise ValueError(f"unsupported URI {uri!r}")


def _objects_for(item: PassedItem, config: ProjectConfig, tmp: Path, source_client) -> list[ServerObject]:
    s = config.inspection
    if not item.image_uri:
        raise TransferError(f"{item.item_key}: the image has no location")
    image_path = fetch_uri(item.image_uri, source_client, tmp)
    if item.label_uri:
        label_path = fetch_uri(item.label_uri, source_client, tmp)
    else:
        if item.payload is None:
            raise TransferError(f"{item.item_key}: the annotation has neither a label file nor a payload")
        label_path = tmp / f"{item.item_key}.json"
        label_path.write_bytes(labels.label_bytes(item.payload))
    out = []
    for kind, path, name in (("image", image_path, item.image_name), ("label", label_path, f"{item.item_key}.json")):
        size = path.stat().st_size
        sha, size, parts = hash_file(path, part_size(s, size))
        placement = place(s.layout, item_key=item.item_key, kind=kind, class_name=item.class_name or "unknown",
                          file_name=name, validation_share=s.validation_share)
        out.append(ServerObject(item_key=item.item_key, kind=kind, key=placement.key, path=path, size=size,
                                sha256=sha, part_digests=parts))
    return out


# ---------------------------------------------------------------------------------------------------------------
# The run


def _recorded_for(conn, item_keys: list[str]) -> dict[tuple[str, str, str], dict]:
    """What the DB says was sent for these items, keyed by (item, kind, sha256)."""
    if not item_keys:
        return {}
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, """
            SELECT item_key, kind, sha256, object_uri, status, attempts FROM transfers
            WHERE item_key = ANY(%s) AND kind IN ('image', 'label')""", (item_keys,))
    return {(r["item_key"], r["kind"], r["sha256"].strip()): r for r in rows}


def _record(conn, server: InspectionServer, objs: list[ServerObject], batch_id: str,
            hooks: TransferHooks | None) -> None:
    if not objs:
        return
    if hooks and hooks.before_record:
        hooks.before_record(objs)
    with conn.cursor() as cur:
        db.execute_batch(cur, """
            INSERT INTO transfers (item_key, kind, object_uri, size_bytes, sha256, status, attempts, batch_id)
            VALUES %s
            ON CONFLICT (item_key, kind, sha256) DO UPDATE SET
                object_uri = EXCLUDED.object_uri, size_bytes = EXCLUDED.size_bytes, status = 'verified',
                attempts = transfers.attempts + EXCLUDED.attempts,
                batch_id = EXCLUDED.batch_id, transferred_at = now()""",
            [(o.item_key, o.kind, server.object_uri(o.key), o.size, o.sha256, "verified", max(o.attempts, 1), batch_id)
             for o in objs])
        # The same object key with older content (an item reworked and sent again) is no longer on the server.
        db.execute_batch(cur, """
            UPDATE transfers t SET status = 'superseded'
            FROM (VALUES %s) AS v(object_uri, sha256)
            WHERE t.object_uri = v.object_uri AND t.sha256 <> v.sha256 AND t.status = 'verified'""",
            [(server.object_uri(o.key), o.sha256) for o in objs])
    conn.commit()  # these objects are on the server: their records must outlive a later failure


def _open_batch(conn, server: InspectionServer, batch_id: str, run_id: str | None) -> None:
    server.ensure_bucket()
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO batches (batch_id, stage, run_id, source_uri) VALUES (%s, 'inspection', %s, %s)
                       ON CONFLICT (batch_id) DO NOTHING""", (batch_id, run_id or batch_id, server.uri))
    conn.commit()  # the batch row outlives a crash: the transfers recorded under it refer to it


def _item_sender(config: ProjectConfig, server: InspectionServer, recorded: dict, tmp: Path, source_client,
                 hooks: TransferHooks | None) -> Callable[[PassedItem], tuple[list[ServerObject], str | None]]:
    def process(item: PassedItem) -> tuple[list[ServerObject], str | None]:
        """Hash, send and verify one item's objects (in a worker thread; no DB access here)."""
        item_tmp = tmp / hashlib.sha256(item.item_key.encode()).hexdigest()[:16]
        item_tmp.mkdir()
        done: list[ServerObject] = []
        try:
            for obj in _objects_for(item, config, item_tmp, source_client):
                _send_one(server, obj, recorded.get((obj.item_key, obj.kind, obj.sha256)), hooks)
                done.append(obj)
            return done, None
        except (TransferError, OSError, ValueError) as err:
            # One bad item never stops the batch; what was not verified is tried again next run.
            return done, str(err)
        finally:
            shutil.rmtree(item_tmp, ignore_errors=True)

    return process


def _tally(result: TransferResult, item: PassedItem, objs: list[ServerObject], error: str | None,
           pending: list[ServerObject]) -> None:
    if error is not None:
        log.error("transfer of %s failed: %s", item.item_key, error)
        result.failed.append((item.item_key, error))
    for obj in objs:
        result.actions[obj.action] += 1
        if obj.action in ("uploaded", "resent"):
            result.bytes_sent += obj.size
        if obj.action != "skipped":
            pending.append(obj)


def transfer_passed(conn, config: ProjectConfig, server: InspectionServer, *, batch_id: str,
                    run_id: str | None = None, item_keys: list[str] | None = None, source_client=None,
                    hooks: TransferHooks | None = None) -> TransferResult:
    """Send every passed item not on the server yet (and re-send changed ones), then write the manifest."""
    started = time.monotonic()
    result = TransferResult(batch_id=batch_id, server_uri=server.uri)
    _open_batch(conn, server, batch_id, run_id)
    items = passed_items(conn, item_keys)
    result.items = len(items)
    recorded = _recorded_for(conn, [i.item_key for i in items])
    pending: list[ServerObject] = []
    tmp = Path(tempfile.mkdtemp(prefix="trainset-transfer-"))
    process = _item_sender(config, server, recorded, tmp, source_client, hooks)
    # Items are sent by a few threads (round trips dominate); results are taken in order and recorded in batches
    # from this thread only, so the DB connection is never shared.
    workers = config.inspection.transfer_workers
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="transfer")
    in_flight: deque = deque()
    queue = iter(items)
    try:
        # A window of ``workers`` items in flight: the sends never run far ahead of the records.
        for item in itertools.islice(queue, workers):
            in_flight.append((item, pool.submit(process, item)))
        while in_flight:
            item, future = in_flight.popleft()
            objs, error = future.result()
            if (following := next(queue, None)) is not None:
                in_flight.append((following, pool.submit(process, following)))
            _tally(result, item, objs, error, pending)
            if len(pending) >= config.inspection.record_batch_size:
                _record(conn, server, pending, batch_id, hooks)
                pending = []
        _record(conn, server, pending, batch_id, hooks)
        write_manifest(conn, server, batch_id, tmp, result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = time.monotonic() - started
    with conn.cursor() as cur:
        cur.execute("UPDATE batches SET finished_at = now(), counts = %s WHERE batch_id = %s",
                    (json.dumps(result.counts), batch_id))
    conn.commit()  # the batch's figures go with the objects already on the server, even if the task fails next
    return result


def transfer_step(ctx: StepContext) -> StepResult:
    """The ``labeling_validation_batch`` task: send the passed items (``item_keys``; default all) to the
    inspection server (``server_uri``; default ``storage.inspection_server``) under ``batch_id`` (default
    ``inspection__<run_id>``).  Any item not sent and verified fails the task after everything else is recorded:
    a retry (or the next run) sends only what is missing."""
    client = ctx.storages.s3_client
    server = InspectionServer(ctx.arg("server_uri") or ctx.config.storage.inspection_server, client,
                              ctx.config.inspection)
    batch_id = ctx.arg("batch_id") or f"inspection__{ctx.run_id}"
    ctx.log.info("sending first-inspection passes to %s (batch %s)", server.uri, batch_id)
    result = transfer_passed(ctx.conn, ctx.config, server, batch_id=batch_id, run_id=ctx.run_id,
                             item_keys=ctx.arg("item_keys") or None, source_client=client)
    lines = [result.summary(), f"manifest: {result.manifest_csv_uri} and {result.manifest_json_uri}"]
    if result.failed:
        for line in lines:
            ctx.log.info("%s", line)
        for key, err in result.failed:
            ctx.log.error("not sent: %s: %s", key, err)
        raise TransferError(f"{len(result.failed)} item(s) could not be sent and verified")
    return StepResult(summary=lines[0], details=lines[1:],
                      xcom={"batch_id": batch_id, **result.counts, "manifest_csv": result.manifest_csv_uri,
                            "manifest_json": result.manifest_json_uri})


def _send_one(server: InspectionServer, obj: ServerObject, recorded: dict | None,
              hooks: TransferHooks | None) -> None:
    if recorded is not None and recorded["status"] == "verified" \
            and recorded["object_uri"] == server.object_uri(obj.key):
        if not server.settings.reverify_existing:
            obj.action = "skipped"
            return
        problem = server.check(obj)
        if problem is None:
            obj.action = "skipped"
            return
        log.warning("%s %s changed on the server since it was verified (%s): sending again",
                    obj.item_key, obj.key, problem)
        obj.attempts = server.send(obj, hooks)
        obj.action = "resent"
        return
    if server.check(obj) is None:
        # Uploaded by an earlier try that crashed before recording it: record, do not send twice.
        obj.action = "recovered"
        obj.attempts = 0
        return
    obj.attempts = server.send(obj, hooks)
    obj.action = "uploaded"
