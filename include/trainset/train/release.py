"""Releases: plan (split + leak check, recorded), build (exports, balance, data card), publish (files, then the
manifest last); ``verify`` checks a published one.

A release is a folder/prefix ``{training}/{name}/`` whose ``manifest.json`` lists every file with its size and
sha256, the config that produced it and the counts.  A release exists once its manifest exists; it is immutable:
planning or publishing a name that is already released is refused (:class:`ReleaseExists`), except that the
same Airflow run finishing its own release again is a no-op (retries are safe).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import yaml

from trainset.config import ProjectConfig
from trainset.db import execute_batch, fetch_dicts
from trainset.storage import Storage
from trainset.train import balance as balance_mod
from trainset.train import datacard, exports
from trainset.train.items import DatasetItem, load_passed_items
from trainset.train.split import (
    SplitPlan,
    allowed_ratio_deviation,
    group_items,
    leak_check,
    ordered_splits,
    split_items,
)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MANIFEST = "manifest.json"
FORMATS = ("coco", "yolo", "aihub")


class ReleaseExists(RuntimeError):
    """The release name is taken: releases are immutable."""


class NothingToRelease(RuntimeError):
    """No item has passed inspection yet."""


class ReleaseError(RuntimeError):
    """The release cannot be built as planned (the message says why)."""


def default_release_name(config: ProjectConfig, when: dt.datetime) -> str:
    return f"{config.project.code}-{when.strftime('%Y%m%d-%H%M%S')}"


def uri_reader(s3_client=None) -> Callable[[str], bytes]:
    """bytes of a file:// or s3:// URI (the warehouse locations recorded in ``images.location``)."""
    def read(uri: str) -> bytes:
        parsed = urlparse(uri)
        if parsed.scheme == "file":
            return Path(parsed.path).read_bytes()
        if parsed.scheme == "s3":
            if s3_client is None:
                raise ReleaseError(f"{uri} is on S3 but no S3 client was given")
            return s3_client.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
        raise ReleaseError(f"unsupported location {uri!r}")
    return read


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _released(conn, name: str) -> dict | None:
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, "SELECT r.*, b.run_id FROM releases r LEFT JOIN release_builds b USING (release_name) "
                                "WHERE r.release_name = %s", (name,))
    return rows[0] if rows else None


def _next_version(cur) -> str:
    cur.execute("SELECT coalesce(max(substring(version FROM '^v([0-9]+)$')::int), 0) FROM release_builds")
    return f"v{cur.fetchone()[0] + 1}"


def _unchanged_since(conn, items: Sequence[DatasetItem], params: dict, seed: int) -> str | None:
    """The newest published release if it holds exactly these items (same annotations) with the same params."""
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, """SELECT b.release_name, b.params, b.seed FROM release_builds b
                                   JOIN releases r USING (release_name) ORDER BY r.created_at DESC LIMIT 1""")
        if not rows:
            return None
        latest = rows[0]
        cur.execute("SELECT item_key, annotation_id FROM release_plan_items WHERE release_name = %s",
                    (latest["release_name"],))
        released = set(cur.fetchall())
    same_params = (latest["seed"] == seed and latest["params"].get("ratios") == params["ratios"]
                   and latest["params"].get("formats") == params["formats"])
    return latest["release_name"] if same_params and released == {(i.item_key, i.annotation_id) for i in items} \
        else None


def _checked_params(config: ProjectConfig, name: str, ratios: dict[str, float] | None,
                    formats: Sequence[str] | None) -> tuple[dict[str, float], list[str]]:
    """The release name checked, and the ratios and formats (config defaults when empty) checked."""
    if not NAME_RE.match(name):
        raise ReleaseError(f"release name {name!r}: use letters, digits, '.', '_' or '-' (max 100)")
    ratios = dict(ratios or config.train.split)
    if abs(sum(ratios.values()) - 1.0) > 1e-6 or any(v < 0 for v in ratios.values()):
        raise ReleaseError(f"split ratios must be non-negative and sum to 1, got {ratios}")
    formats = list(formats or config.train.formats)
    if unknown := sorted(set(formats) - set(FORMATS)):
        raise ReleaseError(f"unknown export format(s) {unknown}; known: {list(FORMATS)}")
    return ratios, formats


