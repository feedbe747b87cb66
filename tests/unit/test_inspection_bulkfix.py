"""Bulk fixes over annotation files: dry run changes nothing; a real run changes exactly the matching files, keeps
the originals, records an audit row per file and re-validates through the first inspection's rules."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from trainset.config import load_config
from trainset.inspection.bulkfix import RuleError, apply_fixes, parse_rule
from trainset.storage import LocalStorage
from trainset_dev.seeds.inspection import seed_passed_items

SPECS = [("TS_animal_20260314_000001", "animal", "w1"), ("TS_animal_20260314_000002", "animal", "w1"),
         ("TS_person_20260314_000003", "person", "w2"), ("TS_food_20260314_000004", "food", "w2")]


def _edit(path, change):
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")


@pytest.fixture
def labeled(records, tmp_path):
    items = seed_passed_items(records, tmp_path, SPECS)
    # 000001: labeled with the old class name "cat" and a stale attribute; 000003: a box past the right edge.

    def old_class_name(doc):
        for ann in doc["annotations"]:
            ann["category"] = "cat"
        doc["image"]["class_name"] = "cat"
        doc["annotations"][0]["attributes"]["legacy_id"] = "x1"

    _edit(items[0].label_path, old_class_name)
    _edit(items[2].label_path, lambda d: d["annotations"][0].update(bbox=[60, 6, 50, 80]))
    (tmp_path / "labeling" / "accepted" / "notes.json").write_bytes(b"\xff\xfe not json")
    return items, LocalStorage(tmp_path / "labeling"), LocalStorage(tmp_path / "reports")


RULES = ["rename_class:cat=animal", "drop_attribute:legacy_id", "clamp_boxes", "set_meta:info.version=1.1"]


def _snapshot(storage):
    return {e.key: storage.read_bytes(e.key) for e in storage.list("")}


def test_rules_parse_and_refuse_bad_specs():
    assert parse_rule("rename-class:cat=animal").kind == "rename_class"
    assert parse_rule("drop_attribute:pose@person").arg == "pose@person"
    for bad in ["rename_class:cat", "explode:x", "clamp_boxes:1", "drop_attribute:", "set_meta:novalue"]:
        with pytest.raises(RuleError):
            parse_rule(bad)


def test_dry_run_changes_nothing_and_reports_the_diff(records, labeled):
    items, storage, backup = labeled
    before = _snapshot(storage)
    result = apply_fixes(records, storage, "accepted", [parse_rule(r) for r in RULES[:3]], load_config(),
                         run="fix1", dry_run=True, backup=backup)
    assert _snapshot(storage) == before and not backup.root.exists()
    assert sorted(p.item_key for p in result.plans) == [SPECS[0][0], SPECS[2][0]]
    assert result.changes_by_rule == {"rename_class:cat=animal": 3, "drop_attribute:legacy_id": 1, "clamp_boxes": 1}
    assert [k for k, _ in result.unreadable] == ["accepted/notes.json"]
    text = "\n".join(result.summary_lines())
    assert "DRY RUN" in text and "bbox: [60, 6, 50, 80] → [60, 6, 36, 66]" in text and "cat → animal" in text
    with records.cursor() as cur:
        cur.execute("SELECT count(*) FROM annotation_fixes")
        assert cur.fetchone()[0] == 0


def test_real_run_changes_exactly_the_matching_files_and_records_them(records, labeled):
    items, storage, backup = labeled
    before = _snapshot(storage)
    rules = [parse_rule(r) for r in RULES[:3]]
    result = apply_fixes(records, storage, "accepted", rules, load_config(), run="fix2", dry_run=False,
                         backup=backup, work_date=dt.date(2026, 3, 20))
    after = _snapshot(storage)
    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == [f"accepted/{SPECS[0][0]}.json", f"accepted/{SPECS[2][0]}.json"]
    fixed = json.loads(after[changed[0]])
    assert {a["category"] for a in fixed["annotations"]} == {"animal"} and fixed["image"]["class_name"] == "animal"
    assert "legacy_id" not in fixed["annotations"][0]["attributes"]
    assert json.loads(after[changed[1]])["annotations"][0]["bbox"] == [60, 6, 36, 66]
    for key in changed:  # originals kept
        assert backup.read_bytes(f"bulkfix/fix2/originals/{key}") == before[key]
    assert result.revalidation_failures == {} and result.revalidated_ok == 2
    with records.cursor() as cur:
        cur.execute("SELECT item_key, revalidated, reason_codes, jsonb_object_keys(changes) FROM annotation_fixes "
                    "ORDER BY 1, 4")
        assert cur.fetchall() == [(SPECS[0][0], True, [], "drop_attribute:legacy_id"),
                                  (SPECS[0][0], True, [], "rename_class:cat=animal"),
                                  (SPECS[2][0], True, [], "clamp_boxes")]

    # The records DB's canonical annotation follows the fixed file (what the transfer and the release read).
    assert result.payloads_updated == 2
    with records.cursor() as cur:
        cur.execute("SELECT item_key, payload FROM annotations WHERE item_key = ANY(%s) ORDER BY item_key",
                    ([SPECS[0][0], SPECS[2][0]],))
        payloads = dict(cur.fetchall())
    assert {o["category"] for o in payloads[SPECS[0][0]]["objects"]} == {"animal"}
    assert all("legacy_id" not in o["attributes"] for o in payloads[SPECS[0][0]]["objects"])
    assert payloads[SPECS[2][0]]["objects"][0]["bbox"] == [60, 6, 36, 66]

    # Again: nothing matches any more, nothing is written or recorded twice.
    again = apply_fixes(records, storage, "accepted", rules, load_config(), run="fix3", dry_run=False, backup=backup)
    assert again.plans == [] and _snapshot(storage) == after


def test_a_fix_that_breaks_the_rules_is_reported_by_revalidation(records, labeled):
    items, storage, backup = labeled
    result = apply_fixes(records, storage, "accepted", [parse_rule("rename_class:food=snack")], load_config(),
                         run="fix4", dry_run=False, backup=backup, work_date=dt.date(2026, 3, 20))
    assert result.warnings and "snack" in result.warnings[0]
    assert result.revalidation_failures == {f"accepted/{SPECS[3][0]}.json": ["unknown_class"]}
    with records.cursor() as cur:
        cur.execute("SELECT revalidated, reason_codes FROM annotation_fixes")
        assert cur.fetchall() == [(False, ["unknown_class"])]
