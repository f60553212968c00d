"""Proportional prioritized experience replay (Schaul et al., ICLR 2016) over fixed-size arrays.

A transition ``i`` is drawn with probability ``p_i^alpha / sum_j p_j^alpha`` and weighted by
``(N P(i))^-beta / max``; new transitions enter with the largest priority seen so far, a sampled
one's priority becomes ``|TD error| + eps``. Sampling is stratified (one draw per equal slice of
the total priority) and vectorised: a cumulative sum and one ``searchsorted`` per batch, O(N),
fast enough at the capacities used here without a sum tree.

States live in named arrays (:class:`StateArrays`) shared by consecutive transitions: transition
``i`` goes from state slot ``i`` to state slot ``i + 1`` (unless it ends its episode), so each state
is stored once. Writing a transition also writes its next state into the following slot and sets
that slot's priority to 0 until its own transition is written.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import torch

__all__ = ["PrioritizedReplay"]


class PrioritizedReplay:
    """Ring buffer of transitions with proportional priorities.

    Args:
        capacity: Transitions kept.
        state_shapes: Name -> (shape of one state's array, dtype) of the state fields.
        alpha: Priority exponent (0 = uniform).
        beta: Initial importance-sampling exponent.
        beta_increment: Added to ``beta`` at every :meth:`sample` (capped at 1).
        eps: Added to every absolute TD error.

    """

    def __init__(
        self,
        capacity: int,
        state_shapes: Mapping[str, tuple[tuple[int, ...], npt.DTypeLike]],
        alpha: float = 0.6,
        beta: float = 0.4,
        beta_increment: float = 0.001,
        eps: float = 0.01,
    ) -> None:
        self.capacity = capacity
        self.alpha, self.beta, self.beta_increment, self.eps = alpha, beta, beta_increment, eps
        self.states = {
            name: np.zeros((capacity, *shape), dtype=dtype)
            for name, (shape, dtype) in state_shapes.items()
        }
        self.action = np.zeros(capacity, dtype=np.int64)
        self.reward = np.zeros(capacity, dtype=np.float32)
        self.done = np.zeros(capacity, dtype=np.bool_)
        self.priority = np.zeros(capacity, dtype=np.float64)
        self.max_priority = 1.0
        self.ptr = 0
        self.size = 0

    def __len__(self) -> int:
        """Transitions that can be drawn."""
        return int(np.count_nonzero(self.priority))

    def _write_state(self, slot: int, state: Mapping[str, npt.NDArray[np.generic]]) -> None:
        for name, arr in self.states.items():
            arr[slot] = state[name]

    def add(
        self,
        state: Mapping[str, npt.NDArray[np.generic]],
        action: int,
        reward: float,
        next_state: Mapping[str, npt.NDArray[np.generic]] | None,
    ) -> None:
        """Store one transition; ``next_state=None`` ends the episode."""
        i = self.ptr
        self._write_state(i, state)
        self.action[i], self.reward[i], self.done[i] = action, reward, next_state is None
        self.priority[i] = self.max_priority**self.alpha
        self.ptr = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        if next_state is not None:
            self._write_state(self.ptr, next_state)
            self.priority[self.ptr] = 0.0

    def sample(
        self, batch_size: int, rng: np.random.Generator
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Draw ``batch_size`` transition indices and their importance-sampling weights."""
        cum = np.cumsum(self.priority)
        total = float(cum[-1])
        bounds = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)
        idx = np.minimum(np.searchsorted(cum, bounds, side="right"), self.capacity - 1)
        # A bound on the far edge of floating-point rounding can land on a zero-priority slot.
        zero = self.priority[idx] <= 0.0
        if zero.any():
            live = np.flatnonzero(self.priority > 0.0)
            idx[zero] = live[np.searchsorted(live, idx[zero]) % live.size]
        self.beta = min(1.0, self.beta + self.beta_increment)
        prob = self.priority[idx] / total
        weights = (len(self) * prob) ** (-self.beta)
        return idx.astype(np.int64), (weights / weights.max()).astype(np.float32)

    def update(self, idx: npt.NDArray[np.int64], td_error: npt.NDArray[np.float64]) -> None:
        """Set the priorities of ``idx`` from their absolute TD errors."""
        err = np.abs(td_error) + self.eps
        self.max_priority = max(self.max_priority, float(err.max()))
        self.priority[idx] = err**self.alpha

    def next_slot(self, idx: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The state slot following each transition of ``idx``."""
        out: npt.NDArray[np.int64] = (idx + 1) % self.capacity
        return out

    # ---- persistence ---------------------------------------------------------------------------
    def to_tensors(self) -> dict[str, torch.Tensor]:
        """The filled slots (and the pending next state), as tensors (for a checkpoint)."""
        n = min(self.size + 1, self.capacity)
        out = {f"state.{k}": torch.from_numpy(v[:n].copy()) for k, v in self.states.items()}
        out.update(
            action=torch.from_numpy(self.action[:n].copy()),
            reward=torch.from_numpy(self.reward[:n].copy()),
            done=torch.from_numpy(self.done[:n].copy()),
            priority=torch.from_numpy(self.priority[:n].copy()),
            scalars=torch.tensor(
                [self.max_priority, self.beta, float(self.ptr), float(self.size)],
                dtype=torch.float64,
            ),
        )
        return out

    def restore(self, d: Mapping[str, torch.Tensor]) -> None:
        """Read back :meth:`to_tensors`."""
        n = int(d["action"].shape[0])
        for k in self.states:
            self.states[k][:n] = d[f"state.{k}"].numpy()
        self.action[:n] = d["action"].numpy()
        self.reward[:n] = d["reward"].numpy()
        self.done[:n] = d["done"].numpy()
        self.priority[:n] = d["priority"].numpy()
        max_priority, beta, ptr, size = d["scalars"].tolist()
        self.max_priority, self.beta = float(max_priority), float(beta)
        self.ptr, self.size = int(ptr), int(size)
