"""Use the worker's cores inside one batch: a process pool (forkserver, safe beside Airflow's threads), or inline
when the batch is too small to pay for starting processes."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor

# Starting a worker (a fresh interpreter importing numpy, OpenCV, Pillow, maybe the models) costs ~1-3 s, so a
# pool pays only when each worker gets at least this much work: many cheap items, or a few expensive ones.
MIN_ITEMS_PER_WORKER = 4


def worker_count(configured: int) -> int:
    return configured if configured > 0 else (os.cpu_count() or 1)


def pool_map(fn: Callable, items: Iterable, *, workers: int, initializer: Callable | None = None,
             initargs: tuple = (), min_items_per_worker: int = MIN_ITEMS_PER_WORKER) -> Iterator:
    """``map(fn, items)`` in order, on up to ``workers`` processes."""
    items = list(items)
    n = min(worker_count(workers), max(1, len(items) // max(1, min_items_per_worker)))
    if n <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield from map(fn, items)
        return
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=initializer, initargs=initargs) as pool:
        yield from pool.map(fn, items, chunksize=max(1, min(16, len(items) // (n * 4))))
