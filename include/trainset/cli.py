"""``python -m trainset``: the project's command line. Each stage adds a module to ``COMMAND_MODULES``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Each module defines ``register(subparsers)``; the parser it adds sets ``func(args) -> int``.
COMMAND_MODULES = (
    "trainset.commands.db",
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
    "trainset.commands.models",
)


def build_parser(modules: tuple[str, ...] = COMMAND_MODULES, *, prog: str = "python -m trainset",
                 description: str | None = __doc__) -> argparse.ArgumentParser:
    """The parser of the commands in ``modules`` (another command line can build its parser from its own)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    args = (parser or build_parser()).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return int(args.func(args) or 0)
