"""MIPS and the slate estimators: exact values, unbiased where their assumptions hold, biased where
they are broken, and clear errors for bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recoworld.errors import EstimatorInputError
from recoworld.estimators import (
    IPS,
    MIPS,
    BanditLog,
    SlateActionDist,
    SlateCascadeDoublyRobust,
    SlateIndependentIPS,
    SlateLog,
    SlatePseudoInverse,
    SlateRewardInteractionIPS,
    SlateStandardIPS,
    SyntheticBandit,
    SyntheticSlateBandit,
)

SLATE_ESTIMATORS = {e.estimator_name: e for e in (
    SlateStandardIPS(), SlateIndependentIPS(), SlateRewardInteractionIPS(), SlatePseudoInverse(),
    SlateCascadeDoublyRobust())}


def _z(values: list[float], truth: float) -> float:
    """Bias over replications in standard errors of the mean."""
    v = np.asarray(values)
    return float((v.mean() - truth) / (v.std(ddof=1) / np.sqrt(v.size)))


# --- MIPS ----------------------------------------------------------------------------------------


def test_mips_exact_value_on_a_hand_computed_log():
    # 3 actions, categories (0, 0, 1); logging (0.5, 0.25, 0.25), target (0, 1, 0) in both rows
    log = BanditLog.from_arrays([0, 2], [1.0, 3.0], [0.5, 0.25], 3)
    pb = np.array([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])
    pe = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    # row 0: category 0 has target mass 1, logging mass 0.75 -> w = 4/3; row 1: w = 0 / 0.25
    assert MIPS().estimate_policy_value(log, pe, pb, np.array([0, 0, 1])) == pytest.approx(
        (4 / 3 * 1.0 + 0.0) / 2)
    # a context-dependent embedding: in row 1 action 2 shares category 0 with action 1
    emb = np.array([[0, 0, 1], [1, 0, 0]])
    assert MIPS().estimate_policy_value(log, pe, pb, emb) == pytest.approx(
        (4 / 3 * 1.0 + 1.0 / 0.5 * 3.0) / 2)
    sn = MIPS(self_normalized=True).estimate_policy_value(log, pe, pb, emb)
    assert sn == pytest.approx((4 / 3 + 6.0) / (4 / 3 + 2.0))


def test_mips_equals_ips_when_every_action_is_its_own_embedding():
    world = SyntheticBandit.generate(n_contexts=10, n_actions=6, seed=2)
    pb, pe = world.softmax_policy(0.5), world.softmax_policy(4.0)
    log, ctx = world.sample(500, pb, np.random.default_rng(0))
    assert MIPS().estimate_policy_value(log, pe[ctx], pb[ctx], np.arange(6)) == pytest.approx(
        IPS().estimate_policy_value(log, pe[ctx]), rel=1e-12)


def _mips_runs(direct_effect: float, reps: int = 150) -> tuple[float, list[float], list[float]]:
    world = SyntheticBandit.generate_with_categories(
        n_contexts=30, n_actions=60, n_categories=6, direct_effect=direct_effect, seed=0)
    assert world.action_category is not None
    pb = world.softmax_policy(0.0)
    # a target with preferences inside each category too: MIPS's weights are then smaller
    rng = np.random.default_rng(9)
    z = 6.0 * world.expected_reward + rng.normal(size=world.expected_reward.shape)
    pe = np.exp(z - z.max(axis=1, keepdims=True))
    pe /= pe.sum(axis=1, keepdims=True)
    mips, ips = [], []
    for rep in range(reps):
        log, ctx = world.sample(1000, pb, np.random.default_rng(rep))
        mips.append(MIPS().estimate_policy_value(log, pe[ctx], pb[ctx], world.action_category))
        ips.append(IPS().estimate_policy_value(log, pe[ctx]))
    return world.policy_value(pe), mips, ips


def test_mips_is_unbiased_when_rewards_depend_on_the_action_only_through_its_category():
    truth, mips, ips = _mips_runs(direct_effect=0.0)
    assert abs(_z(mips, truth)) < 3.0
    assert np.std(mips) < 0.7 * np.std(ips)  # the point of MIPS: lower variance


def test_mips_is_biased_when_actions_of_a_category_differ():
    truth, mips, ips = _mips_runs(direct_effect=1.5)
    assert abs(_z(mips, truth)) > 10.0
    assert abs(_z(ips, truth)) < 3.0


def test_mips_bad_input():
    log = BanditLog.from_arrays([0, 1], [1.0, 0.0], [0.5, 0.5], 2)
    pe = np.full((2, 2), 0.5)
    with pytest.raises(EstimatorInputError, match="`logging_dist` must be the logging policy's"):
        MIPS().estimate_policy_value(log, pe, np.array([[0.9, 0.1], [0.5, 0.5]]), [0, 1])
    with pytest.raises(EstimatorInputError, match="`action_embedding` must be integers"):
        MIPS().estimate_policy_value(log, pe, pe, np.array([0.0, 1.0]))
    with pytest.raises(EstimatorInputError, match="`action_dist` must sum to one"):
        MIPS().estimate_policy_value(log, np.full((2, 2), 0.7), pe, [0, 1])


# --- slates --------------------------------------------------------------------------------------


def _hand_slates() -> SlateLog:
    """Two slates of 2 positions over 2 candidates, logging marginals given per position."""
    marg = np.array([[[0.5, 0.25], [0.5, 0.75]], [[0.8, 0.5], [0.2, 0.5]]])  # (n, K, L)
    return SlateLog(
        episode=np.array([0, 1]), step=np.array([0, 0]), user=np.array([0, 0]),
        features=np.zeros((2, 1)), candidates=np.array([[0, 1], [0, 1]]),
        slate=np.array([[0, 1], [1, 1]]), reward=np.array([[1.0, 2.0], [0.0, 4.0]]),
        shown=np.ones((2, 2), dtype=bool), logging_marginals=marg, n_items=2)


def test_slate_estimators_exact_values_on_a_hand_computed_log():
    log = _hand_slates()
    tgt = np.array([[[1.0, 0.5], [0.0, 0.5]], [[0.5, 0.5], [0.5, 0.5]]])
    ad = SlateActionDist.independent(tgt)
    # slate 0 = (0, 1): mu = (0.5, 0.75), pi = (1.0, 0.5); slate 1 = (1, 1): mu = (0.2, 0.5)
    w0, w1 = np.array([2.0, 2 / 3]), np.array([2.5, 1.0])
    r0, r1 = np.array([1.0, 2.0]), np.array([0.0, 4.0])
    expected = {
        "sips": (w0.prod() * r0.sum() + w1.prod() * r1.sum()) / 2,
        "iips": (w0 @ r0 + w1 @ r1) / 2,
        "rips": (np.cumprod(w0) @ r0 + np.cumprod(w1) @ r1) / 2,
        "pi": ((w0.sum() - 1) * r0.sum() + (w1.sum() - 1) * r1.sum()) / 2,
    }
    for name, value in expected.items():
        assert SLATE_ESTIMATORS[name].estimate_policy_value(log, ad) == pytest.approx(value)
    # cascade-DR with q = 0 is reward-interaction IPS; with q it adds the control variate
    q0 = np.zeros((2, 2, 2))
    assert SlateCascadeDoublyRobust().estimate_policy_value(log, ad, q0) == pytest.approx(
        expected["rips"])
    q = np.full((2, 2, 2), 1.0)
    pw0, pw1 = np.cumprod(w0), np.cumprod(w1)
    dr = sum(((pw * (r - 1.0)).sum() + np.r_[1.0, pw[:-1]].sum() * 1.0)
             for pw, r in ((pw0, r0), (pw1, r1))) / 2
    assert SlateCascadeDoublyRobust().estimate_policy_value(log, ad, q) == pytest.approx(dr)


def test_pseudo_inverse_closed_form_is_the_pseudo_inverse_for_independent_logging():
    rng = np.random.default_rng(0)
    k, length = 3, 3
    mu = rng.dirichlet(np.ones(k), size=length)  # (L, K)
    pi = rng.dirichlet(np.ones(k), size=length)
    slates = list(itertools.product(range(k), repeat=length))

    def indicator(s):
        v = np.zeros(length * k)
        v[[j * k + a for j, a in enumerate(s)]] = 1.0
        return v

    gamma = sum(np.prod(mu[np.arange(length), s]) * np.outer(indicator(s), indicator(s))
                for s in slates)
    theta = pi.reshape(-1)
    pinv = np.linalg.pinv(gamma)
    marg = np.broadcast_to(mu.T, (len(slates), k, length)).copy()
    log = SlateLog(
        episode=np.arange(len(slates)), step=np.zeros(len(slates), dtype=np.int64),
        user=np.zeros(len(slates), dtype=np.int64), features=np.zeros((len(slates), 1)),
        candidates=np.tile(np.arange(k), (len(slates), 1)), slate=np.asarray(slates),
        reward=np.zeros((len(slates), length)), shown=np.ones((len(slates), length), bool),
        logging_marginals=marg, n_items=k)
    ad = SlateActionDist.independent(np.broadcast_to(pi.T, marg.shape).copy())
    for i, s in enumerate(slates):
        one = SlateLog(**{**{f: getattr(log, f)[i:i + 1] for f in (
            "episode", "step", "user", "features", "candidates", "slate", "shown",
            "logging_marginals")}, "reward": np.array([[1.0, 0.0, 0.0]]), "n_items": k})
        sub = SlateActionDist.independent(ad.marginal[i:i + 1])
        assert SlatePseudoInverse().estimate_policy_value(one, sub) == pytest.approx(
            theta @ pinv @ indicator(s), rel=1e-9)


ASSUMPTIONS = [  # (click model, unbiased, biased)
    ("independent", ("sips", "iips", "rips", "pi", "cascade-dr"), ()),
    ("cascade", ("sips", "rips", "cascade-dr"), ("iips", "pi")),
    # PseudoInverse's bias is the reward's non-additive part, small in this world (-0.03 %)
    ("global", ("sips",), ("iips", "rips", "cascade-dr")),
]


def _world(click_model: str) -> SyntheticSlateBandit:
    return SyntheticSlateBandit.generate(n_contexts=8, n_actions=4, slate_size=3,
                                         click_model=click_model, seed=0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("click_model", "unbiased", "biased"), ASSUMPTIONS)
def test_slate_estimators_exact_expectation_is_the_truth_exactly_where_assumptions_hold(
        click_model, unbiased, biased):
    """Every estimator is linear in the rewards, so its expectation is its value on every slate
    with the expected rewards, weighted by the slate's logging probability: no sampling noise."""
    from recoworld.estimators.ope_slate import _slate_terms

    world = _world(click_model)
    logging, target = world.softmax_policy(1.0, 0.5), world.softmax_policy(4.0)
    truth = world.policy_value(target)
    slates = np.asarray(list(itertools.product(range(4), repeat=3)))
    ctx = np.repeat(np.arange(world.n_contexts), len(slates))
    every = np.tile(slates, (world.n_contexts, 1))
    n = len(ctx)
    log = SlateLog(
        episode=np.arange(n), step=np.zeros(n, dtype=np.int64), user=ctx,
        features=world.contexts[ctx], candidates=np.tile(np.arange(4), (n, 1)), slate=every,
        reward=world.position_means(ctx, every), shown=np.ones((n, 3), dtype=bool),
        logging_marginals=logging[ctx], n_items=4)
    prob = log.pscore_slate  # weight of each (context, slate): its logging probability
    ad = SlateActionDist.independent(target[ctx])
    q = np.full((n, 3, 4), 0.3)  # a poor but fixed model
    for name, est in SLATE_ESTIMATORS.items():
        terms = _slate_terms(log, ad, q if est.requires_reward_model else None,
                             est.requires_reward_model)
        expectation = est._value(terms, prob)
        if name in unbiased:
            assert expectation == pytest.approx(truth, rel=1e-9), name
        elif name in biased:
            assert abs(expectation - truth) > 0.005 * truth, name


