"""UNICORN's dynamic weighted graph of a conversation and its parameter-free GCN aggregation.

At every turn the conversation is a graph (Deng et al., SIGIR 2021, section 4.1): the user, the
accepted attributes, the candidate items and the candidate attributes. The user links to each
candidate item ``v`` with weight

    w_v = sigmoid(s_v),  s_v = e_u.e_v + sum over accepted p of e_p.e_v - penalty,

where the penalty sums, over the declined attributes ``p`` the item holds, ``sigmoid(e_p.e_v)``
(the released code's form, ``"sigmoid"``) or ``e_p.e_v`` (``"dot"``), or is 0 (``"none"``, SCPR's
score),

and each candidate item links with weight 1 to each of its attributes in the graph (the accepted
and the candidate ones: every attribute some candidate holds, minus the declined ones). The
action set is pruned by preference: the ``item_actions`` candidates of highest ``w_v`` and the
``question_actions`` candidate attributes of highest weighted entropy (each candidate weighted by
``w_v``; SCPR's binary entropy).

A graph convolution layer computes ``relu((A_hat H) W)`` with ``A_hat = D^-1/2 (A + I) D^-1/2``
and ``H`` the frozen pretrained node embeddings. ``A_hat H`` holds no parameter, so
:meth:`ConversationGraph.build` computes the rows the policy reads (the user, the accepted
attributes, the action nodes) once per turn, vectorised over the candidates' sparse attribute
rows; the network applies ``W`` and the rest. Every candidate holds every accepted attribute, so
the accepted attributes' rows share one neighbour sum ``T = sum over candidates v of
e_v / sqrt(d_v)``: row_p = e_p / (1 + n) + T / sqrt(1 + n) with ``n`` candidates, and a state
stores ``T``, ``n`` and the accepted ids instead of the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recoworld.agents.crs_base import unseen_candidates
from recoworld.agents.fm import FMEmbeddings
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.crs_stats import binary_entropy
from recoworld.scoring import top_items

__all__ = ["ConversationGraph", "GraphView", "QuestionRanking", "RejectedPenalty"]

RejectedPenalty = Literal["sigmoid", "dot", "none"]
QuestionRanking = Literal["entropy", "preference"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class GraphView:
    """One turn's graph, as the policy reads it.

    Attributes:
        user: The session's user.
        candidates: Candidate item ids (sorted).
        scores: ``s_v`` of each candidate (``w_v`` is its sigmoid).
        item_actions: The pruned item actions, best ``s_v`` first.
        question_actions: The pruned questions (attributes, or parents in enumerated mode), highest
            weighted entropy first.
        question_entropy: The weighted entropy of each of ``question_actions``.
        accepted: Accepted attribute ids (sorted).
        neighbour_sum: ``T``, the aggregated neighbours every accepted attribute shares.
        user_row: The user's row of ``A_hat H``.
        action_rows: ``(len(item_actions) + len(question_actions), dim)`` rows of ``A_hat H`` of
            the action nodes, items first (a parent's row is the mean of its children's).

    """

    user: int
    candidates: IntArray
    scores: npt.NDArray[np.float64]
    item_actions: IntArray
    question_actions: IntArray
    question_entropy: npt.NDArray[np.float64]
    accepted: IntArray
    neighbour_sum: FloatArray
    user_row: FloatArray
    action_rows: FloatArray

    @property
    def n_candidates(self) -> int:
        """Number of candidate items."""
        return int(self.candidates.size)


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


class ConversationGraph:
    """Builds the :class:`GraphView` of an observation of the conversational environment.

    Args:
        world: The world (its item-attribute matrix and, in enumerated mode, its taxonomy).
        embeddings: The frozen node embeddings (user, item, attribute tables).
        item_actions: How many items the pruned action set keeps.
        question_actions: How many questions the pruned action set keeps.
        rejected_penalty: How a declined attribute lowers the score of the items holding it:
            ``"sigmoid"`` subtracts ``sigmoid(e_p.e_v)``, ``"dot"`` subtracts ``e_p.e_v``,
            ``"none"`` leaves SCPR's score.
        skip_known_questions: Leave out questions of zero weighted entropy (every candidate would
            answer alike).
        question_ranking: ``"entropy"`` keeps the questions of highest weighted entropy (the
            paper); ``"preference"`` those of highest ``e_u.e_p + sum over accepted p' of
            e_p'.e_p`` (the released code).
        exclude_seen: Leave out the user's training items (a session's target is new to the user).

    """

    def __init__(
        self,
        world: AttributeGraphWorld,
        embeddings: FMEmbeddings,
        item_actions: int = 10,
        question_actions: int = 10,
        rejected_penalty: RejectedPenalty = "sigmoid",
        skip_known_questions: bool = True,
        exclude_seen: bool = False,
        question_ranking: QuestionRanking = "entropy",
    ) -> None:
        embeddings.check_world(world)
        self.world = world
        self.embeddings = embeddings
        self.item_actions = item_actions
        self.question_actions = question_actions
        self.rejected_penalty = rejected_penalty
        self.skip_known_questions = skip_known_questions
        self.exclude_seen = exclude_seen
        self.question_ranking = question_ranking
        ia = world.item_attributes
        self._indptr = ia.indptr.astype(np.int64)
        self._indices = ia.indices.astype(np.int64)
        self._n_attr = world.n_attributes
        self._enumerated = world.question_mode == "enumerated"
        self._parent_children: sp.csr_matrix | None = None
        if self._enumerated:
            assert world.parent_children is not None
            self._parent_children = sp.csr_matrix(world.parent_children, dtype=np.float64)

    @property
    def dim(self) -> int:
        """Size of a node embedding."""
        return self.embeddings.dim

    def _entries(self, cand: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """Attribute id and owner position of every (candidate, attribute) entry; row lengths."""
        starts = self._indptr[cand]
        lengths = self._indptr[cand + 1] - starts
        total = int(lengths.sum())
        first = np.cumsum(lengths) - lengths
        flat = np.repeat(starts - first, lengths) + np.arange(total, dtype=np.int64)
        owner = np.repeat(np.arange(cand.size, dtype=np.int64), lengths)
        return self._indices[flat], owner, lengths

    def build(self, obs: dict[str, object]) -> GraphView:
        """The graph of observation ``obs`` (a base-environment observation)."""
        emb = self.embeddings
        user = int(obs["user"])  # type: ignore[call-overload]
        cand = np.flatnonzero(np.asarray(obs["candidates"])).astype(np.int64)
        if self.exclude_seen:
            cand = unseen_candidates(self.world, user, cand)
        accepted_mask = np.asarray(obs["accepted"]).astype(np.bool_)
        rejected_mask = np.asarray(obs["rejected"]).astype(np.bool_)
        asked = np.asarray(obs["asked"]).astype(np.bool_)
        accepted = np.flatnonzero(accepted_mask).astype(np.int64)
        attrs, owner, lengths = self._entries(cand)
        e_cand = emb.item[cand]
        query = emb.user[user] + emb.attribute[accepted].sum(axis=0)
        scores = (e_cand @ query).astype(np.float64)
        declined_entry = rejected_mask[attrs]
        if self.rejected_penalty != "none" and declined_entry.any():
            o, a = owner[declined_entry], attrs[declined_entry]
            dots = np.einsum("ij,ij->i", e_cand[o], emb.attribute[a]).astype(np.float64)
            if self.rejected_penalty == "sigmoid":
                dots = _sigmoid(dots)
            scores -= np.bincount(o, weights=dots, minlength=cand.size)
        w = _sigmoid(scores)
        w_total = float(w.sum())
        counts = np.bincount(attrs, minlength=self._n_attr)
        weighted = np.bincount(attrs, weights=w[owner], minlength=self._n_attr)
        entropy = np.zeros(self._n_attr)
        held = np.flatnonzero(counts)
        if w_total > 0.0:
            entropy[held] = binary_entropy(weighted[held] / w_total)
        reachable = (counts > 0) & ~accepted_mask
        if self._enumerated:
            pc = self._parent_children
            assert pc is not None
            question_h = np.asarray(pc @ entropy).ravel()
            reachable_q = np.asarray(pc @ reachable.astype(np.float64)).ravel() > 0
        else:
            question_h, reachable_q = entropy, reachable
        reachable_q = reachable_q & ~asked
        if self.skip_known_questions:
            reachable_q &= question_h > 0.0
        qs = np.flatnonzero(reachable_q).astype(np.int64)
        if self.question_ranking == "preference":
            rank_by = (emb.attribute @ query).astype(np.float64)
            if self._enumerated:
                pc = self._parent_children
                assert pc is not None
                rank_by = np.asarray(pc @ rank_by).ravel()
        else:
            rank_by = question_h
        questions = top_items(qs, rank_by[qs], self.question_actions)
        # Candidates are sorted, so ranking positions breaks ties by item id like ranking ids.
        item_pos = top_items(np.arange(cand.size, dtype=np.int64), scores, self.item_actions)
        # Degrees (self-loop included) of the weighted graph.
        in_graph = (counts > 0) & ~rejected_mask
        declined_per_item = np.bincount(owner[declined_entry], minlength=cand.size)
        d_item = 1.0 + w + (lengths - declined_per_item)
        d_user = 1.0 + w_total
        d_attr = 1.0 + counts.astype(np.float64)
        isq_item = 1.0 / np.sqrt(d_item)
        neighbour_sum = (isq_item.astype(np.float32) @ e_cand).astype(np.float32)
        user_row = emb.user[user] / d_user + ((w * isq_item).astype(np.float32) @ e_cand) / np.sqrt(
            d_user
        )
        item_rows = self._item_rows(
            cand[item_pos], w[item_pos], d_item[item_pos], user, d_user, in_graph, d_attr
        )
        if self._enumerated:
            question_rows = self._parent_rows(questions, attrs, owner, isq_item, e_cand, in_graph, d_attr)
        else:
            question_rows = self._attribute_rows(questions, attrs, owner, isq_item, e_cand, d_attr)
        rows = np.concatenate([item_rows, question_rows]).astype(np.float32)
        return GraphView(
            user=user,
            candidates=cand,
            scores=scores,
            item_actions=cand[item_pos],
            question_actions=questions,
            question_entropy=question_h[questions],
            accepted=accepted,
            neighbour_sum=neighbour_sum,
            user_row=user_row.astype(np.float32),
            action_rows=rows,
        )

    def _item_rows(
        self,
        items: IntArray,
        w: npt.NDArray[np.float64],
        d_item: npt.NDArray[np.float64],
        user: int,
        d_user: float,
        in_graph: npt.NDArray[np.bool_],
        d_attr: npt.NDArray[np.float64],
    ) -> FloatArray:
        """Rows of item nodes: self, the user (weight w_v) and the item's attributes in the graph."""
        emb = self.embeddings
        attrs, owner, _ = self._entries(items)
        keep = in_graph[attrs]
        attrs, owner = attrs[keep], owner[keep]
        mix = sp.csr_matrix(
            (1.0 / np.sqrt(d_attr[attrs]), (owner, attrs)), shape=(items.size, self._n_attr)
        )
        neighbours = np.asarray(mix @ emb.attribute, dtype=np.float64)
        neighbours += np.outer(w / np.sqrt(d_user), emb.user[user])
        rows = emb.item[items] / d_item[:, None] + neighbours / np.sqrt(d_item)[:, None]
        return rows.astype(np.float32)

    def _attribute_rows(
        self,
        chosen: IntArray,
        attrs: IntArray,
        owner: IntArray,
        isq_item: npt.NDArray[np.float64],
        e_cand: FloatArray,
        d_attr: npt.NDArray[np.float64],
    ) -> FloatArray:
        """Rows of attribute nodes: self and the candidate items holding the attribute."""
        emb = self.embeddings
        slot = np.full(self._n_attr, -1, dtype=np.int64)
        slot[chosen] = np.arange(chosen.size)
        sel = slot[attrs] >= 0
        mix = sp.csr_matrix(
            (isq_item[owner[sel]], (slot[attrs[sel]], owner[sel])),
            shape=(chosen.size, e_cand.shape[0]),
        )
        neighbours = np.asarray(mix @ e_cand, dtype=np.float64)
        d = d_attr[chosen][:, None]
        rows = emb.attribute[chosen] / d + neighbours / np.sqrt(d)
        return rows.astype(np.float32)

    def _parent_rows(
        self,
        parents: IntArray,
        attrs: IntArray,
        owner: IntArray,
        isq_item: npt.NDArray[np.float64],
        e_cand: FloatArray,
        in_graph: npt.NDArray[np.bool_],
        d_attr: npt.NDArray[np.float64],
    ) -> FloatArray:
        """A parent's row: the mean of its children's rows among the graph's attributes."""
        pc = self._parent_children
        assert pc is not None
        out = np.zeros((parents.size, self.dim), dtype=np.float32)
        for k, parent in enumerate(parents.tolist()):
            children = pc.indices[pc.indptr[parent] : pc.indptr[parent + 1]].astype(np.int64)
            children = children[in_graph[children]]
            if children.size:
                rows = self._attribute_rows(children, attrs, owner, isq_item, e_cand, d_attr)
                out[k] = rows.mean(axis=0)
        return out
