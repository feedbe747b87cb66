"""``python -m trainset_dev``: the development tools' command line (the embedded PostgreSQL, the local peers, the
demo drop zone), built like the product's ``python -m trainset`` from modules with ``register(subparsers)``."""

from __future__ import annotations

from trainset import cli

COMMAND_MODULES = (
    "trainset_dev.commands.dev",
    "trainset_dev.commands.demo",
)


def main(argv: list[str] | None = None) -> int:
    parser = cli.build_parser(COMMAND_MODULES, prog="python -m trainset_dev", description=__doc__)
    return cli.main(argv, parser)
