"""TransE graph embeddings (Bordes et al., NeurIPS 2013), UNICORN's pretrained node embeddings.

UNICORN pretrains its node embeddings with OpenKE's TransE on the knowledge graph of the dataset:
users, items and attributes linked by four relations, ``interact`` (user-item), ``friends``
(user-user), ``like`` (user-attribute) and ``belong_to`` (item-attribute). A triple ``(h, r, t)``
scores ``||h/|h| + r/|r| - t/|t|||_1`` (OpenKE's ``p_norm=1, norm_flag=True``); training lowers true
triples' scores below corrupted ones' by a margin, the corruption replacing the head or the tail by
an entity of the same type.

The graph here holds only the ``train`` interactions (``user_items_train``); the released UNICORN
graph reads ``user_item.json``, which includes the valid and test pairs. The tables are returned as
:class:`~recoworld.agents.fm.FMEmbeddings` (user, item, attribute) so that every agent reads them
like the FM embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch
from torch import nn

from recoworld._validate import require_range
from recoworld.agents.fm import FMEmbeddings
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.errors import DataError

__all__ = ["TransEConfig", "graph_triples", "train_transe"]

RELATIONS = ("interact", "friends", "like", "belong_to")


@dataclass(frozen=True)
class TransEConfig:
    """Settings of :func:`train_transe`.

    Attributes:
        dim: Embedding size (UNICORN's node embeddings are 64-dimensional).
        epochs: Passes over the triples.
        batch_size: Triples per gradient step.
        lr: Adam learning rate.
        margin: Margin between a true triple's distance and its corruption's.

    """

    dim: int = 64
    epochs: int = 100
    batch_size: int = 4096
    lr: float = 0.005
    margin: float = 5.0

    def __post_init__(self) -> None:
        for name in ("dim", "epochs", "batch_size"):
            require_range(name, getattr(self, name), 1)
        for name in ("lr", "margin"):
            require_range(name, getattr(self, name), 0, low_open=True)


def graph_triples(world: AttributeGraphWorld) -> npt.NDArray[np.int64]:
    """``(n, 3)`` triples ``(head, relation, tail)`` over entity ids users, items, attributes.

    Users are ``[0, n_users)``, items follow, attributes last; relations index :data:`RELATIONS`.
    Friendships are listed once per pair.
    """
    n_u, n_i = world.n_users, world.n_items

    def edges(m: sp.csr_matrix, rel: int, head_off: int, tail_off: int) -> npt.NDArray[np.int64]:
        coo = sp.coo_matrix(m)
        return np.stack(
            [coo.row.astype(np.int64) + head_off, np.full(coo.nnz, rel), coo.col.astype(np.int64)
             + tail_off],
            axis=1,
        )

    friends = sp.triu(world.friends, k=1).tocsr()
    parts = [
        edges(world.user_items_train, 0, 0, n_u),
        edges(friends, 1, 0, 0),
        edges(world.user_attributes, 2, 0, n_u + n_i),
        edges(world.item_attributes, 3, n_u, n_u + n_i),
    ]
    triples = np.concatenate(parts)
    if triples.shape[0] == 0:
        raise DataError(f"world {world.name!r} has no edge to train TransE on")
    return triples


class _TransE(nn.Module):
    def __init__(self, n_entities: int, n_relations: int, dim: int) -> None:
        super().__init__()
        self.entity = nn.Embedding(n_entities, dim)
        self.relation = nn.Embedding(n_relations, dim)
        nn.init.xavier_uniform_(self.entity.weight)
        nn.init.xavier_uniform_(self.relation.weight)

    def distance(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        def unit(x: torch.Tensor) -> torch.Tensor:
            return nn.functional.normalize(x, dim=-1)

        e_h, e_r, e_t = unit(self.entity(h)), unit(self.relation(r)), unit(self.entity(t))
        out: torch.Tensor = (e_h + e_r - e_t).abs().sum(-1)
        return out


def train_transe(
    world: AttributeGraphWorld, config: TransEConfig | None = None, seed: int = 0
) -> FMEmbeddings:
    """Train TransE on ``world``'s training graph; return its user, item and attribute tables."""
    cfg = config or TransEConfig()
    rng = np.random.default_rng(seed)
    triples = graph_triples(world)
    n_u, n_i, n_a = world.n_users, world.n_items, world.n_attributes
    # Entity-type ranges, for corruptions of the same type: [start, size) per entity id.
    type_start = np.concatenate([np.zeros(n_u), np.full(n_i, n_u), np.full(n_a, n_u + n_i)])
    type_size = np.concatenate([np.full(n_u, n_u), np.full(n_i, n_i), np.full(n_a, n_a)])
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=gen)))
        model = _TransE(n_u + n_i + n_a, len(RELATIONS), cfg.dim)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for _ in range(cfg.epochs):
        order = rng.permutation(triples.shape[0])
        for start in range(0, order.size, cfg.batch_size):
            batch = triples[order[start : start + cfg.batch_size]]
            h, r, t = batch[:, 0].copy(), batch[:, 1], batch[:, 2].copy()
            corrupt_head = rng.random(h.size) < 0.5
            side = np.where(corrupt_head, h, t)
            fresh = (type_start[side] + np.floor(rng.random(h.size) * type_size[side])).astype(
                np.int64
            )
            h2 = np.where(corrupt_head, fresh, h)
            t2 = np.where(corrupt_head, t, fresh)
            pos = model.distance(torch.from_numpy(h), torch.from_numpy(r), torch.from_numpy(t))
            neg = model.distance(torch.from_numpy(h2), torch.from_numpy(r), torch.from_numpy(t2))
            loss = torch.relu(pos - neg + cfg.margin).mean()
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    table = model.entity.weight.detach().numpy()
    return FMEmbeddings(
        user=table[:n_u].copy(), item=table[n_u : n_u + n_i].copy(), attribute=table[n_u + n_i :].copy()
    )
