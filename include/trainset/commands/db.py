"""``python -m trainset db upgrade|status``: the records DB's versioned migrations."""

from __future__ import annotations

from trainset import db


def register(sub) -> None:
    parser = sub.add_parser("db", help="records DB migrations")
    actions = parser.add_subparsers(dest="db_command", required=True)
    for name, func, help_text in (("upgrade", _upgrade, "apply pending migrations (idempotent)"),
                                  ("status", _status, "list applied and pending migrations")):
        p = actions.add_parser(name, help=help_text)
        p.add_argument("--dsn", help="PostgreSQL DSN (default: TRAINSET_DB_DSN or AIRFLOW_CONN_TRAINSET_DB)")
        p.set_defaults(func=func)


def _upgrade(args) -> int:
    conn = db.connect(args.dsn)
    try:
        applied = db.upgrade(conn)
    finally:
        conn.close()
    print(f"records DB: applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}; up to date")
    return 0


def _status(args) -> int:
    conn = db.connect(args.dsn)
    try:
        done = set(db.current_versions(conn))
    finally:
        conn.close()
    for path in db.migration_files():
        print(f"{'applied' if path.stem in done else 'pending'}  {path.stem}")
    return 0
