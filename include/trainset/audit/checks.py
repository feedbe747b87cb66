"""``run_audit``: one snapshot of the records, one listing of every root, then one function per check family
(the breach kinds of the ``trainset.audit`` notes), in the order their breaches are reported."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from trainset import collect, db
from trainset.audit.masks import has_gps, unmasked_boxes
from trainset.config import ProjectConfig
from trainset.imagefile import HEADER_BYTES, sniff_format
from trainset.storage import Storage

KINDS = ("file_without_row", "row_without_file", "unmasked_detection", "gps_in_exif", "counted_twice",
         "item_in_two_splits", "release_mismatch", "root_unreachable")
# Roots whose every file must be accounted for by a record.
RECORDED_ROOTS = ("raw", "warehouse", "quarantine", "training")
# Quarantine folders allowed to hold raw photos (what collect and refine set aside, before de-identification).
RAW_QUARANTINE_FOLDERS = ("collect/", "refine/")
# What refine writes and the inspection server and releases hold: the files that could carry an unmasked photo.
AUDITED_FORMATS = frozenset({"jpeg", "png", "webp"})
FINAL_EXCLUDED = ("duplicate", "quarantined", "rejected")


@dataclass
class AuditResult:
    breaches: list[dict] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, kind: str, where: str, detail: str) -> None:
        assert kind in KINDS, kind
        self.breaches.append({"kind": kind, "where": where, "detail": detail})

    @property
    def ok(self) -> bool:
        return not self.breaches

    def summary(self) -> dict:
        by_kind: dict[str, int] = defaultdict(int)
        for b in self.breaches:
            by_kind[b["kind"]] += 1
        return {"ok": self.ok, "breaches": len(self.breaches), "by_kind": dict(sorted(by_kind.items())),
                "checked": dict(sorted(self.checked.items()))}

    def line(self) -> str:
        s = self.summary()
        kinds = ", ".join(f"{k} {v}" for k, v in s["by_kind"].items()) or "none"
        checked = ", ".join(f"{k} {v}" for k, v in s["checked"].items())
        return f"audit: {'clean' if self.ok else 'BREACHES'}: {s['breaches']} breaches ({kinds}); checked {checked}"


def raw_key(row: dict) -> str:
    """Where collect put an accepted image's original bytes, for an ``images`` row."""
    return collect.raw_key(row["class_name"], row["sha256"], row["format"])


@dataclass
class Snapshot:
    """What the checks read: the records (read once, in one transaction) and the listing of every root."""

    config: ProjectConfig
    roots: dict[str, Storage]
    result: AuditResult
    images: list[dict] = field(default_factory=list)
    by_id: dict[int, dict] = field(default_factory=dict)
    quarantined: list[dict] = field(default_factory=list)
    transfers: list[dict] = field(default_factory=list)
    release_names: set[str] = field(default_factory=set)
    release_images: list[dict] = field(default_factory=list)
    boxes: dict[int, list[tuple[int, int, int, int]]] = field(default_factory=lambda: defaultdict(list))
    listed: dict[str, dict[str, object]] = field(default_factory=dict)  # root name -> key -> entry
    # Filled by the de-identification check, read by the copies check: sha256 of a de-identified file -> its
    # unmasked boxes, and where each such file is.
    warehouse_verdict: dict[str, list[dict]] = field(default_factory=dict)
    warehouse_sha: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _originals: dict[int, bytes | None] = field(default_factory=dict)

    def root_of(self, uri: str) -> tuple[str, str] | None:
        for name, store in self.roots.items():
            if uri.startswith(store.uri + "/"):
                return name, uri[len(store.uri) + 1:]
        return None

    def missing(self, uri: str) -> bool:
        """The file is under a root that was listed and is not in its listing."""
        where = self.root_of(uri)
        return where is not None and where[0] in self.listed and where[1] not in self.listed[where[0]]

    def original_of(self, image_id: int) -> bytes | None:
        """The raw original's bytes (None when it cannot be read), read once per image."""
        if image_id not in self._originals:
            row, data = self.by_id[image_id], None
            if "raw" in self.roots and row["class_name"]:
                try:
                    data = self.roots["raw"].read_bytes(raw_key(row))
                except (OSError, KeyError, ValueError):
                    data = None
            self._originals[image_id] = data
        return self._originals[image_id]


