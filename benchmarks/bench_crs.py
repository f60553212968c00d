"""Conversational env speed (single against batched, side by side) and the rule-baseline table.

Usage:
    .venv/bin/python benchmarks/bench_crs.py speed --data-dir ../shared/data [--repeats 5] [--json OUT]
    .venv/bin/python benchmarks/bench_crs.py env --data-dir ../shared/data --baseline SRC [--repeats 7]
        [--actions FILE] [--json OUT]
    .venv/bin/python benchmarks/bench_crs.py profile --data-dir ../shared/data
    .venv/bin/python benchmarks/bench_crs.py table --data-dir ../shared/data [--json OUT]

speed: on LastFM* test (11,892 sessions), interleaved repeats of
  1. the full max-entropy evaluation, the previous code (one session at a time: ``evaluate(...,
     num_envs=1)``, the loop that was the only one before the batched env) against the batched
     evaluator (``evaluate``'s default), with the metrics checked identical;
  2. the env alone, the recorded actions replayed: every test session through one single env
     (previous code), every test session through the batched env (1,024 at a time, the
     evaluator's loop without the agent), and a steady state of 1,024 conversations with
     next-step autoreset (actions recorded from the batched max-entropy agent, then replayed).
  Wall and CPU seconds per repeat, medians, ratios, the load average around each repeat.
env: the batched env alone, the previous code against this checkout side by side in one run. The
  previous code is a source tree on PYTHONPATH (``--baseline SRC``, e.g. ``git archive OLD recoworld
  | tar -x -C SRC``). Two child processes, one per version, replay the same recorded actions
  (``--actions FILE``: every test session's max-entropy actions plus a 1,024-conversation steady
  state, recorded on first use and reused after); each child first plays the steady state once
  and hashes every observation, reward and info array, and the two hashes must be equal (same
  trajectories). Then the children are asked in turn (alternating which goes first) to time one
  replay of all sessions and one of the steady state; wall and CPU seconds of each, medians.
profile: where the batched evaluation's CPU time goes, per compiled kernel and step, and the
  work counted (attribute entries, candidate entries) that bounds it.
table: SR@5/10/15, AT and hDCG@(15,10) of the random, max-entropy and abs-greedy rules on LastFM
  and LastFM* test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode

import recoworld  # noqa: F401
from recoworld.agents.rules import MaxEntropyAgent, make_rule_agent
from recoworld.envs import ConversationalVectorEnv
from recoworld.evaluation import evaluate
from recoworld.outputs import dumps_json

ENV_ID = "recoworld/LastFMStar-CRS-v0"


def _load() -> float:
    return os.getloadavg()[0]


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds of ``fn()`` and its result."""
    load = _load()
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return wall, cpu, (out, (load + _load()) / 2)


# ---- the previous code: one session at a time ---------------------------------------------------
def single_env_evaluation(env: gymnasium.Env, world: Any) -> tuple[Any, list[list[dict]]]:
    """The full evaluation one session at a time, recording every action (the previous loop)."""
    agent = make_rule_agent("max-entropy", world)
    actions: list[list[dict]] = []
    outcomes = []
    for i in range(len(world.split("test"))):
        obs, info = env.reset(seed=0 if i == 0 else None, options={"split": "test", "index": i})
        session = []
        while True:
            a = agent.predict(obs)
            session.append(a)
            obs, _, term, trunc, info = env.step(a)
            if term or trunc:
                break
        actions.append(session)
        outcomes.append((int(info["turn"]) if info["success"] else 0, int(info["rank"])))
    return outcomes, actions


def single_env_replay(env: gymnasium.Env, actions: list[list[dict]]) -> int:
    """Every recorded session through one single env (previous code); returns the steps."""
    steps = 0
    for i, session in enumerate(actions):
        env.reset(seed=0 if i == 0 else None, options={"split": "test", "index": i})
        for a in session:
            env.step(a)
        steps += len(session)
    return steps


# ---- the batched env ----------------------------------------------------------------------------
def _flat_actions(actions: list[list[dict]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    offsets = np.zeros(len(actions) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s) for s in actions])
    kind = np.array([a["kind"] for s in actions for a in s], dtype=np.int64)
    question = np.array([a["question"] for s in actions for a in s], dtype=np.int64)
    items = np.array([a["items"] for s in actions for a in s], dtype=np.int64)
    return offsets, kind, question, items


