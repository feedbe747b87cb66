"""The train-handoff tasks as steps: plan the split, publish the release, judge it with the ``train_release``
suite (a failing release is marked ``invalid``), announce it.  Each reads the previous task's return value from
``ctx.upstream`` (``plan`` / ``published``); nothing upstream means nothing to do (skipped)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from trainset import figures
from trainset.step import StepContext, StepInputError, StepResult, StepSkipped, as_int, as_text
from trainset.train.release import (
    NothingToRelease,
    ReleaseError,
    ReleaseExists,
    default_release_name,
    plan_release,
    publish_release,
    uri_reader,
)
from trainset.train.verify import release_check_rows


def plan_release_step(ctx: StepContext) -> StepResult:
    """The ``plan_split`` task.  ``release_name`` empty = ``<project code>-<run time>`` (``run_moment``, default
    now), and then the run skips when nothing changed since the newest release; a named release is always built.
    ``ratios``/``formats``/``seed`` default to the config's.  A taken name or bad parameters fail without retry."""
    named = ctx.arg("release_name") or ""
    when = ctx.run_moment or dt.datetime.now(ZoneInfo(ctx.config.project.timezone))
    name = named or default_release_name(ctx.config, when)
    ratios, seed = ctx.arg("ratios"), ctx.arg("seed")
    try:
        ratios = {str(k): float(v) for k, v in dict(ratios).items()} if ratios else None
    except (TypeError, ValueError):
        raise StepInputError(f"split ratios {ratios!r}: use {{\"train\": 0.8, ...}}") from None
    try:
        plan = plan_release(ctx.conn, ctx.config, name=name, run_id=ctx.run_id, ratios=ratios,
                            formats=ctx.arg("formats") or None, seed=None if as_text(seed) is None else as_int(seed),
                            skip_if_unchanged=not named)  # a named release is always built
    except NothingToRelease as err:
        raise StepSkipped(str(err)) from None
    except (ReleaseExists, ReleaseError) as err:
        raise StepInputError(str(err)) from None  # retrying cannot help
    if plan.get("already_published"):
        line = f"release {name} ({plan['version']}) was already published by this run"
    else:
        line = (f"release {name} ({plan['version']}): {plan['items']} items in {plan['groups']} groups "
                f"({plan['multi_item_groups']} with several items); "
                f"{', '.join(f'{s} {n}' for s, n in plan['per_split'].items())}; "
                f"leak check {'passed' if plan['leak_check_passed'] else 'FAILED'}")
    return StepResult(summary=line, xcom=plan)


def publish_release_step(ctx: StepContext) -> StepResult:
    """The ``publish_release`` task: build the planned release (``ctx.upstream["plan"]``) and publish it to
    ``storage.training`` with its manifest; a retry of the same run is a no-op once the manifest is there."""
    plan = ctx.upstream.get("plan")
    if not plan:
        raise StepSkipped("nothing was planned")
    config = ctx.config
    reader = uri_reader(ctx.storages.s3_client if ctx.storages.any_on_s3("warehouse", "training") else None)
    try:
        summary = publish_release(ctx.conn, config, name=plan["release"], run_id=ctx.run_id,
                                  storage=ctx.storages.training, read=reader)
    except (ReleaseExists, ReleaseError) as err:
        raise StepInputError(str(err)) from None
    counts = summary["counts"]
    line = (f"published {summary['release']} ({summary['version']}) to {summary['uri']}: {counts['items']} items, "
            f"{counts['objects']} objects; imbalance ratio {counts.get('imbalance_ratio')}; data card figures "
            f"({counts.get('quality_scope')}): 구문 정확성 "
            f"{figures.syntax_text(counts.get('syntax_accuracy'), config.annotate.syntax_accuracy_target)}, "
            f"first-inspection pass rate {figures.pct(counts.get('first_inspection_pass_rate'))}, "
            f"inspection pass rate {figures.pct(counts.get('inspection_pass_rate'))}")
    return StepResult(summary=line, details=[f"data card: {summary['datacard']}"], xcom=summary)


def release_suite_step(ctx: StepContext) -> StepResult:
    """The ``check_release`` task: the GX suite ``suite_name`` (default ``train_release``) over the published
    release's files (``ctx.upstream["published"]``); Data Docs where the GX tasks put theirs.  A failing release is marked
    ``invalid`` (committed: the mark must outlive the task's failure) and the task fails without retry."""
    import pandas as pd

    from trainset.expectations import default_docs_dir, validate_dataframe

    summary = ctx.upstream.get("published")
    if not summary:
        raise StepSkipped("nothing was published")
    suite = ctx.arg("suite_name") or "train_release"
    df = pd.DataFrame(release_check_rows(ctx.storages.training, summary["release"]))
    outcome = validate_dataframe(df, suite, id_column="check_id", docs_dir=default_docs_dir(ctx.config),
                                 run_name=f"{summary['release']}__{ctx.run_id}")
    if not outcome.success:
        ctx.log.info("%s", outcome.summary())
        with ctx.conn.cursor() as cur:
            cur.execute("UPDATE release_builds SET status = 'invalid', error = %s WHERE release_name = %s",
                        (outcome.summary()[:2000], summary["release"]))
        ctx.conn.commit()  # the release stays marked invalid although the task fails
        failing = dict(list(outcome.failures.items())[:10])
        raise StepInputError(f"release {summary['release']} fails {suite}: {failing}")
    return StepResult(summary=outcome.summary(), xcom=outcome.to_dict())


def announce_release_step(ctx: StepContext) -> StepResult:
    """The ``announce_release`` task: the ``training_dataset`` event with the release's name, version, URI,
    manifest checksum, data card and counts (from ``ctx.upstream["published"]``)."""
    summary = ctx.upstream.get("published")
    if not summary:
        raise StepSkipped("nothing was published")
    extra = {k: summary[k] for k in ("release", "version", "uri", "manifest_sha256", "datacard")}
    extra["counts"] = {k: summary["counts"].get(k) for k in ("items", "objects", "per_split")}
    return StepResult(summary=f"training_dataset: {extra['release']} {extra['version']} at {extra['uri']}",
                      xcom=extra, event_extra=extra)
