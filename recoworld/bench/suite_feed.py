"""The ``feed`` suite: feed agents on the short-video environments, with PPO's learning curve.

Units: one per (seed, environment, agent). Baselines are evaluated with
:func:`recoworld.evaluation.evaluate_feed` on the natively vectorised environment. The
``ppo`` unit trains :class:`recoworld.agents.feed_sb3.FeedPPOAgent` for ``ppo_timesteps`` steps,
evaluating it ``curve_points`` times on the way (the learning curve), then evaluates it like the
baselines. Torch runs on one thread inside a unit so that a unit's numbers do not depend on the
process (local or a Ray worker) it runs in.

Timeline: the units of the first seed then play one more session, on a one-user environment
seeded with that seed (so every agent meets the same user), recorded with ``render_mode="ansi"``:
its watch time per video and the video after which the user left are plotted per agent, and its
text is the unit's transcript. Baselines play it as freshly made agents (as their evaluation
starts), PPO as trained.
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from recoworld.bench.config import BenchConfig, FeedSuiteConfig
from recoworld.bench.records import PlotSpec, Series, SuiteResult, Transcript
from recoworld.bench.suite_helpers import (
    category_plot,
    check_env_ids,
    check_known,
    one_torch_thread,
    seed_series,
    seeds_text,
    short_id,
    suite_settings,
)
from recoworld.bench.units import Unit

__all__ = ["FeedSuite"]

_METRICS = ("watch_time", "depth", "like_rate", "skip_rate", "return_rate", "coverage", "diversity")


def _monitored(env_id: str, kwargs: dict[str, Any]) -> Any:
    import gymnasium
    from stable_baselines3.common.monitor import Monitor

    return Monitor(gymnasium.make(env_id, **kwargs))


def _timeline(env_id: str, agent_name: str, trained: Any, seed: int, kwargs: dict[str, Any]) -> Any:
    """Play the first session of one user (seeded ``seed``); its watch times, leave, transcript."""
    from recoworld.agents.feed import make_feed_agent
    from recoworld.evaluation import make_feed_vector_env

    env = make_feed_vector_env(env_id, num_envs=1, render_mode="ansi", **kwargs)
    agent = trained if trained is not None else make_feed_agent(agent_name, env, seed=seed)
    update = getattr(agent, "update", None)
    obs, _ = env.reset(seed=seed)
    while True:
        action = np.asarray(agent.predict(obs), dtype=np.int64)
        next_obs, reward, term, trunc, _ = env.step(action)
        if update is not None:
            update(obs, action, reward)
        obs = next_obs
        views = [v for v in env.views if v.session == 0]
        if views[-1].left or term[0] or trunc[0]:
            break
    return {
        "watch_time": [v.watch_time for v in views],
        "duration": [v.duration for v in views],
        "left": bool(views[-1].left),
        "text": env.render(),
    }


def _eval_seed(seed: int, point: int) -> int:
    # the evaluation stream of learning-curve point `point`, independent of the training stream
    return int(np.random.SeedSequence([seed, 7919, point]).generate_state(1)[0])


class FeedSuite:
    """Feed agents: watch time, depth, likes, skips, returns, coverage, diversity, over seeds."""

    def plan(self, config: BenchConfig) -> list[Unit]:
        """One unit per (seed, env, agent)."""
        from recoworld.registration import FEED_AGENTS, is_feed

        s = suite_settings(config, FeedSuiteConfig)
        check_known("feed.agents", s.agents, FEED_AGENTS)
        check_env_ids("feed.envs", s.envs, is_feed, "feed")
        return [
            Unit(
                key=f"seed-{seed}/{short_id(env_id)}/{agent}",
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

        s = suite_settings(config, FeedSuiteConfig)
        p = unit.params
        seed = int(p["seed"])
        kwargs: dict[str, Any] = {"data_dir": s.data_dir} if s.data_dir else {}

        def fresh_env(episodes: int) -> Any:
            return make_feed_vector_env(p["env"], num_envs=min(s.num_envs, episodes), **kwargs)

        extra: dict[str, Any] = {}
        trained = None
        if p["agent"] == "ppo":
            trained, extra["curve"] = self._train_ppo(s, p["env"], seed, kwargs, fresh_env)
            agent = trained
            env = fresh_env(s.episodes)
        else:
            env = fresh_env(s.episodes)
            agent = make_feed_agent(p["agent"], env, seed=seed)
        metrics = evaluate_feed(env, agent, s.episodes, seed=seed)
        if seed == config.seeds[0]:
            with one_torch_thread():
                extra["timeline"] = _timeline(p["env"], p["agent"], trained, seed, kwargs)
        return {"env": p["env"], "agent": p["agent"], "seed": seed, **extra, **asdict(metrics)}

    @staticmethod
    def _train_ppo(
        s: FeedSuiteConfig, env_id: str, seed: int, kwargs: dict[str, Any], fresh_env: Any
    ) -> tuple[Any, list[list[float]]]:
        from stable_baselines3.common.vec_env import DummyVecEnv

        from recoworld.agents.feed_sb3 import FeedPPOAgent
        from recoworld.evaluation import evaluate_feed

        with one_torch_thread():
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

    def summarize(
        self, config: BenchConfig, results: dict[str, dict[str, Any]], run_dir: Path
    ) -> SuiteResult:
        """Rows per (seed, env, agent); watch-time error bars and PPO learning curves."""
        s = suite_settings(config, FeedSuiteConfig)
        rows = [
            {k: v for k, v in r.items() if k not in ("curve", "timeline")}
            for r in results.values()
        ]
        order = {(e, a): i for i, (e, a) in enumerate((e, a) for e in s.envs for a in s.agents)}
        rows.sort(key=lambda r: (order[(r["env"], r["agent"])], r["seed"]))
        plots = []
        for env_id in s.envs:
            watch = [[r["watch_time"] for r in rows if r["env"] == env_id and r["agent"] == agent]
                     for agent in s.agents]  # agents x seeds
            plots.append(
                category_plot(
                    f"watch_time_{short_id(env_id)}",
                    f"Watch time per session: {env_id}",
                    "agent",
                    "seconds per session (mean ± std over seeds)",
                    s.agents,
                    [seed_series("watch time", range(len(s.agents)), np.transpose(watch))],
                )
            )
            curves = [r["curve"] for r in results.values() if r["env"] == env_id and "curve" in r]
            if curves:
                c = np.asarray(curves, dtype=float)  # seeds x points x (timesteps, watch time)
                plots.append(
                    PlotSpec(
                        name=f"learning_curve_ppo_{short_id(env_id)}",
                        title=f"PPO learning curve: {env_id}",
                        xlabel="training steps",
                        ylabel=f"watch time per session ({s.curve_episodes} episodes)",
                        series=(seed_series("ppo (mean over seeds, band = std)", c[0, :, 0],
                                            c[:, :, 1]),),
                    )
                )
        timelines, transcripts = self._timelines(config, s, results)
        plots += timelines
        notes = [
            f"{s.episodes} evaluation episodes per (seed, env, agent); seeds {seeds_text(config)}.",
            "watch_time and depth are per session; like/skip rates per video; return_rate over "
            "ended sessions.",
        ]
        if "ppo" in s.agents:
            notes.append(f"ppo trained for {s.ppo_timesteps} environment steps per seed.")
        if transcripts:
            notes.append(
                f"Timelines and transcripts: the first session of one user (seed "
                f"{config.seeds[0]}, the same user for every agent), played after the evaluation."
            )
        return SuiteResult(
            rows=tuple(rows),
            group_columns=("env", "agent"),
            metric_columns=_METRICS,
            plots=tuple(plots),
            notes=tuple(notes),
            transcripts=tuple(transcripts),
        )

    @staticmethod
    def _timelines(
        config: BenchConfig, s: FeedSuiteConfig, results: dict[str, dict[str, Any]]
    ) -> tuple[list[PlotSpec], list[Transcript]]:
        """Per env: watch time per video of the recorded session, the leave point crossed."""
        seed = config.seeds[0]
        plots, transcripts = [], []
        for env_id in s.envs:
            recorded = {
                r["agent"]: r["timeline"]
                for r in results.values()
                if r["env"] == env_id and r["seed"] == seed and "timeline" in r
            }
            series = []
            for agent in s.agents:
                if agent not in recorded:
                    continue
                t = recorded[agent]
                n = len(t["watch_time"])
                series.append(
                    Series(
                        f"{agent} ({'leaves' if t['left'] else 'stays'} after {n} videos)",
                        tuple(float(k) for k in range(1, n + 1)),
                        tuple(float(w) for w in t["watch_time"]),
                        marks=(n - 1,) if t["left"] else (),
                    )
                )
                transcripts.append(
                    Transcript(
                        name=f"{short_id(env_id)}_seed-{seed}_{agent}",
                        session=f"{env_id}, first session of the user of seed {seed}",
                        label=agent,
                        text=str(t["text"]),
                    )
                )
            if series:
                plots.append(
                    PlotSpec(
                        name=f"timeline_{short_id(env_id)}",
                        title=f"One session per agent: {short_id(env_id)}, seed {seed} (X: the user leaves)",
                        xlabel="video shown",
                        ylabel="watch time (s)",
                        series=tuple(series),
                    )
                )
        return plots, transcripts
