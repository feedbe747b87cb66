"""``python -m trainset``: the project's command line. Each stage adds a module to ``COMMAND_MODULES``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Each module defines ``register(subparsers)``; the parser it adds sets ``func(args) -> int``.
COMMAND_MODULES = (
    "trainset.commands.db",
    "trainset.commands.dev",
    "trainset.commands.demo",
    "trainset.commands.validate",
    "trainset.commands.show",
    "trainset.commands.json_dump",
    "trainset.commands.report",
    "trainset.commands.release",
    "trainset.commands.expectations",
    "trainset.commands.refine",
    "trainset.commands.curate",
    "trainset.commands.audit",
    "trainset.commands.quality",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainset", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return int(args.func(args) or 0)