def batched_replay(world: Any, flat: tuple, num_envs: int = 1024) -> int:
    """Every recorded session through the batched env, ``num_envs`` at a time, file order."""
    offsets, kind, question, items = flat
    n = len(offsets) - 1
    vec = ConversationalVectorEnv(
        num_envs, world=world, split="test", autoreset_mode=AutoresetMode.DISABLED
    )
    vec.set_generators([seeding.np_random(0)[0]] * num_envs)
    session = np.arange(num_envs, dtype=np.int64)
    t = np.zeros(num_envs, dtype=np.int64)
    active = np.ones(num_envs, dtype=bool)
    vec.reset(options={"index": session})
    upcoming, steps = num_envs, 0
    while active.any():
        at = offsets[session] + np.minimum(t, offsets[session + 1] - offsets[session] - 1)
        _, _, term, trunc, _ = vec.step({"kind": kind[at], "question": question[at], "items": items[at]})
        steps += int(active.sum())
        t += 1
        ended = np.flatnonzero((term | trunc) & active)
        restart = ended[: max(0, min(ended.size, n - upcoming))]
        active[ended[restart.size :]] = False
        if restart.size:
            session[restart] = np.arange(upcoming, upcoming + restart.size)
            upcoming += restart.size
            t[restart] = 0
            mask = np.zeros(num_envs, dtype=bool)
            mask[restart] = True
            vec.reset(options={"reset_mask": mask, "index": session})
    return steps


def record_steady_state(world: Any, num_envs: int, steps: int) -> list[dict]:
    """Batched max-entropy actions of ``steps`` vector steps from ``reset(seed=0)`` (autoreset)."""
    vec = ConversationalVectorEnv(num_envs, world=world, split="test")
    agent = MaxEntropyAgent(world)
    obs, _ = vec.reset(seed=0)
    recorded = []
    for _ in range(steps):
        action = agent.predict_batch(obs, candidates=vec.candidate_lists())
        recorded.append({k: v.copy() for k, v in action.items()})
        obs, *_ = vec.step(action)
    return recorded


def steady_state_replay(world: Any, recorded: list[dict]) -> int:
    """The recorded steady state replayed; returns the sub-environment steps (resets excluded)."""
    num_envs = len(recorded[0]["kind"])
    vec = ConversationalVectorEnv(num_envs, world=world, split="test")
    vec.reset(seed=0)
    steps = 0
    ended = np.zeros(num_envs, dtype=bool)
    for action in recorded:
        _, _, term, trunc, _ = vec.step(action)
        steps += int(num_envs - ended.sum())
        ended = term | trunc
    return steps


