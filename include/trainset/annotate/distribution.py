"""The day's labeling assignment: a pure, deterministic function of the day, the roster and the open work.

Rules (each is a tested invariant):
- nothing on a non-working day (project working days and holidays);
- a worker gets work only inside the employment window (start <= day <= end), when active, up to the daily
  capacity, and only for classes in the worker's skills (rework goes back to the labeler who made the item,
  whatever the skills, while that labeler is employed; otherwise it is distributed like new work);
- no image goes to two workers;
- classes behind schedule first: the class with the largest deficit (expected progress by today minus labeled so
  far) is served first, until its images or its skilled workers' capacity run out;
- within a class, each image goes to the skilled worker with the lowest load relative to capacity (ties by
  worker id), so loads stay proportional to capacity;
- inputs are sorted before use, so the same day with the same inputs gives the same assignment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from trainset.config import ProjectInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Worker:
    worker_id: str
    daily_capacity: int
    classes: frozenset[str]
    employment_start: dt.date
    employment_end: dt.date | None = None
    active: bool = True

    def employed_on(self, day: dt.date) -> bool:
        return (self.active and self.employment_start <= day
                and (self.employment_end is None or day <= self.employment_end))


@dataclass(frozen=True, order=True)
class Candidate:
    class_name: str
    item_key: str
    image_id: int
    task_kind: str = "label"  # label | rework
    owner: str | None = None  # for rework: the labeler who made the item


@dataclass(frozen=True)
class Assignment:
    image_id: int
    item_key: str
    class_name: str
    worker_id: str
    task_kind: str
    reason: str = ""  # why this image now (the within-class order, e.g. trainset.curation.select)


@dataclass
class Plan:
    day: dt.date
    working_day: bool
    priority: list[tuple[str, float]]  # (class, deficit) in the order served
    assignments: list[Assignment] = field(default_factory=list)

    def by_worker(self) -> dict[str, list[Assignment]]:
        out: dict[str, list[Assignment]] = {}
        for a in self.assignments:
            out.setdefault(a.worker_id, []).append(a)
        return out


def is_working_day(day: dt.date, project: ProjectInfo) -> bool:
    return (WEEKDAYS[day.weekday()] in project.working_days and day not in set(project.holidays)
            and project.period.start <= day <= project.period.end)


def working_days(project: ProjectInfo) -> list[dt.date]:
    days, day = [], project.period.start
    while day <= project.period.end:
        if is_working_day(day, project):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def class_priority(day: dt.date, project: ProjectInfo, targets: dict[str, int],
                   done: dict[str, int]) -> list[tuple[str, float]]:
    """Classes by schedule deficit: target x share of working days elapsed by the end of ``day``, minus done."""
    days = working_days(project)
    elapsed = sum(1 for d in days if d <= day)
    share = elapsed / len(days) if days else 1.0
    deficits = {name: target * share - done.get(name, 0) for name, target in targets.items()}
    return sorted(((name, round(d, 3)) for name, d in deficits.items()), key=lambda kv: (-kv[1], kv[0]))


def distribute(day: dt.date, workers: Iterable[Worker], candidates: Iterable[Candidate], *,
               priority: list[str], working_day: bool = True,
               within_class: dict[int, tuple[int, str]] | None = None) -> list[Assignment]:
    """Assign candidates to workers for ``day`` (see the module rules).  ``within_class``: image id → (rank,
    reason) ordering new work inside a class (diversity/rarity, ``trainset.curation.select``); images without a
    rank follow the ranked ones in item-key order."""
    ranks = within_class or {}
    if not working_day:
        return []
    staff = sorted((w for w in workers if w.employed_on(day) and w.daily_capacity > 0), key=lambda w: w.worker_id)
    by_id = {w.worker_id: w for w in staff}
    load = {w.worker_id: 0 for w in staff}
    assigned: list[Assignment] = []
    taken: set[int] = set()
    pool = sorted(set(candidates))

    def give(c: Candidate, worker_id: str) -> None:  # rework, pinned to its labeler
        assigned.append(Assignment(c.image_id, c.item_key, c.class_name, worker_id, c.task_kind,
                                   "rework: back to the labeler who made it"))
        load[worker_id] += 1
        taken.add(c.image_id)

    # Rework first, back to its labeler (their own mistakes, in their queue).
    for c in pool:
        if c.task_kind == "rework" and c.owner in by_id and c.image_id not in taken:
            if load[c.owner] < by_id[c.owner].daily_capacity:
                give(c, c.owner)

    order = list(dict.fromkeys([*priority, *sorted({c.class_name for c in pool})]))
    # Count per worker and class first (moves between workers are cheap on counts), then hand out images.
    counts: dict[str, dict[str, int]] = {w.worker_id: {} for w in staff}
    for class_name in order:
        skilled = [w for w in staff if class_name in w.classes]
        todo = sum(1 for c in pool if c.class_name == class_name and c.image_id not in taken)
        for _ in range(todo):
            free = [w for w in skilled if load[w.worker_id] < w.daily_capacity]
            if free:
                best = min(free, key=lambda w: (Fraction(load[w.worker_id], w.daily_capacity), w.worker_id))
                counts[best.worker_id][class_name] = counts[best.worker_id].get(class_name, 0) + 1
                load[best.worker_id] += 1
            elif not _augment(class_name, staff, counts, load):
                break
    for class_name in order:
        # Within a class: rework before new work, then by item key; workers take their share in id order.
        queue = sorted((c for c in pool if c.class_name == class_name and c.image_id not in taken),
                       key=lambda c: (c.task_kind != "rework", ranks.get(c.image_id, (float("inf"),))[0],
                                      c.item_key, c.image_id))
        slots = [w.worker_id for w in staff for _ in range(counts[w.worker_id].get(class_name, 0))]
        for c, worker_id in zip(queue, slots, strict=False):
            reason = "rework: back to its labeler's class queue" if c.task_kind == "rework" else \
                ranks.get(c.image_id, (None, "deficit order, then item key"))[1]
            assigned.append(Assignment(c.image_id, c.item_key, c.class_name, worker_id, c.task_kind,
                                       f"class {class_name} (deficit order); {reason}"))
            taken.add(c.image_id)
    return assigned


def _augment(class_name: str, staff: list[Worker], counts: dict[str, dict[str, int]], load: dict[str, int]) -> bool:
    """Make room for one more item of ``class_name`` by shifting items along a chain of skilled workers to one
    with free capacity (an augmenting path); False when none exists. Loads only grow, so a class served earlier
    never loses items to a later one."""
    start = [w for w in staff if class_name in w.classes]
    parent: dict[str, tuple[str | None, str]] = {w.worker_id: (None, class_name) for w in start}
    queue = [w.worker_id for w in start]
    by_id = {w.worker_id: w for w in staff}
    while queue:
        worker_id = queue.pop(0)
        if load[worker_id] < by_id[worker_id].daily_capacity:
            load[worker_id] += 1
            node = worker_id
            while True:
                prev, cls = parent[node]
                counts[node][cls] = counts[node].get(cls, 0) + 1
                if prev is None:
                    return True
                counts[prev][cls] -= 1
                node = prev
        for cls in sorted(k for k, v in counts[worker_id].items() if v > 0):
            for other in staff:
                if cls in other.classes and other.worker_id not in parent:
                    parent[other.worker_id] = (worker_id, cls)
                    queue.append(other.worker_id)
    return False
