"""``make demo``: the stages it runs, with the simulated people before a stage and the PM's lines after it.

- ``dropzone``: the demo drop zone (real photos from installed packages, and the variants a real intake meets);
- ``annotate``: simulated labelers (``demo_prepare``) and the stage's lines;
- ``inspection``: a simulated inspection server (``demo_prepare``) and the stage's lines;
- ``collect``, ``refine``, ``train``, ``reports``: each stage's lines (``demo_summary``), over the product's
  queries and ``trainset.figures``.

``scripts/run_demo.py`` runs ``STAGES`` in order with ``dag.test()``.
"""

from __future__ import annotations

import importlib

# Each stage: its DAG, an optional preparation step (simulated people), and the summary lines it adds.
# "module:function" strings keep this list readable and import each stage only when it runs.
STAGES = [
    {"dag_id": "collect", "title": "1. collect", "summary": "trainset_dev.demo.collect:demo_summary"},
    {"dag_id": "refine", "title": "2. refine (정제)", "summary": "trainset_dev.demo.refine:demo_summary"},
    {"dag_id": "annotate_intake", "title": "3. annotate_intake (가공)", "before": "trainset_dev.demo.annotate:demo_prepare",
     "conf": {"work_date": "2026-03-16"}, "summary": "trainset_dev.demo.annotate:demo_summary"},
    {"dag_id": "inspection", "title": "4a. inspection (검수): transfer to the inspection server",
     "summary": "trainset_dev.demo.inspection:transfer_summary"},
    {"dag_id": "inspection", "title": "4b. inspection (검수): verdicts back, rework notices",
     "before": "trainset_dev.demo.inspection:demo_prepare", "summary": "trainset_dev.demo.inspection:demo_summary"},
    {"dag_id": "train_handoff", "title": "5. train_handoff (학습)", "summary": "trainset_dev.demo.train:demo_summary"},
    {"dag_id": "daily_report", "title": "PM daily report", "conf": {"day": "2026-03-17"},
     "summary": "trainset_dev.demo.reports:demo_summary"},
]


def call(path: str, *args, **kwargs):
    """Call a ``"module:function"`` of ``STAGES``."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)(*args, **kwargs)
