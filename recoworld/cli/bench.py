"""``recoworld bench SUITE``: resolve the config, run (or resume) the suite, print the table."""

from __future__ import annotations

import argparse
from pathlib import Path

from recoworld.cli._common import Runner, SubParsers, print_json

__all__ = ["add"]


def add(sub: SubParsers) -> Runner:
    """Declare ``bench``."""
    from recoworld.bench.config import SUITES

    p = sub.add_parser(
        "bench", help="run a benchmark suite (crs, feed, ope, llm, mnar) over seeds; resumable"
    )
    p.add_argument("suite", choices=SUITES, help="which suite to run")
    p.add_argument("--config", default=None, help="TOML config (default: the shipped one)")
    p.add_argument("--quick", action="store_true", help="the small version of the suite")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="override the seeds")
    p.add_argument(
        "--out",
        default=None,
        help="run directory (default: runs/bench/SUITE[-quick]); rerun to resume",
    )
    p.add_argument("--backend", choices=("local", "ray"), default="local", help="where units run")
    p.add_argument("--address", default=None, help="Ray cluster address (default: a local one)")
    p.add_argument("--num-cpus", type=int, default=2, help="worker slots of a local Ray cluster")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return run


def run(args: argparse.Namespace) -> int:
    """Run ``recoworld bench``."""
    from recoworld.bench.config import resolve_config
    from recoworld.bench.records import summarize_rows
    from recoworld.bench.runner import run_suite

    cfg = resolve_config(args.suite, args.config, args.quick, args.seeds)
    out = Path(args.out) if args.out else Path("runs") / "bench" / (
        f"{args.suite}-quick" if args.quick else args.suite
    )
    summary = run_suite(
        cfg, out, backend=args.backend, address=args.address, num_cpus=args.num_cpus
    )
    print((summary.run_dir / "table.md").read_text(encoding="utf-8"))
    print(
        f"run directory: {summary.run_dir} ({summary.units_computed} units computed, "
        f"{summary.units_reused} reused); report: {summary.paths['report']}"
    )
    if args.json:
        obj = {
            "suite": cfg.suite,
            "run_dir": str(summary.run_dir),
            "units_computed": summary.units_computed,
            "units_reused": summary.units_reused,
            "summary": summarize_rows(summary.result),
            "files": {k: str(v) for k, v in sorted(summary.paths.items())},
        }
        print_json(obj)
    return 0
