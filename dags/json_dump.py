"""json_dump: apply a rule-based bulk fix to many annotation files at once (manual trigger only).

Rules (one per line in the ``rules`` Param):
``rename_class:OLD=NEW``, ``drop_attribute:NAME`` or ``drop_attribute:NAME@CLASS``, ``clamp_boxes``,
``set_meta:PATH=VALUE`` (e.g. ``set_meta:capture.device=SM-S918N``).

``dry_run`` (default on) only reports the diff summary in the task log.  A real run keeps every original under
``<reports>/bulkfix/<run>/originals/``, records one audit row per changed file (``annotation_fixes``) and
re-validates each changed file with the first inspection's rules.  Same code as ``python -m trainset json-dump``.
"""

from airflow.sdk import Param, dag
from trainset.config import get_config
from trainset_airflow.defaults import default_args
from trainset_airflow.operators.inspection import BulkFixOperator

config = get_config()


@dag(
    dag_id="json_dump",
    schedule=None,
    catchup=False,
    max_active_runs=1,  # two fixes over the same files at once would overwrite each other's work
    default_args=default_args(config),  # a retry finishes a half-applied fix: written files no longer match
    tags=["trainset", "inspection", "bulk-fix"],
    doc_md=__doc__,
    params={
        # A default rule, so the form triggers as it comes: with dry_run on, it only reports what it would clamp.
        "rules": Param(["clamp_boxes"], type="array", items={"type": "string"}, minItems=1, title="Rules",
                       description="One rule per line, e.g. rename_class:cat=animal, clamp_boxes"),
        "prefix": Param("accepted", type="string", title="Prefix",
                        description="Folder under the labeling root (accepted = the normalised labels)."),
        "root": Param(None, type=["null", "string"], title="Root",
                      description="Another file:// or s3:// root instead of storage.labeling; empty = labeling."),
        "dry_run": Param(True, type="boolean", title="Dry run", description="Report the diff; change nothing."),
    },
    render_template_as_native_obj=True,
)
def json_dump():
    BulkFixOperator(
        task_id="json_dump",
        rules="{{ params.rules }}",
        prefix="{{ params.prefix }}",
        root="{{ params.root or '' }}",
        dry_run="{{ params.dry_run }}",
    )


json_dump()
