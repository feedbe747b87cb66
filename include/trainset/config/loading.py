"""Reading the project file: YAML, ``${VAR}`` / ``${VAR:-default}`` expanded, relative ``file://`` roots
resolved against the project root, validated into ``ProjectConfig``; ``get_config`` caches it per process."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from trainset.config.base import ConfigError
from trainset.config.model import ProjectConfig

INCLUDE_DIR = Path(__file__).resolve().parents[2]
PROJECT_ROOT = INCLUDE_DIR.parent
DEFAULT_CONFIG_PATH = INCLUDE_DIR / "project.yaml"
CONFIG_ENV = "TRAINSET_CONFIG"

# Innermost references first (the default may not contain "$"), repeated until none is left: allows nesting.
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}$]*))?\}")


def _expand_env(node):
    """Replace ${VAR} / ${VAR:-default} in every string of the parsed YAML tree."""
    if isinstance(node, dict):
        return {k: _expand_env(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v) for v in node]
    if isinstance(node, str):
        def sub(match: re.Match) -> str:
            value = os.environ.get(match.group(1))
            if value is None:
                if match.group(2) is None:
                    raise ConfigError(f"environment variable {match.group(1)} is not set (used in the project file)")
                value = match.group(2)
            return value

        while (expanded := _ENV_REF.sub(sub, node)) != node:
            node = expanded
        return node
    return node


def _resolve_relative_file_uris(storage: dict, base: Path) -> dict:
    """``file://relative/path`` is taken relative to the project root, so the default file works anywhere."""
    out = {}
    for key, value in storage.items():
        if isinstance(value, str) and value.startswith("file://") and not value.startswith("file:///"):
            value = "file://" + str((base / value[len("file://"):]).resolve())
        out[key] = value
    return out


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {where}: {e['msg']}")
    return "\n".join(lines)


def parse_config(data: dict, *, source: str = "<dict>", base: Path = PROJECT_ROOT) -> ProjectConfig:
    data = _expand_env(data)
    if isinstance(data.get("storage"), dict):
        data = {**data, "storage": _resolve_relative_file_uris(data["storage"], base)}
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"invalid project file {source}:\n{_format_errors(err)}") from None


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_config(path: str | os.PathLike | None = None) -> ProjectConfig:
    path = Path(path) if path else config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read project file {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"project file {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"project file {path} must be a mapping at the top level")
    return parse_config(data, source=str(path))


@lru_cache(maxsize=8)
def _cached(path: str, mtime: float, env: tuple) -> ProjectConfig:
    return load_config(path)


def get_config() -> ProjectConfig:
    """The project file, parsed once per process (again if the file or a TRAINSET_* variable changes)."""
    path = config_path()
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("TRAINSET_")))
    return _cached(str(path), path.stat().st_mtime if path.exists() else 0.0, env)
