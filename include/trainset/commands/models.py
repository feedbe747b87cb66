"""``python -m trainset models``: load the configured de-identification models, building their int8 copies now
(each is otherwise built by the first refine task that needs it, ~15 s once per machine), and say what they are.

    python -m trainset models        # one JSON line per model: kind, id, precision, licence, cache file, load s

Run it where refine's workers run (the Dockerfile runs it at build time, so the image carries the int8 files).
"""

from __future__ import annotations

import argparse
import json
import os
import time


def register(sub) -> None:
    parser = sub.add_parser("models", help="build and list the de-identification models (int8 cache)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=_models)


def _models(_args) -> int:
    from trainset.config import get_config
    from trainset.refine.deid import Detectors

    settings = get_config().refine.anonymize
    started = time.perf_counter()
    detectors = Detectors(settings)
    seconds = round(time.perf_counter() - started, 2)
    for model in (detectors.face_model, detectors.plate_model):
        if model is None:
            continue
        cache_file = getattr(model, "cache_file", None)
        print(json.dumps({
            "kind": model.kind,
            "id": model.id,
            "precision": getattr(model, "precision", None),
            "licence": model.licence,
            "cache_file": cache_file,
            "cache_bytes": os.path.getsize(cache_file) if cache_file else None,
        }, ensure_ascii=False))
    print(json.dumps({"models": len(detectors.detector_ids), "load_s": seconds}))
    return 0
