"""The ``recoworld`` command line.

One module per sub-command (:mod:`recoworld.cli.evaluate`, :mod:`~recoworld.cli.train`, ...), each
with an ``add(sub)`` function that declares the sub-command's arguments and returns the function
that runs it. The modules parse and print; the work happens in the library. Heavy imports happen
inside the run functions so that ``--help`` is fast. With ``--json`` a command prints exactly one
strict JSON object as the last line of stdout. A user mistake ends with one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from recoworld.cli._common import HelpFormatter, Parser, Runner

__all__ = ["main"]

# Sub-command modules, in the order ``recoworld --help`` lists them.
_COMMAND_MODULES = (
    "evaluate", "train", "play", "bench", "datasets", "fidelity", "llm", "ope_bench",
)

_DESCRIPTION = """\
Simulated users for recommender systems: evaluate or train a recommendation agent against them,
run a benchmark suite beside the published numbers, check which datasets you have.

Start here:
  recoworld evaluate --env recoworld/Synthetic-CRS-v0 --agent max-entropy
  recoworld train --env recoworld/LastFM-CRS-v0 --agent scpr --out runs/scpr
  recoworld evaluate --env recoworld/LastFM-CRS-v0 --agent scpr --checkpoint runs/scpr
  recoworld bench crs --quick
  recoworld datasets"""


def _epilog() -> str:
    from recoworld.cli._common import agent_help, env_help, wrap_block

    return "\n".join(
        [
            wrap_block("environments", [env_help("conversational"), env_help("feed")]),
            wrap_block("agents", [agent_help("conversational"), agent_help("feed")]),
            "Real datasets are read from --data-dir or $RECOWORLD_DATA (see `recoworld datasets`).",
            "Run `recoworld COMMAND --help` for a command's options.",
        ]
    )


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Runner]]:
    """The argument parser and the runner of each sub-command name."""
    from recoworld import __version__

    parser = Parser(
        prog="recoworld",
        description=_DESCRIPTION,
        epilog=_epilog(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"recoworld {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    runners: dict[str, Runner] = {}
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"recoworld.cli.{name}")
        before = set(sub.choices)
        runner: Runner = module.add(sub)
        for command in set(sub.choices) - before:
            runners[command] = runner
    return parser, runners


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``recoworld`` command line; returns the process exit status.

    0 on success (and for ``--help`` / ``--version``); 2 for a user mistake, reported on one line of
    stderr.
    """
    from recoworld.errors import RecoWorldError

    parser, runners = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed on stderr
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        return runners[args.command](args)
    except RecoWorldError as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message holds
        print(f"recoworld {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("recoworld: interrupted", file=sys.stderr)
        return 130
