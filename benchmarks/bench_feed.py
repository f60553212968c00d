"""Short-video feed benchmarks: speed, PPO training vs baselines, and calibration plots.

Run from the repository root:

    .venv/bin/python benchmarks/bench_feed.py speed            # single vs vector env, side by side
    .venv/bin/python benchmarks/bench_feed.py train --minutes 8  # PPO, learning curve, agent table
    .venv/bin/python benchmarks/bench_feed.py plots            # watch ratio by duration, sessions
    .venv/bin/python benchmarks/bench_feed.py retention        # baselines over 5-session episodes

Figures go to benchmarks/figures/, raw numbers to runs/feed/ (git-ignored).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import recoworld  # noqa: F401  (registers the ids)
from recoworld.agents.feed import make_feed_agent
from recoworld.evaluation import evaluate_feed, make_feed_vector_env
from recoworld.outputs import dumps_json

ROOT = Path(__file__).resolve().parent
FIGURES = ROOT / "figures"
RUNS = ROOT.parent / "runs" / "feed"
ENV_ID = "recoworld/ShortVideo-v0"


@dataclass(frozen=True)
class TrainSettings:
    """All PPO settings in one place."""

    minutes: float = 8.0
    n_envs: int = 8
    n_steps: int = 256
    batch_size: int = 512
    n_epochs: int = 4
    learning_rate: float = 1e-4
    gamma: float = 0.97
    ent_coef: float = 0.01
    clip_range: float = 0.1
    target_kl: float = 0.03
    seed: int = 0
    eval_episodes: int = 1000
    # Model selection on validation seeds (disjoint from the test seeds of the final table).
    validate_every_s: float = 45.0
    validation_episodes: int = 200
    validation_seed: int = 999


# --- speed -----------------------------------------------------------------------------------------


def _single_rate(seconds: float, seed: int) -> float:
    env = gym.make(ENV_ID)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, env.action_space.n, size=1 << 16)
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(500):
            _, _, term, trunc, _ = env.step(actions[n & 0xFFFF])
            n += 1
            if term or trunc:
                env.reset()
    return n / (time.perf_counter() - start)


def _vector_rate(seconds: float, num_envs: int, seed: int) -> float:
    env = make_feed_vector_env(ENV_ID, num_envs)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, env.pool_size, size=(64, num_envs))
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions[n % 64])
        n += 1
    return n * num_envs / (time.perf_counter() - start)


def speed(args: argparse.Namespace) -> None:
    rows: dict[str, list[float]] = {"single": [], "vector_1024": []}
    for rep in range(args.repeats):  # interleaved, so both see the same machine load
        rows["single"].append(_single_rate(args.seconds, rep))
        rows["vector_1024"].append(_vector_rate(args.seconds, 1024, rep))
    med = {k: statistics.median(v) for k, v in rows.items()}
    result = {
        "command": "benchmarks/bench_feed.py speed",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runs": rows,
        "median": med,
        "vector_over_single": med["vector_1024"] / med["single"],
    }
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / "speed.json").write_text(dumps_json(result, indent=2, sort_keys=False))
    print(dumps_json(result, indent=2, sort_keys=False))


# --- training --------------------------------------------------------------------------------------


def train(args: argparse.Namespace) -> None:
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    from recoworld.agents.feed_sb3 import FeedPPOAgent

    torch.set_num_threads(1)
    cfg = TrainSettings(minutes=args.minutes, eval_episodes=args.eval_episodes)
    RUNS.mkdir(parents=True, exist_ok=True)
    from stable_baselines3.common.vec_env import VecNormalize

    # Rewards are minutes watched (a 20-minute video is one step): normalise them for PPO's critic.
    vec = VecNormalize(
        make_vec_env(ENV_ID, n_envs=cfg.n_envs, seed=cfg.seed),
        norm_obs=False,
        norm_reward=True,
        gamma=cfg.gamma,
    )
    agent = FeedPPOAgent(
        vec,
        seed=cfg.seed,
        learning_rate=cfg.learning_rate,
        n_steps=cfg.n_steps,
        batch_size=cfg.batch_size,
        n_epochs=cfg.n_epochs,
        gamma=cfg.gamma,
        ent_coef=cfg.ent_coef,
        clip_range=cfg.clip_range,
        target_kl=cfg.target_kl,
    )
    curve: list[dict[str, float]] = []
    validation: list[dict[str, float]] = []
    best = {"watch_time": -1.0}
    val_env = make_feed_vector_env(ENV_ID, num_envs=cfg.validation_episodes)
    deadline = time.perf_counter() + 60.0 * cfg.minutes
    start = time.perf_counter()

    class Clock(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.watch: list[float] = []

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.watch.append(60.0 * float(info["episode"]["r"]))
            return time.perf_counter() < deadline

        def _on_rollout_end(self) -> None:
            now = time.perf_counter() - start
            due = (len(validation) + 1) * cfg.validate_every_s
            if now >= due or time.perf_counter() >= deadline:
                m = evaluate_feed(
                    val_env, agent, cfg.validation_episodes, seed=cfg.validation_seed
                )
                row = {"timesteps": float(self.num_timesteps), "seconds": now,
                       "watch_time": m.watch_time}
                validation.append(row)
                if m.watch_time > best["watch_time"]:
                    best.update(row)
                    agent.save(RUNS / "ppo_shortvideo_best.zip")
            if self.watch:
                curve.append(
                    {
                        "timesteps": float(self.num_timesteps),
                        "seconds": time.perf_counter() - start,
                        "watch_time": float(np.mean(self.watch)),
                    }
                )
                self.watch = []

    agent.learn(total_timesteps=10**9, callback=Clock())
    wall = time.perf_counter() - start
    agent.save(RUNS / "ppo_shortvideo_last.zip")
    if validation:  # the checkpoint that did best on the validation seeds
        agent = FeedPPOAgent.load(RUNS / "ppo_shortvideo_best.zip")
    table = {}
    for name in ("random", "most_popular", "epsilon_greedy", "ppo", "oracle"):
        env = make_feed_vector_env(ENV_ID, num_envs=250)
        policy = agent if name == "ppo" else make_feed_agent(name, env, seed=123)
        table[name] = asdict(evaluate_feed(env, policy, cfg.eval_episodes, seed=10_000))
        print(name, dumps_json(table[name], sort_keys=False))
    result = {
        "command": f"benchmarks/bench_feed.py train --minutes {cfg.minutes}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "settings": asdict(cfg),
        "train_seconds": wall,
        "train_timesteps": curve[-1]["timesteps"] if curve else 0.0,
        "curve": curve,
        "validation": validation,
        "selected": best,
        "evaluation": table,
    }
    (RUNS / "train.json").write_text(dumps_json(result, indent=2, sort_keys=False))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [c["timesteps"] for c in curve]
    ax.plot(steps, [c["watch_time"] / 60 for c in curve], alpha=0.5,
            label="PPO, training episodes (sampled actions)")
    ax.plot([v["timesteps"] for v in validation], [v["watch_time"] / 60 for v in validation],
            marker="o", label="PPO, greedy, validation seeds")
    for name, style in (("random", ":"), ("most_popular", "--"), ("oracle", "-.")):
        ax.axhline(table[name]["watch_time"] / 60, linestyle=style, color="grey", label=name)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("watch time per session (min)")
    ax.set_title(f"PPO on {ENV_ID} ({wall / 60:.1f} min of training)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    FIGURES.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURES / "feed_ppo_learning_curve.png", dpi=120)
    print(dumps_json({k: v for k, v in result.items() if k not in ("curve", "validation")}, indent=2, sort_keys=False))


# --- retention ------------------------------------------------------------------------------------


def retention(args: argparse.Namespace) -> None:
    """Baselines over multi-session episodes (up to 5 sessions, a user churns after 7 days away)."""
    rows = {}
    for name in ("random", "most_popular", "epsilon_greedy", "oracle"):
        env = make_feed_vector_env(ENV_ID, num_envs=250, sessions=5, reward="retention")
        metrics = evaluate_feed(env, make_feed_agent(name, env, seed=0), args.episodes, seed=7)
        rows[name] = asdict(metrics)
        print(name, dumps_json(rows[name], sort_keys=False))
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / "retention.json").write_text(dumps_json(rows, indent=2, sort_keys=False))


# --- calibration plots -----------------------------------------------------------------------------


def plots(args: argparse.Namespace) -> None:
    import polars as pl

    from recoworld.datasets.feed_world import default_synthetic_world
    from recoworld.users.feed import FeedUserParams, StatisticalFeedUser
    from recoworld.users.feed.duration_bias import DurationBiasParams

    FIGURES.mkdir(parents=True, exist_ok=True)
    world = default_synthetic_world(0)
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    # (1) simulated watch ratio and watch time by duration, duration bias on and off.
    n = 20000
    users = rng.integers(0, world.population.n_users, n)
    items = rng.integers(0, world.catalogue.n_items, n)
    dur = world.catalogue.duration_s[items]
    bins = np.quantile(dur, np.linspace(0, 1, 11))
    mid = np.sqrt(bins[:-1] * bins[1:])
    which = np.clip(np.searchsorted(bins, dur, side="right") - 1, 0, 9)
    ax = axes[0]
    for on in (True, False):
        params = FeedUserParams(duration_bias=DurationBiasParams(enabled=on))
        model = StatisticalFeedUser(params)
        model.bind(world, n)
        slots = np.arange(n)
        model.reset(slots, users)
        resp = model.respond(slots, items, rng.random((n, model.n_uniforms)))
        ratio = [float(resp.watch_ratio[which == b].mean()) for b in range(10)]
        ax.plot(mid, ratio, marker="o", label=f"duration bias {'on' if on else 'off'}")
    ax.set_xscale("log")
    ax.set_xlabel("video duration (s)")
    ax.set_ylabel("mean watch ratio")
    ax.set_title("Simulated watch ratio by duration")
    ax.legend(fontsize=8)
    # (2) session length (videos) distribution per agent.
    ax = axes[1]
    for name in ("random", "most_popular", "oracle"):
        env = make_feed_vector_env(ENV_ID, num_envs=500)
        agent = make_feed_agent(name, env, seed=1)
        obs, _ = env.reset(seed=1)
        depth: list[int] = []
        steps = np.zeros(500, dtype=np.int64)
        while len(depth) < 2000:
            obs, _, term, trunc, info = env.step(agent.predict(obs))
            live = info["_depth"]
            steps[live] += 1
            ended = np.flatnonzero(live & (term | trunc))
            depth.extend(steps[ended].tolist())
            steps[ended] = 0
        ax.hist(depth, bins=np.arange(0, 120, 4), histtype="step", density=True, label=name)
    ax.set_xlabel("videos per session")
    ax.set_ylabel("density")
    ax.set_title("Simulated session length")
    ax.legend(fontsize=8)
    # (3) real KuaiRand-Pure duration distribution beside the simulated catalogues'.
    ax = axes[2]
    real = (
        pl.read_csv(Path(args.data_dir) / "kuairand_pure" / "video_features_basic_pure.csv")[
            "video_duration"
        ]
        .drop_nulls()
        .to_numpy()
        / 1000.0
    )
    edges = np.logspace(np.log10(5), np.log10(1200), 40)
    ax.hist(real, bins=edges, density=True, histtype="stepfilled", alpha=0.4, label="KuaiRand-Pure (real)")
    ax.hist(world.catalogue.duration_s, bins=edges, density=True, histtype="step", label="synthetic world")
    ax.set_xscale("log")
    ax.set_xlabel("video duration (s)")
    ax.set_ylabel("density")
    ax.set_title("Duration: real KuaiRand vs synthetic")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "feed_calibration.png", dpi=110)
    q = [10, 50, 90]
    print("real p10/p50/p90 (s):", np.percentile(real, q).round(1).tolist())
    print("synthetic p10/p50/p90 (s):", np.percentile(world.catalogue.duration_s, q).round(1).tolist())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--repeats", type=int, default=5)
    p.set_defaults(fn=speed)
    p = sub.add_parser("train")
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--eval-episodes", type=int, default=1000)
    p.set_defaults(fn=train)
    p = sub.add_parser("retention")
    p.add_argument("--episodes", type=int, default=1000)
    p.set_defaults(fn=retention)
    p = sub.add_parser("plots")
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.set_defaults(fn=plots)
    parser.add_argument("--out", default=None, help="write figures and raw numbers here instead")
    args = parser.parse_args(argv)
    if args.out is not None:
        global FIGURES, RUNS
        FIGURES = RUNS = Path(args.out)
    args.fn(args)


if __name__ == "__main__":
    main()
