"""Entry point of the ``quinkgl`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from quinkgl import __version__
from quinkgl.cli import run, simulate, swarm, train
from quinkgl.errors import QuinkGLError

logger = logging.getLogger(__name__)

COMMANDS = (run, simulate, swarm, train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quinkgl", description="Decentralized gossip learning: simulate, train, run nodes."
    )
    parser.add_argument("--version", action="version", version=f"quinkgl {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(commands)
    return parser


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        result: int = args.handler(args)
    except QuinkGLError as exc:
        print(f"quinkgl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"quinkgl {args.command}: interrupted", file=sys.stderr)
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
