"""Class balance of a release: counts per split, imbalance ratio, "balanced" class weights and a sampling plan.

Weights follow the usual "balanced" rule (scikit-learn's): ``n_samples / (n_classes * n_class)`` over the
training split, so a loss weighted by them sees every class with the same total weight.  The sampling plan
brings every training class to the median class size: classes below it are oversampled (repeat/augment by the
factor shown), classes above it are undersampled (keep the fraction shown).
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter
from collections.abc import Sequence

from trainset.train.items import DatasetItem
from trainset.train.split import SplitPlan


def balance_report(items: Sequence[DatasetItem], plan: SplitPlan, class_names: Sequence[str]) -> dict:
    splits = list(plan.ratios)
    images = {s: Counter() for s in splits}
    objects = {s: Counter() for s in splits}
    for item in items:
        split = plan.assignment[item.item_key]
        images[split][item.class_name] += 1
        objects[split].update(o.class_name for o in item.objects)
    present = [c for c in class_names if any(images[s][c] for s in splits)]
    train_split = "train" if "train" in splits else splits[0]
    train = {c: images[train_split][c] for c in present}
    nonzero = [n for n in train.values() if n > 0]
    imbalance = (max(nonzero) / min(nonzero)) if nonzero else None
    n_samples = sum(train.values())
    weights = {c: (round(n_samples / (len(nonzero) * n), 4) if n else None) for c, n in train.items()}
    target = int(statistics.median(nonzero)) if nonzero else 0
    plan_rows = []
    for c, n in train.items():
        if n == 0:
            action, factor = "collect more (absent from train)", None
        elif n < target:
            action, factor = "oversample", round(target / n, 3)
        elif n > target:
            action, factor = "undersample", round(target / n, 3)
        else:
            action, factor = "keep", 1.0
        plan_rows.append({"class_name": c, "train_images": n, "target": target, "action": action, "factor": factor,
                          "after": target if n else 0})
    totals = Counter()
    for s in splits:
        totals.update(images[s])
    return {
        "splits": splits,
        "class_names": present,
        "images_per_split": {s: {c: images[s][c] for c in present} for s in splits},
        "objects_per_split": {s: {c: objects[s][c] for c in sorted(set(objects[s]) | set(present))} for s in splits},
        "images_total": {c: totals[c] for c in present},
        "split_sizes": {s: sum(images[s].values()) for s in splits},
        "imbalance_ratio": round(imbalance, 4) if imbalance is not None and math.isfinite(imbalance) else None,
        "class_weights": weights,
        "sampling_plan": plan_rows,
        "sampling_target": target,
    }


def balance_csv(report: dict) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    splits = report["splits"]
    writer.writerow(["class_name", *[f"images_{s}" for s in splits], *[f"objects_{s}" for s in splits],
                     "class_weight", "sampling_action", "sampling_factor"])
    plan = {r["class_name"]: r for r in report["sampling_plan"]}
    for c in report["class_names"]:
        writer.writerow([c, *[report["images_per_split"][s].get(c, 0) for s in splits],
                         *[report["objects_per_split"][s].get(c, 0) for s in splits],
                         report["class_weights"].get(c), plan[c]["action"], plan[c]["factor"]])
    return buf.getvalue().encode("utf-8")
