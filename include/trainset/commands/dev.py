"""``python -m trainset dev up|down``: the embedded PostgreSQL that ``make`` targets share."""

from __future__ import annotations

from pathlib import Path

from trainset import devstack


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
