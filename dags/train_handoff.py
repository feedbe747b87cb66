"""train_handoff (학습): turn the items that passed inspection into a versioned, immutable training release.

Runs whenever the inspection stage emits ``inspection_passed``, and manually with Params (release name, split
ratios, formats, seed).

- ``plan_split``: split train/validation/test (stratified by class; capture sessions and near-duplicate groups
  never straddle two splits; seeded), leak check recorded in ``release_builds``.
- ``publish_release``: COCO / YOLO / AI Hub exports, balance report, data card (HTML + PNG plots), manifest with
  every file's sha256 and the config, to ``storage.training/<release>/``; the data card path is in the log.
- ``check_release``: Great Expectations suite ``train_release`` over the published files.
- ``announce_release``: emits ``training_dataset`` carrying the release name and version.
"""

from airflow.sdk import Param, dag
from trainset.config import get_config
from trainset_airflow.assets import inspection_passed
from trainset_airflow.defaults import default_args
from trainset_airflow.operators.train import (
    AnnounceReleaseOperator,
    PlanReleaseOperator,
    PublishReleaseOperator,
    ReleaseSuiteOperator,
)

config = get_config()


@dag(
    dag_id="train_handoff",
    schedule=[inspection_passed],
    catchup=False,
    max_active_runs=1,  # versions are numbered in order; two releases planned at once would race for one
    default_args=default_args(config),
    tags=["trainset", "train", "stage-5"],
    doc_md=__doc__,
    params={
        "release_name": Param(None, type=["null", "string"], title="Release name",
                              description="Empty = <project code>-<run time>. A name can be released only once."),
        "split": Param(dict(config.train.split), type="object", title="Split ratios",
                       description='e.g. {"train": 0.8, "validation": 0.1, "test": 0.1}; must sum to 1.'),
        "formats": Param(list(config.train.formats), type="array", title="Export formats",
                         items={"type": "string", "enum": ["coco", "yolo", "aihub"]}, minItems=1,
                         description="Which exports the release carries (coco, yolo, aihub)."),
        "seed": Param(config.train.seed, type="integer", title="Split seed",
                      description="The same seed and items give the same split."),
    },
    render_template_as_native_obj=True,
)
def train_handoff():
    plan = PlanReleaseOperator(task_id="plan_split", release_name="{{ params.release_name or '' }}",
                               ratios="{{ params.split }}", formats="{{ params.formats }}", seed="{{ params.seed }}")
    publish = PublishReleaseOperator(task_id="publish_release", plan_task_id="plan_split")
    check = ReleaseSuiteOperator(task_id="check_release", publish_task_id="publish_release")
    announce = AnnounceReleaseOperator(task_id="announce_release", publish_task_id="publish_release")
    plan >> publish >> check >> announce


train_handoff()
