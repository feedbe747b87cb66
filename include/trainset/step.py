"""The step contract: every DAG task, CLI command and demo stage calls one domain function ``step(ctx)``.

A step is plain Python: it receives a ``StepContext`` (the records-DB connection, the validated config, the named
storage roots, the work date, the run id, the task's arguments already coerced, and the peers it may talk to) and
returns a ``StepResult`` (the summary line the user reads in the task log, the dict for XCom, and the extra of the
Asset event the task emits).  Who runs it (``TrainsetStepOperator`` in Airflow, the CLI, the demo, a test) owns
the connection and commits once when the step returns, rolls back when it raises.  A step commits earlier only
where a fact must outlive a later failure (a message sent, a file moved): ``outbox`` and the stages that move
files do that explicitly.

Domain exceptions say what the runner should do: ``StepSkipped`` (nothing to do; Airflow marks the task skipped),
``StepInputError`` (the task's arguments or inputs are wrong; retrying cannot help, so the task fails at once).
Any other exception is a failure that may pass on retry.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from trainset.config import ProjectConfig
from trainset.storage import Storage, open_storage

log = logging.getLogger(__name__)

# The storage roots a step may ask for by name (``config.storage``'s fields).
ROOTS = ("drop_zone", "quarantine", "raw", "warehouse", "labeling", "inspection_server", "training", "reports")


class StepSkipped(Exception):
    """Nothing to do in this run (e.g. no new inspection passes): the task is marked skipped, downstream too."""


class StepInputError(ValueError):
    """The arguments or inputs cannot work (unknown class, malformed rule): fail now, do not retry."""


class Sender(Protocol):
    def __call__(self, recipient: str, text: str) -> None: ...


class MailSender(Protocol):
    def __call__(self, to: list[str], subject: str, html: str, files: list[str]) -> None: ...


@dataclass
class Storages:
    """Opens the project's storage roots by name (``ctx.storages.raw``) or any URI (``ctx.storages.open(uri)``);
    each root is opened once per step.  ``s3_client`` is the runner's (an Airflow S3Hook's, or boto3's)."""

    config: ProjectConfig
    s3_client_factory: Callable[[], Any] | None = None
    _opened: dict[str, Storage] = field(default_factory=dict, repr=False)
    _client: Any = field(default=None, repr=False)

    @property
    def s3_client(self):
        """The S3 client (created on first use; None when no root is on S3 and none was offered)."""
        if self._client is None and self.s3_client_factory is not None:
            self._client = self.s3_client_factory()
        return self._client

    def open(self, uri: str) -> Storage:
        uri = uri.rstrip("/")
        if uri not in self._opened:
            self._opened[uri] = open_storage(uri, self.s3_client if uri.startswith("s3://") else None)
        return self._opened[uri]

    def __getattr__(self, name: str) -> Storage:
        if name in ROOTS:
            return self.open(getattr(self.config.storage, name))
        raise AttributeError(name)

    def any_on_s3(self, *names: str) -> bool:
        return any(getattr(self.config.storage, n).startswith("s3://") for n in names or ROOTS)


@dataclass
class StepContext:
    """What a step works with.  ``args`` holds the task's arguments (Params, template fields) already coerced to
    their types by the runner; ``slack``/``mail`` are the senders the runner offers (None: sending is off)."""

    conn: Any
    config: ProjectConfig
    storages: Storages
    work_date: dt.date
    run_id: str
    # The run's moment in the project time zone (Airflow: its logical date or run_after); None outside Airflow.
    run_moment: dt.datetime | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    slack: Sender | None = None
    mail: MailSender | None = None
    log: logging.Logger = log
    # What upstream tasks returned, by task id (only the runner knows the run's other tasks).
    upstream: Mapping[str, Any] = field(default_factory=dict)

    def arg(self, name: str, default: Any = None) -> Any:
        value = self.args.get(name, default)
        return default if value is None else value


@dataclass
class StepResult:
    """What a step tells its runner: ``summary`` (the line the user reads first), ``details`` (more log lines),
    ``xcom`` (the task's return value) and ``event_extra`` (the extra of the Asset event the task emits; None =
    emit no event, e.g. a dry run, so downstream stages are not started)."""

    summary: str
    xcom: Any = None
    event_extra: dict | None = None
    details: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [self.summary, *self.details]


Step = Callable[[StepContext], StepResult]


def project_day(config: ProjectConfig, moment: dt.datetime | None = None) -> dt.date:
    """The date of ``moment`` (default now) in the project time zone: the CLI's and demo's work date."""
    if moment is None:
        return config.project.today()
    return moment.astimezone(ZoneInfo(config.project.timezone)).date()


# ---------------------------------------------------------------------------------------------- coercion

_TRUE = {"true", "1", "yes", "on", "y"}
_FALSE = {"false", "0", "no", "off", "n", "", "none", "null"}


def as_flag(value: Any) -> bool:
    """A Param or template value as a bool: ``True``/``"true"``/``"1"``/``"yes"``/``"on"``; a word that is neither
    true nor false is an input error (a typo must not silently mean False)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise StepInputError(f"{value!r} is not a yes/no value (use true or false)")


def as_list(value: Any) -> list[str]:
    """A list Param, or a comma-separated string (a templated list arrives as one), without blanks."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple | set) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip() and str(v).strip().lower() not in ("none", "null")]


def as_int(value: Any, default: int = 0) -> int:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StepInputError(f"{value!r} is not a whole number") from None


def as_date(value: Any) -> dt.date | None:
    """``YYYY-MM-DD`` (or a date, or an ISO datetime's date part); empty means none."""
    if value is None or isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if text.lower() in ("", "none", "null"):
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise StepInputError(f"{value!r} is not a date (use YYYY-MM-DD)") from None


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in ("", "none", "null") else text


def as_json(value: Any) -> Any:
    """A dict/list Param, or its JSON text (a templated value arrives as text); empty means none."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("", "none", "null"):
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise StepInputError(f"{value!r} is not JSON: {err.msg}") from None
    return value if value not in ({}, []) else None


COERCE: dict[str, Callable[[Any], Any]] = {
    "flag": as_flag, "list": as_list, "int": as_int, "date": as_date, "text": as_text, "json": as_json,
    "raw": lambda v: v,
}


def coerce_args(values: Mapping[str, Any], kinds: Mapping[str, str]) -> dict[str, Any]:
    """Each value through its declared kind (``flag``, ``list``, ``int``, ``date``, ``text``, ``json``, ``raw``)."""
    return {name: COERCE[kinds.get(name, "raw")](value) for name, value in values.items()}


# ---------------------------------------------------------------------------------------------- running

def run_step(step: Step, *, conn, config: ProjectConfig, storages: Storages | None = None,
             work_date: dt.date | None = None, run_id: str = "manual", args: Mapping[str, Any] | None = None,
             slack: Sender | None = None, mail: MailSender | None = None,
             logger: logging.Logger | None = None) -> StepResult:
    """Run ``step`` outside Airflow (CLI, demo, tests): build its context, commit on success, roll back on error,
    and log its lines.  The caller owns (opens and closes) ``conn``."""
    ctx = StepContext(conn=conn, config=config, storages=storages or Storages(config), run_id=run_id,
                      work_date=work_date or project_day(config), args=dict(args or {}), slack=slack, mail=mail,
                      log=logger or log)
    try:
        result = step(ctx)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    for line in result.lines():
        ctx.log.info("%s", line)
    for line in result.warnings:
        ctx.log.warning("%s", line)
    return result
