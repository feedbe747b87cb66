"""Checking a published release against its manifest: every listed file present with its sha256, nothing
unlisted, no item in two splits, split shares within tolerance, every class in every split when possible.  The
rows feed the GX suite ``train_release`` (``check_release`` task); ``verify_release`` reads them without GX."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

from trainset.storage import Storage
from trainset.train.release import MANIFEST, ReleaseError, sha256_bytes


def read_manifest(storage: Storage, name: str) -> dict:
    key = f"{name}/{MANIFEST}"
    if not storage.exists(key):
        raise ReleaseError(f"{storage.child_uri(name)}: no {MANIFEST} (not a release)")
    return json.loads(storage.read_bytes(key).decode("utf-8"))


def release_check_rows(storage: Storage, name: str) -> list[dict]:
    """One row per thing the release suite judges (files, items, splits), for the GX suite ``train_release``.

    Columns not relevant to a row are None (GX ignores nulls), so one table carries every check."""
    manifest = read_manifest(storage, name)
    rows: list[dict] = []
    blank = {"file_exists": None, "sha256_matches": None, "split_count": None, "ratio_deviation": None,
             "allowed_deviation": None, "missing_classes": None}
    listed = {f["path"] for f in manifest["files"]}
    for f in manifest["files"]:
        key = f"{name}/{f['path']}"
        exists = storage.exists(key)
        matches = exists and sha256_bytes(storage.read_bytes(key)) == f["sha256"]
        rows.append({**blank, "check_id": f"file:{f['path']}", "kind": "file", "file_exists": int(exists),
                     "sha256_matches": int(matches)})
    # Files in the release folder that the manifest does not list (someone wrote into an immutable release).
    present = {entry.key[len(name) + 1:] for entry in storage.list(name)} - {MANIFEST}
    for rel in sorted(present - listed):
        rows.append({**blank, "check_id": f"file:{rel}", "kind": "file", "file_exists": 1, "sha256_matches": 0})
    items_csv = storage.read_bytes(f"{name}/items.csv").decode("utf-8") if "items.csv" in listed else ""
    splits_of: dict[str, set[str]] = {}
    class_split: Counter = Counter()
    for r in csv.DictReader(io.StringIO(items_csv)):
        splits_of.setdefault(r["item_key"], set()).add(r["split"])
        class_split[(r["class_name"], r["split"])] += 1
    # The same image file under two split folders is the same leak seen from the files.
    by_file: dict[str, set[str]] = {}
    for path in listed | present:
        parts = path.split("/")
        if parts[0] == "images" and len(parts) == 3:
            by_file.setdefault(parts[2], set()).add(parts[1])
    for key, splits in sorted(splits_of.items()):
        rows.append({**blank, "check_id": f"item:{key}", "kind": "item", "split_count": len(splits)})
    for file_name, splits in sorted(by_file.items()):
        rows.append({**blank, "check_id": f"image:{file_name}", "kind": "item", "split_count": len(splits)})
    ratios = manifest["params"]["ratios"]
    allowed = manifest["params"]["allowed_ratio_deviation"]
    total = max(1, len(splits_of))
    active = [s for s, r in ratios.items() if r > 0]
    for split, ratio in ratios.items():
        share = sum(n for (c, s), n in class_split.items() if s == split) / total
        possible = [c for c, n in manifest["class_groups"].items() if n >= len(active)] if ratio > 0 else []
        missing = [c for c in possible if class_split[(c, split)] == 0]
        rows.append({**blank, "check_id": f"split:{split}", "kind": "split",
                     "ratio_deviation": round(abs(share - ratio), 6), "allowed_deviation": allowed,
                     "missing_classes": len(missing)})
    return rows


def verify_release(storage: Storage, name: str) -> list[str]:
    """Problems found in a published release (empty when it verifies), without Great Expectations."""
    problems = []
    for r in release_check_rows(storage, name):
        if r["file_exists"] == 0:
            problems.append(f"{r['check_id']}: missing")
        elif r["sha256_matches"] == 0:
            problems.append(f"{r['check_id']}: checksum differs or file not in the manifest")
        if r["split_count"] is not None and r["split_count"] != 1:
            problems.append(f"{r['check_id']}: in {r['split_count']} splits")
        if r["ratio_deviation"] is not None and r["ratio_deviation"] > r["allowed_deviation"]:
            problems.append(f"{r['check_id']}: share off by {r['ratio_deviation']} (allowed {r['allowed_deviation']})")
        if r["missing_classes"]:
            problems.append(f"{r['check_id']}: {r['missing_classes']} class(es) missing")
    return problems
