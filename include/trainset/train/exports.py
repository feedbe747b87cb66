"""Release exports: COCO instances JSON, YOLO (txt + data.yaml) and the AI Hub layout, plus strict readers.

Everything is written under one local folder (the release being staged) and is byte-for-byte deterministic for
the same items and split (sorted keys, fixed zip timestamps), so a retried build produces identical files and
checksums.  Layout of a release::

    images/{split}/{file}                       shared by COCO and YOLO
    annotations/instances_{split}.json          COCO
    labels/{split}/{stem}.txt + data.yaml       YOLO (Ultralytics convention: labels next to images)
    aihub/{Training|Validation|Test}/01.원천데이터/{TS|VS|TES}_{class}/{file}   (+ the same folder as .zip)
    aihub/{Training|Validation|Test}/02.라벨링데이터/{TL|VL|TEL}_{class}/{stem}.json (+ .zip)

AI Hub packages have Training and Validation only; a test split is kept apart under ``Test`` with TES/TEL so it
is never mistaken for either.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from trainset.train.items import DatasetItem, LabeledObject
from trainset.train.split import SplitPlan

AIHUB_SPLITS = {"train": ("Training", "TS", "TL"), "validation": ("Validation", "VS", "VL"),
                "test": ("Test", "TES", "TEL")}
AIHUB_SOURCE, AIHUB_LABEL = "01.원천데이터", "02.라벨링데이터"
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed so a rebuilt zip has the same checksum

ReadBytes = Callable[[str], bytes]


class ExportFormatError(ValueError):
    """An export does not read back: the message names the file and what is wrong."""


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


def _by_split(items: Sequence[DatasetItem], plan: SplitPlan) -> dict[str, list[DatasetItem]]:
    out: dict[str, list[DatasetItem]] = defaultdict(list)
    for item in sorted(items, key=lambda i: i.file_name):
        out[plan.assignment[item.item_key]].append(item)
    return {s: out.get(s, []) for s in plan.ratios}


def polygon_area(points: Sequence[tuple[float, float]]) -> float:
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, list(points[1:]) + [points[0]], strict=False))) / 2


def write_images(out: Path, items: Sequence[DatasetItem], plan: SplitPlan, read: ReadBytes) -> list[Path]:
    written = []
    for split, members in _by_split(items, plan).items():
        for item in members:
            path = out / "images" / split / item.file_name
            _write(path, read(item.location))
            written.append(path)
    return written


def write_coco(out: Path, items: Sequence[DatasetItem], plan: SplitPlan, categories: dict[str, int],
               *, release: str, version: str) -> list[Path]:
    written = []
    cats = [{"id": cid, "name": name, "supercategory": "object"} for name, cid in sorted(categories.items(),
                                                                                       key=lambda kv: kv[1])]
    for split, members in _by_split(items, plan).items():
        images, annotations = [], []
        ann_id = 0
        for image_id, item in enumerate(members, start=1):
            images.append({"id": image_id, "file_name": item.file_name, "width": item.width, "height": item.height,
                           "item_key": item.item_key,
                           "date_captured": item.capture_time.isoformat() if item.capture_time else None})
            for obj in item.objects:
                if obj.class_name not in categories:
                    raise ExportFormatError(f"{item.item_key}: object class {obj.class_name!r} is not in the taxonomy")
                ann_id += 1
                x, y, w, h = obj.bbox
                seg = [[round(v, 2) for p in obj.polygon for v in p]] if obj.polygon else []
                annotations.append({
                    "id": ann_id, "image_id": image_id, "category_id": categories[obj.class_name],
                    "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                    "area": round(polygon_area(obj.polygon) if obj.polygon else w * h, 2),
                    "segmentation": seg, "iscrowd": 0, "attributes": obj.attributes})
        doc = {"info": {"description": release, "version": version}, "licenses": [],
               "images": images, "annotations": annotations, "categories": cats}
        path = out / "annotations" / f"instances_{split}.json"
        _write(path, _json_bytes(doc))
        written.append(path)
    return written


def _yolo_line(obj: LabeledObject, index: int, width: int, height: int) -> str:
    x, y, w, h = obj.bbox
    # Clamp to the frame: YOLO readers reject coordinates outside [0, 1].
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(width), x + w), min(float(height), y + h)
    cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
    return f"{index} {cx:.6f} {cy:.6f} {(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}"


def write_yolo(out: Path, items: Sequence[DatasetItem], plan: SplitPlan, names: list[str]) -> list[Path]:
    index = {n: i for i, n in enumerate(names)}
    written = []
    for split, members in _by_split(items, plan).items():
        for item in members:
            lines = []
            for obj in item.objects:
                if obj.class_name not in index:
                    raise ExportFormatError(f"{item.item_key}: object class {obj.class_name!r} is not in the taxonomy")
                lines.append(_yolo_line(obj, index[obj.class_name], item.width, item.height))
            path = out / "labels" / split / f"{item.stem}.txt"
            _write(path, ("\n".join(lines) + "\n" if lines else "").encode())
            written.append(path)
    data = {"path": ".", "nc": len(names), "names": dict(enumerate(names))}
    for split in plan.ratios:
        data[{"validation": "val"}.get(split, split)] = f"images/{split}"
    path = out / "data.yaml"
    _write(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode())
    return written + [path]


def aihub_label(item: DatasetItem, *, release: str, version: str, split: str) -> dict:
    """The item's 라벨링데이터 JSON in the project's AI Hub-style schema (``include/schemas/aihub_label.schema.json``),
    so the annotate stage's own reader accepts what the release ships."""
    # capture.date is required by the label schema: an unknown day is written as null, never left out (a
    # release of photos without an EXIF date must still pass the project's own first inspection).
    capture: dict = {"date": None}
    declared = (item.payload or {}).get("capture") or {}
    if item.capture_time is not None:
        capture = {"date": item.capture_time.date().isoformat(), "time": item.capture_time.strftime("%H:%M:%S")}
    elif declared.get("date"):
        capture = {"date": declared["date"]}
    if item.camera:
        capture["device"] = item.camera
    annotations = []
    for n, obj in enumerate(item.objects, 1):
        ann = {"id": obj.object_id or str(n), "category": obj.class_name,
               "shape": "polygon" if obj.polygon else "bbox", "bbox": [round(v, 2) for v in obj.bbox],
               "attributes": obj.attributes}
        if obj.polygon:
            ann["points"] = [[round(x, 2), round(y, 2)] for x, y in obj.polygon]
        annotations.append(ann)
    return {
        "info": {"format": "trainset-aihub", "version": "1.0", "created": f"{release} {version} ({split})"},
        "image": {"file_name": item.file_name, "width": item.width, "height": item.height,
                  "class_name": item.class_name},
        "capture": capture,
        "annotations": annotations,
    }


