"""``python -m trainset expectations list|check|run`` (in-process, real GX; suites written to tmp)."""

from __future__ import annotations

import json

import pytest
from trainset.commands import expectations as command

SUITE = {"name": "cli_suite", "expectations": [
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "sharpness", "min_value": {"$PARAMETER": "blur_min_sharpness"}},
     "meta": {"reason_code": "blurry"}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "format", "value_set": {"$PARAMETER": "formats"}},
     "meta": {"reason_code": "unsupported_format"}},
]}


def thresholds(config) -> dict:
    """A --params-from target: parameters from the project file."""
    return {"blur_min_sharpness": config.refine.quality.blur_min_sharpness, "formats": list(config.image_spec.formats)}


def _cli(argv):
    import argparse

    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["expectations", *argv])
    return args.func(args)


@pytest.fixture
def suite_dir(tmp_path):
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "cli_suite.json").write_text(json.dumps(SUITE), encoding="utf-8")
    return folder


def test_list_and_check(suite_dir, capsys):
    assert _cli(["list", "--suite-dir", str(suite_dir)]) == 0
    out = capsys.readouterr().out
    assert "cli_suite: 2 expectations; parameters: blur_min_sharpness, formats" in out and "unsupported_format" in out

    assert _cli(["check", "--suite-dir", str(suite_dir)]) == 0
    assert _cli(["check", "--suite-dir", str(suite_dir), "--params-from", f"{__name__}.thresholds"]) == 0
    assert _cli(["check", "--suite-dir", str(suite_dir), "--param", "formats=[\"jpeg\"]"]) == 1
    assert "blur_min_sharpness" in capsys.readouterr().out

    (suite_dir / "broken.json").write_text(json.dumps({"name": "broken", "expectations": [
        {"type": "expect_column_to_sparkle", "kwargs": {}, "meta": {"reason_code": "dull"}}]}), encoding="utf-8")
    assert _cli(["check", "--suite-dir", str(suite_dir)]) == 1
    assert "FAILED  broken" in capsys.readouterr().out


def test_run_on_a_csv_with_config_thresholds(suite_dir, tmp_path, capsys):
    from trainset.config import load_config

    limit = load_config().refine.quality.blur_min_sharpness
    table = tmp_path / "measurements.csv"
    table.write_text(f"image_id,sharpness,format\n1,{limit + 1},jpeg\n2,{limit - 1},jpeg\n3,{limit + 5},gif\n4,,png\n",
                     encoding="utf-8")
    code = _cli(["run", "cli_suite", str(table), "--id-column", "image_id", "--suite-dir", str(suite_dir),
                 "--params-from", f"{__name__}.thresholds", "--docs-dir", str(tmp_path / "docs")])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[:-1] == [{"id": "2", "reasons": ["blurry"]}, {"id": "3", "reasons": ["unsupported_format"]},
                          {"id": "4", "reasons": ["blurry"]}]
    assert lines[-1]["failed"] == 3 and lines[-1]["passed"] == 1
    assert (tmp_path / "docs" / "index.html").is_file()

    # A suite that cannot run: exit code 2 and the reason on stderr.
    assert _cli(["run", "cli_suite", str(table), "--id-column", "nope", "--suite-dir", str(suite_dir),
                 "--params-from", f"{__name__}.thresholds"]) == 2
    assert "not in the table" in capsys.readouterr().err
