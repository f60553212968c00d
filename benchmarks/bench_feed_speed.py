"""Feed env speed against an older commit, side by side in one run; profile; the machine's limit.

Run from the repository root:

    .venv/bin/python benchmarks/bench_feed_speed.py compare --old 808df36 --seconds 3 --repeats 5
    .venv/bin/python benchmarks/bench_feed_speed.py profile
    .venv/bin/python benchmarks/bench_feed_speed.py limit

``compare`` extracts the old commit's ``recoworld/`` package with ``git archive`` (into
``--old-dir``, default ``/tmp/recoworld_<commit>``) and times the old and the current code in
fresh subprocesses, interleaved (old single, new single, old vector, new vector, per repeat), each
importing its own package through ``PYTHONPATH``; every measurement records the load average
(``/proc/loadavg``) before it, wall-clock and CPU-time rates. Single env: ``gym.make(ENV_ID)`` with
its wrappers, random actions, resets included. Vector env: ``make_feed_vector_env(ENV_ID, 1024)``,
user-steps/s = vector steps/s x 1,024. ``profile`` prints cProfile tables of both loops and times
the vector step's parts; ``limit`` measures this core's copy bandwidth and fused-loop rate and sets
them against the bytes and operations a user-step needs. JSON goes to ``--json`` when given.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "recoworld/ShortVideo-v0"
N_USERS = 1024


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# --- one measurement (runs in a subprocess, importing whichever recoworld PYTHONPATH names) ----------


def _single_rate(seconds: float, seed: int) -> dict[str, float]:
    import gymnasium as gym
    import numpy as np

    env = gym.make(ENV_ID)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, env.action_space.n, size=1 << 16)

    def run(limit: float) -> tuple[int, float, float]:
        n = 0
        wall, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() - wall < limit:
            for _ in range(500):
                _, _, term, trunc, _ = env.step(actions[n & 0xFFFF])
                n += 1
                if term or trunc:
                    env.reset()
        return n, time.perf_counter() - wall, time.process_time() - cpu

    run(0.3)  # warm-up: compiled kernels loaded, caches filled
    n, wall, cpu = run(seconds)
    return {"steps": n, "wall_rate": n / wall, "cpu_rate": n / cpu}


def _vector_rate(seconds: float, seed: int) -> dict[str, float]:
    import numpy as np

    from recoworld.evaluation import make_feed_vector_env

    env = make_feed_vector_env(ENV_ID, N_USERS)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, env.pool_size, size=(64, N_USERS))

    def run(limit: float) -> tuple[int, float, float]:
        n = 0
        wall, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() - wall < limit:
            env.step(actions[n % 64])
            n += 1
        return n, time.perf_counter() - wall, time.process_time() - cpu

    run(0.3)
    n, wall, cpu = run(seconds)
    return {"steps": n * N_USERS, "wall_rate": n * N_USERS / wall, "cpu_rate": n * N_USERS / cpu}


def worker(args: argparse.Namespace) -> None:
    import recoworld

    fn = _single_rate if args.mode == "single" else _vector_rate
    result = fn(args.seconds, args.seed)
    result["recoworld"] = str(Path(recoworld.__file__).parent)
    print(json.dumps(result))


# --- side by side -----------------------------------------------------------------------------------


def _extract(commit: str, target: Path) -> Path:
    """``recoworld/`` of ``commit`` under ``target`` (extracted once with ``git archive``)."""
    if not (target / "recoworld" / "__init__.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "recoworld"],
            check=True, capture_output=True,
        ).stdout
        tar_path = target / "src.tar"
        tar_path.write_bytes(archive)
        with tarfile.open(tar_path) as tar:
            tar.extractall(target, filter="data")
        tar_path.unlink()
    return target


def _measure(src: Path, mode: str, seconds: float, seed: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", "--mode", mode,
           "--seconds", str(seconds), "--seed", str(seed)]
    load = _load()
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd="/tmp")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(result["recoworld"]).resolve() != (src / "recoworld").resolve():
        raise RuntimeError(f"worker imported {result['recoworld']}, not {src / 'recoworld'}")
    result["load"] = load
    return result


def compare(args: argparse.Namespace) -> None:
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.old], check=True,
        capture_output=True, text=True,
    ).stdout.strip()
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=True,
        capture_output=True, text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "recoworld"], check=True,
        capture_output=True, text=True,
    ).stdout.strip()
    old_dir = _extract(commit, Path(args.old_dir or f"/tmp/recoworld_{commit}"))
    sources = {"old": old_dir, "new": ROOT}
    for src in sources.values():  # compile or load each side's kernels before timing
        for mode in ("single", "vector"):
            _measure(src, mode, 0.2, 0)
    runs: dict[str, list[dict[str, Any]]] = {
        f"{code}_{mode}": [] for mode in ("single", "vector") for code in sources
    }
    start = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    for rep in range(args.repeats):
        for mode in ("single", "vector"):
            for code, src in sources.items():
                runs[f"{code}_{mode}"].append(_measure(src, mode, args.seconds, rep))
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    median = {
        key: {rate: statistics.median(r[rate] for r in rows) for rate in ("wall_rate", "cpu_rate")}
        for key, rows in runs.items()
    }
    ratio = {
        mode: {rate: median[f"new_{mode}"][rate] / median[f"old_{mode}"][rate]
               for rate in ("wall_rate", "cpu_rate")}
        for mode in ("single", "vector")
    }
    # Ratio of each repeat's pair (measured back to back), then the median of those.
    paired = {
        mode: statistics.median(
            n["wall_rate"] / o["wall_rate"]
            for o, n in zip(runs[f"old_{mode}"], runs[f"new_{mode}"], strict=True)
        )
        for mode in ("single", "vector")
    }
    result = {
        "command": "benchmarks/bench_feed_speed.py compare " + " ".join(sys.argv[2:]),
        "date": start,
        "old": commit,
        "new": head + (" + uncommitted changes" if dirty else ""),
        "uptime_before": uptime_before,
        "uptime_after": uptime_after,
        "median": median,
        "new_over_old": ratio,
        "new_over_old_paired_wall": paired,
        "runs": runs,
    }
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    print(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("compare", help="old commit against the working tree, interleaved")
    p.add_argument("--old", default="808df36")
    p.add_argument("--old-dir", default=None)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", default=None)
    p.set_defaults(fn=compare)
    p = sub.add_parser("worker", help="one measurement (used by compare)")
    p.add_argument("--mode", choices=("single", "vector"), required=True)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=worker)
    args = parser.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main()
