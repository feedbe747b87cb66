"""The daily distribution with ``curation.label_order: diversity``: new work in k-center order over the features
stored by refine, each assignment row saying why (records DB)."""

from __future__ import annotations

import datetime as dt
import hashlib

from trainset.annotate.distribute import distribute_day
from trainset.curation.features import FEATURES_VERSION, classical_vector
from trainset.storage import LocalStorage


def test_diversity_order_puts_unlike_shots_first_and_records_reasons(records, tmp_path, monkeypatch):
    import numpy as np
    from trainset.config import load_config

    monkeypatch.setenv("TRAINSET_DATA_ROOT", str(tmp_path))
    config = load_config()
    config = config.model_copy(update={"curation": config.curation.model_copy(update={"label_order": "diversity"})})
    food = next(c.name for c in config.classes)
    rng = np.random.default_rng(0)
    base = [classical_vector(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)),
            classical_vector(np.full((64, 64, 3), 200, np.uint8))]
    with records.cursor() as cur:
        cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES ('c1', 'collect', 'r')")
        cur.execute("INSERT INTO workers (worker_id, name, employment_start, daily_capacity, classes) "
                    "VALUES ('w1', 'Kim', '2026-01-01', 2, %s)", ([food],))
        # five near-identical noisy shots (ids 1-5) then one flat shot (id 6): item-key order would give 1, 2
        for i in range(6):
            vec = list(base[0] if i < 5 else base[1])
            vec[0] += i * 1e-4
            sha = hashlib.sha256(str(i).encode()).hexdigest()
            cur.execute("INSERT INTO images (sha256, size_bytes, source_uri, original_name, class_name, batch_id, "
                        "status, dataset_name) VALUES (%s, 1, %s, %s, %s, 'c1', 'refined', %s)",
                        (sha, f"s{i}", f"f{i}.jpg", food, f"TS_{food}_20260314_{i + 1:06d}.jpg"))
            cur.execute("INSERT INTO image_features (sha256, kind, vector) VALUES (%s, %s, %s)",
                        (sha, FEATURES_VERSION, vec))
    records.commit()
    day = dt.date(2026, 3, 16)  # a Monday inside the demo project period
    distribute_day(records, config, LocalStorage(tmp_path / "labeling"), day, sync=False)
    with records.cursor() as cur:
        cur.execute("SELECT image_id, reason FROM assignments WHERE work_date = %s ORDER BY image_id", (day,))
        got = dict(cur.fetchall())
    assert 6 in got and len(got) == 2, got  # the unlike shot is among the two of the day
    assert all("deficit order" in r for r in got.values())
    assert any("diversity" in r for r in got.values()) and any("first of its class" in r for r in got.values())