def speed(args: argparse.Namespace) -> dict[str, Any]:
    env = gymnasium.make(ENV_ID, data_dir=args.data_dir)
    world = env.unwrapped.world
    agent = make_rule_agent("max-entropy", world)
    # warm-up: compile (or load) every kernel and record the actions once
    evaluate(env, agent, "test", 2048, seed=0)
    _, actions = single_env_evaluation(env, world)
    flat = _flat_actions(actions)
    recorded = record_steady_state(world, 1024, args.steady_steps)
    runs: dict[str, list[tuple[float, float, float]]] = {}
    metrics: dict[str, Any] = {}
    counts: dict[str, int] = {}

    def note(name: str, wall: float, cpu: float, load: float) -> None:
        runs.setdefault(name, []).append((wall, cpu, load))
        print(f"{name:<38} wall {wall:8.3f} s  cpu {cpu:8.3f} s  load {load:5.1f}", flush=True)

    for _ in range(args.repeats):
        wall, cpu, (out, load) = _timed(
            lambda: evaluate(env, make_rule_agent("max-entropy", world), "test", num_envs=1)
        )
        note("evaluation, single (previous)", wall, cpu, load)
        metrics["single"] = out[0].to_json()
        counts["steps"] = out[0].steps
        wall, cpu, (out, load) = _timed(
            lambda: evaluate(env, make_rule_agent("max-entropy", world), "test")
        )
        note("evaluation, batched 1,024", wall, cpu, load)
        metrics["batched"] = out[0].to_json()
        wall, cpu, (steps, load) = _timed(lambda: single_env_replay(env, actions))
        note("env alone, single (previous)", wall, cpu, load)
        counts["replay_steps"] = steps
        wall, cpu, (steps, load) = _timed(lambda: batched_replay(world, flat))
        note("env alone, batched 1,024, all sessions", wall, cpu, load)
        assert steps == counts["replay_steps"]
        wall, cpu, (steps, load) = _timed(lambda: steady_state_replay(world, recorded))
        note("env alone, batched 1,024, steady", wall, cpu, load)
        counts["steady_steps"] = steps
    if metrics["single"] != metrics["batched"]:
        raise SystemExit(f"metrics differ: {metrics}")

    def med(name: str, i: int) -> float:
        return statistics.median(r[i] for r in runs[name])

    step_counts = {
        "evaluation, single (previous)": counts["steps"],
        "evaluation, batched 1,024": counts["steps"],
        "env alone, single (previous)": counts["replay_steps"],
        "env alone, batched 1,024, all sessions": counts["replay_steps"],
        "env alone, batched 1,024, steady": counts["steady_steps"],
    }
    summary = {
        name: {
            "wall_s_median": med(name, 0),
            "cpu_s_median": med(name, 1),
            "steps": step_counts[name],
            "steps_per_s_wall": step_counts[name] / med(name, 0),
            "steps_per_s_cpu": step_counts[name] / med(name, 1),
            "load_median": med(name, 2),
            "runs": runs[name],
        }
        for name in runs
    }
    ratio = {
        "evaluation wall": med("evaluation, single (previous)", 0) / med("evaluation, batched 1,024", 0),
        "evaluation cpu": med("evaluation, single (previous)", 1) / med("evaluation, batched 1,024", 1),
        "env alone (all sessions) wall": summary["env alone, batched 1,024, all sessions"]["steps_per_s_wall"]
        / summary["env alone, single (previous)"]["steps_per_s_wall"],
        "env alone (steady) wall": summary["env alone, batched 1,024, steady"]["steps_per_s_wall"]
        / summary["env alone, single (previous)"]["steps_per_s_wall"],
    }
    return {"summary": summary, "ratio": ratio, "metrics": metrics["batched"]}


# ---- the env alone, previous code against this checkout -----------------------------------------
def _record_actions(args: argparse.Namespace) -> None:
    env = gymnasium.make(ENV_ID, data_dir=args.data_dir)
    world = env.unwrapped.world
    _, actions = single_env_evaluation(env, world)
    offsets, kind, question, items = _flat_actions(actions)
    steady = record_steady_state(world, 1024, args.steady_steps)
    np.savez(
        args.actions, offsets=offsets, kind=kind, question=question, items=items,
        steady_kind=np.stack([a["kind"] for a in steady]),
        steady_question=np.stack([a["question"] for a in steady]),
        steady_items=np.stack([a["items"] for a in steady]),
    )  # fmt: skip


def _load_actions(path: str) -> tuple[tuple, list[dict]]:
    d = np.load(path)
    flat = (d["offsets"], d["kind"], d["question"], d["items"])
    steady = [
        {"kind": k, "question": q, "items": i}
        for k, q, i in zip(d["steady_kind"], d["steady_question"], d["steady_items"], strict=True)
    ]
    return flat, steady


def steady_state_digest(world: Any, recorded: list[dict]) -> str:
    """A hash of every observation, reward, flag, info array and some candidate lists of the steady state."""
    import hashlib

    h = hashlib.sha256()
    vec = ConversationalVectorEnv(len(recorded[0]["kind"]), world=world, split="test")
    vec.reset(seed=0)
    for action in recorded:
        obs, reward, term, trunc, info = vec.step(action)
        for x in (reward, term, trunc, *(info[k] for k in ("turn", "candidate_count", "success", "rank", "user", "target")),
                  *(obs[k] for k in ("user", "turn", "accepted", "rejected", "asked", "candidates"))):
            h.update(np.ascontiguousarray(x).tobytes())
        lists, counts = vec.candidate_lists()
        for i in range(0, len(counts), 37):
            h.update(np.ascontiguousarray(lists[i, : counts[i]]).tobytes())
    return h.hexdigest()


