"""The inspection GX suites judge the transfer records and the verdict table (real GX, real PostgreSQL)."""

from __future__ import annotations

import uuid

from trainset.config import load_config
from trainset.expectations import validate_dataframe
from trainset.inspection.checks import TRANSFER_CHECK_SQL, VERDICT_CHECK_SQL, verdict_suite_parameters
from trainset.inspection.server import InspectionServer
from trainset.inspection.transfer import transfer_passed
from trainset.inspection.verdicts import ingest_verdicts
from trainset.storage import open_storage
from trainset_dev.seeds.inspection import seed_passed_items

SPECS = [("TS_person_20260314_000001", "person", "w1"), ("TS_animal_20260314_000002", "animal", "w1"),
         ("TS_food_20260314_000003", "food", "w2")]


def _frame(conn, sql):
    import pandas as pd

    with conn.cursor() as cur:
        cur.execute(sql)
        return pd.DataFrame.from_records(cur.fetchall(), columns=[d[0] for d in cur.description])


def test_suites_pass_on_a_clean_run_and_name_each_violation(records, tmp_path, s3_server):
    config = load_config()
    client = s3_server.client()
    seed_passed_items(records, tmp_path, SPECS)
    server = InspectionServer(f"s3://insp-{uuid.uuid4().hex[:10]}/incoming", client, config.inspection)
    transfer_passed(records, config, server, batch_id="b1")
    verdicts = open_storage(f"{server.uri}/verdicts", client)
    verdicts.write_bytes("2026-03-15.csv", (
        "item_key,verdict,reason_category,reason_code\n"
        f"{SPECS[0][0]},pass,,\n{SPECS[1][0]},fail,annotation,box_loose;wrong_class\n").encode())
    ingest_verdicts(records, config, verdicts, batch_id="v1")
    params = verdict_suite_parameters(config)
    transfers = validate_dataframe(_frame(records, TRANSFER_CHECK_SQL), "inspection_transfers", id_column="item_key")
    verdict = validate_dataframe(_frame(records, VERDICT_CHECK_SQL), "inspection_verdicts", id_column="row_id",
                                 parameters=params)
    assert transfers.success and transfers.evaluated == 3
    assert verdict.success and verdict.evaluated == 3  # one pass row, two reason-code rows

    with records.cursor() as cur:
        # A second image object for one item (sent twice), a manifest row whose checksum was never verified,
        # an item never sent, and verdicts written around the validation with unknown reasons.
        cur.execute("""INSERT INTO transfers (item_key, kind, object_uri, size_bytes, sha256, status)
                       VALUES (%s, 'image', 's3://x/other.jpg', 1, repeat('a', 64), 'verified')""", (SPECS[0][0],))
        cur.execute("UPDATE transfer_manifest_items SET sha256 = repeat('b', 64) WHERE item_key = %s AND kind = 'label'",
                    (SPECS[2][0],))
        cur.execute("DELETE FROM transfers WHERE item_key = %s", (SPECS[1][0],))
        cur.execute("""INSERT INTO inspections (item_key, round, verdict, reason_codes, reason_category, inspected_on)
                       VALUES ('k1', 'server', 'fail', '{coffee_spill}', 'annotation', '2026-03-16'),
                              ('k2', 'server', 'fail', '{}', 'mood', '2026-03-16'),
                              ('k3', 'server', 'pass', '{}', 'image', '2026-03-16')""")
    records.commit()
    transfers = validate_dataframe(_frame(records, TRANSFER_CHECK_SQL), "inspection_transfers", id_column="item_key")
    assert transfers.failures == {SPECS[0][0]: ["image_not_transferred_once"],
                                  SPECS[1][0]: ["image_not_transferred_once", "label_not_transferred_once",
                                                "manifest_checksum_mismatch"],  # its manifest rows name nothing
                                  SPECS[2][0]: ["manifest_checksum_mismatch"]}
    verdict = validate_dataframe(_frame(records, VERDICT_CHECK_SQL), "inspection_verdicts", id_column="row_id",
                                 parameters=params)
    assert sorted(v for codes in verdict.failures.values() for v in codes) == [
        "category_inconsistent", "unknown_reason_category", "unknown_reason_code"]
