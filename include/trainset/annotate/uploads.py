"""The labeling storage layout (see ``trainset.annotate``), safe zip extraction and reading a worker's upload.

Zip files are read in memory, member by member, never written by their own names: a member whose name is
absolute, climbs out (``..``), uses backslashes or a drive letter, or is a symlink is refused
(``zip_unsafe_path``); too many members (``zip_too_many_members``), too many bytes in total or a compression
ratio typical of a zip bomb (``zip_too_large``), and unreadable or encrypted archives (``zip_corrupt``) are
refused before anything is decompressed beyond the limits.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import stat
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from trainset.annotate.readers import IMAGE_SUFFIXES
from trainset.config import ProjectConfig
from trainset.storage import Storage

log = logging.getLogger(__name__)


def assignment_list_key(day: dt.date, worker_id: str) -> str:
    return f"assignments/{day.isoformat()}/{worker_id}.csv"


def upload_prefix(day: dt.date, worker_id: str | None = None) -> str:
    return f"uploads/{day.isoformat()}" + (f"/{worker_id}" if worker_id else "")


def accepted_key(item_key: str) -> str:
    return f"accepted/{item_key}.json"


@dataclass
class UploadFile:
    name: str  # path inside the worker's upload folder; zip members as "<zip>!/<member>"
    data: bytes
    source_uri: str
    container: str | None = None  # the zip it came from


@dataclass
class UploadProblem:
    name: str
    code: str
    detail: str
    source_uri: str


class ZipRefused(ValueError):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code


def _unsafe_name(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute or Windows path"
    if ".." in PurePosixPath(name).parts:
        return "climbs out of the folder (..)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    if any(ord(ch) < 32 for ch in name):
        return "control characters in the name"
    return None


def safe_zip_members(data: bytes, *, max_members: int, max_bytes: int, max_ratio: float,
                     ) -> tuple[list[tuple[str, bytes]], list[tuple[str, str, str]]]:
    """The zip's regular files as (name, bytes), and refused members as (name, code, detail).

    Raises ``ZipRefused`` when the whole archive is refused (corrupt, too many members, too large, a bomb).
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as err:
        raise ZipRefused("zip_corrupt", str(err)[:200]) from None
    if len(infos) > max_members:
        raise ZipRefused("zip_too_many_members", f"{len(infos)} members > {max_members}")
    declared = sum(i.file_size for i in infos)
    if declared > max_bytes:
        raise ZipRefused("zip_too_large", f"expands to {declared} bytes > {max_bytes}")
    compressed = sum(i.compress_size for i in infos)
    if compressed and declared > 1024 * 1024 and declared / compressed > max_ratio:
        raise ZipRefused("zip_too_large", f"compression ratio {declared / compressed:.0f} > {max_ratio:g}")
    members, refused = [], []
    total = 0
    for info in infos:
        if (why := _unsafe_name(info)) is not None:
            refused.append((info.filename, "zip_unsafe_path", why))
            continue
        if info.flag_bits & 0x1:
            raise ZipRefused("zip_corrupt", f"{info.filename}: encrypted member")
        try:
            with zf.open(info) as fh:
                # Headers can lie about sizes: never read more than the member claims (+1 to notice).
                body = fh.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
            raise ZipRefused("zip_corrupt", f"{info.filename}: {str(err)[:150]}") from None
        if len(body) > info.file_size:
            raise ZipRefused("zip_too_large", f"{info.filename}: more bytes than its header declares")
        total += len(body)
        if total > max_bytes:
            raise ZipRefused("zip_too_large", f"expands beyond {max_bytes} bytes")
        members.append((info.filename, body))
    return members, refused


def read_upload(storage: Storage, prefix: str, config: ProjectConfig) -> tuple[list[UploadFile], list[UploadProblem]]:
    """Every file of one upload folder (zips opened safely), and the problems found on the way."""
    a = config.annotate
    files: list[UploadFile] = []
    problems: list[UploadProblem] = []
    for entry in storage.list(prefix):
        rel = entry.key[len(prefix):].lstrip("/")
        if entry.name_problem:
            problems.append(UploadProblem(rel, "unknown_format", f"file name: {entry.name_problem}", entry.uri))
            continue
        if rel.lower().endswith(".zip"):
            try:
                members, refused = safe_zip_members(storage.read_bytes(entry.key), max_members=a.zip_max_members,
                                                    max_bytes=a.zip_max_bytes, max_ratio=a.zip_max_ratio)
            except ZipRefused as err:
                problems.append(UploadProblem(rel, err.code, str(err), entry.uri))
                continue
            for name, code, why in refused:
                problems.append(UploadProblem(f"{rel}!/{name}", code, why, entry.uri))
            files += [UploadFile(f"{rel}!/{name}", body, f"{entry.uri}!/{name}", container=rel)
                      for name, body in members]
        elif PurePosixPath(rel.lower()).suffix in IMAGE_SUFFIXES:
            continue  # labelers may upload the images back; the warehouse copy is the one that counts
        elif entry.size > a.label_max_bytes:
            problems.append(UploadProblem(rel, "file_too_large", f"{entry.size} bytes", entry.uri))
        else:
            files.append(UploadFile(rel, storage.read_bytes(entry.key), entry.uri))
    return files, problems


def upload_workers(labeling: Storage, day: dt.date) -> set[str]:
    """The workers with an upload folder for ``day`` (holding at least one file)."""
    prefix = upload_prefix(day)
    return {e.key[len(prefix):].lstrip("/").split("/", 1)[0] for e in labeling.list(prefix)
            if "/" in e.key[len(prefix):].lstrip("/")}


def quarantine_copy(labeling: Storage, quarantine: Storage, source_uri: str, day: dt.date,
                    worker_id: str) -> str | None:
    """Copy a rejected label (or the zip holding it) to ``quarantine/annotate/<day>/<worker>/``; returns its URI."""
    if not source_uri.startswith(labeling.uri + "/"):
        return None
    key = source_uri[len(labeling.uri) + 1:]
    container = key.split("!/", 1)[0]
    member = key.split("!/", 1)[1] if "!/" in key else None
    try:
        data = labeling.read_bytes(container)
        if member is not None:
            members, _ = safe_zip_members(data, max_members=10**6, max_bytes=1 << 62, max_ratio=1e12)
            data = dict(members).get(member)
            if data is None:
                return None
    except Exception as err:  # the record matters more than the copy
        log.warning("cannot copy %s to quarantine: %s", source_uri, err)
        return None
    name = PurePosixPath(member or container).name
    return quarantine.write_bytes(f"annotate/{day.isoformat()}/{worker_id}/{name}", data)
