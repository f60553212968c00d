"""Learning from missing-not-at-random feedback: Rel-MF losses, propensities, MF, ranking metrics.

Implicit feedback (Saito et al., WSDM 2020, "Unbiased Recommender Learning from
Missing-Not-At-Random Implicit Feedback"): a click is ``Y = O * R`` (exposed and relevant). With
exposure propensity ``theta``, the ideal pointwise log-loss over relevance ``R`` is estimated without
bias by weighting the positive loss ``-log sigmoid(s)`` by ``Y / theta`` and the negative loss
``-log(1 - sigmoid(s))`` by ``1 - Y / theta``; the clipped variant uses ``max(theta, M)``. The naive
loss treats every non-click as irrelevant. Propensities come from item popularity,
``theta_i = (n_i / max_j n_j) ** eta`` with ``n_i`` the item's click count (``eta = 0.5`` in the
paper), or from a randomly exposed (MCAR) sample. Models are ranked on an MCAR test set with DCG@K,
Recall@K and MAP@K.

The matrix-factorisation trainer (torch, seeded explicitly) also fits rating models for
:mod:`recoworld.estimators.rating_error` (MF-Naive and MF-IPS of Schnabel et al., ICML 2016).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch

from recoworld._validate import require_range
from recoworld.errors import EstimatorInputError

__all__ = [
    "FittedMF",
    "MFConfig",
    "MatrixFactorization",
    "RankingMetrics",
    "RelevanceLoss",
    "mcar_item_propensity",
    "popularity_propensity",
    "ranking_metrics",
    "relevance_loss",
    "train_implicit_mf",
    "train_rating_mf",
]

_Array = npt.NDArray[np.float64]
RelevanceLoss = Literal["naive", "unbiased", "clipped"]
"""The pointwise losses of Rel-MF: naive, unbiased (inverse propensity), clipped at ``M``."""


@dataclass(frozen=True)
class MFConfig:
    """Settings of a matrix-factorisation fit."""

    dim: int = 20
    """Number of latent factors."""
    epochs: int = 100
    """Passes over the training cells."""
    lr: float = 0.01
    """Adam learning rate."""
    l2: float = 1e-4
    """Weight of the squared norm of the embeddings in each batch's loss."""
    batch_size: int = 4096
    """Training cells per gradient step."""
    seed: int = 0
    """Seed of the initialisation and of the batch order."""
    biases: bool = True
    """Learn user, item and global bias terms; ``False`` keeps the pure inner product
    ``p_u . q_i`` of Rel-MF's reference implementation."""
    num_threads: int = 1
    """Torch intra-op threads during the fit (restored after). Small factorisations run fastest
    on one thread; more threads on a busy machine spin and slow down by orders of magnitude."""

    def __post_init__(self) -> None:
        for name in ("dim", "epochs", "batch_size", "num_threads"):
            require_range(name, getattr(self, name), 1, error=EstimatorInputError)
        require_range("lr", self.lr, 0, low_open=True, error=EstimatorInputError)
        require_range("l2", self.l2, 0, error=EstimatorInputError)


class MatrixFactorization(torch.nn.Module):
    """``score(u, i) = p_u . q_i + b_u + b_i + b``, initialised from a seeded generator."""

    def __init__(self, n_users: int, n_items: int, dim: int, generator: torch.Generator,
                 biases: bool = True) -> None:
        super().__init__()
        self.user = torch.nn.Parameter(torch.randn(n_users, dim, generator=generator) * 0.1)
        self.item = torch.nn.Parameter(torch.randn(n_items, dim, generator=generator) * 0.1)
        self.user_bias = torch.nn.Parameter(torch.zeros(n_users))
        self.item_bias = torch.nn.Parameter(torch.zeros(n_items))
        self.bias = torch.nn.Parameter(torch.zeros(()))
        for param in (self.user_bias, self.item_bias, self.bias):
            param.requires_grad_(biases)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of the (user, item) pairs."""
        return ((self.user[users] * self.item[items]).sum(dim=1) + self.user_bias[users]
                + self.item_bias[items] + self.bias)

    def penalty(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Mean squared norm of the batch's user and item embeddings and biases."""
        return ((self.user[users] ** 2).sum(dim=1) + (self.item[items] ** 2).sum(dim=1)
                + self.user_bias[users] ** 2 + self.item_bias[items] ** 2).mean()


