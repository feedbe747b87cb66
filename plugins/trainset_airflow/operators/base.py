"""TrainsetStepOperator: the one base every trainset operator stands on (the ``AwsBaseOperator`` pattern).

It owns what every task needs and no operator repeats: the validated config, the records-DB connection (through
``RecordsDbHook``: committed when the step returns, rolled back when it raises), the storage roots (S3 through the
connection ``connections.aws``), the run's day in the project time zone (``runday.run_day``; the ``work_date``
argument overrides it), coercion of templated arguments (``arg_kinds``), the Slack and e-mail senders, logging
the step's summary, the outlet Asset's extra, and domain exceptions mapped to Airflow's (``StepSkipped`` → skipped,
``StepInputError`` → failed without retry).  A subclass names its step, its template fields and their kinds::

    class DropZoneCollectOperator(TrainsetStepOperator):
        step = staticmethod(collect.collect_step)
        outlet = raw_images
        template_fields = ("source_prefix", "dry_run")
        arg_kinds = {"source_prefix": "text", "dry_run": "flag"}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import Asset, BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from trainset.config import ProjectConfig, get_config
from trainset.outbox import slack_client_sender
from trainset.step import Step, StepContext, StepInputError, StepResult, StepSkipped, Storages, coerce_args

from trainset_airflow.hooks import RecordsDbHook, s3_client
from trainset_airflow.runday import run_day, run_moment


def slack_sender(conn_id: str) -> Callable[[str, str], None]:
    """``send(recipient, text)`` over the Slack API connection; the hook is made on the first message."""
    sender = None

    def send(recipient: str, text: str) -> None:
        nonlocal sender
        if sender is None:
            from airflow.providers.slack.hooks.slack import SlackHook

            sender = slack_client_sender(SlackHook(slack_conn_id=conn_id).client)
        sender(recipient, text)

    return send


def mail_sender(conn_id: str) -> Callable[[list[str], str, str, list[str]], None]:
    """``send(to, subject, html, files)`` through the SMTP provider's hook."""

    def send(to: list[str], subject: str, html: str, files: list[str]) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=conn_id) as hook:
            hook.send_email_smtp(to=to, subject=subject, html_content=html, files=files)

    return send


class TrainsetStepOperator(BaseOperator):
    """Run one domain step (``step(ctx) -> StepResult``) as an Airflow task.

    :param work_date: the day the task works on (``YYYY-MM-DD``; templated); empty = the run's day in the project
        time zone (its logical date, or ``run_after`` for manual and asset-triggered runs).
    :param slack_conn_id: Slack API connection for the step's messages (default ``connections.slack_api``).
    :param smtp_conn_id: SMTP connection for the step's e-mails (default ``connections.smtp``).
    :param aws_conn_id: AWS connection for the S3 storage roots (default ``connections.aws``).
    :param xcom_from: ``{name: task_id}``: upstream tasks whose return values the step reads as ``ctx.upstream``.
    """

    step: ClassVar[Step]
    outlet: ClassVar[Asset | None] = None
    template_fields: Sequence[str] = ("work_date",)
    arg_kinds: ClassVar[Mapping[str, str]] = {}
    ui_color = "#eef3f8"

    def __init__(self, *, work_date: str | None = None, slack_conn_id: str | None = None,
                 smtp_conn_id: str | None = None, aws_conn_id: str | None = None,
                 xcom_from: Mapping[str, str] | None = None, **kwargs) -> None:
        if self.outlet is not None:
            kwargs.setdefault("outlets", [self.outlet])
        super().__init__(**kwargs)
        self.work_date = work_date
        self.slack_conn_id = slack_conn_id
        self.smtp_conn_id = smtp_conn_id
        self.aws_conn_id = aws_conn_id
        self.xcom_from = dict(xcom_from or {})

    # The step's arguments: every template field except ``work_date``, coerced by ``arg_kinds``.
    def step_args(self) -> dict[str, Any]:
        names = [f for f in self.template_fields if f != "work_date"]
        try:
            return coerce_args({n: getattr(self, n) for n in names}, self.arg_kinds)
        except StepInputError as err:
            raise AirflowFailException(str(err)) from err

    def step_context(self, context: Context, config: ProjectConfig, conn) -> StepContext:
        aws = self.aws_conn_id or config.connections.aws
        try:
            day = run_day(context, config, self.work_date)
        except ValueError as err:
            raise AirflowFailException(f"work_date {self.work_date!r}: {err}") from err
        upstream = {name: context["ti"].xcom_pull(task_ids=task_id) for name, task_id in self.xcom_from.items()}
        return StepContext(
            conn=conn, config=config, storages=Storages(config, lambda: s3_client(aws)), work_date=day,
            run_id=context["run_id"], run_moment=run_moment(context, config), args=self.step_args(), log=self.log, upstream=upstream,
            slack=slack_sender(self.slack_conn_id or config.connections.slack_api),
            mail=mail_sender(self.smtp_conn_id or config.connections.smtp),
        )

    def execute(self, context: Context) -> Any:
        config = get_config()
        with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
            ctx = self.step_context(context, config, conn)
            try:
                result: StepResult = type(self).step(ctx)
            except StepSkipped as err:
                raise AirflowSkipException(str(err)) from err
            except StepInputError as err:
                raise AirflowFailException(str(err)) from err
        self.report(result, context)
        return result.xcom

    def report(self, result: StepResult, context: Context) -> None:
        """Log the step's lines and hand its extra to the outlet event (no extra: no event, e.g. a dry run)."""
        for line in result.lines():
            self.log.info("%s", line)
        for line in result.warnings:
            self.log.warning("%s", line)
        if self.outlet is None:
            return
        if result.event_extra is None:
            # Airflow emits an event for every declared outlet of a successful task; this run's task (a per-run
            # copy: the DAG's declared outlets are unchanged) then has none, so downstream stages do not start.
            self.outlets = []
        else:
            context["outlet_events"][self.outlet].extra = result.event_extra
