"""SCPR (Lei et al., KDD 2020): adjacent-attribute reasoning with a DQN that asks or recommends.

Each turn the agent

1. takes the candidates (items holding every accepted attribute, minus rejected recommendations)
   and scores them with the FM score ``s_v = e_u.e_v + sum over accepted a of e_a.e_v``;
2. finds the *adjacent* questions: attributes one hop from the accepted attributes through the
   candidate items (and, with ``friend_hop``, through the user's friends who like an accepted
   attribute), minus those accepted or asked; among them, the one of maximum entropy, each item
   weighted by the sigmoid of its FM score (``weighted_entropy``, the stronger variant);
3. lets a DQN over a conversation summary choose between asking that question and recommending
   the ``rec_size`` best-scored candidates.

Training follows SCPR: embeddings on the ``train`` split (:func:`~recoworld.agents.fm.train_fm`),
DQN in the environment handed to :meth:`SCPRAgent.learn` (by default the ``valid`` sessions of the
published protocol) with experience replay, a target network and epsilon-greedy exploration
(double-DQN targets). A held-out part of ``valid`` selects the best weights; ``test`` is never
read.

Departures from the released code, each a setting: the question set excludes questions of zero
entropy (every candidate answers alike, so the answer is known; ``skip_known_questions``),
``score_features`` adds how concentrated the FM scores are to the DQN's state, and the FM
embeddings are our own training unless SCPR's released ones are passed
(:meth:`~recoworld.agents.fm.FMEmbeddings.from_scpr_release`, LastFM only).
:meth:`SCPRConfig.faithful` turns the first two off; what stays different from the released code
even then is listed there.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
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
from recoworld.agents.fm import FMScorer
from recoworld.agents.learner import Decision, LearnedCRSAgent, LearnerConfig
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.crs_stats import question_entropy, reachable_entropy, reachable_questions

__all__ = ["SCPRAgent", "SCPRConfig", "scpr_question"]

_N_SCORE_FEATURES = 4
_ASK_ACTION = 0
_REC_ACTION = 1


@dataclass(frozen=True)
class SCPRConfig(LearnerConfig):
    """Settings of :class:`SCPRAgent` (defaults: SCPR with the improvements named in the module).

    Besides the fields of :class:`~recoworld.agents.learner.LearnerConfig` (training sessions,
    candidate filters, model selection, ``rec_size``, ``max_turns``, FM settings):

    Attributes:
        hidden: Width of the DQN's two hidden layers.
        lr: Adam learning rate of the DQN.
        gamma: Discount factor.
        batch_size: Transitions per gradient step (one step per environment step).
        buffer_size: Replay capacity in transitions.
        learning_starts: Transitions collected before the first gradient step.
        target_update: Gradient steps between target-network copies.
        eps_start: Initial exploration rate.
        eps_end: Final exploration rate.
        eps_fraction: Fraction of ``episodes`` over which exploration decays linearly.
        weighted_entropy: Weight items by the sigmoid of their FM score in the question entropy.
        friend_hop: Also reach attributes liked by the user's friends who like an accepted one.
        skip_known_questions: Exclude questions of zero entropy (the answer is already known).
        score_features: Add FM-score concentration features to the DQN state.
        rejected_weight: How much each rejected attribute lowers an item's score (0 = SCPR).
        num_envs: Conversations played at once in training. 1 (SCPR) plays one session at a
            time in the env handed to ``learn``; ``N > 1`` plays ``N`` on a
            :class:`~recoworld.envs.ConversationalVectorEnv` with that env's settings (its user's
            batched form, its rewards and split; the published candidate protocol only), the
            DQN deciding for all ``N`` in one pass, each slot starting the next session when its
            own ends; the learn loop hands over ``4 N`` sessions at a time.
        transitions_per_update: Transitions collected per gradient step (1 = SCPR's step per
            environment step). With ``num_envs > 1`` the gradient steps are taken after each
            batched step, one per ``transitions_per_update`` transitions it added.

    """

    hidden: int = 64
    lr: float = 1e-3
    gamma: float = 0.99
    batch_size: int = 64
    buffer_size: int = 50_000
    learning_starts: int = 500
    target_update: int = 250
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_fraction: float = 0.5
    weighted_entropy: bool = True
    friend_hop: bool = False
    skip_known_questions: bool = True
    score_features: bool = True
    rejected_weight: float = 0.0
    num_envs: int = 1
    transitions_per_update: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in (
            "hidden", "batch_size", "buffer_size", "target_update", "num_envs",
            "transitions_per_update",
        ):
            require_range(name, getattr(self, name), 1)
        for name in ("gamma", "eps_start", "eps_end", "eps_fraction"):
            require_range(name, getattr(self, name), 0, 1)
        require_range("lr", self.lr, 0, low_open=True)
        require_range("learning_starts", self.learning_starts, 0)

    @classmethod
    def faithful(cls, **overrides: Any) -> SCPRConfig:
        """SCPR as close to the released code as the library allows.

        Turns off our two additions (``skip_known_questions``, ``score_features``); pair it with
        SCPR's released FM embeddings (:meth:`FMEmbeddings.from_scpr_release`, LastFM only) to
        turn off the third. What stays different from the released code: the DQN's state is the
        conversation's counts (turn, questions, accepted attributes, failed recommendations, each
        one-hot) and a 16-bucket candidate count instead of the ordered turn history, so that
        ``predict`` needs only the observation; double-DQN targets with a Huber loss, gradient
        clipping and a linearly decaying exploration rate; 3,000 training sessions with model
        selection on held-out ``valid`` sessions; and, on LastFM*, our FM embeddings (no
        released ones exist).
        """
        return replace(cls(skip_known_questions=False, score_features=False), **overrides)


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def scpr_question(
    world: AttributeGraphWorld,
    obs: dict[str, Any],
    candidates: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64] | None,
    friend_attributes: npt.NDArray[np.bool_] | None = None,
    skip_known: bool = True,
) -> int:
    """Return the adjacent question of maximum (weighted) entropy, or -1 when none is worth asking.

    Args:
        world: The world.
        obs: Base-environment observation (``asked`` and ``accepted`` are read).
        candidates: Current candidate item ids.
        weights: Item weights of ``candidates`` in the entropy (SCPR: the sigmoid of their FM
            scores); ``None`` = plain entropy.
        friend_attributes: Boolean mask of attributes the friend hop reaches, or ``None``.
        skip_known: Treat questions of zero entropy as not worth asking.

    """
    if candidates.size == 0:
        return -1
    if friend_attributes is None:
        # One pass over the candidates gives reachability and entropy together.
        h = reachable_entropy(world, candidates, obs["asked"], obs["accepted"], weights)
    else:
        reach = reachable_questions(
            world, candidates, obs["asked"], obs["accepted"], friend_attributes
        )
        h = np.where(reach, question_entropy(world, candidates, weights), -np.inf)
    best = int(np.argmax(h))
    if not np.isfinite(h[best]) or (skip_known and h[best] <= 0.0):
        return -1
    return best


class _QNet(nn.Module):
    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x)
        return out


@dataclass
class _Turn:
    """What one observation implies: state vector, best question, candidates and their scores."""

    state: npt.NDArray[np.float32]
    question: int
    candidates: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]

    @property
    def mask(self) -> npt.NDArray[np.bool_]:
        return np.array([self.question >= 0, True])

    def decision(self) -> Decision:
        """The candidates and scores a recommendation ranks (``probs`` unused)."""
        return Decision(np.zeros(0), self.candidates, self.scores)


class _Replay:
    def __init__(self, capacity: int, dim: int) -> None:
        self.s = np.zeros((capacity, dim), dtype=np.float32)
        self.s2 = np.zeros((capacity, dim), dtype=np.float32)
        self.a = np.zeros(capacity, dtype=np.int64)
        self.r = np.zeros(capacity, dtype=np.float32)
        self.done = np.zeros(capacity, dtype=np.float32)
        self.mask2 = np.zeros((capacity, 2), dtype=np.bool_)
        self.ptr = 0
        self.size = 0

    def add(
        self, s: npt.NDArray[np.float32], a: int, r: float, s2: npt.NDArray[np.float32],
        done: bool, mask2: npt.NDArray[np.bool_],
    ) -> None:
        i = self.ptr
        self.s[i], self.a[i], self.r[i], self.s2[i] = s, a, r, s2
        self.done[i], self.mask2[i] = float(done), mask2
        self.ptr = (i + 1) % self.s.shape[0]
        self.size = min(self.size + 1, self.s.shape[0])

    def arrays(self) -> dict[str, torch.Tensor]:
        n = self.size
        return {
            "s": torch.from_numpy(self.s[:n].copy()), "s2": torch.from_numpy(self.s2[:n].copy()),
            "a": torch.from_numpy(self.a[:n].copy()), "r": torch.from_numpy(self.r[:n].copy()),
            "done": torch.from_numpy(self.done[:n].copy()),
            "mask2": torch.from_numpy(self.mask2[:n].copy()),
            "ptr": torch.tensor(self.ptr),
        }

    def restore(self, d: dict[str, torch.Tensor]) -> None:
        n = int(d["a"].shape[0])
        self.s[:n], self.s2[:n] = d["s"].numpy(), d["s2"].numpy()
        self.a[:n], self.r[:n] = d["a"].numpy(), d["r"].numpy()
        self.done[:n], self.mask2[:n] = d["done"].numpy(), d["mask2"].numpy()
        self.size, self.ptr = n, int(d["ptr"])


class SCPRAgent(LearnedCRSAgent):
    """SCPR: FM-ranked items, adjacent max-entropy questions, DQN deciding ask vs recommend.

    Args:
        world: The world the agent converses in.
        config: Settings (default :class:`SCPRConfig`).
        seed: Seeds every random draw of training (network initialisation, exploration, replay
            sampling, session order, the environment).
        embeddings: FM embeddings; ``None`` = train them on ``world``'s ``train`` split in
            :meth:`learn` (pass :meth:`FMEmbeddings.from_scpr_release` to use SCPR's).

    The learn loop, model selection, checkpoints and ``save`` / ``load`` are
    :class:`~recoworld.agents.learner.LearnedCRSAgent`'s. SCPR's policy is greedy: its
    ``action_dist`` is one-hot (mix it with another policy for off-policy logs).

    """

    name = "scpr"
    config_class = SCPRConfig
    config: SCPRConfig

    def _build(self) -> None:
        cfg = self.config
        self.state_dim = n_dialogue_features(cfg.max_turns) + (
            _N_SCORE_FEATURES if cfg.score_features else 0
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.q_net = _QNet(self.state_dim, cfg.hidden)
        self.target_net = copy.deepcopy(self.q_net)
        self.optimizer = torch.optim.Adam(self.q_net.parameters(), lr=cfg.lr)
        self._replay = _Replay(cfg.buffer_size, self.state_dim)
        self.grad_steps = 0
        self._pending = 0  # transitions collected since the last gradient step (batched training)

    # ---- acting --------------------------------------------------------------------------------
    def _scorer(self) -> FMScorer:
        return FMScorer(self._emb(), self.config.rejected_weight)

    def _friend_attributes(self, obs: dict[str, Any]) -> npt.NDArray[np.bool_] | None:
        if not self.config.friend_hop:
            return None
        w = self.world
        fr = w.friends
        u = int(obs["user"])
        friends = fr.indices[fr.indptr[u] : fr.indptr[u + 1]]
        if friends.size == 0:
            return np.zeros(w.n_attributes, dtype=np.bool_)
        likes = w.user_attributes[friends]
        acc = np.asarray(obs["accepted"], dtype=np.bool_)
        share = np.asarray(likes[:, acc].sum(axis=1)).ravel() > 0
        if not share.any():
            return np.zeros(w.n_attributes, dtype=np.bool_)
        return np.asarray(likes[share].sum(axis=0)).ravel() > 0

    def _turn(self, obs: dict[str, Any]) -> _Turn:
        cfg = self.config
        cand, offset = candidate_view(
            self.world, self._attribute_items, obs, exclude_seen=cfg.exclude_seen,
            prune_rejected=cfg.prune_rejected, answer_noise=cfg.answer_noise,
            max_declined=cfg.max_declined,
        )
        scores = self._scorer().scores(int(obs["user"]), obs["accepted"], obs["rejected"], cand)
        if cfg.answer_noise > 0.0:
            scores = posterior_scores(scores, offset)
            weights = np.exp(scores)
        else:
            weights = _sigmoid(scores)
        question = scpr_question(
            self.world,
            obs,
            cand,
            weights if cfg.weighted_entropy else None,
            self._friend_attributes(obs),
            cfg.skip_known_questions,
        )
        state = dialogue_features(obs, cand.size, cfg.max_turns)
        if cfg.score_features:
            state = np.concatenate([state, self._score_features(scores)])
        return _Turn(state, question, cand, scores)

    def _score_features(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        out = np.zeros(_N_SCORE_FEATURES, dtype=np.float32)
        if scores.size == 0:
            return out
        k = self.config.rec_size
        p = np.exp(scores - scores.max())
        p /= p.sum()
        top = np.sort(p)[::-1]
        out[0] = top[:k].sum()
        out[1] = top[0]
        out[2] = min(scores.size, k) / max(scores.size, 1)
        out[3] = np.log1p(scores.size) / np.log1p(self.world.n_items)
        return out

    def q_values(self, obs: dict[str, Any]) -> npt.NDArray[np.float64]:
        """DQN values of (ask, recommend); ask is ``-inf`` when no question is worth asking."""
        return self._q(self._turn(obs))

    def _q(self, t: _Turn) -> npt.NDArray[np.float64]:
        with torch.no_grad():
            q: npt.NDArray[np.float64] = (
                self.q_net(torch.from_numpy(t.state)[None])[0].numpy().astype(np.float64)
            )
        q[~t.mask] = -np.inf
        return q

    def _flat(self, t: _Turn, choice: int) -> int:
        return t.question if choice == _ASK_ACTION else self.world.n_questions

    def _decide(self, obs: dict[str, Any]) -> Decision:
        t = self._turn(obs)
        probs = np.zeros(self.n_actions)
        probs[self._flat(t, int(np.argmax(self._q(t))))] = 1.0
        return Decision(probs, t.candidates, t.scores)

    # ---- batches -------------------------------------------------------------------------------
    def _greedy(self, turns: list[_Turn]) -> npt.NDArray[np.int64]:
        """The DQN's choice (ask / recommend) for each turn, exactly as :meth:`_q` makes it.

        One forward pass for all turns. A batched pass may differ from a one-row pass in the last
        bits, so a row whose two values lie too close for the larger to be certain is decided by
        the one-row pass: the choices are those of the single path.
        """
        states = np.stack([t.state for t in turns])
        with torch.no_grad():
            q = self.q_net(torch.from_numpy(states)).numpy().astype(np.float64)
        close = np.abs(q[:, 0] - q[:, 1]) <= 1e-4 * np.maximum(1.0, np.abs(q).max(axis=1))
        for r in np.flatnonzero(close).tolist():
            q[r] = self._q(turns[r])
        asks = np.array([t.question >= 0 for t in turns])
        q[~asks, _ASK_ACTION] = -np.inf
        out: npt.NDArray[np.int64] = np.argmax(q, axis=1).astype(np.int64)
        return out

    def _greedy_rows(
        self, slots: list[int], rows: list[dict[str, Any]]
    ) -> list[tuple[Decision, int]]:
        """Each row's decision and greedy action: the single path's turns, one DQN pass."""
        if not rows:
            return []
        turns = [self._turn(obs) for obs in rows]
        choice = self._greedy(turns).tolist()
        return [(t.decision(), self._flat(t, c)) for t, c in zip(turns, choice, strict=True)]

    # ---- learning ------------------------------------------------------------------------------
    def _epsilon(self) -> float:
        return self._epsilon_at(self.episodes_done)

    def _epsilon_at(self, sessions: int) -> float:
        """Exploration rate of a session after ``sessions`` training sessions (linear decay)."""
        cfg = self.config
        span = max(cfg.eps_fraction * cfg.episodes, 1.0)
        frac = min(sessions / span, 1.0)
        return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)

    def _gradient_step(self) -> None:
        cfg = self.config
        rb = self._replay
        idx = self._rng.integers(rb.size, size=cfg.batch_size)
        s = torch.from_numpy(rb.s[idx])
        s2 = torch.from_numpy(rb.s2[idx])
        a = torch.from_numpy(rb.a[idx])
        r = torch.from_numpy(rb.r[idx])
        done = torch.from_numpy(rb.done[idx])
        mask2 = torch.from_numpy(rb.mask2[idx])
        q = self.q_net(s).gather(1, a[:, None])[:, 0]
        with torch.no_grad():
            online = self.q_net(s2).masked_fill(~mask2, -1e9)
            a2 = online.argmax(dim=1, keepdim=True)
            q2 = self.target_net(s2).gather(1, a2)[:, 0]
            y = r + cfg.gamma * (1.0 - done) * q2
        loss = nn.functional.smooth_l1_loss(q, y)
        self.optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(self.q_net.parameters(), 10.0)
        self.optimizer.step()
        self.grad_steps += 1
        if self.grad_steps % cfg.target_update == 0:
            self.target_net.load_state_dict(self.q_net.state_dict())

    def _batch_sessions(self) -> int:
        return 1 if self.config.num_envs == 1 else 4 * self.config.num_envs

    def _train_sessions(
        self, env: gymnasium.Env[Any, Any], split: str, indices: npt.NDArray[np.int64]
    ) -> None:
        if self.config.num_envs > 1:
            self._train_vector(env, split, indices)
            return
        for index in indices.tolist():
            self._run_episode(env, split, int(index), self._epsilon())

    def _train_vector(
        self, env: gymnasium.Env[Any, Any], split: str, indices: npt.NDArray[np.int64]
    ) -> None:
        """Play ``indices`` ``num_envs`` at a time on the batched copy of ``env``, and learn.

        A session explores with the rate of its position in training (:meth:`_epsilon_at` of the
        sessions before it); the DQN decides for every running slot in one pass; one gradient
        step per ``transitions_per_update`` new transitions after each batched step.
        """

        def decide(sessions: npt.NDArray[np.int64], turns: list[_Turn]) -> npt.NDArray[np.int64]:
            eps = np.array([self._epsilon_at(self.episodes_done + int(k)) for k in sessions])
            explore = self._rng.random(sessions.size) < eps
            choice = self._greedy(turns)
            if explore.any():
                random = self._rng.integers(2, size=int(explore.sum()))
                can_ask = np.array([turns[j].question >= 0 for j in np.flatnonzero(explore)])
                choice[explore] = np.where(can_ask, random, _REC_ACTION)
            return choice

        def record(t: _Turn, choice: int, reward: float, t2: _Turn | None, session: int) -> None:
            nxt = t if t2 is None else t2
            self._replay.add(t.state, choice, reward, nxt.state, t2 is None, nxt.mask)

        self._play_vector(
            env, split, indices, self.config.num_envs, lambda slot, obs: self._turn(obs), decide,
            lambda t, c: self._action(t.decision(), self._flat(t, c)), record, self._updates,
        )  # fmt: skip

    def _updates(self, transitions: int) -> None:
        """The gradient steps ``transitions`` new transitions earn (one per ``transitions_per_update``)."""
        cfg = self.config
        if self._replay.size < max(cfg.learning_starts, cfg.batch_size):
            self._pending = 0
            return
        self._pending += transitions
        while self._pending >= cfg.transitions_per_update:
            self._pending -= cfg.transitions_per_update
            self._gradient_step()

    def _run_episode(
        self, env: gymnasium.Env[Any, Any], split: str, index: int, eps: float
    ) -> float:
        t = self._turn(self._reset(env, split, index))
        total = 0.0
        while True:
            if self._rng.random() < eps:
                choice = _REC_ACTION if t.question < 0 else int(self._rng.integers(2))
            else:
                choice = int(np.argmax(self._q(t)))
            obs, reward, term, trunc, _ = env.step(self._action(t.decision(), self._flat(t, choice)))
            done = bool(term or trunc)
            t2 = self._turn(obs) if not done else t
            self._replay.add(t.state, choice, float(reward), t2.state, done, t2.mask)
            total += float(reward)
            self._updates(1)
            if done:
                return total
            t = t2

    def _selected_network(self) -> nn.Module:
        return self.q_net

    # ---- persistence ---------------------------------------------------------------------------
    def _network_payload(self, lean: bool) -> dict[str, Any]:
        return {
            "q_net": self.q_net.state_dict(),
            "target_net": self.target_net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "replay": None if lean else self._replay.arrays(),
            "grad_steps": self.grad_steps,
            "pending_transitions": self._pending,
        }

    def _restore_network(self, payload: dict[str, Any]) -> None:
        self.q_net.load_state_dict(payload["q_net"])
        self.target_net.load_state_dict(payload["target_net"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if payload["replay"] is not None:
            self._replay.restore(payload["replay"])
        self.grad_steps = int(payload["grad_steps"])
        self._pending = int(payload.get("pending_transitions", 0))