@dataclass(frozen=True)
class FittedMF:
    """A trained factorisation as numpy arrays."""

    user_factors: _Array
    """``(n_users, dim)``."""
    item_factors: _Array
    """``(n_items, dim)``."""
    user_bias: _Array
    """``(n_users,)``."""
    item_bias: _Array
    """``(n_items,)``."""
    bias: float
    """Global offset."""
    epoch_seconds: tuple[float, ...]
    """Wall time of each training epoch."""

    def scores(self) -> _Array:
        """The full ``(n_users, n_items)`` score matrix (logits, or ratings for rating models)."""
        return (self.user_factors @ self.item_factors.T + self.user_bias[:, None]  # type: ignore[no-any-return]
                + self.item_bias[None, :] + self.bias)


def relevance_loss(logits: torch.Tensor, clicks: torch.Tensor, propensity: torch.Tensor | None,
                   kind: RelevanceLoss, clip: float = 0.1) -> torch.Tensor:
    """Per-pair Rel-MF loss (not averaged).

    ``naive``: ``-Y log s - (1 - Y) log(1 - s)``; ``unbiased``: ``Y`` replaced by ``Y / theta``;
    ``clipped``: ``Y / max(theta, clip)``. ``s = sigmoid(logits)``.
    """
    log_pos = torch.nn.functional.logsigmoid(logits)
    log_neg = torch.nn.functional.logsigmoid(-logits)
    if kind == "naive":
        weight = clicks
    elif kind in ("unbiased", "clipped"):
        if propensity is None:
            raise EstimatorInputError(f"the {kind!r} loss needs `propensity`, got None")
        theta = propensity if kind == "unbiased" else torch.clamp(propensity, min=clip)
        weight = clicks / theta
    else:
        raise EstimatorInputError(f"`kind` must be 'naive', 'unbiased' or 'clipped', got {kind!r}")
    return -(weight * log_pos + (1.0 - weight) * log_neg)


def _check_matrix(name: str, mat: npt.ArrayLike, shape: tuple[int, ...] | None = None) -> _Array:
    arr = np.asarray(mat, dtype=np.float64)
    if arr.ndim != 2:
        raise EstimatorInputError(f"`{name}` must be a (n_users, n_items) matrix, got shape "
                                  f"{arr.shape}")
    if shape is not None and arr.shape != shape:
        raise EstimatorInputError(f"`{name}` must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise EstimatorInputError(f"`{name}` must be finite, got NaN or inf entries")
    return arr


def _check_propensity(name: str, prop: _Array) -> None:
    lo, hi = float(prop.min()), float(prop.max())
    if lo <= 0.0 or hi > 1.0:
        raise EstimatorInputError(f"`{name}` must be in (0, 1], got min={lo:g}, max={hi:g}")


def popularity_propensity(clicks: npt.ArrayLike, eta: float = 0.5) -> _Array:
    """Item exposure propensity ``(n_i / max_j n_j) ** eta`` from a click matrix; ``(n_items,)``.

    Items never clicked get the smallest positive propensity of the clicked ones (their value
    only enters the loss through clicks, of which they have none).
    """
    y = _check_matrix("clicks", clicks)
    require_range("eta", eta, 0, error=EstimatorInputError)
    n = y.sum(axis=0)
    if n.max() <= 0:
        raise EstimatorInputError("`clicks` holds no click; popularity is undefined")
    theta = (n / n.max()) ** eta
    return np.where(n > 0, theta, theta[n > 0].min())  # type: ignore[no-any-return]


def mcar_item_propensity(clicks: npt.ArrayLike, mcar_relevance: npt.ArrayLike,
                         mcar_observed: npt.ArrayLike, smoothing: float = 5.0) -> _Array:
    """Item exposure propensity ``P(O=1 | R=1, i)`` from a randomly exposed sample; ``(n_items,)``.

    ``P(O=1, R=1 | i)`` is the item's click rate in ``clicks`` (all users); ``P(R=1 | i)`` is its
    relevance rate in the MCAR sample, shrunk towards the global MCAR rate with ``smoothing``
    pseudo-observations. Their ratio is clipped into (0, 1].
    """
    y = _check_matrix("clicks", clicks)
    rel = _check_matrix("mcar_relevance", mcar_relevance, y.shape)
    obs = _check_matrix("mcar_observed", mcar_observed, y.shape) > 0
    if obs.sum() == 0:
        raise EstimatorInputError("`mcar_observed` marks no cell; an MCAR sample is needed")
    global_rate = float(rel[obs].mean())
    if global_rate <= 0.0:
        raise EstimatorInputError("the MCAR sample holds no relevant cell; cannot estimate "
                                  "P(R=1)")
    rel_rate = ((rel * obs).sum(axis=0) + smoothing * global_rate) / (obs.sum(axis=0) + smoothing)
    click_rate = y.mean(axis=0)
    theta = click_rate / rel_rate
    floor = max(float(theta[theta > 0].min()) if np.any(theta > 0) else 1.0, 1e-6)
    return np.clip(np.where(theta > 0, theta, floor), 1e-6, 1.0)  # type: ignore[no-any-return]


def _fit(model: MatrixFactorization, users: torch.Tensor, items: torch.Tensor,
         loss_fn: object, config: MFConfig, generator: torch.Generator) -> tuple[float, ...]:
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.num_threads)
    try:
        return _fit_epochs(model, users, items, loss_fn, config, generator)
    finally:
        torch.set_num_threads(previous_threads)


