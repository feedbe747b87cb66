"""DropZoneCollectOperator over the real records DB and local storage roots."""

from __future__ import annotations

from trainset.config import get_config
from trainset_airflow.assets import raw_images
from trainset_airflow.operators.collect import DropZoneCollectOperator
from trainset_dev.photos import write_drop_zone


def _drop(project_env, count=4):
    config = get_config()
    root = project_env.data_root / "drop_zone"
    write_drop_zone(root, count, config.class_names[:2])
    return config


def test_collect_registers_moves_and_emits_the_counts(project_env, task_context):
    _drop(project_env)
    context = task_context()
    counts = DropZoneCollectOperator(task_id="collect").execute(context)
    assert counts["registered"] == 4 and counts["accepted"] == 4
    assert context["outlet_events"][raw_images].extra == counts
    assert not any((project_env.data_root / "drop_zone").rglob("*.jpg"))
    with project_env.records.cursor() as cur:
        cur.execute("SELECT count(*) FROM images WHERE status = 'raw'")
        assert cur.fetchone()[0] == 4


def test_collect_dry_run_writes_nothing_and_emits_no_event(project_env, task_context):
    _drop(project_env, 3)
    op = DropZoneCollectOperator(task_id="collect", dry_run="true")
    counts = op.execute(task_context())
    assert counts["dry_run"] is True and counts["registered"] == 3
    assert op.outlets == []
    assert len(list((project_env.data_root / "drop_zone").rglob("*.jpg"))) == 3
    with project_env.records.cursor() as cur:
        cur.execute("SELECT count(*) FROM images")
        assert cur.fetchone()[0] == 0
