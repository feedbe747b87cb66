"""The collect stage: register every new file of the drop zone, catch duplicates, quarantine what is unusable.

Flow, designed so a crash at any point is healed by running the same run again:
1. scan the drop zone (a folder or an S3 prefix) and read each file once: sha256, size, sniffed format, header
   and decode check (``imagefile.inspect_image``);
2. decide each file's class (``<class>/<file>`` or ``<batch>/<class>/<file>`` layout, or the sidecar manifest
   CSV; ``layout_class``) and outcome;
3. register all rows in one transaction (natural key ``(source_uri, sha256, arrival)``: the row of a crashed
   run is reused; a file collected before and dropped again is a new arrival, an exact duplicate);
4. only then move the bytes to their recorded location (raw area or quarantine), atomically.
A file whose row exists but whose bytes are still in the drop zone is simply moved on the next run.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from trainset import db as db
from trainset.collect.records import STAGE, mark_duplicates, mark_registered, psycopg_json, record_locations, register
from trainset.config import ProjectConfig
from trainset.imagefile import extension_matches, inspect_image, sha256_stream
from trainset.step import StepContext, StepResult
from trainset.storage import Entry, Storage, transfer

log = logging.getLogger(__name__)

# Reason codes this stage records (quarantine.reason_code, images.reason_codes).
REASONS = ("zero_byte", "unknown_format", "unsupported_format", "corrupt", "truncated", "decompression_bomb",
           "too_large", "unreadable_name", "missing_class", "unknown_layout", "unknown_class", "exact_duplicate")


@dataclass
class Examined:
    entry: Entry
    sha256: str = ""
    size: int = 0
    format: str | None = None
    width: int | None = None
    height: int | None = None
    class_name: str | None = None
    reason: str | None = None
    detail: str = ""
    warnings: list[str] = field(default_factory=list)
    duplicate_of: int | None = None
    image_id: int | None = None
    status: str = "raw"
    target_uri: str = ""
    already_registered: bool = False
    arrival: int = 0  # 0: first arrival of (source_uri, sha256); n: its n-th re-drop (see _mark_registered)

    @property
    def original_name(self) -> str:
        return safe_text(PurePosixPath(self.entry.key).name)

    @property
    def source_uri(self) -> str:
        return safe_text(self.entry.uri)


@dataclass
class CollectSummary:
    batch_id: str
    seen: int = 0
    registered: int = 0
    already_registered: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: Counter = field(default_factory=Counter)
    per_class: Counter = field(default_factory=Counter)
    moved: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {
            "batch_id": self.batch_id, "seen": self.seen, "registered": self.registered,
            "already_registered": self.already_registered, "accepted": self.accepted,
            "duplicates": self.duplicates, "quarantined": dict(sorted(self.quarantined.items())),
            "quarantined_total": sum(self.quarantined.values()), "per_class": dict(sorted(self.per_class.items())),
            "moved": self.moved, "seconds": round(self.seconds, 3), "dry_run": self.dry_run,
        }

    def line(self) -> str:
        """The one line a PM reads in the task log."""
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.quarantined.items())) or "none"
        if self.dry_run:
            return self.dry_run_line(reasons)
        return (f"collect {self.batch_id}: seen {self.seen}, registered {self.registered} "
                f"(accepted {self.accepted}), already registered {self.already_registered}, "
                f"duplicates {self.duplicates}, quarantined {sum(self.quarantined.values())} ({reasons}); "
                f"{self.seen / self.seconds if self.seconds else 0:.1f} files/s")

    def dry_run_line(self, reasons: str) -> str:
        """A dry run wrote and moved nothing: say what a real run would do, in the conditional."""
        return (f"DRY RUN: collect {self.batch_id} wrote and moved nothing; seen {self.seen}, would register "
                f"{self.registered} (would accept {self.accepted}), already registered {self.already_registered}, "
                f"would set aside {self.duplicates} exact duplicates and quarantine "
                f"{sum(self.quarantined.values())} ({reasons}); "
                f"{self.seen / self.seconds if self.seconds else 0:.1f} files/s")


def safe_text(text: str) -> str:
    """Text that PostgreSQL and logs accept: undecodable bytes (surrogate escapes) shown as \\x.. escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def batch_id_for(run_id: str) -> str:
    return f"{STAGE}__{run_id}"


def read_manifest(storage: Storage, prefix: str, manifest_name: str) -> dict[str, str]:
    """Sidecar manifest ``file,class`` (UTF-8, header row) at the drop zone's (or prefix's) top: key → class."""
    key = f"{prefix.strip('/')}/{manifest_name}" if prefix.strip("/") else manifest_name
    if not storage.exists(key):
        return {}
    text = storage.read_bytes(key).decode("utf-8-sig")
    rows = csv.DictReader(io.StringIO(text))
    if not rows.fieldnames or not {"file", "class"} <= {f.strip() for f in rows.fieldnames}:
        raise ValueError(f"{storage.child_uri(key)}: the manifest needs the columns 'file' and 'class'")
    base = prefix.strip("/")
    return {(f"{base}/{r['file'].strip()}" if base else r["file"].strip()): r["class"].strip() for r in rows}


