"""Distribution invariants (property-based) and the roster file."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trainset.annotate.distribution import Candidate, Worker, class_priority, distribute, is_working_day
from trainset.annotate.roster import RosterError, load_roster
from trainset.config import get_config

CLASSES = ["person", "animal", "vehicle", "food", "object"]
DAY = dt.date(2026, 3, 16)

workers_st = st.lists(
    st.builds(
        Worker,
        worker_id=st.sampled_from([f"w{i:02d}" for i in range(12)]),
        daily_capacity=st.integers(0, 12),
        classes=st.frozensets(st.sampled_from(CLASSES), max_size=5),
        employment_start=st.dates(dt.date(2026, 1, 1), dt.date(2026, 6, 1)),
        employment_end=st.one_of(st.none(), st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 31))),
        active=st.booleans(),
    ),
    max_size=8, unique_by=lambda w: w.worker_id,
)
pool_st = st.lists(st.tuples(st.sampled_from(CLASSES), st.integers(1, 400)), max_size=120,
                   unique_by=lambda t: t[1]).map(
    lambda rows: [Candidate(c, f"TS_{c}_{i:06d}", i) for c, i in rows])
priority_st = st.permutations(CLASSES)


def _check_invariants(day, workers, pool, priority, plan):
    by_id = {w.worker_id: w for w in workers}
    rank = {c: n for n, c in enumerate(priority)}
    # No image to two workers, and only images from the pool.
    ids = [a.image_id for a in plan]
    assert len(ids) == len(set(ids))
    assert set(ids) <= {c.image_id for c in pool}
    load = Counter(a.worker_id for a in plan)
    for a in plan:
        w = by_id[a.worker_id]
        assert w.employed_on(day), "outside the employment window or inactive"
        assert a.class_name in w.classes, "no skill for the class"
    for worker_id, n in load.items():
        assert n <= by_id[worker_id].daily_capacity
    held = {w: {a.class_name for a in plan if a.worker_id == w} for w in load}
    unassigned = Counter(c.class_name for c in pool if c.image_id not in set(ids))
    for class_name in unassigned:
        for w in workers:
            if w.employed_on(day) and class_name in w.classes and w.daily_capacity > 0:
                # Work was left only because every skilled worker is full ...
                assert load[w.worker_id] == w.daily_capacity, (class_name, w)
                # ... and none of them holds a class with lower schedule priority.
                assert all(rank[c] <= rank[class_name] for c in held.get(w.worker_id, ())), (class_name, w)


@settings(max_examples=200, deadline=None)
@given(workers=workers_st, pool=pool_st, priority=priority_st, day=st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 31)))
def test_distribution_invariants(workers, pool, priority, day):
    plan = distribute(day, workers, pool, priority=list(priority))
    _check_invariants(day, workers, pool, list(priority), plan)
    # Deterministic: the same day with the inputs in another order gives the same assignment.
    shuffled_w, shuffled_p = list(workers), list(pool)
    random.Random(7).shuffle(shuffled_w)
    random.Random(8).shuffle(shuffled_p)
    assert distribute(day, shuffled_w, shuffled_p, priority=list(priority)) == plan


@settings(max_examples=100, deadline=None)
@given(caps=st.lists(st.integers(1, 15), min_size=1, max_size=6), n=st.integers(0, 120))
def test_loads_follow_capacity(caps, n):
    workers = [Worker(f"w{i}", c, frozenset(CLASSES), dt.date(2026, 1, 1)) for i, c in enumerate(caps)]
    pool = [Candidate(CLASSES[i % 5], f"k{i:04d}", i) for i in range(n)]
    plan = distribute(DAY, workers, pool, priority=CLASSES)
    assert len(plan) == min(n, sum(caps))
    load = Counter(a.worker_id for a in plan)
    for wi in workers:
        for wj in workers:
            if load[wi.worker_id] < wi.daily_capacity:
                # Nobody is more than one item ahead of a worker who still has room, relative to capacity.
                assert Fraction(load[wj.worker_id] - 1, wj.daily_capacity) <= Fraction(load[wi.worker_id],
                                                                                        wi.daily_capacity)


def test_specialists_are_not_starved_by_generalists():
    # The generalist could take all vehicles first; then the food specialist's food would stay; shifting fixes it.
    workers = [Worker("gen", 4, frozenset({"vehicle", "food"}), DAY), Worker("veh", 4, frozenset({"vehicle"}), DAY)]
    pool = [Candidate("vehicle", f"v{i}", i) for i in range(4)] + [Candidate("food", f"f{i}", 10 + i) for i in range(4)]
    plan = distribute(DAY, workers, pool, priority=["vehicle", "food"])
    assert len(plan) == 8
    assert {a.class_name for a in plan if a.worker_id == "veh"} == {"vehicle"}


def test_rework_goes_back_to_its_labeler_first():
    workers = [Worker("a", 2, frozenset({"person"}), DAY), Worker("b", 2, frozenset({"person"}), DAY)]
    pool = [Candidate("person", "p1", 1), Candidate("person", "p2", 2),
            Candidate("person", "r1", 3, "rework", "b"), Candidate("person", "r2", 4, "rework", "gone")]
    plan = distribute(DAY, workers, pool, priority=["person"])
    by_key = {a.item_key: a for a in plan}
    assert by_key["r1"].worker_id == "b" and by_key["r1"].task_kind == "rework"
    # The labeler of r2 left: it is distributed like new work, still as rework, before new items.
    assert by_key["r2"].task_kind == "rework" and len(plan) == 4


def test_nothing_on_a_non_working_day():
    config = get_config()
    saturday, holiday = dt.date(2026, 3, 14), dt.date(2026, 12, 25)
    assert not is_working_day(saturday, config.project) and not is_working_day(holiday, config.project)
    assert is_working_day(DAY, config.project)
    workers = [Worker("a", 5, frozenset(CLASSES), dt.date(2026, 1, 1))]
    assert distribute(saturday, workers, [Candidate("food", "f", 1)], priority=CLASSES,
                      working_day=is_working_day(saturday, config.project)) == []


def test_classes_behind_schedule_come_first():
    config = get_config()
    targets = {"person": 40, "food": 20}
    order = class_priority(DAY, config.project, targets, {"person": 20, "food": 0})
    assert [c for c, _ in order] == ["food", "person"]  # person is ahead of schedule, food behind
    assert order[0][1] > 0 > order[1][1]


def test_demo_roster_loads_and_bad_rosters_say_why(tmp_path):
    config = get_config()
    entries = load_roster(config)
    assert {e.worker_id for e in entries} >= {"kim", "choi"}
    assert next(e for e in entries if e.worker_id == "kim").classes == sorted(config.class_names)
    bad = tmp_path / "roster.csv"
    bad.write_text("worker_id,name,employment_start,daily_capacity,classes\nx1,X,2026-01-01,5,person;dragon\n")
    with pytest.raises(RosterError, match="dragon"):
        load_roster(config, bad)
    bad.write_text("worker_id,name,employment_start,daily_capacity,classes\nx1,X,someday,5,person\n")
    with pytest.raises(RosterError, match="employment_start"):
        load_roster(config, bad)
    good = tmp_path / "ok.csv"
    good.write_text("worker_id,name,slack_user_id,employment_start,employment_end,daily_capacity,classes\n"
                    "x1,X,,2026-01-01,,,person|food\n")
    (entry,) = load_roster(config, good)
    assert entry.classes == ["food", "person"] and entry.daily_capacity == config.annotate.default_daily_capacity
    assert entry.slack_user_id is None and entry.employment_end is None
