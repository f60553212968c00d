"""Shared engine of the policy-gradient conversational agents (EAR, CRM).

A 2-layer policy network maps a state vector (built by the subclass) to logits over every
question plus "recommend"; questions already asked (and, optionally, held by no candidate) are
masked. Training is the EAR recipe: imitate the max-entropy rule on ``valid`` sessions, then
REINFORCE with discounted returns normalised per batch of episodes. Items are ranked by the FM
score, optionally after EAR's reflection (a session-local BPR step on the user vector, the
rejected items as negatives and the remaining candidates as positives).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from recoworld._validate import require_range
from recoworld.agents.crs_base import (
    ModelSelection,
    check_world,
    checkpoint_header,
    config_from_dict,
    consistent_candidates,
    dialogue_features,
    embeddings_from_payload,
    embeddings_payload,
    load_checkpoint,
    n_dialogue_features,
    recommend_action,
    rng_from_state,
    rng_state,
    save_checkpoint,
    unseen_candidates,
)
from recoworld.agents.fm import FMConfig, FMEmbeddings
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ASK, ConversationalRecEnv
from recoworld.envs.crs_stats import question_entropy, reachable_questions
from recoworld.errors import ConfigError
from recoworld.scoring import top_items

__all__ = ["PolicyGradientAgent", "PolicyGradientConfig", "validate_settings"]


def validate_settings(cfg: Any) -> None:
    """Raise :class:`ConfigError` for out-of-range settings of an EAR / CRM config."""
    for name in (
        "episodes", "batch_episodes", "hidden", "eval_every", "rec_size", "imitation_threshold"
    ):
        require_range(name, getattr(cfg, name), 1)
    for name in ("pretrain_sessions", "eval_sessions", "entropy_coef", "reflection_lr"):
        require_range(name, getattr(cfg, name), 0)
    for name in ("lr", "pretrain_lr"):
        require_range(name, getattr(cfg, name), 0, low_open=True)
    require_range("gamma", cfg.gamma, 0, 1)
    require_range("max_turns", cfg.max_turns, 2)


@dataclass(frozen=True)
class PolicyGradientConfig:
    """Settings of a :class:`PolicyGradientAgent` (EAR's defaults; subclasses override some).

    Attributes:
        pretrain_sessions: ``valid`` sessions of max-entropy demonstrations to imitate.
        imitation_threshold: The imitated rule recommends once at most this many candidates
            remain (and always on the last action).
        episodes: REINFORCE sessions after pretraining.
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
        prune_rejected: Drop the candidates holding a declined attribute (exact answers only).
        exclude_seen: Never recommend the user's training items (a session's target is new).
        holdout_fraction: Part of ``valid`` kept for model selection.
        eval_every: REINFORCE sessions between model-selection evaluations.
        eval_sessions: Held-out sessions per model-selection evaluation.
        rec_size: Items per recommendation.
        max_turns: Horizon, the user's opening counted as turn 1.
        fm: Settings of the FM embeddings trained when none are given.

    """

    pretrain_sessions: int = 1000
    imitation_threshold: int = 10
    episodes: int = 3000
    batch_episodes: int = 16
    hidden: int = 64
    lr: float = 1e-3
    pretrain_lr: float = 3e-3
    gamma: float = 0.7
    entropy_coef: float = 0.01
    reflection: bool = True
    reflection_lr: float = 0.01
    mask_unreachable: bool = True
    exclude_seen: bool = False
    prune_rejected: bool = False
    holdout_fraction: float = 0.1
    eval_every: int = 500
    eval_sessions: int = 500
    rec_size: int = 10
    max_turns: int = 15
    fm: FMConfig = field(default_factory=FMConfig)

    def __post_init__(self) -> None:
        validate_settings(self)


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


class PolicyGradientAgent(ModelSelection):
    """Base of :class:`~recoworld.agents.ear.EARAgent` and :class:`~recoworld.agents.crm.CRMAgent`.

    Subclasses set ``name`` and ``config_class`` and implement :meth:`_extra_state_dim` and
    :meth:`_extra_state` (the part of the state before the dialogue summary).
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[Any]]

    def __init__(
        self,
        world: AttributeGraphWorld,
        config: Any = None,
        seed: int = 0,
        embeddings: FMEmbeddings | None = None,
    ) -> None:
        self.world = world
        self.config = config if config is not None else self.config_class()
        validate_settings(self.config)
        self.seed = seed
        if embeddings is not None:
            embeddings.check_world(world)
        self.embeddings = embeddings
        self._rng = np.random.default_rng(seed)
        csc = world.item_attributes.tocsc()
        self._attribute_items = (csc.indptr, csc.indices)
        self.deterministic = True
        cfg = self.config
        self.state_dim = self._extra_state_dim() + n_dialogue_features(cfg.max_turns)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.policy = _Policy(self.state_dim, cfg.hidden, world.n_questions + 1)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
        self.pretrained_sessions = 0
        self.episodes_done = 0
        self.best_score = -1.0
        self._best_weights: dict[str, torch.Tensor] | None = None
        self.selection_history: list[tuple[int, float]] = []
        self.train_seconds = 0.0
        # Session memory of reflection: the user vector and the last recommended list.
        self._session_user: npt.NDArray[np.float32] | None = None
        self._last_items: npt.NDArray[np.int64] | None = None
        self._last_turn = -1

    # ---- subclass hooks ------------------------------------------------------------------------
    def _extra_state_dim(self) -> int:
        raise NotImplementedError

    def _extra_state(
        self, obs: dict[str, Any], entropy: npt.NDArray[np.float64], query: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        raise NotImplementedError

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

    def _user_vector(self, obs: dict[str, Any]) -> npt.NDArray[np.float32]:
        """The (possibly reflected) user vector of this session."""
        emb = self._emb()
        u = int(obs["user"])
        if not self.config.reflection:
            row: npt.NDArray[np.float32] = emb.user[u]
            return row
        turn = int(obs["turn"])
        if turn <= 1 or self._session_user is None or turn != self._last_turn + 1:
            self._session_user = emb.user[u].copy()
            self._last_items = None
        elif self._last_items is not None:
            self._reflect(obs)
        self._last_turn = turn
        return self._session_user

    def _reflect(self, obs: dict[str, Any]) -> None:
        """One BPR step: remaining candidates (their mean) above each rejected item."""
        assert self._session_user is not None and self._last_items is not None
        emb = self._emb()
        rejected = self._last_items
        self._last_items = None
        cand = np.flatnonzero(obs["candidates"])
        if cand.size == 0:
            return
        pos = emb.item[cand].mean(axis=0)
        neg = emb.item[rejected]
        q = self._session_user + emb.attribute[np.flatnonzero(obs["accepted"])].sum(axis=0)
        x = (pos - neg) @ q
        g = (1.0 / (1.0 + np.exp(np.clip(x, -30, 30))))[:, None] * (pos[None, :] - neg)
        self._session_user = self._session_user + self.config.reflection_lr * g.sum(axis=0)

    def _step(self, obs: dict[str, Any]) -> _Step:
        cfg = self.config
        emb = self._emb()
        cand = np.flatnonzero(obs["candidates"]).astype(np.int64)
        if cfg.exclude_seen:
            cand = unseen_candidates(self.world, int(obs["user"]), cand)
        if cfg.prune_rejected:
            cand = consistent_candidates(self._attribute_items, obs, cand)
        query = self._user_vector(obs) + emb.attribute[np.flatnonzero(obs["accepted"])].sum(axis=0)
        scores = (emb.item[cand] @ query).astype(np.float64)
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

    def _to_action(self, s: _Step, flat: int) -> dict[str, Any]:
        k = self.config.rec_size
        if flat == self.world.n_questions:
            items = top_items(s.candidates, s.scores, k)
            if self.config.reflection:
                self._last_items = items
            return recommend_action(items, k)
        return {"kind": ASK, "question": int(flat), "items": np.zeros(k, dtype=np.int64)}

    def action_dist(self, obs: dict[str, Any]) -> npt.NDArray[np.float64]:
        """Return the acting policy's probabilities over the flat action set.

        One-hot on the most likely action when ``deterministic`` (the default), else the
        policy's softmax over the unmasked actions.
        """
        p = self._probs(self._step(obs))
        if self.deterministic:
            out = np.zeros_like(p)
            out[int(np.argmax(p))] = 1.0
            return out
        return p

    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Return the base-environment action (greedy when ``deterministic``, else sampled)."""
        s = self._step(obs)
        p = self._probs(s)
        flat = int(np.argmax(p)) if self.deterministic else int(self._rng.choice(p.size, p=p))
        return self._to_action(s, flat)

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

    def _reset(self, env: ConversationalRecEnv, index: int) -> dict[str, Any]:
        obs, _ = env.reset(
            seed=int(self._rng.integers(2**31 - 1)), options={"split": "valid", "index": index}
        )
        return obs

    def _pretrain_batch(self, env: ConversationalRecEnv, indices: npt.NDArray[np.int64]) -> None:
        states, masks, actions = [], [], []
        for i in indices.tolist():
            obs = self._reset(env, i)
            while True:
                s = self._step(obs)
                a = self._rule_action(s, int(obs["turn"]))
                states.append(s.state)
                masks.append(s.mask)
                actions.append(a)
                obs, _, term, trunc, _ = env.step(self._to_action(s, a))
                if term or trunc:
                    break
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

    def _reinforce_batch(self, env: ConversationalRecEnv, indices: npt.NDArray[np.int64]) -> None:
        cfg = self.config
        states, masks, actions, returns = [], [], [], []
        for i in indices.tolist():
            obs = self._reset(env, i)
            rewards = []
            while True:
                s = self._step(obs)
                p = self._probs(s)
                a = int(self._rng.choice(p.size, p=p))
                states.append(s.state)
                masks.append(s.mask)
                actions.append(a)
                obs, r, term, trunc, _ = env.step(self._to_action(s, a))
                rewards.append(float(r))
                if term or trunc:
                    break
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

    def learn(
        self,
        episodes: int | None = None,
        progress: bool = False,
        checkpoint_path: str | Path | None = None,
        checkpoint_every: int = 500,
    ) -> PolicyGradientAgent:
        """Imitate the max-entropy rule, then REINFORCE up to ``episodes`` sessions in total.

        Trains the FM embeddings first when the agent has none. The greedy policy is scored on
        held-out ``valid`` sessions after pretraining and every ``eval_every`` episodes; the best
        weights are loaded at the end. With ``checkpoint_path`` the training state is saved every
        ``checkpoint_every`` sessions; :meth:`load` + :meth:`learn` resumes.
        """
        cfg = self.config
        total = cfg.episodes if episodes is None else episodes
        start = time.perf_counter()
        env, train_idx, hold_idx = self._prepare_learning()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(
                total=cfg.pretrain_sessions + total,
                initial=self.pretrained_sessions + self.episodes_done,
                desc=self.name.upper(),
                unit="session",
            )
        since_ckpt = 0

        def tick(n: int) -> None:
            nonlocal since_ckpt, start
            if bar is not None:
                bar.update(n)
            since_ckpt += n
            if checkpoint_path is not None and since_ckpt >= checkpoint_every:
                since_ckpt = 0
                self.train_seconds += time.perf_counter() - start
                start = time.perf_counter()
                self.save(checkpoint_path)

        while self.pretrained_sessions < cfg.pretrain_sessions:
            n = min(cfg.batch_episodes, cfg.pretrain_sessions - self.pretrained_sessions)
            self._pretrain_batch(env, train_idx[self._rng.integers(train_idx.size, size=n)])
            self.pretrained_sessions += n
            if self.pretrained_sessions >= cfg.pretrain_sessions:
                self._select(env, hold_idx)
            tick(n)
        next_eval = (self.episodes_done // cfg.eval_every + 1) * cfg.eval_every
        while self.episodes_done < total:
            n = min(cfg.batch_episodes, total - self.episodes_done)
            self._reinforce_batch(env, train_idx[self._rng.integers(train_idx.size, size=n)])
            self.episodes_done += n
            if self.episodes_done >= next_eval or self.episodes_done >= total:
                next_eval += cfg.eval_every
                self._select(env, hold_idx)
                if bar is not None:
                    bar.set_postfix(holdout_sr=f"{self.selection_history[-1][1]:.3f}")
            tick(n)
        self._finish_learning(bar, start, checkpoint_path)
        return self

    def _selected_network(self) -> nn.Module:
        return self.policy

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write weights, embeddings, settings and the training state to ``path``."""
        payload: dict[str, Any] = {
            **checkpoint_header(self.name, self.config, self.seed, self.world),
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": rng_state(self._rng),
            "pretrained_sessions": self.pretrained_sessions,
            "episodes_done": self.episodes_done,
            **self._selection_payload(),
        }
        emb = self.embeddings
        if emb is not None:
            payload["embeddings"] = embeddings_payload(emb)
        save_checkpoint(path, payload)

    @classmethod
    def load(cls, path: str | Path, world: AttributeGraphWorld) -> Any:
        """Rebuild an agent saved by :meth:`save` (resumable with :meth:`learn`)."""
        payload = load_checkpoint(path, cls.name)
        check_world(payload, world, path)
        config = config_from_dict(cls.config_class, payload["config"], {"fm": FMConfig})
        emb = None
        if "embeddings" in payload:
            emb = embeddings_from_payload(payload["embeddings"])
        agent = cls(world, config, seed=int(payload["seed"]), embeddings=emb)
        agent.policy.load_state_dict(payload["policy"])
        agent.optimizer.load_state_dict(payload["optimizer"])
        agent._rng = rng_from_state(payload["rng"])
        agent.pretrained_sessions = int(payload["pretrained_sessions"])
        agent._restore_selection(payload)
        return agent
