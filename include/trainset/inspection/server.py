"""The inspection server's bucket: upload with an S3 SHA-256 checksum, HEAD-verify size and checksum (the composite
checksum for multipart uploads, computed the same way locally), retry transient errors and mismatches with
exponential backoff up to ``inspection.max_attempts``."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from trainset.config import InspectionSettings

log = logging.getLogger(__name__)
MB = 1024 * 1024
READ_CHUNK = 1 * MB

_TRANSIENT_CODES = {"500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown",
                    "RequestTimeout", "RequestTimeTooSkewed", "Throttling", "BadDigest", "XAmzContentSHA256Mismatch"}


class TransferError(RuntimeError):
    """An object could not be sent and verified within the allowed attempts."""


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


def part_size(settings: InspectionSettings, size: int) -> int:
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
