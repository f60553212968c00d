"""Sequential estimators on a tiny MDP with exact truth; logging and ground truth on real envs."""

from __future__ import annotations

import numpy as np
import pytest

from recoworld.agents.feed import MostPopularFeedAgent, RandomFeedAgent
from recoworld.bench.ope_bench import BenchScale, run_ope_bench
from recoworld.errors import ConfigError, DataError, EstimatorInputError
from recoworld.estimators.collect import MixturePolicy, collect, true_policy_value
from recoworld.estimators.logged_data import BanditLog, TrajectoryLog
from recoworld.estimators.ope_sequential import (
    PerDecisionImportanceSampling,
    SequentialDoublyRobust,
    TrajectoryWiseImportanceSampling,
    WeightedPerDecisionImportanceSampling,
    WeightedTrajectoryWiseImportanceSampling,
)
from recoworld.estimators.reward_models import FittedQEvaluation

# A 2-state, 2-action MDP with horizon 3 (episodes may end early).
P_NEXT = np.array([[0.8, 0.3], [0.4, 0.9]])  # P(next state = 1 | s, a)
P_END = np.array([[0.1, 0.3], [0.2, 0.0]])  # P(episode ends after acting | s, a)
MEAN_R = np.array([[0.0, 1.0], [2.0, 0.5]])
LOGGING = np.array([[0.5, 0.5], [0.7, 0.3]])  # pi(a | s)
TARGET = np.array([[0.2, 0.8], [0.9, 0.1]])
HORIZON, GAMMA = 3, 0.9


def _exact_value(pi: np.ndarray) -> float:
    v = np.zeros(2)
    for _ in range(HORIZON):
        q = MEAN_R + GAMMA * (1 - P_END) * (P_NEXT * v[1] + (1 - P_NEXT) * v[0])
        v = (pi * q).sum(axis=1)
    return float(0.5 * v.sum())  # start state uniform


def _simulate(n_episodes: int, rng: np.random.Generator) -> TrajectoryLog:
    cols = {k: [] for k in ("episode", "step", "action", "reward", "pscore", "done", "obs")}
    for ep in range(n_episodes):
        s = int(rng.integers(2))
        for t in range(HORIZON):
            a = int(rng.random() < LOGGING[s, 1])
            r = MEAN_R[s, a] + rng.normal()
            end = t == HORIZON - 1 or rng.random() < P_END[s, a]
            for k, v in (("episode", ep), ("step", t), ("action", a), ("reward", r),
                         ("pscore", LOGGING[s, a]), ("done", end), ("obs", s)):
                cols[k].append(v)
            s = int(rng.random() < P_NEXT[s, a])
            if end:
                break
    obs = np.asarray(cols["obs"])
    return TrajectoryLog.from_arrays(cols["episode"], cols["step"], cols["action"], cols["reward"],
                                     cols["pscore"], cols["done"], 2,
                                     observation=np.eye(2)[obs],
                                     evaluation_action_dist={"target": TARGET[obs]})


def test_exact_value_differs_between_policies():
    assert abs(_exact_value(TARGET) - _exact_value(LOGGING)) > 0.3


@pytest.mark.parametrize("estimator", [TrajectoryWiseImportanceSampling(gamma=GAMMA),
                                       PerDecisionImportanceSampling(gamma=GAMMA),
                                       SequentialDoublyRobust(gamma=GAMMA)])
def test_unbiased_sequential_estimators(estimator):
    truth = _exact_value(TARGET)
    est = []
    for seed in range(200):
        log = _simulate(100, np.random.default_rng(seed))
        pe = log.evaluation_action_dist["target"]
        q = None
        if estimator.requires_q_model:
            # A deliberately wrong Q-model (0.5 off everywhere): DR must stay unbiased.
            q = FittedQEvaluation(gamma=GAMMA).fit_predict(log, pe) + 0.5
        est.append(estimator.estimate_policy_value(log, pe, q))
    est = np.asarray(est)
    se = est.std(ddof=1) / np.sqrt(est.size)
    assert abs(est.mean() - truth) < 4 * se  # 4 standard errors over 200 seeds
    assert se < 0.05


def test_weighted_estimators_are_consistent():
    truth = _exact_value(TARGET)
    log = _simulate(20_000, np.random.default_rng(7))
    pe = log.evaluation_action_dist["target"]
    for est in (WeightedTrajectoryWiseImportanceSampling(gamma=GAMMA),
                WeightedPerDecisionImportanceSampling(gamma=GAMMA)):
        assert est.estimate_policy_value(log, pe) == pytest.approx(truth, abs=0.06)


def test_on_policy_weights_give_the_average_return():
    log = _simulate(300, np.random.default_rng(1))
    on_policy = LOGGING[log.column("observation")[:, 1].astype(int)]
    frame = log.frame
    returns = (frame["reward"] * GAMMA ** frame["step"]).to_numpy()
    avg = np.bincount(frame["episode"].to_numpy(), weights=returns).mean()
    for est in (TrajectoryWiseImportanceSampling(gamma=GAMMA),
                PerDecisionImportanceSampling(gamma=GAMMA),
                WeightedTrajectoryWiseImportanceSampling(gamma=GAMMA),
                WeightedPerDecisionImportanceSampling(gamma=GAMMA)):
        assert est.estimate_policy_value(log, on_policy) == pytest.approx(avg)
    ci = PerDecisionImportanceSampling(gamma=GAMMA).estimate_interval(log, on_policy,
                                                                      n_bootstrap=50)
    assert ci.lower < avg < ci.upper


