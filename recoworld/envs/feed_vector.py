"""The natively vectorised feed: N users simulated together in arrays, Gymnasium's vector API."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from recoworld._validate import require_range
from recoworld.datasets.feed_world import FeedWorld
from recoworld.envs.feed_core import FeedSimulator
from recoworld.envs.feed_settings import FeedSettings
from recoworld.envs.transcript import FeedView, check_render_mode, feed_view, format_feed_session
from recoworld.errors import ConfigError, InvalidActionError
from recoworld.users.feed.interface import ExpectedOutcome, FeedUserModel, Slots

__all__ = ["FeedVectorEnv", "feed_vector_env_from_keywords"]

Obs = dict[str, NDArray[np.generic]]
_EVERY = slice(None)  # every slot, in order: the simulator's fast path


class FeedVectorEnv(VectorEnv[Obs, NDArray[np.int64], NDArray[Any]]):
    """``num_envs`` feed users stepped together; trajectories equal ``num_envs`` :class:`FeedEnv`.

    Created by ``gymnasium.make_vec("recoworld/ShortVideo-v0", num_envs=N,
    vectorization_mode="vector_entry_point")``. Sub-environment ``i`` reset with ``seed`` uses the
    generator of a single :class:`FeedEnv` reset with ``seed + i`` (Gymnasium's convention), and
    every random draw of slot ``i`` comes from it, so the vector environment reproduces N single
    environments exactly. Observations, rewards, actions and info keys are those of
    :class:`FeedEnv` with a leading axis of length ``num_envs``; every info key ``k`` has its
    mask ``_k``. Autoreset mode is ``NEXT_STEP``: after a sub-environment terminates or
    truncates, the next ``step`` resets it (its action is ignored, reward 0) and returns the first
    observation of the new episode. Truncation after ``max_episode_steps`` steps (200).
    ``make_vec`` takes the keywords of :class:`FeedEnv`; built directly, the env takes
    ``FeedVectorEnv(num_envs, FeedSettings(...), max_episode_steps=..., user_model=...)``.
    """

    metadata = {  # noqa: RUF012
        "autoreset_mode": AutoresetMode.NEXT_STEP,
        "render_modes": ["ansi"],
        "render_fps": 4,
    }

    def __init__(
        self,
        num_envs: int = 1,
        settings: FeedSettings | None = None,
        *,
        max_episode_steps: int | None = None,
        user_model: FeedUserModel | None = None,
        render_mode: str | None = None,
        render_slot: int = 0,
    ) -> None:
        require_range("num_envs", num_envs, 1)
        require_range("render_slot", render_slot, 0, num_envs - 1)
        self.render_mode = check_render_mode(render_mode)
        self.render_slot = render_slot
        self._views: list[FeedView] = []
        if max_episode_steps is not None:
            require_range("max_episode_steps", max_episode_steps, 1)
        self.settings = settings if settings is not None else FeedSettings()
        self.sim: FeedSimulator = FeedSimulator(self.settings, num_envs, user_model)
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.pool_size = self.sim.pool_size
        self.single_observation_space = self.sim.observation_space()
        self.single_action_space = spaces.Discrete(self.pool_size)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._all = np.arange(num_envs, dtype=np.intp)
        self._elapsed = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(num_envs, dtype=bool)
        self._mask = np.ones((num_envs, self.pool_size), dtype=np.int8)
        self._started = False

    @property
    def world(self) -> FeedWorld:
        """The world this environment runs on."""
        return self.sim.world

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        """Reset every sub-environment; ``seed`` int ``s`` seeds sub-environment ``i`` with ``s+i``."""
        if seed is None or isinstance(seed, int):
            seeds: list[int | None] = (
                [None] * self.num_envs if seed is None else [seed + i for i in range(self.num_envs)]
            )
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(
                    f"`seed` list must have num_envs={self.num_envs} entries, got {len(seeds)}"
                )
        for i, s in enumerate(seeds):
            if s is not None or not self._started:
                self.sim.set_generator(i, seeding.np_random(s)[0])
        self._started = True
        self.sim.reset_slots(_EVERY)
        self._elapsed[:] = 0
        self._needs_reset[:] = False
        self._views = []
        info = {
            "candidate_ids": self.sim.candidates.astype(np.int64),
            "action_mask": self._mask.copy(),
            "user": self.sim.user.astype(np.int64),
        }
        return self.sim.observe(_EVERY), info

    def expected_outcome(self) -> ExpectedOutcome:
        """True expected outcome of every sub-environment's candidates; for oracle agents."""
        return self.sim.expected(_EVERY)

    @property
    def views(self) -> tuple[FeedView, ...]:
        """The videos of sub-environment ``render_slot``'s current episode (``render_mode="ansi"``)."""
        return tuple(self._views)

    def render(self) -> str | None:  # type: ignore[override]
        """The episode of sub-environment ``render_slot`` so far as text (``render_mode="ansi"``).

        One chosen slot, not a tuple of every slot's text: a thousand feeds are not read at once.
        """
        if self.render_mode is None:
            return None
        return format_feed_session(int(self.sim.user[self.render_slot]), self._views)

    def step(
        self, actions: NDArray[np.int64]
    ) -> tuple[Obs, NDArray[Any], NDArray[Any], NDArray[Any], dict[str, Any]]:
        """Step every sub-environment (those that ended last step are reset instead)."""
        try:
            act = np.asarray(actions)
        except (ValueError, TypeError) as exc:
            raise InvalidActionError(f"`actions` must be {self.num_envs} integers: {exc}") from None
        if act.shape != (self.num_envs,) or not np.issubdtype(act.dtype, np.integer):
            raise InvalidActionError(
                f"`actions` must be {self.num_envs} integers, got shape {act.shape}, dtype {act.dtype}"
            )
        if not self._started:
            raise InvalidActionError("step() called before reset()")
        resetting = self._needs_reset
        n = self.num_envs
        info: dict[str, Any] = {}
        stepping: Slots
        if resetting.any():
            rows = np.flatnonzero(~resetting).astype(np.intp)
            stepping = rows
            back = np.flatnonzero(resetting).astype(np.intp)
            self.sim.reset_slots(back)
            self._elapsed[back] = 0
            if resetting[self.render_slot]:
                self._views = []
        else:
            rows = self._all
            stepping = _EVERY
        truncated = np.zeros(n, dtype=bool)
        if len(rows):
            a = act[stepping]
            if a.min() < 0 or a.max() >= self.pool_size:
                bad = a[(a < 0) | (a >= self.pool_size)]
                raise InvalidActionError(
                    f"`actions` must lie in [0, {self.pool_size}), got {bad.tolist()}"
                )
            stepped = ~resetting
            out, obs = self.sim.step(stepping, a)
            reward, terminated = out.reward, out.terminated
            self._elapsed[stepping] += 1
            if self.max_episode_steps is not None:
                truncated[stepping] = (self._elapsed[stepping] >= self.max_episode_steps) & (
                    ~terminated[stepping]
                )
            for key, value in out.info.items():
                info[key] = value
                info["_" + key] = stepped
        else:  # every slot was reset: nothing steps, the new episodes are observed
            reward = np.zeros(n, dtype=np.float32)
            terminated = np.zeros(n, dtype=bool)
            obs = self.sim.observe(_EVERY)
        r = self.render_slot
        if self.render_mode is not None and not resetting[r]:
            row = {k: v[r] for k, v in info.items() if not k.startswith("_")}
            self._views.append(feed_view(row, float(reward[r]), self.sim.world.catalogue))
        info["candidate_ids"] = self.sim.candidates.astype(np.int64)
        info["_candidate_ids"] = np.ones(n, dtype=bool)
        info["action_mask"] = self._mask.copy()
        info["_action_mask"] = np.ones(n, dtype=bool)
        self._needs_reset = terminated | truncated
        return obs, reward, terminated, truncated, info


def feed_vector_env_from_keywords(
    num_envs: int = 1,
    max_episode_steps: int | None = None,
    user_model: FeedUserModel | None = None,
    render_mode: str | None = None,
    render_slot: int = 0,
    **keywords: Any,
) -> FeedVectorEnv:
    """Vector entry point of the registered ids: ``keywords`` are :class:`FeedSettings` fields."""
    return FeedVectorEnv(
        num_envs,
        FeedSettings.from_keywords(keywords),
        max_episode_steps=max_episode_steps,
        user_model=user_model,
        render_mode=render_mode,
        render_slot=render_slot,
    )
