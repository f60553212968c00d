"""Vectorised candidate statistics for conversational recommendation.

Counting which attributes the candidate items hold is the hot path of every entropy-based policy.
Here it is one gather over the CSR rows of the candidates plus one ``bincount``: cost grows with
the candidates' attribute entries, with no Python loop over items.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recoworld.datasets.world import AttributeGraphWorld

__all__ = [
    "attribute_counts",
    "attribute_entropy",
    "binary_entropy",
    "question_entropy",
    "reachable_entropy",
    "reachable_questions",
]


def _candidate_attribute_entries(
    world: AttributeGraphWorld, candidates: npt.NDArray[np.int64], with_owner: bool = False
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64] | None]:
    """Attribute id of every (candidate, attribute) entry, and optionally the candidate's position."""
    indptr, indices = world._item_attr_sets
    starts = indptr[candidates]
    lengths = indptr[candidates + 1] - starts
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if ends.size else 0
    # Entry j of candidate i sits at starts[i] + j: one repeat of the per-candidate shift.
    shift = np.repeat(starts - (ends - lengths), lengths)
    shift += _arange(total)
    owner = np.repeat(np.arange(candidates.size), lengths) if with_owner else None
    return indices[shift], owner


_ARANGE = np.arange(0, dtype=np.int64)


def _arange(n: int) -> npt.NDArray[np.int64]:
    global _ARANGE
    if _ARANGE.size < n:
        _ARANGE = np.arange(max(n, 2 * _ARANGE.size), dtype=np.int64)
        _ARANGE.flags.writeable = False
    return _ARANGE[:n]


def attribute_counts(
    world: AttributeGraphWorld,
    candidates: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """How many candidates hold each attribute (or the sum of their ``weights``).

    Args:
        world: The world whose item-attribute matrix is read.
        candidates: Item ids.
        weights: Optional weight per candidate (same length as ``candidates``).

    Returns:
        ``(n_attributes,)`` float array.

    """
    attrs, owner = _candidate_attribute_entries(world, candidates, weights is not None)
    w = None if weights is None or owner is None else weights[owner]
    return np.bincount(attrs, weights=w, minlength=world.n_attributes).astype(np.float64)


def binary_entropy(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Entropy in bits of a yes/no answer that is yes with probability ``p`` (0 at 0 and 1)."""
    q = np.clip(p, 1e-12, 1.0 - 1e-12)
    h = -(q * np.log2(q) + (1.0 - q) * np.log2(1.0 - q))
    h[(p <= 0.0) | (p >= 1.0)] = 0.0
    return h


def attribute_entropy(
    world: AttributeGraphWorld,
    candidates: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """Entropy of asking each attribute over the candidates (weighted entropy with ``weights``)."""
    counts = attribute_counts(world, candidates, weights)
    total = float(candidates.size if weights is None else weights.sum())
    return _entropy_from_counts(counts, total)


def _entropy_from_counts(counts: npt.NDArray[np.float64], total: float) -> npt.NDArray[np.float64]:
    h = np.zeros(counts.size)
    if total > 0.0:
        nz = np.flatnonzero(counts)
        h[nz] = binary_entropy(counts[nz] / total)
    return h


def question_entropy(
    world: AttributeGraphWorld,
    candidates: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """Entropy of each askable question: per attribute, or per parent (the sum of its children's)."""
    h = attribute_entropy(world, candidates, weights)
    if world.question_mode == "enumerated":
        assert world.parent_children is not None
        return np.asarray(world.parent_children.astype(np.float64) @ h).ravel()
    return h


def reachable_questions(
    world: AttributeGraphWorld,
    candidates: npt.NDArray[np.int64],
    asked: npt.NDArray[np.int8] | npt.NDArray[np.bool_],
    accepted: npt.NDArray[np.int8] | npt.NDArray[np.bool_] | None = None,
    friend_attributes: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.bool_]:
    """Questions one hop from the accepted attributes through the candidate items, not yet asked.

    SCPR's adjacent-attribute rule: an attribute is reachable when some candidate holds it;
    attributes already accepted or asked are excluded. ``friend_attributes`` (a boolean mask of
    attributes liked by the user's friends) adds the friend hop used on LastFM. In enumerated mode
    a parent is reachable when one of its children is.
    """
    held = attribute_counts(world, candidates) > 0
    if friend_attributes is not None:
        held |= friend_attributes
    if accepted is not None:
        held &= ~np.asarray(accepted, dtype=np.bool_)
    if world.question_mode == "enumerated":
        assert world.parent_children is not None
        held = (
            np.asarray(world.parent_children.astype(np.int32) @ held.astype(np.int32)).ravel() > 0
        )
    return held & ~np.asarray(asked, dtype=np.bool_)


def reachable_entropy(
    world: AttributeGraphWorld,
    candidates: npt.NDArray[np.int64],
    asked: npt.NDArray[np.int8] | npt.NDArray[np.bool_],
    accepted: npt.NDArray[np.int8] | npt.NDArray[np.bool_],
    weights: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """Entropy of every question, ``-inf`` where the question is not reachable.

    One pass over the candidates serves both the reachability rule of
    :func:`reachable_questions` (without friend hop) and the (weighted) entropy.
    """
    counts = attribute_counts(world, candidates, weights)
    total = float(candidates.size if weights is None else weights.sum())
    h = _entropy_from_counts(counts, total)
    held = counts > 0
    held &= ~np.asarray(accepted, dtype=np.bool_)
    if world.question_mode == "enumerated":
        assert world.parent_children is not None
        pc = world.parent_children.astype(np.float64)
        h = np.asarray(pc @ h).ravel()
        held = np.asarray(pc @ held.astype(np.float64)).ravel() > 0
    held &= ~np.asarray(asked, dtype=np.bool_)
    h[~held] = -np.inf
    return h
