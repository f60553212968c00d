"""``recoworld ope-bench``: the old name of ``recoworld bench ope``, kept as an alias."""

from __future__ import annotations

import argparse

from recoworld.cli._common import Runner, SubParsers, nonnegative_int

__all__ = ["add"]


def add(sub: SubParsers) -> Runner:
    """Declare ``ope-bench`` (same flags as ``bench``, suite ``ope``; ``--seed S`` = ``--seeds S``)."""
    from recoworld.cli.bench import add_run_flags

    p = sub.add_parser(
        "ope-bench",
        help="old name of `recoworld bench ope` (kept as an alias)",
        description="The old name of `recoworld bench ope`: every off-policy estimator's bias, "
        "std and RMSE against the simulators' true policy values. Same flags as `recoworld "
        "bench`; `--seed S` is `--seeds S`.",
    )
    add_run_flags(p)
    p.add_argument(
        "--seed", type=nonnegative_int, default=None, help="one seed (same as --seeds S)"
    )
    return run


def run(args: argparse.Namespace) -> int:
    """Run ``recoworld bench ope`` with the alias's arguments."""
    from recoworld.cli.bench import run as run_bench
    from recoworld.errors import ConfigError

    if args.seed is not None:
        if args.seeds is not None:
            raise ConfigError("pass `--seed S` or `--seeds S ...`, not both")
        args.seeds = [args.seed]
    args.suite = "ope"
    return run_bench(args)
