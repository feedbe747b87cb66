"""``python -m trainset expectations list|check|run``: the Great Expectations suites in ``include/expectations``.

- ``list``: every suite with its expectations, reason codes and the parameters it needs.
- ``check [NAME...]``: structure, reason codes and that GX can build every expectation (exit 1 on a problem);
  with ``--params-from`` also that the config provides every parameter.
- ``run NAME TABLE.csv --id-column C``: judge a table outside Airflow (threshold tuning, ad-hoc checks); prints
  one JSON line per failing row, then a summary JSON line; ``--docs-dir`` builds Data Docs.

Parameters come from ``--param name=value`` (JSON values: ``--param formats='["jpeg","png"]'``) and/or
``--params-from package.module.function`` (a function ``fn(config) -> dict``, e.g.
``trainset.refine.judge.suite_parameters``) evaluated with the project file (``--config``).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from trainset.config import load_config


def register(sub) -> None:
    parser = sub.add_parser("expectations", help="list, check and run the Great Expectations suites")
    actions = parser.add_subparsers(dest="expectations_command", required=True)
    common = {"help": "suite folder (default include/expectations or TRAINSET_EXPECTATIONS_DIR)"}

    p = actions.add_parser("list", help="suites, their reason codes and parameters")
    p.add_argument("--suite-dir", type=Path, **common)
    p.set_defaults(func=_list)

    p = actions.add_parser("check", help="check suites can run (exit 1 on a problem)")
    p.add_argument("names", nargs="*", help="suite names (default: all)")
    p.add_argument("--suite-dir", type=Path, **common)
    _param_args(p)
    p.set_defaults(func=_check)

    p = actions.add_parser("run", help="judge a CSV table with a suite, without Airflow or the DB")
    p.add_argument("name", help="suite name")
    p.add_argument("table", type=Path, help="CSV file (header row) with the suite's columns")
    p.add_argument("--id-column", required=True, help="column identifying a row")
    p.add_argument("--docs-dir", type=Path, help="build Great Expectations Data Docs in this folder")
    p.add_argument("--suite-dir", type=Path, **common)
    _param_args(p)
    p.set_defaults(func=_run)


def _param_args(p) -> None:
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="suite parameter (value parsed as JSON when it can be)")
    p.add_argument("--params-from", metavar="MODULE.FUNCTION",
                   help="function fn(config) -> dict giving the suite parameters from the project file")
    p.add_argument("--config", type=Path, help="project file (default include/project.yaml or TRAINSET_CONFIG)")


def _names(suite_dir: Path | None) -> list[str]:
    from trainset.expectations import suites_dir

    return sorted(p.stem for p in Path(suite_dir or suites_dir()).glob("*.json"))


def parameters_from_args(args) -> dict | None:
    """``--params-from`` then ``--param`` (later wins); None when neither was given."""
    if not args.param and not args.params_from:
        return None
    params: dict = {}
    if args.params_from:
        module, _, attr = args.params_from.rpartition(".")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError, ValueError) as err:
            raise SystemExit(f"--params-from {args.params_from}: {err}") from None
        params.update(fn(load_config(args.config)))
    for item in args.param:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--param {item!r}: use NAME=VALUE")
        try:
            params[name] = json.loads(raw)
        except ValueError:
            params[name] = raw
    return params


def _list(args) -> int:
    from trainset.expectations import SuiteError, load_suite, suite_parameters

    for name in _names(args.suite_dir):
        try:
            suite = load_suite(name, args.suite_dir)
        except SuiteError as err:
            print(f"{name}: INVALID ({err})")
            continue
        params = sorted(suite_parameters(suite))
        print(f"{name}: {len(suite['expectations'])} expectations; parameters: {', '.join(params) or 'none'}")
        for exp in suite["expectations"]:
            kwargs = exp.get("kwargs", {})
            column = kwargs.get("column") or ", ".join(
                kwargs.get("column_list") or [kwargs[k] for k in ("column_A", "column_B") if k in kwargs])
            print(f"  {exp['meta']['reason_code']:<28} {exp['type']}({column})")
    return 0


def _check(args) -> int:
    from trainset.expectations import SuiteError, check_suite

    params = parameters_from_args(args)
    names = args.names or _names(args.suite_dir)
    failed = 0
    for name in names:
        try:
            suite = check_suite(name, parameters=params, suite_dir=args.suite_dir)
            print(f"ok      {name} ({len(suite['expectations'])} expectations)")
        except SuiteError as err:
            failed += 1
            print(f"FAILED  {name}: {err}")
    return 1 if failed else 0


def _run(args) -> int:
    import pandas as pd

    from trainset.expectations import SuiteError, validate_dataframe

    try:
        df = pd.read_csv(args.table)
    except (OSError, ValueError) as err:
        raise SystemExit(f"run: cannot read {args.table}: {err}") from None
    try:
        outcome = validate_dataframe(df, args.name, id_column=args.id_column,
                                     parameters=parameters_from_args(args), docs_dir=args.docs_dir,
                                     run_name=f"cli_{args.table.stem}", suite_dir=args.suite_dir)
    except SuiteError as err:
        print(f"run: {err}", file=sys.stderr)
        return 2
    for row_id, reasons in outcome.failures.items():
        print(json.dumps({"id": row_id, "reasons": reasons}, ensure_ascii=False))
    print(json.dumps(outcome.to_dict(), ensure_ascii=False))
    print(outcome.summary(), file=sys.stderr)
    return 0