def _record_plan(cur, name: str, run_id: str, seed: int, params: dict, leak: dict, counts: dict,
                 items: Sequence[DatasetItem], plan: SplitPlan) -> str:
    """``release_builds`` (planned) and ``release_plan_items`` for ``name``; returns the release's version."""
    cur.execute("SELECT version FROM release_builds WHERE release_name = %s", (name,))
    row = cur.fetchone()
    version = row[0] if row else _next_version(cur)
    cur.execute("""
        INSERT INTO release_builds (release_name, version, status, run_id, seed, params, leak_check, counts)
        VALUES (%s, %s, 'planned', %s, %s, %s, %s, %s)
        ON CONFLICT (release_name) DO UPDATE SET status = 'planned', run_id = EXCLUDED.run_id,
            seed = EXCLUDED.seed, params = EXCLUDED.params, leak_check = EXCLUDED.leak_check,
            counts = EXCLUDED.counts, error = NULL, created_at = now()""",
                (name, version, run_id, seed, json.dumps(params), json.dumps(leak), json.dumps(counts)))
    cur.execute("DELETE FROM release_plan_items WHERE release_name = %s", (name,))
    by_key = {i.item_key: i for i in items}
    execute_batch(cur, "INSERT INTO release_plan_items (release_name, item_key, image_id, class_name, split, "
                       "group_key, annotation_id) VALUES %s",
                  [(name, k, by_key[k].image_id, by_key[k].class_name, s, plan.groups[k], by_key[k].annotation_id)
                   for k, s in sorted(plan.assignment.items())])
    return version


def plan_release(conn, config: ProjectConfig, *, name: str, run_id: str, ratios: dict[str, float] | None = None,
                 formats: Sequence[str] | None = None, seed: int | None = None,
                 skip_if_unchanged: bool = False) -> dict:
    """Split the passed items and record the plan and its leak check; returns the plan's summary.

    With ``skip_if_unchanged`` (automatic runs) nothing is planned when the newest release already holds exactly
    these items and annotations with the same ratios, formats and seed (:class:`NothingToRelease`)."""
    ratios, formats = _checked_params(config, name, ratios, formats)
    seed = config.train.seed if seed is None else int(seed)
    existing = _released(conn, name)
    if existing is not None:
        if existing.get("run_id") == run_id:
            return {"release": name, "version": existing["version"], "already_published": True}
        raise ReleaseExists(f"release {name!r} already exists ({existing['version']}, {existing['uri']}); "
                            "releases are immutable: choose a new name")
    items = load_passed_items(conn)
    if not items:
        raise NothingToRelease("no item has passed inspection yet")
    t = config.train
    if skip_if_unchanged and (same := _unchanged_since(conn, items, {"ratios": ratios, "formats": formats}, seed)):
        raise NothingToRelease(f"nothing changed since release {same} (same items, annotations and parameters)")
    groups = group_items(items, session_gap_minutes=t.session_gap_minutes,
                         near_duplicate_radius=config.refine.quality.near_duplicate_radius)
    plan = split_items(items, ratios, seed, groups)
    leak = leak_check(items, plan, near_duplicate_radius=config.refine.quality.near_duplicate_radius)
    if not leak["passed"]:  # cannot happen by construction; refuse rather than ship a leaking split
        raise ReleaseError(f"leak check failed: {leak}")
    params = {"ratios": ratios, "formats": formats, "session_gap_minutes": t.session_gap_minutes,
              "near_duplicate_radius": config.refine.quality.near_duplicate_radius,
              "ratio_tolerance": t.ratio_tolerance,
              "allowed_ratio_deviation": round(allowed_ratio_deviation(plan, t.ratio_tolerance), 4)}
    counts = {"items": len(items), "per_split": {s: len(plan.items_in(s)) for s in ratios},
              "per_split_class": plan.counts}
    with conn.cursor() as cur:
        version = _record_plan(cur, name, run_id, seed, params, leak, counts, items, plan)
    return {"release": name, "version": version, "already_published": False, "items": len(items),
            "groups": leak["groups"], "multi_item_groups": leak["multi_item_groups"],
            "per_split": counts["per_split"], "leak_check_passed": leak["passed"], "formats": formats,
            "ratios": ratios, "seed": seed}


def _in_split_order(ratios: dict[str, float]) -> dict[str, float]:
    """jsonb does not keep key order; train, validation, test read better than alphabetical."""
    return {s: ratios[s] for s in ordered_splits(ratios)}


