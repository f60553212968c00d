"""Learning from missing-not-at-random feedback: Rel-MF losses, propensities, MF, ranking metrics.

Setting (Saito et al., WSDM 2020). A click is ``Y[u, i] = O[u, i] * R[u, i]``: the item was
exposed (``O``, with propensity ``theta[u, i] = P(O = 1)``) and is relevant (``R``). A non-click
mixes "not relevant" with "never shown", so the naive loss, which treats every non-click as
irrelevant, learns exposure as much as relevance. The ideal pointwise loss over relevance, for a
score ``s = sigmoid(logit)``, is::

    L_ideal = (1 / (U I)) sum_{u, i} [ R log(1/s) + (1 - R) log(1/(1 - s)) ]

and the unbiased (inverse-propensity) loss replaces the unknown ``R`` by ``Y / theta``::

    L_unbiased = (1 / (U I)) sum_{u, i} [ (Y/theta) log(1/s) + (1 - Y/theta) log(1/(1 - s)) ]

with ``E_O[L_unbiased] = L_ideal`` when ``theta`` is the true exposure propensity and positive
everywhere. The clipped loss uses ``max(theta, M)``: biased, of bounded variance. Propensities
come from item popularity, ``theta_i = (n_i / max_j n_j) ** eta`` with ``n_i`` the item's click
count (``eta = 0.5`` in the paper; :func:`popularity_propensity`), or from a randomly exposed
(MCAR) sample (:func:`mcar_item_propensity`). Models are ranked on an MCAR test set with DCG@K,
Recall@K and MAP@K (:func:`ranking_metrics`).

The matrix-factorisation trainer (torch, seeded explicitly) also fits rating models for
:mod:`recoworld.estimators.rating_error` (MF-Naive and MF-IPS of Schnabel et al., ICML 2016).

References: Saito, Yaginuma, Nishino, Sakata & Nakata, "Unbiased Recommender Learning from
Missing-Not-At-Random Implicit Feedback", WSDM 2020; Schnabel, Swaminathan, Singh, Chandak &
Joachims, "Recommendations as Treatments: Debiasing Learning and Evaluation", ICML 2016.
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

    ```text
    naive:     -Y log s - (1 - Y) log(1 - s)
    unbiased:  Y replaced by Y / theta
    clipped:   Y replaced by Y / max(theta, clip)          s = sigmoid(logits)
    ```

    The unbiased loss's expectation over exposure is the ideal loss over relevance when
    ``propensity`` is the true exposure probability (positive); the clipped one is biased with
    bounded variance; the naive one is biased whenever exposure is not uniform.

    Args:
        logits: ``(batch,)`` model scores.
        clicks: ``(batch,)`` observed clicks ``Y`` in {0, 1}.
        propensity: ``(batch,)`` exposure propensities ``theta`` in (0, 1] (``None`` for naive).
        kind: ``"naive"``, ``"unbiased"`` or ``"clipped"``.
        clip: the floor ``M`` of the clipped loss.

    Returns:
        ``(batch,)`` per-pair losses.

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
    """Item exposure propensity from popularity, Rel-MF's real-data estimate; ``(n_items,)``.

    ```text
    theta_i = (n_i / max_j n_j) ** eta,     n_i = clicks of item i
    ```

    Items never clicked get the smallest positive propensity of the clicked ones (their value
    only enters the loss through clicks, of which they have none). A heuristic: the unbiased loss
    is unbiased only as far as exposure really follows popularity this way.

    Args:
        clicks: ``(n_users, n_items)`` click matrix in {0, 1}.
        eta: the exponent (0.5 in Saito et al., WSDM 2020).

    Returns:
        ``(n_items,)`` propensities in (0, 1].

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

    ```text
    theta_i = P(O=1, R=1 | i) / P(R=1 | i)
    ```

    ``P(O=1, R=1 | i)`` is the item's click rate in ``clicks`` (all users); ``P(R=1 | i)`` is its
    relevance rate in the MCAR sample, shrunk towards the global MCAR rate with ``smoothing``
    pseudo-observations. Their ratio is clipped into (0, 1]. Consistent when exposure depends on
    the item only and the MCAR sample is truly random.

    Args:
        clicks: ``(n_users, n_items)`` clicks in {0, 1}.
        mcar_relevance: ``(n_users, n_items)`` relevance in the MCAR sample.
        mcar_observed: ``(n_users, n_items)``, non-zero on the MCAR sample's cells.
        smoothing: pseudo-observations of the global relevance rate per item.

    Returns:
        ``(n_items,)`` propensities in (0, 1].

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

    Minimises the mean of :func:`relevance_loss` over all ``U * I`` pairs plus
    ``config.l2`` times the batch's squared embedding norms (Adam, seeded by ``config.seed``).

    Args:
        clicks: ``(n_users, n_items)`` clicks in {0, 1}.
        propensity: ``(n_items,)`` or ``(n_users, n_items)`` in (0, 1]; ``None`` for the naive
            loss.
        kind: ``"naive"``, ``"unbiased"`` or ``"clipped"``.
        config: the factorisation's settings.
        clip: the floor ``M`` of the clipped loss, in (0, 1].

    Returns:
        The fitted factorisation; its scores are logits of relevance.

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

    ```text
    loss(batch) = sum_{(u,i) in batch} w[u, i] (Rhat[u, i] - R[u, i])^2 / sum_{(u,i) in batch} w[u, i]
    ```

    ``weights = 1 / propensity`` gives MF-IPS of Schnabel et al. (ICML 2016), whose training loss
    estimates the full-matrix MSE (self-normalised per batch); ``None`` gives MF-Naive.

    Args:
        ratings: ``(n_users, n_items)`` observed ratings, 0 = unobserved.
        weights: ``(n_users, n_items)``, > 0 on the observed cells; ``None`` weighs all alike.
        config: the factorisation's settings.

    Returns:
        The fitted factorisation; its scores are ratings.

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

    ```text
    DCG@k    = sum_{j <= k} rel_j / log2(j + 1)
    Recall@k = (relevant in the top k) / (relevant test items of the user)
    MAP@k    = sum_{j <= k} precision@j rel_j / min(k, relevant test items)
    ```

    averaged over the users with at least one relevant test item. An item is relevant if its test
    rating is ``>= threshold``; ties keep item order. On an MCAR test set (leave ``propensity``
    as ``None``) these are unbiased estimates of the ranking quality over all items. On held-out
    *self-selected* ratings (validation), pass the exposure propensity: each relevant item then
    counts ``1 / propensity`` in DCG and in both terms of Recall, the inverse-propensity
    estimates of Saito et al. (WSDM 2020), unbiased when the propensities are right; MAP stays
    unweighted.

    Args:
        scores: ``(n_users, n_items)`` model scores.
        test_ratings: ``(n_users, n_items)`` test ratings, 0 = not in the test set.
        k: the cut-off (>= 1).
        threshold: the rating from which a test item is relevant.
        propensity: ``(n_items,)`` or ``(n_users, n_items)`` in (0, 1], or ``None``.

    Returns:
        The metrics and the number of users averaged over.

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