def class_for(key: str, prefix: str, manifest: dict[str, str]) -> str | None:
    return layout_class(key, prefix, manifest)[0]


def layout_class(key: str, prefix: str, manifest: dict[str, str]) -> tuple[str | None, str | None, str]:
    """A file's class from the drop zone's layout, relative to the scanned root (the drop zone or the
    ``source_prefix``): ``(class, reason, detail)``, reason None when the layout gives a class.

    Accepted layouts (README "Stage 1: collect"): a row of the sidecar manifest (``file,class``) at the top;
    ``<class>/<file>``; ``<batch>/<class>/<file>`` (a batch folder of any name, one level). Anything else is
    ``unknown_layout`` (a file at the top with no manifest, or deeper than ``<batch>/<class>/<file>``), and a
    top-level file a manifest does not list is ``missing_class``."""
    if key in manifest:
        return manifest[key], None, ""
    rel = key[len(prefix.strip("/")) + 1:] if prefix.strip("/") else key
    parts = rel.split("/")
    if len(parts) == 2:
        return parts[0], None, ""
    if len(parts) == 3:
        return parts[1], None, ""
    if len(parts) == 1:
        if manifest:
            return None, "missing_class", "at the top of the drop zone and not listed in the manifest"
        return None, "unknown_layout", ("at the top of the drop zone with no manifest: use <class>/<file>, "
                                        "<batch>/<class>/<file> or a manifest.csv row")
    return None, "unknown_layout", (f"{len(parts) - 1} folders deep: accepted are <class>/<file> and "
                                    "<batch>/<class>/<file> (or a manifest.csv row)")


def examine(storage: Storage, entry: Entry, config: ProjectConfig) -> Examined:
    """Read one file once: hash, sniff, header check, decode check. Never raises for bad data."""
    ex = Examined(entry)
    spec = config.image_spec
    try:
        if entry.size > spec.max_bytes:
            with storage.open(entry.key) as fh:
                ex.sha256, ex.size, _ = sha256_stream(fh)
            ex.reason, ex.detail = "too_large", f"{entry.size} bytes > {spec.max_bytes}"
            return ex
        data = storage.read_bytes(entry.key)
    except OSError as err:
        ex.reason, ex.detail = "corrupt", f"cannot read: {err}"
        return ex
    ex.sha256, ex.size, _ = sha256_stream(io.BytesIO(data))
    result = inspect_image(data, allowed_formats=set(spec.formats), max_pixels=spec.max_pixels)
    ex.format, ex.width, ex.height = result.format, result.width, result.height
    ex.reason, ex.detail = result.reason, result.detail
    if ex.reason is None and not extension_matches(entry.key, ex.format):
        ex.warnings.append("extension_mismatch")
    return ex


_EXT = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "tiff": ".tif", "bmp": ".bmp", "gif": ".gif"}


def raw_key(class_name: str, sha256: str, fmt: str | None) -> str:
    """Where collect puts an accepted image's original bytes in the raw root (the audit finds them by this too)."""
    return f"{class_name}/{sha256[:2]}/{sha256}{_EXT.get(fmt or '', '')}"


def _target_key(ex: Examined) -> str:
    if ex.status == "raw":
        return raw_key(ex.class_name, ex.sha256, ex.format)
    # Quarantined bytes keep their (made safe) name, prefixed by the image id so names never collide.
    name = ex.original_name.replace("\\", "_") if ex.entry.name_problem is None else "unreadable-name.bin"
    return f"{STAGE}/{ex.reason}/{ex.image_id}_{name}"


def run_collect(*, conn, config: ProjectConfig, drop_zone: Storage, raw: Storage, quarantine: Storage,
                run_id: str, prefix: str = "", dry_run: bool = False) -> CollectSummary:
    """Examine, register and move the drop zone's files (under ``prefix``); a dry run writes and moves nothing."""
    started = time.monotonic()
    batch_id = batch_id_for(run_id)
    summary = CollectSummary(batch_id=batch_id, dry_run=dry_run)
    examined = _examine_drop_zone(drop_zone, prefix, config)
    summary.seen = len(examined)
    with conn.cursor() as cur:
        mark_registered(cur, examined, raw, quarantine)
        mark_duplicates(cur, examined)
        _settle_status(examined)
        if dry_run:
            conn.rollback()
        else:
            register(cur, examined, batch_id, run_id, drop_zone.child_uri(prefix) if prefix else drop_zone.uri)
            for ex in examined:
                if not ex.target_uri:
                    store = raw if ex.status == "raw" else quarantine
                    ex.target_uri = store.child_uri(_target_key(ex))
            record_locations(cur, examined, batch_id)
            conn.commit()  # rows first: a crash before the move is healed by the next run (_mark_registered)
    _tally(summary, examined)
    if not dry_run:
        summary.moved = _move_files(examined, drop_zone, raw, quarantine)
        with conn.cursor() as cur:
            cur.execute("UPDATE batches SET finished_at = now(), counts = %s WHERE batch_id = %s",
                        (psycopg_json(summary.as_dict()), batch_id))
        conn.commit()
    summary.seconds = time.monotonic() - started
    return summary


