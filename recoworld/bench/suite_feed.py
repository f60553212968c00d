"""The ``feed`` suite: feed agents on the short-video environments, with PPO's learning curve.

Units: one per (seed, environment, agent). Baselines are evaluated with
:func:`recoworld.evaluation.evaluate_feed` on the natively vectorised environment. The
``ppo`` unit trains :class:`recoworld.agents.feed_sb3.FeedPPOAgent` for ``ppo_timesteps`` steps,
evaluating it ``curve_points`` times on the way (the learning curve), then evaluates it like the
baselines. Torch runs on one thread inside a unit so that a unit's numbers do not depend on the
process (local or a Ray worker) it runs in.
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from recoworld.bench.config import BenchConfig, FeedSuiteConfig
from recoworld.bench.records import PlotSpec, Series, SuiteResult
from recoworld.bench.units import Unit
from recoworld.errors import ConfigError

__all__ = ["FeedSuite"]

_METRICS = ("watch_time", "depth", "like_rate", "skip_rate", "return_rate", "coverage", "diversity")


def _settings(config: BenchConfig) -> FeedSuiteConfig:
    s = config.settings
    assert isinstance(s, FeedSuiteConfig)
    return s


def _short(env_id: str) -> str:
    return env_id.rsplit("/", 1)[-1]


def _monitored(env_id: str, kwargs: dict[str, Any]) -> Any:
    import gymnasium
    from stable_baselines3.common.monitor import Monitor

    return Monitor(gymnasium.make(env_id, **kwargs))


def _eval_seed(seed: int, point: int) -> int:
    # the evaluation stream of learning-curve point `point`, independent of the training stream
    return int(np.random.SeedSequence([seed, 7919, point]).generate_state(1)[0])


class FeedSuite:
    """Feed agents: watch time, depth, likes, skips, returns, coverage, diversity, over seeds."""

    def plan(self, config: BenchConfig) -> list[Unit]:
        """One unit per (seed, env, agent)."""
        from recoworld.registration import FEED_AGENTS, is_feed

        s = _settings(config)
        known = FEED_AGENTS
        for agent in s.agents:
            if agent not in known:
                raise ConfigError(
                    f"`feed.agents` holds {agent!r}; known: {', '.join(known)}"
                )
        for env_id in s.envs:
            if not is_feed(env_id):
                raise ConfigError(f"`feed.envs` holds {env_id!r}, which is not a feed env id")
        return [
            Unit(
                key=f"seed-{seed}/{_short(env_id)}/{agent}",
                params={"seed": seed, "env": env_id, "agent": agent},
            )
            for env_id in s.envs
            for seed in config.seeds
            for agent in s.agents
        ]

    def run_unit(self, config: BenchConfig, unit: Unit, run_dir: Path) -> dict[str, Any]:
        """Evaluate a baseline, or train PPO (with its learning curve) and evaluate it."""
        import recoworld  # noqa: F401  (registers the ids in a fresh Ray worker)
        from recoworld.agents.feed import make_feed_agent
        from recoworld.evaluation import evaluate_feed, make_feed_vector_env

        s = _settings(config)
        p = unit.params
        seed = int(p["seed"])
        kwargs: dict[str, Any] = {"data_dir": s.data_dir} if s.data_dir else {}

        def fresh_env(episodes: int) -> Any:
            return make_feed_vector_env(p["env"], num_envs=min(s.num_envs, episodes), **kwargs)

        curve: list[list[float]] = []
        if p["agent"] == "ppo":
            agent, curve = self._train_ppo(s, p["env"], seed, kwargs, fresh_env)
        else:
            env = fresh_env(s.episodes)
            agent = make_feed_agent(p["agent"], env, seed=seed)
            return {"env": p["env"], "agent": p["agent"], "seed": seed,
                    **asdict(evaluate_feed(env, agent, s.episodes, seed=seed))}
        metrics = evaluate_feed(fresh_env(s.episodes), agent, s.episodes, seed=seed)
        return {"env": p["env"], "agent": "ppo", "seed": seed, "curve": curve, **asdict(metrics)}

    @staticmethod
    def _train_ppo(
        s: FeedSuiteConfig, env_id: str, seed: int, kwargs: dict[str, Any], fresh_env: Any
    ) -> tuple[Any, list[list[float]]]:
        import torch
        from stable_baselines3.common.vec_env import DummyVecEnv

        from recoworld.agents.feed_sb3 import FeedPPOAgent
        from recoworld.evaluation import evaluate_feed

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            vec = DummyVecEnv([functools.partial(_monitored, env_id, kwargs)] * 4)
            vec.seed(seed)  # sub-env i gets seed + i, as make_vec_env does
            chunk = max(1, s.ppo_timesteps // s.curve_points)
            # rollouts of 256 steps per env, shorter when a curve point's budget is smaller
            n_steps = max(8, min(256, chunk // 4))
            agent = FeedPPOAgent(
                vec, seed=seed, n_steps=n_steps, batch_size=min(256, 4 * n_steps), n_epochs=4
            )
            curve = []
            for point in range(s.curve_points):
                agent.model.learn(total_timesteps=chunk, reset_num_timesteps=point == 0)
                m = evaluate_feed(
                    fresh_env(s.curve_episodes), agent, s.curve_episodes, _eval_seed(seed, point)
                )
                curve.append([float(agent.model.num_timesteps), float(m.watch_time)])
            return agent, curve
        finally:
            torch.set_num_threads(threads)

    def summarize(
        self, config: BenchConfig, results: dict[str, dict[str, Any]], run_dir: Path
    ) -> SuiteResult:
        """Rows per (seed, env, agent); watch-time error bars and PPO learning curves."""
        s = _settings(config)
        rows = [
            {k: v for k, v in r.items() if k != "curve"}
            for r in results.values()
        ]
        order = {(e, a): i for i, (e, a) in enumerate((e, a) for e in s.envs for a in s.agents)}
        rows.sort(key=lambda r: (order[(r["env"], r["agent"])], r["seed"]))
        plots = []
        for env_id in s.envs:
            ys, es = [], []
            for agent in s.agents:
                w = np.asarray([r["watch_time"] for r in rows if r["env"] == env_id and r["agent"] == agent])
                ys.append(float(w.mean()))
                es.append(float(w.std(ddof=1)) if w.size > 1 else 0.0)
            plots.append(
                PlotSpec(
                    name=f"watch_time_{_short(env_id)}",
                    title=f"Watch time per session: {env_id}",
                    xlabel="agent",
                    ylabel="seconds per session (mean ± std over seeds)",
                    series=(Series("watch time", tuple(map(float, range(len(ys)))), tuple(ys), tuple(es)),),
                    kind="errorbar",
                    xticklabels=tuple(s.agents),
                )
            )
            curves = [r["curve"] for r in results.values() if r["env"] == env_id and "curve" in r]
            if curves:
                c = np.asarray(curves, dtype=float)  # seeds x points x (timesteps, watch time)
                std = c[:, :, 1].std(axis=0, ddof=1) if len(c) > 1 else np.zeros(c.shape[1])
                plots.append(
                    PlotSpec(
                        name=f"learning_curve_ppo_{_short(env_id)}",
                        title=f"PPO learning curve: {env_id}",
                        xlabel="training steps",
                        ylabel=f"watch time per session ({s.curve_episodes} episodes)",
                        series=(
                            Series(
                                "ppo (mean over seeds, band = std)",
                                tuple(c[0, :, 0]),
                                tuple(c[:, :, 1].mean(axis=0)),
                                tuple(std),
                            ),
                        ),
                    )
                )
        notes = [
            f"{s.episodes} evaluation episodes per (seed, env, agent); seeds "
            f"{', '.join(map(str, config.seeds))}.",
            "watch_time and depth are per session; like/skip rates per video; return_rate over "
            "ended sessions.",
        ]
        if "ppo" in s.agents:
            notes.append(f"ppo trained for {s.ppo_timesteps} environment steps per seed.")
        return SuiteResult(
            rows=tuple(rows),
            group_columns=("env", "agent"),
            metric_columns=_METRICS,
            plots=tuple(plots),
            notes=tuple(notes),
        )
