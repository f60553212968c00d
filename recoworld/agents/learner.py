"""``LearnedCRSAgent``: the learner base of SCPR, EAR and CRM.

One class holds what the learned conversational agents share: the constructor plumbing (world,
settings, seed, FM embeddings), the learn loop (the environment it is handed, an optional
pretraining phase, training in batches of sessions, model selection on held-out ``valid``
sessions, periodic checkpoints, resuming), the acting surface (``predict``, ``action_dist``,
``to_action``) and ``save`` / ``load``.

A subclass says how it decides and how it learns from a batch of sessions:

* :meth:`LearnedCRSAgent._decide` -- everything one observation implies (a :class:`Decision`:
  probabilities over the flat action set, the candidates and their scores);
* :meth:`LearnedCRSAgent._train_sessions` (and, with a pretraining phase,
  :meth:`LearnedCRSAgent._pretrain_sessions`) -- play the given sessions in the environment and
  update the networks;
* :meth:`LearnedCRSAgent._build`, :meth:`LearnedCRSAgent._network_payload`,
  :meth:`LearnedCRSAgent._restore_network`, :meth:`LearnedCRSAgent._selected_network`.

The session-playing hooks receive the environment and a whole batch of session indices, so that
a batched environment can later play the batch at once without another learn loop.
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import gymnasium
import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from recoworld.agents.base import conversational_env
from recoworld.agents.crs_base import (
    check_world,
    checkpoint_header,
    config_from_dict,
    embeddings_from_payload,
    embeddings_payload,
    learning_sessions,
    load_checkpoint,
    recommend_action,
    rng_from_state,
    rng_state,
    save_checkpoint,
    success_rate,
)
from recoworld.agents.fm import FMConfig, FMEmbeddings, train_fm
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ASK
from recoworld.envs.conversational_vector import ConversationalVectorEnv, vector_env_like
from recoworld.errors import ConfigError, InvalidActionError
from recoworld.scoring import top_items

__all__ = ["Decision", "LearnedCRSAgent", "LearnerConfig"]

_A = TypeVar("_A", bound="LearnedCRSAgent")


@dataclass(frozen=True)
class LearnerConfig:
    """Settings every learned conversational agent shares: the learn loop's and the candidates'.

    Attributes:
        episodes: Training sessions in the environment handed to ``learn``.
        exclude_seen: Never recommend (nor weigh in the question choice) the user's training
            items: a session's target is by construction an item the user had not interacted
            with. Off in the published methods, whose top-10 lists often hold items the user knows.
        prune_rejected: Drop from the ranking and the question choice the candidates holding an
            attribute the user declined (the target cannot hold one when answers are exact).
        answer_noise: The answer flip probability the agent assumes. 0 with ``prune_rejected``
            = the hard filter above; ``p > 0`` = the noise-aware filter: candidates are ranked
            (and, in SCPR, weighted in the question entropy) by their posterior under that flip
            rate, ``log sigmoid(FM score) + k log(p / (1 - p))`` for ``k`` declined attributes
            held, and dropped only once ``k`` reaches ``max_declined``
            (:func:`~recoworld.agents.crs_base.candidate_view`,
            :func:`~recoworld.agents.crs_base.posterior_scores`). Needs ``prune_rejected``.
        max_declined: Declined attributes after which the noise-aware filter drops a candidate.
        holdout_fraction: Part of ``valid`` kept out of training for model selection.
        eval_every: Training sessions between model-selection evaluations.
        eval_sessions: Held-out ``valid`` sessions per model-selection evaluation (0 = none).
        rec_size: Items per recommendation.
        max_turns: Horizon, the user's opening counted as turn 1.
        fm: Settings of the FM embeddings trained when none are given.

    """

    episodes: int = 3000
    exclude_seen: bool = False
    prune_rejected: bool = False
    answer_noise: float = 0.0
    max_declined: int = 2
    holdout_fraction: float = 0.1
    eval_every: int = 500
    eval_sessions: int = 500
    rec_size: int = 10
    max_turns: int = 15
    fm: FMConfig = field(default_factory=FMConfig)

    def __post_init__(self) -> None:
        for name in ("episodes", "eval_every", "rec_size", "max_declined"):
            if getattr(self, name) < 1:
                raise ConfigError(f"`{name}` must be >= 1, got {getattr(self, name)}")
        if self.max_turns < 2:
            raise ConfigError(f"`max_turns` must be >= 2, got {self.max_turns}")
        if self.eval_sessions < 0:
            raise ConfigError(f"`eval_sessions` must be >= 0, got {self.eval_sessions}")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ConfigError(f"`holdout_fraction` must be in [0, 1), got {self.holdout_fraction}")
        if not 0.0 <= self.answer_noise < 0.5:
            raise ConfigError(f"`answer_noise` must be in [0, 0.5), got {self.answer_noise}")
        if self.answer_noise > 0.0 and not self.prune_rejected:
            raise ConfigError(
                "`answer_noise` > 0 sets the noise-aware filter of `prune_rejected`; "
                "set `prune_rejected` too (or `answer_noise` to 0)"
            )


@dataclass
class Decision:
    """What one observation implies for a learned agent.

    Attributes:
        probs: Probabilities over the flat action set (every question, then "recommend").
        candidates: The items the agent would recommend from.
        scores: Their scores (the ranking of a recommendation).

    """

    probs: npt.NDArray[np.float64]
    candidates: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]


class LearnedCRSAgent(ABC):
    """Base of the learned conversational agents (:class:`~recoworld.agents.SCPRAgent`, EAR, CRM).

    Args:
        world: The world the agent converses in.
        config: Settings (default: ``config_class()``).
        seed: Seeds every random draw of training (network initialisation, exploration, session
            order, the environment's resets).
        embeddings: FM embeddings; ``None`` = train them on ``world``'s ``train`` split in
            :meth:`learn`.

    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[LearnerConfig]]
    config: Any

    def __init__(
        self,
        world: AttributeGraphWorld,
        config: Any = None,
        seed: int = 0,
        embeddings: FMEmbeddings | None = None,
    ) -> None:
        self.world = world
        self.config = config if config is not None else self.config_class()
        if not isinstance(self.config, self.config_class):
            raise ConfigError(
                f"`config` of {type(self).__name__} must be a {self.config_class.__name__}, "
                f"got {type(self.config).__name__}"
            )
        self.seed = seed
        if embeddings is not None:
            embeddings.check_world(world)
        self.embeddings = embeddings
        self._rng = np.random.default_rng(seed)
        csc = world.item_attributes.tocsc()
        self._attribute_items = (csc.indptr, csc.indices)
        self.deterministic = True
        self.pretrained_sessions = 0
        self.episodes_done = 0
        self.best_score = -1.0
        self._best_weights: dict[str, torch.Tensor] | None = None
        self.selection_history: list[tuple[int, float]] = []
        self.train_seconds = 0.0
        self._vec: tuple[gymnasium.Env[Any, Any], ConversationalVectorEnv] | None = None
        self._build()

    # ---- subclass hooks ------------------------------------------------------------------------
    @abstractmethod
    def _build(self) -> None:
        """Create the networks and optimisers (seeded from ``self.seed``)."""

    @abstractmethod
    def _decide(self, obs: dict[str, Any]) -> Decision:
        """Everything ``obs`` implies: probabilities, candidates and their scores."""

    @abstractmethod
    def _train_sessions(
        self, env: gymnasium.Env[Any, Any], split: str, indices: npt.NDArray[np.int64]
    ) -> None:
        """Play the sessions ``indices`` of ``split`` in ``env`` and learn from them."""

    @abstractmethod
    def _selected_network(self) -> nn.Module:
        """The network whose weights model selection keeps."""

    @abstractmethod
    def _network_payload(self, lean: bool) -> dict[str, Any]:
        """The checkpoint entries of the networks (``lean`` = what acting needs only)."""

    @abstractmethod
    def _restore_network(self, payload: dict[str, Any]) -> None:
        """Read back :meth:`_network_payload`'s entries."""

    def _pretrain_total(self) -> int:
        """Sessions of the pretraining phase (none by default)."""
        return 0

    def _pretrain_sessions(
        self, env: gymnasium.Env[Any, Any], split: str, indices: npt.NDArray[np.int64]
    ) -> None:
        """Play and learn from the pretraining sessions ``indices`` (no phase by default)."""
        raise NotImplementedError

    def _batch_sessions(self) -> int:
        """Sessions per call of :meth:`_train_sessions` (one by default)."""
        return 1

    # ---- acting --------------------------------------------------------------------------------
    @property
    def n_actions(self) -> int:
        """Size of the flat action set: every question plus "recommend"."""
        return self.world.n_questions + 1

    def _emb(self) -> FMEmbeddings:
        if self.embeddings is None:
            raise ConfigError(
                f"{type(self).__name__} has no FM embeddings yet: call learn() or pass `embeddings=`"
            )
        return self.embeddings

    def _action(self, d: Decision, flat: int) -> dict[str, Any]:
        k = self.config.rec_size
        if flat == self.world.n_questions:
            return recommend_action(top_items(d.candidates, d.scores, k), k)
        if not 0 <= flat < self.world.n_questions:
            raise InvalidActionError(f"`flat` must be in [0, {self.n_actions}), got {flat}")
        return {"kind": ASK, "question": int(flat), "items": np.zeros(k, dtype=np.int64)}

    def _choose(self, d: Decision) -> int:
        if self.deterministic:
            return int(np.argmax(d.probs))
        return int(self._rng.choice(d.probs.size, p=d.probs))

    def action_dist(self, obs: dict[str, Any]) -> npt.NDArray[np.float64]:
        """Return the acting policy's probabilities over the flat action set.

        One-hot on the most likely action when ``deterministic`` (the default), else the
        policy's own distribution (what :meth:`predict` then samples from).
        """
        p = self._decide(obs).probs
        if self.deterministic:
            out = np.zeros_like(p)
            out[int(np.argmax(p))] = 1.0
            return out
        return p

    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Return the base-environment action (greedy when ``deterministic``, else sampled)."""
        d = self._decide(obs)
        return self._action(d, self._choose(d))

    def to_action(self, flat: int, obs: dict[str, Any]) -> dict[str, Any]:
        """Return the base-environment action of flat index ``flat`` (a question, or recommend)."""
        return self._action(self._decide(obs), int(flat))

    def predict_batch(
        self,
        obs: dict[str, npt.NDArray[Any]],
        active: npt.NDArray[np.bool_] | None = None,
        candidates: Any = None,
    ) -> dict[str, npt.NDArray[np.int64]]:
        """The greedy batched env action for a vector env's observations.

        Row ``i`` equals :meth:`predict` (greedy) on row ``i``'s observation, sub-environment
        ``i`` being one session (EAR's reflection memory is kept per row); only the rows of
        ``active`` (all by default) are decided, the others get a placeholder (ask question 0)
        that a vector env ignores for sub-environments it is not stepping. Each row's candidates,
        scores and state are the single path's computation; the network runs once for the batch,
        and a row whose best actions lie too close for a batched and a one-row pass to agree is
        decided by the one-row pass, so the actions are exactly the single path's.
        ``candidates`` (the env's candidate lists) is accepted for the batched evaluator's
        interface; the candidates are read off the observation.
        """
        n = len(obs["user"])
        rows = np.arange(n, dtype=np.int64) if active is None else np.flatnonzero(active)
        kind = np.zeros(n, dtype=np.int64)
        question = np.zeros(n, dtype=np.int64)
        items = np.zeros((n, self.config.rec_size), dtype=np.int64)
        slots = rows.tolist()
        picks = self._greedy_rows(slots, [{k: np.array(v[r]) for k, v in obs.items()} for r in slots])
        for r, (d, flat) in zip(slots, picks, strict=True):
            a = self._action(d, flat)
            kind[r], question[r], items[r] = a["kind"], a["question"], a["items"]
        return {"kind": kind, "question": question, "items": items}

    def _greedy_rows(
        self, slots: list[int], rows: list[dict[str, Any]]
    ) -> list[tuple[Decision, int]]:
        """Each row's decision and greedy flat action (row ``j`` is sub-environment ``slots[j]``)."""
        raise NotImplementedError

    # ---- learning ------------------------------------------------------------------------------
    def learn(
        self: _A,
        env: gymnasium.Env[Any, Any] | None = None,
        episodes: int | None = None,
        *,
        eval_env: gymnasium.Env[Any, Any] | None = None,
        progress: bool = False,
        checkpoint_path: str | Path | None = None,
        checkpoint_every: int = 500,
        callback: Callable[[Any], None] | None = None,
    ) -> _A:
        """Train (or resume training) in ``env`` up to ``episodes`` training sessions in total.

        Args:
            env: The environment to train in: a :class:`~recoworld.envs.ConversationalRecEnv`
                (or a wrapper of one) with any user, rewards, split and candidate protocol.
                Training sessions are drawn from its ``split``; when that is ``valid``, the
                held-out model-selection sessions are left out. ``None`` = the world's ``valid``
                split with the published protocol and SCPR's rewards.
            episodes: Total training sessions (default: the config's ``episodes``); a resumed or
                warm-started agent trains up to this total.
            eval_env: Where model selection plays its held-out ``valid`` sessions (default:
                ``env``, so selection meets the same user, rewards and protocol).
            progress: Show a progress bar.
            checkpoint_path: Save the whole training state there every ``checkpoint_every``
                sessions and at the end; :meth:`load` + :meth:`learn` resumes exactly.
            checkpoint_every: Sessions between checkpoints.
            callback: Called with the agent after every batch of training sessions.

        Trains the FM embeddings first when the agent has none. The greedy policy is scored on
        the held-out ``valid`` sessions after the pretraining phase (if any), every
        ``eval_every`` training sessions and at the end; the best weights are loaded at the end.

        """
        cfg = self.config
        if checkpoint_every < 1:
            raise ConfigError(f"`checkpoint_every` must be >= 1, got {checkpoint_every}")
        total = cfg.episodes if episodes is None else int(episodes)
        if total < 0:
            raise ConfigError(f"`episodes` must be >= 0, got {total}")
        train_env = conversational_env(env, self.world, cfg.rec_size, cfg.max_turns)
        select_env = (
            train_env
            if eval_env is None
            else conversational_env(eval_env, self.world, cfg.rec_size, cfg.max_turns, "eval_env")
        )
        split = str(train_env.unwrapped.split)  # type: ignore[attr-defined]
        train_idx, hold_idx = learning_sessions(
            self.world, split, cfg.holdout_fraction, cfg.eval_sessions, self.seed
        )
        start = time.perf_counter()
        if self.embeddings is None:
            self.embeddings = train_fm(self.world, cfg.fm, seed=self.seed)
        pretrain = self._pretrain_total()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(
                total=pretrain + total,
                initial=self.pretrained_sessions + self.episodes_done,
                desc=self.name.upper(),
                unit="session",
            )
        mark = (self.pretrained_sessions + self.episodes_done) // checkpoint_every

        def tick(n: int) -> None:
            nonlocal mark, start
            if bar is not None:
                bar.update(n)
            now = (self.pretrained_sessions + self.episodes_done) // checkpoint_every
            if checkpoint_path is not None and now > mark:
                self.train_seconds += time.perf_counter() - start
                start = time.perf_counter()
                self.save(checkpoint_path)
            mark = now

        def draw(n: int) -> npt.NDArray[np.int64]:
            out: npt.NDArray[np.int64] = train_idx[self._rng.integers(train_idx.size, size=n)]
            return out

        while self.pretrained_sessions < pretrain:
            n = min(self._batch_sessions(), pretrain - self.pretrained_sessions)
            self._pretrain_sessions(train_env, split, draw(n))
            self.pretrained_sessions += n
            if self.pretrained_sessions >= pretrain:
                self._select(select_env, hold_idx)
            tick(n)
        next_eval = (self.episodes_done // cfg.eval_every + 1) * cfg.eval_every
        while self.episodes_done < total:
            n = min(self._batch_sessions(), total - self.episodes_done)
            self._train_sessions(train_env, split, draw(n))
            self.episodes_done += n
            if self.episodes_done >= next_eval or self.episodes_done >= total:
                next_eval += cfg.eval_every
                self._select(select_env, hold_idx)
                if bar is not None:
                    bar.set_postfix(holdout_sr=f"{self.selection_history[-1][1]:.3f}")
            if callback is not None:
                callback(self)
            tick(n)
        if bar is not None:
            bar.close()
        if self._best_weights is not None:
            self._selected_network().load_state_dict(self._best_weights)
        self.train_seconds += time.perf_counter() - start
        if checkpoint_path is not None:
            self.save(checkpoint_path)
        return self

    def _vector_env(self, env: gymnasium.Env[Any, Any], num_envs: int) -> ConversationalVectorEnv:
        """The batched copy of a training env (built once per env handed over)."""
        cached = self._vec
        if cached is None or cached[0] is not env or cached[1].num_envs != num_envs:
            cached = self._vec = (env, vector_env_like(env, num_envs))
        return cached[1]

    def _play_vector(
        self,
        env: gymnasium.Env[Any, Any],
        split: str,
        indices: npt.NDArray[np.int64],
        num_envs: int,
        observe: Callable[[int, dict[str, Any]], Any],
        decide: Callable[[npt.NDArray[np.int64], list[Any]], npt.NDArray[np.int64]],
        act: Callable[[Any, int], dict[str, Any]],
        record: Callable[[Any, int, float, Any, int], None],
        after_step: Callable[[int], None] | None = None,
    ) -> None:
        """Play the sessions ``indices`` of ``split`` on a batched copy of ``env``.

        ``num_envs`` sessions run at once (:func:`~recoworld.envs.vector_env_like`: ``env``'s
        world, user, rewards and horizon); each slot plays sessions in the order given, the next
        starting when its own ends. The agent's callbacks: ``observe(slot, obs)`` gives a running
        slot's turn (at its session's start and after each step); ``decide(sessions, turns)`` the
        choices of all running slots in one call (``sessions``: each one's position in
        ``indices``); ``act(turn, choice)`` one slot's env action; after each batched step,
        ``record(turn, choice, reward, next_turn, session)`` every transition (``next_turn`` is
        ``None`` when the session ended) and ``after_step(transitions)``. The slots' generators are
        seeded from one draw of the agent's generator per call, so a run is reproducible and
        resumes exactly from a checkpoint.
        """
        vec = self._vector_env(env, num_envs)
        slots, n, k = vec.num_envs, indices.size, self.config.rec_size
        session = np.full(slots, -1, dtype=np.int64)  # each slot's position in ``indices``
        running = np.zeros(slots, dtype=np.bool_)
        first = min(slots, n)
        session[:first] = np.arange(first)
        running[:first] = True

        def index() -> npt.NDArray[np.int64]:
            out: npt.NDArray[np.int64] = np.where(session >= 0, indices[np.maximum(session, 0)], 0)
            return out

        def row(obs: dict[str, Any], r: int) -> dict[str, Any]:
            # copies: the env's arrays are views that the next step overwrites
            return {key: np.array(v[r]) for key, v in obs.items()}

        obs, _ = vec.reset(
            seed=int(self._rng.integers(2**31 - 1)),
            options={"split": split, "index": index(), "reset_mask": running.copy()},
        )
        turns: list[Any] = [None] * slots
        for r in range(first):
            turns[r] = observe(r, row(obs, r))
        upcoming = first
        while running.any():
            rows = np.flatnonzero(running)
            live = [turns[r] for r in rows.tolist()]
            choice = decide(session[rows], live)
            kind = np.zeros(slots, dtype=np.int64)
            question = np.zeros(slots, dtype=np.int64)
            items = np.zeros((slots, k), dtype=np.int64)
            for r, t, c in zip(rows.tolist(), live, choice.tolist(), strict=True):
                a = act(t, int(c))
                kind[r], question[r], items[r] = a["kind"], a["question"], a["items"]
            obs, reward, term, trunc, _ = vec.step(
                {"kind": kind, "question": question, "items": items}
            )
            stop = np.zeros(slots, dtype=np.bool_)
            stop[rows] = (term | trunc)[rows]
            for j, r in enumerate(rows.tolist()):
                nxt = None if stop[r] else observe(r, row(obs, r))
                record(live[j], int(choice[j]), float(reward[r]), nxt, int(session[r]))
                turns[r] = nxt
            if after_step is not None:
                after_step(rows.size)
            if not stop.any():
                continue
            restart = np.flatnonzero(stop)[: max(0, n - upcoming)]
            running[stop] = False
            if restart.size:
                session[restart] = np.arange(upcoming, upcoming + restart.size)
                upcoming += restart.size
                running[restart] = True
                mask = np.zeros(slots, dtype=np.bool_)
                mask[restart] = True
                obs, _ = vec.reset(options={"split": split, "index": index(), "reset_mask": mask})
                for r in restart.tolist():
                    turns[r] = observe(r, row(obs, r))

    def _reset(
        self, env: gymnasium.Env[Any, Any], split: str, index: int
    ) -> dict[str, Any]:
        """Start training session ``index`` of ``split``, the env seeded from the agent's draw."""
        obs, _ = env.reset(
            seed=int(self._rng.integers(2**31 - 1)), options={"split": split, "index": index}
        )
        out: dict[str, Any] = obs
        return out

    def _select(self, env: gymnasium.Env[Any, Any], hold_idx: npt.NDArray[np.int64]) -> None:
        """Score the greedy policy on ``hold_idx``; keep the weights when they are the best yet."""
        net = self._selected_network()
        if hold_idx.size == 0:
            self._best_weights = copy.deepcopy(net.state_dict())
            self.selection_history.append((self.episodes_done, float("nan")))
            return
        deterministic, self.deterministic = self.deterministic, True
        try:
            sr = success_rate(env, self, "valid", hold_idx, seed=self.seed)
        finally:
            self.deterministic = deterministic
        self.selection_history.append((self.episodes_done, sr))
        if sr > self.best_score:
            self.best_score = sr
            self._best_weights = copy.deepcopy(net.state_dict())

    def forget_selection(self) -> None:
        """Drop the best score and weights kept so far (the history stays).

        For warm starts in another environment: scores measured against one user say nothing
        about another, so the next :meth:`learn` selects among its own evaluations only.
        """
        self.best_score = -1.0
        self._best_weights = None

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path, *, lean: bool = False) -> None:
        """Write settings, embeddings, weights and the training state to ``path``.

        ``lean=True`` leaves out what only resuming training needs and that is large (SCPR's
        replay buffer): enough to act and evaluate; resuming then starts from an empty buffer.
        """
        payload: dict[str, Any] = {
            **checkpoint_header(self.name, self.config, self.seed, self.world),
            **self._network_payload(lean),
            "rng": rng_state(self._rng),
            "pretrained_sessions": self.pretrained_sessions,
            "episodes_done": self.episodes_done,
            "best_score": self.best_score,
            "best_weights": self._best_weights,
            "selection_history": [list(x) for x in self.selection_history],
            "train_seconds": self.train_seconds,
        }
        if self.embeddings is not None:
            payload["embeddings"] = embeddings_payload(self.embeddings)
        save_checkpoint(path, payload)

    @classmethod
    def load(cls: type[_A], path: str | Path, world: AttributeGraphWorld) -> _A:
        """Rebuild an agent saved by :meth:`save` (resumable with :meth:`learn`)."""
        payload = load_checkpoint(path, cls.name)
        check_world(payload, world, path)
        config = config_from_dict(cls.config_class, payload["config"], {"fm": FMConfig})
        emb = None
        if "embeddings" in payload:
            emb = embeddings_from_payload(payload["embeddings"])
        agent = cls(world, config, seed=int(payload["seed"]), embeddings=emb)
        agent._restore_network(payload)
        agent._rng = rng_from_state(payload["rng"])
        agent.pretrained_sessions = int(payload.get("pretrained_sessions", 0))
        agent.episodes_done = int(payload["episodes_done"])
        agent.best_score = float(payload["best_score"])
        agent._best_weights = payload["best_weights"]
        agent.selection_history = [(int(a), float(b)) for a, b in payload["selection_history"]]
        agent.train_seconds = float(payload["train_seconds"])
        return agent
