"""``python -m trainset show`` and ``python -m trainset json-dump`` on files (same code as the DAG tasks)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from trainset.cli import main
from trainset_dev.seeds.inspection import seed_passed_items

SPECS = [("TS_person_20260314_000001", "person", "w1"), ("TS_food_20260314_000002", "food", "w2")]


def test_show_one_item_and_a_gallery_of_a_folder(records, tmp_path, capsys):
    items = seed_passed_items(records, tmp_path, SPECS)
    out = tmp_path / "one.jpg"
    assert main(["show", str(items[0].image_path), str(items[0].label_path), "-o", str(out)]) == 0
    with Image.open(out) as im, Image.open(items[0].image_path) as original:
        assert im.size == original.size
        assert np.abs(np.asarray(im, dtype=int) - np.asarray(original.convert("RGB"), dtype=int)).max() > 100
    gallery = tmp_path / "gallery"
    assert main(["show", "--images", str(tmp_path / "warehouse"), "--labels", str(tmp_path / "labeling"),
                 "-o", str(gallery), "--group-by", "class,worker"]) == 0
    assert "2 item(s)" in capsys.readouterr().out
    html = (gallery / "index.html").read_text(encoding="utf-8")
    assert "사람 person" in html and "음식 food" in html and "By worker" in html and "By reason" not in html


def test_json_dump_dry_run_then_apply(records, records_dsn, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRAINSET_DATA_ROOT", str(tmp_path))
    items = seed_passed_items(records, tmp_path, SPECS)
    before = items[1].label_path.read_bytes()
    args = ["json-dump", "--rule", "rename_class:food=object", "--dsn", records_dsn, "--run", "cli1"]
    assert main(args) == 0
    assert "DRY RUN" in capsys.readouterr().out and items[1].label_path.read_bytes() == before
    assert main([*args, "--apply"]) == 0
    printed = capsys.readouterr().out
    assert "1 changed" in printed and "re-validation passed 1" in printed
    doc = json.loads(items[1].label_path.read_text(encoding="utf-8"))
    assert {a["category"] for a in doc["annotations"]} == {"object"}
    assert (tmp_path / "reports" / "bulkfix" / "cli1" / "originals" / "accepted" / items[1].label_path.name
            ).read_bytes() == before
    with records.cursor() as cur:
        cur.execute("SELECT fix_run, item_key FROM annotation_fixes")
        assert cur.fetchall() == [("cli1", items[1].item_key)]
