"""The first inspection on files, without the DB (``python -m trainset validate``): same readers, same table,
same GX suite as the DAG's ``labeling_validation``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from PIL import Image

from trainset.annotate.readers import IMAGE_SUFFIXES, parse_files
from trainset.annotate.rules import ImageFacts, RuleUnit, judge
from trainset.annotate.uploads import ZipRefused, safe_zip_members
from trainset.config import ProjectConfig


def scan_images(images_dir: Path) -> dict[str, ImageFacts]:
    """Real image sizes by file stem (header only); the first file of a stem wins."""
    out: dict[str, ImageFacts] = {}
    for path in sorted(p for p in images_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        if path.stem in out:
            continue
        try:
            with Image.open(path) as im:
                w, h = im.size
        except Exception:  # an unreadable image is "no image" for pairing; refine judges images
            continue
        out[path.stem] = ImageFacts(item_key=path.stem, width=w, height=h, location=str(path))
    return out


def _label_files(paths: list[Path], config: ProjectConfig) -> tuple[list[tuple[str, bytes, str]], list[dict]]:
    a = config.annotate
    files, problems = [], []
    for root in paths:
        candidates = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in candidates:
            rel = str(path.relative_to(root)) if root.is_dir() else path.name
            if path.suffix.lower() == ".zip":
                try:
                    members, refused = safe_zip_members(path.read_bytes(), max_members=a.zip_max_members,
                                                        max_bytes=a.zip_max_bytes, max_ratio=a.zip_max_ratio)
                except ZipRefused as err:
                    problems.append({"item": path.stem, "label": str(path), "passed": False,
                                     "reason_codes": [err.code], "reasons": [{"code": err.code, "where": str(err)}],
                                     "objects": 0})
                    continue
                for name, code, why in refused:
                    problems.append({"item": Path(name).stem, "label": f"{path}!/{name}", "passed": False,
                                     "reason_codes": [code], "reasons": [{"code": code, "where": why}], "objects": 0})
                files += [(f"{rel}!/{name}", body, f"{path}!/{name}") for name, body in members]
            elif path.suffix.lower() not in IMAGE_SUFFIXES:
                files.append((rel, path.read_bytes(), str(path)))
    return files, problems


def validate_paths(images_dir: Path, label_paths: list[Path], config: ProjectConfig, *,
                   work_date: dt.date, require_labels: bool = False, docs_dir: Path | None = None) -> list[dict]:
    """One result dict per item: item, label, format, passed, reason_codes, reasons [{code, where}], objects."""
    images = scan_images(images_dir)
    files, results = _label_files(label_paths, config)
    class_order = [c.name for c in sorted(config.classes, key=lambda c: c.id)]

    def size(stem: str):
        facts = images.get(stem)
        return (facts.width, facts.height) if facts else None

    parsed = parse_files(files, class_order=class_order, image_size=size, max_bytes=config.annotate.label_max_bytes)
    units, labeled = [], set()
    for n, p in enumerate(parsed):
        labeled.add(p.item_key)
        if p.item is not None:
            units.append(RuleUnit(ref=str(n), item_key=p.item_key, item=p.item, image=images.get(p.item_key)))
    if require_labels:
        units += [RuleUnit(ref=f"missing:{key}", item_key=key, item=None, image=facts)
                  for key, facts in sorted(images.items()) if key not in labeled]
    findings, _ = judge(units, config, work_date, docs_dir=docs_dir) if units else ({}, None)
    for n, p in enumerate(parsed):
        found = p.findings + findings.get(str(n), [])
        results.append(_result(p.item_key, p.source_uri, p.source_format, found,
                               len(p.item.objects) if p.item else 0))
    for unit in units:
        if unit.item is None:
            results.append(_result(unit.item_key, None, None, findings.get(unit.ref, []), 0))
    return results


def _result(item_key, label, fmt, found, objects) -> dict:
    return {"item": item_key, "label": label, "format": fmt, "passed": not found,
            "reason_codes": sorted({f.code for f in found}),
            "reasons": [{"code": f.code, "where": f.where} for f in found], "objects": objects}
