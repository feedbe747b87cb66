"""``python -m trainset report list|export``: the ad-hoc analysis views of the records DB as CSV or XLSX.

Examples::

    python -m trainset report list
    python -m trainset report export v_worker_throughput --out workers.xlsx
    python -m trainset report export report_progress --out progress.csv --from 2026-03-01 --to 2026-03-31
    python -m trainset report daily --day 2026-03-16 --out-dir reports/   # the PM's daily files, no e-mail
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from trainset import db, reports


def register(sub) -> None:
    parser = sub.add_parser("report", help="export the PM's reports and the analysis views (CSV/XLSX)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="report_command", required=True)
    p = actions.add_parser("list", help="the views you can export, and what each answers")
    p.set_defaults(func=_list)
    p = actions.add_parser("export", help="write one view to a .csv or .xlsx file")
    p.add_argument("view", choices=sorted(reports.VIEWS), metavar="VIEW", help="one of: " + ", ".join(reports.VIEWS))
    p.add_argument("--out", required=True, type=Path, help="output file; .csv or .xlsx")
    p.add_argument("--from", dest="day_from", type=dt.date.fromisoformat, help="first day (views with a day column)")
    p.add_argument("--to", dest="day_to", type=dt.date.fromisoformat, help="last day (views with a day column)")
    p.add_argument("--dsn", help="PostgreSQL DSN (default: TRAINSET_DB_DSN or AIRFLOW_CONN_TRAINSET_DB)")
    p.set_defaults(func=_export)
    p = actions.add_parser("daily", help="build the daily progress files (CSV + XLSX) without sending them")
    p.add_argument("--day", type=dt.date.fromisoformat, help="report day (default: today in the project time zone)")
    p.add_argument("--out-dir", type=Path, default=Path("."), help="folder for the files")
    p.add_argument("--dsn", help="PostgreSQL DSN (default: TRAINSET_DB_DSN or AIRFLOW_CONN_TRAINSET_DB)")
    p.set_defaults(func=_daily)


def _list(args) -> int:
    width = max(map(len, reports.VIEWS))
    for name, what in reports.VIEWS.items():
        print(f"{name:<{width}}  {what}")
    return 0


def _export(args) -> int:
    conn = db.connect(args.dsn)
    try:
        n = reports.export_view(conn, args.view, args.out, day_from=args.day_from, day_to=args.day_to)
    finally:
        conn.close()
    print(f"{args.view}: {n} row(s) -> {args.out}")
    return 0


def _daily(args) -> int:
    from trainset.config import get_config

    config = get_config()
    day = args.day or config.project.today()
    conn = db.connect(args.dsn)
    try:
        result = reports.annotation_data_to_csv(conn, args.out_dir, day,
                                                syntax_target=config.annotate.syntax_accuracy_target)
    finally:
        conn.close()
    print(f"daily report {day}: {result['rows']} progress row(s) -> {result['csv']}, {result['xlsx']}")
    return 0
