"""Timing of the benchmark runner: local backend against the Ray backend, side by side.

Runs one config twice into fresh directories -- the local backend, then ``--backend ray`` on a
local cluster with N worker slots -- checks that ``results.json`` is byte-identical, and reports
wall times (Ray's includes starting and stopping its cluster) and Ray's bare start-up cost.

    .venv/bin/python benchmarks/bench_runner.py --suite crs --quick --num-cpus 2 --json /tmp/runner.json
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from recoworld.bench.config import resolve_config
from recoworld.bench.runner import run_suite
from recoworld.outputs import dumps_json


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", default="crs")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--config", default=None)
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    cfg = resolve_config(args.suite, args.config, args.quick, None)
    root = Path(tempfile.mkdtemp(prefix="bench_runner_"))
    try:
        import ray

        t = time.perf_counter()
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
        ray.shutdown()
        ray_startup = time.perf_counter() - t

        t = time.perf_counter()
        local = run_suite(cfg, root / "local", progress=False)
        local_s = time.perf_counter() - t
        t = time.perf_counter()
        run_suite(cfg, root / "ray", backend="ray", num_cpus=args.num_cpus, progress=False)
        ray_s = time.perf_counter() - t
        same = (root / "local/results.json").read_bytes() == (root / "ray/results.json").read_bytes()
        out = {
            "suite": cfg.suite,
            "quick": args.quick,
            "units": local.units_computed,
            "local_seconds": local_s,
            "ray_seconds": ray_s,
            "ray_num_cpus": args.num_cpus,
            "ray_init_shutdown_seconds": ray_startup,
            "results_identical": same,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(dumps_json(out, indent=2, sort_keys=False))
    if args.json:
        Path(args.json).write_text(dumps_json(out, indent=2, sort_keys=False) + "\n")


if __name__ == "__main__":
    main()
