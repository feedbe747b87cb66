"""Read label files of every accepted format into the canonical model, with syntax findings for what cannot be read.

Formats (detected from the content, not only the extension):
- ``aihub``: the project's per-image JSON (``include/schemas/aihub_label.schema.json``);
- ``aihub_kfashion``: AI Hub K-Fashion-style JSON with Korean keys (이미지 정보 / 데이터셋 정보 / 렉트좌표 /
  폴리곤좌표 / 라벨링), as published with AI Hub's K-Fashion dataset;
- ``coco``: a COCO instances JSON (one file, many images: one item per image entry; ``trainset.annotate.coco``);
- ``yolo``: ``<stem>.txt`` with ``class cx cy w h`` (or ``class x1 y1 x2 y2 ...`` polygons), normalised to the
  image size; class names from ``classes.txt`` / ``obj.names`` / ``data.yaml`` beside it, else the project's.

Syntax problems (encoding, JSON, schema, YOLO lines) become findings on a ``ParsedLabel`` with no item; the
JSON Schema errors map to ``schema_missing_key`` / ``schema_wrong_type`` / ``schema_bad_enum`` /
``schema_violation`` with the offending path.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

import yaml

from trainset.annotate.coco import coco_items
from trainset.annotate.model import CaptureMeta, Finding, LabelItem, LabelObject

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
# Files that travel with labels but are not labels (YOLO class lists, dataset descriptions, notes).
# Label Studio's YOLO export adds notes.json (its class list); Ultralytics leaves labels.cache after a training run.
AUX_NAMES = {"classes.txt", "obj.names", "obj.data", "data.yaml", "data.yml", "train.txt", "val.txt",
             "valid.txt", "test.txt", "dataset_meta.json", "notes.json"}
AUX_SUFFIXES = {".cache"}
NAMES_FILES = ("classes.txt", "obj.names", "data.yaml", "data.yml")

ImageSizeLookup = Callable[[str], "tuple[int, int] | None"]


@dataclass
class ParsedLabel:
    """One item read from a file, or the file itself when it could not be read (``item`` is None)."""

    item_key: str
    source_uri: str
    source_format: str
    sha256: str
    item: LabelItem | None
    findings: list[Finding] = field(default_factory=list)


def is_label_candidate(name: str) -> bool:
    base = PurePosixPath(name).name
    lower = base.lower()
    if lower.startswith(".") or lower in AUX_NAMES or lower.startswith("readme") or lower.startswith("license"):
        return False
    suffix = PurePosixPath(lower).suffix
    return suffix not in IMAGE_SUFFIXES and suffix not in AUX_SUFFIXES


@lru_cache(maxsize=8)
def _validator(schema_name: str):
    import jsonschema

    schema = json.loads((SCHEMAS_DIR / schema_name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _schema_code(error) -> str:
    if error.validator == "required":
        return "schema_missing_key"
    if error.validator == "type":
        return "schema_wrong_type"
    if error.validator in ("enum", "const"):
        return "schema_bad_enum"
    return "schema_violation"


def _leaf_errors(error):
    # Combinators (allOf/anyOf/if-then) wrap the error that says what is wrong; report that one.
    if error.context:
        for sub in error.context:
            yield from _leaf_errors(sub)
    else:
        yield error


def schema_findings(data, schema_name: str) -> list[Finding]:
    """JSON Schema errors as findings, each with the JSON path of the offending value."""
    findings = []
    seen = set()
    for top in sorted(_validator(schema_name).iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        for err in _leaf_errors(top):
            where = err.json_path
            if err.validator == "required":
                missing = re.search(r"'([^']+)' is a required property", err.message)
                if missing:
                    where = f"{where}.{missing.group(1)}"
            key = (_schema_code(err), where)
            if key not in seen:
                seen.add(key)
                findings.append(Finding(code=key[0], where=where, detail=err.message[:200]))
    return findings


def _decode_json(data: bytes) -> tuple[object | None, list[Finding]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return None, [Finding(code="invalid_utf8", where=f"byte {err.start}", detail=str(err)[:200])]
    try:
        return json.loads(text), []
    except json.JSONDecodeError as err:
        return None, [Finding(code="invalid_json", where=f"line {err.lineno} column {err.colno}", detail=err.msg)]


def _stem(name: str) -> str:
    return PurePosixPath(name).stem


# COCO's top-level keys; the project's AI Hub JSON has ``image`` (one) where COCO has ``images`` (a list).
COCO_KEYS = ("images", "categories", "licenses")
# File names the COCO writers use: instances_*.json / person_keypoints_*.json (COCO, CVAT), *_annotations.coco.json
# (Roboflow), *coco*.json; Label Studio's result.json is told apart by its content only.
_COCO_NAME = re.compile(r"(^|[_.-])(instances|person_keypoints|panoptic)_|(^|[_.-])coco([_.-]|$)", re.IGNORECASE)
_COCO_SNIFF = re.compile(r'"(images|categories|licenses)"\s*:\s*\[|"image_id"\s*:')
_KFASHION_SNIFF = re.compile(r'"(이미지 정보|데이터셋 정보)"\s*:')


def detect_json_format(data) -> str:
    """The format of parsed JSON: by its keys (a COCO file missing ``annotations`` is still COCO, so its schema
    names the missing key instead of the AI Hub schema listing everything else)."""
    if isinstance(data, dict):
        if "이미지 정보" in data or "데이터셋 정보" in data:
            return "aihub_kfashion"
        if any(k in data for k in COCO_KEYS):
            return "coco"
    return "aihub"


def sniff_json_format(name: str, data: bytes) -> str:
    """The format of a JSON file that does not parse (truncated, bad encoding): the keys that are still there,
    else the file name, else the project's own JSON."""
    text = data[:1_000_000].decode("utf-8", errors="replace")
    if _KFASHION_SNIFF.search(text):
        return "aihub_kfashion"
    if _COCO_SNIFF.search(text) or _COCO_NAME.search(PurePosixPath(name).name):
        return "coco"
    return "aihub"


