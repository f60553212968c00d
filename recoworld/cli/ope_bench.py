"""``recoworld ope-bench``: off-policy estimators against the simulators' true policy values."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from recoworld.cli._common import Runner, SubParsers, print_json

__all__ = ["add"]


def add(sub: SubParsers) -> Runner:
    """Declare ``ope-bench``."""
    p = sub.add_parser(
        "ope-bench",
        help="off-policy estimators' bias/std/RMSE against the simulators' true policy values",
    )
    p.add_argument("--quick", action="store_true", help="fewer replications (a few minutes)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    p.add_argument("--out", default="runs/ope_bench", help="folder for table, JSON and PNG plot")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return run


def run(args: argparse.Namespace) -> int:
    """Run ``recoworld ope-bench``: run, print the table, write the outputs."""
    from recoworld.bench.ope_bench import format_table, run_ope_bench, write_outputs

    quick, seed = bool(args.quick), int(args.seed)

    start = time.perf_counter()
    results = run_ope_bench(quick=quick, seed=seed,
                            progress=lambda line: print(line, file=sys.stderr, flush=True))
    plot = write_outputs(results, Path(args.out), quick, seed)
    print(format_table(results))
    print(f"\n{'quick' if quick else 'full'} run, seed {seed}, {time.perf_counter() - start:.0f} s;"
          f" plot: {plot}")
    if args.json:
        print_json({r.setting: r.stats() for r in results})
    return 0
