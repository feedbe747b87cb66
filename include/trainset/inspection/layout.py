"""Where an item's two files go on the inspection server (the layout is a format string in the project file).

The default is the AI Hub layout::

    Training/01.원천데이터/TS_person/TS_person_20260314_000001.jpg
    Training/02.라벨링데이터/TL_person/TS_person_20260314_000001.json
    Validation/01.원천데이터/VS_person/...      Validation/02.라벨링데이터/VL_person/...

An item's split is decided by a hash of its key, so it never moves between runs.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass

SPLITS = {"train": "Training", "validation": "Validation"}
KINDS = {"image": "01.원천데이터", "label": "02.라벨링데이터"}
PREFIXES = {("train", "image"): "TS", ("train", "label"): "TL",
            ("validation", "image"): "VS", ("validation", "label"): "VL"}
FIELDS = {"split", "kind", "prefix", "class_name", "name", "item_key", "stem", "ext"}


class LayoutError(ValueError):
    pass


@dataclass(frozen=True)
class Placement:
    split: str  # train | validation
    kind: str  # image | label
    key: str  # object key relative to the server root


def check_layout(layout: str) -> str:
    used = {name for _, name, _, _ in string.Formatter().parse(layout) if name}
    if unknown := used - FIELDS:
        raise LayoutError(f"inspection.layout uses unknown field(s) {sorted(unknown)}; allowed: {sorted(FIELDS)}")
    if not used & {"name", "item_key", "stem"}:
        raise LayoutError("inspection.layout needs {name}, {stem} or {item_key} so object keys are unique")
    return layout


def split_of(item_key: str, validation_share: float) -> str:
    """train or validation, fixed per item: the first 8 hex digits of sha256(item_key) as a fraction."""
    bucket = int(hashlib.sha256(item_key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "validation" if bucket < validation_share else "train"


def place(layout: str, *, item_key: str, kind: str, class_name: str, file_name: str,
          validation_share: float) -> Placement:
    if kind not in KINDS:
        raise LayoutError(f"kind must be image or label, got {kind!r}")
    split = split_of(item_key, validation_share)
    stem, dot, ext = file_name.rpartition(".")
    if not dot:
        stem, ext = file_name, ""
    key = check_layout(layout).format(
        split=SPLITS[split], kind=KINDS[kind], prefix=PREFIXES[(split, kind)], class_name=class_name or "unknown",
        name=file_name, item_key=item_key, stem=stem, ext=ext)
    parts = key.split("/")
    if key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise LayoutError(f"layout produced an unsafe object key {key!r} for item {item_key!r}")
    return Placement(split=split, kind=kind, key=key)
