"""Estimator input that has no answer: no overlap between the policies, ratings off the scale."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from recoworld.errors import EstimatorInputError
from recoworld.estimators import (
    BanditLog,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    TrajectoryLog,
    WeightedPerDecisionImportanceSampling,
    WeightedTrajectoryWiseImportanceSampling,
)
from recoworld.estimators.ope_bandit import InverseProbabilityWeighting
from recoworld.estimators.rating_error import (
    doubly_robust_error,
    estimate_rating_error,
    ips_error,
    naive_error,
    snips_error,
)

LOG = BanditLog.from_arrays(action=[0, 0, 1, 1], reward=[1.0, 0.0, 1.0, 1.0],
                            pscore=[0.5, 0.5, 0.5, 0.5], n_actions=3)
NEVER_LOGGED = np.tile([0.0, 0.0, 1.0], (4, 1))  # all mass on action 2, which was never logged


@pytest.mark.parametrize(
    ("estimator", "name"),
    [(SelfNormalizedInverseProbabilityWeighting(), "SNIPS"), (SelfNormalizedDoublyRobust(), "SNDR")],
)
def test_self_normalised_bandit_estimators_refuse_no_overlap(estimator, name):
    q = np.zeros((4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning either
        with pytest.raises(EstimatorInputError, match=rf"{name} is undefined without overlap: the "
                           r"evaluated policy puts zero probability on every logged action"):
            estimator.estimate_policy_value(LOG, NEVER_LOGGED, q)
        with pytest.raises(EstimatorInputError, match="undefined without overlap"):
            estimator.estimate_interval(LOG, NEVER_LOGGED, q, n_bootstrap=20)
    # IPS is defined (and 0) there: it needs no normalisation
    assert InverseProbabilityWeighting().estimate_policy_value(LOG, NEVER_LOGGED) == 0.0


def test_bootstrap_leaves_out_resamples_without_overlap():
    # one logged round of 40 carries all the overlap: many resamples miss it
    n = 40
    log = BanditLog.from_arrays(action=[1] + [0] * (n - 1), reward=np.linspace(0, 1, n),
                                pscore=np.full(n, 0.5), n_actions=2)
    dist = np.tile([0.0, 1.0], (n, 1))
    est = SelfNormalizedInverseProbabilityWeighting()
    ci = est.estimate_interval(log, dist, n_bootstrap=100, seed=0)
    assert ci.mean == 0.0 and ci.lower == ci.upper == 0.0  # every defined resample says r_0 = 0
    assert np.isfinite([ci.lower, ci.upper]).all()


def _trajectories(pscore_action: int) -> TrajectoryLog:
    return TrajectoryLog.from_arrays(
        episode=[0, 0, 1, 1], step=[0, 1, 0, 1], action=[pscore_action] * 4,
        reward=[1.0, 0.5, 0.0, 1.0], pscore=[0.5] * 4, done=[False, True, False, True],
        n_actions=2,
    )


@pytest.mark.parametrize(
    ("estimator", "name"),
    [(WeightedTrajectoryWiseImportanceSampling(), "weighted IS"),
     (WeightedPerDecisionImportanceSampling(), "weighted per-decision IS")],
)
def test_weighted_sequential_estimators_refuse_no_overlap(estimator, name):
    log = _trajectories(0)
    never = np.tile([0.0, 1.0], (4, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(EstimatorInputError, match=rf"{name} is undefined without overlap"):
            estimator.estimate_policy_value(log, never)
    assert np.isfinite(estimator.estimate_policy_value(log, np.tile([1.0, 0.0], (4, 1))))


RATINGS = np.array([[5.0, 0.0], [0.0, 1.0]])
PRED = np.array([[4.0, 3.0], [3.0, 3.0]])
PROP = np.array([[0.5, 0.1], [0.1, 0.25]])


@pytest.mark.parametrize(
    "call",
    [
        lambda r, **k: naive_error(PRED, r, **k),
        lambda r, **k: ips_error(PRED, r, PROP, **k),
        lambda r, **k: snips_error(PRED, r, PROP, **k),
        lambda r, **k: doubly_robust_error(PRED, r, PROP, np.ones((2, 2)), **k),
        lambda r, **k: estimate_rating_error(PRED, r, PROP, **k),
    ],
    ids=["naive", "ips", "snips", "dr", "all"],
)
def test_rating_error_estimators_validate_the_rating_scale(call):
    call(RATINGS)  # on the default 1..5 scale
    with pytest.raises(EstimatorInputError, match=r"`ratings` must lie on the rating scale \[1, 5\] "
                       r"\(0 = missing\), got 1 observed values outside it, e.g. \[7\.0\]"):
        call(np.array([[7.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(EstimatorInputError, match=r"e\.g\. \[-2\.0\]"):
        call(np.array([[-2.0, 0.0], [0.0, 1.0]]))
    call(np.array([[7.0, 0.0], [0.0, 1.0]]), rating_scale=(1, 10))  # another scale, said so
    with pytest.raises(EstimatorInputError, match=r"`rating_scale` must satisfy 0 < lowest < highest"):
        call(RATINGS, rating_scale=(5, 1))
