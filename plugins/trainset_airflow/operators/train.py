"""The train-handoff stage's operators (thin over ``trainset.train.handoff``) and the daily report's (over
``trainset.reports``): plan a release, publish it, judge it with the ``train_release`` suite, announce it; build
the PM's progress files and e-mail them through the SMTP provider."""

from __future__ import annotations

from collections.abc import Sequence

from trainset.reports import daily_report_step, email_report_step
from trainset.train.handoff import (
    announce_release_step,
    plan_release_step,
    publish_release_step,
    release_suite_step,
)

from trainset_airflow.assets import training_dataset
from trainset_airflow.operators.base import TrainsetStepOperator


class PlanReleaseOperator(TrainsetStepOperator):
    """Split the items that passed inspection (grouped, stratified, seeded), run the leak check and record the
    plan.  Skips when nothing has passed; fails without retry when the release name is taken.

    :param release_name: name of the release; empty = ``<project code>-<run time>``, and then the run skips when
        nothing changed since the newest release (same items, annotations and parameters).
    :param ratios: split ratios ({"train": .8, ...} or its JSON); empty = config ``train.split``.
    :param formats: export formats (list or comma-separated); empty = config ``train.formats``.
    :param seed: split seed; empty = config ``train.seed``.
    """

    step = staticmethod(plan_release_step)
    template_fields: Sequence[str] = ("release_name", "ratios", "formats", "seed")
    arg_kinds = {"release_name": "text", "ratios": "json", "formats": "list", "seed": "raw"}
    ui_color = "#e8eaf6"

    def __init__(self, *, release_name: str = "", ratios=None, formats=None, seed=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.release_name, self.ratios, self.formats, self.seed = release_name, ratios, formats, seed


class PublishReleaseOperator(TrainsetStepOperator):
    """Build the planned release (exports, balance, data card) and publish it to ``storage.training`` with its
    manifest; a retry of the same run is a no-op once the manifest is there."""

    step = staticmethod(publish_release_step)
    ui_color = "#c5cae9"

    def __init__(self, *, plan_task_id: str, **kwargs) -> None:
        kwargs.setdefault("xcom_from", {"plan": plan_task_id})
        super().__init__(**kwargs)
        self.plan_task_id = plan_task_id


class ReleaseSuiteOperator(TrainsetStepOperator):
    """Judge the published release with the GX suite ``train_release`` (no item in two splits, every manifest
    file present with its checksum, split shares within tolerance, every class in every split when possible).
    A failing release is marked ``invalid`` in ``release_builds`` and the task fails."""

    step = staticmethod(release_suite_step)
    template_fields: Sequence[str] = ("suite_name",)
    arg_kinds = {"suite_name": "text"}
    ui_color = "#fff3e0"

    def __init__(self, *, publish_task_id: str, suite_name: str = "train_release", **kwargs) -> None:
        kwargs.setdefault("xcom_from", {"published": publish_task_id})
        super().__init__(**kwargs)
        self.publish_task_id = publish_task_id
        self.suite_name = suite_name


class AnnounceReleaseOperator(TrainsetStepOperator):
    """Emit ``training_dataset`` with the release's name, version, URI, manifest checksum and counts."""

    step = staticmethod(announce_release_step)
    outlet = training_dataset
    ui_color = "#d5f5e3"

    def __init__(self, *, publish_task_id: str, **kwargs) -> None:
        kwargs.setdefault("xcom_from", {"published": publish_task_id})
        super().__init__(**kwargs)
        self.publish_task_id = publish_task_id


class DailyReportOperator(TrainsetStepOperator):
    """Build the PM's progress table (per day, class, stage, worker) as CSV and XLSX with the day's key numbers
    (``annotation_data_to_csv``) into ``storage.reports`` under ``daily/<day>/``.

    :param day: report day YYYY-MM-DD; empty = the run's day in the project's time zone.
    """

    step = staticmethod(daily_report_step)
    template_fields: Sequence[str] = ("day",)
    arg_kinds = {"day": "date"}
    ui_color = "#fce4ec"

    def __init__(self, *, day: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.day = day


class EmailReportOperator(TrainsetStepOperator):
    """E-mail the day's report (key numbers in the body, the CSV and XLSX attached) to ``report.recipients``
    through the SMTP provider (connection ``connections.smtp``), once per day: a re-run does not send twice."""

    step = staticmethod(email_report_step)
    template_fields: Sequence[str] = ("recipients",)
    arg_kinds = {"recipients": "list"}
    ui_color = "#f8bbd0"

    def __init__(self, *, build_task_id: str, recipients: Sequence[str] | str | None = None, **kwargs) -> None:
        kwargs.setdefault("xcom_from", {"built": build_task_id})
        super().__init__(**kwargs)
        self.build_task_id = build_task_id
        self.recipients = recipients
