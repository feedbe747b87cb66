"""Transfer to the inspection server: a real S3 protocol server (moto server mode) and real PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import uuid

import pytest
from trainset.config import load_config
from trainset.inspection.layout import place, split_of
from trainset.inspection.server import InspectionServer, TransferHooks, hash_file
from trainset.inspection.transfer import transfer_passed
from trainset_dev.seeds.inspection import seed_passed_items

SPECS = [("TS_person_20260314_000001", "person", "w1"), ("TS_animal_20260314_000002", "animal", "w1"),
         ("TS_food_20260314_000003", "food", "w2")]


@pytest.fixture
def config():
    base = load_config()
    inspection = base.inspection.model_copy(update={"retry_base_delay_s": 0.0, "multipart_threshold_mb": 5,
                                                    "multipart_chunk_mb": 5, "record_batch_size": 2,
                                                    "transfer_workers": 1})
    return base.model_copy(update={"inspection": inspection})


@pytest.fixture
def s3(s3_server):
    client = s3_server.client()
    puts: list[str] = []
    client.meta.events.register("before-parameter-build.s3.PutObject", lambda params, **_: puts.append(params["Key"]))
    client.meta.events.register("before-parameter-build.s3.CreateMultipartUpload",
                                lambda params, **_: puts.append(params["Key"]))
    client.puts = puts
    return client


def _server(config, client, **settings):
    s = config.inspection.model_copy(update=settings) if settings else config.inspection
    return InspectionServer(f"s3://insp-{uuid.uuid4().hex[:10]}/incoming", client, s, sleep=lambda _: None)


def _keys(client, server) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=server.bucket)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def _transfers(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT item_key, kind, status, attempts FROM transfers WHERE kind <> 'manifest' ORDER BY 1, 2")
        return cur.fetchall()


def test_layout_is_the_aihub_layout_and_the_split_is_stable():
    layout = load_config().inspection.layout
    key = "TS_person_20260314_000001"
    image = place(layout, item_key=key, kind="image", class_name="person", file_name=key + ".jpg", validation_share=0)
    label = place(layout, item_key=key, kind="label", class_name="person", file_name=key + ".json", validation_share=0)
    assert image.key == f"Training/01.원천데이터/TS_person/{key}.jpg"
    assert label.key == f"Training/02.라벨링데이터/TL_person/{key}.json"
    val = place(layout, item_key=key, kind="label", class_name="person", file_name="x.json", validation_share=1)
    assert val.key == "Validation/02.라벨링데이터/VL_person/x.json"
    shares = [split_of(f"item{i}", 0.1) for i in range(2000)]
    assert 120 < shares.count("validation") < 280  # about 10 %
    assert shares == [split_of(f"item{i}", 0.1) for i in range(2000)]


def test_transfer_verifies_writes_manifest_and_a_rerun_sends_nothing(records, tmp_path, config, s3):
    items = seed_passed_items(records, tmp_path, SPECS)
    server = _server(config, s3)
    result = transfer_passed(records, config, server, batch_id="inspection__run1")
    assert result.actions == {"uploaded": 6} and not result.failed
    keys = _keys(s3, server)
    assert len([k for k in keys if "_manifests/" not in k]) == 6
    assert f"incoming/Training/01.원천데이터/TS_person/{items[0].item_key}.jpg" in keys or \
        f"incoming/Validation/01.원천데이터/VS_person/{items[0].item_key}.jpg" in keys
    assert _transfers(records) == [(i.item_key, k, "verified", 1) for i in sorted(items, key=lambda i: i.item_key)
                                   for k in ("image", "label")]

    # The manifest in the bucket lists every object with the sha256 of the bytes we sent.
    body = s3.get_object(Bucket=server.bucket, Key="incoming/_manifests/inspection__run1.csv")["Body"].read()
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    assert len(rows) == 6
    local = {(i.item_key, "image"): i.image_path for i in items}
    for row in rows:
        if row["kind"] == "image":
            assert row["sha256"] == hash_file(local[(row["item_key"], "image")], 8 << 20)[0]
        on_server = s3.get_object(Bucket=server.bucket, Key="incoming/" + row["object_key"])["Body"].read()
        assert len(on_server) == int(row["size_bytes"])
    manifest_json = json.loads(s3.get_object(Bucket=server.bucket, Key="incoming/_manifests/inspection__run1.json")
                               ["Body"].read())
    assert manifest_json["items"] == 3 and len(manifest_json["objects"]) == 6
    with records.cursor() as cur:
        cur.execute("SELECT item_count, object_count FROM transfer_manifests WHERE batch_id = 'inspection__run1'")
        assert cur.fetchone() == (3, 6)
        cur.execute("SELECT count(*) FROM transfer_manifest_items WHERE batch_id = 'inspection__run1'")
        assert cur.fetchone()[0] == 6

    # Same run again: every object HEAD-checked, nothing uploaded, the manifest unchanged.
    s3.puts.clear()
    again = transfer_passed(records, config, server, batch_id="inspection__run1")
    assert again.actions == {"skipped": 6} and s3.puts == []
    assert _transfers(records) == [(i.item_key, k, "verified", 1) for i in sorted(items, key=lambda i: i.item_key)
                                   for k in ("image", "label")]


@pytest.mark.parametrize("workers", [1, 4])
def test_crash_between_upload_and_record_then_retry_sends_each_object_once(records, tmp_path, config, s3, workers):
    seed_passed_items(records, tmp_path, SPECS)
    config = config.model_copy(update={"inspection": config.inspection.model_copy(
        update={"transfer_workers": workers})})
    server = _server(config, s3)
    calls = []

    def db_write_crashes(objs):
        calls.append(len(objs))
        if len(calls) == 2:  # the first batch of records is committed, the second never is
            raise RuntimeError("records DB connection lost")

    with pytest.raises(RuntimeError, match="connection lost"):
        transfer_passed(records, config, server, batch_id="b1", hooks=TransferHooks(before_record=db_write_crashes))
    records.rollback()
    assert len(_transfers(records)) == 2  # one batch (record_batch_size=2) made it
    uploaded_before_crash = len(s3.puts)
    assert uploaded_before_crash == (4 if workers == 1 else 6)  # threads had sent the third item already

    retry = transfer_passed(records, config, server, batch_id="b1")
    expected = {"skipped": 2, "recovered": uploaded_before_crash - 2, "uploaded": 6 - uploaded_before_crash}
    assert retry.actions == {k: v for k, v in expected.items() if v}
    data_puts = [k for k in s3.puts if "_manifests/" not in k]
    assert len(data_puts) == 6 and len(set(data_puts)) == 6  # every object uploaded exactly once over both tries
    assert len([k for k in _keys(s3, server) if "_manifests/" not in k]) == 6
    rows = _transfers(records)
    assert len(rows) == 6 and {(r[0], r[1]) for r in rows} == {(k, kind) for k, _, _ in SPECS for kind in ("image", "label")}


def test_object_changed_on_the_server_is_detected_and_resent(records, tmp_path, config, s3):
    items = seed_passed_items(records, tmp_path, SPECS[:1])
    server = _server(config, s3)
    transfer_passed(records, config, server, batch_id="b1")
    image_key = next(k for k in _keys(s3, server) if k.endswith(".jpg"))
    original = s3.get_object(Bucket=server.bucket, Key=image_key)["Body"].read()
    # Out of band: someone overwrites the object with other bytes of the same length.
    s3.put_object(Bucket=server.bucket, Key=image_key, Body=bytes(len(original)))
    result = transfer_passed(records, config, server, batch_id="b2")
    assert result.actions == {"resent": 1, "skipped": 1}
    assert s3.get_object(Bucket=server.bucket, Key=image_key)["Body"].read() == items[0].image_path.read_bytes()
    with records.cursor() as cur:
        cur.execute("SELECT attempts, batch_id FROM transfers WHERE kind = 'image'")
        assert cur.fetchone() == (2, "b2")


def test_corrupted_upload_and_transient_error_are_retried(records, tmp_path, config, s3):
    from botocore.exceptions import EndpointConnectionError

    seed_passed_items(records, tmp_path, SPECS[:2])
    server = _server(config, s3)
    events = []

    def after_upload(obj):
        events.append(obj.key)
        if len(events) == 1:  # the bytes arrive damaged: verification must catch it
            s3.put_object(Bucket=server.bucket, Key=server.full_key(obj.key), Body=b"garbage")
        elif len(events) == 3:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    result = transfer_passed(records, config, server, batch_id="b1", hooks=TransferHooks(after_upload=after_upload))
    assert result.actions == {"uploaded": 4} and not result.failed
    with records.cursor() as cur:
        cur.execute("SELECT sum(attempts) FROM transfers WHERE kind <> 'manifest'")
        assert cur.fetchone()[0] == 6  # 4 objects, two of them needed a second attempt
    for obj_key in [k for k in _keys(s3, server) if "_manifests/" not in k]:
        assert server.head(obj_key.removeprefix("incoming/"))["ContentLength"] > 7


def test_an_object_that_never_verifies_fails_its_item_not_the_batch(records, tmp_path, config, s3):
    seed_passed_items(records, tmp_path, SPECS[:2])
    server = _server(config, s3, max_attempts=2)
    broken = SPECS[0][0]

    def always_corrupt(obj):
        if obj.item_key == broken and obj.kind == "image":
            s3.put_object(Bucket=server.bucket, Key=server.full_key(obj.key), Body=b"garbage")

    result = transfer_passed(records, config, server, batch_id="b1", hooks=TransferHooks(after_upload=always_corrupt))
    assert [k for k, _ in result.failed] == [broken]
    assert {r[0] for r in _transfers(records)} == {SPECS[1][0]}


def test_large_file_goes_multipart_and_its_composite_checksum_verifies(records, tmp_path, config, s3):
    items = seed_passed_items(records, tmp_path, SPECS[:1])
    items[0].image_path.write_bytes(os.urandom(11 * 1024 * 1024))  # 3 parts of 5 MiB
    server = _server(config, s3)
    creates = []
    s3.meta.events.register("before-parameter-build.s3.CreateMultipartUpload", lambda params, **_: creates.append(params["Key"]))
    result = transfer_passed(records, config, server, batch_id="b1")
    assert result.actions == {"uploaded": 2} and len(creates) == 1 and creates[0].endswith(".jpg")
    head = server.head(creates[0].removeprefix("incoming/"))
    assert head["ContentLength"] == 11 * 1024 * 1024
    again = transfer_passed(records, config, server, batch_id="b1")
    assert again.actions == {"skipped": 2}


def test_images_in_an_s3_warehouse_are_sent_too(records, tmp_path, config, s3):
    items = seed_passed_items(records, tmp_path, SPECS[:1])
    warehouse = f"wh-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=warehouse)
    s3.put_object(Bucket=warehouse, Key="person/a.jpg", Body=items[0].image_path.read_bytes())
    items[0].image_path.unlink()  # only the S3 copy exists now
    with records.cursor() as cur:
        cur.execute("UPDATE images SET location = %s", (f"s3://{warehouse}/person/a.jpg",))
    records.commit()
    server = _server(config, s3)
    result = transfer_passed(records, config, server, batch_id="b1", source_client=s3)
    assert result.actions == {"uploaded": 2}


def test_layout_errors_are_clear():
    from trainset.inspection.layout import LayoutError

    with pytest.raises(LayoutError, match="unknown field"):
        place("{split}/{colour}/{name}", item_key="k", kind="image", class_name="c", file_name="k.jpg",
              validation_share=0)
    with pytest.raises(LayoutError, match="unique"):
        place("{split}/{kind}", item_key="k", kind="image", class_name="c", file_name="k.jpg", validation_share=0)
    with pytest.raises(LayoutError, match="unsafe"):
        place("{class_name}/{name}", item_key="k", kind="image", class_name="..", file_name="k.jpg",
              validation_share=0)
