"""Bandit off-policy estimators: unbiasedness against exact truth, SNIPS bias, invalid inputs."""

from __future__ import annotations

import numpy as np
import pytest

from recoworld.errors import EstimatorInputError
from recoworld.estimators.base import ConfidenceInterval
from recoworld.estimators.logged_data import BanditLog
from recoworld.estimators.ope_bandit import (
    DirectMethod,
    DoublyRobust,
    DoublyRobustWithShrinkage,
    InverseProbabilityWeighting,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
)
from recoworld.estimators.reward_models import LinearRewardModel
from recoworld.estimators.synthetic import SyntheticBandit

WORLD = SyntheticBandit.generate(n_contexts=20, n_actions=5, dim=3, seed=1)
LOGGING = WORLD.softmax_policy(-2.0)  # prefers bad actions: a real distribution shift
TARGET = WORLD.softmax_policy(8.0)
TRUTH = WORLD.policy_value(TARGET)


def _estimates(estimator, n_rounds: int, seeds: range, biased_model: bool = True) -> np.ndarray:
    out = []
    for seed in seeds:
        log, ctx = WORLD.sample(n_rounds, LOGGING, np.random.default_rng(seed))
        q = WORLD.expected_reward[ctx] + (0.15 if biased_model else 0.0)  # a wrong reward model
        out.append(estimator.estimate_policy_value(log, TARGET[ctx], q))
    return np.asarray(out)


def test_truth_differs_from_logging_value():
    # Otherwise "unbiased" would be trivially satisfied by the on-policy average.
    assert abs(TRUTH - WORLD.policy_value(LOGGING)) > 0.1


@pytest.mark.parametrize("estimator", [InverseProbabilityWeighting(), DoublyRobust()])
def test_ips_and_dr_unbiased_over_many_seeds(estimator):
    # Tolerance: 4 standard errors of the mean over 300 seeds (a false alarm has prob ~6e-5).
    est = _estimates(estimator, 200, range(300))
    se = est.std(ddof=1) / np.sqrt(est.size)
    assert abs(est.mean() - TRUTH) < 4 * se
    assert se < 0.01  # the test has power: a bias of 0.04 would be detected


def test_direct_method_with_wrong_model_is_biased_and_dr_corrects_it():
    dm = _estimates(DirectMethod(), 200, range(100))
    dr = _estimates(DoublyRobust(), 200, range(100))
    assert abs(dm.mean() - TRUTH) == pytest.approx(0.15, abs=0.02)
    assert abs(dr.mean() - TRUTH) < 0.02


def test_snips_bias_shrinks_with_sample_size():
    snips = SelfNormalizedInverseProbabilityWeighting()
    small = _estimates(snips, 10, range(3000))
    large = _estimates(snips, 400, range(400))
    bias_small = small.mean() - TRUTH
    bias_large = large.mean() - TRUTH
    se_small = small.std(ddof=1) / np.sqrt(small.size)
    se_large = large.std(ddof=1) / np.sqrt(large.size)
    assert abs(bias_small) > 4 * se_small  # SNIPS is measurably biased with 10 rounds
    assert abs(bias_large) + 2 * se_large < abs(bias_small) / 2


def test_extreme_settings_reduce_to_dm_and_dr():
    log, ctx = WORLD.sample(500, LOGGING, np.random.default_rng(0))
    q = LinearRewardModel().fit_predict(log)
    pe = TARGET[ctx]
    dr = DoublyRobust().estimate_policy_value(log, pe, q)
    dm = DirectMethod().estimate_policy_value(log, pe, q)
    assert SwitchDoublyRobust(tau=np.inf).estimate_policy_value(log, pe, q) == pytest.approx(dr)
    assert SwitchDoublyRobust(tau=0.0).estimate_policy_value(log, pe, q) == pytest.approx(dm)
    assert DoublyRobustWithShrinkage(shrinkage=np.inf).estimate_policy_value(
        log, pe, q) == pytest.approx(dr)
    assert DoublyRobustWithShrinkage(shrinkage=0.0).estimate_policy_value(
        log, pe, q) == pytest.approx(dm)
    # On-policy (target = logging) every weight is 1: IPS = SNIPS = mean reward, SNDR = DR.
    pb = LOGGING[ctx]
    ips = InverseProbabilityWeighting().estimate_policy_value(log, pb)
    assert ips == pytest.approx(log.reward.mean())
    assert SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(
        log, pb) == pytest.approx(ips)
    assert SelfNormalizedDoublyRobust().estimate_policy_value(log, pb, q) == pytest.approx(
        DoublyRobust().estimate_policy_value(log, pb, q))


