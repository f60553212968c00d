"""``TargetItemUser``: the statistical user of the EAR / SCPR / UNICORN protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from recoworld._validate import require_range
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.errors import ConfigError, InvalidActionError
from recoworld.users.conversational import target_attributes

__all__ = ["TargetItemBatchUser", "TargetItemUser", "TargetItemUserConfig"]


@dataclass(frozen=True)
class TargetItemUserConfig:
    """Parameters of :class:`TargetItemUser`; the defaults reproduce the published protocol.

    Attributes:
        answer_flip_prob: Probability that a binary answer is flipped, or that each child's
            membership in an enumerated answer is flipped (answer noise). 0 = exact answers.
        leave_prob: Per-turn probability that the user leaves after a rejected question or
            recommendation (impatience). 0 = the user always stays until the horizon.

    """

    answer_flip_prob: float = 0.0
    leave_prob: float = 0.0

    def __post_init__(self) -> None:
        for name in ("answer_flip_prob", "leave_prob"):
            require_range(name, getattr(self, name), 0, 1)


class TargetItemUser:
    """A user who wants one target item and answers from its attributes.

    Turn 1, the user names one attribute of the target drawn uniformly. A binary question is
    answered yes iff the target holds the attribute; an enumerated question (a parent) is answered
    with every child of that parent the target holds (possibly none). A recommendation is accepted
    iff the target is in the list. Noise and impatience are off by default.
    """

    def __init__(
        self, world: AttributeGraphWorld, config: TargetItemUserConfig | None = None
    ) -> None:
        self.world = world
        self.config = config or TargetItemUserConfig()
        self._target = -1
        self._target_attrs: npt.NDArray[np.int32] = np.empty(0, dtype=np.int32)
        self._rejected_last = False

    @property
    def target(self) -> int:
        """The target item of the current session (-1 before :meth:`start`)."""
        return self._target

    def start(self, user: int, target: int, rng: np.random.Generator) -> int:
        """Begin a session; return the opening attribute, drawn uniformly from the target's."""
        attrs = target_attributes(self.world, user, target)
        self._target = int(target)
        self._target_attrs = attrs
        self._rejected_last = False
        return int(attrs[rng.integers(attrs.size)])

    def _holds(self, attribute: int) -> bool:
        i = np.searchsorted(self._target_attrs, attribute)
        return bool(i < self._target_attrs.size and self._target_attrs[i] == attribute)

    def answer_binary(self, attribute: int, rng: np.random.Generator) -> bool:
        """Yes iff the target holds ``attribute`` (flipped with ``answer_flip_prob``)."""
        yes = self._holds(attribute)
        p = self.config.answer_flip_prob
        if p > 0.0 and rng.random() < p:
            yes = not yes
        self._rejected_last = not yes
        return yes

    def answer_enumerated(self, parent: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """The children of ``parent`` that the target holds (each flipped with the noise rate)."""
        children = self.world.children_of(parent)
        held = np.isin(children, self._target_attrs, assume_unique=True)
        p = self.config.answer_flip_prob
        if p > 0.0:
            held ^= rng.random(children.size) < p
        picked = children[held].astype(np.int64)
        self._rejected_last = picked.size == 0
        return picked

    def judge(self, items: npt.NDArray[np.int64], rng: np.random.Generator) -> bool:
        """Accept iff the target is among ``items``."""
        accepted = bool(np.any(items == self._target))
        self._rejected_last = not accepted
        return accepted

    def wants_to_leave(self, rng: np.random.Generator) -> bool:
        """With impatience on, leave with ``leave_prob`` after a rejection."""
        p = self.config.leave_prob
        return p > 0.0 and self._rejected_last and bool(rng.random() < p)

    def step_info(self) -> dict[str, Any]:
        """The statistical user adds nothing to ``info``."""
        return {}

    def batched(self, num_envs: int) -> TargetItemBatchUser:
        """The same user for ``num_envs`` conversations at once (:class:`TargetItemBatchUser`).

        Only this exact class has a native batched form: a subclass changes some behaviour the
        batched arrays would not know about, so it is played per slot instead
        (:class:`~recoworld.users.conversational_batch.PerSlotUsers`).
        """
        if type(self) is not TargetItemUser:
            raise ConfigError(
                f"{type(self).__name__} subclasses TargetItemUser and has no batched form of its "
                "own; pass one instance per sub-environment (a list) instead"
            )
        return TargetItemBatchUser(self.world, self.config)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _holds(
    targets: npt.NDArray[np.int64],
    attributes: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int32],
    indices: npt.NDArray[np.int32],
) -> npt.NDArray[np.bool_]:
    """Whether item ``targets[j]`` holds ``attributes[j]`` (binary search in its sorted row)."""
    out = np.zeros(targets.size, dtype=np.bool_)
    for j in range(targets.size):
        lo = indptr[targets[j]]
        hi = indptr[targets[j] + 1]
        a = attributes[j]
        while lo < hi:
            mid = (lo + hi) >> 1
            if indices[mid] < a:
                lo = mid + 1
            else:
                hi = mid
        out[j] = lo < indptr[targets[j] + 1] and indices[lo] == a
    return out


