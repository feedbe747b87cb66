"""The project file: the shipped one validates, bad ones fail fast naming the field and why."""

from __future__ import annotations

import pytest
import yaml
from trainset.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config


def base() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


def test_shipped_project_file_is_valid():
    config = load_config(DEFAULT_CONFIG_PATH)
    assert config.project.code == "TS"
    assert {c.name for c in config.classes} >= {"person", "vehicle"}
    assert all(uri.startswith(("file:///", "s3://")) for uri in config.storage.model_dump().values())


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d["project"].update(code="bad code!"), "project.code"),
    (lambda d: d["project"]["period"].update(start="2027-01-01"), "project.period"),
    (lambda d: d["classes"].append(dict(d["classes"][0])), "classes"),
    (lambda d: d["naming"].update(pattern="{project}_{nope}.jpg"), "naming.pattern"),
    (lambda d: d["naming"].update(pattern="{project}.jpg"), "naming.pattern"),
    (lambda d: d["storage"].update(raw="ftp://x/y"), "storage.raw"),
    (lambda d: d.update(unknown_section={}), "unknown_section"),
    (lambda d: d["image_spec"].update(max_pixels=-1), "image_spec.max_pixels"),
])
def test_bad_values_name_the_field(mutate, field):
    data = base()
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert field in str(err.value)


def test_env_references_expand_with_defaults_and_nesting(monkeypatch):
    monkeypatch.setenv("TRAINSET_DATA_ROOT", "/srv/trainset")
    monkeypatch.delenv("TRAINSET_DROP_ZONE", raising=False)
    config = parse_config(base())
    assert config.storage.drop_zone == "file:///srv/trainset/drop_zone"
    monkeypatch.setenv("TRAINSET_DROP_ZONE", "s3://intake/2026")
    assert parse_config(base()).storage.drop_zone == "s3://intake/2026"


def test_missing_env_without_default_is_an_error(monkeypatch):
    data = base()
    data["storage"]["raw"] = "${SURELY_NOT_SET_ANYWHERE}"
    monkeypatch.delenv("SURELY_NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ConfigError, match="SURELY_NOT_SET_ANYWHERE"):
        parse_config(data)


def test_unreadable_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)
