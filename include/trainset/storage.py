"""One small interface over the storage roots of the project file: ``file://`` folders and ``s3://`` prefixes.

Stages address files by a key relative to a root, so the same code runs on a laptop folder, MinIO or S3.  Every
write is atomic: a local file is written under a temporary name and renamed; an S3 object appears whole on PUT.
The S3 client is handed in by the caller (the Airflow layer builds it from a connection), so this module never
looks up credentials itself.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse


@dataclass(frozen=True)
class Entry:
    key: str  # relative to the root, "/"-separated; undecodable bytes kept as surrogate escapes
    size: int
    uri: str
    name_problem: str | None = None  # why the name cannot be used as-is (undecodable, control characters)


def name_problem(raw: bytes) -> str | None:
    """Why a file name (as bytes from the file system) is unusable, or None if it is fine."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "undecodable"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text):
        return "control_characters"
    return None


class Storage:
    uri: str

    def list(self, prefix: str = "") -> Iterator[Entry]:
        raise NotImplementedError

    def read_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def open(self, key: str) -> BinaryIO:
        raise NotImplementedError

    def write_bytes(self, key: str, data: bytes) -> str:
        raise NotImplementedError

    def put_file(self, key: str, path: Path) -> str:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def size(self, key: str) -> int | None:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def local_path(self, key: str) -> Path | None:
        """A path on this machine for the key, when the storage is a local folder."""
        return None

    def child_uri(self, key: str) -> str:
        return f"{self.uri}/{key}" if key else self.uri

    def fetch_to(self, key: str, directory: Path) -> Path:
        """A local file with the key's bytes: the file itself for a folder, a download otherwise."""
        raise NotImplementedError


class LocalStorage(Storage):
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.uri = "file://" + str(self.root)

    def _path(self, key: str) -> Path:
        path = self.root / key
        # Keys come from data (file names, labels); refuse anything that would leave the root.
        if ".." in Path(key).parts or Path(key).is_absolute():
            raise ValueError(f"key {key!r} escapes the storage root")
        return path

    def list(self, prefix: str = "") -> Iterator[Entry]:
        base = os.fsencode(self._path(prefix)) if prefix else os.fsencode(self.root)
        root_b = os.fsencode(self.root)
        if not os.path.isdir(base):
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            # Temporary files of an atomic write in progress are not data yet.
            for name in sorted(n for n in filenames if not n.startswith(b".tmp-")):
                full = os.path.join(dirpath, name)
                rel_b = os.path.relpath(full, root_b)
                if os.path.islink(full):
                    continue
                problem = None
                for part in rel_b.split(b"/"):
                    problem = problem or name_problem(part)
                key = rel_b.decode("utf-8", "surrogateescape")
                yield Entry(key=key, size=os.stat(full).st_size, uri=self.child_uri(key), name_problem=problem)

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    # A writer killed between creating its temporary file and the rename (SIGKILL, a dead machine) leaves it
    # behind; the next write of the same key removes such leftovers once they are this old (a live writer's file
    # grows, so its mtime stays fresh).
    STALE_TMP_SECONDS = 20

    def _atomic_target(self, key: str) -> tuple[Path, Path]:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".tmp-{target.name}."
        now = time.time()
        for leftover in target.parent.glob(glob.escape(prefix) + "*"):
            with contextlib.suppress(OSError):
                if now - leftover.stat().st_mtime > self.STALE_TMP_SECONDS:
                    leftover.unlink()
        fd, tmp = tempfile.mkstemp(prefix=prefix, dir=target.parent)
        os.close(fd)
        return target, Path(tmp)

    def write_bytes(self, key: str, data: bytes) -> str:
        target, tmp = self._atomic_target(key)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return self.child_uri(key)

    def put_file(self, key: str, path: Path) -> str:
        target, tmp = self._atomic_target(key)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return self.child_uri(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path:
        return self._path(key)

    def fetch_to(self, key: str, directory: Path) -> Path:
        return self._path(key)


class S3Storage(Storage):
    def __init__(self, bucket: str, prefix: str, client):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def list(self, prefix: str = "") -> Iterator[Entry]:
        full = self._key(prefix)
        if full and not full.endswith("/"):
            full += "/"
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                key = obj["Key"][strip:]
                if key.endswith("/") or key.rsplit("/", 1)[-1].startswith(".tmp-"):
                    continue
                problem = name_problem(key.encode("utf-8", "surrogateescape"))
                yield Entry(key=key, size=obj["Size"], uri=self.child_uri(key), name_problem=problem)

    def read_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def open(self, key: str) -> BinaryIO:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]

    def write_bytes(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.child_uri(key)

    def put_file(self, key: str, path: Path) -> str:
        self.client.upload_file(str(path), self.bucket, self._key(key))
        return self.child_uri(key)

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def size(self, key: str) -> int | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"]
        except self.client.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def fetch_to(self, key: str, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="fetch-", suffix=Path(key).suffix, dir=directory)
        os.close(fd)
        self.client.download_file(self.bucket, self._key(key), tmp)
        return Path(tmp)


def open_storage(uri: str, s3_client=None) -> Storage:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return LocalStorage(parsed.path)
    if parsed.scheme == "s3":
        if s3_client is None:
            raise ValueError(f"{uri} is on S3 but no S3 client was given")
        return S3Storage(parsed.netloc, parsed.path, s3_client)
    raise ValueError(f"unsupported storage URI {uri!r} (use file:// or s3://)")


def publish_site(storage: Storage, prefix: str, site_dir: Path, *, page: str = "index.html") -> str:
    """Copy a locally built static site (a page and the files it links) to ``<root>/<prefix>/``; returns the
    page's URI.  Each file lands atomically and the page goes last, so a reader never sees a page whose images
    are not there yet."""
    files = sorted(p for p in site_dir.rglob("*") if p.is_file() and p.relative_to(site_dir).as_posix() != page)
    for path in files + [site_dir / page]:
        storage.put_file(f"{prefix}/{path.relative_to(site_dir).as_posix()}", path)
    return storage.child_uri(f"{prefix}/{page}")


def transfer(src: Storage, src_key: str, dst: Storage, dst_key: str, *, remove_source: bool) -> str:
    """Copy (or move) one file between roots; the destination appears whole or not at all."""
    src_path, dst_path = src.local_path(src_key), dst.local_path(dst_key)
    if remove_source and src_path is not None and dst_path is not None:
        dst_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(src_path, dst_path)  # same file system: one atomic rename
            return dst.child_uri(dst_key)
        except OSError:
            pass
    if src_path is not None:
        uri = dst.put_file(dst_key, src_path)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            uri = dst.put_file(dst_key, src.fetch_to(src_key, Path(tmp)))
    if remove_source:
        src.delete(src_key)
    return uri