def run_audit(conn, config: ProjectConfig, storages: dict[str, Storage]) -> AuditResult:
    """Check every invariant; ``storages`` maps root names (``config.storage`` fields) to opened storages."""
    snap = Snapshot(config=config, roots=dict(storages), result=AuditResult())
    _read_records(conn, snap)
    check_records_counted_twice(snap)
    _list_roots(snap)
    check_files_without_rows(snap)
    check_rows_without_files(snap)
    check_deidentified_files(snap)
    check_copies_outside_raw(snap)
    check_releases(snap)
    return snap.result


def _read_records(conn, snap: Snapshot) -> None:
    with conn.cursor() as cur:
        snap.images = db.fetch_dicts(cur, "SELECT image_id, sha256, format, class_name, status, location FROM images")
        snap.quarantined = db.fetch_dicts(cur, "SELECT entity_kind, entity_key, location FROM quarantine "
                                               "WHERE location IS NOT NULL")
        detections = db.fetch_dicts(cur, "SELECT image_id, x, y, w, h FROM detections WHERE masked")
        snap.transfers = db.fetch_dicts(cur, "SELECT object_uri, sha256, kind FROM transfers "
                                             "WHERE status = 'verified'")
        snap.release_names = {r["release_name"] for r in db.fetch_dicts(cur, "SELECT release_name FROM releases")}
        snap.release_images = db.fetch_dicts(cur, """
            SELECT r.release_name, r.split, r.item_key, i.image_id FROM release_items r
            LEFT JOIN release_plan_items p USING (release_name, item_key)
            LEFT JOIN images i ON i.image_id = p.image_id""") if _table_exists(cur, "release_plan_items") else []
    snap.result.checked["images_rows"] = len(snap.images)
    snap.by_id = {r["image_id"]: r for r in snap.images}
    conn.rollback()  # read-only: end the snapshot's transaction before the long walk over the roots
    for d in detections:
        snap.boxes[d["image_id"]].append((d["x"], d["y"], d["w"], d["h"]))


