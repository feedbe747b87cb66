"""Measure the quality scores and hints on real boxes: simulated labelers with known error rates.

Ground truth: the corpus's plate photos (``plates/us``, ``plates/br``, ``faces/plates/eu``), each with
``X.txt`` = ``name<TAB>x<TAB>y<TAB>w<TAB>h<TAB>text``.  The class is the plate's region (``plate_us``,
``plate_br``, ``plate_eu``: their boxes really differ, e.g. in aspect ratio), the plate text is an attribute.

A simulated labeler copies every GT box, then, independently per box: misses it (``missed``); else gives it
another class (``wrong_class``); else moves it to a random place that does not touch it (``far_off``); else keeps
it with edge jitter (``jitter``: sigma as a share of the box side).  It also draws a jittered second copy of a
box (``duplicate``) and random boxes of a plate's size where there is none (``extra``, per GT box).  Every
injection is logged, so a score is compared with what was really injected (``realized``) and with the nominal rate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from trainset.annotate.model import LabelItem, LabelObject

REGIONS = {"plates/us": "plate_us", "plates/br": "plate_br", "faces/plates/eu": "plate_eu"}


def upright_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        w, h = im.size
        orientation = im.getexif().get(0x0112, 1)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def load_plate_gt(corpus: Path) -> tuple[list[LabelItem], dict[str, Path]]:
    """GT items (one per photo) and the photo of each item key."""
    items, photos = [], {}
    for folder, cls in REGIONS.items():
        for label in sorted((corpus / folder).glob("*.txt")):
            photo = label.with_suffix(".jpg")
            if not photo.exists():
                continue
            w, h = upright_size(photo)
            objects = []
            for n, line in enumerate(label.read_text(encoding="utf-8").splitlines(), 1):
                parts = line.split("\t")
                if len(parts) < 5:
                    continue
                x, y, bw, bh = (float(v) for v in parts[1:5])
                text = parts[5].strip() if len(parts) > 5 else ""
                objects.append(LabelObject(id=str(n), category=cls, bbox=[x, y, bw, bh], attributes={"text": text}))
            key = f"{cls}_{photo.stem}"
            items.append(LabelItem(item_key=key, source_format="aihub", source_uri=str(label), label_stem=key,
                                   image_file_name=photo.name, width=w, height=h, objects=objects,
                                   id_scope=str(label)))
            photos[key] = photo
    return items, photos


@dataclass
class ErrorRates:
    missed: float = 0.0
    wrong_class: float = 0.0
    far_off: float = 0.0
    duplicate: float = 0.0
    extra: float = 0.0
    jitter: float = 0.0


@dataclass
class Injected:
    gt: int = 0
    missed: int = 0
    wrong_class: int = 0
    far_off: int = 0
    duplicate: int = 0
    extra: int = 0
    kept: int = 0
    gross: set = field(default_factory=set)  # (item, object id) of far_off / wrong_class / duplicate boxes
    touched: set = field(default_factory=set)  # every (item, object id) that is not a clean copy


def _iou(a, b) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw, ih = max(0.0, min(ax2, bx2) - max(a[0], b[0])), max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _jittered(box, sigma: float, rng: random.Random, w: int, h: int) -> list[float]:
    x, y, bw, bh = box
    x1 = x + rng.gauss(0, sigma) * bw
    x2 = x + bw + rng.gauss(0, sigma) * bw
    y1 = y + rng.gauss(0, sigma) * bh
    y2 = y + bh + rng.gauss(0, sigma) * bh
    x1, x2 = sorted((max(0.0, x1), min(float(w), x2)))
    y1, y2 = sorted((max(0.0, y1), min(float(h), y2)))
    return [x1, y1, max(x2 - x1, 1.0), max(y2 - y1, 1.0)]


def _free_spot(bw: float, bh: float, w: int, h: int, avoid: list, rng: random.Random) -> list[float] | None:
    for _ in range(50):
        if bw >= w or bh >= h:
            return None
        cand = [rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh]
        if all(_iou(cand, a) == 0.0 for a in avoid):
            return cand
    return None


def simulate(gt: list[LabelItem], rates: ErrorRates, seed: int) -> tuple[list[LabelItem], Injected]:
    rng = random.Random(seed)
    classes = sorted({o.category for it in gt for o in it.objects})
    log = Injected()
    out = []
    for item in gt:
        gt_boxes = [o.bbox for o in item.objects]
        objects: list[LabelObject] = []

        def add(obj: LabelObject, *, clean: bool, gross: bool = False, objects=objects, key=item.item_key) -> None:
            oid = str(len(objects) + 1)
            objects.append(obj.model_copy(update={"id": oid}))
            if not clean:
                log.touched.add((key, oid))
            if gross:
                log.gross.add((key, oid))

        for obj in item.objects:
            log.gt += 1
            if rng.random() < rates.missed:
                log.missed += 1
                continue
            if rng.random() < rates.wrong_class:
                log.wrong_class += 1
                other = rng.choice([c for c in classes if c != obj.category])
                add(obj.model_copy(update={"category": other}), clean=False, gross=True)
                continue
            if rng.random() < rates.far_off:
                spot = _free_spot(obj.bbox[2], obj.bbox[3], item.width, item.height, gt_boxes, rng)
                if spot is not None:
                    log.far_off += 1
                    add(obj.model_copy(update={"bbox": spot}), clean=False, gross=True)
                    continue
            log.kept += 1
            box = _jittered(obj.bbox, rates.jitter, rng, item.width, item.height) if rates.jitter else obj.bbox
            add(obj.model_copy(update={"bbox": box}), clean=not rates.jitter)
            if rng.random() < rates.duplicate:
                log.duplicate += 1
                # A second click on the same plate: close to the first box, not on it.
                dup = _jittered(box, 0.04, rng, item.width, item.height)
                add(obj.model_copy(update={"bbox": dup}), clean=False, gross=True)
        n_extra = sum(rng.random() < rates.extra for _ in item.objects)
        for _ in range(n_extra):
            ref = rng.choice(item.objects)
            spot = _free_spot(ref.bbox[2], ref.bbox[3], item.width, item.height, gt_boxes, rng)
            if spot is not None:
                log.extra += 1
                add(LabelObject(category=ref.category, bbox=spot, attributes=dict(ref.attributes)), clean=False)
        out.append(item.model_copy(update={"objects": objects, "source_uri": f"sim:{seed}:{item.item_key}"}))
    return out, log


def expected_scores(log: Injected) -> dict[str, float]:
    """What the scores must be if matching attributes every injected error correctly."""
    valid = log.kept
    labeled = log.wrong_class + log.far_off + log.kept + log.duplicate + log.extra
    return {
        "recall": valid / log.gt,
        "precision": valid / labeled if labeled else 0.0,
        "accuracy": valid / (log.gt + labeled - valid),
        "missing_rate": (log.missed + log.far_off) / log.gt,
        "extra_rate": (log.far_off + log.duplicate + log.extra) / log.gt,
        "mismatching_label_rate": log.wrong_class / log.gt,
    }


def nominal_scores(rates: ErrorRates) -> dict[str, float]:
    """The same figures from the nominal rates (the expectation over many boxes)."""
    kept = (1 - rates.missed) * (1 - rates.wrong_class) * (1 - rates.far_off)
    wrong = (1 - rates.missed) * rates.wrong_class
    far = (1 - rates.missed) * (1 - rates.wrong_class) * rates.far_off
    dup = kept * rates.duplicate
    labeled = wrong + far + kept + dup + rates.extra
    return {"recall": kept, "precision": kept / labeled, "accuracy": kept / (1 + labeled - kept),
            "missing_rate": rates.missed + far, "extra_rate": far + dup + rates.extra,
            "mismatching_label_rate": wrong}
