"""Labeling quality control on real boxes: simulated labelers with known error rates on the corpus plates
(``plates/us``, ``plates/br``, ``faces/plates/eu``); how the simulation works is in ``trainset_dev.quality_eval``.

1. **Scores**: labelers with different error rates label every GT photo ``--rounds`` times; their accuracy,
   precision, recall and conflict rates are compared with the injected errors (realized and nominal).
   Target: within 2 percentage points.
2. **Hints without a model**: one labeler with gross errors (box far off, wrong class, duplicate) labels every
   photo; hints are computed over that labeler's whole set (with the images); a gross error is found when its
   object has any hint; a false hint is a hint on an untouched box (or an item-level hint on an item without any
   injected error).  Targets: >= 90% found, <= 10% false.
3. **CLI speed**: ``python -m trainset quality score`` on ``--boxes`` simulated boxes (COCO files written to a
   temporary folder), one process, timed end to end (interpreter start included; wall and CPU seconds). Target: 10,000 boxes < 10 s.

The last line is one JSON object with every figure.

    python benchmarks/quality_eval.py [--corpus DIR] [--rounds N] [--hint-rounds N] [--boxes N] [--quiet]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from trainset.config import get_config
from trainset.quality.files import crop_loader
from trainset.quality.hints import label_hints
from trainset.quality.scoring import compare_item, summarize
from trainset_dev.quality_eval import ErrorRates, Injected, expected_scores, load_plate_gt, nominal_scores, simulate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = Path(os.environ.get("TRAINSET_CORPUS", ROOT.parent / "shared" / "corpus"))
LABELERS = {
    "careful": ErrorRates(missed=0.02, wrong_class=0.01, extra=0.01, jitter=0.02),
    "average": ErrorRates(missed=0.08, wrong_class=0.05, far_off=0.02, duplicate=0.02, extra=0.05, jitter=0.04),
    "sloppy": ErrorRates(missed=0.20, wrong_class=0.12, far_off=0.05, duplicate=0.05, extra=0.15, jitter=0.08),
}
GROSS = ErrorRates(wrong_class=0.05, far_off=0.05, duplicate=0.05)


def _add(total: Injected, log: Injected) -> None:
    for k in ("gt", "missed", "wrong_class", "far_off", "duplicate", "extra", "kept"):
        setattr(total, k, getattr(total, k) + getattr(log, k))


def score_recovery(gt, rounds: int, iou: float) -> dict:
    out = {}
    for seed_base, (name, rates) in enumerate(LABELERS.items()):
        scores, total = [], Injected()
        for r in range(rounds):
            labeled, log = simulate(gt, rates, seed=1000 * seed_base + r)
            by_key = {it.item_key: it for it in labeled}
            scores += [compare_item(g, by_key[g.item_key], iou_threshold=iou) for g in gt]
            _add(total, log)
        m = summarize(scores).metrics()
        measured = {"recall": m["recall"], "precision": m["precision"], "accuracy": m["accuracy"],
                    "missing_rate": m["conflicts"]["missing"] / m["gt_boxes"],
                    "extra_rate": m["conflicts"]["extra"] / m["gt_boxes"],
                    "mismatching_label_rate": m["conflicts"]["mismatching_label"] / m["gt_boxes"]}
        realized, nominal = expected_scores(total), nominal_scores(rates)
        out[name] = {
            "boxes": m["gt_boxes"], "measured": {k: round(v, 4) for k, v in measured.items()},
            "mean_iou": m["mean_iou"],
            "max_pp_vs_realized": round(100 * max(abs(measured[k] - realized[k]) for k in measured), 3),
            "max_pp_vs_nominal": round(100 * max(abs(measured[k] - nominal[k]) for k in measured), 3),
        }
    return out


def hint_recall(gt, photos, rounds: int) -> dict:
    settings = get_config().quality.hints
    crops = crop_loader(photos)
    found, total = Counter(), Counter()
    false = clean = false_items = clean_items = 0
    codes = Counter()
    for r in range(rounds):
        labeled, log = simulate(gt, GROSS, seed=50_000 + r)
        hints = label_hints(labeled, settings, crops=crops)
        flagged = {(h.item, h.object) for h in hints}
        flagged_items = {h.item for h in hints if h.object is None}
        codes.update(h.code for h in hints)
        kind = {}
        for it in labeled:
            orig = {o.id: o for o in next(g for g in gt if g.item_key == it.item_key).objects}
            for o in it.objects:
                key = (it.item_key, o.id)
                if key in log.gross:
                    k = ("wrong_class" if o.id in orig and o.category != orig[o.id].category
                         else "duplicate" if len(it.objects) > len(orig) and o.id == str(len(it.objects))
                         else "far_off")
                    kind[key] = k
                    total[k] += 1
                    found[k] += key in flagged
                elif key not in log.touched:
                    clean += 1
                    false += key in flagged
            if not any((it.item_key, o.id) in log.touched for o in it.objects):
                clean_items += 1
                false_items += it.item_key in flagged_items
    return {"gross": sum(total.values()), "found": sum(found.values()),
            "found_share": round(sum(found.values()) / max(sum(total.values()), 1), 4),
            "by_type": {k: f"{found[k]}/{total[k]}" for k in sorted(total)},
            "clean_boxes": clean, "false_hints": false, "false_share": round(false / max(clean, 1), 4),
            "clean_items": clean_items, "false_item_hints": false_items, "hint_codes": dict(codes)}


def cli_speed(gt, boxes: int) -> dict:
    """Write GT and one labeler's labels as COCO files (several copies of the corpus, renamed) and time the CLI."""
    copies = max(1, -(-boxes // sum(len(g.objects) for g in gt)))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = tmp / "images"
        images.mkdir()
        gt_coco, lab_coco = _coco(), _coco()
        n_boxes = 0
        for c in range(copies):
            labeled, _ = simulate(gt, LABELERS["average"], seed=90_000 + c)
            by_key = {it.item_key: it for it in labeled}
            for g in gt:
                if n_boxes >= boxes:
                    break
                key = f"{g.item_key}_{c}"
                _put(gt_coco, key, g)
                _put(lab_coco, key, by_key[g.item_key])
                n_boxes += len(g.objects)
        (tmp / "gt").mkdir()
        (tmp / "alice").mkdir()
        (tmp / "gt" / "gt.json").write_text(json.dumps(gt_coco))
        (tmp / "alice" / "labels.json").write_text(json.dumps(lab_coco))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), str(ROOT / "plugins")])}
        cmd = [sys.executable, "-m", "trainset", "quality", "score", "--images", str(images),
               "--gt", str(tmp / "gt"), "--labels", str(tmp / "alice")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        labeler = next((line for line in lines if line.get("labeler") == "alice" and "item" not in line), None)
        # The CLI is single-threaded; CPU seconds are what one free core would take (wall is inflated when the
        # machine is shared).
        return {"gt_boxes": n_boxes, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
                "exit": proc.returncode,
                "boxes_per_s": round(n_boxes / seconds), "alice_accuracy": labeler and labeler["accuracy"]}


def _coco() -> dict:
    return {"images": [], "annotations": [], "categories": [{"id": 1, "name": "plate_us"},
                                                            {"id": 2, "name": "plate_br"},
                                                            {"id": 3, "name": "plate_eu"}]}


def _put(coco: dict, key: str, item) -> None:
    ids = {c["name"]: c["id"] for c in coco["categories"]}
    image_id = len(coco["images"]) + 1
    coco["images"].append({"id": image_id, "file_name": f"{key}.jpg", "width": item.width, "height": item.height})
    for o in item.objects:
        coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": image_id,
                                    "category_id": ids[o.category], "bbox": [round(v, 2) for v in o.bbox],
                                    "area": o.bbox[2] * o.bbox[3], "iscrowd": 0})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--rounds", type=int, default=20, help="times each simulated labeler labels the GT set")
    ap.add_argument("--hint-rounds", type=int, default=5)
    ap.add_argument("--boxes", type=int, default=10_000)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    gt, photos = load_plate_gt(args.corpus)
    if not gt:
        raise SystemExit(f"no plate GT under {args.corpus}")
    cfg = get_config().quality
    result = {"gt_photos": len(gt), "gt_boxes": sum(len(g.objects) for g in gt)}
    result["scores"] = score_recovery(gt, args.rounds, cfg.gt_iou)
    result["hints"] = hint_recall(gt, photos, args.hint_rounds)
    result["cli"] = cli_speed(gt, args.boxes)
    if not args.quiet:
        for name, row in result["scores"].items():
            print(f"{name:8s} {row}", file=sys.stderr)
        print(f"hints   {result['hints']}", file=sys.stderr)
        print(f"cli     {result['cli']}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
