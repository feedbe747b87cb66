"""Use the worker's cores inside one batch: a process pool (forkserver, safe beside Airflow's threads), or inline
when the batch is too small to pay for starting processes.

Workers must never re-import the parent's ``__main__`` (what forkserver and spawn do by default): under Airflow's
scheduler a task runs in a Task SDK process whose main module is the ``.venv/bin/airflow`` script, and a child that
re-imports it dies on the supervisor's ``airflow-db-not-allowed:///`` database URL (BrokenProcessPool). So the fork
server preloads only our heavy imports, and the workers are started while ``__main__`` hides its file path, which
is what multiprocessing re-imports it from. Workers import only the mapped function's module; nothing in
``trainset`` imports Airflow."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor

# Starting a worker (a fresh interpreter importing numpy, OpenCV, Pillow, maybe the models) costs ~1-3 s, so a
# pool pays only when each worker gets at least this much work: many cheap items, or a few expensive ones.
MIN_ITEMS_PER_WORKER = 4
# Imported once in the fork server, then shared by every worker it forks; never "__main__" (see above).
_PRELOAD = ("numpy", "PIL.Image")
log = logging.getLogger(__name__)


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
    # The task log says how the batch used the cores (the system test reads this line under the scheduler).
    log.info("pool: %d processes for %d items of %s", n, len(items), getattr(fn, "__name__", fn))
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(_PRELOAD))
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=initializer, initargs=initargs) as pool:
        # map() submits every chunk at once, so all n workers start inside this block.
        with _main_file_hidden():
            results = pool.map(fn, items, chunksize=max(1, min(16, len(items) // (n * 4))))
        yield from results


@contextlib.contextmanager
def _main_file_hidden():
    """Without ``__main__.__file__`` (and no ``__spec__``), multiprocessing has no main module to re-import."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None or not hasattr(main, "__file__"):
        yield
        return
    path = main.__file__
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path
