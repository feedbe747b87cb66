"""The project's identity and plumbing: period and calendar, classes, naming, image spec, storage roots,
connections, Slack channels, schedules, task defaults, report recipients."""

from __future__ import annotations

import datetime as dt
import re
import string
from typing import Literal

from pydantic import Field, field_validator, model_validator

from trainset.config.base import _Model


class Period(_Model):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class ProjectInfo(_Model):
    code: str = Field(pattern=r"^[A-Za-z0-9]{2,16}$", description="short code used in file names")
    name: str
    period: Period
    timezone: str = "Asia/Seoul"
    working_days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = [
        "mon", "tue", "wed", "thu", "fri",
    ]
    holidays: list[dt.date] = []

    def today(self) -> dt.date:
        """Today in the project's time zone: what "today" means wherever no run date is given (the CLI)."""
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo(self.timezone)).date()


class ImageClass(_Model):
    id: int = Field(ge=0)
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    name_ko: str
    attributes: dict[str, list[str]] = {}
    target_count: int = Field(default=0, ge=0, description="images wanted for this class over the project")


class NamingRule(_Model):
    pattern: str = "{project}_{class_name}_{yyyymmdd}_{seq:06d}.jpg"

    @field_validator("pattern")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        allowed = {"project", "class_name", "class_id", "yyyymmdd", "seq"}
        used = {name for _, name, _, _ in string.Formatter().parse(value) if name}
        if unknown := used - allowed:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        if "seq" not in used:
            raise ValueError("the pattern needs {seq} so names are unique")
        return value


ImageFormat = Literal["jpeg", "png", "webp", "tiff", "bmp", "gif", "heic"]


class ImageSpec(_Model):
    formats: list[ImageFormat] = ["jpeg", "png", "webp", "tiff", "bmp"]
    min_width: int = Field(default=320, ge=1)
    min_height: int = Field(default=240, ge=1)
    max_width: int = Field(default=12000, ge=1)
    max_height: int = Field(default=12000, ge=1)
    max_pixels: int = Field(default=80_000_000, ge=1, description="header pixel count above this is a bomb")
    max_bytes: int = Field(default=100 * 1024 * 1024, ge=1)


class StorageRoots(_Model):
    drop_zone: str
    quarantine: str
    raw: str
    warehouse: str
    labeling: str
    inspection_server: str
    training: str
    reports: str

    @field_validator("*")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not re.match(r"^(file|s3)://.+", value):
            raise ValueError(f"{value!r} must be a file:// or s3:// URI")
        return value.rstrip("/")


class Connections(_Model):
    records_db: str = "trainset_db"
    aws: str = "aws_default"
    slack_webhook: str = "slack_alerts"
    slack_api: str = "slack_api"
    smtp: str = "smtp_default"


class SlackChannels(_Model):
    alerts: str = "#trainset-alerts"
    labeling: str = "#trainset-labeling"
    inspection: str = "#trainset-inspection"


class Schedules(_Model):
    collect: str | None = "@daily"
    annotate_intake: str | None = "0 9 * * *"
    labeling_upload_due: dt.time = dt.time(18, 0)
    inspection: str | None = "@daily"
    daily_report: str | None = "0 19 * * *"


class TaskDefaults(_Model):
    """Airflow task defaults every DAG gets (retries back off exponentially from retry_delay)."""

    retries: int = Field(default=2, ge=0, le=10)
    retry_delay_seconds: int = Field(default=120, ge=1)


class ReportSettings(_Model):
    recipients: list[str] = []
