"""Train / validation / test split: stratified by class, grouped so related images never straddle two splits.

Grouping rule (documented for the PM and checked after every split):

* **capture session** — images from the same camera (EXIF Make + Model; "unknown camera" when refine recorded
  none) whose capture times chain with gaps of at most ``session_gap_minutes``.  A burst or a walk-around of
  one scene is one session.  Images without a capture time are not put in any session (a day-only key would
  merge unrelated contributors' photos).
* **near-duplicate group** — images whose perceptual hashes (recorded by refine) are within
  ``near_duplicate_radius`` bits of each other.
* **exact duplicate** — images with the same sha256 (should not survive refine; grouped defensively).

The groups are the connected components of all three relations (union-find).  Each group moves as a whole.
Stratification: groups are placed largest first, each into the split whose per-class deficit (target share
minus current count, summed over the classes in the group) is largest; before that, every class that has at
least as many groups as there are non-empty splits gets one group seeded into each split, so every class is in
every split whenever that is possible.  The order is a seeded shuffle: the same items and seed give the same
split, on any machine.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from trainset.train.items import DatasetItem

SPLIT_ORDER = ("train", "validation", "test")


class _UnionFind:
    def __init__(self, keys: Iterable[str]):
        self.parent = {k: k for k in keys}

    def find(self, k: str) -> str:
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return k

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller key becomes the root so the group key does not depend on the order of unions.
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


def hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def _neighbours(value: int, bits: int, radius: int) -> list[int]:
    out = [value]
    for r in range(1, radius + 1):
        for flips in itertools.combinations(range(bits), r):
            v = value
            for f in flips:
                v ^= 1 << f
            out.append(v)
    return out


def near_duplicate_pairs(items: Sequence[DatasetItem], radius: int) -> list[tuple[str, str]]:
    """Item-key pairs whose perceptual hashes are within ``radius`` bits.

    Multi-index hashing: split each hash into 4 bands; two hashes within ``radius`` agree within
    ``radius // 4`` bits on at least one band (pigeonhole), so only items sharing such a band value are compared.
    Linear in the number of items for the small radii used (no all-pairs scan)."""
    by_length: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for item in items:
        if item.phash:
            by_length[len(item.phash)].append((item.item_key, int(item.phash, 16)))
    pairs: set[tuple[str, str]] = set()
    for length, hashed in by_length.items():
        bits = length * 4
        band_bits = max(1, bits // 4)
        per_band = radius // 4
        index: list[dict[int, list[int]]] = [defaultdict(list) for _ in range(4)]
        mask = (1 << band_bits) - 1
        for n, (_, h) in enumerate(hashed):
            for b in range(4):
                index[b][(h >> (b * band_bits)) & mask].append(n)
        for n, (key, h) in enumerate(hashed):
            candidates: set[int] = set()
            for b in range(4):
                for v in _neighbours((h >> (b * band_bits)) & mask, band_bits, per_band):
                    candidates.update(m for m in index[b].get(v, ()) if m > n)
            for m in candidates:
                other_key, other = hashed[m]
                if bin(h ^ other).count("1") <= radius:
                    pairs.add(tuple(sorted((key, other_key))))
    return sorted(pairs)


def group_items(items: Sequence[DatasetItem], *, session_gap_minutes: float = 5.0,
                near_duplicate_radius: int | None = 6) -> dict[str, str]:
    """item_key → group key (the smallest item key in its group)."""
    uf = _UnionFind(i.item_key for i in items)
    by_camera: dict[str, list[DatasetItem]] = defaultdict(list)
    for item in items:
        if item.capture_time is not None:
            by_camera[item.camera or "unknown camera"].append(item)
    gap = dt.timedelta(minutes=session_gap_minutes)
    for members in by_camera.values():
        members.sort(key=lambda i: (i.capture_time, i.item_key))
        for prev, cur in zip(members, members[1:], strict=False):
            if cur.capture_time - prev.capture_time <= gap:
                uf.union(prev.item_key, cur.item_key)
    by_sha: dict[str, str] = {}
    for item in items:
        if item.sha256:
            if item.sha256 in by_sha:
                uf.union(by_sha[item.sha256], item.item_key)
            else:
                by_sha[item.sha256] = item.item_key
    if near_duplicate_radius is not None:
        for a, b in near_duplicate_pairs(items, near_duplicate_radius):
            uf.union(a, b)
    return {i.item_key: uf.find(i.item_key) for i in items}


@dataclass
class SplitPlan:
    assignment: dict[str, str]  # item_key → split
    groups: dict[str, str]  # item_key → group key
    ratios: dict[str, float]
    seed: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split → class → items

    def items_in(self, split: str) -> list[str]:
        return sorted(k for k, s in self.assignment.items() if s == split)


def ordered_splits(ratios: dict[str, float]) -> list[str]:
    known = [s for s in SPLIT_ORDER if s in ratios]
    return known + sorted(s for s in ratios if s not in SPLIT_ORDER)


def split_items(items: Sequence[DatasetItem], ratios: dict[str, float], seed: int,
                groups: dict[str, str] | None = None) -> SplitPlan:
    if not ratios or any(v < 0 for v in ratios.values()) or abs(sum(ratios.values()) - 1.0) > 1e-6:
        raise ValueError(f"split ratios must be non-negative and sum to 1, got {ratios}")
    groups = groups if groups is not None else {i.item_key: i.item_key for i in items}
    splits = ordered_splits(ratios)
    active = [s for s in splits if ratios[s] > 0]
    members: dict[str, list[DatasetItem]] = defaultdict(list)
    for item in items:
        members[groups[item.item_key]].append(item)
    class_of_group = {g: Counter(i.class_name for i in ms) for g, ms in members.items()}
    totals = Counter(i.class_name for i in items)

    rng = random.Random(seed)
    order = sorted(members)
    rng.shuffle(order)
    position = {g: n for n, g in enumerate(order)}
    current: dict[str, Counter] = {s: Counter() for s in splits}
    placed: dict[str, str] = {}

    def place(group: str, split: str) -> None:
        placed[group] = split
        current[split].update(class_of_group[group])

    # Seed: one group per (class, split) where the class has enough groups to cover every split; the smallest
    # groups go to the smallest splits so the ratios suffer least.
    if len(active) > 1:
        for cls in sorted(totals):
            candidates = [g for g in order if class_of_group[g][cls] > 0]
            if len(candidates) < len(active):
                continue
            for split in sorted(active, key=lambda s: (ratios[s], splits.index(s))):
                if current[split][cls] > 0:
                    continue
                free = [g for g in candidates if g not in placed]
                if len(free) <= 1 and split != active[0]:
                    break  # keep the last group for the largest split
                if not free:
                    break
                smallest = min(free, key=lambda g: (len(members[g]), position[g]))
                place(smallest, split)

    n_total = len(items)
    for group in sorted((g for g in order if g not in placed), key=lambda g: -len(members[g])):
        def deficit(split: str, group=group) -> tuple[float, float, int]:
            d = sum(n * (ratios[split] * totals[c] - current[split][c]) for c, n in class_of_group[group].items())
            overall = ratios[split] * n_total - sum(current[split].values())
            return (d + 0.5 * overall, ratios[split], -splits.index(split))
        place(group, max(active, key=deficit))

    assignment = {i.item_key: placed[groups[i.item_key]] for i in items}
    counts = {s: dict(sorted(current[s].items())) for s in splits}
    return SplitPlan(assignment=assignment, groups=dict(groups), ratios=dict(ratios), seed=seed, counts=counts)


def leak_check(items: Sequence[DatasetItem], plan: SplitPlan, *, near_duplicate_radius: int | None = 6) -> dict:
    """Independent re-check of the finished split: nothing related may sit in two splits.

    Looks for groups split apart, the same bytes (sha256) in two splits, and near-duplicate hashes across
    splits; returns the findings (empty lists and ``passed`` true when clean)."""
    by_group: dict[str, set[str]] = defaultdict(set)
    by_sha: dict[str, set[str]] = defaultdict(set)
    for item in items:
        split = plan.assignment[item.item_key]
        by_group[plan.groups[item.item_key]].add(split)
        if item.sha256:
            by_sha[item.sha256].add(split)
    groups_split = sorted(g for g, s in by_group.items() if len(s) > 1)
    sha_split = sorted(h for h, s in by_sha.items() if len(s) > 1)
    near = []
    if near_duplicate_radius is not None:
        near = [[a, b] for a, b in near_duplicate_pairs(items, near_duplicate_radius)
                if plan.assignment[a] != plan.assignment[b]]
    items_total = len(plan.assignment)
    group_sizes = Counter(plan.groups[i.item_key] for i in items)
    return {
        "passed": not (groups_split or sha_split or near),
        "items": items_total,
        "groups": len(by_group),
        "multi_item_groups": sum(1 for n in group_sizes.values() if n > 1),
        "groups_in_two_splits": groups_split,
        "sha256_in_two_splits": sha_split,
        "near_duplicates_across_splits": near,
    }


def allowed_ratio_deviation(plan: SplitPlan, tolerance: float) -> float:
    """How far a split's share may drift from its ratio: the configured tolerance, plus what whole groups make
    unavoidable (seeding one group per class into each smaller split can shift every share by up to
    ``(splits - 1) * classes * largest group`` items)."""
    n = max(1, len(plan.assignment))
    sizes = Counter(plan.groups.values())
    largest = max(sizes.values(), default=1)
    n_classes = len({c for counts in plan.counts.values() for c in counts}) or 1
    active = sum(1 for r in plan.ratios.values() if r > 0)
    return min(1.0, tolerance + max(0, active - 1) * n_classes * largest / n)