def _table_exists(cur, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
    return cur.fetchone()[0]


def _list_roots(snap: Snapshot) -> None:
    for name in snap.roots:
        entries = _list(snap.roots, name, snap.result)
        if entries is not None:
            snap.listed[name] = {e.key: e for e in entries}


def _list(storages: dict[str, Storage], name: str, result: AuditResult) -> list | None:
    try:
        entries = [e for e in storages[name].list() if not any(p.startswith(".") for p in e.key.split("/"))]
    except Exception as err:  # noqa: BLE001 - an unreachable root is reported, not a crash
        if getattr(err, "response", {}).get("Error", {}).get("Code") == "NoSuchBucket":
            result.checked[f"files:{name}"] = 0  # nothing was ever written there
            return []
        result.add("root_unreachable", storages[name].uri, f"{type(err).__name__}: {err}"[:300])
        return None
    result.checked[f"files:{name}"] = len(entries)
    return entries


def check_records_counted_twice(snap: Snapshot) -> None:
    """``counted_twice`` in the records: one sha256 in two final rows, two rows at one location."""
    final_by_sha: dict[str, list[int]] = defaultdict(list)
    by_location: dict[str, list[int]] = defaultdict(list)
    for r in snap.images:
        if r["status"] not in FINAL_EXCLUDED:
            final_by_sha[r["sha256"]].append(r["image_id"])
        if r["location"]:
            by_location[r["location"]].append(r["image_id"])
    for sha, ids in final_by_sha.items():
        if len(ids) > 1:
            snap.result.add("counted_twice", f"sha256:{sha}", f"images {sorted(ids)} are all counted (same bytes)")
    for loc, ids in by_location.items():
        if len(ids) > 1:
            snap.result.add("counted_twice", loc, f"images {sorted(ids)} share one location")


def check_files_without_rows(snap: Snapshot) -> None:
    """``file_without_row``: files in raw, warehouse, quarantine no record accounts for; training files outside
    every recorded release."""
    accounted: dict[str, set[str]] = defaultdict(set)
    for r in snap.images:
        if r["status"] not in ("duplicate", "quarantined") and r["class_name"]:
            accounted["raw"].add(raw_key(r))
        if r["location"] and (where := snap.root_of(r["location"])):
            accounted[where[0]].add(where[1])
    for q in snap.quarantined:
        if where := snap.root_of(q["location"]):
            accounted[where[0]].add(where[1])
    for name in ("raw", "warehouse", "quarantine"):
        for key in sorted(set(snap.listed.get(name, {})) - accounted[name]):
            snap.result.add("file_without_row", snap.roots[name].child_uri(key),
                            f"no images/quarantine row for this {name} file")
    for key in sorted(snap.listed.get("training", {})):
        if key.split("/", 1)[0] not in snap.release_names:
            snap.result.add("file_without_row", snap.roots["training"].child_uri(key), "not inside a recorded release")


def check_rows_without_files(snap: Snapshot) -> None:
    """``row_without_file``: image and quarantine locations, verified transfers, release folders not there."""
    result = snap.result
    for r in snap.images:
        if r["location"] and snap.missing(r["location"]):
            result.add("row_without_file", r["location"], f"image {r['image_id']} ({r['status']}) is not there")
    for q in snap.quarantined:
        if q["entity_kind"] == "image" and snap.missing(q["location"]) and not any(
                b["where"] == q["location"] for b in result.breaches):
            result.add("row_without_file", q["location"], f"quarantine row of image {q['entity_key']}")
    for t in snap.transfers:
        if snap.missing(t["object_uri"]):
            result.add("row_without_file", t["object_uri"], f"verified {t['kind']} transfer is not on the server")
    if "training" in snap.listed:
        training = snap.listed["training"]
        for name in sorted(snap.release_names):
            if f"{name}/manifest.json" not in training and not any(k.startswith(f"{name}/") for k in training):
                result.add("row_without_file", snap.roots["training"].child_uri(name), "release folder missing")


def _outside_raw_zones(where: tuple[str, str] | None) -> bool:
    return not (where is None or where[0] == "raw"
                or (where[0] == "quarantine" and where[1].startswith(RAW_QUARANTINE_FOLDERS)))


def check_deidentified_files(snap: Snapshot) -> None:
    """Every recorded image whose bytes sit where de-identified images belong (refined, refine_rework, ...):
    ``unmasked_detection`` against its raw original, ``gps_in_exif``, and ``counted_twice`` for the same bytes
    at two locations."""
    result = snap.result
    for r in snap.images:
        if not r["location"] or snap.missing(r["location"]):
            continue
        where = snap.root_of(r["location"])
        if not _outside_raw_zones(where):
            continue
        data = snap.roots[where[0]].read_bytes(where[1])
        sha = hashlib.sha256(data).hexdigest()
        snap.warehouse_sha[sha].append(r["location"])
        result.checked["deidentified_images"] += 1
        if r["image_id"] in snap.boxes:
            snap.warehouse_verdict[sha] = _unmasked_against_original(snap, r, data)
        if has_gps(data):
            result.add("gps_in_exif", r["location"], f"image {r['image_id']} keeps GPS in its EXIF")
        for bad in snap.warehouse_verdict.get(sha, []):
            result.add("unmasked_detection", r["location"], f"image {r['image_id']}: {bad}")
    for locations in snap.warehouse_sha.values():
        if len(locations) > 1:
            result.add("counted_twice", locations[0], f"the same bytes are also at {locations[1:]}")


def _unmasked_against_original(snap: Snapshot, row: dict, data: bytes) -> list[dict]:
    """The image's recorded boxes not masked in ``data``; a missing raw original is a ``row_without_file``."""
    boxes = snap.boxes[row["image_id"]]
    original = snap.original_of(row["image_id"])
    if original is None:
        snap.result.add("row_without_file", snap.roots["raw"].child_uri(raw_key(row)) if "raw" in snap.roots
                        else "raw", f"raw original of image {row['image_id']} is missing: its masks cannot be verified")
        return []
    snap.result.checked["masked_boxes"] += len(boxes)
    return unmasked_boxes(data, original, boxes, snap.config)


def check_copies_outside_raw(snap: Snapshot) -> None:
    """Image files outside raw that no record points at (copies on the inspection server, in releases, in the
    quarantine): a byte copy of a raw original with detections, or of an unmasked warehouse file, is an
    ``unmasked_detection``; GPS in the EXIF is ``gps_in_exif``."""
    raw_sha = {r["sha256"]: r["image_id"] for r in snap.images}
    warehouse_locations = {loc for locs in snap.warehouse_sha.values() for loc in locs}
    result = snap.result
    for name in ("quarantine", "training", "inspection_server", "warehouse"):
        for key in sorted(snap.listed.get(name, {})):
            if name == "quarantine" and key.startswith(RAW_QUARANTINE_FOLDERS):
                continue
            uri = snap.roots[name].child_uri(key)
            if uri in warehouse_locations:
                continue  # judged by check_deidentified_files
            data = snap.roots[name].read_bytes(key)
            if sniff_format(data[:HEADER_BYTES]) not in AUDITED_FORMATS:
                continue
            result.checked[f"images_outside_raw:{name}"] += 1
            sha = hashlib.sha256(data).hexdigest()
            if sha in raw_sha and raw_sha[sha] in snap.boxes:
                result.add("unmasked_detection", uri, f"byte-identical to the raw original of image {raw_sha[sha]}, "
                                                      f"which has {len(snap.boxes[raw_sha[sha]])} detection(s)")
            for bad in snap.warehouse_verdict.get(sha, []):
                result.add("unmasked_detection", uri, f"copy of a warehouse image: {bad}")
            if has_gps(data):
                result.add("gps_in_exif", uri, "keeps GPS in its EXIF")


def check_releases(snap: Snapshot) -> None:
    """``item_in_two_splits`` (an image under two item keys in two splits) and what ``verify_release`` finds."""
    splits: dict[tuple[str, int], set[str]] = defaultdict(set)
    for r in snap.release_images:
        if r["image_id"] is not None:
            splits[(r["release_name"], r["image_id"])].add(r["split"])
    for (release, image_id), names in sorted(splits.items()):
        if len(names) > 1:
            snap.result.add("item_in_two_splits", f"release:{release}", f"image {image_id} is in {sorted(names)}")
    if "training" not in snap.listed:
        return
    from trainset.train.release import ReleaseError
    from trainset.train.verify import verify_release

    for name in sorted(snap.release_names):
        try:
            problems = verify_release(snap.roots["training"], name)
        except (ReleaseError, OSError, KeyError, ValueError) as err:
            problems = [f"cannot verify: {err}"]
        for p in problems:
            snap.result.add("item_in_two_splits" if " splits" in p else "release_mismatch", f"release:{name}", p)
    snap.result.checked["releases"] = len(snap.release_names)


def open_roots(config: ProjectConfig, s3_client=None, skip: tuple[str, ...] = ()) -> dict[str, Storage]:
    """The storage roots the audit walks (every ``config.storage`` root but the drop zone, labeling, reports)."""
    from trainset.storage import open_storage

    out = {}
    for name, uri in config.storage.model_dump().items():
        if name in ("drop_zone", "labeling", "reports") or name in skip:
            continue
        out[name] = open_storage(uri, s3_client if uri.startswith("s3://") else None)
    return out
