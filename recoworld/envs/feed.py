"""Single-user short-video feed environments: one video per step, and the slate variant."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from recoworld._validate import require_range
from recoworld.datasets.feed_world import FeedWorld
from recoworld.envs.feed_core import FeedSimulator
from recoworld.envs.feed_settings import FeedSettings
from recoworld.envs.transcript import FeedView, check_render_mode, feed_view, format_feed_session
from recoworld.errors import InvalidActionError
from recoworld.users.feed.interface import ExpectedOutcome, FeedUserModel

__all__ = ["FeedEnv", "SlateFeedEnv", "feed_env_from_keywords", "slate_feed_env_from_keywords"]

Obs = dict[str, NDArray[np.generic]]


def _as_index(action: Any, size: int, name: str) -> int:
    if isinstance(action, (int, np.integer)) and not isinstance(action, bool):  # the common case
        if 0 <= action < size:
            return int(action)
        raise InvalidActionError(f"`{name}` must be in [0, {size}), got {int(action)}")
    arr = _as_array(action, name)
    if arr.shape != () or not np.issubdtype(arr.dtype, np.integer):
        if not (arr.shape == () and np.issubdtype(arr.dtype, np.floating) and float(arr).is_integer()):
            raise InvalidActionError(
                f"`{name}` must be an integer in [0, {size}), got {action!r} (shape {arr.shape}, "
                f"dtype {arr.dtype})"
            )
    value = int(arr)
    if not 0 <= value < size:
        raise InvalidActionError(f"`{name}` must be in [0, {size}), got {value}")
    return value


def _as_array(action: Any, name: str) -> NDArray[Any]:
    try:
        return np.asarray(action)
    except (ValueError, TypeError) as exc:  # ragged nesting and the like
        raise InvalidActionError(f"`{name}` is not an array of candidate indices: {exc}") from None


class FeedEnv(gym.Env[Obs, Any]):
    """An immersive short-video feed: the agent picks the next video from a candidate pool.

    ## Description
    A user (statistical by default, see :class:`recoworld.users.feed.StatisticalFeedUser`) scrolls a
    feed one video at a time (KuaiSim, RecoWorld). Every step a retriever proposes ``K`` candidates
    (pool from the user's closest categories, the popular list and the cold-start list); the agent
    picks one; the user watches part of it (watch ratio and time), may like it or skip it, spends
    patience, and leaves when patience runs out. On leaving the user draws the days until the next
    session from the session's satisfaction; with ``sessions > 1`` a returning user continues the
    episode in a new session.

    ## Action Space
    ``Discrete(K)``: the index of the candidate to show (``K = 16`` by default).

    ## Observation Space
    ``Dict`` of fixed-shape boxes (``d`` = taste dimension, 16; ``U`` = user feature count):

    | key | space | dtype | meaning |
    |---|---|---|---|
    | ``user`` | Box(U + d + 4) | float32 | static features, retrieval profile, then depth/50, session index/sessions, mean watch ratio this session, last watch ratio |
    | ``candidates`` | Box(K, d + 5) | float32 | per candidate: retrieval score (profile . embedding), share of the history in its category, standardised log duration, popularity (0 when cold), cold flag, embedding |
    | ``history`` | Box(H, d + 7) | float32 | last ``H`` videos, newest last: valid flag, watch ratio, like, skip, then the candidate columns from log duration on (zeros when invalid) |
    | ``candidate_ids`` | Box(K) | int64 | catalogue rows of the candidates (for id-based agents and logging) |

    ## Rewards
    Per video, ``watch_time/60 * w_time + watch_ratio * w_ratio + like * w_like + returned *
    w_retention`` (:class:`RewardWeights`; preset ``"watch_time"``: minutes watched).

    ## Starting State
    A user drawn uniformly from the population, full patience, no satiation, empty history.

    ## Episode End
    - Termination: the user leaves (patience at or below the threshold) and either does not
      return within ``return_window_days`` or the episode's ``sessions`` are used up.
    - Truncation: ``max_episode_steps`` (set at registration; 200 videos) is reached.

    ## Information
    ``item`` (catalogue row), ``video_id``, ``category``, ``watch_ratio``, ``watch_time``
    (seconds), ``like``, ``skip``, ``left`` (the session ended), ``return_days`` (days until the
    next session when ``left``, else 0), ``returned`` (came back within the window),
    ``session_index``, ``depth`` (videos in the session so far, after this one),
    ``candidate_ids`` and ``action_mask`` (all ones: every candidate may be shown), plus the user
    model's own ``FeedResponse.info`` entries (e.g. ``recorded`` in replay worlds). ``reset``
    returns ``candidate_ids``, ``action_mask`` and ``user`` (population row).

    ## Arguments
    ```python
    import gymnasium as gym, recoworld
    env = gym.make("recoworld/ShortVideo-v0", sessions=1, reward="watch_time")
    obs, info = env.reset(seed=0)
    ```
    ``gymnasium.make`` takes the fields of :class:`~recoworld.envs.FeedSettings` as keywords:
    ``source`` (``"synthetic"``, ``"kuairand"``, ``"kuairec"``), ``world`` (a ready
    :class:`FeedWorld`), ``user_params`` (:class:`~recoworld.users.FeedUserParams`; switch biases
    off there), ``retriever`` (:class:`~recoworld.envs.RetrieverConfig`), ``history_length``,
    ``sessions``, ``return_window_days``, ``reward``, ``data_dir`` (root holding
    ``kuairand_pure/``; default ``$RECOWORLD_DATA``), ``kuairec_path`` (``small_matrix.csv``),
    ``world_seed``; plus ``user_model`` (not together with ``user_params``) and ``render_mode``
    (``"ansi"``: :meth:`render` returns the episode as text, one line per video). Built directly,
    the env takes the settings object: ``FeedEnv(FeedSettings(sessions=3), user_model=...)``.

    Pluggable user model. ``user_model`` may be any object with the small batched interface of
    :class:`recoworld.users.feed.FeedUserModel` (this env addresses one slot, row 0):
    ``n_uniforms`` (uniforms consumed per response), ``bind(world, n_slots)``,
    ``reset(slots, users)`` (start a person), ``start_session(slots, days_away)``,
    ``respond(slots, items, u) -> FeedResponse`` (``watch_ratio``, ``watch_time``, ``like``,
    ``skip``, ``leave``, ``return_days`` and an optional ``info`` dict merged into the step info)
    and ``expected(slots, candidates)`` (true expected outcomes, used only by oracle agents). All of
    its randomness must come from the uniforms ``u`` (drawn from ``self.np_random``).

    ## References
    KuaiSim (Zhao et al., NeurIPS 2023); RecoWorld (Meta, 2025); KuaiRand (Gao et al., CIKM 2022,
    CC BY-SA 4.0); KuaiRec (Gao et al., CIKM 2022).

    ## Version History
    - v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012

    def __init__(
        self,
        settings: FeedSettings | None = None,
        *,
        user_model: FeedUserModel | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.render_mode = check_render_mode(render_mode)
        self._views: list[FeedView] = []
        self.settings = settings if settings is not None else FeedSettings()
        self.sim: FeedSimulator = FeedSimulator(self.settings, 1, user_model)
        self.pool_size = self.sim.pool_size
        self.observation_space: spaces.Space[Any] = self.sim.observation_space()
        self.action_space: spaces.Space[Any] = spaces.Discrete(self.pool_size)
        self._slot = slice(None)  # the simulator's only slot, through its fast path
        self._bound: np.random.Generator | None = None
        self._mask = np.ones(self.pool_size, dtype=np.int8)
        self._needs_reset = True

    @property
    def world(self) -> FeedWorld:
        """The world this environment runs on."""
        return self.sim.world

    def _observe(self) -> Obs:
        obs = self.sim.observe(self._slot)
        return {k: v[0] for k, v in obs.items()}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        """Start an episode with a random user (``options={"user": row}`` picks one)."""
        super().reset(seed=seed)
        if self._bound is not self.np_random:
            self.sim.set_generator(0, self.np_random)
            self._bound = self.np_random
        users = None
        if options is not None and "user" in options:
            users = np.asarray([options["user"]], dtype=np.intp)
        self.sim.reset_slots(self._slot, users)
        self._needs_reset = False
        self._views = []
        info = {
            "candidate_ids": self.sim.candidates[0].astype(np.int64),
            "action_mask": self._mask.copy(),
            "user": int(self.sim.user[0]),
        }
        return self._observe(), info

    def expected_outcome(self) -> ExpectedOutcome:
        """True expected outcome of the current candidates (row 0); for oracle agents only."""
        return self.sim.expected(self._slot)

    def step(self, action: Any) -> tuple[Obs, SupportsFloat, bool, bool, dict[str, Any]]:
        """Show the chosen candidate; see the class docstring for rewards, ends and info."""
        if self._needs_reset:
            raise InvalidActionError("step() called before reset() or after the episode ended")
        obs, reward, terminated, info = self.sim.step_single(
            _as_index(action, self.pool_size, "action")
        )
        if self.render_mode is not None:
            self._views.append(feed_view(info, reward, self.world.catalogue))
        info["candidate_ids"] = obs["candidate_ids"].copy()
        info["action_mask"] = self._mask.copy()
        self._needs_reset = terminated
        return obs, reward, terminated, False, info

    @property
    def views(self) -> tuple[FeedView, ...]:
        """The videos of the current episode (recorded only with ``render_mode="ansi"``)."""
        return tuple(self._views)

    def render(self) -> str | None:
        """The episode so far as text (``render_mode="ansi"``); ``None`` without a render mode."""
        if self.render_mode is None:
            return None
        return format_feed_session(int(self.sim.user[0]), self._views)


class SlateFeedEnv(FeedEnv):
    """The feed with a slate: the agent orders ``slate_size`` candidates, the user scrolls them.

    ## Description
    As :class:`FeedEnv`, but each step the agent submits an ordered slate of candidate indices;
    the user watches them in order (each video consumes patience and advances the depth, so
    position bias acts within the slate) until the slate is exhausted or the user leaves. The pool
    is refreshed after every slate.

    ## Action Space
    ``MultiDiscrete([K] * slate_size)``. A candidate listed twice is shown once, at its first
    position; later repeats are reported in ``info["shown"]`` as False.

    ## Observation Space
    As :class:`FeedEnv`.

    ## Rewards
    Sum of the per-video rewards of :class:`FeedEnv` over the videos watched.

    ## Starting State
    As :class:`FeedEnv`.

    ## Episode End
    - Termination: as :class:`FeedEnv` (the rest of the slate is not shown).
    - Truncation: ``max_episode_steps`` slates (registration: 50).

    ## Information
    Per slate position (arrays of length ``slate_size``): ``item``, ``watch_ratio``,
    ``watch_time``, ``like``, ``skip``, ``shown``, ``reward`` (that video's reward; they sum to the
    step's reward; 0 where not shown); per step: ``left``, ``return_days``,
    ``returned``, ``session_index``, ``depth``, ``candidate_ids``, ``action_mask``.

    ## Arguments
    ```python
    import gymnasium as gym, recoworld
    env = gym.make("recoworld/ShortVideo-Slate-v0", slate_size=5)
    ```
    ``slate_size`` plus every keyword of :class:`FeedEnv`
    (``SlateFeedEnv(FeedSettings(...), slate_size=5)`` built directly).

    ## References
    As :class:`FeedEnv`; slates as in SlateQ (Ie et al., IJCAI 2019) and SARDINE.

    ## Version History
    - v0: initial version.
    """

    _PER_POSITION = ("item", "watch_ratio", "watch_time", "like", "skip")

    def __init__(
        self,
        settings: FeedSettings | None = None,
        *,
        slate_size: int = 5,
        user_model: FeedUserModel | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(settings, user_model=user_model, render_mode=render_mode)
        require_range("slate_size", slate_size, 1, self.pool_size)  # at most the pool size
        self.slate_size = slate_size
        self.action_space = spaces.MultiDiscrete([self.pool_size] * slate_size)

    def step(self, action: Any) -> tuple[Obs, SupportsFloat, bool, bool, dict[str, Any]]:
        """Show the slate in order until it ends or the user leaves."""
        if self._needs_reset:
            raise InvalidActionError("step() called before reset() or after the episode ended")
        arr = _as_array(action, "action")
        if arr.shape != (self.slate_size,):
            raise InvalidActionError(
                f"`action` must be {self.slate_size} candidate indices, got shape {arr.shape}"
            )
        slate = [_as_index(a, self.pool_size, "action[i]") for a in arr]
        s = self.slate_size
        per: dict[str, NDArray[Any]] = {
            "item": np.full(s, -1, dtype=np.int64),
            "watch_ratio": np.zeros(s, dtype=np.float32),
            "watch_time": np.zeros(s, dtype=np.float32),
            "like": np.zeros(s, dtype=bool),
            "skip": np.zeros(s, dtype=bool),
            "shown": np.zeros(s, dtype=bool),
            "reward": np.zeros(s, dtype=np.float32),
        }
        total = 0.0
        terminated = False
        last: dict[str, Any] = {}
        seen: set[int] = set()
        for pos, a in enumerate(slate):  # at most slate_size videos, one user
            if a in seen:
                continue
            seen.add(a)
            out = self.sim.show(self._slot, self.sim.candidates[0, a : a + 1])
            total += float(out.reward[0])
            for key in self._PER_POSITION:
                per[key][pos] = out.info[key][0]
            per["shown"][pos] = True
            per["reward"][pos] = out.reward[0]
            if self.render_mode is not None:
                row = {k: v[0] for k, v in out.info.items()}
                self._views.append(feed_view(row, float(out.reward[0]), self.world.catalogue))
            last = {k: v[0] for k, v in out.info.items() if k not in self._PER_POSITION}
            if bool(out.info["left"][0]):
                terminated = bool(out.terminated[0])
                break
        self.sim.refresh(self._slot)
        info: dict[str, Any] = {**last, **per}
        info["candidate_ids"] = self.sim.candidates[0].astype(np.int64)
        info["action_mask"] = self._mask.copy()
        self._needs_reset = terminated
        return self._observe(), total, terminated, False, info


def feed_env_from_keywords(
    user_model: FeedUserModel | None = None, render_mode: str | None = None, **keywords: Any
) -> FeedEnv:
    """Entry point of the registered one-video ids: ``keywords`` are :class:`FeedSettings` fields."""
    return FeedEnv(
        FeedSettings.from_keywords(keywords), user_model=user_model, render_mode=render_mode
    )


def slate_feed_env_from_keywords(
    slate_size: int = 5,
    user_model: FeedUserModel | None = None,
    render_mode: str | None = None,
    **keywords: Any,
) -> SlateFeedEnv:
    """Entry point of the registered slate ids: ``slate_size`` plus :class:`FeedSettings` fields."""
    return SlateFeedEnv(
        FeedSettings.from_keywords(keywords),
        slate_size=slate_size,
        user_model=user_model,
        render_mode=render_mode,
    )
