"""``recoworld bench SUITE``: resolve the config, run (or resume) the suite, print the table."""

from __future__ import annotations

import argparse
from pathlib import Path

from recoworld.cli._common import (
    Runner,
    SubParsers,
    nonnegative_int,
    positive_float,
    positive_int,
    print_json,
)

__all__ = ["add", "add_run_flags", "run"]

_DESCRIPTION = """\
Run a benchmark suite over several seeds from a typed TOML config and write a run folder: the
resolved config, per-seed JSON and parquet, a markdown table beside the published numbers, PNG
plots and one self-contained report.html. Rerun the same command to resume a killed run.

suites:
  crs   conversational agents (SR@5/10/15, AT, hDCG) on the CRS environments
  feed  feed agents (watch time, depth, returns, coverage) on the short-video environments
  ope   every off-policy estimator's bias, std and RMSE against the simulators' true values
  llm   LLM-user fidelity against the statistical ground truth (needs an LLM server)
  mnar  the closed loop: learners trained on a feed's own biased logs, deployed and judged online

examples:
  recoworld bench crs --quick
  recoworld bench ope --quick --seeds 0 1 2 --out runs/ope"""


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags of a suite run (shared with the ``ope-bench`` alias)."""
    p.add_argument("--config", default=None, help="TOML config (default: the shipped one)")
    p.add_argument("--quick", action="store_true", help="the small version of the suite")
    p.add_argument(
        "--seeds", type=nonnegative_int, nargs="+", default=None, metavar="S",
        help="override the config's seeds",
    )
    p.add_argument(
        "--out",
        default=None,
        help="run folder (default: runs/bench/SUITE[-quick]); rerun to resume",
    )
    p.add_argument("--backend", choices=("local", "ray"), default="local", help="where units run")
    p.add_argument("--address", default=None, help="Ray cluster address (default: a local one)")
    p.add_argument(
        "--num-cpus", type=positive_int, default=2, help="worker slots of a local Ray cluster"
    )
    p.add_argument(
        "--timeout", type=positive_float, default=None, metavar="SECONDS",
        help="llm suite: deadline of one LLM call, retries included (default: the config's)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def add(sub: SubParsers) -> Runner:
    """Declare ``bench``."""
    from recoworld.bench.config import SUITES

    p = sub.add_parser(
        "bench",
        help=f"run a benchmark suite ({', '.join(SUITES)}) over seeds; resumable",
        description=_DESCRIPTION,
    )
    p.add_argument("suite", choices=SUITES, help="which suite to run")
    add_run_flags(p)
    return run


def run(args: argparse.Namespace) -> int:
    """Run ``recoworld bench``."""
    from recoworld.bench.config import resolve_config
    from recoworld.bench.records import summarize_rows
    from recoworld.bench.runner import run_suite
    from recoworld.outputs import prepare_output_dir

    cfg = resolve_config(args.suite, args.config, args.quick, args.seeds, timeout_s=args.timeout)
    out = Path(args.out) if args.out else Path("runs") / "bench" / (
        f"{args.suite}-quick" if args.quick else args.suite
    )
    prepare_output_dir(out)  # before any unit is computed
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