def _load_plan(conn, name: str) -> tuple[dict, SplitPlan]:
    with conn.cursor() as cur:
        builds = fetch_dicts(cur, "SELECT * FROM release_builds WHERE release_name = %s", (name,))
        if not builds:
            raise ReleaseError(f"release {name!r} has no plan: run plan_release first")
        rows = fetch_dicts(cur, "SELECT item_key, split, group_key FROM release_plan_items WHERE release_name = %s",
                           (name,))
    build = builds[0]
    plan = SplitPlan(assignment={r["item_key"]: r["split"] for r in rows},
                     groups={r["item_key"]: r["group_key"] for r in rows},
                     ratios=_in_split_order(build["params"]["ratios"]), seed=build["seed"])
    per: dict[str, Counter] = {s: Counter() for s in plan.ratios}
    build["_rows"] = rows
    plan.counts = {s: dict(c) for s, c in per.items()}
    return build, plan


def _items_csv(items: Sequence[DatasetItem], plan: SplitPlan) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["item_key", "split", "group_key", "class_name", "file_name", "width", "height", "objects",
                "image_sha256"])
    for i in sorted(items, key=lambda i: i.item_key):
        w.writerow([i.item_key, plan.assignment[i.item_key], plan.groups[i.item_key], i.class_name, i.file_name,
                    i.width, i.height, len(i.objects), i.sha256])
    return buf.getvalue().encode("utf-8")


def build_release_files(conn, config: ProjectConfig, *, build: dict, plan: SplitPlan, items: list[DatasetItem],
                        out: Path, read: Callable[[str], bytes]) -> dict:
    """Write every file of the release under ``out`` (a local staging folder); returns the counts."""
    name, version, formats = build["release_name"], build["version"], build["params"]["formats"]
    class_names = config.class_names
    # Capture times leave in the project's time zone, the one refine named the files by: a photo shot at
    # 08:30 KST is 23:30 UTC the day before, and its label's capture date must be the day in its file name.
    tz = ZoneInfo(config.project.timezone)
    items = [dataclasses.replace(i, capture_time=i.capture_time.astimezone(tz))
             if i.capture_time is not None and i.capture_time.tzinfo is not None else i for i in items]
    for item in items:
        plan.counts.setdefault(plan.assignment[item.item_key], {})
    per = {s: Counter() for s in plan.ratios}
    for item in items:
        per[plan.assignment[item.item_key]][item.class_name] += 1
    plan.counts = {s: dict(sorted(c.items())) for s, c in per.items()}
    if "coco" in formats or "yolo" in formats:
        exports.write_images(out, items, plan, read)
    if "coco" in formats:
        exports.write_coco(out, items, plan, {c.name: c.id for c in config.classes}, release=name, version=version)
    if "yolo" in formats:
        exports.write_yolo(out, items, plan, class_names)
    if "aihub" in formats:
        exports.write_aihub(out, items, plan, read, release=name, version=version)
    report = balance_mod.balance_report(items, plan, class_names)
    (out / "balance.json").write_bytes(exports._json_bytes(report))
    (out / "balance.csv").write_bytes(balance_mod.balance_csv(report))
    (out / "items.csv").write_bytes(_items_csv(items, plan))
    (out / "leak_check.json").write_bytes(exports._json_bytes(build["leak_check"]))
    (out / "release_config.yaml").write_bytes(
        yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True).encode("utf-8"))
    quality = datacard.quality_figures(conn, [i.image_id for i in items])
    (out / "quality.json").write_bytes(exports._json_bytes(quality))
    plots = datacard.render_plots(out / "datacard", items, plan, report["class_names"] or class_names,
                                  datacard.pass_rates_per_day(conn))
    counts = {"items": len(items), "objects": sum(len(i.objects) for i in items),
              "per_split": report["split_sizes"], "per_split_class": report["images_per_split"],
              "ratios": plan.ratios, "imbalance_ratio": report["imbalance_ratio"],
              "quality_scope": quality["scope"], "syntax_accuracy": quality["syntax_accuracy"],
              "first_inspection_pass_rate": quality["first_inspection_pass_rate"],
              "inspection_pass_rate": quality["inspection_pass_rate"]}
    page = datacard.render_html(release=name, version=version, project_name=config.project.name, counts=counts,
                                balance=report, quality=quality, leak=build["leak_check"], plots=plots,
                                syntax_target=config.annotate.syntax_accuracy_target,
                                created_at=build["created_at"].isoformat(timespec="seconds"))
    page = datacard.insert_section(page, datacard.labeler_quality_section(conn, out / "datacard"))
    from trainset.curation.eda import render_eda

    eda = render_eda(conn, out / "datacard", items, read, threshold=config.curation.domain_outlier_threshold)
    if config.curation.balanced_view:
        from trainset.curation.balance import build_balanced_view
        from trainset.curation.eda import balanced_section

        eda += balanced_section(build_balanced_view(conn, out, items, plan, report, read))
    page = datacard.insert_section(page, eda)
    (out / "datacard" / "index.html").write_text(page, encoding="utf-8")
    return counts


