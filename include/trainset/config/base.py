"""What every section model shares: unknown keys fail, values are frozen; the one error a bad file raises."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """The project file is missing, unreadable or invalid; the message names the field and why."""


class _Model(BaseModel):
    # Typos in a project file must fail loudly rather than silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)
