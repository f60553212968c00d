"""Rel-MF losses, propensities, MF trainers and ranking metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recoworld.errors import EstimatorInputError
from recoworld.estimators.mnar import (
    MFConfig,
    mcar_item_propensity,
    popularity_propensity,
    ranking_metrics,
    relevance_loss,
    train_implicit_mf,
    train_rating_mf,
)


def test_unbiased_loss_matches_ideal_loss_in_expectation():
    # Exposure O ~ Bernoulli(theta), click Y = O * R: E_O[unbiased loss] = ideal loss over R.
    rng = np.random.default_rng(0)
    n = 200_000
    relevance = torch.as_tensor(rng.random(n) < 0.3, dtype=torch.float64)
    theta = torch.as_tensor(rng.uniform(0.05, 1.0, n))
    exposed = torch.as_tensor(rng.random(n), dtype=torch.float64) < theta
    clicks = relevance * exposed
    logits = 3.0 * (relevance - 0.5) + torch.as_tensor(rng.normal(size=n))
    ideal = relevance_loss(logits, relevance, None, "naive").mean().item()
    unbiased = relevance_loss(logits, clicks, theta, "unbiased").mean().item()
    naive = relevance_loss(logits, clicks, None, "naive").mean().item()
    assert unbiased == pytest.approx(ideal, abs=0.02)
    assert abs(naive - ideal) > 0.1  # the naive loss is far off: the test can tell them apart


def test_clipped_loss_equals_unbiased_above_threshold_and_bounds_weight():
    logits = torch.tensor([0.0, 0.0])
    clicks = torch.tensor([1.0, 1.0])
    theta = torch.tensor([0.5, 0.01])
    unb = relevance_loss(logits, clicks, theta, "unbiased")
    clip = relevance_loss(logits, clicks, theta, "clipped", clip=0.1)
    assert clip[0].item() == pytest.approx(unb[0].item())
    # weight 1/0.1 = 10: loss = -(10 log .5 + (1 - 10) log .5) = log 2
    assert clip[1].item() == pytest.approx(np.log(2.0))
    with pytest.raises(EstimatorInputError, match="the 'unbiased' loss needs `propensity`"):
        relevance_loss(logits, clicks, None, "unbiased")


def test_popularity_propensity_formula():
    clicks = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [1, 0, 0]], dtype=float)
    theta = popularity_propensity(clicks, eta=0.5)
    assert theta[:2] == pytest.approx([1.0, np.sqrt(0.5)])
    assert theta[2] == pytest.approx(np.sqrt(0.5))  # never clicked: smallest clicked value
    with pytest.raises(EstimatorInputError, match="`eta` must be >= 0, got -1"):
        popularity_propensity(clicks, eta=-1)


def test_mcar_item_propensity_recovers_exposure_rate():
    rng = np.random.default_rng(1)
    n_users, n_items = 2000, 4
    true_theta = np.array([0.9, 0.5, 0.2, 0.05])
    relevance = rng.random((n_users, n_items)) < 0.4
    exposed = rng.random((n_users, n_items)) < true_theta
    clicks = (relevance & exposed).astype(float)
    mcar_obs = rng.random((n_users, n_items)) < 0.5
    est = mcar_item_propensity(clicks, relevance.astype(float), mcar_obs.astype(float))
    assert est == pytest.approx(true_theta, rel=0.2)


def test_ranking_metrics_exact_values():
    # One user, 4 test items; relevant = rating >= 4 on items 1 and 3.
    test = np.array([[2, 5, 1, 4, 0]], dtype=float)
    scores = np.array([[0.9, 0.8, 0.1, 0.2, 10.0]])  # item 4 is not in the test set: ignored
    m = ranking_metrics(scores, test, k=2)
    # ranking 0, 1, 3, 2 -> top-2 relevance (0, 1)
    assert m.dcg == pytest.approx(1 / np.log2(3))
    assert m.recall == pytest.approx(0.5)
    assert m.map == pytest.approx(0.5 / 2)
    assert m.n_users == 1
    perfect = ranking_metrics(np.array([[0.0, 1.0, 0.0, 0.9, 0.0]]), test, k=2)
    assert perfect.recall == 1.0 and perfect.map == 1.0
    with pytest.raises(EstimatorInputError, match=r"`test_ratings` must have shape \(1, 5\)"):
        ranking_metrics(scores, np.zeros((2, 5)), k=2)


def test_implicit_mf_learns_and_is_deterministic():
    rng = np.random.default_rng(2)
    u, v = rng.normal(size=(30, 3)), rng.normal(size=(40, 3))
    clicks = (u @ v.T > 0.5).astype(float)
    cfg = MFConfig(dim=3, epochs=60, lr=0.1, l2=0.0, batch_size=2048, seed=3)
    fit = train_implicit_mf(clicks, None, "naive", cfg)
    again = train_implicit_mf(clicks, None, "naive", cfg)
    assert np.array_equal(fit.scores(), again.scores())
    acc = np.mean((fit.scores() > 0) == (clicks > 0))
    assert acc > 0.9
    with pytest.raises(EstimatorInputError, match=r"`propensity` must be in \(0, 1\], got min=0"):
        train_implicit_mf(clicks, np.zeros(40), "unbiased", cfg)


def test_rating_mf_weights_shift_the_fit():
    ratings = np.array([[5.0, 1.0], [5.0, 1.0]])
    cfg = MFConfig(dim=1, epochs=300, lr=0.05, l2=0.0, batch_size=4, seed=0)
    plain = train_rating_mf(ratings, None, cfg).scores()
    assert plain == pytest.approx(ratings, abs=0.05)
    with pytest.raises(EstimatorInputError, match=r"`weights` must be > 0 on observed cells"):
        train_rating_mf(ratings, np.zeros((2, 2)), cfg)
    with pytest.raises(EstimatorInputError, match="`dim` must be >= 1, got 0"):
        MFConfig(dim=0)


def test_mf_without_biases_keeps_them_at_zero():
    clicks = (np.random.default_rng(0).random((10, 12)) < 0.3).astype(float)
    cfg = MFConfig(dim=2, epochs=5, lr=0.05, batch_size=64, seed=0, biases=False)
    fit = train_implicit_mf(clicks, None, "naive", cfg)
    assert not fit.user_bias.any() and not fit.item_bias.any() and fit.bias == 0.0
    assert np.allclose(fit.scores(), fit.user_factors @ fit.item_factors.T)


def test_ranking_metrics_with_propensity_weights():
    test = np.array([[2, 5, 1, 4]], dtype=float)
    scores = np.array([[0.9, 0.8, 0.1, 0.2]])  # top-2: items 0 (irrelevant), 1 (relevant)
    theta = np.array([1.0, 0.5, 1.0, 0.25])
    m = ranking_metrics(scores, test, k=2, propensity=theta)
    assert m.dcg == pytest.approx(2.0 / np.log2(3))
    assert m.recall == pytest.approx(2.0 / (2.0 + 4.0))
    assert ranking_metrics(scores, test, k=2, propensity=np.ones(4)) == ranking_metrics(
        scores, test, k=2)
    with pytest.raises(EstimatorInputError, match=r"`propensity` must be in \(0, 1\]"):
        ranking_metrics(scores, test, k=2, propensity=np.zeros(4))
