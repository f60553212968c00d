"""The ``recoworld`` command line.

One module per sub-command (:mod:`recoworld.cli.evaluate`, :mod:`~recoworld.cli.train`, ...), each
with an ``add(sub)`` function that declares the sub-command's arguments and returns the function
that runs it. The modules parse and print; the work happens in the library. Heavy imports happen
inside the run functions so that ``--help`` is fast. With ``--json`` a command prints exactly one
JSON object as the last line of stdout. A user mistake ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from recoworld.cli._common import Runner

__all__ = ["main"]

# Sub-command modules, in the order ``recoworld --help`` lists them.
_COMMAND_MODULES = (
    "evaluate", "train", "play", "bench", "datasets", "fidelity", "llm", "ope_bench",
)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Runner]]:
    """The argument parser and the runner of each sub-command name."""
    parser = argparse.ArgumentParser(
        prog="recoworld",
        description="RecoWorld: simulated environments for recommender systems.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    runners: dict[str, Runner] = {}
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"recoworld.cli.{name}")
        before = set(sub.choices)
        runner: Runner = module.add(sub)
        for command in set(sub.choices) - before:
            runners[command] = runner
    return parser, runners


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``recoworld`` command line; returns the process exit status."""
    from recoworld.errors import RecoWorldError

    parser, runners = build_parser()
    args = parser.parse_args(argv)
    try:
        return runners[args.command](args)
    except RecoWorldError as exc:
        print(f"recoworld: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("recoworld: interrupted", file=sys.stderr)
        return 130

