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

import base64
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import logging
import re
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
from trainset.config import InspectionSettings, ProjectConfig
from trainset.inspection import labels
from trainset.inspection.layout import place

log = logging.getLogger(__name__)
MB = 1024 * 1024
READ_CHUNK = 1 * MB

_TRANSIENT_CODES = {"500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown",
                    "RequestTimeout", "RequestTimeTooSkewed", "Throttling", "BadDigest", "XAmzContentSHA256Mismatch"}


class TransferError(RuntimeError):
    """An object could not be sent and verified within the allowed attempts."""


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
class ServerObject:
    item_key: str
    kind: str  # image | label | manifest
    key: str  # object key relative to the server root
    path: Path  # local file with the bytes
    size: int
    sha256: str
    part_digests: list[bytes]  # per part of the multipart chunk size, for the composite checksum
    action: str = ""  # uploaded | recovered | skipped | resent
    attempts: int = 0


@dataclass
class TransferHooks:
    """Points where a caller (a test, a dry run) can act: after an upload and before verification, and before a
    batch of records is written.  A hook that raises aborts the run like a real crash would."""

    after_upload: Callable[[ServerObject], None] | None = None
    before_record: Callable[[list[ServerObject]], None] | None = None


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
    # to_jsonb(a) reads optional columns (label_uri, class_name) added by the annotate stage's migration.
    sql = """
        SELECT DISTINCT ON (a.item_key)
               a.item_key, a.annotation_id, a.image_id, a.payload,
               to_jsonb(a) ->> 'label_uri' AS label_uri,
               coalesce(i.class_name, to_jsonb(a) ->> 'class_name') AS class_name,
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
# Checksums


def hash_file(path: Path, part_size: int) -> tuple[str, int, list[bytes]]:
    """sha256 hex, size and the per-part sha256 digests for ``part_size`` parts, in one read of the file."""
    whole = hashlib.sha256()
    parts: list[bytes] = []
    size = 0
    with open(path, "rb") as fh:
        while True:
            part = hashlib.sha256()
            left = part_size
            while left > 0:
                chunk = fh.read(min(READ_CHUNK, left))
                if not chunk:
                    break
                whole.update(chunk)
                part.update(chunk)
                left -= len(chunk)
                size += len(chunk)
            if left == part_size:
                break
            parts.append(part.digest())
            if left > 0:
                break
    return whole.hexdigest(), size, parts


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def expected_checksums(obj: ServerObject, multipart_threshold: int) -> set[str]:
    """The ChecksumSHA256 values S3 reports for these bytes: the plain one, or the composite of the parts."""
    full = _b64(bytes.fromhex(obj.sha256))
    if obj.size < multipart_threshold:
        return {full}
    return {full, _b64(hashlib.sha256(b"".join(obj.part_digests)).digest())}


def _part_size(settings: InspectionSettings, size: int) -> int:
    from s3transfer.utils import ChunksizeAdjuster

    # The same adjustment s3transfer makes (at most 10,000 parts), so our composite matches the server's.
    return ChunksizeAdjuster().adjust_chunksize(settings.multipart_chunk_mb * MB, size)


# ---------------------------------------------------------------------------------------------------------------
# The server


class InspectionServer:
    """The inspection server's bucket and prefix, over a boto3 S3 client."""

    def __init__(self, uri: str, client, settings: InspectionSettings, *, sleep: Callable[[float], None] = time.sleep):
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"the inspection server must be an s3:// URI, got {uri!r}")
        self.uri = uri.rstrip("/")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.client = client
        self.settings = settings
        self.sleep = sleep
        from boto3.s3.transfer import TransferConfig

        self.threshold = settings.multipart_threshold_mb * MB
        self.transfer_config = TransferConfig(multipart_threshold=self.threshold,
                                              multipart_chunksize=settings.multipart_chunk_mb * MB,
                                              use_threads=True, max_concurrency=4)

    def full_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def object_uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.full_key(key)}"

    def ensure_bucket(self) -> bool:
        """Create the bucket if it is missing (and allowed); True if it was created."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
        if not self.settings.create_bucket:
            raise TransferError(f"bucket {self.bucket} does not exist (inspection.create_bucket is false)")
        self.client.create_bucket(Bucket=self.bucket)
        log.warning("inspection server bucket %s did not exist: created it", self.bucket)
        return True

    def head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.full_key(key), ChecksumMode="ENABLED")
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def check(self, obj: ServerObject) -> str | None:
        """None when the server holds exactly these bytes; otherwise why not."""
        head = self.head(obj.key)
        if head is None:
            return "missing"
        if head.get("ContentLength") != obj.size:
            return f"size {head.get('ContentLength')} != {obj.size}"
        remote = (head.get("ChecksumSHA256") or "").split("-")[0]
        if not remote:
            return "no SHA-256 checksum on the object"
        if remote not in expected_checksums(obj, self.threshold):
            return f"checksum {remote} does not match sha256 {obj.sha256[:12]}…"
        return None

    def upload(self, obj: ServerObject) -> None:
        self.client.upload_file(str(obj.path), self.bucket, self.full_key(obj.key),
                                ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": obj.sha256}},
                                Config=self.transfer_config)

    def send(self, obj: ServerObject, hooks: TransferHooks | None = None) -> int:
        """Upload and verify, retrying transient errors and mismatches with backoff; returns attempts used."""
        last = ""
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                self.upload(obj)
                if hooks and hooks.after_upload:
                    hooks.after_upload(obj)
                problem = self.check(obj)
                if problem is None:
                    return attempt
                last = f"verification failed: {problem}"
            except Exception as err:  # noqa: BLE001 - classified right below
                if not is_transient(err):
                    raise
                last = f"{type(err).__name__}: {err}"
            log.warning("%s %s attempt %d/%d: %s", obj.item_key, obj.key, attempt, self.settings.max_attempts, last)
            if attempt < self.settings.max_attempts:
                self.sleep(self.settings.retry_base_delay_s * 2 ** (attempt - 1))
        raise TransferError(f"{obj.item_key}: {obj.key} not verified after {self.settings.max_attempts} attempts: {last}")


def is_transient(err: BaseException) -> bool:
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(err, EndpointConnectionError | ConnectionClosedError | ReadTimeoutError | ConnectTimeoutError):
        return True
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code")) in _TRANSIENT_CODES
    if isinstance(err, S3UploadFailedError):  # s3transfer wraps the ClientError in a message
        return any(code in str(err) for code in _TRANSIENT_CODES) or "Connection" in str(err)
    return isinstance(err, ConnectionError | TimeoutError)


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
        sha, size, parts = hash_file(path, _part_size(s, size))
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
    conn.commit()


def transfer_passed(conn, config: ProjectConfig, server: InspectionServer, *, batch_id: str,
                    run_id: str | None = None, item_keys: list[str] | None = None, source_client=None,
                    hooks: TransferHooks | None = None) -> TransferResult:
    """Send every passed item not on the server yet (and re-send changed ones), then write the manifest."""
    started = time.monotonic()
    result = TransferResult(batch_id=batch_id, server_uri=server.uri)
    server.ensure_bucket()
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO batches (batch_id, stage, run_id, source_uri) VALUES (%s, 'inspection', %s, %s)
                       ON CONFLICT (batch_id) DO NOTHING""", (batch_id, run_id or batch_id, server.uri))
    conn.commit()
    items = passed_items(conn, item_keys)
    result.items = len(items)
    recorded = _recorded_for(conn, [i.item_key for i in items])
    pending: list[ServerObject] = []
    tmp = Path(tempfile.mkdtemp(prefix="trainset-transfer-"))

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
            if error is not None:
                log.error("transfer of %s failed: %s", item.item_key, error)
                result.failed.append((item.item_key, error))
            for obj in objs:
                result.actions[obj.action] += 1
                if obj.action in ("uploaded", "resent"):
                    result.bytes_sent += obj.size
                if obj.action != "skipped":
                    pending.append(obj)
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
    conn.commit()
    return result


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


