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


# --- profile --------------------------------------------------------------------------------------


def _top(prof: Any, n: int) -> list[dict[str, Any]]:
    import pstats

    stats = pstats.Stats(prof)
    rows = []
    for (file, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(file).name}:{line}({name})", "calls": calls,
                     "tottime_s": tottime, "cumtime_s": cumtime})
    rows.sort(key=lambda r: -r["tottime_s"])
    return rows[:n]


def profile(args: argparse.Namespace) -> None:
    """cProfile of both loops (cProfile inflates Python-level costs; read shares, not rates)."""
    import cProfile

    import gymnasium as gym
    import numpy as np

    from recoworld.evaluation import make_feed_vector_env

    env = gym.make(ENV_ID)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.action_space.n, size=args.single_steps)

    def single() -> None:
        for a in actions:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()

    single()  # warm-up
    prof = cProfile.Profile()
    wall = time.perf_counter()
    prof.runcall(single)
    single_wall = time.perf_counter() - wall
    vec = make_feed_vector_env(ENV_ID, N_USERS)
    vec.reset(seed=0)
    vactions = np.random.default_rng(0).integers(0, vec.pool_size, size=(64, N_USERS))

    def vector() -> None:
        for t in range(args.vector_steps):
            vec.step(vactions[t % 64])

    vector()
    vprof = cProfile.Profile()
    wall = time.perf_counter()
    vprof.runcall(vector)
    vector_wall = time.perf_counter() - wall
    result = {
        "command": "benchmarks/bench_feed_speed.py profile " + " ".join(sys.argv[2:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": _load(),
        "single": {"steps": args.single_steps, "wall_s_profiled": single_wall,
                   "top": _top(prof, 15)},
        "vector": {"steps": args.vector_steps, "users": N_USERS,
                   "wall_s_profiled": vector_wall, "top": _top(vprof, 15)},
    }
    _emit(result, args.json)


# --- the machine's limit --------------------------------------------------------------------------


def _best_seconds(fn: Any, repeats: int = 7) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def limit(args: argparse.Namespace) -> None:
    """This core's copy bandwidth and fused-loop rates beside what one user-step needs."""
    import numba
    import numpy as np

    from recoworld.evaluation import make_feed_vector_env

    vec = make_feed_vector_env(ENV_ID, N_USERS)
    sim = vec.sim
    k, h = sim.pool_size, sim.history_length
    dim = sim._embedding.shape[1]
    n_table = sim._item_table.shape[1]
    n_cat = sim.user_model.satiation.shape[1] if hasattr(sim.user_model, "satiation") else 0
    n_u = sim._n_u
    f32, i64 = 4, 8
    # Bytes a user-step writes and reads, counted from the kernels (observe, record, pools,
    # take, respond); reads of the catalogue tables hit cache, the per-slot state and the
    # fresh observation arrays do not fit in this core's L2 at 1,024 users.
    writes = {
        "observation (user, candidates, history, ids)":
            f32 * (sim.user_dim + k * sim.item_dim + h * sim.history_dim) + i64 * k,
        "history window shift (items, feedback)": h * (i64 + 3 * f32),
        "pool (candidate rows)": k * i64,
        "user state (interest, satiation, scalars)": f32 * (dim + n_cat) + 24,
        "uniform row taken": n_u * 8,
        "info and reward arrays": 6 * i64 + 4 * f32 + 6,
    }
    reads = {
        "item table rows (candidates + history)": (k + h) * n_table * f32,
        "embeddings (scores, taste, drift)": (k + 2) * dim * f32,
        "categories (candidates + history)": (k + h) * i64,
        "history window (items twice, feedback)": h * (2 * i64 + 3 * f32 + i64 + 3 * f32),
        "pool state (list rows, positions, list entries)": 3 * k * i64,
        "user state and static features": f32 * (2 * dim + n_cat + sim._user_static.shape[1]),
        "uniform row": n_u * 8,
    }
    ops = {
        "retrieval scores (multiply + add)": 2 * k * dim,
        "history category share (compare + add)": 2 * k * h,
        "taste, drift, satiation (respond)": 2 * dim + 3 * dim + n_cat,
        "element copies (item table rows, history, feedback)": (k + h) * n_table + h * 4,
    }
    bytes_per_step = sum(writes.values()) + sum(reads.values())
    ops_per_step = sum(ops.values())
    # Reference rates on this core.
    big = np.ones(64 * 2**20 // 4, dtype=np.float32)  # 64 MiB: memory
    big_out = np.empty_like(big)
    step_sized = np.ones(N_USERS * 2300 // 4, dtype=np.float32)  # one step's observations
    step_out = np.empty_like(step_sized)
    copy_dram = 2 * big.nbytes / _best_seconds(lambda: np.copyto(big_out, big))
    copy_step = 2 * step_sized.nbytes / _best_seconds(lambda: np.copyto(step_out, step_sized))

    @numba.njit(cache=False)  # type: ignore[misc]
    def gather_rows(idx: Any, table: Any, out: Any) -> None:  # pragma: no cover - compiled
        for i in range(idx.shape[0]):
            for j in range(idx.shape[1]):
                for f in range(table.shape[1]):
                    out[i, j, f] = table[idx[i, j], f]

    @numba.njit(cache=False)  # type: ignore[misc]
    def ordered_dots(users: Any, idx: Any, profile: Any, emb: Any, out: Any) -> None:  # pragma: no cover
        for i in range(idx.shape[0]):
            for j in range(idx.shape[1]):
                s = 0.0
                for d in range(emb.shape[1]):
                    s += profile[users[i], d] * emb[idx[i, j], d]
                out[i, j] = s

    rng = np.random.default_rng(0)
    table = sim._item_table
    idx = rng.integers(0, table.shape[0], size=(N_USERS, k + h))
    gathered = np.empty((N_USERS, k + h, n_table), dtype=np.float32)
    gather = 2 * f32 * gathered.size / _best_seconds(lambda: gather_rows(idx, table, gathered))
    users = rng.integers(0, sim._profile.shape[0], size=N_USERS)
    cand = idx[:, :k].copy()
    scores = np.empty((N_USERS, k), dtype=np.float32)
    dots = 2 * scores.size * dim / _best_seconds(
        lambda: ordered_dots(users, cand, sim._profile, sim._embedding, scores)
    )
    bound = {
        "bytes_at_dram_copy_bandwidth_s": bytes_per_step / copy_dram,
        "bytes_at_cached_copy_bandwidth_s": bytes_per_step / copy_step,
        "bytes_at_gather_rate_s": bytes_per_step / gather,
        "ops_at_ordered_dot_rate_s": ops_per_step / dots,
    }
    result = {
        "command": "benchmarks/bench_feed_speed.py limit " + " ".join(sys.argv[2:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": _load(),
        "per_user_step": {"writes": writes, "reads": reads, "ops": ops,
                          "bytes": bytes_per_step, "operations": ops_per_step},
        "reference_rates": {
            "numpy_copy_64MiB_bytes_per_s": copy_dram,
            "numpy_copy_one_step_of_observations_bytes_per_s": copy_step,
            "numba_row_gather_bytes_per_s": gather,
            "numba_ordered_dot_ops_per_s": dots,
        },
        "seconds_per_user_step": bound,
        "best_case_user_steps_per_s": {
            "memory_bound_dram": 1 / bound["bytes_at_dram_copy_bandwidth_s"],
            "memory_bound_gather": 1 / bound["bytes_at_gather_rate_s"],
            "ops_bound": 1 / bound["ops_at_ordered_dot_rate_s"],
            "both_serial (gather bytes + ops)": 1 / (
                bound["bytes_at_gather_rate_s"] + bound["ops_at_ordered_dot_rate_s"]
            ),
        },
    }
    _emit(result, args.json)


def _emit(result: dict[str, Any], path: str | None) -> None:
    text = json.dumps(result, indent=2)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
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
    p = sub.add_parser("profile", help="cProfile of the single and the vector loop")
    p.add_argument("--single-steps", type=int, default=30000)
    p.add_argument("--vector-steps", type=int, default=300)
    p.add_argument("--json", default=None)
    p.set_defaults(fn=profile)
    p = sub.add_parser("limit", help="bytes and operations per user-step against this core")
    p.add_argument("--json", default=None)
    p.set_defaults(fn=limit)
    p = sub.add_parser("worker", help="one measurement (used by compare)")
    p.add_argument("--mode", choices=("single", "vector"), required=True)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=worker)
    args = parser.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main()
