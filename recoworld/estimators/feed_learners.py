"""Debiased learners on a feed's own biased logs, their selection, and offline ranking metrics.

The logs (:class:`recoworld.estimators.FeedLog`) hold, for every logged decision, the candidate
pool and the logging policy's exact probability of showing each candidate. Every (decision,
candidate) pair is a *cell*; the cell is observed (``O = 1``) when that candidate was shown, with
exposure propensity ``theta`` = the logging probability of showing that video (summed over the
pool's slots holding it). The learners estimate, without bias where they claim to, the loss over
*all* cells, i.e. over the pools the deployed recommender will face:

- ``naive``: squared error of the watch ratio on the observed cells (biased towards what the
  logging policy showed);
- ``ips``: ``(1/N) sum_O e / theta`` (Schnabel et al., ICML 2016), unbiased for the all-cell loss;
- ``snips``: each mini-batch's ``sum_O e / theta`` divided by its ``sum_O 1 / theta``
  (self-normalised; consistent, lower-variance gradients);
- ``dr``: doubly robust joint learning (Wang et al., ICML 2019): an imputation model ``g`` gives
  the imputed error ``e_hat = (f - g)^2`` on every cell, the loss is
  ``(1/N) sum_D [e_hat + O (e - e_hat) / theta]``, and ``g`` is fitted alternately to
  ``sum_O (e - e_hat)^2 / theta``;
- ``naive-implicit``: log loss of the click ``Y = O * like`` over every cell (a non-shown video
  counts as disliked: Rel-MF's naive baseline);
- ``rel-mf``: Rel-MF's unbiased loss (Saito et al., WSDM 2020) over every cell, the click
  weighted by ``1 / theta``.

``clip`` raises every propensity below it to ``clip`` in the weights (0 = none; clipping trades
bias for variance). Explicit learners predict the watch ratio and recommend by predicted watch
time (ratio x duration, seconds); implicit learners predict relevance (a like) and recommend by it.

The model. A feed serves people it has never logged, so the factorisation is inductive on the
user side: ``score(u, i) = (W x_u) . q_i + w . x_u + b_i + b`` with ``x_u`` the user's
standardised static features (``obs["user"]``'s first columns: features and profile), ``q_i``,
``b_i`` item-id factors and biases. (Classic MF has a free factor per user id; it cannot score a
held-out user.) The penalty is ``l2 * mean(|W x_u|^2 + |q_i|^2 + b_i^2)`` over each batch.

Selection uses held-out *logged* data only: each learner scores its candidates on a validation log
with its own criterion (naive MSE, IPS MSE, SNIPS MSE, the DR estimate, naive DCG@k, IPS DCG@k).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch

from recoworld._validate import require_range
from recoworld.errors import EstimatorInputError
from recoworld.estimators.feed_logs import FeedLog
from recoworld.estimators.mnar import relevance_loss

__all__ = [
    "EXPLICIT_LEARNERS",
    "FEED_LEARNERS",
    "FeedMF",
    "FeedMFConfig",
    "LoggedRankingMetrics",
    "SelectedLearner",
    "config_grid",
    "logged_ranking_metrics",
    "select_feed_learner",
    "train_feed_learner",
    "validation_score",
]

_F = npt.NDArray[np.float64]
_I = npt.NDArray[np.int64]
FeedLearner = Literal["naive", "ips", "snips", "dr", "naive-implicit", "rel-mf"]
FEED_LEARNERS: tuple[str, ...] = ("naive", "ips", "snips", "dr", "naive-implicit", "rel-mf")
"""Every learner, in table order."""
EXPLICIT_LEARNERS: tuple[str, ...] = ("naive", "ips", "snips", "dr")
"""Learners of the watch ratio (the others learn relevance from likes)."""


@dataclass(frozen=True)
class FeedMFConfig:
    """Settings of one fit."""

    dim: int = 16
    """Latent factors."""
    l2: float = 1e-3
    """Weight of the penalty."""
    epochs: int = 20
    """Passes over the observed cells (explicit) or over every cell (implicit)."""
    lr: float = 0.01
    """Adam learning rate."""
    batch_size: int = 1024
    """Observed cells per step; learners over every cell take as many steps per epoch, with
    proportionally larger batches."""
    clip: float = 0.0
    """Propensities below this are raised to it in the weights; 0 = no clipping."""
    seed: int = 0
    """Initialisation and batch order."""
    num_threads: int = 1
    """Torch threads during the fit (restored after)."""

    def __post_init__(self) -> None:
        err = EstimatorInputError
        for name in ("dim", "epochs", "batch_size", "num_threads"):
            require_range(name, getattr(self, name), 1, error=err)
        require_range("lr", self.lr, 0, low_open=True, error=err)
        require_range("l2", self.l2, 0, error=err)
        require_range("clip", self.clip, 0, 1, error=err)


def _check_kind(kind: str) -> None:
    if kind not in FEED_LEARNERS:
        raise EstimatorInputError(f"`kind` must be one of {', '.join(FEED_LEARNERS)}, got "
                                  f"{kind!r}")


@dataclass(frozen=True)
class FeedMF:
    """A fitted learner: predictions for any user features and any videos."""

    kind: str
    """The learner that fitted it."""
    feature_mean: _F
    """``(d,)`` mean of the training features (standardisation)."""
    feature_scale: _F
    """``(d,)`` their standard deviation (1 where constant)."""
    user_map: _F
    """``(d, dim)``: ``W`` (the user factor is ``x_u @ W``)."""
    user_bias_map: _F
    """``(d,)``: the user offset is ``x_u @ w``."""
    item_factors: _F
    """``(n_items, dim)``."""
    item_bias: _F
    """``(n_items,)``."""
    bias: float
    """Global offset."""
    item_duration: _F
    """``(n_items,)`` seconds, to turn a predicted ratio into predicted seconds."""
    epoch_seconds: tuple[float, ...] = ()
    """Wall time of each epoch."""
    imputation: FeedMF | None = field(default=None, repr=False)
    """DR's imputation model (``None`` for the other learners)."""

    @property
    def explicit(self) -> bool:
        """Predicts the watch ratio (else the logit of relevance)."""
        return self.kind in EXPLICIT_LEARNERS

    @property
    def n_features(self) -> int:
        """Number of user features ``d`` it reads."""
        return int(self.feature_mean.shape[0])

    def predict(self, features: npt.ArrayLike, items: npt.ArrayLike) -> _F:
        """Raw predictions (watch ratio, or relevance logit); ``items`` is ``(n,)`` or ``(n, K)``."""
        x = (np.asarray(features, dtype=np.float64) - self.feature_mean) / self.feature_scale
        it = np.asarray(items, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != self.n_features or it.shape[0] != x.shape[0]:
            raise EstimatorInputError(f"`features` must be (n, {self.n_features}) with one row "
                                      f"per row of `items`, got {x.shape} and {it.shape}")
        user = x @ self.user_map
        offset = x @ self.user_bias_map + self.bias
        if it.ndim == 1:
            out = np.einsum("nd,nd->n", user, self.item_factors[it]) + offset
        else:
            out = np.einsum("nd,nkd->nk", user, self.item_factors[it]) + offset[:, None]
        return out + self.item_bias[it]  # type: ignore[no-any-return]

    def candidate_scores(self, features: npt.ArrayLike, candidates: npt.ArrayLike) -> _F:
        """What the recommender ranks by: predicted seconds watched, or predicted relevance."""
        pred = self.predict(features, candidates)
        if self.explicit:
            return pred * self.item_duration[np.asarray(candidates, dtype=np.int64)]  # type: ignore[no-any-return]
        return pred

    def expected_reward(self, features: npt.ArrayLike, candidates: npt.ArrayLike) -> _F:
        """Predicted minutes watched (the watch-time reward) of each candidate; explicit only."""
        if not self.explicit:
            raise EstimatorInputError(f"the {self.kind!r} learner predicts relevance, not watch "
                                      "time; use an explicit learner as a reward model")
        return self.candidate_scores(features, candidates) / 60.0

    def scorer(self) -> Any:
        """``obs -> (N, K)`` candidate scores for a batched feed observation (for a policy)."""
        d = self.n_features

        def score(obs: dict[str, Any]) -> _F:
            user = np.asarray(obs["user"], dtype=np.float64)[:, :d]
            return self.candidate_scores(user, np.asarray(obs["candidate_ids"]))

        return score


# --- cells -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cells:
    """Every (decision, distinct candidate video) pair of a log."""

    row: _I
    item: _I
    theta: _F
    observed: npt.NDArray[np.bool_]
    click: npt.NDArray[np.bool_]


def _item_theta(log: FeedLog) -> tuple[npt.NDArray[np.bool_], _F]:
    """First-occurrence mask of each pool slot's video, and that video's total exposure."""
    cand = log.candidates
    same = cand[:, :, None] == cand[:, None, :]  # (n, K, K)
    k = cand.shape[1]
    earlier = np.tril(np.ones((k, k), dtype=bool), -1)  # earlier[j, j'] = j' < j
    first = ~np.any(same & earlier[None], axis=2)
    theta = np.einsum("njk,nk->nj", same.astype(np.float64), log.logging_dist)
    return first, theta


def _all_cells(log: FeedLog) -> _Cells:
    first, theta = _item_theta(log)
    rows, slots = np.nonzero(first)
    item = log.candidates[rows, slots]
    observed = item == log.item[rows]
    return _Cells(rows.astype(np.int64), item.astype(np.int64), theta[rows, slots], observed,
                  observed & log.like[rows])


def _logged_theta(log: FeedLog) -> _F:
    """Exposure propensity of each logged video (its pool slots' probabilities summed)."""
    same = log.candidates == log.item[:, None]
    return (log.logging_dist * same).sum(axis=1)  # type: ignore[no-any-return]


# --- training ----------------------------------------------------------------------------------


class _Model(torch.nn.Module):
    def __init__(self, d: int, n_items: int, dim: int, gen: torch.Generator) -> None:
        super().__init__()
        self.user_map = torch.nn.Parameter(torch.randn(d, dim, generator=gen) * (0.1 / d**0.5))
        self.user_bias_map = torch.nn.Parameter(torch.zeros(d))
        self.item = torch.nn.Parameter(torch.randn(n_items, dim, generator=gen) * 0.1)
        self.item_bias = torch.nn.Parameter(torch.zeros(n_items))
        self.bias = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        user = x @ self.user_map
        q = self.item[items]
        b = self.item_bias[items]
        pred = (user * q).sum(dim=1) + x @ self.user_bias_map + b + self.bias
        penalty = ((user * user).sum(dim=1) + (q * q).sum(dim=1) + b * b).mean()
        return pred, penalty


def _export(model: _Model, kind: str, mean: _F, scale: _F, duration: _F,
            times: tuple[float, ...], imputation: FeedMF | None = None) -> FeedMF:
    with torch.no_grad():
        return FeedMF(kind, mean, scale, model.user_map.double().numpy().copy(),
                      model.user_bias_map.double().numpy().copy(),
                      model.item.double().numpy().copy(), model.item_bias.double().numpy().copy(),
                      float(model.bias), duration, times, imputation)


def _weights(theta: _F, clip: float) -> _F:
    return 1.0 / np.maximum(theta, clip)  # type: ignore[no-any-return]


def train_feed_learner(log: FeedLog, kind: str, item_duration: npt.ArrayLike,
                       config: FeedMFConfig = FeedMFConfig()) -> FeedMF:
    """Fit one learner (see the module docstring) on ``log``.

    ``item_duration`` (seconds, one per catalogue row) turns predicted ratios into predicted
    seconds for the explicit learners' recommendations.
    """
    _check_kind(kind)
    duration = np.asarray(item_duration, dtype=np.float64)
    if duration.shape != (log.n_items,) or float(duration.min()) <= 0.0:
        raise EstimatorInputError(f"`item_duration` must hold {log.n_items} positive durations, "
                                  f"got shape {duration.shape}")
    previous = torch.get_num_threads()
    torch.set_num_threads(config.num_threads)
    try:
        return _train(log, kind, duration, config)
    finally:
        torch.set_num_threads(previous)


def _train(log: FeedLog, kind: str, duration: _F, config: FeedMFConfig) -> FeedMF:
    mean = log.features.mean(axis=0)
    scale = log.features.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    x = torch.as_tensor((log.features - mean) / scale, dtype=torch.float32)
    gen = torch.Generator().manual_seed(config.seed)
    d, n_items = x.shape[1], log.n_items
    model = _Model(d, n_items, config.dim, gen)
    params = [p for p in model.parameters()]
    opt = torch.optim.Adam(params, lr=config.lr)
    times: list[float] = []
    if kind in ("naive", "ips", "snips"):
        rows = torch.arange(log.n_rows)
        items = torch.as_tensor(log.item)
        y = torch.as_tensor(log.watch_ratio, dtype=torch.float32)
        w_np = np.ones(log.n_rows) if kind == "naive" else _weights(_logged_theta(log), config.clip)
        w = torch.as_tensor(w_np, dtype=torch.float32)
        n_cells = int(np.count_nonzero(_item_theta(log)[0]))
        with torch.no_grad():
            model.bias.fill_(float(np.average(log.watch_ratio, weights=w_np)))
        ips_scale = log.n_rows / n_cells  # (1/N) sum_O = (|O|/N) mean_O
        steps = max(1, -(-log.n_rows // config.batch_size))
        for _ in range(config.epochs):
            start = time.perf_counter()
            for idx in torch.randperm(log.n_rows, generator=gen).chunk(steps):
                pred, pen = model(x[rows[idx]], items[idx])
                err = (pred - y[idx]) ** 2
                if kind == "naive":
                    loss = err.mean()
                elif kind == "ips":
                    loss = ips_scale * (w[idx] * err).mean()
                else:
                    loss = (w[idx] * err).sum() / w[idx].sum()
                loss = loss + config.l2 * pen
                opt.zero_grad()
                loss.backward()
                opt.step()
            times.append(time.perf_counter() - start)
        return _export(model, kind, mean, scale, duration, tuple(times))
    cells = _all_cells(log)
    c_rows = torch.as_tensor(cells.row)
    c_items = torch.as_tensor(cells.item)
    theta_c = torch.as_tensor(np.maximum(cells.theta, config.clip), dtype=torch.float32)
    n_cells = cells.row.shape[0]
    if kind in ("naive-implicit", "rel-mf"):
        click = torch.as_tensor(cells.click, dtype=torch.float32)
        rate = float(np.clip(cells.click.mean() if kind == "naive-implicit"
                             else np.mean(cells.click / np.maximum(cells.theta, config.clip)),
                             1e-4, 1 - 1e-4))
        with torch.no_grad():
            model.bias.fill_(float(np.log(rate / (1.0 - rate))))
        loss_kind = "naive" if kind == "naive-implicit" else "clipped"
        for _ in range(config.epochs):
            start = time.perf_counter()
            # as many steps per epoch as the explicit learners, with proportionally larger batches
            steps = max(1, -(-log.n_rows // config.batch_size))
            for idx in torch.randperm(n_cells, generator=gen).chunk(steps):
                pred, pen = model(x[c_rows[idx]], c_items[idx])
                prop = None if kind == "naive-implicit" else theta_c[idx]
                loss = relevance_loss(pred, click[idx], prop, loss_kind,  # type: ignore[arg-type]
                                      clip=0.0).mean() + config.l2 * pen
                opt.zero_grad()
                loss.backward()
                opt.step()
            times.append(time.perf_counter() - start)
        return _export(model, kind, mean, scale, duration, tuple(times))
    return _train_dr(log, model, opt, x, cells, config, gen, mean, scale, duration)


def _train_dr(log: FeedLog, model: _Model, opt: torch.optim.Optimizer, x: torch.Tensor,
              cells: _Cells, config: FeedMFConfig, gen: torch.Generator, mean: _F, scale: _F,
              duration: _F) -> FeedMF:
    imp = _Model(x.shape[1], log.n_items, config.dim, gen)
    imp_opt = torch.optim.Adam(list(imp.parameters()), lr=config.lr)
    w_np = _weights(_logged_theta(log), config.clip)
    start_value = float(np.average(log.watch_ratio, weights=w_np))
    with torch.no_grad():
        model.bias.fill_(start_value)
        imp.bias.fill_(start_value)
    rows = torch.arange(log.n_rows)
    items = torch.as_tensor(log.item)
    y = torch.as_tensor(log.watch_ratio, dtype=torch.float32)
    w = torch.as_tensor(w_np, dtype=torch.float32)
    c_rows = torch.as_tensor(cells.row)
    c_items = torch.as_tensor(cells.item)
    n_obs, n_cells = log.n_rows, cells.row.shape[0]
    obs_scale = n_obs / n_cells
    times: list[float] = []
    for _ in range(config.epochs):
        start = time.perf_counter()
        obs_batches = torch.randperm(n_obs, generator=gen).chunk(max(1, -(-n_obs // config.batch_size)))
        cell_batches = torch.randperm(n_cells, generator=gen).chunk(len(obs_batches))
        for o_idx, c_idx in zip(obs_batches, cell_batches, strict=False):
            xo, io = x[rows[o_idx]], items[o_idx]
            # 1. imputation: e_hat = (f - g)^2 should match e = (f - y)^2 on observed cells
            with torch.no_grad():
                f_obs, _ = model(xo, io)
            g_obs, g_pen = imp(xo, io)
            e = (f_obs - y[o_idx]) ** 2
            e_hat = (f_obs - g_obs) ** 2
            imp_loss = (w[o_idx] * (e - e_hat) ** 2).mean() + config.l2 * g_pen
            imp_opt.zero_grad()
            imp_loss.backward()
            imp_opt.step()
            # 2. prediction: imputed error on all cells, corrected on observed cells
            xc, ic = x[c_rows[c_idx]], c_items[c_idx]
            with torch.no_grad():
                g_all, _ = imp(xc, ic)
                g_obs, _ = imp(xo, io)
            f_all, pen_all = model(xc, ic)
            f_obs, pen_obs = model(xo, io)
            direct = ((f_all - g_all) ** 2).mean()
            correction = (w[o_idx] * ((f_obs - y[o_idx]) ** 2 - (f_obs - g_obs) ** 2)).mean()
            loss = direct + obs_scale * correction + config.l2 * 0.5 * (pen_all + pen_obs)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    imputation = _export(imp, "naive", mean, scale, duration, ())
    return _export(model, "dr", mean, scale, duration, tuple(times), imputation)


# --- offline evaluation on logs ----------------------------------------------------------------


@dataclass(frozen=True)
class LoggedRankingMetrics:
    """Ranking quality of a scorer on a log, relevance = the logged video was liked.

    For each logged decision the scorer ranks the pool; ``rank`` is the logged video's place
    (1 = first; the first slot on ties). With ``c(r) = 1 / log2(r + 1)`` for ``r <= k`` (else 0):
    naive ``DCG@k = sum_t Y_t c(r_t) / n`` and ``Recall@k = sum_t Y_t [r_t <= k] / sum_t Y_t``;
    the inverse-propensity versions weight each term by ``1 / theta_t`` (exposure propensity of
    the logged video), estimating the same sums over *every* candidate of every pool.
    """

    k: int
    """Cut-off."""
    dcg_naive: float
    """Naive DCG@k."""
    dcg_ips: float
    """Inverse-propensity DCG@k."""
    recall_naive: float
    """Naive Recall@k."""
    recall_ips: float
    """Inverse-propensity Recall@k."""


def _ranks(scores: _F, action: _I) -> _I:
    n = scores.shape[0]
    own = scores[np.arange(n), action][:, None]
    before = np.arange(scores.shape[1])[None, :] < action[:, None]
    return 1 + np.sum((scores > own) | ((scores == own) & before), axis=1)  # type: ignore[no-any-return]


def logged_ranking_metrics(scores: npt.ArrayLike, log: FeedLog, k: int = 5) -> LoggedRankingMetrics:
    """Naive and inverse-propensity DCG@k / Recall@k of pool scores ``(n, K)`` on ``log``."""
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != log.candidates.shape:
        raise EstimatorInputError(f"`scores` must have the pool shape {log.candidates.shape}, "
                                  f"got {s.shape}")
    require_range("k", k, 1, error=EstimatorInputError)
    rank = _ranks(s, log.action)
    gain = np.where(rank <= k, 1.0 / np.log2(rank + 1.0), 0.0)
    hit = (rank <= k).astype(np.float64)
    y = log.like.astype(np.float64)
    w = y / _logged_theta(log)
    n = log.n_rows
    if y.sum() == 0:
        raise EstimatorInputError("the log holds no like; ranking metrics are undefined")
    return LoggedRankingMetrics(k, float(y @ gain / n), float(w @ gain / n),
                                float(y @ hit / y.sum()), float(w @ hit / w.sum()))


def validation_score(model: FeedMF, log: FeedLog, k: int = 5) -> float:
    """The learner's own selection criterion on a held-out log (lower is better).

    naive / ips / snips: the naive / IPS / SNIPS estimate of the watch ratio's mean squared error
    over every cell; dr: the doubly robust estimate with the model's imputation; naive-implicit
    / rel-mf: minus the naive / inverse-propensity DCG@k.
    """
    if model.explicit:
        pred = model.predict(log.features, log.item)
        err = (pred - log.watch_ratio) ** 2
        theta = _logged_theta(log)
        cells = _all_cells(log)
        n_cells = cells.row.shape[0]
        if model.kind == "naive":
            return float(err.mean())
        if model.kind == "ips":
            return float(np.sum(err / theta) / n_cells)
        if model.kind == "snips":
            return float(np.sum(err / theta) / np.sum(1.0 / theta))
        assert model.imputation is not None
        feats = log.features[cells.row]
        e_hat_all = (model.predict(feats, cells.item)
                     - model.imputation.predict(feats, cells.item)) ** 2
        e_hat_obs = (pred - model.imputation.predict(log.features, log.item)) ** 2
        return float((e_hat_all.sum() + np.sum((err - e_hat_obs) / theta)) / n_cells)
    m = logged_ranking_metrics(model.candidate_scores(log.features, log.candidates), log, k)
    return -(m.dcg_naive if model.kind == "naive-implicit" else m.dcg_ips)


@dataclass(frozen=True)
class SelectedLearner:
    """The fit a learner's selection kept, and every candidate setting's validation score."""

    model: FeedMF
    """The selected fit (trained on the training log)."""
    config: FeedMFConfig
    """Its settings."""
    scores: tuple[tuple[FeedMFConfig, float], ...]
    """Validation score of every setting tried (lower is better)."""


def select_feed_learner(kind: str, train: FeedLog, valid: FeedLog, item_duration: npt.ArrayLike,
                        grid: Sequence[FeedMFConfig], k: int = 5) -> SelectedLearner:
    """Fit ``kind`` with every setting of ``grid`` on ``train``; keep the best on ``valid``."""
    _check_kind(kind)
    if not grid:
        raise EstimatorInputError("`grid` must hold at least one FeedMFConfig")
    best: tuple[float, FeedMF, FeedMFConfig] | None = None
    scores = []
    for cfg in grid:
        model = train_feed_learner(train, kind, item_duration, cfg)
        score = validation_score(model, valid, k)
        scores.append((cfg, score))
        if best is None or score < best[0]:
            best = (score, model, cfg)
    assert best is not None
    return SelectedLearner(best[1], best[2], tuple(scores))


def config_grid(dims: Sequence[int], l2s: Sequence[float], base: FeedMFConfig) -> list[FeedMFConfig]:
    """Every (dim, l2) pair on top of ``base``."""
    return [replace(base, dim=d, l2=l2) for d in dims for l2 in l2s]