def test_exact_values_on_a_hand_computed_log():
    log = BanditLog.from_arrays([0, 1, 1], [1.0, 0.0, 2.0], [0.5, 0.25, 0.25], n_actions=2)
    pe = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    q = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # w = (2, 2, 4); IPS = (2*1 + 2*0 + 4*2) / 3
    assert InverseProbabilityWeighting().estimate_policy_value(log, pe) == pytest.approx(10 / 3)
    clipped = InverseProbabilityWeighting(clip=3.0).estimate_policy_value(log, pe)
    assert clipped == pytest.approx(8 / 3)
    assert SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(
        log, pe) == pytest.approx(10 / 8)
    # v = (1, 0.5, 1); DR = mean(v + w (r - q_a)) = (1 + 0 + 0.5 - 2 + 1 + 4) / 3
    assert DoublyRobust().estimate_policy_value(log, pe, q) == pytest.approx(4.5 / 3)


def test_slate_positions_are_scored_per_position():
    log = BanditLog.from_arrays([0, 1], [1.0, 1.0], [0.5, 0.5], n_actions=2, position=[0, 1])
    pe = np.zeros((2, 2, 2))
    pe[:, 0, 0] = 1.0  # position 0: always action 0
    pe[:, 1, 1] = 1.0  # position 1: always action 1
    assert InverseProbabilityWeighting().estimate_policy_value(log, pe) == pytest.approx(2.0)
    msg = r"must have shape \(n_rows, n_actions, len_list\)"
    with pytest.raises(EstimatorInputError, match=msg):
        InverseProbabilityWeighting().estimate_policy_value(log, pe[:, :, 0])


def test_bootstrap_interval_covers_estimate_and_is_deterministic():
    log, ctx = WORLD.sample(300, LOGGING, np.random.default_rng(3))
    est = SelfNormalizedInverseProbabilityWeighting()
    ci = est.estimate_interval(log, TARGET[ctx], n_bootstrap=100, seed=7)
    assert isinstance(ci, ConfidenceInterval)
    assert ci.lower < ci.mean < ci.upper
    assert ci == est.estimate_interval(log, TARGET[ctx], n_bootstrap=100, seed=7)
    with pytest.raises(EstimatorInputError, match=r"`alpha` must be in \(0, 1\), got 1.5"):
        est.estimate_interval(log, TARGET[ctx], alpha=1.5)


# --- invalid inputs -------------------------------------------------------------------------------


def test_pscore_outside_unit_interval_raises():
    with pytest.raises(EstimatorInputError, match=r"`pscore` must be in \(0, 1\], got min=0"):
        BanditLog.from_arrays([0, 1], [1.0, 0.0], [0.0, 0.5], n_actions=2)
    with pytest.raises(EstimatorInputError, match=r"`pscore` must be in \(0, 1\], got .*max=1.5"):
        BanditLog.from_arrays([0, 1], [1.0, 0.0], [1.5, 0.5], n_actions=2)


def test_mismatched_lengths_raise():
    with pytest.raises(EstimatorInputError, match="same length, got action=2, reward=3, pscore=2"):
        BanditLog.from_arrays([0, 1], [1.0, 0.0, 1.0], [0.5, 0.5], n_actions=2)
    log = BanditLog.from_arrays([0, 1], [1.0, 0.0], [0.5, 0.5], n_actions=2)
    with pytest.raises(EstimatorInputError, match=r"`action_dist` must have shape .*got \(3, 2\)"):
        InverseProbabilityWeighting().estimate_policy_value(log, np.full((3, 2), 0.5))
    with pytest.raises(EstimatorInputError, match=r"`estimated_rewards` must have the shape"):
        DoublyRobust().estimate_policy_value(log, np.full((2, 2), 0.5), np.zeros((2, 3)))


