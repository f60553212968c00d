"""Debiased feed learners: each recovers the reference on an unbiased log; exact offline metrics."""

from __future__ import annotations

import numpy as np
import pytest

from recoworld.agents.feed_policies import PopularitySoftmaxFeedAgent, ScoredFeedAgent
from recoworld.datasets.feed_world import synthetic_feed_world
from recoworld.errors import EstimatorInputError
from recoworld.estimators import (
    FeedLog,
    FeedMFConfig,
    collect_feed_log,
    logged_ranking_metrics,
    select_feed_learner,
    train_feed_learner,
)
from recoworld.estimators.feed_learners import validation_score

FEED = "recoworld/ShortVideo-v0"
WORLD = synthetic_feed_world(n_users=300, n_items=150, n_categories=5, seed=1)
DURATION = WORLD.catalogue.duration_s
CONFIG = FeedMFConfig(dim=8, l2=1e-2, epochs=8, batch_size=512, seed=0)


@pytest.fixture(scope="module")
def uniform_logs() -> tuple[FeedLog, FeedLog]:
    """A uniform (unbiased) training log and a held-out one, on a small world."""
    policy = PopularitySoftmaxFeedAgent(0.0)
    train = collect_feed_log(FEED, policy, 500, 0, num_envs=32, env_kwargs={"world": WORLD})
    held = collect_feed_log(FEED, policy, 200, 1, num_envs=32, env_kwargs={"world": WORLD})
    return train, held


@pytest.fixture(scope="module")
def fitted(uniform_logs):
    train, _ = uniform_logs
    return {kind: train_feed_learner(train, kind, DURATION, CONFIG)
            for kind in ("naive", "ips", "snips", "dr", "naive-implicit", "rel-mf")}


def _row_spearman(a, b):
    """Mean over rows of Spearman's rho between two score matrices (no ties in float scores)."""
    ra = np.argsort(np.argsort(a, axis=1), axis=1).astype(float)
    rb = np.argsort(np.argsort(b, axis=1), axis=1).astype(float)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    return float(np.mean((ra * rb).sum(1) / np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))))


def _mse(model, log):
    return float(np.mean((model.predict(log.features, log.item) - log.watch_ratio) ** 2))


# Stated tolerances. On a uniform log every exposure propensity is 1/K, so IPS and SNIPS weight
# every cell alike and reduce to the naive loss (same fit up to float rounding and pools holding a
# video twice); DR-JL's imputed errors add variance but no bias (it stays within 15 % of the
# reference's held-out error, predictions correlated >= 0.85); Rel-MF learns P(like | shown),
# the reference naive-implicit learner P(shown and like) = P(like | shown) / K, the same ranking.
EXPLICIT_TOLERANCE = {"ips": (0.99, 0.02), "snips": (0.99, 0.02), "dr": (0.85, 0.15)}


@pytest.mark.parametrize("kind", ["ips", "snips", "dr"])
def test_explicit_learners_recover_the_reference_on_an_unbiased_log(uniform_logs, fitted, kind):
    _, held = uniform_logs
    reference, model = fitted["naive"], fitted[kind]
    min_corr, max_excess = EXPLICIT_TOLERANCE[kind]
    corr = np.corrcoef(reference.predict(held.features, held.candidates).ravel(),
                       model.predict(held.features, held.candidates).ravel())[0, 1]
    assert corr >= min_corr
    assert _mse(model, held) <= (1.0 + max_excess) * _mse(reference, held)


def test_rel_mf_recovers_the_implicit_reference_on_an_unbiased_log(uniform_logs, fitted):
    _, held = uniform_logs
    ref = fitted["naive-implicit"].candidate_scores(held.features, held.candidates)
    rel = fitted["rel-mf"].candidate_scores(held.features, held.candidates)
    assert _row_spearman(rel, ref) >= 0.7  # the same ranking of each pool, up to training noise
    m_ref, m_rel = logged_ranking_metrics(ref, held), logged_ranking_metrics(rel, held)
    assert m_rel.dcg_ips == pytest.approx(m_ref.dcg_ips, rel=0.1)
    assert m_rel.recall_ips == pytest.approx(m_ref.recall_ips, rel=0.1)
    # ... and Rel-MF's relevance is P(like | shown): about K times the naive learner's
    like = float(held.like.mean())
    p_rel = 1.0 / (1.0 + np.exp(-fitted["rel-mf"].predict(held.features, held.item)))
    assert float(p_rel.mean()) == pytest.approx(like, rel=0.35)


