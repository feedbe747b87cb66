"""``trainset audit``: the pipeline's invariants, checked over every storage root and the records DB.

Each breach is one dict (``kind``, ``uri`` or ``key``, ``detail``); the command prints them as JSON lines and
exits 1 when there is any. The kinds:

- ``file_without_row``: a file in ``raw``, ``warehouse``, ``quarantine`` or ``training`` that no record accounts
  for (raw: an accepted image's ``<class>/<sha[:2]>/<sha>.<ext>``; warehouse/quarantine: an ``images.location``
  or ``quarantine.location``; training: a file inside a release listed in its manifest, or a release folder with
  a ``releases`` row). The drop zone (not collected yet), ``labeling`` (people's uploads) and ``reports``
  (derived views) are inputs or outputs, not records, and are not walked for this check. Names starting with
  ``.`` (tool state such as ``.gx_stores``) are skipped.
- ``row_without_file``: an ``images.location``, an image's ``quarantine.location``, a verified transfer's object
  or a release's manifest that is not there.
- ``unmasked_detection``: an image outside the zones allowed to hold raw photos (``raw`` and the ``collect`` /
  ``refine`` folders of the quarantine) where a recorded detection is not masked. A byte-identical copy of a
  raw original that has detections is unmasked by definition. A de-identified file (the warehouse object and its
  byte copies in releases and on the inspection server) is judged against its raw original (``unmasked_boxes``):
  refine's own renderer re-creates the output without masks and with the recorded boxes masked, and a box is
  masked when the stored pixels are closer to the masked rendering; second test (mask settings changed since):
  inside the box the detail energy (mean absolute difference between neighbouring grey pixels) dropped to at
  most ``MASKED_ENERGY_RATIO`` of the original's, or the pixels moved at least ``MASKED_MIN_DIFFERENCE`` grey
  levels from it. On the corpus (53 boxes) every refine mask passes and every unmasked box is flagged; a box
  whose original region is flat (energy below ``FLAT_ENERGY``) cannot be judged and is not reported.
- ``gps_in_exif``: such an image still carrying a GPS IFD in its EXIF.
- ``counted_twice``: two images rows for one sha256 both in a final state (not duplicate/quarantined/rejected),
  two rows at one location, or two warehouse files with the same bytes.
- ``item_in_two_splits``: an item (or the same image under two item keys) in two splits of one release.
- ``release_mismatch``: any other problem ``verify_release`` finds (missing file, checksum).
- ``root_unreachable``: a storage root that could not be listed (the audit could not check it).
"""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

from trainset import collect, db
from trainset.config import ProjectConfig
from trainset.imagefile import HEADER_BYTES, sniff_format
from trainset.refine.exif import GPS_IFD
from trainset.storage import Storage

KINDS = ("file_without_row", "row_without_file", "unmasked_detection", "gps_in_exif", "counted_twice",
         "item_in_two_splits", "release_mismatch", "root_unreachable")
# Roots whose every file must be accounted for by a record.
RECORDED_ROOTS = ("raw", "warehouse", "quarantine", "training")
# Quarantine folders allowed to hold raw photos (what collect and refine set aside, before de-identification).
RAW_QUARANTINE_FOLDERS = ("collect/", "refine/")
MASKED_ENERGY_RATIO = 0.6
MASKED_MIN_DIFFERENCE = 12.0
FLAT_ENERGY = 1.5
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


