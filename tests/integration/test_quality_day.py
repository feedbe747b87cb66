"""A demo day of labeling quality control (품질관리) through annotate_intake's dag.test().

The PM's GT set is 12 items labeled earlier; the morning distribution mixes GT items (never one a labeler made
themselves) and consensus replicas into the lists, unmarked.  Two careful labelers copy the truth; one sloppy
labeler draws every box far from the object.  After the run: GT uploads are scored and set aside (not accepted),
the consensus items the sloppy labeler touched are disputed with both versions kept, the others merged; the
sloppy labeler is gated and the PM got exactly one Slack message (a re-run sends none).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from trainset import db
from trainset.annotate.distribute import distribute_day, write_lists
from trainset.annotate.model import CaptureMeta, LabelItem, LabelObject
from trainset.annotate.roster import load_roster, sync_roster
from trainset.config import get_config
from trainset.quality.assign import add_reference_gt, plan_quality_assignments
from trainset.storage import open_storage

DAY0, DAY = dt.date(2026, 3, 13), dt.date(2026, 3, 16)
CLASSES = {"person": {"pose": "standing"}, "vehicle": {"type": "car"}, "food": {}}
ROSTER = """workers:
  - {worker_id: kim, name: 김민지, slack_user_id: U0QKIM, employment_start: 2026-01-05, daily_capacity: 10, classes: [all]}
  - {worker_id: lee, name: 이서준, slack_user_id: U0QLEE, employment_start: 2026-01-05, daily_capacity: 10, classes: [all]}
  - {worker_id: bad, name: 박대충, slack_user_id: U0QBAD, employment_start: 2026-01-05, daily_capacity: 10, classes: [all]}
