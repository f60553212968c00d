"""Factorisation-machine estimation of user, item and attribute embeddings (EAR / SCPR).

The conversational agents rank candidate items by the FM score of SCPR,

    s_v = e_u . e_v + sum over accepted attributes a of e_a . e_v,

so only three embedding tables matter. :func:`train_fm` learns them on the training pairs of a world
(``review_dict_train``) with EAR's two tasks:

* attribute-aware BPR: a training pair ``(u, v)`` comes with a random non-empty subset ``P`` of
  ``v``'s attributes (what the user has "said" so far); ``v`` must outscore a random item the user
  never interacted with, and an item from the candidate set of ``P`` (holding every attribute of
  ``P``) the user never interacted with -- the scheme of SCPR's released training tuples;
* attribute prediction: given ``u`` and ``P``, an attribute of ``v`` outside ``P`` must outscore an
  attribute ``v`` lacks, scored ``e_u . e_a + sum over p in P of e_p . e_a``.

:meth:`FMEmbeddings.from_scpr_release` loads SCPR's released LastFM embeddings instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch
from torch import nn

from recoworld._validate import require_range
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.errors import DataError, DatasetNotFoundError

__all__ = [
    "FMConfig",
    "FMEmbeddings",
    "FMSamples",
    "FMScorer",
    "sample_fm_tuples",
    "train_fm",
]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FMConfig:
    """Settings of :func:`train_fm`.

    Attributes:
        dim: Embedding size (SCPR uses 64).
        epochs: Passes over the training pairs; fresh tuples are drawn every epoch.
        batch_size: Tuples per gradient step.
        lr: Adam learning rate.
        l2: L2 penalty on the embeddings used in a batch (per-example, as in EAR's FM).
        attribute_weight: Weight of the attribute-prediction loss beside the item BPR losses.
        candidate_negatives: Also contrast each positive with an item from the candidate set of the
            sampled attributes (the released tuples' fourth column). Off = random negatives only.
        max_preferred: Cap on the size of the sampled attribute subset ``P``.
        init_std: Standard deviation of the initial embeddings.
        item_attribute_features: Add to each item's embedding the mean of a content embedding of
            its attributes (side information, as a factorisation machine over item features
            would); the exported item table holds the sum, so the score formula is unchanged.

    """

    dim: int = 64
    epochs: int = 40
    batch_size: int = 1024
    lr: float = 0.005
    l2: float = 1e-5
    attribute_weight: float = 1.0
    candidate_negatives: bool = True
    max_preferred: int = 8
    init_std: float = 0.05
    item_attribute_features: bool = True

    def __post_init__(self) -> None:
        for name in ("dim", "epochs", "batch_size", "max_preferred"):
            require_range(name, getattr(self, name), 1)
        for name in ("lr", "init_std"):
            require_range(name, getattr(self, name), 0, low_open=True)
        for name in ("l2", "attribute_weight"):
            require_range(name, getattr(self, name), 0)


@dataclass(frozen=True, eq=False)
class FMEmbeddings:
    """User, item and attribute embeddings with the SCPR item score.

    Attributes:
        user: ``(n_users, dim)`` float32.
        item: ``(n_items, dim)`` float32.
        attribute: ``(n_attributes, dim)`` float32.

    """

    user: FloatArray
    item: FloatArray
    attribute: FloatArray

    def __post_init__(self) -> None:
        dims = {self.user.shape[1], self.item.shape[1], self.attribute.shape[1]}
        if len(dims) != 1:
            raise DataError(
                "`user`, `item` and `attribute` embeddings must share one size, got "
                f"{self.user.shape}, {self.item.shape}, {self.attribute.shape}"
            )
        for name in ("user", "item", "attribute"):
            arr = np.ascontiguousarray(getattr(self, name), dtype=np.float32)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def dim(self) -> int:
        """Embedding size."""
        return int(self.user.shape[1])

    def check_world(self, world: AttributeGraphWorld) -> None:
        """Raise :class:`DataError` unless the tables match ``world``'s sizes."""
        want = (world.n_users, world.n_items, world.n_attributes)
        got = (self.user.shape[0], self.item.shape[0], self.attribute.shape[0])
        if want != got:
            raise DataError(
                f"embeddings have (users, items, attributes) = {got}, world {world.name!r} has "
                f"{want}; train them on this world or load the matching file"
            )

    def preference_vector(self, user: int, accepted: npt.ArrayLike) -> FloatArray:
        """``e_u + sum over accepted a of e_a`` (the query the item score dots with)."""
        acc = np.asarray(accepted, dtype=np.int64)
        q: FloatArray = self.user[user].copy()
        if acc.size:
            q += self.attribute[acc].sum(axis=0)
        return q

    def item_scores(self, user: int, accepted: npt.ArrayLike, items: npt.ArrayLike) -> FloatArray:
        """SCPR score ``s_v = e_u.e_v + sum_a e_a.e_v`` of every id in ``items``."""
        its = np.asarray(items, dtype=np.int64)
        return (self.item[its] @ self.preference_vector(user, accepted)).astype(np.float32)

    def attribute_scores(self, user: int, accepted: npt.ArrayLike) -> FloatArray:
        """EAR attribute preference ``e_u.e_a + sum over accepted p of e_p.e_a`` for every ``a``."""
        return (self.attribute @ self.preference_vector(user, accepted)).astype(np.float32)

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the three tables to an ``.npz`` file."""
        np.savez(Path(path), user=self.user, item=self.item, attribute=self.attribute)

    @classmethod
    def load(cls, path: str | Path) -> FMEmbeddings:
        """Read tables written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise DatasetNotFoundError(f"embedding file {p} does not exist; train with train_fm")
        with np.load(p, allow_pickle=False) as z:
            missing = {"user", "item", "attribute"} - set(z.files)
            if missing:
                raise DataError(f"{p}: missing arrays {sorted(missing)}; found {sorted(z.files)}")
            return cls(user=z["user"], item=z["item"], attribute=z["attribute"])

    @classmethod
    def from_scpr_release(cls, path: str | Path, world: AttributeGraphWorld) -> FMEmbeddings:
        """Load SCPR's released ``embeds-epoch-0.pkl`` (``ui_emb`` = users + items + pad).

        The pickle is read with the restricted unpickler; the trailing padding rows are dropped.
        """
        from recoworld.datasets.safe_pickle import load_fm_embeddings

        emb = load_fm_embeddings(path)
        ui, feat = emb["ui_emb"], emb["feature_emb"]
        need_ui = world.n_users + world.n_items
        if ui.shape[0] < need_ui or feat.shape[0] < world.n_attributes:
            raise DataError(
                f"{path}: ui_emb has {ui.shape[0]} rows and feature_emb {feat.shape[0]}, world "
                f"{world.name!r} needs >= {need_ui} and >= {world.n_attributes}; this file belongs "
                "to another dataset"
            )
        return cls(
            user=ui[: world.n_users],
            item=ui[world.n_users : need_ui],
            attribute=feat[: world.n_attributes],
        )


class FMScorer:
    """:class:`~recoworld.scoring.ItemScorer` of the SCPR FM score.

    ``s_v = e_u.e_v + sum over accepted a of e_a.e_v - rejected_weight * sum over rejected a of
    e_a.e_v``; ``rejected_weight=0`` (default) is SCPR, a positive one lets declined attributes
    lower an item's score (UNICORN's variant).
    """

    def __init__(self, embeddings: FMEmbeddings, rejected_weight: float = 0.0) -> None:
        require_range("rejected_weight", rejected_weight, 0)
        self.embeddings = embeddings
        self.rejected_weight = rejected_weight

    def query(
        self, user: int, accepted: npt.NDArray[np.int8], rejected: npt.NDArray[np.int8]
    ) -> FloatArray:
        """Return the vector every candidate's embedding is dotted with."""
        e = self.embeddings
        q = e.preference_vector(user, np.flatnonzero(accepted))
        if self.rejected_weight > 0:
            rej = np.flatnonzero(rejected)
            if rej.size:
                q = q - self.rejected_weight * e.attribute[rej].sum(axis=0)
        return q

    def scores(
        self,
        user: int,
        accepted: npt.NDArray[np.int8],
        rejected: npt.NDArray[np.int8],
        candidates: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.float64]:
        """FM score of every candidate."""
        q = self.query(user, accepted, rejected)
        return (self.embeddings.item[candidates] @ q).astype(np.float64)


@dataclass(frozen=True)
class FMSamples:
    """One epoch of FM training tuples (the layout of SCPR's ``sample_fm_data_train``).

    Attributes:
        user: ``(n,)`` user ids.
        positive: ``(n,)`` interacted items.
        negative: ``(n,)`` random items the user never interacted with.
        candidate_negative: ``(n,)`` items holding every preferred attribute that the user never
            interacted with (a random negative where the candidate set has none).
        preferred: ``(n, n_attributes)`` boolean CSR: the sampled subset ``P`` of the positive's
            attributes.
        attribute_positive: ``(n,)`` an attribute of the positive outside ``P`` (-1 if none).
        attribute_negative: ``(n,)`` an attribute the positive lacks (-1 if none).

    """

    user: IntArray
    positive: IntArray
    negative: IntArray
    candidate_negative: IntArray
    preferred: sp.csr_matrix
    attribute_positive: IntArray
    attribute_negative: IntArray


def _row_random_member(
    matrix: sp.csr_matrix, rows: IntArray, rng: np.random.Generator
) -> IntArray:
    """Draw a uniform column index from each of ``rows`` of ``matrix`` (-1 for an empty row)."""
    starts = matrix.indptr[rows].astype(np.int64)
    counts = matrix.indptr[rows + 1].astype(np.int64) - starts
    offs = np.floor(rng.random(rows.size) * np.maximum(counts, 1)).astype(np.int64)
    out = np.full(rows.size, -1, dtype=np.int64)
    ok = counts > 0
    out[ok] = matrix.indices[starts[ok] + offs[ok]]
    return out


def _contains(matrix: sp.csr_matrix, rows: IntArray, cols: IntArray) -> npt.NDArray[np.bool_]:
    """Whether ``matrix[rows[i], cols[i]]`` is set, for every ``i`` (sorted-index CSR)."""
    if rows.size == 0:
        return np.zeros(0, dtype=np.bool_)
    return np.asarray(matrix[rows, cols], dtype=np.bool_).ravel()


def _random_negatives(
    user_items: sp.csr_matrix, users: IntArray, n_items: int, rng: np.random.Generator
) -> IntArray:
    """Uniform items the users never interacted with (rejection sampling, vectorised)."""
    out = rng.integers(n_items, size=users.size)
    bad = _contains(user_items, users, out)
    for _ in range(50):
        if not bad.any():
            break
        idx = np.flatnonzero(bad)
        out[idx] = rng.integers(n_items, size=idx.size)
        bad[idx] = _contains(user_items, users[idx], out[idx])
    return out


def sample_fm_tuples(
    world: AttributeGraphWorld, rng: np.random.Generator, max_preferred: int = 8
) -> FMSamples:
    """Draw one epoch of training tuples from ``world``'s ``train`` split.

    Every step is vectorised over the pairs; the candidate negative is found by rejection sampling
    from the posting list of one preferred attribute (a random negative after 30 misses).
    """
    pairs = world.split("train")
    if len(pairs) == 0:
        raise DataError(f"world {world.name!r} has an empty 'train' split; FM needs training pairs")
    users, pos = pairs[:, 0].copy(), pairs[:, 1].copy()
    ia = world.item_attributes
    n = users.size
    ui = world.user_items_train
    # Preferred subset: size uniform in [1, min(|attrs|, max_preferred)], members by random keys.
    indptr = ia.indptr.astype(np.int64)
    counts = indptr[pos + 1] - indptr[pos]
    if (counts == 0).any():
        keep = counts > 0
        users, pos, counts = users[keep], pos[keep], counts[keep]
        n = users.size
    sizes = 1 + np.floor(rng.random(n) * np.minimum(counts, max_preferred)).astype(np.int64)
    row_of = np.repeat(np.arange(n), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    within = np.arange(row_of.size) - np.repeat(starts, counts)
    flat = ia.indices[np.repeat(indptr[pos], counts) + within].astype(np.int64)
    keys = rng.random(flat.size)
    order = np.lexsort((keys, row_of))
    flat, row_of = flat[order], row_of[order]
    rank = np.arange(flat.size) - np.repeat(starts, counts)
    chosen = rank < np.repeat(sizes, counts)
    preferred = sp.csr_matrix(
        (np.ones(int(chosen.sum()), dtype=np.bool_), (row_of[chosen], flat[chosen])),
        shape=(n, world.n_attributes),
    )
    preferred.sort_indices()
    rest = ~chosen
    # Attribute task: a held attribute outside P, and a random attribute the item lacks.
    rest_rows = row_of[rest]
    attr_pos = np.full(n, -1, dtype=np.int64)
    if rest_rows.size:
        pick_key = rng.random(rest_rows.size)
        o = np.lexsort((pick_key, rest_rows))
        first = np.ones(o.size, dtype=np.bool_)
        first[1:] = rest_rows[o][1:] != rest_rows[o][:-1]
        attr_pos[rest_rows[o][first]] = flat[rest][o][first]
    attr_neg = rng.integers(world.n_attributes, size=n)
    bad = _contains(ia, pos, attr_neg)
    for _ in range(30):
        if not bad.any():
            break
        idx = np.flatnonzero(bad)
        attr_neg[idx] = rng.integers(world.n_attributes, size=idx.size)
        bad[idx] = _contains(ia, pos[idx], attr_neg[idx])
    attr_neg[bad] = -1
    negative = _random_negatives(ui, users, world.n_items, rng)
    # Candidate negative: propose from the posting list of one preferred attribute, accept when the
    # item holds all of P and the user never interacted with it.
    csc = ia.tocsc()
    csc.sort_indices()
    anchor = _row_random_member(preferred, np.arange(n, dtype=np.int64), rng)
    cand = np.full(n, -1, dtype=np.int64)
    todo = np.arange(n, dtype=np.int64)
    item_csr = sp.csr_matrix(ia, dtype=np.float32)
    pref_f = sp.csr_matrix(preferred, dtype=np.float32)
    for _ in range(30):
        if todo.size == 0:
            break
        prop = _row_random_member(csc, anchor[todo], rng)
        hold = np.asarray(pref_f[todo].multiply(item_csr[prop]).sum(axis=1)).ravel()
        ok = (hold == sizes[todo]) & ~_contains(ui, users[todo], prop) & (prop != pos[todo])
        cand[todo[ok]] = prop[ok]
        todo = todo[~ok]
    cand[todo] = negative[todo]
    return FMSamples(
        user=users,
        positive=pos,
        negative=negative,
        candidate_negative=cand,
        preferred=preferred,
        attribute_positive=attr_pos,
        attribute_negative=attr_neg,
    )


class _FMModule(nn.Module):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_attr: int,
        dim: int,
        std: float,
        item_attributes: sp.csr_matrix | None,
    ) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        self.attribute = nn.Embedding(n_attr, dim)
        for emb in (self.user, self.item, self.attribute):
            nn.init.normal_(emb.weight, std=std)
        # Optional side information: an item's vector adds the mean of its attributes' content
        # embeddings (a table separate from the preference embeddings of the score).
        self.item_attributes = item_attributes
        self.content: nn.Embedding | None = None
        if item_attributes is not None:
            self.content = nn.Embedding(n_attr, dim)
            nn.init.normal_(self.content.weight, std=std)

    def items(self, ids: IntArray) -> torch.Tensor:
        out: torch.Tensor = self.item(torch.from_numpy(ids))
        if self.content is not None and self.item_attributes is not None:
            rows = self.item_attributes[ids]
            bag = nn.functional.embedding_bag(
                torch.from_numpy(rows.indices.astype(np.int64)),
                self.content.weight,
                torch.from_numpy(rows.indptr[:-1].astype(np.int64)),
                mode="mean",
            )
            out = out + bag
        return out

    def query(self, users: torch.Tensor, offsets: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
        bag = nn.functional.embedding_bag(flat, self.attribute.weight, offsets, mode="sum")
        out: torch.Tensor = self.user(users) + bag
        return out


def _batch_loss(
    model: _FMModule, s: FMSamples, idx: IntArray, config: FMConfig
) -> torch.Tensor:
    pref = s.preferred[idx]
    flat = torch.from_numpy(pref.indices.astype(np.int64))
    offsets = torch.from_numpy(pref.indptr[:-1].astype(np.int64))
    u = torch.from_numpy(s.user[idx])
    q = model.query(u, offsets, flat)
    e_pos = model.items(s.positive[idx])
    e_neg = model.items(s.negative[idx])
    s_pos = (q * e_pos).sum(1)
    loss = -nn.functional.logsigmoid(s_pos - (q * e_neg).sum(1)).mean()
    reg = e_pos.pow(2).sum(1) + e_neg.pow(2).sum(1) + q.pow(2).sum(1)
    if config.candidate_negatives:
        e_cn = model.items(s.candidate_negative[idx])
        loss = loss - nn.functional.logsigmoid(s_pos - (q * e_cn).sum(1)).mean()
        reg = reg + e_cn.pow(2).sum(1)
    if config.attribute_weight > 0:
        ap, an = s.attribute_positive[idx], s.attribute_negative[idx]
        ok = (ap >= 0) & (an >= 0)
        if ok.any():
            okt = torch.from_numpy(ok)
            e_ap = model.attribute(torch.from_numpy(ap[ok]))
            e_an = model.attribute(torch.from_numpy(an[ok]))
            qa = q[okt]
            diff = (qa * e_ap).sum(1) - (qa * e_an).sum(1)
            loss = loss - config.attribute_weight * nn.functional.logsigmoid(diff).mean()
    total: torch.Tensor = loss + config.l2 * reg.mean()
    return total


def train_fm(
    world: AttributeGraphWorld,
    config: FMConfig | None = None,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> FMEmbeddings:
    """Train FM embeddings on ``world``'s ``train`` split.

    Args:
        world: The world; only its ``train`` pairs, ``user_items_train`` and attributes are read.
        config: Settings (default :class:`FMConfig`).
        seed: Seeds the tuple sampler's generator and torch's generator for the initial weights.
        progress: Called after every epoch with ``(epoch, mean loss)``.

    Returns:
        The learned embeddings.

    """
    cfg = config or FMConfig()
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=gen)))
        model = _FMModule(
            world.n_users,
            world.n_items,
            world.n_attributes,
            cfg.dim,
            cfg.init_std,
            world.item_attributes if cfg.item_attribute_features else None,
        )
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for epoch in range(cfg.epochs):
        samples = sample_fm_tuples(world, rng, cfg.max_preferred)
        order = rng.permutation(samples.user.size)
        total, batches = 0.0, 0
        for start in range(0, order.size, cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            loss = _batch_loss(model, samples, idx, cfg)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach())
            batches += 1
        if progress is not None:
            progress(epoch, total / max(batches, 1))
    with torch.no_grad():
        return FMEmbeddings(
            user=model.user.weight.numpy().copy(),
            item=model.items(np.arange(world.n_items, dtype=np.int64)).numpy().copy(),
            attribute=model.attribute.weight.numpy().copy(),
        )

