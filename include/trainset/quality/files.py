"""Label files on disk for the quality commands (no DB): every format the first inspection reads, grouped by
labeler, and image crops for the appearance hints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from trainset.annotate.model import LabelItem
from trainset.annotate.offline import _label_files, scan_images
from trainset.annotate.readers import parse_files
from trainset.config import ProjectConfig
from trainset.quality.matching import Box

CROP_SIZE = (48, 16)  # width, height of the normalised crop the appearance descriptor reads


@dataclass
class LabelSet:
    """Items by labeler, plus what could not be read (item, label, reason codes)."""

    items: dict[str, dict[str, LabelItem]] = field(default_factory=dict)  # labeler -> item_key -> item
    problems: list[dict] = field(default_factory=list)


def labeler_of(source_uri: str, root: Path) -> str:
    """The folder name above the label file (a zip's own folder for its members)."""
    path = Path(source_uri.split("!/", 1)[0])
    return path.parent.name or root.name


def read_label_paths(paths: list[Path], config: ProjectConfig, sizes: dict[str, tuple[int, int]], *,
                     labeler: str | None = None) -> LabelSet:
    out = LabelSet()
    class_order = [c.name for c in sorted(config.classes, key=lambda c: c.id)]
    for root in paths:
        files, problems = _label_files([root], config)
        out.problems += problems
        parsed = parse_files(files, class_order=class_order, image_size=sizes.get,
                             max_bytes=config.annotate.label_max_bytes)
        for p in parsed:
            if p.item is None:
                out.problems.append({"item": p.item_key, "label": p.source_uri,
                                     "reason_codes": sorted({f.code for f in p.findings})})
                continue
            who = labeler or labeler_of(p.source_uri, root)
            item = p.item
            if item.width is None and p.item_key in sizes:
                item = item.model_copy(update={"width": sizes[p.item_key][0], "height": sizes[p.item_key][1]})
            out.items.setdefault(who, {})[p.item_key] = item
    return out


def image_sizes(images_dir: Path) -> tuple[dict[str, tuple[int, int]], dict[str, Path]]:
    facts = scan_images(images_dir)
    return ({k: (f.width, f.height) for k, f in facts.items()}, {k: Path(f.location) for k, f in facts.items()})


def crop_loader(paths: dict[str, Path]):
    """A ``CropLoader``: grey crops of the boxes of one item, each resized to ``CROP_SIZE``."""
    def load(item_key: str, boxes: list[Box]) -> list[np.ndarray | None]:
        path = paths.get(item_key)
        if path is None:
            return [None] * len(boxes)
        try:
            with Image.open(path) as im:
                grey = im.convert("L")
        except Exception:  # an unreadable image only loses the appearance hints
            return [None] * len(boxes)
        out = []
        for b in boxes:
            x1, y1 = max(0, int(b.x1)), max(0, int(b.y1))
            x2, y2 = min(grey.width, int(round(b.x2))), min(grey.height, int(round(b.y2)))
            if x2 - x1 < 2 or y2 - y1 < 2:
                out.append(None)
                continue
            crop = grey.crop((x1, y1, x2, y2)).resize(CROP_SIZE, Image.Resampling.BILINEAR)
            out.append(np.asarray(crop, dtype=np.float32) / 255.0)
        return out
    return load