"""
W, H = 320, 240


def _jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    im = Image.fromarray((rng.random((H // 8, W // 8, 3)) * 255).astype("uint8")).resize((W, H))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _truth(key: str, cls: str, *, far: bool = False) -> LabelItem:
    box = [64.0, 60.0, 128.0, 120.0] if not far else [250.0, 5.0, 60.0, 40.0]
    return LabelItem(item_key=key, source_format="aihub", source_uri=f"{key}.json", label_stem=key,
                     image_file_name=f"{key}.jpg", width=W, height=H, class_name=cls,
                     capture=CaptureMeta(date="2026-03-10"), id_scope=key,
                     objects=[LabelObject(id="1", category=cls, bbox=box, attributes=CLASSES[cls])])


@pytest.fixture
def quality_env(project_env, project_file):
    project_file(roster=ROSTER, replace={"gt_share: 0.05": "gt_share: 0.3", "consensus_share: 0.05":
                                         "consensus_share: 0.2", "min_gt_boxes: 10": "min_gt_boxes: 2"})
    warehouse = open_storage("file://" + str(project_env.data_root / "warehouse"))
    rows, n = [], 0
    for cls in CLASSES:
        for _ in range(15):
            n += 1
            data = _jpeg(n)
            name = f"TS_{cls}_20260312_{n:06d}.jpg"
            rows.append((hashlib.sha256(data).hexdigest(), len(data), "jpeg", W, H, f"file:///drop/{name}", name, cls,
                         "refine__test", "refined", "refine", warehouse.write_bytes(f"{cls}/{name}", data), name))
    conn = project_env.records
    with conn.cursor() as cur:
        cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES ('refine__test', 'refine', 'test')")
        db.execute_batch(cur, """INSERT INTO images (sha256, size_bytes, format, width, height, source_uri,
                                 original_name, class_name, batch_id, status, stage, location, dataset_name)
                                 VALUES %s""", rows)
    conn.commit()
    return project_env


def _lists(labeling, day) -> dict[str, list[dict]]:
    out = {}
    for worker in ("kim", "lee", "bad"):
        path = labeling.local_path(f"assignments/{day.isoformat()}/{worker}.csv")
        out[worker] = list(csv.DictReader(path.open(encoding="utf-8"))) if path.exists() else []
    return out


def test_quality_demo_day(quality_env, run_dag):
    conn = quality_env.records
    config = get_config()
    labeling = open_storage(config.storage.labeling)
    # The PM's GT set: 12 items kim labeled on an earlier day (reference labels = the truth).
    sync_roster(conn, load_roster(config))
    with conn.cursor() as cur:
        images = db.fetch_dicts(cur, """SELECT image_id, class_name, regexp_replace(dataset_name, '\\.jpg$', '')
                                        AS item_key FROM images ORDER BY image_id""")
    gt_images = [im for im in images if int(im["item_key"][-6:]) % 15 < 4][:12]
    with conn.cursor() as cur:
        db.execute_batch(cur, "INSERT INTO assignments (image_id, worker_id, task_kind, work_date) VALUES %s",
                         [(im["image_id"], "kim", "label", DAY0) for im in gt_images])
    assert add_reference_gt(conn, [_truth(im["item_key"], im["class_name"]) for im in gt_images], DAY0) == 12
    conn.commit()

    # The morning: distribution, then GT and consensus items mixed in (what the DAG's first tasks do at 09:00).
    distribute_day(conn, config, labeling, DAY)
    planned = plan_quality_assignments(conn, config, DAY)
    with conn.cursor() as cur:
        write_lists(cur, labeling, config, DAY)
    conn.commit()
    assert planned["gt_assigned"] == 6 and planned["consensus_items"] == 6, planned
    lists = _lists(labeling, DAY)
    gt_keys = {im["item_key"] for im in gt_images}
    assert {r["task_kind"] for rows in lists.values() for r in rows} == {"label"}  # nothing marks GT or replicas
    assert not gt_keys & {r["item_key"] for r in lists["kim"]}  # kim made the GT: he never gets it back
    assert len(gt_keys & {r["item_key"] for r in lists["bad"]}) == 3
    assert len(gt_keys & {r["item_key"] for r in lists["lee"]}) == 3

    # The labelers upload: kim and lee copy the truth, bad draws every box far off.
    classes = {im["item_key"]: im["class_name"] for im in images}
    for worker, rows in lists.items():
        for r in rows:
            item = _truth(r["item_key"], classes[r["item_key"]], far=worker == "bad")
            doc = {"info": {"format": "trainset-aihub", "version": "1.0", "annotator": worker},
                   "image": {"file_name": f"{item.item_key}.jpg", "width": W, "height": H,
                             "class_name": item.class_name},
                   "capture": {"date": "2026-03-10"},
                   "annotations": [{"id": "1", "category": o.category, "shape": "bbox", "bbox": o.bbox,
                                    "attributes": o.attributes} for o in item.objects]}
            labeling.write_bytes(f"uploads/{DAY.isoformat()}/{worker}/{item.item_key}.json",
                                 json.dumps(doc, ensure_ascii=False).encode())

    dag_run = run_dag("annotate_intake", conf={"work_date": DAY.isoformat(), "wait_for_due": False})

    with conn.cursor() as cur:
        daily = {r["worker_id"]: r for r in db.fetch_dicts(
            cur, "SELECT * FROM quality_labeler_daily WHERE work_date = %s", (DAY,))}
        gating = {r["worker_id"]: r for r in db.fetch_dicts(cur, "SELECT * FROM quality_gating")}
        gt_anns = db.fetch_dicts(cur, """SELECT a.* FROM annotations a JOIN assignments s
                                         ON s.image_id = a.image_id AND s.worker_id = a.worker_id
                                         AND s.work_date = a.work_date AND s.task_kind = 'gt'
                                         WHERE a.work_date = %s""", (DAY,))
        consensus = db.fetch_dicts(cur, "SELECT * FROM quality_consensus_results WHERE work_date = %s", (DAY,))
        notes = db.fetch_dicts(cur, "SELECT * FROM notifications WHERE dedupe_key LIKE 'quality:%%'")
    # Scores: lee copied GT (accuracy 1), bad missed every GT box (accuracy 0); kim had no GT today.
    assert daily["lee"]["accuracy"] == 1.0 and daily["lee"]["gt_items"] == 3
    assert daily["bad"]["accuracy"] == 0.0 and daily["bad"]["conflicts"]["missing"] == 3
    assert daily["bad"]["conflicts"]["extra"] == 3
    # GT uploads are set aside: scored, never accepted as the labeler's work.
    assert len(gt_anns) == 6 and {a["status"] for a in gt_anns} == {"gt_scored"}
    assert all(a["label_uri"] is None for a in gt_anns)
    # Consensus: items bad touched are disputed with both versions; kim+lee items merged.
    assert len(consensus) == 6
    for c in consensus:
        assert c["disputed"] == ("bad" in c["workers"]), c
        assert set(json.loads(c["replicas"]) if isinstance(c["replicas"], str) else c["replicas"]) == set(c["workers"])
    with conn.cursor() as cur:
        merged_anns = db.fetch_dicts(cur, """SELECT a.item_key, a.worker_id, a.status, a.label_uri FROM annotations a
                                             WHERE a.work_date = %s AND a.item_key = ANY(%s)""",
                                     (DAY, [c["item_key"] for c in consensus if not c["disputed"]]))
    # An agreed item is accepted once (the merged label), its other replica set aside.
    for key in {a["item_key"] for a in merged_anns}:
        statuses = sorted(a["status"] for a in merged_anns if a["item_key"] == key)
        assert statuses == ["consensus_replica", "passed"], (key, statuses)
        assert next(a for a in merged_anns if a["item_key"] == key and a["status"] == "passed")["label_uri"]
    # Gating: bad is gated, the PM got one Slack message (at the local Slack endpoint), lee and kim are not gated.
    assert gating["bad"]["gated"] and gating["bad"]["since"] == DAY and "lee" not in gating
    assert [n["status"] for n in notes] == ["sent"]
    texts = [m.text for m in quality_env.slack.messages("chat.postMessage") if "품질관리" in (m.text or "")]
    assert len(texts) == 1 and "박대충 (bad)" in texts[0] and "0.0%" in texts[0]
    assert daily["bad"]["gated"] is True

    # The PM's report: the quality block (CSV beside the report, a sheet in the XLSX) has bad's gated row.
    from openpyxl import load_workbook
    from trainset.reports import annotation_data_to_csv

    report = annotation_data_to_csv(conn, quality_env.tmp_path / "report", DAY)
    rows = list(csv.DictReader(io.StringIO(report["quality_csv"].read_text(encoding="utf-8-sig"))))
    by_worker = {r["worker_id"]: r for r in rows}
    assert by_worker["bad"]["gated"] == "True" and float(by_worker["bad"]["accuracy"]) == 0.0
    assert float(by_worker["lee"]["accuracy"]) == 1.0 and by_worker["lee"]["gated"] == "False"
    assert "quality" in load_workbook(report["xlsx"]).sheetnames

    # The data card's section: the per-labeler table and the accuracy-over-time plot.
    from trainset.train.datacard import labeler_quality_section

    section = labeler_quality_section(conn, quality_env.tmp_path / "card")
    assert "<td>bad</td>" in section and "labeler_accuracy.png" in section
    assert (quality_env.tmp_path / "card" / "labeler_accuracy.png").stat().st_size > 1000

    # The gallery the run published (task quality_gallery): GT vs labeler and replica vs replica overlays, hints
    # beside the image, under the reports root.
    from trainset.inspection.comparison import OTHER_RGB, REFERENCE_RGB, quality_comparisons
    from trainset.quality.score import hint_lines

    bad_gt = next(a["item_key"] for a in gt_anns if a["worker_id"] == "bad")
    hints = hint_lines(conn, DAY)
    with conn.cursor() as cur:
        cur.execute("SELECT worker_id, count(DISTINCT annotation_id) FROM quality_hints WHERE work_date = %s "
                    "AND code IN ('area_outlier', 'aspect_outlier', 'position_outlier') GROUP BY 1", (DAY,))
        flagged = dict(cur.fetchall())
        cur.execute("SELECT worker_id, count(*) FROM annotations WHERE work_date = %s GROUP BY 1", (DAY,))
        uploads = dict(cur.fetchall())
    # Every far-off box of bad's is a box-statistics outlier; the careful labelers' boxes are not.
    assert flagged.get("bad") == uploads["bad"] and "kim" not in flagged and "lee" not in flagged, flagged
    assert any(line.startswith("bad: area_outlier") for line in hints[bad_gt])
    comparisons = quality_comparisons(conn, DAY, hints=hints)
    assert sum(c.kind == "gt" for c in comparisons) == 6 and sum(c.kind == "consensus" for c in comparisons) == 6
    published = dag_run.get_task_instance("labeling_refinement_validation.quality_gallery").xcom_pull(
        task_ids="labeling_refinement_validation.quality_gallery")
    page = open_storage(config.storage.reports).local_path(f"quality/gallery/{DAY.isoformat()}/index.html")
    assert published["page"] == "file://" + str(page) and page.is_file(), published
    assert (published["items"], published["gt"], published["consensus"]) == (12, 6, 6), published
    assert not list(page.parent.rglob(".tmp-*"))  # every file landed whole
    html_text = page.read_text(encoding="utf-8")
    assert "GT vs labeler (6)" in html_text and "Replica vs replica (6)" in html_text
    for c in comparisons:  # every GT and consensus comparison is on the page, its overlay beside it
        assert c.item_key in html_text and f"{c.reference_name} vs {c.other_name}" in html_text
    images = re.findall(r"<img src='([^']+)'", html_text)
    assert len(images) == 12 and all((page.parent / src).stat().st_size > 1000 for src in images)
    assert sum(src.startswith("items/gt_") for src in images) == 6
    bad_item = next(c for c in comparisons if c.kind == "gt" and c.other_name == "bad" and c.item_key == bad_gt)
    rendered = next((page.parent / "items").glob(f"gt_{bad_gt}*.jpg"), None)
    assert rendered is not None and bad_item.summary.startswith("accuracy 0.00")
    with Image.open(rendered) as im:
        px = im.convert("RGB").load()
        assert im.width > W  # the side panel with the summary and hints

        def near(xy, rgb):
            return sum(abs(a - b) for a, b in zip(px[xy], rgb, strict=True)) < 120

        assert near((64 + 60, 60), REFERENCE_RGB)  # GT's top edge
        assert near((250, 5 + 40), OTHER_RGB) or near((251, 5 + 40), OTHER_RGB)  # bad's dashed bottom edge

    # A re-run changes nothing and sends nothing new.
    run_dag("annotate_intake", conf={"work_date": DAY.isoformat(), "wait_for_due": False})
    texts = [m.text for m in quality_env.slack.messages("chat.postMessage") if "품질관리" in (m.text or "")]
    assert len(texts) == 1
    assert page.read_text(encoding="utf-8") == html_text  # the re-run republished the same page
