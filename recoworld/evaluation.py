"""Evaluation of policies: what every caller uses to score an agent on an environment.

Conversational recommendation (:func:`evaluate`): SR@5/10/15, average turns (AT, a failure counts
the horizon), hDCG@(15,10) and the success-by-turn curve, with the published protocol's counting.
Agents with a batched form play many sessions at once on the batched env, with the same outcomes.
Short-video feeds (:func:`evaluate_feed`, :func:`evaluate_feed_slates`): watch time and depth per
session, likes, skips, retention, coverage and diversity.

Feed episodes run on the natively vectorised environment. Each sub-environment runs a fixed quota
of episodes (``episodes`` split as evenly as possible), so short episodes are not over-represented
as they would be by "the first N episodes to finish". Learning agents (the bandit) learn online
through ``update`` while they are evaluated.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium
import numpy as np
from gymnasium.utils import seeding
from numpy.typing import NDArray

from recoworld._validate import require_range
from recoworld.envs.conversational_vector import ConversationalVectorEnv, vector_env_like
from recoworld.envs.feed_vector import FeedVectorEnv
from recoworld.errors import ConfigError, DataError

__all__ = [
    "CRSMetrics",
    "FeedMetrics",
    "SessionOutcome",
    "evaluate",
    "evaluate_feed",
    "evaluate_feed_slates",
    "hdcg",
    "make_feed_vector_env",
    "metrics_from_outcomes",
    "run_session",
]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_seed(seed: Any) -> None:
    if not _is_int(seed) or seed < 0:
        raise ConfigError(f"`seed` must be an integer >= 0, got {seed!r}")


# ---- conversational recommendation ---------------------------------------------------------------


class CRSAgent(Protocol):
    """What the evaluator needs from a conversational agent."""

    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """The base-env action for ``obs``."""
        ...


@dataclass(frozen=True)
class SessionOutcome:
    """How one session ended.

    ``turn`` is the session turn of success (opening = 1), 0 if failed;
    ``rank`` the 1-based rank of the target in the accepted list (0 if failed).
    """

    user: int
    target: int
    turn: int
    rank: int
    steps: int


@dataclass(frozen=True)
class CRSMetrics:
    """Aggregate metrics over sessions (the published protocol's counting)."""

    sr5: float
    sr10: float
    sr15: float
    avg_turns: float
    hdcg: float
    sessions: int
    steps: int
    success_by_turn: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON keys."""
        return {
            "sr@5": self.sr5,
            "sr@10": self.sr10,
            "sr@15": self.sr15,
            "avg_turns": self.avg_turns,
            "hdcg": self.hdcg,
            "sessions": self.sessions,
            "steps": self.steps,
            "success_by_turn": list(self.success_by_turn),
        }


def hdcg(success_turn: int, rank: int, max_turns: int = 15) -> float:
    """hDCG@(T,K) of one session.

    ``success_turn`` is the session turn of success (the opening is turn 1, so the agent's first
    action is turn 2) and ``rank`` the 1-based rank of the target; 0 for a failed session. With
    t = ``success_turn`` - 1 (t = 1 at the agent's first action):
    1/log2(t+2) + (1/log2(t+1) - 1/log2(t+2)) / log2(rank+1).
    """
    if success_turn <= 0 or success_turn > max_turns:
        return 0.0
    t = success_turn - 1
    return 1.0 / math.log2(t + 2) + (1.0 / math.log2(t + 1) - 1.0 / math.log2(t + 2)) / math.log2(
        rank + 1
    )


def metrics_from_outcomes(outcomes: list[SessionOutcome], max_turns: int = 15) -> CRSMetrics:
    """SR@5/10/15, AT (failures count ``max_turns``), hDCG and the success-by-turn curve."""
    if not outcomes:
        raise DataError(
            "no session to aggregate: the evaluation ran 0 sessions (ask for at least one, "
            "from a split that holds some)"
        )
    turns = np.asarray([o.turn for o in outcomes])
    ok = turns > 0
    n = len(outcomes)
    by_turn = tuple(float(np.mean(ok & (turns <= t))) for t in range(1, max_turns + 1))
    at = float(np.where(ok, turns, max_turns).mean())
    return CRSMetrics(
        sr5=float(np.mean(ok & (turns <= 5))),
        sr10=float(np.mean(ok & (turns <= 10))),
        sr15=float(np.mean(ok & (turns <= 15))),
        avg_turns=at,
        hdcg=float(np.mean([hdcg(o.turn, o.rank, max_turns) for o in outcomes])),
        sessions=n,
        steps=int(sum(o.steps for o in outcomes)),
        success_by_turn=by_turn,
    )


def run_session(
    env: gymnasium.Env[Any, Any], agent: CRSAgent, options: dict[str, Any], seed: int | None = None
) -> SessionOutcome:
    """Play one session to its end."""
    obs, info = env.reset(seed=seed, options=options)
    steps = 0
    while True:
        obs, _, terminated, truncated, info = env.step(agent.predict(obs))
        steps += 1
        if terminated or truncated:
            break
    turn = int(info["turn"]) if info["success"] else 0
    return SessionOutcome(int(info["user"]), int(info["target"]), turn, int(info["rank"]), steps)


def evaluate(
    env: gymnasium.Env[Any, Any],
    agent: CRSAgent,
    split: str = "test",
    sessions: int | None = None,
    seed: int = 0,
    progress: bool = False,
    num_envs: int = 1024,
) -> tuple[CRSMetrics, list[SessionOutcome]]:
    """Run every session of ``split`` in file order (or the first ``sessions``) and aggregate.

    The environment is seeded once, at the first session, so the whole evaluation is one
    reproducible random stream.

    Batched path: when the agent acts on batches (``predict_batch``) and draws no random numbers
    (``deterministic``), ``env`` is a :class:`ConversationalRecEnv` (under Gymnasium's checking
    wrappers only) and its user has a batched form whose sessions draw only when they start, the
    sessions run ``num_envs`` at a time on a :class:`ConversationalVectorEnv` with the same
    settings. Its sub-environments share one generator seeded as ``env.reset(seed=seed)`` seeds,
    and sessions start in file order, so they draw the same numbers as one env playing them in
    turn: the same sessions, order and randomness, hence the same outcomes (tested). Otherwise,
    or with ``num_envs=1``, one session at a time.
    """
    if sessions is not None and (not _is_int(sessions) or sessions < 1):
        raise ConfigError(f"`sessions` must be an integer >= 1 (or None for all), got {sessions!r}")
    _check_seed(seed)
    world = env.unwrapped.world  # type: ignore[attr-defined]
    n_total = len(world.split(split))
    if n_total == 0:
        raise DataError(f"split {split!r} of world {world.name!r} holds no session to evaluate")
    n = n_total if sessions is None else min(int(sessions), n_total)
    max_turns = int(env.unwrapped.max_turns)  # type: ignore[attr-defined]
    vec = _batched_env(env, agent, split, min(num_envs, n))
    if vec is not None:
        outcomes = _evaluate_batched(vec, agent, split, n, seed, progress)
        return metrics_from_outcomes(outcomes, max_turns), outcomes
    iterator: Any = range(n)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"evaluate {split}", unit="session", file=sys.stderr)
    outcomes = [
        run_session(env, agent, {"split": split, "index": i}, seed if i == 0 else None)
        for i in iterator
    ]
    return metrics_from_outcomes(outcomes, max_turns), outcomes


def _batched_env(
    env: gymnasium.Env[Any, Any], agent: Any, split: str, num_envs: int
) -> ConversationalVectorEnv | None:
    """The vector env that reproduces ``env`` for ``agent``, or None where none can."""
    if num_envs <= 1 or not getattr(agent, "deterministic", False):
        return None
    if not callable(getattr(agent, "predict_batch", None)):
        return None
    if getattr(env.unwrapped, "render_mode", None) is not None:
        return None  # the single env records the transcript a caller may read afterwards
    try:  # the checks of vector_env_like: plain env, published protocol, a batchable user
        vec = vector_env_like(env, num_envs, split=split)
    except ConfigError:
        return None
    return vec if vec.user.draws_only_at_start else None


def _evaluate_batched(
    vec: ConversationalVectorEnv, agent: Any, split: str, n: int, seed: int, progress: bool
) -> list[SessionOutcome]:
    """Sessions 0..n-1 of ``split`` on ``vec``, each ended slot starting the next session."""
    slots = vec.num_envs
    vec.set_generators([seeding.np_random(seed)[0]] * slots)
    session = np.arange(slots, dtype=np.int64)
    steps = np.zeros(slots, dtype=np.int64)
    active = np.ones(slots, dtype=np.bool_)
    outcomes: list[SessionOutcome | None] = [None] * n
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc=f"evaluate {split}", unit="session", file=sys.stderr)
    obs, _ = vec.reset(options={"split": split, "index": session})
    upcoming = slots
    while active.any():
        action = agent.predict_batch(obs, active, candidates=vec.candidate_lists())
        obs, _, terminated, truncated, info = vec.step(action)
        steps[active] += 1
        ended = np.flatnonzero((terminated | truncated) & active)
        if not ended.size:
            continue
        success, turn, rank = info["success"], info["turn"], info["rank"]
        users, targets = info["user"], info["target"]
        for s in ended.tolist():
            ok = bool(success[s])
            outcomes[session[s]] = SessionOutcome(
                int(users[s]), int(targets[s]), int(turn[s]) if ok else 0,
                int(rank[s]), int(steps[s]),
            )  # fmt: skip
        if bar is not None:
            bar.update(ended.size)
        restart = ended[: max(0, min(ended.size, n - upcoming))]
        active[ended[restart.size :]] = False
        if restart.size:
            session[restart] = np.arange(upcoming, upcoming + restart.size)
            upcoming += restart.size
            steps[restart] = 0
            mask = np.zeros(slots, dtype=np.bool_)
            mask[restart] = True
            obs, _ = vec.reset(options={"reset_mask": mask, "split": split, "index": session})
    if bar is not None:
        bar.close()
    assert all(o is not None for o in outcomes)
    return outcomes  # type: ignore[return-value]


# ---- short-video feeds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedMetrics:
    """Metrics of an evaluation.

    Attributes:
        episodes: episodes run.
        sessions: sessions run (a session ends when the user leaves or at the horizon).
        watch_time: mean seconds watched per session.
        depth: mean videos per session.
        like_rate: likes per video.
        skip_rate: skips per video.
        return_rate: share of ended sessions after which the user came back within the window.
        return_days: mean days until the next session, over ended sessions (366 = never).
        active_days: mean sessions (days with a session) per episode.
        coverage: share of the catalogue shown at least once.
        diversity: mean over sessions of distinct categories / videos.
        reward: mean return (sum of rewards) per episode.

    """

    episodes: int
    sessions: int
    watch_time: float
    depth: float
    like_rate: float
    skip_rate: float
    return_rate: float
    return_days: float
    active_days: float
    coverage: float
    diversity: float
    reward: float


def make_feed_vector_env(env_id: str, num_envs: int, **kwargs: Any) -> FeedVectorEnv:
    """``gymnasium.make_vec`` with the feed's vector entry point."""
    env = gymnasium.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    if not isinstance(env, FeedVectorEnv):
        raise ConfigError(f"{env_id!r} has no native feed vector environment")
    return env


def evaluate_feed(env: FeedVectorEnv, agent: Any, episodes: int, seed: int = 0) -> FeedMetrics:
    """Run ``agent`` (``predict``, optional ``update``) for ``episodes`` episodes on ``env``."""
    require_range("episodes", episodes, 1)
    _check_seed(seed)
    n = env.num_envs
    quota = np.full(n, episodes // n) + (np.arange(n) < episodes % n)
    done = np.zeros(n, dtype=np.int64)
    cat = env.world.catalogue
    seen_items = np.zeros(cat.n_items, dtype=bool)
    seen_cats = np.zeros((n, cat.n_categories), dtype=bool)
    sess_time = np.zeros(n)
    sess_depth = np.zeros(n, dtype=np.int64)
    ep_reward = np.zeros(n)
    ep_sessions = np.zeros(n, dtype=np.int64)
    totals = {"sessions": 0, "time": 0.0, "depth": 0, "likes": 0, "skips": 0, "left": 0,
              "returned": 0, "gap": 0.0, "diversity": 0.0, "reward": 0.0, "ep_sessions": 0}
    update = getattr(agent, "update", None)
    obs, _ = env.reset(seed=seed)
    while np.any(done < quota):
        action = agent.predict(obs)
        next_obs, reward, term, trunc, info = env.step(np.asarray(action, dtype=np.int64))
        live = info.get("_watch_time", np.zeros(n, dtype=bool)) & (done < quota)
        if live.any():
            if update is not None:
                update(obs, action, np.where(live, reward, 0.0))
            idx = np.flatnonzero(live)
            seen_items[info["item"][idx]] = True
            seen_cats[idx, info["category"][idx]] = True
            sess_time[idx] += info["watch_time"][idx]
            sess_depth[idx] += 1
            ep_reward[idx] += reward[idx]
            totals["likes"] += int(info["like"][idx].sum())
            totals["skips"] += int(info["skip"][idx].sum())
            left = info["left"][idx]
            ended = idx[left | trunc[idx]]
            totals["left"] += int(left.sum())
            totals["returned"] += int(info["returned"][idx][left].sum())
            totals["gap"] += float(info["return_days"][idx][left].sum())
            if len(ended):
                totals["sessions"] += len(ended)
                totals["time"] += float(sess_time[ended].sum())
                totals["depth"] += int(sess_depth[ended].sum())
                totals["diversity"] += float(
                    (seen_cats[ended].sum(axis=1) / np.maximum(sess_depth[ended], 1)).sum()
                )
                ep_sessions[ended] += 1
                sess_time[ended] = 0.0
                sess_depth[ended] = 0
                seen_cats[ended] = False
            finished = idx[term[idx] | trunc[idx]]
            if len(finished):
                totals["reward"] += float(ep_reward[finished].sum())
                totals["ep_sessions"] += int(ep_sessions[finished].sum())
                ep_reward[finished] = 0.0
                ep_sessions[finished] = 0
                done[finished] += 1
        obs = next_obs
    sessions = max(totals["sessions"], 1)
    videos = max(totals["depth"], 1)
    return FeedMetrics(
        episodes=int(episodes),
        sessions=int(totals["sessions"]),
        watch_time=totals["time"] / sessions,
        depth=totals["depth"] / sessions,
        like_rate=totals["likes"] / videos,
        skip_rate=totals["skips"] / videos,
        return_rate=totals["returned"] / max(totals["left"], 1),
        return_days=totals["gap"] / max(totals["left"], 1),
        active_days=totals["ep_sessions"] / episodes,
        coverage=float(seen_items.mean()),
        diversity=totals["diversity"] / sessions,
        reward=totals["reward"] / episodes,
    )


def _slate(dist: NDArray[np.float64], size: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Sample ``size`` candidates without replacement from ``dist`` (Gumbel top-k)."""
    keys = np.log(np.maximum(dist, 1e-12)) + rng.gumbel(size=dist.shape[0])
    return np.argsort(-keys, kind="stable")[:size].astype(np.int64)


def evaluate_feed_slates(env: Any, agent: Any, episodes: int, seed: int = 0) -> FeedMetrics:
    """Run ``agent`` on a slate feed env (single, ``gymnasium.make``) for ``episodes`` episodes.

    Each slate is drawn without replacement from ``agent.action_dist(obs)`` (Plackett-Luce through
    Gumbel top-k with a generator seeded by ``seed``), so a greedy agent's choice leads the slate.
    """
    require_range("episodes", episodes, 1)
    _check_seed(seed)
    base = env.unwrapped
    size = int(base.slate_size)
    cat = base.world.catalogue
    rng = np.random.default_rng(seed)
    seen_items = np.zeros(cat.n_items, dtype=bool)
    sessions = videos = likes = skips = left_n = returned_n = total_sessions = 0
    watch = gap = diversity = reward_sum = 0.0
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed if ep == 0 else None)
        sess_time, sess_depth, sess_cats = 0.0, 0, set()
        while True:
            obs, reward, term, trunc, info = env.step(_slate(agent.action_dist(obs), size, rng))
            reward_sum += float(reward)
            shown = info["shown"]
            items = info["item"][shown]
            seen_items[items] = True
            sess_cats.update(cat.category[items].tolist())
            sess_time += float(info["watch_time"][shown].sum())
            sess_depth += int(shown.sum())
            likes += int(info["like"][shown].sum())
            skips += int(info["skip"][shown].sum())
            if info["left"]:
                left_n += 1
                returned_n += int(info["returned"])
                gap += float(info["return_days"])
            if info["left"] or trunc:
                sessions += 1
                total_sessions += 1
                watch += sess_time
                videos += sess_depth
                diversity += len(sess_cats) / max(sess_depth, 1)
                sess_time, sess_depth, sess_cats = 0.0, 0, set()
            if term or trunc:
                break
    n_sess = max(sessions, 1)
    return FeedMetrics(
        episodes=episodes,
        sessions=sessions,
        watch_time=watch / n_sess,
        depth=videos / n_sess,
        like_rate=likes / max(videos, 1),
        skip_rate=skips / max(videos, 1),
        return_rate=returned_n / max(left_n, 1),
        return_days=gap / max(left_n, 1),
        active_days=total_sessions / episodes,
        coverage=float(seen_items.mean()),
        diversity=diversity / n_sess,
        reward=reward_sum / episodes,
    )
