"""``python -m trainset json-dump``: apply rule-based bulk fixes to many annotation files (dry run by default).

    python -m trainset json-dump --rule rename_class:cat=animal --rule clamp_boxes            # dry run: diff summary
    python -m trainset json-dump --rule drop_attribute:legacy_id@person --apply               # write + audit

Rules: rename_class:OLD=NEW, drop_attribute:NAME[@CLASS], clamp_boxes, set_meta:PATH=VALUE.  ``--apply`` keeps
each original under ``<reports>/bulkfix/<run>/originals/``, records one audit row per changed file in the
records DB (``annotation_fixes``) and re-validates every changed file with the first inspection's rules; exit
status 1 when a changed file fails re-validation.  Same step as the ``json_dump`` DAG (``bulkfix_step``); the
records DB is read for the re-validation and written for the audit.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from trainset.config import load_config


def register(sub) -> None:
    p = sub.add_parser("json-dump", help="bulk-fix annotation files by rules (dry run unless --apply)")
    p.add_argument("--rule", dest="rules", action="append", required=True,
                   help="rename_class:OLD=NEW | drop_attribute:NAME[@CLASS] | clamp_boxes | set_meta:PATH=VALUE")
    p.add_argument("--root", help="file:// or s3:// root of the files (default storage.labeling)")
    p.add_argument("--prefix", default="accepted", help="folder under the root (default accepted)")
    p.add_argument("--apply", action="store_true", help="write the fixes (default: dry run)")
    p.add_argument("--run", help="name of this fix run (default json_dump__<UTC time>)")
    p.add_argument("--dsn", help="records DB (default TRAINSET_DB_DSN / AIRFLOW_CONN_TRAINSET_DB)")
    p.add_argument("--s3-endpoint", help="S3 endpoint when a root is s3://")
    p.add_argument("--config", type=Path, help="project file (default include/project.yaml or TRAINSET_CONFIG)")
    p.set_defaults(func=_json_dump)


def _json_dump(args) -> int:
    from trainset import db
    from trainset.inspection.bulkfix import bulkfix_step
    from trainset.step import StepInputError, Storages, run_step

    config = load_config(args.config)
    client = None
    if args.s3_endpoint:
        import boto3

        client = boto3.client("s3", endpoint_url=args.s3_endpoint)
    run = args.run or "json_dump__" + dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    conn = db.connect(args.dsn)
    try:
        result = run_step(bulkfix_step, conn=conn, config=config, run_id=run,
                          storages=Storages(config, (lambda: client) if client is not None else None),
                          args={"rules": args.rules, "root": args.root, "prefix": args.prefix,
                                "dry_run": not args.apply, "run": run})
    except StepInputError as err:
        raise SystemExit(f"json-dump: {err}") from None
    finally:
        conn.close()
    for line in result.lines():
        print(line)
    return 1 if result.xcom["revalidation_failed"] else 0
