"""A balanced training view: minority classes oversampled with augmentation, majority classes undersampled by
cluster.  Only ever applied to the training split (validation and test are never touched by the caller).

- ``augment``: one augmented copy of an image and its boxes (albumentations, MIT): flip, small rotation,
  scale/crop, brightness/contrast/gamma.  Geometric transforms move the boxes with the pixels (COCO xywh in
  pixels); boxes pushed mostly out of frame are dropped.  Deterministic for a (source, copy index) pair: the seed is
  derived from both, so a rebuilt release has the same files.  The transform applied is returned for the manifest.
- ``undersample_by_cluster``: k-means over the features (scikit-learn), then the same share kept from every
  cluster (nearest to the centre first), so the kept majority still spans the class.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass
class Augmented:
    data: bytes  # JPEG
    width: int
    height: int
    boxes: list[tuple[float, float, float, float]]  # COCO xywh, pixels
    labels: list[str]
    transform: dict  # what was applied (recorded in the manifest with the source)


def _seed(source_key: str, copy_index: int) -> int:
    return int(hashlib.sha256(f"{source_key}#{copy_index}".encode()).hexdigest()[:8], 16)


def _pipeline():
    import albumentations as A

    return A.Compose([
        A.HorizontalFlip(p=0.5),
        A.Affine(rotate=(-10, 10), scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), p=0.8),
        A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.7),
        A.RandomGamma(gamma_limit=(85, 115), p=0.5),
    ], bbox_params=A.BboxParams(format="coco", label_fields=["labels"], min_visibility=0.4, clip=True),
        save_applied_params=True)


def augment(image_bytes: bytes, boxes: list[tuple[float, float, float, float]], labels: list[str], *,
            source_key: str, copy_index: int, jpeg_quality: int = 92) -> Augmented:
    with Image.open(io.BytesIO(image_bytes)) as im:
        rgb = np.asarray(im.convert("RGB"))
    pipeline = _pipeline()
    pipeline.set_random_seed(_seed(source_key, copy_index))
    out = pipeline(image=rgb, bboxes=np.array(boxes, np.float32).reshape(-1, 4), labels=list(labels))
    img = out["image"]
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=jpeg_quality)
    applied = {name: {k: _plain(v) for k, v in params.items() if k in ("rotate", "scale", "translate_percent",
                                                                           "brightness_limit", "contrast_limit",
                                                                           "gamma", "alpha", "beta")}
               for name, params in (out.get("applied_transforms") or [])}
    return Augmented(buf.getvalue(), img.shape[1], img.shape[0],
                     [tuple(float(v) for v in b) for b in out["bboxes"]], list(out["labels"]),
                     {"seed": _seed(source_key, copy_index), "copy": copy_index, "applied": applied})


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


def undersample_by_cluster(ids: list[int], vectors: np.ndarray, keep: int, *, clusters: int | None = None
                           ) -> list[int]:
    """``keep`` of ``ids``: k-means clusters over standardised features, each cluster keeping its share (largest
    remainders), nearest to its centre first.  Deterministic (fixed k-means seed, ties by id)."""
    from sklearn.cluster import KMeans

    if keep >= len(ids):
        return sorted(ids)
    order = np.argsort(ids)
    ids_sorted = [ids[i] for i in order]
    x = np.asarray(vectors, np.float64)[order]
    x = (x - x.mean(0)) / np.where(x.std(0) > 1e-9, x.std(0), 1.0)
    k = clusters or max(2, min(keep, int(round(len(ids) ** 0.5))))
    km = KMeans(n_clusters=k, n_init=4, random_state=0).fit(x)
    labels = km.labels_
    sizes = np.bincount(labels, minlength=k)
    quota = sizes * keep / len(ids)
    take = np.floor(quota).astype(int)
    for c in np.argsort(-(quota - take), kind="stable")[: keep - int(take.sum())]:
        take[c] += 1
    kept = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        dist = ((x[members] - km.cluster_centers_[c]) ** 2).sum(axis=1)
        ranked = members[np.lexsort((members, dist))]
        kept += [ids_sorted[i] for i in ranked[: take[c]]]
    return sorted(kept)


def build_balanced_view(conn, out, items, plan, report: dict, read) -> dict:
    """The optional balanced training view under ``out/balanced/``: the training split's images, minority classes
    topped up with augmented copies to the sampling plan's target, majority classes cut by cluster.  Validation
    and test are not part of it.  ``balanced/manifest.json`` lists every file with its source and transform.
    Returns per-class counts before/after for the data card."""
    import json
    from pathlib import Path

    from trainset.curation.features import FEATURES_VERSION

    root = Path(out) / "balanced"
    images = root / "train" / "images"
    images.mkdir(parents=True, exist_ok=True)
    train = sorted((i for i in items if plan.assignment[i.item_key] == "train"), key=lambda i: i.item_key)
    with conn.cursor() as cur:
        cur.execute("SELECT i.image_id, f.vector FROM images i JOIN image_features f ON f.sha256 = i.sha256 "
                    "AND f.kind = %s WHERE i.image_id = ANY(%s)", (FEATURES_VERSION, [i.image_id for i in train]))
        features = dict(cur.fetchall())
    target = {r["class_name"]: r["target"] for r in report["sampling_plan"]}
    entries, counts = [], {}
    for class_name in sorted({i.class_name for i in train}):
        members = [i for i in train if i.class_name == class_name]
        goal = int(target.get(class_name) or len(members))
        kept = members
        if goal < len(members) and all(i.image_id in features for i in members):
            keep_ids = set(undersample_by_cluster([i.image_id for i in members],
                                                  np.array([features[i.image_id] for i in members]), goal))
            kept = [i for i in members if i.image_id in keep_ids]
        elif goal < len(members):
            kept = members[:goal]
        for i in kept:
            entries.append({"file": f"train/images/{i.file_name}", "class_name": class_name, "source": i.item_key,
                            "source_file": i.file_name, "transform": None,
                            "boxes": [list(o.bbox) for o in i.objects]})
            _write(images / i.file_name, read(i.location))
        made = 0
        while len(kept) + made < goal:
            src = members[made % len(members)]
            copy = made // len(members)
            a = augment(read(src.location), [o.bbox for o in src.objects], [o.class_name for o in src.objects],
                        source_key=src.item_key, copy_index=copy)
            name = f"{src.stem}_aug{copy:02d}.jpg"
            _write(images / name, a.data)
            entries.append({"file": f"train/images/{name}", "class_name": class_name, "source": src.item_key,
                            "source_file": src.file_name, "transform": a.transform,
                            "boxes": [list(b) for b in a.boxes], "box_labels": a.labels})
            made += 1
        counts[class_name] = {"before": len(members), "after": len(kept) + made, "augmented": made,
                              "dropped": len(members) - len(kept)}
    _write(root / "manifest.json", json.dumps({"split": "train", "files": entries, "counts": counts},
                                              ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8"))
    return counts


def _write(path, data: bytes) -> None:
    import os

    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # atomic
