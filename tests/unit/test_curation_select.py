"""What to label next: k-center greedy order (diversity, rarity), deterministic, with reasons; distribute's hook."""

from __future__ import annotations

import datetime as dt

import numpy as np
from trainset.annotate.distribution import Candidate, Worker, distribute
from trainset.curation.select import coverage, k_center_order


def _clusters(seed: int = 0) -> dict[int, list[float]]:
    """Three tight clusters of near-identical shots (10, 10 and 2 images)."""
    rng = np.random.default_rng(seed)
    centres = [np.zeros(6), np.full(6, 5.0), np.array([0, 0, 0, 9.0, 9.0, 9.0])]
    sizes = [10, 10, 2]
    out, k = {}, 100
    for c, n in zip(centres, sizes, strict=True):
        for _ in range(n):
            out[k] = (c + rng.normal(0, 0.05, 6)).tolist()
            k += 1
    return out


def test_first_picks_cover_every_cluster_and_order_is_deterministic():
    cands = _clusters()
    picks = k_center_order(cands)
    first3 = {(p.image_id - 100) // 10 for p in picks[:3]}
    assert first3 == {0, 1, 2}, [p.image_id for p in picks[:3]]  # one per cluster before any second shot
    assert picks[0].reason.startswith("first of its class")
    assert all(p.reason.startswith("diversity") for p in picks[1:])
    assert [p.image_id for p in picks] == [p.image_id for p in k_center_order(dict(reversed(cands.items())))]
    assert sorted(p.image_id for p in picks) == sorted(cands)


def test_rarity_goes_first_when_something_is_labelled():
    cands = _clusters()
    labelled = [cands[100], cands[110]]  # clusters 0 and 1 already have labels; cluster 2 (ids 120, 121) does not
    picks = k_center_order(cands, labelled, limit=2)
    assert picks[0].image_id in (120, 121) and picks[0].reason.startswith("rarest")
    assert len(picks) == 2


def test_k_center_covers_better_than_random():
    cands = _clusters(1)
    pool = np.array([cands[i] for i in sorted(cands)])
    pool = (pool - pool.mean(0)) / pool.std(0)
    picks = [sorted(cands).index(p.image_id) for p in k_center_order(cands, limit=3)]
    rng = np.random.default_rng(0)
    random_cov = np.mean([coverage(pool, rng.choice(len(pool), 3, replace=False)) for _ in range(50)])
    assert coverage(pool, np.array(picks)) < 0.5 * random_cov


def test_distribute_orders_new_work_by_the_ranks_and_says_why():
    day = dt.date(2026, 3, 16)
    worker = Worker("w1", 2, frozenset({"food"}), dt.date(2026, 1, 1))
    cands = [Candidate("food", f"k{i}", i) for i in range(1, 5)]
    ranks = {4: (0, "rarest: x"), 2: (1, "diversity: y")}
    got = distribute(day, [worker], cands, priority=["food"], within_class=ranks)
    assert [a.image_id for a in got] == [4, 2]
    assert got[0].reason.endswith("rarest: x") and "deficit order" in got[0].reason
    plain = distribute(day, [worker], cands, priority=["food"])
    assert [a.image_id for a in plain] == [1, 2]