def read_label(name: str, data: bytes, *, source_uri: str | None = None, class_order: list[str],
               image_size: ImageSizeLookup = lambda stem: None, yolo_names: list[str] | None = None,
               max_bytes: int | None = None) -> list[ParsedLabel]:
    """Parse one label file into items (COCO gives several); never raises on bad content."""
    source_uri = source_uri or name
    sha = hashlib.sha256(data).hexdigest()
    stem = _stem(name)
    suffix = PurePosixPath(name).suffix.lower()

    def failed(fmt: str, findings: list[Finding]) -> list[ParsedLabel]:
        return [ParsedLabel(stem, source_uri, fmt, sha, None, findings)]

    if max_bytes is not None and len(data) > max_bytes:
        return failed("unknown", [Finding(code="file_too_large", where=name, detail=f"{len(data)} bytes")])
    if suffix == ".txt":
        return [_read_yolo(stem, data, source_uri, sha, yolo_names or class_order, image_size)]
    if suffix != ".json":
        return failed("unknown", [Finding(code="unknown_format", where=name, detail=f"extension {suffix or '-'}")])
    parsed, findings = _decode_json(data)
    if findings:
        return failed(sniff_json_format(name, data), findings)
    fmt = detect_json_format(parsed)
    schema = {"aihub": "aihub_label.schema.json", "aihub_kfashion": "aihub_kfashion.schema.json",
              "coco": "coco_instances.schema.json"}[fmt]
    if findings := schema_findings(parsed, schema):
        return failed(fmt, findings)
    if fmt == "coco":
        return [ParsedLabel(item.item_key, source_uri, "coco", sha, item) for item in coco_items(parsed, source_uri)]
    item = _read_kfashion(parsed, stem, source_uri) if fmt == "aihub_kfashion" else _read_aihub(parsed, stem,
                                                                                               source_uri)
    return [ParsedLabel(stem, source_uri, fmt, sha, item)]


def _read_aihub(data: dict, stem: str, source_uri: str) -> LabelItem:
    image = data["image"]
    objects = [
        LabelObject(id=str(a["id"]), category=a["category"], bbox=a.get("bbox") if a["shape"] == "bbox" else None,
                    points=a.get("points") if a["shape"] == "polygon" else None,
                    attributes=a.get("attributes") or {})
        for a in data["annotations"]
    ]
    return LabelItem(
        item_key=stem, source_format="aihub", source_uri=source_uri, label_stem=stem,
        image_file_name=image["file_name"], width=image["width"], height=image["height"],
        class_name=image.get("class_name"), capture=CaptureMeta(**{k: data["capture"].get(k) for k in
                                                                   ("date", "time", "device", "location")}),
        objects=objects, id_scope=source_uri,
    )


def _kfashion_points(entry: dict) -> list[list[float]] | None:
    indices = sorted({int(m.group(1)) for k in entry if (m := re.fullmatch(r"[XY]좌표(\d+)", k))})
    points = []
    for i in indices:
        x, y = entry.get(f"X좌표{i}"), entry.get(f"Y좌표{i}")
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            points.append([float(x), float(y)])
    return points or None


def _read_kfashion(data: dict, stem: str, source_uri: str) -> LabelItem:
    info = data["이미지 정보"]
    detail = data["데이터셋 정보"]["데이터셋 상세설명"]
    rects, polygons, labels = detail.get("렉트좌표", {}), detail.get("폴리곤좌표", {}), detail.get("라벨링", {})
    objects = []
    for category in sorted(set(rects) | set(polygons)):
        rect_list, poly_list = rects.get(category, []), polygons.get(category, [])
        for i in range(max(len(rect_list), len(poly_list))):
            rect = rect_list[i] if i < len(rect_list) else {}
            poly = poly_list[i] if i < len(poly_list) else {}
            bbox = None
            if all(isinstance(rect.get(k), (int, float)) for k in ("X좌표", "Y좌표", "가로", "세로")):
                bbox = [float(rect["X좌표"]), float(rect["Y좌표"]), float(rect["가로"]), float(rect["세로"])]
            points = _kfashion_points(poly)
            if bbox is None and points is None:
                continue  # the format lists every garment slot, empty ones as {}
            attrs = labels.get(category, [])
            attributes = attrs[i] if i < len(attrs) and isinstance(attrs[i], dict) else {}
            # The same garment has a rect and a polygon: one object with both, so they are not "duplicates".
            objects.append(LabelObject(id=f"{category}:{i}", category=category, bbox=bbox, points=points,
                                       attributes=attributes))
    return LabelItem(
        item_key=stem, source_format="aihub_kfashion", source_uri=source_uri, label_stem=stem,
        image_file_name=info["이미지 파일명"], width=info["이미지 너비"], height=info["이미지 높이"],
        objects=objects, id_scope=source_uri,
    )