def _fit_epochs(model: MatrixFactorization, users: torch.Tensor, items: torch.Tensor,
                loss_fn: object, config: MFConfig, generator: torch.Generator
                ) -> tuple[float, ...]:
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    n = users.shape[0]
    times = []
    for _ in range(config.epochs):
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        for b in range(0, n, config.batch_size):
            idx = order[b:b + config.batch_size]
            u, i = users[idx], items[idx]
            loss = loss_fn(idx, model(u, i))  # type: ignore[operator]
            if config.l2 > 0.0:
                loss = loss + config.l2 * model.penalty(u, i)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return tuple(times)


def _export(model: MatrixFactorization, times: tuple[float, ...]) -> FittedMF:
    with torch.no_grad():
        return FittedMF(model.user.double().numpy().copy(), model.item.double().numpy().copy(),
                        model.user_bias.double().numpy().copy(),
                        model.item_bias.double().numpy().copy(), float(model.bias), times)


def train_implicit_mf(clicks: npt.ArrayLike, propensity: npt.ArrayLike | None,
                      kind: RelevanceLoss, config: MFConfig = MFConfig(),
                      clip: float = 0.1) -> FittedMF:
    """Fit MF with a Rel-MF pointwise loss over every (user, item) pair of ``clicks``.

    ``propensity`` is ``(n_items,)`` or ``(n_users, n_items)`` in (0, 1] (``None`` for the naive
    loss). The scores of the result are logits of relevance.
    """
    y = _check_matrix("clicks", clicks)
    if not np.all((y == 0) | (y == 1)):
        raise EstimatorInputError("`clicks` must hold only 0 and 1")
    n_users, n_items = y.shape
    theta_t: torch.Tensor | None = None
    if propensity is not None:
        theta = np.asarray(propensity, dtype=np.float64)
        if theta.shape == (n_items,):
            theta = np.broadcast_to(theta, y.shape)
        if theta.shape != y.shape:
            raise EstimatorInputError(f"`propensity` must have shape ({n_items},) or {y.shape}, "
                                      f"got {theta.shape}")
        _check_propensity("propensity", theta)
        theta_t = torch.as_tensor(np.ascontiguousarray(theta).reshape(-1), dtype=torch.float32)
    elif kind != "naive":
        raise EstimatorInputError(f"the {kind!r} loss needs `propensity`, got None")
    if kind == "clipped":
        require_range("clip", clip, 0, 1, low_open=True, error=EstimatorInputError)
    gen = torch.Generator().manual_seed(config.seed)
    model = MatrixFactorization(n_users, n_items, config.dim, gen, biases=config.biases)
    users = torch.arange(n_users).repeat_interleave(n_items)
    items = torch.arange(n_items).repeat(n_users)
    y_t = torch.as_tensor(y.reshape(-1), dtype=torch.float32)

    def loss_fn(idx: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        prop = None if theta_t is None else theta_t[idx]
        return relevance_loss(logits, y_t[idx], prop, kind, clip).mean()

    return _export(model, _fit(model, users, items, loss_fn, config, gen))


def train_rating_mf(ratings: npt.ArrayLike, weights: npt.ArrayLike | None = None,
                    config: MFConfig = MFConfig()) -> FittedMF:
    """Fit MF to the observed ratings (non-zero cells) by weighted squared error.

    ``weights`` (same shape; e.g. ``1 / propensity`` for MF-IPS) multiply each observed cell's
    squared error; each batch's loss is normalised by its weight sum (self-normalised IPS).
    """
    r = _check_matrix("ratings", ratings)
    users_np, items_np = np.nonzero(r)
    if users_np.size == 0:
        raise EstimatorInputError("`ratings` holds no observed (non-zero) cell")
    if weights is None:
        w_np = np.ones(users_np.size)
    else:
        w_all = _check_matrix("weights", weights, r.shape)
        w_np = w_all[users_np, items_np]
        if float(w_np.min()) <= 0.0:
            raise EstimatorInputError(f"`weights` must be > 0 on observed cells, got "
                                      f"min={float(w_np.min()):g}")
    gen = torch.Generator().manual_seed(config.seed)
    model = MatrixFactorization(r.shape[0], r.shape[1], config.dim, gen, biases=config.biases)
    with torch.no_grad():  # start at the (weighted) mean rating; stays there without biases
        model.bias.fill_(float(np.average(r[users_np, items_np], weights=w_np)))
    target = torch.as_tensor(r[users_np, items_np], dtype=torch.float32)
    w_t = torch.as_tensor(w_np, dtype=torch.float32)

    def loss_fn(idx: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        w = w_t[idx]
        return (w * (pred - target[idx]) ** 2).sum() / w.sum()

    return _export(model, _fit(model, torch.as_tensor(users_np), torch.as_tensor(items_np),
                               loss_fn, config, gen))


@dataclass(frozen=True)
class RankingMetrics:
    """Ranking quality on a randomly exposed test set, averaged over users with a relevant item."""

    k: int
    """Cut-off."""
    dcg: float
    """``DCG@k = sum_{j<=k} rel_j / log2(j + 1)``."""
    recall: float
    """``Recall@k = (relevant in the top k) / (relevant test items of the user)``."""
    map: float
    """``MAP@k = sum_{j<=k} precision@j * rel_j / min(k, relevant test items)``."""
    n_users: int
    """Users averaged over (those with at least one relevant test item)."""


def ranking_metrics(scores: npt.ArrayLike, test_ratings: npt.ArrayLike, k: int,
                    threshold: float = 4.0,
                    propensity: npt.ArrayLike | None = None) -> RankingMetrics:
    """Rank each user's test items (non-zero cells of ``test_ratings``) by ``scores``.

    An item is relevant if its test rating is ``>= threshold``. Ties keep item order. On an MCAR
    test set leave ``propensity`` as ``None``. On held-out *self-selected* ratings (validation),
    pass the exposure propensity (``(n_items,)`` or ``(n_users, n_items)``, in (0, 1]): each
    relevant item then counts ``1 / propensity`` in DCG and in both terms of Recall (the
    inverse-propensity estimates of Saito et al.); MAP stays unweighted.
    """
    s = _check_matrix("scores", scores)
    t = _check_matrix("test_ratings", test_ratings, s.shape)
    require_range("k", k, 1, error=EstimatorInputError)
    observed = t > 0
    rel_all = (t >= threshold) & observed
    n_rel = rel_all.sum(axis=1)
    users = np.flatnonzero(n_rel > 0)
    if users.size == 0:
        raise EstimatorInputError(f"no user has a test rating >= {threshold}; metrics undefined")
    masked = np.where(observed[users], s[users], -np.inf)
    top = np.argsort(-masked, axis=1, kind="stable")[:, :k]
    rel = np.take_along_axis(rel_all[users], top, axis=1).astype(np.float64)
    gain = rel_all[users].astype(np.float64)
    if propensity is not None:
        theta = np.asarray(propensity, dtype=np.float64)
        theta = np.broadcast_to(theta, s.shape) if theta.shape == (s.shape[1],) else theta
        if theta.shape != s.shape:
            raise EstimatorInputError(f"`propensity` must have shape ({s.shape[1]},) or "
                                      f"{s.shape}, got {np.asarray(propensity).shape}")
        _check_propensity("propensity", theta)
        gain = gain / theta[users]
    top_gain = np.take_along_axis(gain, top, axis=1)
    ranks = np.arange(1, rel.shape[1] + 1, dtype=np.float64)
    dcg = (top_gain / np.log2(ranks + 1.0)).sum(axis=1)
    recall = top_gain.sum(axis=1) / gain.sum(axis=1)
    precision = np.cumsum(rel, axis=1) / ranks
    ap = (precision * rel).sum(axis=1) / np.minimum(k, n_rel[users])
    return RankingMetrics(k, float(dcg.mean()), float(recall.mean()), float(ap.mean()),
                          int(users.size))