def _class_groups(items: Sequence[DatasetItem], plan: SplitPlan) -> dict[str, int]:
    groups: dict[str, set[str]] = {}
    for i in items:
        groups.setdefault(i.class_name, set()).add(plan.groups[i.item_key])
    return {c: len(g) for c, g in sorted(groups.items())}


def publish_release(conn, config: ProjectConfig, *, name: str, run_id: str, storage: Storage,
                    read: Callable[[str], bytes], work_dir: Path | None = None) -> dict:
    """Build the planned release and publish it: every file, then the manifest, then the DB records."""
    existing = _released(conn, name)
    if existing is not None:
        if existing.get("run_id") == run_id:
            return _summary(existing, storage, already=True)
        raise ReleaseExists(f"release {name!r} already exists ({existing['version']}); releases are immutable")
    if storage.exists(f"{name}/{MANIFEST}"):
        raise ReleaseExists(f"{storage.child_uri(name)} already holds a release; releases are immutable")
    build, plan = _load_plan(conn, name)
    if build["run_id"] != run_id:
        raise ReleaseError(f"release {name!r} was planned by run {build['run_id']}, not {run_id}")
    items = load_passed_items(conn, plan.assignment)
    if missing := sorted(set(plan.assignment) - {i.item_key for i in items}):
        raise ReleaseError(f"{len(missing)} planned item(s) no longer pass inspection (e.g. {missing[:3]}): "
                           "plan the release again")
    tmp = Path(tempfile.mkdtemp(prefix=f"release-{name}-", dir=work_dir))
    try:
        counts = build_release_files(conn, config, build=build, plan=plan, items=items, out=tmp, read=read)
        files = []
        for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
            data = path.read_bytes()
            files.append({"path": path.relative_to(tmp).as_posix(), "size": len(data), "sha256": sha256_bytes(data)})
        manifest = {
            "release": name, "version": build["version"], "project": config.project.code, "run_id": run_id,
            "created_at": build["created_at"].isoformat(timespec="seconds"), "seed": build["seed"],
            "params": {**build["params"], "ratios": plan.ratios}, "counts": counts, "leak_check": build["leak_check"],
            "class_groups": _class_groups(items, plan), "config": config.model_dump(mode="json"), "files": files,
        }
        manifest_bytes = exports._json_bytes(manifest)
        for f in files:
            storage.put_file(f"{name}/{f['path']}", tmp / f["path"])
        storage.write_bytes(f"{name}/{MANIFEST}", manifest_bytes)  # last: its presence means "released"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    uri = storage.child_uri(name)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO releases (release_name, version, uri, manifest_sha256, counts, config) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    (name, build["version"], uri, sha256_bytes(manifest_bytes), json.dumps(counts),
                     json.dumps({"params": build["params"], "seed": build["seed"],
                                 "project": config.model_dump(mode="json")})))
        execute_batch(cur, "INSERT INTO release_items (release_name, item_key, split) VALUES %s",
                      [(name, k, s) for k, s in sorted(plan.assignment.items())])
        cur.execute("UPDATE release_builds SET status = 'published', published_at = now(), counts = %s "
                    "WHERE release_name = %s", (json.dumps(counts), name))
    conn.commit()  # the files and the manifest are published: the release's records must outlive a later failure
    return _summary(_released(conn, name), storage, already=False)


def _summary(row: dict, storage: Storage, *, already: bool) -> dict:
    name = row["release_name"]
    return {"release": name, "version": row["version"], "uri": row["uri"],
            "manifest_sha256": row["manifest_sha256"].strip(), "counts": row["counts"],
            "datacard": storage.child_uri(f"{name}/datacard/index.html"), "already_published": already}