class TargetItemBatchUser:
    """:class:`TargetItemUser` for many conversations at once, in arrays.

    Slot ``s`` draws from ``rngs[s]`` exactly what a single :class:`TargetItemUser` draws from its
    environment's generator (the opening, then one uniform per noisy answer or impatient turn), so
    a vector environment reproduces single environments exactly.
    """

    def __init__(
        self, world: AttributeGraphWorld, config: TargetItemUserConfig | None = None
    ) -> None:
        self.world = world
        self.config = config or TargetItemUserConfig()
        self.draws_only_at_start = self.config.answer_flip_prob == 0.0 and self.config.leave_prob == 0.0
        self._indptr, self._indices = world._item_attr_sets
        self._degree = np.diff(self._indptr)
        self.bind(1)

    def bind(self, num_envs: int) -> None:
        """Size the per-slot state."""
        self._target = np.full(num_envs, -1, dtype=np.int64)
        self._rejected_last = np.zeros(num_envs, dtype=np.bool_)

    def start(
        self,
        slots: npt.NDArray[np.intp],
        users: npt.NDArray[np.int64],
        targets: npt.NDArray[np.int64],
        rngs: Sequence[np.random.Generator],
    ) -> npt.NDArray[np.int64]:
        """Openings: one attribute of each target, drawn uniformly from the slot's generator."""
        w = self.world
        bad = (users < 0) | (users >= w.n_users) | (targets < 0) | (targets >= w.n_items)
        bad[~bad] = self._degree[targets[~bad]] == 0
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            try:
                target_attributes(w, int(users[j]), int(targets[j]))
            except InvalidActionError as exc:
                raise InvalidActionError(f"sub-environment {int(slots[j])}: {exc}") from exc
        out = np.empty(len(slots), dtype=np.int64)
        indptr, indices = self._indptr, self._indices
        for j, s in enumerate(slots.tolist()):
            t = int(targets[j])
            lo = int(indptr[t])
            out[j] = indices[lo + int(rngs[s].integers(int(indptr[t + 1]) - lo))]
        self._target[slots] = targets
        self._rejected_last[slots] = False
        return out

    def _flip(
        self, slots: npt.NDArray[np.intp], yes: npt.NDArray[np.bool_], rngs: Sequence[np.random.Generator]
    ) -> None:
        p = self.config.answer_flip_prob
        if p > 0.0:
            for j, s in enumerate(slots.tolist()):
                if rngs[s].random() < p:
                    yes[j] = not yes[j]

    def answer_binary(
        self,
        slots: npt.NDArray[np.intp],
        attributes: npt.NDArray[np.int64],
        rngs: Sequence[np.random.Generator],
    ) -> npt.NDArray[np.bool_]:
        """Yes iff the target holds the attribute (flipped with ``answer_flip_prob``)."""
        yes: npt.NDArray[np.bool_] = _holds(
            self._target[slots], attributes.astype(np.int64), self._indptr, self._indices
        )
        self._flip(slots, yes, rngs)
        self._rejected_last[slots] = ~yes
        return yes

    def answer_enumerated(
        self,
        slots: npt.NDArray[np.intp],
        parents: npt.NDArray[np.int64],
        rngs: Sequence[np.random.Generator],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each parent's children that the target holds (each flipped with the noise rate)."""
        p = self.config.answer_flip_prob
        picks = []
        for j, s in enumerate(slots.tolist()):
            children = self.world.children_of(int(parents[j]))
            held = np.isin(children, self.world.attributes_of(int(self._target[s])), assume_unique=True)
            if p > 0.0:
                held ^= rngs[s].random(children.size) < p
            picks.append(children[held].astype(np.int64))
        indptr = np.zeros(len(picks) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([x.size for x in picks])
        self._rejected_last[slots] = indptr[1:] == indptr[:-1]
        flat = np.concatenate(picks) if picks else np.empty(0, np.int64)
        return indptr, flat

    def judge(
        self,
        slots: npt.NDArray[np.intp],
        items: npt.NDArray[np.int64],
        lengths: npt.NDArray[np.int64],
        rngs: Sequence[np.random.Generator],
    ) -> npt.NDArray[np.bool_]:
        """Accept iff the target is among the listed items."""
        listed = np.arange(items.shape[1]) < lengths[:, None]
        accepted: npt.NDArray[np.bool_] = ((items == self._target[slots, None]) & listed).any(axis=1)
        self._rejected_last[slots] = ~accepted
        return accepted

    def wants_to_leave(
        self, slots: npt.NDArray[np.intp], rngs: Sequence[np.random.Generator]
    ) -> npt.NDArray[np.bool_]:
        """With impatience on, leave with ``leave_prob`` after a rejection."""
        out = np.zeros(len(slots), dtype=np.bool_)
        p = self.config.leave_prob
        if p > 0.0:
            for j, s in enumerate(slots.tolist()):
                if self._rejected_last[s]:
                    out[j] = rngs[s].random() < p
        return out

    def step_info(self, slots: npt.NDArray[np.intp]) -> list[dict[str, Any]] | None:
        """The statistical user adds nothing to ``info``."""
        return None