@pytest.mark.parametrize(("click_model", "unbiased", "biased"), ASSUMPTIONS)
def test_slate_estimators_are_unbiased_over_seeds_where_assumptions_hold(click_model, unbiased,
                                                                        biased):
    world = _world(click_model)
    logging, target = world.softmax_policy(1.0, 0.5), world.softmax_policy(4.0)
    truth = world.policy_value(target)
    values: dict[str, list[float]] = {name: [] for name in SLATE_ESTIMATORS}
    for rep in range(150):
        log, ctx = world.sample(1000, logging, np.random.default_rng(rep))
        ad = SlateActionDist.independent(target[ctx])
        q = np.full((log.n_slates, 3, 4), 0.3)
        for name, est in SLATE_ESTIMATORS.items():
            values[name].append(est.estimate_policy_value(
                log, ad, q if est.requires_reward_model else None))
    for name in unbiased:
        assert abs(_z(values[name], truth)) < 3.5, name
    # the independent-IPS bias is large enough to show in sampled logs too
    if "iips" in biased:
        assert abs(_z(values["iips"], truth)) > 6.0


def test_slate_ranking_target_and_bad_input():
    log = _hand_slates()
    ranking = SlateActionDist.ranking(np.array([[0, 1], [0, 1]]), 2)
    # only slate 0 matches the ranking: w = 1/(0.5*0.75)
    assert SlateStandardIPS().estimate_policy_value(log, ranking) == pytest.approx(
        (1 / (0.5 * 0.75)) * 3.0 / 2)
    with pytest.raises(EstimatorInputError, match="`q_hat` is required"):
        SlateCascadeDoublyRobust().estimate_policy_value(log, ranking)
    with pytest.raises(EstimatorInputError, match="must be a SlateActionDist"):
        SlateStandardIPS().estimate_policy_value(log, np.zeros((2, 2, 2)))  # type: ignore[arg-type]
    with pytest.raises(EstimatorInputError, match="`marginal` must sum to one"):
        SlateActionDist.independent(np.full((2, 2, 2), 0.3))
    with pytest.raises(EstimatorInputError, match=r"`q_hat` must have shape \(n, L, K\)"):
        SlateCascadeDoublyRobust().estimate_policy_value(log, ranking, np.zeros((2, 2)))
    ci = SlateStandardIPS().estimate_interval(log, ranking, n_bootstrap=50, seed=1)
    assert ci.lower <= ci.mean <= ci.upper
