"""Shared engine of the policy-gradient conversational agents (EAR, CRM).

A 2-layer policy network maps a state vector (built by the subclass) to logits over every
question plus "recommend"; questions already asked (and, optionally, held by no candidate) are
masked. Training is the EAR recipe: imitate the max-entropy rule on sessions of the training
environment, then REINFORCE with discounted returns normalised per batch of episodes. Items are
ranked by the FM score, optionally after EAR's reflection (a session-local BPR step on the user
vector, the rejected items as negatives and the remaining candidates as positives).

Reflection's memory is explicit (:class:`ReflectionMemory`, updated by the pure function
:func:`reflect`): it depends only on the observations of the session, never on which method was
called, so ``action_dist`` and ``predict`` agree on every observation, and an agent that only
scores another policy's trajectory (an evaluation policy of :func:`recoworld.estimators.collect`)
reflects on the recommendations that policy made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from recoworld._validate import require_range
from recoworld.agents.crs_base import (
    candidate_view,
    dialogue_features,
    n_dialogue_features,
    posterior_scores,
)
from recoworld.agents.fm import FMEmbeddings
from recoworld.agents.learner import Decision, LearnedCRSAgent, LearnerConfig
from recoworld.envs.crs_stats import question_entropy, reachable_questions

__all__ = [
    "PolicyGradientAgent",
    "PolicyGradientConfig",
    "ReflectionMemory",
    "reflect",
    "validate_settings",
]


def validate_settings(cfg: Any) -> None:
    """Raise :class:`ConfigError` for out-of-range settings of an EAR / CRM config."""
    for name in ("batch_episodes", "hidden", "imitation_threshold"):
        require_range(name, getattr(cfg, name), 1)
    for name in ("pretrain_sessions", "entropy_coef", "reflection_lr"):
        require_range(name, getattr(cfg, name), 0)
    for name in ("lr", "pretrain_lr"):
        require_range(name, getattr(cfg, name), 0, low_open=True)
    require_range("gamma", cfg.gamma, 0, 1)


@dataclass(frozen=True)
class PolicyGradientConfig(LearnerConfig):
    """Settings of a :class:`PolicyGradientAgent` (EAR's defaults; subclasses override some).

    Besides the fields of :class:`~recoworld.agents.learner.LearnerConfig` (REINFORCE sessions,
    candidate filters, model selection, ``rec_size``, ``max_turns``, FM settings):

    Attributes:
        pretrain_sessions: Training sessions of max-entropy demonstrations to imitate.
        imitation_threshold: The imitated rule recommends once at most this many candidates
            remain (and always on the last action).
        batch_episodes: Sessions per gradient step (pretraining and REINFORCE).
        hidden: Width of the policy's hidden layer.
        lr: Adam learning rate of REINFORCE.
        pretrain_lr: Adam learning rate of the imitation.
        gamma: Discount of the returns (EAR uses 0.7).
        entropy_coef: Weight of the policy-entropy bonus.
        reflection: Apply EAR's reflection after each rejected recommendation.
        reflection_lr: Step size of the reflection update.
        mask_unreachable: Mask questions no candidate can answer differently (zero entropy or
            held by no candidate) besides those already asked; off = mask asked ones only (EAR).
        num_envs: Conversations played at once in training. 1 (EAR) plays the sessions of a
            gradient step one after another in the env handed to ``learn``; ``N > 1`` plays them
            ``N`` at a time on a :class:`~recoworld.envs.ConversationalVectorEnv` with that env's
            settings (the published candidate protocol only), the policy deciding for all running
            sessions in one pass. The update is the same: one per ``batch_episodes`` sessions.

    """

    pretrain_sessions: int = 1000
    imitation_threshold: int = 10
    batch_episodes: int = 16
    hidden: int = 64
    lr: float = 1e-3
    pretrain_lr: float = 3e-3
    gamma: float = 0.7
    entropy_coef: float = 0.01
    reflection: bool = True
    reflection_lr: float = 0.01
    mask_unreachable: bool = True
    num_envs: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        validate_settings(self)
        require_range("num_envs", self.num_envs, 1)


@dataclass(frozen=True)
class ReflectionMemory:
    """What EAR's reflection remembers of a session: its last observation and the user vector.

    Attributes:
        user: The session's user.
        turn: The turn of the last observation.
        asked: Questions asked by then.
        candidates: That observation's candidate mask.
        vector: The (reflected) user vector in force at that observation.

    """

    user: int
    turn: int
    asked: int
    candidates: npt.NDArray[np.int8]
    vector: npt.NDArray[np.float32]


def reflect(
    memory: ReflectionMemory | None, obs: dict[str, Any], emb: FMEmbeddings, lr: float
) -> ReflectionMemory:
    """Return the reflection memory after ``obs`` (a pure function of the memory and ``obs``).

    * ``obs`` is the observation ``memory`` describes: unchanged;
    * ``obs`` opens a session or does not follow ``memory`` (another user, or a turn other than the
      next): the user's FM vector, unreflected;
    * ``obs`` follows a question (one more question asked): the vector carries over;
    * ``obs`` follows a rejected recommendation: one BPR step with the items that left the
      candidate set (the rejected ones) as negatives and the mean of the remaining candidates as
      the positive, ``vector += lr * sum over negatives n of sigmoid(-(pos - n).q) (pos - n)`` with
      ``q`` the vector plus the accepted attributes' embeddings.
    """
    user, turn = int(obs["user"]), int(obs["turn"])
    cand = np.asarray(obs["candidates"], dtype=np.int8)
    asked = int(np.count_nonzero(obs["asked"]))
    if (
        memory is not None
        and memory.user == user
        and memory.turn == turn
        and memory.asked == asked
        and np.array_equal(memory.candidates, cand)
    ):
        return memory
    if memory is None or memory.user != user or turn != memory.turn + 1:
        return ReflectionMemory(user, turn, asked, cand, emb.user[user].copy())
    vector = memory.vector
    if asked == memory.asked:
        rejected = np.flatnonzero((memory.candidates == 1) & (cand == 0))
        remaining = np.flatnonzero(cand)
        if rejected.size and remaining.size:
            pos = emb.item[remaining].mean(axis=0)
            neg = emb.item[rejected]
            q = vector + emb.attribute[np.flatnonzero(obs["accepted"])].sum(axis=0)
            x = (pos - neg) @ q
            g = (1.0 / (1.0 + np.exp(np.clip(x, -30, 30))))[:, None] * (pos[None, :] - neg)
            vector = (vector + lr * g.sum(axis=0)).astype(np.float32)
    return ReflectionMemory(user, turn, asked, cand, vector)


class _Policy(nn.Module):
    def __init__(self, in_dim: int, hidden: int, n_actions: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_actions)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x)
        return out


class _Step:
    """What one observation implies: state, action mask, candidates, item scores, entropy."""

    __slots__ = ("candidates", "entropy", "mask", "scores", "state")

    def __init__(
        self,
        state: npt.NDArray[np.float32],
        mask: npt.NDArray[np.bool_],
        candidates: npt.NDArray[np.int64],
        scores: npt.NDArray[np.float64],
        entropy: npt.NDArray[np.float64],
    ) -> None:
        self.state, self.mask, self.candidates = state, mask, candidates
        self.scores, self.entropy = scores, entropy

    def decision(self, probs: npt.NDArray[np.float64]) -> Decision:
        return Decision(probs, self.candidates, self.scores)


class PolicyGradientAgent(LearnedCRSAgent):
    """Base of :class:`~recoworld.agents.ear.EARAgent` and :class:`~recoworld.agents.crm.CRMAgent`.

    Subclasses set ``name`` and ``config_class`` and implement :meth:`_extra_state_dim` and
    :meth:`_extra_state` (the part of the state before the dialogue summary). With
    ``deterministic = False`` the agent samples from its policy (``action_dist`` is then the
    policy's softmax), e.g. to log trajectories with propensities.
    """

    def _build(self) -> None:
        cfg = self.config
        self.state_dim = self._extra_state_dim() + n_dialogue_features(cfg.max_turns)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.policy = _Policy(self.state_dim, cfg.hidden, self.world.n_questions + 1)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
        self.reflection: ReflectionMemory | None = None
        self._slot_memory: dict[int, ReflectionMemory] = {}  # per slot, in batched play

    # ---- subclass hooks ------------------------------------------------------------------------
    def _extra_state_dim(self) -> int:
        raise NotImplementedError

    def _extra_state(
        self, obs: dict[str, Any], entropy: npt.NDArray[np.float64], query: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        raise NotImplementedError

    # ---- acting --------------------------------------------------------------------------------
    def _user_vector(self, obs: dict[str, Any]) -> npt.NDArray[np.float32]:
        """The session's user vector: reflected (:func:`reflect`) when reflection is on."""
        emb = self._emb()
        if not self.config.reflection:
            row: npt.NDArray[np.float32] = emb.user[int(obs["user"])]
            return row
        self.reflection = reflect(self.reflection, obs, emb, self.config.reflection_lr)
        return self.reflection.vector

    def _step(self, obs: dict[str, Any]) -> _Step:
        cfg = self.config
        emb = self._emb()
        cand, offset = candidate_view(
            self.world, self._attribute_items, obs, exclude_seen=cfg.exclude_seen,
            prune_rejected=cfg.prune_rejected, answer_noise=cfg.answer_noise,
            max_declined=cfg.max_declined,
        )
        query = self._user_vector(obs) + emb.attribute[np.flatnonzero(obs["accepted"])].sum(axis=0)
        scores = (emb.item[cand] @ query).astype(np.float64)
        if cfg.answer_noise > 0.0:
            scores = posterior_scores(scores, offset)
        entropy = question_entropy(self.world, cand) if cand.size else np.zeros(
            self.world.n_questions
        )
        mask = np.ones(self.n_actions, dtype=np.bool_)
        if cfg.mask_unreachable:
            mask[:-1] = reachable_questions(self.world, cand, obs["asked"], obs["accepted"])
            mask[:-1] &= entropy > 0
        else:
            mask[:-1] = np.asarray(obs["asked"]) == 0
        state = np.concatenate(
            [
                self._extra_state(obs, entropy, query),
                dialogue_features(obs, cand.size, cfg.max_turns),
            ]
        ).astype(np.float32)
        return _Step(state, mask, cand, scores, entropy)

    def _logits(self, states: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.policy(states).masked_fill(~masks, -1e9)
        return out

    def _probs(self, s: _Step) -> npt.NDArray[np.float64]:
        with torch.no_grad():
            logits = self._logits(torch.from_numpy(s.state)[None], torch.from_numpy(s.mask)[None])
            p: npt.NDArray[np.float64] = torch.softmax(logits, dim=1)[0].double().numpy()
        p[~s.mask] = 0.0
        out: npt.NDArray[np.float64] = p / p.sum()
        return out

    def _decide(self, obs: dict[str, Any]) -> Decision:
        s = self._step(obs)
        return s.decision(self._probs(s))

    def _greedy_rows(
        self, slots: list[int], rows: list[dict[str, Any]]
    ) -> list[tuple[Decision, int]]:
        """Each row's decision and greedy action, reflecting with its slot's own memory.

        One policy pass for all rows; a row whose two most likely actions lie too close for the
        batched and the one-row pass to agree is decided by the one-row pass.
        """
        if not rows:
            return []
        steps = [self._observe_slot(s, obs) for s, obs in zip(slots, rows, strict=True)]
        probs = self._batch_probs(steps)
        top2 = -np.partition(-probs, 1, axis=1)[:, :2]
        for j in np.flatnonzero(top2[:, 0] - top2[:, 1] <= 1e-4 * top2[:, 0]).tolist():
            probs[j] = self._probs(steps[j])
        return [(s.decision(p), int(np.argmax(p))) for s, p in zip(steps, probs, strict=True)]

    # ---- learning ------------------------------------------------------------------------------
    def _rule_action(self, s: _Step, turn: int) -> int:
        """The max-entropy rule EAR imitates.

        Ask the best question until at most ``imitation_threshold`` candidates remain, none is
        left to ask, or the agent's last action has come (asking then cannot end in success).
        """
        n_q = self.world.n_questions
        cfg = self.config
        if (
            s.candidates.size <= cfg.imitation_threshold
            or not s.mask[:-1].any()
            or turn >= cfg.max_turns - 1
        ):
            return n_q
        h = np.where(s.mask[:-1], s.entropy, -1.0)
        return int(np.argmax(h))

    def _pretrain_total(self) -> int:
        return int(self.config.pretrain_sessions)

    def _batch_sessions(self) -> int:
        return int(self.config.batch_episodes)

    def _observe_slot(self, slot: int, obs: dict[str, Any]) -> _Step:
        """:meth:`_step` with the reflection memory of ``slot``'s session (batched play)."""
        self.reflection = self._slot_memory.get(slot)
        s = self._step(obs)
        if self.reflection is not None:
            self._slot_memory[slot] = self.reflection
        return s

    def _play_batch(
        self,
        env: gymnasium.Env[Any, Any],
        split: str,
        indices: npt.NDArray[np.int64],
        decide: Callable[[list[tuple[_Step, int]]], npt.NDArray[np.int64]],
    ) -> list[list[tuple[_Step, int, float]]]:
        """Play ``indices`` ``num_envs`` at a time; each session's (step, action, reward) list."""
        played: list[list[tuple[_Step, int, float]]] = [[] for _ in range(indices.size)]

        def record(t: tuple[_Step, int], choice: int, reward: float, nxt: Any, k: int) -> None:
            played[k].append((t[0], choice, reward))

        self._slot_memory = {}
        try:
            self._play_vector(
                env, split, indices, self.config.num_envs,
                lambda slot, obs: (self._observe_slot(slot, obs), int(obs["turn"])),
                lambda sessions, turns: decide(turns),
                lambda t, c: self._action(t[0].decision(np.zeros(0)), c), record,
            )  # fmt: skip
        finally:
            self._slot_memory = {}
            self.reflection = None
        return played

    def _batch_probs(self, steps: list[_Step]) -> npt.NDArray[np.float64]:
        """:meth:`_probs` of every step, from one forward pass."""
        states = torch.from_numpy(np.stack([s.state for s in steps]))
        masks = np.stack([s.mask for s in steps])
        with torch.no_grad():
            p = torch.softmax(self._logits(states, torch.from_numpy(masks)), dim=1).double().numpy()
        p[~masks] = 0.0
        out: npt.NDArray[np.float64] = p / p.sum(axis=1, keepdims=True)
        return out

    def _pretrain_sessions(
        self, env: gymnasium.Env[Any, Any], split: str, indices: npt.NDArray[np.int64]
    ) -> None:
        if self.config.num_envs > 1:
            played = self._play_batch(
                env, split, indices,
                lambda turns: np.array([self._rule_action(s, turn) for s, turn in turns]),
            )  # fmt: skip
            steps = [x for session in played for x in session]
            self._imitate([s.state for s, _, _ in steps], [s.mask for s, _, _ in steps],
                          [a for _, a, _ in steps])  # fmt: skip
            return
        states, masks, actions = [], [], []
        for i in indices.tolist():
            obs = self._reset(env, split, int(i))
            while True:
                s = self._step(obs)
                a = self._rule_action(s, int(obs["turn"]))
                states.append(s.state)
                masks.append(s.mask)
                actions.append(a)
                obs, _, term, trunc, _ = env.step(self._action(s.decision(np.zeros(0)), a))
                if term or trunc:
                    break
        self._imitate(states, masks, actions)

    def _imitate(
        self,
        states: list[npt.NDArray[np.float32]],
        masks: list[npt.NDArray[np.bool_]],
        actions: list[int],
    ) -> None:
        """One imitation step towards the rule's ``actions``."""
        logits = self._logits(torch.from_numpy(np.stack(states)), torch.from_numpy(np.stack(masks)))
        loss = nn.functional.cross_entropy(logits, torch.tensor(actions, dtype=torch.int64))
        self._optimise(loss, self.config.pretrain_lr)

    def _optimise(self, loss: torch.Tensor, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(self.policy.parameters(), 5.0)
        self.optimizer.step()

    def _train_sessions(
        self, env: gymnasium.Env[Any, Any], split: str, indices: npt.NDArray[np.int64]
    ) -> None:
        cfg = self.config
        states, masks, actions, returns = [], [], [], []
        sessions: list[list[float]] = []
        if cfg.num_envs > 1:

            def sample(turns: list[tuple[_Step, int]]) -> npt.NDArray[np.int64]:
                probs = self._batch_probs([s for s, _ in turns])
                return np.array([int(self._rng.choice(p.size, p=p)) for p in probs])

            for session in self._play_batch(env, split, indices, sample):
                for s, a, _ in session:
                    states.append(s.state)
                    masks.append(s.mask)
                    actions.append(a)
                sessions.append([r for _, _, r in session])
        else:
            for i in indices.tolist():
                obs = self._reset(env, split, int(i))
                rewards = []
                while True:
                    s = self._step(obs)
                    p = self._probs(s)
                    a = int(self._rng.choice(p.size, p=p))
                    states.append(s.state)
                    masks.append(s.mask)
                    actions.append(a)
                    obs, r, term, trunc, _ = env.step(self._action(s.decision(p), a))
                    rewards.append(float(r))
                    if term or trunc:
                        break
                sessions.append(rewards)
        for rewards in sessions:
            g = 0.0
            ep_returns = []
            for r in reversed(rewards):
                g = r + cfg.gamma * g
                ep_returns.append(g)
            returns.extend(reversed(ep_returns))
        ret = torch.tensor(returns, dtype=torch.float32)
        adv = (ret - ret.mean()) / (ret.std() + 1e-6) if ret.numel() > 1 else ret * 0
        logits = self._logits(torch.from_numpy(np.stack(states)), torch.from_numpy(np.stack(masks)))
        logp = torch.log_softmax(logits, dim=1)
        chosen = logp.gather(1, torch.tensor(actions, dtype=torch.int64)[:, None])[:, 0]
        entropy = -(logp.exp() * logp).sum(1).mean()
        loss = -(chosen * adv).mean() - cfg.entropy_coef * entropy
        self._optimise(loss, cfg.lr)

    def _selected_network(self) -> nn.Module:
        return self.policy

    # ---- persistence ---------------------------------------------------------------------------
    def _network_payload(self, lean: bool) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict()}

    def _restore_network(self, payload: dict[str, Any]) -> None:
        self.policy.load_state_dict(payload["policy"])
        self.optimizer.load_state_dict(payload["optimizer"])