def test_action_dist_not_summing_to_one_raises():
    log = BanditLog.from_arrays([0, 1], [1.0, 0.0], [0.5, 0.5], n_actions=2)
    bad = np.array([[0.5, 0.5], [0.7, 0.7]])
    with pytest.raises(EstimatorInputError, match=r"`action_dist` must sum to one over actions, "
                                                  r"got sums in \[1, 1.4\]"):
        InverseProbabilityWeighting().estimate_policy_value(log, bad)
    with pytest.raises(EstimatorInputError, match=r"must be non-negative, got min=-0\.5"):
        InverseProbabilityWeighting().estimate_policy_value(log, np.array([[1.5, -0.5],
                                                                           [0.5, 0.5]]))
    with pytest.raises(EstimatorInputError, match="must sum to one"):
        InverseProbabilityWeighting().estimate_policy_value(log, np.array([[np.nan, 0.5],
                                                                           [0.5, 0.5]]))


def test_action_outside_space_raises():
    with pytest.raises(EstimatorInputError,
                       match=r"`action` must lie in the action space \[0, 2\] \(n_actions=3\), "
                             r"got min=0, max=3"):
        BanditLog.from_arrays([0, 3], [1.0, 0.0], [0.5, 0.5], n_actions=3)
    with pytest.raises(EstimatorInputError, match="got min=-1"):
        BanditLog.from_arrays([-1, 0], [1.0, 0.0], [0.5, 0.5], n_actions=3)


def test_missing_reward_model_and_bad_settings_raise():
    log = BanditLog.from_arrays([0, 1], [1.0, 0.0], [0.5, 0.5], n_actions=2)
    with pytest.raises(EstimatorInputError, match="`estimated_rewards` is required"):
        DoublyRobust().estimate_policy_value(log, np.full((2, 2), 0.5))
    with pytest.raises(EstimatorInputError, match="`clip` must be > 0, got -1"):
        InverseProbabilityWeighting(clip=-1)
    with pytest.raises(EstimatorInputError, match=r"`tau` must be >= 0, got -0\.5"):
        SwitchDoublyRobust(tau=-0.5)
    with pytest.raises(EstimatorInputError, match="`data` must be a BanditLog"):
        InverseProbabilityWeighting().estimate_policy_value({"action": [0]}, np.ones((1, 2)) / 2)


def test_slate_dr_uses_the_model_at_the_logged_position():
    log = BanditLog.from_arrays([0, 1], [1.0, 0.0], [0.5, 0.25], n_actions=2, position=[0, 1])
    pe = np.zeros((2, 2, 2))
    pe[:, 0, :] = 0.5
    pe[:, 1, :] = 0.5
    q = np.zeros((2, 2, 2))
    q[:, 0, 0], q[:, 1, 0], q[:, 0, 1], q[:, 1, 1] = 1.0, 0.0, 0.2, 0.4
    # row 0, position 0: v = 0.5, w = 1, r - q = 0  -> 0.5
    # row 1, position 1: v = 0.3, w = 2, r - q = -0.4 -> 0.3 - 0.8
    expected = (0.5 + 0.3 - 0.8) / 2
    assert DoublyRobust().estimate_policy_value(log, pe, q) == pytest.approx(expected)


def test_linear_reward_model_recovers_linear_rewards_and_cross_fits():
    rng = np.random.default_rng(0)
    ctx = rng.normal(size=(400, 3))
    action = rng.integers(0, 2, 400)
    coef = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]])
    reward = np.einsum("nd,nd->n", ctx, coef[action]) + 0.7
    log = BanditLog.from_arrays(action, reward, np.full(400, 0.5), n_actions=2, context=ctx)
    q = LinearRewardModel(l2=1e-6).fit_predict(log)
    assert q == pytest.approx(ctx @ coef.T + 0.7, abs=1e-4)
    cross = LinearRewardModel(l2=1e-6, n_folds=4).fit_predict(log, seed=1)
    assert cross == pytest.approx(q, abs=1e-3)  # noise-free: every fold finds the same model
    assert np.array_equal(cross, LinearRewardModel(l2=1e-6, n_folds=4).fit_predict(log, seed=1))
    with pytest.raises(EstimatorInputError, match="`n_folds` must be >= 1, got 0"):
        LinearRewardModel(n_folds=0)
