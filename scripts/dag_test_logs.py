"""Task log files for ``dag.test()`` runs, where the Airflow UI reads them.

Under the scheduler, each task's supervisor writes JSON lines to ``<base_log_folder>/<log_filename_template>``
and the api-server shows that file.  ``dag.test()`` runs every task in this process and only prints, so the UI
showed "Log file not found on worker" for every demo task.  ``task_log_files()`` wraps the function
``dag.test()`` runs each task with: while a task runs, every structlog event and every standard-library log
record of this process is also written, secrets masked, to that task try's file, in the supervisor's format.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import traceback
from pathlib import Path

_current: contextvars.ContextVar = contextvars.ContextVar("trainset_task_log_file", default=None)


def _write(entry: dict) -> None:
    fh = _current.get()
    if fh is None:
        return
    from airflow.sdk.log import mask_logs

    entry = mask_logs(None, "", dict(entry))
    exc = entry.pop("exc_info", None)
    if exc:
        exc = exc if isinstance(exc, tuple) else None
        entry["event"] = f"{entry.get('event', '')}\n{''.join(traceback.format_exception(*exc)) if exc else ''}"
    fh.write((json.dumps(entry, default=str, ensure_ascii=False) + "\n").encode())
    fh.flush()


def _tee_processor(logger, method_name, event_dict):
    if _current.get() is not None:
        _write({k: v for k, v in event_dict.items() if not k.startswith("_")})
    return event_dict


class _TeeHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if _current.get() is None:
            return
        entry = {"timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
                 "event": record.getMessage(), "level": record.levelname.lower(), "logger": record.name}
        if record.exc_info:
            entry["exc_info"] = record.exc_info
        _write(entry)


@contextlib.contextmanager
def task_log_files():
    """While active, each task ``dag.test()`` runs gets its log file in the UI's place."""
    import structlog
    from airflow.configuration import conf
    from airflow.sdk.definitions import dag as dag_module
    from airflow.utils.log.file_task_handler import FileTaskHandler

    base = Path(conf.get("logging", "base_log_folder")).expanduser()
    handler = FileTaskHandler(base_log_folder=str(base))
    original = dag_module._run_task

    def run_task_with_log_file(*, ti, **kwargs):
        path = base / handler._render_filename(ti, ti.try_number)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as fh:
            token = _current.set(fh)
            try:
                return original(ti=ti, **kwargs)
            finally:
                _current.reset(token)

    processors = structlog.get_config()["processors"]
    # In place, before the renderer: loggers that cached the processor list see the tee too.
    processors.insert(len(processors) - 1, _tee_processor)
    tee = _TeeHandler(level=logging.INFO)
    logging.getLogger().addHandler(tee)
    dag_module._run_task = run_task_with_log_file
    try:
        yield base
    finally:
        dag_module._run_task = original
        logging.getLogger().removeHandler(tee)
        processors.remove(_tee_processor)