def _gray(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"), dtype=np.float32)


def detail_energy(region: np.ndarray) -> float:
    """Mean absolute difference between horizontally and vertically neighbouring pixels."""
    if region.shape[0] < 2 or region.shape[1] < 2:
        return 0.0
    return float((np.abs(np.diff(region, axis=0)).mean() + np.abs(np.diff(region, axis=1)).mean()) / 2)


class RecordedDetections:
    """A ``Detectors`` stand-in for ``refine.render`` that "finds" the boxes the records DB holds (original upright
    pixels), so refine's own code re-applies exactly the mask it applied then."""

    def __init__(self, boxes: list[tuple[int, int, int, int]], upright_width: int):
        self.boxes, self.upright_width = boxes, upright_width

    def detect(self, rgb: np.ndarray) -> list:
        from trainset.refine.deid import Detection

        s = rgb.shape[1] / self.upright_width  # render decodes at a reduced JPEG scale, then reports * 1/s
        return [Detection("face", x * s, y * s, w * s, h * s, 1.0, "records") for x, y, w, h in self.boxes]


def _upright_size(original: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(original)) as im:
        w, h = im.size
        orientation = int(im.getexif().get(0x0112, 1) or 1)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def unmasked_boxes(stored: bytes, original: bytes, boxes: list[tuple[int, int, int, int]],
                   config: ProjectConfig | None = None) -> list[dict]:
    """The boxes (in the original's upright full-resolution pixels) that are NOT masked in ``stored``.

    With ``config``: refine's own renderer re-creates, from the raw original, the output without masks and the
    output with the recorded boxes masked (the project's mask settings); a box is masked when the stored pixels
    are closer to the masked rendering. Either way (and when the re-rendering does not match the stored size, or
    the mask settings changed since) a box also counts as masked when its detail energy dropped or its pixels
    moved far from the original's (see the module doc)."""
    with Image.open(io.BytesIO(original)) as im:
        upright = ImageOps.exif_transpose(im).convert("RGB")
    with Image.open(io.BytesIO(stored)) as im:
        out = im.convert("RGB")
    sx, sy = out.width / upright.width, out.height / upright.height
    ref = _gray(upright.resize(out.size, Image.Resampling.BILINEAR)) if out.size != upright.size else _gray(upright)
    got = _gray(out)
    plain = masked = None
    if config is not None:
        from trainset.refine.render import render

        plain_r = render(original, config, None)
        masked_r = render(original, config, RecordedDetections(boxes, _upright_size(original)[0]))
        if (plain_r.width, plain_r.height) == out.size:
            plain = _gray(Image.open(io.BytesIO(plain_r.data)))
            masked = _gray(Image.open(io.BytesIO(masked_r.data)))
    found = []
    for x, y, w, h in boxes:
        x0, y0 = max(0, int(x * sx)), max(0, int(y * sy))
        x1, y1 = min(out.width, int((x + w) * sx + 0.5)), min(out.height, int((y + h) * sy + 0.5))
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        a, b = ref[y0:y1, x0:x1], got[y0:y1, x0:x1]
        e_ref, e_got = detail_energy(a), detail_energy(b)
        if e_ref < FLAT_ENERGY:
            continue
        diff = float(np.abs(a - b).mean())
        if plain is not None:
            d_plain = float(np.abs(plain[y0:y1, x0:x1] - b).mean())
            d_masked = float(np.abs(masked[y0:y1, x0:x1] - b).mean())
            if d_masked < d_plain:
                continue  # the stored box is refine's mask of it
        if e_got > MASKED_ENERGY_RATIO * e_ref and diff < MASKED_MIN_DIFFERENCE:
            found.append({"box": [x, y, w, h], "energy_ratio": round(e_got / e_ref, 3), "difference": round(diff, 2)})
    return found


def has_gps(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return bool(im.getexif().get_ifd(GPS_IFD))
    except Exception:  # noqa: BLE001 - not an image (labels, manifests): nothing to check
        return False


def _is_image(data: bytes) -> bool:
    return sniff_format(data[:HEADER_BYTES]) in AUDITED_FORMATS


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


def run_audit(conn, config: ProjectConfig, storages: dict[str, Storage]) -> AuditResult:
    """Check every invariant; ``storages`` maps root names (``config.storage`` fields) to opened storages."""
    result = AuditResult()
    with conn.cursor() as cur:
        images = db.fetch_dicts(cur, "SELECT image_id, sha256, format, class_name, status, location FROM images")
        quarantined = db.fetch_dicts(cur, "SELECT entity_kind, entity_key, location FROM quarantine "
                                          "WHERE location IS NOT NULL")
        detections = db.fetch_dicts(cur, "SELECT image_id, x, y, w, h FROM detections WHERE masked")
        transfers = db.fetch_dicts(cur, "SELECT object_uri, sha256, kind FROM transfers WHERE status = 'verified'")
        releases = db.fetch_dicts(cur, "SELECT release_name FROM releases")
        release_images = db.fetch_dicts(cur, """
            SELECT r.release_name, r.split, r.item_key, i.image_id FROM release_items r
            LEFT JOIN release_plan_items p USING (release_name, item_key)
            LEFT JOIN images i ON i.image_id = p.image_id""") if _table_exists(cur, "release_plan_items") else []
    result.checked["images_rows"] = len(images)
    conn.rollback()

    roots = {name: storages[name] for name in storages}
    by_id = {r["image_id"]: r for r in images}
    boxes: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
    for d in detections:
        boxes[d["image_id"]].append((d["x"], d["y"], d["w"], d["h"]))

    # ---- counted twice (records)
    final_by_sha: dict[str, list[int]] = defaultdict(list)
    by_location: dict[str, list[int]] = defaultdict(list)
    for r in images:
        if r["status"] not in FINAL_EXCLUDED:
            final_by_sha[r["sha256"]].append(r["image_id"])
        if r["location"]:
            by_location[r["location"]].append(r["image_id"])
    for sha, ids in final_by_sha.items():
        if len(ids) > 1:
            result.add("counted_twice", f"sha256:{sha}", f"images {sorted(ids)} are all counted (same bytes)")
    for loc, ids in by_location.items():
        if len(ids) > 1:
            result.add("counted_twice", loc, f"images {sorted(ids)} share one location")

    # ---- walk the roots
    listed: dict[str, dict[str, object]] = {}
    for name in roots:
        entries = _list(roots, name, result)
        if entries is not None:
            listed[name] = {e.key: e for e in entries}

    def root_of(uri: str) -> tuple[str, str] | None:
        for name, store in roots.items():
            if uri.startswith(store.uri + "/"):
                return name, uri[len(store.uri) + 1:]
        return None

    accounted: dict[str, set[str]] = defaultdict(set)
    for r in images:
        if r["status"] not in ("duplicate", "quarantined") and r["class_name"]:
            accounted["raw"].add(raw_key(r))
        if r["location"] and (where := root_of(r["location"])):
            accounted[where[0]].add(where[1])
    for q in quarantined:
        if where := root_of(q["location"]):
            accounted[where[0]].add(where[1])
    release_names = {r["release_name"] for r in releases}

    for name in ("raw", "warehouse", "quarantine"):
        for key in sorted(set(listed.get(name, {})) - accounted[name]):
            result.add("file_without_row", roots[name].child_uri(key), f"no images/quarantine row for this {name} file")
    for key in sorted(listed.get("training", {})):
        if key.split("/", 1)[0] not in release_names:
            result.add("file_without_row", roots["training"].child_uri(key), "not inside a recorded release")

    # ---- rows whose file is missing
    def missing(uri: str) -> bool:
        where = root_of(uri)
        return where is not None and where[0] in listed and where[1] not in listed[where[0]]

    for r in images:
        if r["location"] and missing(r["location"]):
            result.add("row_without_file", r["location"], f"image {r['image_id']} ({r['status']}) is not there")
    for q in quarantined:
        if q["entity_kind"] == "image" and missing(q["location"]) and not any(
                b["where"] == q["location"] for b in result.breaches):
            result.add("row_without_file", q["location"], f"quarantine row of image {q['entity_key']}")
    for t in transfers:
        if missing(t["object_uri"]):
            result.add("row_without_file", t["object_uri"], f"verified {t['kind']} transfer is not on the server")
    if "training" in listed:
        for name in sorted(release_names):
            if f"{name}/manifest.json" not in listed["training"] and not any(
                    k.startswith(f"{name}/") for k in listed["training"]):
                result.add("row_without_file", roots["training"].child_uri(name), "release folder missing")

    # ---- de-identification: every image outside raw and the raw quarantine folders
    raw_sha = {r["sha256"]: r["image_id"] for r in images}
    warehouse_verdict: dict[str, list[dict]] = {}  # sha256 of a de-identified file -> unmasked boxes
    warehouse_sha: dict[str, list[str]] = defaultdict(list)
    original_cache: dict[int, bytes | None] = {}

    def original_of(image_id: int) -> bytes | None:
        if image_id not in original_cache:
            row, data = by_id[image_id], None
            if "raw" in roots and row["class_name"]:
                try:
                    data = roots["raw"].read_bytes(raw_key(row))
                except (OSError, KeyError, ValueError):
                    data = None
            original_cache[image_id] = data
        return original_cache[image_id]

    for r in images:
        # Every row whose bytes sit where de-identified images belong (refined, refine_rework, ...).
        if not r["location"] or missing(r["location"]):
            continue
        where = root_of(r["location"])
        if where is None or where[0] == "raw" or (where[0] == "quarantine"
                                                    and where[1].startswith(RAW_QUARANTINE_FOLDERS)):
            continue
        data = roots[where[0]].read_bytes(where[1])
        sha = hashlib.sha256(data).hexdigest()
        warehouse_sha[sha].append(r["location"])
        result.checked["deidentified_images"] += 1
        if r["image_id"] in boxes:
            original = original_of(r["image_id"])
            if original is None:
                result.add("row_without_file", roots["raw"].child_uri(raw_key(r)) if "raw" in roots else "raw",
                           f"raw original of image {r['image_id']} is missing: its masks cannot be verified")
                warehouse_verdict[sha] = []
            else:
                result.checked["masked_boxes"] += len(boxes[r["image_id"]])
                warehouse_verdict[sha] = unmasked_boxes(data, original, boxes[r["image_id"]], config)
        if has_gps(data):
            result.add("gps_in_exif", r["location"], f"image {r['image_id']} keeps GPS in its EXIF")
        for bad in warehouse_verdict.get(sha, []):
            result.add("unmasked_detection", r["location"], f"image {r['image_id']}: {bad}")
    for locations in warehouse_sha.values():
        if len(locations) > 1:
            result.add("counted_twice", locations[0], f"the same bytes are also at {locations[1:]}")

    warehouse_locations = {loc for locs in warehouse_sha.values() for loc in locs}
    for name in ("quarantine", "training", "inspection_server", "warehouse"):
        for key in sorted(listed.get(name, {})):
            if name == "quarantine" and key.startswith(RAW_QUARANTINE_FOLDERS):
                continue
            uri = roots[name].child_uri(key)
            if uri in warehouse_locations:
                continue  # judged above
            data = roots[name].read_bytes(key)
            if not _is_image(data):
                continue
            result.checked[f"images_outside_raw:{name}"] += 1
            sha = hashlib.sha256(data).hexdigest()
            if sha in raw_sha and raw_sha[sha] in boxes:
                result.add("unmasked_detection", uri, f"byte-identical to the raw original of image {raw_sha[sha]}, "
                                                      f"which has {len(boxes[raw_sha[sha]])} detection(s)")
            for bad in warehouse_verdict.get(sha, []):
                result.add("unmasked_detection", uri, f"copy of a warehouse image: {bad}")
            if has_gps(data):
                result.add("gps_in_exif", uri, "keeps GPS in its EXIF")

    # ---- releases: splits and manifests
    splits: dict[tuple[str, int], set[str]] = defaultdict(set)
    for r in release_images:
        if r["image_id"] is not None:
            splits[(r["release_name"], r["image_id"])].add(r["split"])
    for (release, image_id), names in sorted(splits.items()):
        if len(names) > 1:
            result.add("item_in_two_splits", f"release:{release}", f"image {image_id} is in {sorted(names)}")
    if "training" in listed:
        from trainset.train.release import ReleaseError, verify_release

        for name in sorted(release_names):
            try:
                problems = verify_release(roots["training"], name)
            except (ReleaseError, OSError, KeyError, ValueError) as err:
                problems = [f"cannot verify: {err}"]
            for p in problems:
                result.add("item_in_two_splits" if " splits" in p else "release_mismatch", f"release:{name}", p)
        result.checked["releases"] = len(release_names)
    return result


def _table_exists(cur, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
    return cur.fetchone()[0]


def open_roots(config: ProjectConfig, s3_client=None, skip: tuple[str, ...] = ()) -> dict[str, Storage]:
    """The storage roots the audit walks (every ``config.storage`` root but the drop zone, labeling, reports)."""
    from trainset.storage import open_storage

    out = {}
    for name, uri in config.storage.model_dump().items():
        if name in ("drop_zone", "labeling", "reports") or name in skip:
            continue
        out[name] = open_storage(uri, s3_client if uri.startswith("s3://") else None)
    return out