def test_trajectory_log_validation_and_round_trip(tmp_path):
    log = _simulate(5, np.random.default_rng(0))
    path = tmp_path / "traj.parquet"
    log.save(path)
    back = TrajectoryLog.load(path)
    assert back.frame.equals(log.frame)
    assert np.array_equal(back.evaluation_action_dist["target"],
                          log.evaluation_action_dist["target"])
    with pytest.raises(EstimatorInputError, match=r"`step` must count 0, 1, 2, \.\.\. within "
                                                  r"each episode, got step=2 at row 1"):
        TrajectoryLog.from_arrays([0, 0], [0, 2], [0, 1], [1.0, 1.0], [0.5, 0.5],
                                  [False, True], 2)
    with pytest.raises(EstimatorInputError, match="`done` must be true exactly on each "
                                                  "episode's last row"):
        TrajectoryLog.from_arrays([0, 0], [0, 1], [0, 1], [1.0, 1.0], [0.5, 0.5],
                                  [True, True], 2)
    with pytest.raises(EstimatorInputError, match=r"evaluation_action_dist\['t'\]` must sum to "
                                                  "one"):
        TrajectoryLog.from_arrays([0], [0], [0], [1.0], [0.5], [True], 2,
                                  evaluation_action_dist={"t": [[0.5, 0.6]]})
    with pytest.raises(DataError, match="holds a 'trajectory' log, expected 'bandit'"):
        BanditLog.load(path)


def test_bandit_log_round_trip(tmp_path):
    log = BanditLog.from_arrays([0, 2, 1], [1.0, 0.0, 0.5], [0.2, 0.5, 1.0], n_actions=3,
                                context=np.arange(6.0).reshape(3, 2), position=[0, 1, 0])
    log.save(tmp_path / "b.parquet")
    back = BanditLog.load(tmp_path / "b.parquet")
    assert back.frame.equals(log.frame) and back.n_actions == 3 and back.len_list == 2
    assert np.array_equal(back.context, np.arange(6.0).reshape(3, 2))


FEED = "recoworld/ShortVideo-v0"


def _feed_pair():
    pop, rand = MostPopularFeedAgent(seed=0), RandomFeedAgent(seed=0)
    return MixturePolicy([pop, rand], [0.5, 0.5]), MixturePolicy([pop, rand], [0.7, 0.3])


def test_collect_logs_exact_propensities_and_is_deterministic():
    logging, target = _feed_pair()
    log = collect(FEED, logging, 5, seed=3, evaluation_policies={"target": target},
                  observation_features=lambda obs: obs["user"])
    again = collect(FEED, logging, 5, seed=3, evaluation_policies={"target": target},
                    observation_features=lambda obs: obs["user"])
    assert log.frame.equals(again.frame)
    assert log.n_episodes == 5 and log.n_actions == 16
    # Mixture of one-hot (prob 0.5) and uniform over 16 (prob 0.5): pscore is 0.5/16 or
    # 0.5 + 0.5/16 depending on whether the popular item was drawn.
    ps = log.column("pscore")
    assert set(np.round(ps, 9)) <= {round(0.5 / 16, 9), round(0.5 + 0.5 / 16, 9)}
    pe = log.evaluation_action_dist["target"]
    assert pe.shape == (log.n_rows, 16) and np.allclose(pe.sum(axis=1), 1.0)
    first = collect(FEED, logging, 5, seed=3, max_steps=1).first_steps()
    assert first.n_rows == 5


def test_true_policy_value_and_errors():
    logging, _ = _feed_pair()
    a = true_policy_value(FEED, logging, 20, seed=1)
    b = true_policy_value(FEED, logging, 20, seed=1)
    assert a == b and a.episodes == 20 and a.std_error > 0
    with pytest.raises(ConfigError, match="`episodes` must be >= 1, got 0"):
        true_policy_value(FEED, logging, 0, seed=1)
    with pytest.raises(ConfigError, match="`weights` must be non-negative and sum to one"):
        MixturePolicy([logging], [0.5])


def test_ope_bench_tiny_scale():
    scale = BenchScale(replications=2, bandit_replications=3, bandit_rounds=200,
                       env_bandit_episodes=40, env_episodes=10, truth_episodes=20)
    results = run_ope_bench(scale=scale)
    names = [r.setting for r in results]
    assert {"feed-first-step", "feed-episode", "crs-first-step", "crs-episode"} <= set(names)
    stats = next(r for r in results if r.setting == "crs-episode").stats()
    assert set(stats) == {"tis", "wis", "pdis", "wpdis", "dr-mdp"}
    slate = next(r for r in results if r.setting == "feed-slate-first-slate").stats()
    assert set(slate) == {"sips", "iips", "rips", "pi", "cascade-dr"}
    for st in stats.values():
        assert st["rmse"] >= abs(st["bias"]) - 1e-12


def test_logs_built_from_a_frame_are_validated_too():
    import polars as pl

    bad = pl.DataFrame({"action": [0, 5], "reward": [1.0, 0.0], "pscore": [0.5, 0.5]})
    with pytest.raises(EstimatorInputError, match=r"`action` must lie in the action space"):
        BanditLog(bad, n_actions=2)
    frame = pl.DataFrame({"episode": [0, 0], "step": [0, 1], "action": [0, 1],
                          "reward": [1.0, 1.0], "pscore": [0.5, 0.0], "done": [False, True]})
    with pytest.raises(EstimatorInputError, match=r"`pscore` must be in \(0, 1\], got min=0"):
        TrajectoryLog(frame, n_actions=2)
    ok = BanditLog(bad.with_columns(pl.Series("action", [0, 1])), n_actions=2)
    assert ok.action.tolist() == [0, 1]
