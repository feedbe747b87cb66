"""collect: register raw photos from the drop zone, catch duplicates, quarantine what cannot be used.

Daily (``schedules.collect`` in the project file) and on demand: trigger with a source prefix (a sub-folder of
the drop zone, or another file:// / s3:// location) and optionally as a dry run.
"""

from airflow.sdk import Param, dag
from trainset.config import get_config
from trainset_airflow.defaults import cron_schedule, default_args
from trainset_airflow.operators.collect import DropZoneCollectOperator

config = get_config()


@dag(
    dag_id="collect",
    # No start_date: unpausing waits for the next tick instead of starting the latest past one at once.
    schedule=cron_schedule(config.schedules.collect, config),
    catchup=False,
    max_active_runs=1,  # two scans of one drop zone at once would race for the same files
    default_args=default_args(config),
    tags=["trainset", "collect", "stage-1"],
    doc_md=__doc__,
    params={
        "source_prefix": Param(None, type=["null", "string"], title="Source prefix",
                               description="Sub-folder of the drop zone, or a file:// or s3:// URI; empty = all."),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Check and report; change nothing."),
    },
    render_template_as_native_obj=True,
)
def collect():
    DropZoneCollectOperator(
        task_id="collect_drop_zone",
        source_prefix="{{ params.source_prefix or '' }}",
        dry_run="{{ params.dry_run }}",
    )


collect()
