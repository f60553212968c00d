"""The closed loop: biased logs from a feed, debiased learners, deployment judged online.

One run of :func:`run_closed_loop` is one (environment, logging policy, seed):

1. the population is split once per seed into *held-out* users (``online_fraction``), who are
   never logged, and *logged* users, whose episodes under the logging policy make the log
   (exact propensities, :func:`recoworld.estimators.collect_feed_log`);
2. the logged users are split again into train (60 %), validation (20 %) and test (20 %); every
   learner fits each setting of the grid on train and keeps the one its own criterion prefers on
   validation (never simulator truth);
3. what an offline researcher would see, on the test part of the log: naive and
   inverse-propensity DCG@k / Recall@k, and off-policy estimates (IPS, SNIPS, DR, switch-DR,
   MIPS over video categories) of the per-video reward of each learner's deployed policy (greedy
   over its scores); DR's reward model is the naive learner;
4. what the users then do: each learner deployed greedily on the held-out users for
   ``online_episodes`` episodes: watch time per session, like rate, return rate, coverage, and
   the reward per video (the quantity the off-policy estimates target).

The logging policy itself is reported beside the learners (offline numbers with its own
distribution as the target, online on the held-out users).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from recoworld.agents.feed_policies import ScoredFeedAgent, make_logging_policy
from recoworld.bench.config import MNARSuiteConfig
from recoworld.estimators.feed_learners import (
    FeedMF,
    FeedMFConfig,
    logged_ranking_metrics,
    select_feed_learner,
)
from recoworld.estimators.feed_logs import (
    FeedLog,
    collect_feed_log,
    feed_world,
    split_users,
    world_with_users,
)
from recoworld.estimators.ope_bandit import (
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
)
from recoworld.estimators.ope_embed import MarginalizedInverseProbabilityWeighting
from recoworld.evaluation import FeedMetrics, evaluate_feed, make_feed_vector_env

__all__ = ["run_closed_loop"]

_F = npt.NDArray[np.float64]


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def _online(metrics: FeedMetrics) -> dict[str, float]:
    videos = metrics.depth * metrics.sessions
    return {
        "watch_time": metrics.watch_time,
        "like_rate": metrics.like_rate,
        "return_rate": metrics.return_rate,
        "coverage": metrics.coverage,
        "depth": metrics.depth,
        "value_per_video": metrics.reward * metrics.episodes / max(videos, 1.0),
    }


def _greedy(scores: _F) -> _F:
    dist = np.zeros_like(scores)
    dist[np.arange(scores.shape[0]), np.argmax(scores, axis=1)] = 1.0
    return dist


def _offline(scores: _F, target: _F, test: FeedLog, q_hat: _F, category: npt.NDArray[np.int64],
             k: int, switch_tau: float) -> dict[str, float]:
    rank = logged_ranking_metrics(scores, test, k)
    bandit = test.bandit_log()
    return {
        "dcg_naive": rank.dcg_naive,
        "dcg_ips": rank.dcg_ips,
        "recall_naive": rank.recall_naive,
        "recall_ips": rank.recall_ips,
        "ope_ips": InverseProbabilityWeighting().estimate_policy_value(bandit, target),
        "ope_snips": SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(
            bandit, target),
        "ope_dr": DoublyRobust().estimate_policy_value(bandit, target, q_hat),
        "ope_switch_dr": SwitchDoublyRobust(tau=switch_tau).estimate_policy_value(
            bandit, target, q_hat),
        "ope_mips": MarginalizedInverseProbabilityWeighting().estimate_policy_value(
            bandit, target, test.logging_dist, category[test.candidates]),
    }


def run_closed_loop(env_id: str, logging: str, seed: int, s: MNARSuiteConfig,
                    log_path: Path | None = None) -> dict[str, Any]:
    """Run the loop for one (environment, logging policy, seed); a JSON-ready dict."""
    kwargs: dict[str, Any] = {"data_dir": s.data_dir} if s.data_dir else {}
    world = feed_world(env_id, kwargs)
    n_users = world.population.n_users
    online_users, logged_users = split_users(
        n_users, (s.online_fraction, 1.0 - s.online_fraction), _seed(seed, 1))
    start = time.perf_counter()
    policy = make_logging_policy(logging, seed=seed)
    log = collect_feed_log(env_id, policy, s.log_episodes, _seed(seed, 2), users=logged_users,
                           num_envs=s.num_envs, env_kwargs=kwargs, policy_name=logging)
    log_seconds = time.perf_counter() - start
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log.save(log_path)
    groups = split_users(len(logged_users), (0.6, 0.2, 0.2), _seed(seed, 3))
    train, valid, test = (log.select_users(logged_users[g]) for g in groups)
    duration = world.catalogue.duration_s.astype(np.float64)
    category = world.catalogue.category.astype(np.int64)
    grid = [FeedMFConfig(dim=d, l2=l2, clip=c, epochs=s.epochs, batch_size=s.batch_size,
                         seed=_seed(seed, 4))
            for d in s.dims for l2 in s.l2s for c in s.clips]
    models: dict[str, FeedMF] = {}
    learners: dict[str, dict[str, Any]] = {}
    for kind in s.learners:
        # unweighted learners do not read the clip: try each (dim, l2) once
        kind_grid = grid if kind not in ("naive", "naive-implicit") else [
            g for g in grid if g.clip == s.clips[0]]
        t0 = time.perf_counter()
        sel = select_feed_learner(kind, train, valid, duration, kind_grid, s.k)
        models[kind] = sel.model
        learners[kind] = {
            "train_seconds": time.perf_counter() - t0,
            "selected": {"dim": sel.config.dim, "l2": sel.config.l2, "clip": sel.config.clip},
            "validation": [[c.dim, c.l2, c.clip, v] for c, v in sel.scores],
        }
    q_hat = models["naive"].expected_reward(test.features, test.candidates)
    online_world = world_with_users(world, online_users)
    online_seed = _seed(seed, 5)

    def deploy(agent: Any) -> dict[str, float]:
        env = make_feed_vector_env(env_id, num_envs=min(s.num_envs, s.online_episodes),
                                   world=online_world, **kwargs)
        try:
            return _online(evaluate_feed(env, agent, s.online_episodes, seed=online_seed))
        finally:
            env.close()

    for kind, model in models.items():
        scores = model.candidate_scores(test.features, test.candidates)
        learners[kind].update(_offline(scores, _greedy(scores), test, q_hat, category, s.k,
                                       s.switch_tau))
        learners[kind].update(deploy(ScoredFeedAgent(model.scorer())))
    logging_row: dict[str, Any] = _offline(test.logging_dist, test.logging_dist, test, q_hat,
                                           category, s.k, s.switch_tau)
    logging_row.update(deploy(make_logging_policy(logging, seed=_seed(seed, 6))))
    return {
        "env": env_id,
        "logging": logging,
        "seed": seed,
        "log": {
            "rows": log.n_rows,
            "episodes": int(log.episode.max()) + 1,
            "min_pscore": float(log.pscore.min()),
            "like_rate": float(log.like.mean()),
            "train_rows": train.n_rows,
            "valid_rows": valid.n_rows,
            "test_rows": test.n_rows,
            "seconds": log_seconds,
            "users_logged": int(logged_users.size),
            "users_held_out": int(online_users.size),
        },
        "learners": learners,
        "logging_policy": logging_row,
        "grid": [asdict(g) for g in grid],
    }
