"""Release edge cases that need their own records: nothing to release; a release to S3 (moto server)."""

from __future__ import annotations

from collections import Counter

import pytest
from trainset.config import get_config
from trainset.storage import open_storage
from trainset.train.release import (
    NothingToRelease,
    ReleaseExists,
    plan_release,
    publish_release,
    uri_reader,
)
from trainset.train.verify import verify_release
from trainset_dev.seeds.train import seed_inspected_items


def test_nothing_to_release(records):
    with pytest.raises(NothingToRelease):
        plan_release(records, get_config(), name="empty", run_id="r")


def test_release_to_s3(records, tmp_path, s3_server):
    seed_inspected_items(records, tmp_path / "warehouse", {"person": 3, "food": 3}, seed=5)
    client = s3_server.client()
    client.create_bucket(Bucket="training-bucket")
    storage = open_storage("s3://training-bucket/releases", client)
    config = get_config()
    plan_release(records, config, name="s3rel", run_id="r1", formats=["coco", "aihub"])
    summary = publish_release(records, config, name="s3rel", run_id="r1", storage=storage, read=uri_reader())
    assert summary["uri"] == "s3://training-bucket/releases/s3rel"
    assert verify_release(storage, "s3rel") == []
    keys = [e.key for e in storage.list("s3rel")]
    assert "s3rel/manifest.json" in keys and not any(k.startswith("s3rel/labels/") for k in keys)
    counts = Counter(k.split("/")[1] for k in keys)
    assert counts["aihub"] > 0 and counts["annotations"] == 3
    with pytest.raises(ReleaseExists):
        plan_release(records, config, name="s3rel", run_id="r2")