def _zip_folder(folder: Path) -> Path:
    target = folder.with_suffix(".zip")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    _write(target, buf.getvalue())
    return target


def write_aihub(out: Path, items: Sequence[DatasetItem], plan: SplitPlan, read: ReadBytes, *, release: str,
                version: str) -> list[Path]:
    written: list[Path] = []
    folders: set[Path] = set()
    for split, members in _by_split(items, plan).items():
        top, source_prefix, label_prefix = AIHUB_SPLITS.get(split, (split.title(), split[:2].upper() + "S",
                                                                     split[:2].upper() + "L"))
        for item in members:
            src = out / "aihub" / top / AIHUB_SOURCE / f"{source_prefix}_{item.class_name}"
            lab = out / "aihub" / top / AIHUB_LABEL / f"{label_prefix}_{item.class_name}"
            _write(src / item.file_name, read(item.location))
            _write(lab / f"{item.stem}.json", _json_bytes(aihub_label(item, release=release, version=version,
                                                                      split=split)))
            written += [src / item.file_name, lab / f"{item.stem}.json"]
            folders |= {src, lab}
    written += [_zip_folder(f) for f in sorted(folders)]
    return written


# --- strict readers (the tests read every export back; the GX suite re-reads through the manifest) -----------

def read_yolo(root: Path) -> dict[str, dict[str, list[tuple[int, float, float, float, float]]]]:
    """Read a YOLO export strictly: data.yaml, one label file per image (and no orphan), 5 fields per line,
    class index in range, normalised coordinates inside [0, 1]."""
    data_yaml = root / "data.yaml"
    if not data_yaml.is_file():
        raise ExportFormatError("data.yaml missing")
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    names = data.get("names")
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or data.get("nc") != len(names):
        raise ExportFormatError("data.yaml: names/nc missing or inconsistent")
    out = {}
    for key in ("train", "val", "test"):
        if key not in data:
            continue
        image_dir = root / data[key]
        label_dir = root / str(data[key]).replace("images", "labels", 1)
        images = {p.stem for p in image_dir.iterdir() if p.is_file()} if image_dir.is_dir() else set()
        labels = {p.stem for p in label_dir.glob("*.txt")} if label_dir.is_dir() else set()
        if images != labels:
            raise ExportFormatError(f"{key}: images without labels {sorted(images - labels)[:5]}, "
                                    f"labels without images {sorted(labels - images)[:5]}")
        split = {}
        for stem in sorted(labels):
            rows = []
            for n, line in enumerate((label_dir / f"{stem}.txt").read_text(encoding="utf-8").splitlines(), 1):
                parts = line.split()
                if len(parts) != 5:
                    raise ExportFormatError(f"{key}/{stem}.txt:{n}: expected 5 fields, got {len(parts)}")
                cls, *coords = parts
                if not cls.isdigit() or int(cls) >= len(names):
                    raise ExportFormatError(f"{key}/{stem}.txt:{n}: class index {cls} out of range")
                values = [float(v) for v in coords]
                if not all(0.0 <= v <= 1.0 for v in values) or values[2] <= 0 or values[3] <= 0:
                    raise ExportFormatError(f"{key}/{stem}.txt:{n}: coordinates {values} outside (0, 1]")
                rows.append((int(cls), *values))
            split[stem] = rows
        out[{"val": "validation"}.get(key, key)] = split
    return out