def replay_child(args: argparse.Namespace) -> None:
    """Child of ``env``: answer ``all`` / ``steady`` lines on stdin with one JSON timing line each."""
    import json
    import sys

    from recoworld.datasets.registry import load_world

    world = load_world("lastfm_star", args.data_dir)
    flat, steady = _load_actions(args.actions)
    import recoworld.envs.conversational_vector as cv

    print(json.dumps({"module": cv.__file__, "digest": steady_state_digest(world, steady)}), flush=True)
    batched_replay(world, flat)  # warm-up
    jobs = {"all": lambda: batched_replay(world, flat), "steady": lambda: steady_state_replay(world, steady)}
    for line in sys.stdin:
        wall, cpu, (steps, load) = _timed(jobs[line.strip()])
        print(json.dumps({"wall": wall, "cpu": cpu, "steps": steps, "load": load}), flush=True)


def env_alone(args: argparse.Namespace) -> dict[str, Any]:
    import json
    import sys

    if not os.path.exists(args.actions):
        _record_actions(args)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, os.path.abspath(__file__), "_replay", "--data-dir", args.data_dir, "--actions", args.actions]
    children = {}
    for name, src in (("previous", os.path.abspath(args.baseline)), ("this checkout", here)):
        env = dict(os.environ, PYTHONPATH=src)
        children[name] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    heads = {name: json.loads(c.stdout.readline()) for name, c in children.items()}  # type: ignore[union-attr]
    print(heads, flush=True)
    if len({h["digest"] for h in heads.values()}) != 1:
        raise SystemExit(f"trajectories differ: {heads}")
    uptime = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]
    runs: dict[str, list[dict[str, float]]] = {}
    for r in range(args.repeats):
        order = list(children) if r % 2 == 0 else list(children)[::-1]
        for what in ("all", "steady"):
            for name in order:
                child = children[name]
                child.stdin.write(what + "\n")  # type: ignore[union-attr]
                child.stdin.flush()  # type: ignore[union-attr]
                out = json.loads(child.stdout.readline())  # type: ignore[union-attr]
                runs.setdefault(f"{what}, {name}", []).append(out)
                print(f"{what:<7} {name:<14} wall {out['wall']:.3f} s  cpu {out['cpu']:.3f} s  load {out['load']:.1f}", flush=True)
    for child in children.values():
        child.stdin.close()  # type: ignore[union-attr]
        child.wait()
    uptime.append(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    summary = {}
    for key, rs in runs.items():
        wall = statistics.median(x["wall"] for x in rs)
        cpu = statistics.median(x["cpu"] for x in rs)
        steps = rs[0]["steps"]
        summary[key] = {"wall_s_median": wall, "cpu_s_median": cpu, "steps": steps,
                        "steps_per_s_wall": steps / wall, "steps_per_s_cpu": steps / cpu,
                        "load_median": statistics.median(x["load"] for x in rs), "runs": rs}
        print(f"{key:<24} median wall {wall:.3f} s ({steps / wall:,.0f} steps/s), cpu {cpu:.3f} s ({steps / cpu:,.0f} steps/s)")
    ratio = {}
    for what in ("all", "steady"):
        old, new = summary[f"{what}, previous"], summary[f"{what}, this checkout"]
        ratio[what] = {"wall": old["wall_s_median"] / new["wall_s_median"], "cpu": old["cpu_s_median"] / new["cpu_s_median"]}
    print("ratio previous / this checkout:", ratio, "\nuptime:", uptime)
    return {"digest": heads, "summary": summary, "ratio": ratio, "uptime": uptime}


# ---- profile ------------------------------------------------------------------------------------
def profile(args: argparse.Namespace) -> dict[str, Any]:
    import recoworld.agents._rules_kernels as AK
    import recoworld.envs._crs_kernels as EK
    from recoworld.agents import rules
    from recoworld.envs import conversational_vector as cv

    env = gymnasium.make(ENV_ID, data_dir=args.data_dir)
    world = env.unwrapped.world
    evaluate(env, make_rule_agent("max-entropy", world), "test", 2048)
    cpu: dict[str, float] = {}
    work = {"attribute entries counted": 0, "rows recounted": 0, "rows from the cache": 0,
            "candidate entries gathered": 0}
    degree = np.diff(world.item_attributes.indptr)

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*a: Any, **k: Any) -> Any:
            c = time.process_time()
            out = fn(*a, **k)
            cpu[name] = cpu.get(name, 0.0) + time.process_time() - c
            return out

        return run

    cached = AK.max_entropy_cached

    def counting(indptr, cand, rows, *rest):  # type: ignore[no-untyped-def]
        out = cached(indptr, cand, rows, *rest)
        recounted = out[4]
        sizes = np.diff(indptr)
        work["rows recounted"] += int(recounted.sum())
        work["rows from the cache"] += int(((sizes > 10) & ~recounted).sum())
        own = np.repeat(recounted, sizes)
        work["attribute entries counted"] += int(degree[cand[own]].sum())
        work["candidate entries gathered"] += int(cand.size)
        return out

    AK.max_entropy_cached = counting
    for mod, names in (
        (AK, ("gather_lists", "max_entropy_cached", "store_ranking", "top_by_score")),
        (EK, ("first_repeat", "validate", "distinct_items", "reset_slots", "apply_asks", "apply_recommendations")),
    ):
        for name in names:
            setattr(mod, name, timed(f"kernel {name}", getattr(mod, name)))
    rules.MaxEntropyAgent.predict_batch = timed("agent predict_batch (all)", rules.MaxEntropyAgent.predict_batch)  # type: ignore[method-assign]
    cv.ConversationalVectorEnv.step = timed("env step (all)", cv.ConversationalVectorEnv.step)  # type: ignore[method-assign]
    cv.ConversationalVectorEnv.reset = timed("env reset (all)", cv.ConversationalVectorEnv.reset)  # type: ignore[method-assign]
    wall, total, (out, load) = _timed(lambda: evaluate(env, make_rule_agent("max-entropy", world), "test"))
    report = {"wall_s": wall, "cpu_s": total, "load": load, "steps": out[0].steps,
              "cpu_s_by_part": dict(sorted(cpu.items(), key=lambda kv: -kv[1])), "work": work}
    print(dumps_json(report, indent=1, sort_keys=False))
    return report


