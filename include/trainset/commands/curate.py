"""``python -m trainset curate outliers IMAGES_OR_DIRS... [--features classical|onnx:PATH]``: domain outliers
(a photo among illustrations, an illustration among photos) without Airflow or the records DB.

One JSON line per image: ``input``, ``domain`` (the image's own estimate), ``score`` (isolation from its group's
majority domain), ``outlier``, ``cluster`` (DBSCAN label within the group, -1 = none), ``group``.  Each folder
given (and each sub-folder holding images: class folders) is one group; loose files together form one group.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def register(sub) -> None:
    parser = sub.add_parser("curate", help="curation tools without the DB (domain outliers)", description=__doc__)
    csub = parser.add_subparsers(dest="curate_command", required=True)
    out = csub.add_parser("outliers", help="domain outliers per folder, one JSON line per image",
                          description=__doc__)
    out.add_argument("inputs", nargs="+", type=Path, metavar="IMAGES_OR_DIRS")
    out.add_argument("--features", default=None,
                     help="classical (default) or onnx:PATH; onnx adds the embedding's nearest-neighbour "
                          "distance to each line (the domain score stays on the classical features)")
    out.add_argument("--threshold", type=float, default=None,
                     help="isolation score above which an image is an outlier (default: the project file's)")
    out.add_argument("--config", type=Path, help="project file (default: include/project.yaml or $TRAINSET_CONFIG)")
    out.set_defaults(func=_outliers)


def groups_of(inputs: list[Path]) -> dict[str, list[Path]]:
    """Folder → its images (directly inside it); loose files under the group ``(files)``."""
    groups: dict[str, list[Path]] = {}
    for p in inputs:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."):
                    groups.setdefault(str(f.parent), []).append(f)
        else:
            groups.setdefault("(files)", []).append(p)
    return groups


def _outliers(args) -> int:
    import numpy as np

    from trainset.config import get_config, load_config
    from trainset.curation.domain import judge_group
    from trainset.curation.features import features_file, load_embedder
    from trainset.curation.index import FeatureIndex

    missing = [str(p) for p in args.inputs if not p.exists()]
    if missing:
        print(f"no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    settings = (load_config(args.config) if args.config else get_config()).curation
    threshold = args.threshold if args.threshold is not None else settings.domain_outlier_threshold
    spec = args.features or settings.features
    try:
        embedder = load_embedder(spec)
    except (FileNotFoundError, ValueError) as err:
        print(f"--features {spec}: {err}", file=sys.stderr)
        return 2
    flagged = total = 0
    for group, files in groups_of(args.inputs).items():
        good, vectors, embeddings = [], [], []
        for f in files:
            r = features_file(f)
            if r.vector is None:
                print(json.dumps({"input": str(f), "group": group, "error": r.error}), flush=True)
                continue
            good.append(f)
            vectors.append(r.vector)
            if embedder is not None:
                embeddings.append(features_file(f, embedder=embedder).vector)
        if not good:
            continue
        verdicts = judge_group(np.array(vectors), threshold=threshold, min_group=settings.domain_outlier_min_group)
        nn = [None] * len(good)
        if embedder is not None and len(good) > 1:
            index = FeatureIndex(len(embeddings[0]))
            index.add(np.arange(len(good)), np.array(embeddings))
            nn = [float(index.search(e, 2)[1][-1]) for e in embeddings]
        for f, v, d in zip(good, verdicts, nn, strict=True):
            line = {"input": str(f), "domain": v.domain, "score": v.score, "outlier": v.outlier,
                    "cluster": v.cluster, "group": group, "group_domain": v.group_domain,
                    "photo_probability": round(v.photo_probability, 4)}
            if embedder is not None:
                line["features"] = embedder.kind
                line["nearest_distance"] = None if d is None else round(d, 4)
            print(json.dumps(line, ensure_ascii=False), flush=True)
            flagged += v.outlier
            total += 1
    print(f"curate outliers: {flagged} of {total} images are domain outliers (threshold {threshold})",
          file=sys.stderr)
    return 0
