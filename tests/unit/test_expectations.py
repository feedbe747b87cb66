"""trainset.expectations: GX suites judging small measurement tables (real great_expectations, no mocks)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from trainset.config import load_config
from trainset.expectations import SuiteError, check_suite, load_suite, suite_parameters, suite_path, validate_dataframe

NAN = math.nan

MEASUREMENTS = {
    "name": "measurements",
    "expectations": [
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "sharpness", "min_value": {"$PARAMETER": "blur_min_sharpness"}},
         "meta": {"reason_code": "blurry", "description": "sharpness below the configured minimum"}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "width", "min_value": {"$PARAMETER": "min_width"}},
         "meta": {"reason_code": "too_small"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "sha256"},
         "meta": {"reason_code": "duplicate"}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "format", "value_set": ["jpeg", "png"]},
         "meta": {"reason_code": "unsupported_format"}},
    ],
}


def _write(suite_dir, suite: dict, name: str | None = None) -> str:
    name = name or suite["name"]
    (suite_dir / f"{name}.json").write_text(json.dumps(suite), encoding="utf-8")
    return name


@pytest.fixture
def suites(tmp_path, monkeypatch):
    """A suite folder of this test's own (the env override the runner reads), with MEASUREMENTS in it."""
    folder = tmp_path / "expectations"
    folder.mkdir()
    monkeypatch.setenv("TRAINSET_EXPECTATIONS_DIR", str(folder))
    _write(folder, MEASUREMENTS)
    return folder


def _table(**overrides) -> pd.DataFrame:
    data = {
        "image_id": [1, 2, 3, 4, 5],
        "sharpness": [120.0, 12.0, 95.0, 3.0, 80.0],
        "width": [640, 640, 100, 640, 640],
        "sha256": ["a", "b", "c", "d", "a"],
        "format": ["jpeg", "jpeg", "png", "gif", "jpeg"],
    }
    data.update(overrides)
    return pd.DataFrame(data)


PARAMS = {"blur_min_sharpness": 60.0, "min_width": 320}


def test_each_failing_row_gets_the_reason_codes_of_the_expectations_it_failed(suites):
    df = _table()
    outcome = validate_dataframe(df, "measurements", id_column="image_id", parameters=PARAMS)

    assert outcome.failures == {
        "1": ["duplicate"],
        "2": ["blurry"],
        "3": ["too_small"],
        "4": ["blurry", "unsupported_format"],
        "5": ["duplicate"],
    }
    assert outcome.evaluated == 5 and not outcome.success
    assert outcome.passed_ids(df["image_id"]) == [] == outcome.passed_ids()
    assert outcome.passed_ids([1, 6]) == ["6"]
    by_code = {e.reason_code: e for e in outcome.expectations}
    assert by_code["blurry"].unexpected_count == 2 and by_code["blurry"].column == "sharpness"
    assert by_code["blurry"].kwargs["min_value"] == 60.0  # the parameter, resolved
    assert by_code["duplicate"].unexpected_count == 2  # both rows of the duplicated pair
    assert outcome.reason_counts == {"blurry": 2, "duplicate": 2, "too_small": 1, "unsupported_format": 1}
    line = outcome.summary()
    assert line.startswith("suite measurements: 5 rows, 5 failing; blurry 2, duplicate 2")
    assert outcome.to_dict()["failed"] == 5 and json.dumps(outcome.to_dict())


def test_clean_table_passes_every_row(suites):
    df = _table(sha256=list("abcde"), format=["jpeg"] * 5, width=[640] * 5, sharpness=[100.0] * 5)
    outcome = validate_dataframe(df, "measurements", id_column="image_id", parameters=PARAMS)
    assert outcome.success and outcome.failures == {}
    assert outcome.passed_ids() == ["1", "2", "3", "4", "5"] == outcome.ids
    assert all(e.success for e in outcome.expectations)


