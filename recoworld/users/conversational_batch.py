"""Batched conversational users: one object answers for every sub-environment of a vector env.

:class:`ConversationalBatchUser` is what
:class:`~recoworld.envs.conversational_vector.ConversationalVectorEnv` talks to. Each method takes
the sub-environment indices (``slots``) it concerns and the environment's per-slot generators
(``rngs[slot]``); slot ``s`` draws only from ``rngs[s]`` and in the order a single
:class:`~recoworld.users.conversational.ConversationalUser` would, so a vector env reproduces
``num_envs`` single envs exactly. :func:`as_batch_user` turns a single user into a batch one:
natively where the user provides ``batched(num_envs)`` (the statistical and the LLM users),
or through :class:`PerSlotUsers` (one single user per slot, called in a loop) for any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from recoworld.errors import ConfigError
from recoworld.users.conversational import ConversationalUser

__all__ = ["ConversationalBatchUser", "PerSlotUsers", "as_batch_user"]

Slots = npt.NDArray[np.intp]
Generators = Sequence[np.random.Generator]


@runtime_checkable
class ConversationalBatchUser(Protocol):
    """The users of ``num_envs`` conversations, answering in arrays.

    The environment calls :meth:`bind` once, :meth:`start` when slots begin a session, then per
    step one answering method for the slots that asked (:meth:`answer_binary` or
    :meth:`answer_enumerated`) and :meth:`judge` for those that recommended, then
    :meth:`wants_to_leave` for the slots whose session may still go on. :meth:`step_info` reports
    per-slot ``info`` entries about the latest calls (``None`` when the user reports nothing).

    ``draws_only_at_start`` tells the evaluator whether every random draw of a session happens in
    :meth:`start`; only then can sessions run side by side on one shared random stream and still
    reproduce one env playing them in turn.
    """

    draws_only_at_start: bool

    def bind(self, num_envs: int) -> None:
        """Size the per-slot state for ``num_envs`` sub-environments."""
        ...

    def start(
        self,
        slots: Slots,
        users: npt.NDArray[np.int64],
        targets: npt.NDArray[np.int64],
        rngs: Generators,
    ) -> npt.NDArray[np.int64]:
        """Begin a session in each of ``slots``; return each one's opening attribute."""
        ...

    def answer_binary(
        self, slots: Slots, attributes: npt.NDArray[np.int64], rngs: Generators
    ) -> npt.NDArray[np.bool_]:
        """Answer "do you want ``attributes[j]``?" in slot ``slots[j]``."""
        ...

    def answer_enumerated(
        self, slots: Slots, parents: npt.NDArray[np.int64], rngs: Generators
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Children picked for ``parents[j]`` in slot ``slots[j]``, as ``(indptr, children)``.

        Slot ``slots[j]`` picked ``children[indptr[j]:indptr[j + 1]]``, in the order given.
        """
        ...

    def judge(
        self,
        slots: Slots,
        items: npt.NDArray[np.int64],
        lengths: npt.NDArray[np.int64],
        rngs: Generators,
    ) -> npt.NDArray[np.bool_]:
        """Whether slot ``slots[j]`` accepts the list ``items[j, :lengths[j]]`` (distinct ids)."""
        ...

    def wants_to_leave(self, slots: Slots, rngs: Generators) -> npt.NDArray[np.bool_]:
        """Whether each of ``slots`` leaves now (after the latest action's answer)."""
        ...

    def step_info(self, slots: Slots) -> list[dict[str, Any]] | None:
        """``info['user_info']`` of each of ``slots`` after the latest call, or ``None``."""
        ...


class PerSlotUsers:
    """Any :class:`ConversationalUser`, one instance per slot, called in a loop.

    The general adapter: slot ``s`` is played by ``users[s]`` exactly as a single environment
    would play it (the same calls, the same generator), at Python speed. Pass distinct instances:
    a user keeps the state of its session.
    """

    def __init__(self, users: Sequence[ConversationalUser]) -> None:
        if len({id(u) for u in users}) != len(users):
            raise ConfigError("`PerSlotUsers` needs one distinct user instance per slot")
        self.users = list(users)
        self.draws_only_at_start = False
        self._info: list[dict[str, Any]] = [{} for _ in self.users]

    def bind(self, num_envs: int) -> None:
        """Check that there is one user per slot."""
        if num_envs != len(self.users):
            raise ConfigError(
                f"`PerSlotUsers` holds {len(self.users)} users, the environment has "
                f"num_envs={num_envs}; pass one user per sub-environment"
            )

    def _note(self, s: int) -> None:
        self._info[s] = self.users[s].step_info()

    def start(
        self,
        slots: Slots,
        users: npt.NDArray[np.int64],
        targets: npt.NDArray[np.int64],
        rngs: Generators,
    ) -> npt.NDArray[np.int64]:
        """Each slot's user opens its session."""
        out = np.empty(len(slots), dtype=np.int64)
        for j, s in enumerate(slots.tolist()):
            out[j] = self.users[s].start(int(users[j]), int(targets[j]), rngs[s])
            self._note(s)
        return out

    def answer_binary(
        self, slots: Slots, attributes: npt.NDArray[np.int64], rngs: Generators
    ) -> npt.NDArray[np.bool_]:
        """Each slot's user answers its yes/no question."""
        out = np.empty(len(slots), dtype=np.bool_)
        for j, s in enumerate(slots.tolist()):
            out[j] = self.users[s].answer_binary(int(attributes[j]), rngs[s])
            self._note(s)
        return out

    def answer_enumerated(
        self, slots: Slots, parents: npt.NDArray[np.int64], rngs: Generators
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each slot's user picks children of its parent."""
        picks = []
        for j, s in enumerate(slots.tolist()):
            picks.append(np.asarray(self.users[s].answer_enumerated(int(parents[j]), rngs[s])))
            self._note(s)
        return _ragged(picks)

    def judge(
        self,
        slots: Slots,
        items: npt.NDArray[np.int64],
        lengths: npt.NDArray[np.int64],
        rngs: Generators,
    ) -> npt.NDArray[np.bool_]:
        """Each slot's user judges its list."""
        out = np.empty(len(slots), dtype=np.bool_)
        for j, s in enumerate(slots.tolist()):
            out[j] = self.users[s].judge(items[j, : lengths[j]], rngs[s])
            self._note(s)
        return out

    def wants_to_leave(self, slots: Slots, rngs: Generators) -> npt.NDArray[np.bool_]:
        """Each slot's user decides whether to leave."""
        out = np.empty(len(slots), dtype=np.bool_)
        for j, s in enumerate(slots.tolist()):
            out[j] = self.users[s].wants_to_leave(rngs[s])
        return out

    def step_info(self, slots: Slots) -> list[dict[str, Any]] | None:
        """What each slot's user reported after its latest call."""
        infos = [self._info[s] for s in slots.tolist()]
        return infos if any(infos) else None


def _ragged(parts: Sequence[npt.NDArray[Any]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    indptr = np.zeros(len(parts) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([p.size for p in parts])
    flat = np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)
    return indptr, flat


def as_batch_user(
    user: ConversationalUser | ConversationalBatchUser | Sequence[ConversationalUser],
    num_envs: int,
) -> ConversationalBatchUser:
    """The batch user behind ``user``, bound to ``num_envs`` slots.

    ``user`` is a :class:`ConversationalBatchUser` (used as it is), a sequence of one
    :class:`ConversationalUser` per slot (:class:`PerSlotUsers`), or a single user that knows its
    batched form (``user.batched(num_envs)``: :class:`~recoworld.users.TargetItemUser` and
    :class:`~recoworld.users.llm.LLMConversationalUser`).
    """
    batch: Any
    if isinstance(user, Sequence):
        batch = PerSlotUsers(user)
    elif hasattr(user, "draws_only_at_start") and hasattr(user, "bind"):
        batch = user
    elif hasattr(user, "batched"):
        batch = user.batched(num_envs)
    else:
        raise ConfigError(
            f"a {type(user).__name__} has no batched form; pass a ConversationalBatchUser, or "
            f"one user per sub-environment (a list of {num_envs}), which PerSlotUsers plays in turn"
        )
    batch.bind(num_envs)
    return batch  # type: ignore[no-any-return]