def collect_step(ctx: StepContext) -> StepResult:
    """The collect task: scan the drop zone (or ``source_prefix``: a sub-folder, or a whole ``file://``/``s3://``
    URI to scan instead), register, quarantine, move; the ``raw_images`` event carries the counts (none on a dry
    run, so refine does not start)."""
    root, prefix = ctx.config.storage.drop_zone, ctx.arg("source_prefix", "")
    if "://" in prefix:
        root, prefix = prefix.rstrip("/"), ""
    dry_run = ctx.arg("dry_run", False)
    ctx.log.info("scanning %s%s", root, f" (prefix {prefix})" if prefix else "")
    summary = run_collect(conn=ctx.conn, config=ctx.config, drop_zone=ctx.storages.open(root), raw=ctx.storages.raw,
                          quarantine=ctx.storages.quarantine, run_id=ctx.run_id, prefix=prefix, dry_run=dry_run)
    counts = summary.as_dict()
    return StepResult(summary=summary.line(), xcom=counts, event_extra=None if dry_run else counts)


def _examine_drop_zone(drop_zone: Storage, prefix: str, config: ProjectConfig) -> list[Examined]:
    """Every file under ``prefix`` (the manifest aside) examined once, in parallel threads (I/O and hashing)."""
    manifest_name = config.collect.manifest_name
    manifest = read_manifest(drop_zone, prefix, manifest_name)
    entries = [e for e in drop_zone.list(prefix) if PurePosixPath(e.key).name != manifest_name]
    known_classes = set(config.class_names)

    def work(entry: Entry) -> Examined:
        ex = examine(drop_zone, entry, config)
        if entry.name_problem:
            ex.reason, ex.detail = "unreadable_name", f"file name is not usable: {entry.name_problem}"
            return ex
        ex.class_name, layout_reason, layout_detail = layout_class(entry.key, prefix, manifest)
        if ex.reason is None:
            if ex.class_name is None:
                ex.reason, ex.detail = layout_reason, layout_detail
            elif ex.class_name not in known_classes:
                ex.reason, ex.detail = "unknown_class", f"class {ex.class_name!r} is not in the taxonomy"
        return ex

    with ThreadPoolExecutor(max_workers=config.collect.hash_workers) as pool:
        return list(pool.map(work, entries))


def _settle_status(examined: list[Examined]) -> None:
    for ex in examined:
        if ex.already_registered:
            continue  # a crash being healed: the row already says what it is
        if ex.arrival:
            pass  # a re-drop: set to exact_duplicate by _mark_registered, whatever the bytes examine to
        elif ex.reason:
            ex.status = "quarantined"
        elif ex.duplicate_of is not None or ex.status == "duplicate":
            ex.status, ex.reason = "duplicate", "exact_duplicate"


def _tally(summary: CollectSummary, examined: list[Examined]) -> None:
    for ex in examined:
        if ex.already_registered:
            summary.already_registered += 1
            continue
        summary.registered += 1
        if ex.status == "raw":
            summary.accepted += 1
            summary.per_class[ex.class_name] += 1
        elif ex.status == "duplicate":
            summary.duplicates += 1
        else:
            summary.quarantined[ex.reason] += 1


def _move_files(examined: list[Examined], drop_zone: Storage, raw: Storage, quarantine: Storage) -> int:
    for ex in examined:
        store, key = _store_and_key(ex.target_uri, raw, quarantine)
        if store.exists(key) and store.size(key) == ex.size:
            drop_zone.delete(ex.entry.key)  # a re-run after a crash: the bytes already arrived
        else:
            transfer(drop_zone, ex.entry.key, store, key, remove_source=True)
    return len(examined)


def _store_and_key(uri: str, raw: Storage, quarantine: Storage) -> tuple[Storage, str]:
    """The store (raw area or collect quarantine) a recorded location lies in, and its key there. Collect only
    ever moves bytes into these two; any other location is a bug, never a reason to write elsewhere."""
    for store in (raw, quarantine):
        if uri.startswith(store.uri + "/"):
            return store, uri[len(store.uri) + 1:]
    raise ValueError(f"collect would move a file to {uri}, outside {raw.uri} and {quarantine.uri}")