def test_thresholds_come_from_the_project_config(suites):
    config = load_config()
    threshold = config.refine.quality.blur_min_sharpness
    df = _table(sharpness=[threshold - 0.5, threshold, threshold + 0.5, 1000.0, 0.0],
                sha256=list("abcde"), format=["jpeg"] * 5, width=[640] * 5)
    params = {"blur_min_sharpness": threshold, "min_width": config.image_spec.min_width}
    outcome = validate_dataframe(df, "measurements", id_column="image_id", parameters=params)
    assert outcome.failures == {"1": ["blurry"], "5": ["blurry"]}

    stricter = validate_dataframe(df, "measurements", id_column="image_id",
                                  parameters={**params, "blur_min_sharpness": threshold + 1})
    assert sorted(stricter.failures) == ["1", "2", "3", "5"]


def test_a_parameter_the_suite_needs_but_nobody_passed_is_a_suite_error(suites):
    assert suite_parameters(load_suite("measurements")) == {"blur_min_sharpness", "min_width"}
    with pytest.raises(SuiteError, match=r"min_width"):
        validate_dataframe(_table(), "measurements", id_column="image_id", parameters={"blur_min_sharpness": 1})


def test_null_measurement_fails_the_expectation_that_checks_it(suites):
    df = _table(sharpness=[120.0, NAN, 95.0, 90.0, 80.0], sha256=list("abcde"), format=["jpeg"] * 5,
                width=[640, 640, 640, None, 640])
    outcome = validate_dataframe(df, "measurements", id_column="image_id", parameters=PARAMS)
    assert outcome.failures == {"2": ["blurry"], "4": ["too_small"]}
    blurry = next(e for e in outcome.expectations if e.reason_code == "blurry")
    assert blurry.null_count == 1 and blurry.unexpected_count == 0 and not blurry.success
    # A summary does not call a null-only failure a table-level one.
    assert "table checks failed" not in outcome.summary()


def test_nulls_can_be_ignored_per_expectation_and_mostly_only_affects_the_expectation(suites):
    suite = {"name": "lenient", "expectations": [
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "sharpness", "min_value": 50, "mostly": 0.5},
         "meta": {"reason_code": "blurry", "nulls": "ignore"}},
    ]}
    _write(suites, suite)
    df = _table(sharpness=[120.0, NAN, 10.0, 90.0, 80.0])
    outcome = validate_dataframe(df, "lenient", id_column="image_id")
    # 1 of 4 measured values is unexpected: the expectation holds (mostly 0.5) but the row is still rejected.
    assert outcome.failures == {"3": ["blurry"]}
    assert outcome.expectations[0].success and outcome.success


def test_table_level_failure_is_reported_without_row_ids(suites):
    suite = {"name": "table", "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 10},
         "meta": {"reason_code": "batch_too_small"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "width", "min_value": 320},
         "meta": {"reason_code": "too_small"}},
    ]}
    _write(suites, suite)
    outcome = validate_dataframe(_table(), "table", id_column="image_id")
    assert outcome.failures == {"3": ["too_small"]}
    table = outcome.expectations[0]
    assert table.reason_code == "batch_too_small" and not table.success and table.column is None
    assert "table checks failed: batch_too_small" in outcome.summary()
    assert outcome.to_dict()["failed_expectations"] == ["batch_too_small", "too_small"]


def test_empty_table_runs(suites):
    df = _table().iloc[0:0]
    outcome = validate_dataframe(df, "measurements", id_column="image_id", parameters=PARAMS)
    assert outcome.evaluated == 0 and outcome.failures == {}


@pytest.mark.parametrize(("suite", "message"), [
    ({"name": "bad", "expectations": [{"type": "expect_column_values_to_be_unique", "kwargs": {"column": "sha256"}}]},
     "reason_code"),
    ({"name": "bad", "expectations": [{"type": "expect_column_to_be_pretty", "kwargs": {"column": "sha256"},
                                       "meta": {"reason_code": "ugly"}}]},
     "expect_column_to_be_pretty"),
    ({"name": "bad", "expectations": [{"type": "expect_column_values_to_be_between",
                                       "kwargs": {"column": "width", "min_valu": 3},
                                       "meta": {"reason_code": "too_small"}}]},
     "min_valu"),
    ({"name": "bad", "expectations": [{"type": "expect_column_values_to_be_between",
                                       "kwargs": {"column": "no_such_column", "min_value": 3},
                                       "meta": {"reason_code": "too_small"}}]},
     "no_such_column"),
    ({"name": "other", "expectations": []}, "declares name"),
    ({"name": "bad", "expectations": []}, "no expectations"),
])
def test_a_suite_that_cannot_run_raises_suite_error(suites, suite, message):
    _write(suites, suite, name="bad")
    with pytest.raises(SuiteError, match=message):
        validate_dataframe(_table(), "bad", id_column="image_id")


