"""``python -m trainset release list|verify``: the training releases, and a check of one against its manifest.

    python -m trainset release list
    python -m trainset release verify TS-20261122-051709      # every file present with its sha256, no leak

``verify`` reads the release from ``storage.training`` (an ``s3://`` root uses boto3's usual credentials and
``AWS_ENDPOINT_URL``); exit status 1 when anything is wrong, 2 when there is no such release.
"""

from __future__ import annotations

import argparse

from trainset import db


def register(sub) -> None:
    parser = sub.add_parser("release", help="list training releases; verify one against its manifest",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="release_command", required=True)
    p = actions.add_parser("list", help="releases in the records DB, newest first")
    p.add_argument("--dsn", help="PostgreSQL DSN (default: TRAINSET_DB_DSN or AIRFLOW_CONN_TRAINSET_DB)")
    p.set_defaults(func=_list)
    p = actions.add_parser("verify", help="check every manifest file, split membership and split shares")
    p.add_argument("name", help="release name")
    p.add_argument("--uri", help="training storage root (default: config storage.training)")
    p.set_defaults(func=_verify)


def _list(args) -> int:
    conn = db.connect(args.dsn)
    try:
        with conn.cursor() as cur:
            rows = db.fetch_dicts(cur, "SELECT release_name, version, uri, counts, created_at FROM releases "
                                       "ORDER BY created_at DESC")
    finally:
        conn.close()
    for r in rows:
        splits = ", ".join(f"{s} {n}" for s, n in (r["counts"].get("per_split") or {}).items())
        print(f"{r['release_name']}  {r['version']}  {r['created_at']:%Y-%m-%d %H:%M}  "
              f"{r['counts'].get('items', 0)} items ({splits})  {r['uri']}")
    if not rows:
        print("no release yet")
    return 0


def _verify(args) -> int:
    from trainset.config import get_config
    from trainset.storage import open_storage
    from trainset.train.release import ReleaseError
    from trainset.train.verify import verify_release

    uri = args.uri or get_config().storage.training
    client = None
    if uri.startswith("s3://"):
        import boto3

        client = boto3.client("s3")
    try:
        problems = verify_release(open_storage(uri, client), args.name)
    except ReleaseError as err:
        print(err)
        return 2
    for problem in problems:
        print(problem)
    print(f"{args.name}: {'OK, every file matches its manifest' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0