def yolo_names_from(name: str, data: bytes) -> list[str] | None:
    """Class names from ``classes.txt`` / ``obj.names`` (one per line) or ``data.yaml`` (``names``)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if name.lower().endswith((".yaml", ".yml")):
        try:
            names = (yaml.safe_load(text) or {}).get("names")
        except yaml.YAMLError:
            return None
        if isinstance(names, dict):
            return [str(names[k]) for k in sorted(names)]
        return [str(n) for n in names] if isinstance(names, list) else None
    return [line.strip() for line in text.splitlines() if line.strip()]


# YOLO writers print 6 decimals (Ultralytics, Roboflow, this project's release): a box touching the right edge
# comes back as cx + w/2 = 1.0000005.  An edge within that rounding of the frame is on it, not outside it.
YOLO_ROUNDING = 1e-6


def _snap(v: float) -> float:
    if -YOLO_ROUNDING <= v < 0:
        return 0.0
    if 1 < v <= 1 + YOLO_ROUNDING:
        return 1.0
    return v


def _read_yolo(stem: str, data: bytes, source_uri: str, sha: str, names: list[str],
               image_size: ImageSizeLookup) -> ParsedLabel:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return ParsedLabel(stem, source_uri, "yolo", sha, None,
                           [Finding(code="invalid_utf8", where=f"byte {err.start}", detail=str(err)[:200])])
    size = image_size(stem)
    sx, sy = (size if size else (1, 1))
    objects, findings = [], []
    for n, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            cls = int(tokens[0])
            values = [float(t) for t in tokens[1:]]
        except ValueError:
            findings.append(Finding(code="yolo_malformed_line", where=f"line {n}", detail=line[:100]))
            continue
        if cls < 0 or not (len(values) == 4 or (len(values) >= 6 and len(values) % 2 == 0)):
            findings.append(Finding(code="yolo_malformed_line", where=f"line {n}",
                                    detail=f"{len(tokens)} fields: {line[:100]}"))
            continue
        category = names[cls] if cls < len(names) else f"class_{cls}"
        if len(values) == 4:
            cx, cy, w, h = values
            x0, x1 = _snap(cx - w / 2), _snap(cx + w / 2)
            y0, y1 = _snap(cy - h / 2), _snap(cy + h / 2)
            objects.append(LabelObject(id=str(n), category=category,
                                       bbox=[x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy]))
        else:
            pts = [[_snap(values[i]) * sx, _snap(values[i + 1]) * sy] for i in range(0, len(values), 2)]
            objects.append(LabelObject(id=str(n), category=category, points=pts))
    if findings:
        return ParsedLabel(stem, source_uri, "yolo", sha, None, findings)
    item = LabelItem(item_key=stem, source_format="yolo", source_uri=source_uri, label_stem=stem,
                     objects=objects, id_scope=source_uri, normalized=size is None)
    return ParsedLabel(stem, source_uri, "yolo", sha, item)


def parse_files(files: list[tuple[str, bytes, str]], *, class_order: list[str],
                image_size: ImageSizeLookup = lambda stem: None, max_bytes: int | None = None) -> list[ParsedLabel]:
    """Parse a set of (name, bytes, source_uri) files; YOLO class names come from a names file in the same folder."""
    names_by_dir: dict[str, list[str]] = {}
    for name, data, _ in files:
        base = PurePosixPath(name).name.lower()
        if base in NAMES_FILES:
            folder = str(PurePosixPath(name).parent)
            # classes.txt / obj.names win over data.yaml when a folder has both.
            if folder not in names_by_dir or not base.endswith((".yaml", ".yml")):
                if (names := yolo_names_from(base, data)) is not None:
                    names_by_dir[folder] = names

    def names_for(name: str) -> list[str] | None:
        # A names file applies to its folder and everything below it (labels/train/1.txt + obj.names).
        for folder in PurePosixPath(name).parents:
            if str(folder) in names_by_dir:
                return names_by_dir[str(folder)]
        return None

    out: list[ParsedLabel] = []
    for name, data, uri in sorted(files, key=lambda f: f[0]):
        if not is_label_candidate(name):
            continue
        out += read_label(PurePosixPath(name).name, data, source_uri=uri, class_order=class_order,
                          image_size=image_size, yolo_names=names_for(name), max_bytes=max_bytes)
    return out
