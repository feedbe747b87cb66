"""``python -m trainset audit``: check the pipeline's invariants over every storage root and the records DB.

    python -m trainset audit                       # JSON line per breach on stdout, then the summary line
    python -m trainset audit --skip-root inspection_server

Breach kinds and the pixel check that proves a detection is masked: ``trainset.audit``. Exit status 1 when
there is any breach (an unreachable root counts: skip it explicitly with ``--skip-root``). ``s3://`` roots use
boto3's usual credentials and ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import argparse
import json

from trainset import db


def register(sub) -> None:
    parser = sub.add_parser("audit", help="check invariants over every storage root and the records DB",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: TRAINSET_DB_DSN or AIRFLOW_CONN_TRAINSET_DB)")
    parser.add_argument("--skip-root", action="append", default=[], metavar="NAME",
                        help="a storage root (config storage.NAME) not to walk; repeatable")
    parser.set_defaults(func=_audit)


def _audit(args) -> int:
    from trainset.audit import open_roots, run_audit
    from trainset.config import get_config

    config = get_config()
    client = None
    if any(uri.startswith("s3://") for uri in config.storage.model_dump().values()):
        import boto3

        client = boto3.client("s3")
    conn = db.connect(args.dsn)
    try:
        result = run_audit(conn, config, open_roots(config, client, skip=tuple(args.skip_root)))
    finally:
        conn.close()
    for breach in result.breaches:
        print(json.dumps(breach, ensure_ascii=False))
    print(json.dumps({"summary": result.summary()}, ensure_ascii=False))
    print(result.line())
    return 0 if result.ok else 1
