"""The gating check's table and thresholds (light: the DAG file imports this at parse time)."""

from __future__ import annotations

from trainset.config import ProjectConfig

GATING_SUITE = "labeler_quality"
GATING_SQL = ("SELECT worker_id, judged_accuracy, rolling_accuracy, rolling_gt_boxes FROM quality_labeler_daily "
              "WHERE work_date = %(day)s ORDER BY worker_id")


def gating_parameters(config: ProjectConfig, **_template_context) -> dict:
    """The gating suite's thresholds from the project file."""
    return {"accuracy_target": float(config.quality.accuracy_target)}