def test_unreadable_or_missing_suite_file_and_bad_id_column(suites):
    (suites / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(SuiteError, match="cannot read"):
        validate_dataframe(_table(), "broken", id_column="image_id")
    with pytest.raises(SuiteError, match="no file"):
        validate_dataframe(_table(), "absent", id_column="image_id")
    with pytest.raises(SuiteError, match="invalid suite name"):
        suite_path("../escape")
    with pytest.raises(SuiteError, match="not in the table"):
        validate_dataframe(_table(), "measurements", id_column="id", parameters=PARAMS)
    with pytest.raises(SuiteError, match="not unique"):
        validate_dataframe(_table(image_id=[1, 1, 2, 3, 4]), "measurements", id_column="image_id",
                           parameters=PARAMS)


def test_check_suite_builds_every_expectation(suites):
    assert check_suite("measurements", parameters=PARAMS)["name"] == "measurements"
    _write(suites, {"name": "bad", "expectations": [
        {"type": "expect_nothing_at_all", "kwargs": {}, "meta": {"reason_code": "x"}}]})
    with pytest.raises(SuiteError, match="expect_nothing_at_all"):
        check_suite("bad")


def test_data_docs_are_written_and_keep_earlier_runs(suites, tmp_path):
    docs = tmp_path / "docs"
    first = validate_dataframe(_table(), "measurements", id_column="image_id", parameters=PARAMS,
                               docs_dir=docs, run_name="manual__2026-11-22T04:00:00+00:00")
    assert first.docs_path == docs / "index.html" and first.docs_path.is_file()
    assert first.validation_page is not None and first.validation_page.is_file()
    assert "measurements" in first.docs_path.read_text(encoding="utf-8")
    page = first.validation_page.read_text(encoding="utf-8")
    assert "blurry" in page or "sharpness" in page
    assert (docs / "expectations" / "measurements.html").is_file()
    assert "docs file://" in first.summary()

    _write(suites, {**MEASUREMENTS, "name": "second_suite"})
    second = validate_dataframe(_table(), "second_suite", id_column="image_id", parameters=PARAMS,
                                docs_dir=docs, run_name="later")
    index = second.docs_path.read_text(encoding="utf-8")
    assert "manual__2026-11-22T04_00_00_00_00" in index and "later" in index
    assert first.validation_page.is_file(), "an earlier run's page survives a later build"
    assert (docs / "expectations" / "measurements.html").is_file()


def _validate_into(docs, i: int) -> str:
    outcome = validate_dataframe(_table(), "measurements", id_column="image_id", parameters=PARAMS,
                                 docs_dir=docs, run_name=f"batch_{i}")
    return str(outcome.validation_page)


def test_parallel_runs_share_one_docs_folder(suites, tmp_path):
    """Mapped batches run in separate processes at the same time into one Data Docs folder: every run lands in
    the index (file lock), and threads in one process are serialized too (GX is not thread-safe)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    import great_expectations  # noqa: F401  (imported before forking, so children do not pay for it again)

    docs = tmp_path / "docs"
    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("fork")) as pool:
        pages = list(pool.map(_validate_into, [docs] * 3, range(3)))
    with ThreadPoolExecutor(2) as pool:
        pages += list(pool.map(_validate_into, [docs] * 2, range(3, 5)))
    assert all(page != "None" and Path(page).is_file() for page in pages), pages
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert all(f"batch_{i}" in index for i in range(5))
    stored = list((docs / ".gx_stores" / "validations").rglob("*.json"))
    assert len(stored) == 5
    # Stored results are slimmed to what the pages show (no full unexpected lists).
    assert all('"unexpected_index_list"' not in p.read_text(encoding="utf-8") for p in stored)