# ---------------------------------------------------------------------------------------------------------------
# The manifest

MANIFEST_COLUMNS = ("item_key", "kind", "object_key", "size_bytes", "sha256", "transferred_at")


def _safe_name(batch_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", batch_id).strip("_")


def manifest_rows(conn, server: InspectionServer, batch_id: str) -> list[dict]:
    strip = len(f"s3://{server.bucket}/") + (len(server.prefix) + 1 if server.prefix else 0)
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, """
            SELECT item_key, kind, object_uri, size_bytes, sha256, transferred_at FROM transfers
            WHERE batch_id = %s AND kind IN ('image', 'label') AND status = 'verified'
            ORDER BY item_key, kind""", (batch_id,))
    return [{"item_key": r["item_key"], "kind": r["kind"], "object_key": r["object_uri"][strip:],
             "size_bytes": r["size_bytes"], "sha256": r["sha256"].strip(),
             "transferred_at": r["transferred_at"].astimezone(dt.UTC).isoformat(timespec="seconds")}
            for r in rows]


def write_manifest(conn, server: InspectionServer, batch_id: str, tmp: Path, result: TransferResult) -> None:
    rows = manifest_rows(conn, server, batch_id)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_bytes = buf.getvalue().encode("utf-8")
    items = sorted({r["item_key"] for r in rows})
    json_bytes = (json.dumps({"batch_id": batch_id, "server": server.uri, "items": len(items),
                              "objects": rows}, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    name = _safe_name(batch_id)
    written = []
    for ext, data in (("csv", csv_bytes), ("json", json_bytes)):
        path = tmp / f"manifest.{ext}"
        path.write_bytes(data)
        sha, size, parts = hash_file(path, _part_size(server.settings, len(data)))
        obj = ServerObject(item_key=batch_id, kind="manifest", key=f"{server.settings.manifest_prefix}/{name}.{ext}",
                           path=path, size=size, sha256=sha, part_digests=parts)
        if server.check(obj) is not None:
            obj.attempts = server.send(obj)
        written.append(obj)
    with conn.cursor() as cur:
        db.execute_batch(cur, """
            INSERT INTO transfers (item_key, kind, object_uri, size_bytes, sha256, status, attempts, batch_id)
            VALUES %s ON CONFLICT (item_key, kind, sha256) DO NOTHING""",
            [(o.item_key, "manifest", server.object_uri(o.key), o.size, o.sha256, "verified", max(o.attempts, 1),
              batch_id) for o in written])
        counts = result.counts
        cur.execute("""
            INSERT INTO transfer_manifests (batch_id, csv_uri, json_uri, csv_sha256, item_count, object_count, counts)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (batch_id) DO UPDATE SET csv_uri = EXCLUDED.csv_uri, json_uri = EXCLUDED.json_uri,
                csv_sha256 = EXCLUDED.csv_sha256, item_count = EXCLUDED.item_count,
                object_count = EXCLUDED.object_count, counts = EXCLUDED.counts, written_at = now()""",
            (batch_id, server.object_uri(written[0].key), server.object_uri(written[1].key), written[0].sha256,
             len(items), len(rows), json.dumps(counts)))
        cur.execute("DELETE FROM transfer_manifest_items WHERE batch_id = %s", (batch_id,))
        db.execute_batch(cur, """
            INSERT INTO transfer_manifest_items (batch_id, item_key, kind, object_key, size_bytes, sha256,
                                                 transferred_at) VALUES %s""",
            [(batch_id, r["item_key"], r["kind"], r["object_key"], r["size_bytes"], r["sha256"], r["transferred_at"])
             for r in rows])
    conn.commit()
    result.manifest_csv_uri = server.object_uri(written[0].key)
    result.manifest_json_uri = server.object_uri(written[1].key)
