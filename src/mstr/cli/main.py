"""The ``mstr`` console script: one entry point, a subcommand per job.

Each subcommand lives in its own module under :mod:`mstr.cli` exposing
``add_parser(subparsers)``; that module imports its heavy dependencies inside the function that
runs the command, so ``mstr --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from mstr import __version__
from mstr.errors import UserError

#: subcommand modules, in the order ``--help`` lists them
SUBCOMMAND_MODULES = ("mstr.cli.synth", "mstr.cli.data", "mstr.cli.train", "mstr.cli.bank", "mstr.cli.eval",
                      "mstr.cli.viz", "mstr.cli.read", "mstr.cli.recipe", "mstr.cli.compare", "mstr.cli.bench",
                      "mstr.cli.export", "mstr.cli.serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mstr",
        description="mSTR: multilingual scene text recognition (English + Indian scripts).",
        epilog="Run 'mstr COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"mstr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print("interrupted" + (f": {exc}" if str(exc) else ""), file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (`mstr read … | head -1`)
        _silence_stdout()
        return 141  # 128 + SIGPIPE, as other command-line tools end


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
