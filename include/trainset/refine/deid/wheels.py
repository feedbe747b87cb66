"""Where the models come from: files and versions of installed PyPI packages (nothing is fetched at run time)."""

from __future__ import annotations

import importlib.util
from importlib import metadata


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def find_module_file(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{name} is not installed")
    return spec.origin