def test_learned_recommender_beats_random_online(fitted):
    from recoworld.evaluation import evaluate_feed, make_feed_vector_env

    def run(agent):
        env = make_feed_vector_env(FEED, num_envs=50, world=WORLD)
        return evaluate_feed(env, agent, 100, seed=7)

    learned = run(ScoredFeedAgent(fitted["naive"].scorer()))
    random = run(PopularitySoftmaxFeedAgent(0.0, seed=7))
    assert learned.watch_time > 1.3 * random.watch_time


def _hand_log() -> FeedLog:
    """Two decisions over pools of three videos (video 4 twice in the second pool)."""
    cands = np.array([[0, 1, 2], [3, 4, 4]])
    dist = np.array([[0.5, 0.25, 0.25], [0.2, 0.4, 0.4]])
    return FeedLog(
        episode=np.array([0, 1]), step=np.array([0, 0]), position=np.array([0, 0]),
        user=np.array([0, 1]), features=np.array([[1.0], [2.0]]), candidates=cands,
        logging_dist=dist, action=np.array([1, 2]), item=np.array([1, 4]),
        reward=np.array([1.0, 2.0]), watch_ratio=np.array([0.5, 1.0]),
        watch_time=np.array([60.0, 120.0]), like=np.array([True, True]),
        skip=np.array([False, False]), done=np.array([True, True]), n_items=5)


def test_logged_ranking_metrics_exact_values():
    log = _hand_log()
    # row 0: the logged video (slot 1) ranks 3rd; row 1: slot 2 ties slot 1 and comes after it
    scores = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 5.0]])
    m = logged_ranking_metrics(scores, log, k=2)
    # rank 3 is outside the top 2: gain 0; rank 2: gain 1/log2(3); propensities 0.25 and 0.8
    g = 1.0 / np.log2(3.0)
    assert m.dcg_naive == pytest.approx(g / 2)
    assert m.dcg_ips == pytest.approx(g / 0.8 / 2)
    assert m.recall_naive == pytest.approx(0.5)
    assert m.recall_ips == pytest.approx((1 / 0.8) / (1 / 0.25 + 1 / 0.8))
    with pytest.raises(EstimatorInputError, match="pool shape"):
        logged_ranking_metrics(scores[:, :2], log)


def test_validation_scores_are_the_weighted_errors(fitted):
    log = _hand_log()
    model = fitted["naive"]
    # the fitted model reads one feature per user; give the hand log a matching width
    width = model.n_features
    log = FeedLog(**{**{f: getattr(log, f) for f in log.__dataclass_fields__},
                     "features": np.tile(log.features, (1, width))})
    err = (model.predict(log.features, log.item) - log.watch_ratio) ** 2
    theta = np.array([0.25, 0.8])  # video 4 sits in two slots of the second pool
    n_cells = 3 + 2  # distinct videos per pool
    assert validation_score(model, log) == pytest.approx(err.mean())
    ips = train_feed_learner(log, "ips", np.ones(5) * 60, FeedMFConfig(epochs=1, dim=2))
    err_ips = (ips.predict(log.features, log.item) - log.watch_ratio) ** 2
    assert validation_score(ips, log) == pytest.approx(np.sum(err_ips / theta) / n_cells)
    snips = train_feed_learner(log, "snips", np.ones(5) * 60, FeedMFConfig(epochs=1, dim=2))
    err_sn = (snips.predict(log.features, log.item) - log.watch_ratio) ** 2
    assert validation_score(snips, log) == pytest.approx(
        np.sum(err_sn / theta) / np.sum(1 / theta))


def test_selection_keeps_the_best_setting_on_the_validation_log(uniform_logs):
    train, held = uniform_logs
    grid = [FeedMFConfig(dim=4, l2=l2, epochs=2, batch_size=512) for l2 in (1e-3, 10.0)]
    sel = select_feed_learner("naive", train, held, DURATION, grid)
    scores = dict((c.l2, s) for c, s in sel.scores)
    assert sel.config.l2 == min(scores, key=scores.get)
    assert validation_score(sel.model, held) == pytest.approx(min(scores.values()))
    with pytest.raises(EstimatorInputError, match="`kind` must be one of"):
        train_feed_learner(train, "bpr", DURATION)
    with pytest.raises(EstimatorInputError, match="positive durations"):
        train_feed_learner(train, "naive", DURATION[:-1])