def read_aihub(root: Path) -> dict[str, dict[str, dict]]:
    """Read an AI Hub export strictly: every 원천데이터 file has its 라벨링데이터 JSON (same stem, same class
    folder suffix), every folder has a zip with exactly its files and bytes, labels parse as UTF-8 JSON and name
    their image."""
    out: dict[str, dict[str, dict]] = {}
    for split, (top, src_prefix, lab_prefix) in AIHUB_SPLITS.items():
        base = root / top
        if not base.is_dir():
            continue
        labels: dict[str, dict] = {}
        sources: set[tuple[str, str]] = set()
        for kind, prefix in ((AIHUB_SOURCE, src_prefix), (AIHUB_LABEL, lab_prefix)):
            for folder in sorted(p for p in (base / kind).iterdir() if p.is_dir()):
                if not folder.name.startswith(prefix + "_"):
                    raise ExportFormatError(f"{folder}: folder name must start with {prefix}_")
                class_name = folder.name[len(prefix) + 1:]
                zip_path = folder.with_suffix(".zip")
                if not zip_path.is_file():
                    raise ExportFormatError(f"{folder.name}.zip missing")
                files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
                with zipfile.ZipFile(zip_path) as zf:
                    zipped = {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
                if zipped != files:
                    raise ExportFormatError(f"{zip_path.name} differs from its folder")
                for name, data in sorted(files.items()):
                    stem = name.rsplit(".", 1)[0]
                    if kind == AIHUB_SOURCE:
                        sources.add((class_name, stem))
                        continue
                    try:
                        label = json.loads(data.decode("utf-8"))
                    except (UnicodeDecodeError, json.JSONDecodeError) as err:
                        raise ExportFormatError(f"{folder.name}/{name}: not UTF-8 JSON ({err})") from None
                    image = label.get("image") or {}
                    if image.get("file_name", "").rsplit(".", 1)[0] != stem:
                        raise ExportFormatError(f"{folder.name}/{name}: names image {image.get('file_name')!r}")
                    if image.get("class_name") != class_name:
                        raise ExportFormatError(f"{folder.name}/{name}: class {image.get('class_name')!r}")
                    labels[stem] = label
        label_keys = {(lab["image"]["class_name"], stem) for stem, lab in labels.items()}
        if label_keys != sources:
            raise ExportFormatError(f"{top}: unpaired files: sources without labels "
                                    f"{sorted(sources - label_keys)[:5]}, labels without sources "
                                    f"{sorted(label_keys - sources)[:5]}")
        out[split] = labels
    return out
