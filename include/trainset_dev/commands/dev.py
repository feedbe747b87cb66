"""``python -m trainset_dev dev up|down``: the embedded PostgreSQL that ``make`` targets share; ``dev peers``: the
local S3, Slack and SMTP peers of ``make up`` with their messages page, in the foreground until SIGTERM."""

from __future__ import annotations

from pathlib import Path

from trainset_dev import devstack


def register(sub) -> None:
    parser = sub.add_parser("dev", help="local embedded PostgreSQL for demo, tests and `make up`")
    actions = parser.add_subparsers(dest="dev_command", required=True)
    up = actions.add_parser("up", help="start PostgreSQL, create the databases, migrate the records DB")
    up.add_argument("--pgdata", type=Path, required=True)
    up.add_argument("--database", action="append", default=[], help="database to create (repeatable)")
    up.add_argument("--records-db", required=True, help="database that holds the records (migrated)")
    up.set_defaults(func=_up)
    down = actions.add_parser("down", help="stop the PostgreSQL server")
    down.add_argument("--pgdata", type=Path, required=True)
    down.set_defaults(func=_down)
    peers = actions.add_parser("peers", help="run S3 (moto), Slack and SMTP sinks and the messages page on 127.0.0.1")
    peers.add_argument("--state", type=Path, required=True, help="folder for messages.jsonl and the e-mails")
    peers.add_argument("--s3-port", type=int, default=9010)
    peers.add_argument("--slack-port", type=int, default=9011)
    peers.add_argument("--smtp-port", type=int, default=9025)
    peers.add_argument("--page-port", type=int, default=9012)
    peers.set_defaults(func=_peers)


def _up(args) -> int:
    names = list(dict.fromkeys([*args.database, args.records_db]))
    result = devstack.up(args.pgdata, names, args.records_db)
    created = ", ".join(result["created"]) or "none new"
    print(f"postgres: running on {args.pgdata.absolute()} (databases created: {created}; "
          f"records migrations applied: {len(result['migrations_applied'])})")
    return 0


def _down(args) -> int:
    print("postgres: stopped" if devstack.stop_postgres(args.pgdata) else "postgres: was not running")
    return 0


def _peers(args) -> int:
    import json
    import shlex
    import signal
    import threading

    from trainset.config import get_config

    from trainset_dev.peers.peerserver import connection_env, project_buckets, start_peers

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    peers = start_peers(args.state, s3_port=args.s3_port, slack_port=args.slack_port, smtp_port=args.smtp_port,
                        page_port=args.page_port, buckets=project_buckets(get_config()))
    ready = {"s3": peers.s3.endpoint, "slack": peers.slack.url, "smtp": f"{peers.smtp.host}:{peers.smtp.port}",
             "page": peers.page.url, "buckets": peers.buckets}
    env = connection_env(s3_port=peers.s3.port, slack_port=peers.slack.port, smtp_port=peers.smtp.port)
    (args.state / "connections.env").write_text(
        "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items()))
    # Written last: its presence tells `make up` every peer listens.
    (args.state / "peers.json").write_text(json.dumps(ready, indent=1))
    print("peers: " + json.dumps(ready), flush=True)
    try:
        stop.wait()
    finally:
        (args.state / "peers.json").unlink(missing_ok=True)
        (args.state / "connections.env").unlink(missing_ok=True)
        peers.stop()
    print("peers: stopped", flush=True)
    return 0
