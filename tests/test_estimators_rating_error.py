"""Rating-error estimators: exact values, unbiasedness of IPS, propensity models."""

from __future__ import annotations

import numpy as np
import pytest

from recoworld.errors import EstimatorInputError
from recoworld.estimators.rating_error import (
    doubly_robust_error,
    estimate_rating_error,
    ips_error,
    logistic_propensity,
    naive_bayes_propensity,
    naive_error,
    snips_error,
)


def _world(seed: int):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, size=(40, 30)).astype(float)
    prop = np.clip(0.05 + 0.12 * (truth - 1), 0.05, 1.0)  # high ratings are observed more
    return truth, prop


def test_exact_values_small_matrix():
    ratings = np.array([[5.0, 0.0], [0.0, 1.0]])
    pred = np.array([[4.0, 3.0], [3.0, 3.0]])
    prop = np.array([[0.5, 0.1], [0.1, 0.25]])
    assert naive_error(pred, ratings) == pytest.approx((1 + 4) / 2)
    assert naive_error(pred, ratings, "mae") == pytest.approx((1 + 2) / 2)
    assert ips_error(pred, ratings, prop) == pytest.approx((1 / 0.5 + 4 / 0.25) / 4)
    assert snips_error(pred, ratings, prop) == pytest.approx((2 + 16) / (2 + 4))
    imputed = np.full((2, 2), 2.0)
    assert doubly_robust_error(pred, ratings, prop, imputed) == pytest.approx(
        (8 + (1 - 2) / 0.5 + (4 - 2) / 0.25) / 4)


def test_ips_and_dr_unbiased_naive_biased():
    truth, prop = _world(0)
    pred = np.full_like(truth, 2.0)
    true_mse = float(np.mean((pred - truth) ** 2))
    naive, ips, dr = [], [], []
    for seed in range(300):
        obs = np.random.default_rng(seed + 1).random(truth.shape) < prop
        ratings = np.where(obs, truth, 0.0)
        naive.append(naive_error(pred, ratings))
        ips.append(ips_error(pred, ratings, prop))
        dr.append(doubly_robust_error(pred, ratings, prop, np.full_like(truth, 1.5)))
    for est in (ips, dr):
        est = np.asarray(est)
        assert abs(est.mean() - true_mse) < 4 * est.std(ddof=1) / np.sqrt(est.size)
    assert abs(np.mean(naive) - true_mse) > 0.3


def test_naive_bayes_propensity_recovers_rating_dependent_observation():
    truth, prop = _world(1)
    truth = np.tile(truth, (10, 10))
    prop = np.tile(prop, (10, 10))
    rng = np.random.default_rng(5)
    ratings = np.where(rng.random(truth.shape) < prop, truth, 0.0)
    mcar = np.where(rng.random(truth.shape) < 0.05, truth, 0.0)
    est = naive_bayes_propensity(ratings, mcar)
    obs = ratings != 0
    assert est[obs] == pytest.approx(prop[obs], rel=0.15)
    assert np.all(est[~obs] == 0.0)
    with pytest.raises(EstimatorInputError, match=r"`mcar_ratings` must hold ratings 1\.\.5"):
        naive_bayes_propensity(ratings, np.full(truth.shape, 7.0))


def test_logistic_propensity_recovers_feature_driven_observation():
    rng = np.random.default_rng(3)
    ux = np.eye(3)[rng.integers(0, 3, 300)]
    iz = np.eye(2)[rng.integers(0, 2, 200)]
    table = np.array([[0.05, 0.3], [0.2, 0.1], [0.5, 0.02]])
    prop = ux @ table @ iz.T
    observed = rng.random(prop.shape) < prop
    est = logistic_propensity(ux, iz, observed, l2=1e-3)
    assert est == pytest.approx(prop, rel=0.15)


def test_invalid_inputs():
    ratings = np.array([[5.0, 0.0], [0.0, 1.0]])
    pred = np.ones((2, 2))
    with pytest.raises(EstimatorInputError, match=r"`propensities` must be in \(0, 1\] on observed "
                                                  r"cells, got min=0"):
        ips_error(pred, ratings, np.array([[0.0, 0.5], [0.5, 0.5]]))
    with pytest.raises(EstimatorInputError, match=r"`predictions` must have the shape of "
                                                  r"`ratings` \(2, 2\), got \(3, 2\)"):
        snips_error(np.ones((3, 2)), ratings, np.full((2, 2), 0.5))
    with pytest.raises(EstimatorInputError, match="`metric` must be 'mse' or 'mae', got 'rmse'"):
        naive_error(pred, ratings, "rmse")  # type: ignore[arg-type]
    with pytest.raises(EstimatorInputError, match="holds no observed"):
        estimate_rating_error(pred, np.zeros((2, 2)), np.full((2, 2), 0.5))