def table(args: argparse.Namespace) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    for env_id in ("recoworld/LastFM-CRS-v0", "recoworld/LastFMStar-CRS-v0"):
        e = gymnasium.make(env_id, data_dir=args.data_dir)
        for name in ("random", "max-entropy", "abs-greedy"):
            m, _ = evaluate(e, make_rule_agent(name, e.unwrapped.world, seed=0), "test", seed=0)
            row = m.to_json()
            row.pop("success_by_turn")
            rows[f"{env_id} {name}"] = row
            print(env_id, name, {k: round(v, 4) for k, v in row.items()})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("speed", "env", "_replay", "profile", "table"))
    parser.add_argument("--baseline", default=None, help="env: the previous code's source tree")
    parser.add_argument("--actions", default="/tmp/crs_env_actions.npz", help="env: recorded actions")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steady-steps", type=int, default=300)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.what == "_replay":
        replay_child(args)
        return
    if args.what == "env" and not args.baseline:
        parser.error("env needs --baseline SRC (the previous code's source tree)")
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    out = {"speed": speed, "env": env_alone, "profile": profile, "table": table}[args.what](args)
    if args.what == "speed":
        print(dumps_json({k: v for k, v in out.items() if k != "summary"}, indent=1, sort_keys=False))
        for name, s in out["summary"].items():
            print(f"{name:<38} median wall {s['wall_s_median']:.3f} s, {s['steps_per_s_wall']:,.0f} steps/s; "
                  f"cpu {s['cpu_s_median']:.3f} s, {s['steps_per_s_cpu']:,.0f} steps/s; load {s['load_median']:.1f}")
    if args.json:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        record = {"started": started, "commit": commit, "platform": platform.platform(),
                  "cpus": os.cpu_count(), args.what: out}
        with open(args.json, "w") as fh:
            fh.write(dumps_json(record, indent=1, sort_keys=False))


if __name__ == "__main__":
    main()
