"""UNICORN (Deng et al., SIGIR 2021): one graph-based policy that asks, recommends and decides when.

Each turn the agent

1. builds the dynamic weighted graph of the conversation (user, accepted attributes, candidate
   items, candidate attributes; :mod:`recoworld.agents._conversation_graph`), with user-item
   weights ``w_v = sigmoid(e_u.e_v + sum over accepted p of e_p.e_v - sum over declined p held by v
   of e_p.e_v)``;
2. prunes the action set by preference: the ``item_actions`` candidates of highest ``w_v`` and the
   ``question_actions`` candidate attributes of highest weighted entropy;
3. encodes the state: one graph convolution layer over the graph, a transformer encoder over the
   accepted attributes' node representations (the conversation history), mean-pooled;
4. scores every pruned action with a dueling Q-network, ``Q(s, a) = V(s) + A(s, a) - mean_a A``,
   where ``A`` reads the state and the action node's representation; an attribute action asks it,
   an item action recommends the ``item_actions`` items, ranked by their Q-values.

Training: dueling double DQN (online network picks the next action, a soft-updated target network
values it) with proportional prioritized replay, epsilon-greedy over the pruned action set, one
gradient step per environment step; ``valid`` sessions, model selection on a held-out part of
``valid`` (never ``test``). The paper's settings: batch 128, replay 50,000, learning rate 1e-4,
L2 1e-6, discount 0.999, 10 item and 10 attribute actions, 15 turns. The training budget is
smaller than the released code's, to fit two shared CPU cores: 5,000 sessions with a gradient step
every 4 environment steps (released: 10,000 sessions, a step after every environment step);
``episodes`` and ``train_every`` restore it.

Departures from the released code (dengyang17/unicorn), each on purpose:

* The graph encoder reads the pretrained embeddings, frozen. The released encoder calls
  ``nn.Embedding.from_pretrained`` and discards its result, so it always starts from random
  vectors (and trains them).
* Exploration decays linearly from ``eps_start`` to ``eps_end`` over ``eps_fraction`` of training.
  The released schedule, ``0.1 + 0.8 exp(-steps / 0.0001)``, is 0.1 from the second step on.
  Random actions are drawn from the pruned action set (the released code draws from every
  reachable attribute and every candidate item).
* Checkpoints are selected on held-out ``valid`` sessions; the released code evaluates every
  saved model on ``test`` and reports the best.
* The pretrained embeddings are this project's FM embeddings (:mod:`recoworld.agents.fm`, trained
  on ``review_dict_train``), not TransE from OpenKE: the same tables SCPR and EAR use here, trained
  for the dot-product score that ``w_v`` is.
* Candidate attributes are ranked by weighted entropy, as the paper writes (the released code ranks
  them by the preference score ``e_u.e_p + sum over accepted p' of e_p'.e_p``); questions of zero
  weighted entropy are left out (``skip_known_questions``), as in this project's SCPR.
* The graph convolution normalises the adjacency with self-loops, ``D^-1/2 (A + I) D^-1/2``, as
  a GCN does (the released layer multiplies by the raw weighted adjacency). The declined
  attributes' penalty inside ``w_v`` is, by default, the released code's ``sigmoid(e_p.e_v)``;
  ``rejected_penalty="dot"`` subtracts the plain dot product ``e_p.e_v`` instead.
* The released evaluation recommends whenever at most 10 candidates remain or on the last turn;
  here that rule (``recommend_rule``) holds in training as well as in evaluation, so the policy
  is trained for the situations it acts in.
* The target network is a full copy (the released target shares the online graph encoder); the
  importance-sampling weights multiply each transition's squared error (the released code weights
  the batch mean); the network is smaller (``hidden`` 64, 4 heads, feed-forward 128, dropout 0).
* ``exclude_seen``, ``user_token``, ``extra_features`` and ``rec_order="score"`` are this
  project's improvements, off in :meth:`UNICORNConfig.faithful`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import gymnasium
import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from recoworld._validate import require_range
from recoworld.agents._conversation_graph import (
    ConversationGraph,
    GraphView,
    QuestionRanking,
    RejectedPenalty,
)
from recoworld.agents._prioritized_replay import PrioritizedReplay
from recoworld.agents.base import Agent
from recoworld.agents.crs_base import (
    check_world,
    checkpoint_header,
    config_from_dict,
    dialogue_features,
    embeddings_from_payload,
    embeddings_payload,
    load_checkpoint,
    n_dialogue_features,
    recommend_action,
    rng_from_state,
    rng_state,
    save_checkpoint,
    success_rate,
    validation_split,
)
from recoworld.agents.fm import FMConfig, FMEmbeddings, train_fm
from recoworld.agents.transe import TransEConfig, train_transe
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ASK, ConversationalRecEnv, RewardConfig
from recoworld.errors import ConfigError

__all__ = ["UNICORNAgent", "UNICORNConfig"]

_N_ITEM_FEATURES = 3
_N_QUESTION_FEATURES = 3
_N_ACTION_FEATURES = 4


@dataclass(frozen=True)
class UNICORNConfig:
    """Settings of :class:`UNICORNAgent` (defaults: the paper's, with the module's departures).

    Attributes:
        episodes: Training sessions (conversations on ``valid`` sessions).
        item_actions: Items in the pruned action set (K_v).
        question_actions: Questions in the pruned action set (K_p).
        hidden: Width of the graph layer, the transformer and the Q-network.
        heads: Attention heads of the transformer layer.
        feedforward: Width of the transformer's feed-forward block.
        lr: Adam learning rate.
        l2: Adam weight decay.
        gamma: Discount factor.
        batch_size: Transitions per gradient step.
        buffer_size: Replay capacity in transitions.
        learning_starts: Transitions stored before the first gradient step.
        train_every: Environment steps per gradient step.
        tau: Soft update rate of the target network (per gradient step).
        eps_start: Initial exploration rate.
        eps_end: Final exploration rate.
        eps_fraction: Fraction of ``episodes`` over which exploration decays linearly.
        per_alpha: Priority exponent of the replay.
        per_beta: Initial importance-sampling exponent (grows to 1).
        per_beta_increment: Growth of the importance-sampling exponent per gradient step.
        per_eps: Added to every absolute TD error.
        rejected_penalty: How a declined attribute lowers the score of the items holding it:
            ``"sigmoid"`` (released code) subtracts ``sigmoid(e_p.e_v)``, ``"dot"`` subtracts
            ``e_p.e_v``, ``"none"`` keeps SCPR's score.
        skip_known_questions: Leave out questions of zero weighted entropy.
        question_ranking: Which candidate attributes enter the action set: ``"entropy"``, the
            highest weighted entropy (the paper), or ``"preference"``, the highest
            ``e_u.e_p + sum over accepted p' of e_p'.e_p`` (the released code).
        recommend_rule: Recommend whenever at most ``rec_size`` candidates remain, and on the last
            turn (the released evaluation's rule).
        rec_order: ``"q"`` ranks the recommended items by their Q-values (released code),
            ``"score"`` by ``w_v``.
        exclude_seen: Never recommend (nor weigh) the user's training items.
        user_token: Also feed the user node's representation to the transformer.
        extra_features: Add the dialogue summary to the state and each action's score, rank and
            kind to its representation.
        holdout_fraction: Part of ``valid`` kept for model selection.
        eval_every: Training sessions between model-selection evaluations.
        eval_sessions: Held-out sessions per model-selection evaluation.
        rec_size: Items per recommendation.
        max_turns: Horizon, the user's opening counted as turn 1.
        pretrained: The node embeddings trained when none are given: ``"fm"`` (this project's FM,
            as SCPR and EAR use) or ``"transe"`` (TransE on the training graph, as the paper).
        fm: Settings of the FM embeddings.
        transe: Settings of the TransE embeddings.

    """

    episodes: int = 5_000
    item_actions: int = 10
    question_actions: int = 10
    hidden: int = 64
    heads: int = 4
    feedforward: int = 128
    lr: float = 1e-4
    l2: float = 1e-6
    gamma: float = 0.999
    batch_size: int = 128
    buffer_size: int = 50_000
    learning_starts: int = 128
    train_every: int = 4
    tau: float = 0.01
    eps_start: float = 0.9
    eps_end: float = 0.05
    eps_fraction: float = 0.3
    per_alpha: float = 0.6
    per_beta: float = 0.4
    per_beta_increment: float = 0.001
    per_eps: float = 0.01
    rejected_penalty: RejectedPenalty = "sigmoid"
    skip_known_questions: bool = True
    question_ranking: QuestionRanking = "entropy"
    recommend_rule: bool = True
    rec_order: Literal["q", "score"] = "q"
    exclude_seen: bool = False
    user_token: bool = False
    extra_features: bool = False
    holdout_fraction: float = 0.1
    eval_every: int = 1000
    eval_sessions: int = 1000
    rec_size: int = 10
    max_turns: int = 15
    pretrained: Literal["fm", "transe"] = "fm"
    fm: FMConfig = field(default_factory=FMConfig)
    transe: TransEConfig = field(default_factory=TransEConfig)

    def __post_init__(self) -> None:
        if self.pretrained not in ("fm", "transe"):
            raise ConfigError(f"`pretrained` must be 'fm' or 'transe', got {self.pretrained!r}")
        for name in (
            "episodes", "item_actions", "question_actions", "hidden", "heads", "feedforward",
            "batch_size", "buffer_size", "train_every", "eval_every", "rec_size",
        ):
            require_range(name, getattr(self, name), 1)
        if self.hidden % self.heads:
            raise ConfigError(
                f"`hidden` must be a multiple of `heads`, got hidden={self.hidden} heads={self.heads}"
            )
        require_range("max_turns", self.max_turns, 2)
        for name in ("gamma", "tau", "eps_start", "eps_end", "eps_fraction", "per_beta"):
            require_range(name, getattr(self, name), 0, 1)
        for name in ("lr", "per_eps"):
            require_range(name, getattr(self, name), 0, low_open=True)
        for name in ("l2", "learning_starts", "eval_sessions", "per_alpha", "per_beta_increment"):
            require_range(name, getattr(self, name), 0)
        if self.rejected_penalty not in ("sigmoid", "dot", "none"):
            raise ConfigError(
                "`rejected_penalty` must be 'sigmoid', 'dot' or 'none', got "
                f"{self.rejected_penalty!r}"
            )
        if self.question_ranking not in ("entropy", "preference"):
            raise ConfigError(
                "`question_ranking` must be 'entropy' or 'preference', got "
                f"{self.question_ranking!r}"
            )
        if self.rec_order not in ("q", "score"):
            raise ConfigError(f"`rec_order` must be 'q' or 'score', got {self.rec_order!r}")
        if self.item_actions < self.rec_size:
            raise ConfigError(
                f"`item_actions` ({self.item_actions}) must be >= `rec_size` ({self.rec_size}): "
                "an item action recommends the item actions"
            )

    @classmethod
    def faithful(cls, **overrides: Any) -> UNICORNConfig:
        """The paper's method with only the departures the module names (no improvements)."""
        values: dict[str, Any] = {
            "exclude_seen": False, "user_token": False, "extra_features": False, "rec_order": "q",
        }
        values.update(overrides)
        return cls(**values)

    @property
    def n_actions(self) -> int:
        """Size of the pruned action set (items first, then questions)."""
        return self.item_actions + self.question_actions


class _EncoderLayer(nn.Module):
    """A post-norm transformer encoder layer (self-attention, then feed-forward), no dropout.

    Written out rather than ``nn.TransformerEncoderLayer`` so that the per-call overhead stays
    small at batch size 1 (every turn of every conversation calls it).
    """

    def __init__(self, width: int, heads: int, feedforward: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm1 = nn.LayerNorm(width)
        self.ff1 = nn.Linear(width, feedforward)
        self.ff2 = nn.Linear(feedforward, width)
        self.norm2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Encode ``x`` (batch, length, width); ``valid`` (batch, length) marks real tokens."""
        b, n, w = x.shape
        h = self.heads
        qkv = self.qkv(x).view(b, n, 3, h, w // h).permute(2, 0, 3, 1, 4)
        att = (qkv[0] @ qkv[1].transpose(-1, -2)) / float(np.sqrt(w // h))
        att = att.masked_fill(~valid[:, None, None, :], -torch.inf).softmax(dim=-1)
        mixed = (att @ qkv[2]).transpose(1, 2).reshape(b, n, w)
        x = self.norm1(x + self.out(mixed))
        out: torch.Tensor = self.norm2(x + self.ff2(torch.relu(self.ff1(x))))
        return out


class _DuelingGraphQ(nn.Module):
    """Graph layer + transformer state encoder + dueling Q-head over the pruned actions."""

    def __init__(self, dim: int, cfg: UNICORNConfig, n_state_extra: int) -> None:
        super().__init__()
        h = cfg.hidden
        self.user_token = cfg.user_token
        self.gcn = nn.Linear(dim, h)
        self.encoder = _EncoderLayer(h, cfg.heads, cfg.feedforward)
        self.state = nn.Linear(h + n_state_extra, h)
        self.value_hidden = nn.Linear(h, h)
        self.value_out = nn.Linear(h, 1)
        n_action_extra = _N_ACTION_FEATURES if cfg.extra_features else 0
        # The advantage's hidden layer reads [state, action node]; its two halves are applied
        # apart (state once per state, node once per action), which is the same linear map.
        self.advantage_state = nn.Linear(h, h)
        self.advantage_node = nn.Linear(h + n_action_extra, h, bias=False)
        self.advantage_out = nn.Linear(h, 1)
        self.attribute_table: torch.Tensor = torch.zeros(0, dim)

    def forward(self, s: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Q-values ``(batch, n_actions)``; entries of masked actions are meaningless."""
        acc = s["accepted"]
        valid = acc >= 0
        # Padding sits at the end of every row: cut the columns no row uses.
        width = max(int(valid.sum(1).max()), 1)
        acc, valid = acc[:, :width], valid[:, :width]
        n = (1.0 + s["n_candidates"])[:, None, None]
        rows = self.attribute_table[acc.clamp(min=0)] / n + s["neighbour_sum"][:, None, :] / n.sqrt()
        if self.user_token:
            rows = torch.cat([s["user_row"][:, None, :], rows], dim=1)
            valid = torch.cat([torch.ones_like(valid[:, :1]), valid], dim=1)
        enc = self.encoder(torch.relu(self.gcn(rows)), valid)
        w = valid.to(enc.dtype)[:, :, None]
        pooled = (enc * w).sum(1) / w.sum(1).clamp(min=1.0)
        if "state_extra" in s:
            pooled = torch.cat([pooled, s["state_extra"]], dim=1)
        state = torch.relu(self.state(pooled))
        value = self.value_out(torch.relu(self.value_hidden(state)))
        nodes = torch.relu(self.gcn(s["action_rows"]))
        if "action_extra" in s:
            nodes = torch.cat([nodes, s["action_extra"]], dim=2)
        hidden = self.advantage_node(nodes) + self.advantage_state(state)[:, None, :]
        adv = self.advantage_out(torch.relu(hidden))[..., 0]
        mask = s["action_mask"].to(adv.dtype)
        mean_adv = (adv * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp(min=1.0)
        q: torch.Tensor = value + adv - mean_adv
        return q


@dataclass
class _Turn:
    """One observation's graph, the network's input built from it and the forced choice."""

    view: GraphView
    state: dict[str, npt.NDArray[Any]]
    forced: bool

    @property
    def mask(self) -> npt.NDArray[np.bool_]:
        out: npt.NDArray[np.bool_] = self.state["action_mask"]
        return out


class _ModelSelection:
    """Model selection and end-of-training plumbing of the agents keeping their best weights.

    The subclass sets the attributes declared here and implements :meth:`_selected_network` (the
    network whose weights are selected), :meth:`save` and the acting methods of :class:`~recoworld.agents.base.Agent`.
    """

    world: AttributeGraphWorld
    config: Any
    seed: int
    embeddings: FMEmbeddings | None
    episodes_done: int
    best_score: float
    _best_weights: dict[str, torch.Tensor] | None
    selection_history: list[tuple[int, float]]
    train_seconds: float

    def _selected_network(self) -> nn.Module:
        raise NotImplementedError

    def save(self, path: str | Path) -> None:
        """Write the agent to ``path``."""
        raise NotImplementedError

    def _prepare_learning(
        self,
    ) -> tuple[ConversationalRecEnv, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Train the FM embeddings if none; the ``valid`` env, training and held-out sessions."""
        cfg = self.config
        if self.embeddings is None:
            self.embeddings = train_fm(self.world, cfg.fm, seed=self.seed)
        env = ConversationalRecEnv(
            self.world, rewards=RewardConfig(), split="valid", max_turns=cfg.max_turns,
            rec_size=cfg.rec_size,
        )
        train_idx, hold_idx = validation_split(
            self.world, cfg.holdout_fraction, cfg.eval_sessions, self.seed
        )
        return env, train_idx, hold_idx

    def _select(self, env: gymnasium.Env[Any, Any], hold_idx: npt.NDArray[np.int64]) -> None:
        """Score the greedy policy on ``hold_idx``; keep the weights when they are the best yet."""
        net = self._selected_network()
        if hold_idx.size == 0:
            self._best_weights = copy.deepcopy(net.state_dict())
            self.selection_history.append((self.episodes_done, float("nan")))
            return
        sr = success_rate(env, cast(Agent, self), "valid", hold_idx, seed=self.seed)
        self.selection_history.append((self.episodes_done, sr))
        if sr > self.best_score:
            self.best_score = sr
            self._best_weights = copy.deepcopy(net.state_dict())

    def _finish_learning(
        self, bar: Any, start: float, checkpoint_path: str | Path | None
    ) -> None:
        """Close the progress bar, load the best weights, count the time, save a final checkpoint."""
        if bar is not None:
            bar.close()
        if self._best_weights is not None:
            self._selected_network().load_state_dict(self._best_weights)
        self.train_seconds += time.perf_counter() - start
        if checkpoint_path is not None:
            self.save(checkpoint_path)

    def _selection_payload(self) -> dict[str, Any]:
        """The model-selection entries of a checkpoint (in the order they are written)."""
        return {
            "best_score": self.best_score,
            "best_weights": self._best_weights,
            "selection_history": [list(x) for x in self.selection_history],
            "train_seconds": self.train_seconds,
        }

    def _restore_selection(self, payload: dict[str, Any]) -> None:
        """Read back :meth:`_selection_payload`'s entries and ``episodes_done``."""
        self.episodes_done = int(payload["episodes_done"])
        self.best_score = float(payload["best_score"])
        self._best_weights = payload["best_weights"]
        self.selection_history = [(int(a), float(b)) for a, b in payload["selection_history"]]
        self.train_seconds = float(payload["train_seconds"])


class UNICORNAgent(_ModelSelection):
    """UNICORN: graph-based state, preference-pruned actions, dueling double DQN with PER.

    Args:
        world: The world the agent converses in.
        config: Settings (default :class:`UNICORNConfig`).
        seed: Seeds every random draw of training (network initialisation, exploration, replay
            sampling, session order, the environment).
        embeddings: Pretrained node embeddings; ``None`` = train them (``config.pretrained``) on
            ``world``'s ``train`` split in :meth:`learn`.

    """

    name = "unicorn"
    config: UNICORNConfig

    def __init__(
        self,
        world: AttributeGraphWorld,
        config: UNICORNConfig | None = None,
        seed: int = 0,
        embeddings: FMEmbeddings | None = None,
    ) -> None:
        self.world = world
        self.config = config or UNICORNConfig()
        self.seed = seed
        if embeddings is not None:
            embeddings.check_world(world)
        self.embeddings = embeddings
        self._rng = np.random.default_rng(seed)
        self._graph: ConversationGraph | None = None
        cfg = self.config
        self._n_state_extra = n_dialogue_features(cfg.max_turns) if cfg.extra_features else 0
        self._max_history = max(cfg.max_turns, 16)
        if embeddings is not None:
            dim = embeddings.dim
        else:
            dim = cfg.fm.dim if cfg.pretrained == "fm" else cfg.transe.dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.q_net = _DuelingGraphQ(dim, cfg, self._n_state_extra)
        self.target_net = copy.deepcopy(self.q_net)
        self.optimizer = torch.optim.Adam(
            self.q_net.parameters(), lr=cfg.lr, weight_decay=cfg.l2, foreach=True
        )
        self._dim = dim
        self._replay: PrioritizedReplay | None = None
        self.episodes_done = 0
        self.grad_steps = 0
        self.env_steps = 0
        self.best_score = -1.0
        self._best_weights: dict[str, torch.Tensor] | None = None
        self.selection_history: list[tuple[int, float]] = []
        self.train_seconds = 0.0
        if embeddings is not None:
            self._attach(embeddings)

    # ---- set-up --------------------------------------------------------------------------------
    def _attach(self, embeddings: FMEmbeddings) -> None:
        """Build the graph of ``embeddings`` and hand the attribute table to the networks."""
        cfg = self.config
        if embeddings.dim != self._dim:
            raise ConfigError(
                f"embeddings have size {embeddings.dim}, the network was built for {self._dim} "
                f"(set `{cfg.pretrained}.dim` to the embeddings' size)"
            )
        self._graph = ConversationGraph(
            self.world,
            embeddings,
            item_actions=cfg.item_actions,
            question_actions=cfg.question_actions,
            rejected_penalty=cfg.rejected_penalty,
            skip_known_questions=cfg.skip_known_questions,
            exclude_seen=cfg.exclude_seen,
            question_ranking=cfg.question_ranking,
        )
        table = torch.from_numpy(np.array(embeddings.attribute, dtype=np.float32))
        self.q_net.attribute_table = table
        self.target_net.attribute_table = table

    def _state_shapes(self) -> dict[str, tuple[tuple[int, ...], npt.DTypeLike]]:
        cfg = self.config
        k, d = cfg.n_actions, self._dim
        shapes: dict[str, tuple[tuple[int, ...], npt.DTypeLike]] = {
            "accepted": ((self._max_history,), np.int32),
            "neighbour_sum": ((d,), np.float32),
            "n_candidates": ((), np.float32),
            "user_row": ((d,), np.float32),
            "action_rows": ((k, d), np.float32),
            "action_mask": ((k,), np.bool_),
        }
        if cfg.extra_features:
            shapes["state_extra"] = ((self._n_state_extra,), np.float32)
            shapes["action_extra"] = ((k, _N_ACTION_FEATURES), np.float32)
        return shapes

    def _make_replay(self) -> PrioritizedReplay:
        cfg = self.config
        return PrioritizedReplay(
            cfg.buffer_size,
            self._state_shapes(),
            alpha=cfg.per_alpha,
            beta=cfg.per_beta,
            beta_increment=cfg.per_beta_increment,
            eps=cfg.per_eps,
        )

    # ---- acting --------------------------------------------------------------------------------
    @property
    def n_actions(self) -> int:
        """Size of the flat action set: every question plus "recommend"."""
        return self.world.n_questions + 1

    def _graph_or_raise(self) -> ConversationGraph:
        if self._graph is None:
            raise ConfigError(
                "UNICORNAgent has no embeddings yet: call learn() or pass `embeddings=`"
            )
        return self._graph

    def _turn(self, obs: dict[str, Any]) -> _Turn:
        cfg = self.config
        view = self._graph_or_raise().build(obs)
        k_items, k = cfg.item_actions, cfg.n_actions
        n_items, n_q = view.item_actions.size, view.question_actions.size
        accepted = np.full(self._max_history, -1, dtype=np.int32)
        acc = view.accepted[: self._max_history]
        accepted[: acc.size] = acc
        rows = np.zeros((k, self._dim), dtype=np.float32)
        rows[:n_items] = view.action_rows[:n_items]
        rows[k_items : k_items + n_q] = view.action_rows[n_items:]
        mask = np.zeros(k, dtype=np.bool_)
        mask[:n_items] = True
        mask[k_items : k_items + n_q] = True
        state: dict[str, npt.NDArray[Any]] = {
            "accepted": accepted,
            "neighbour_sum": view.neighbour_sum,
            "n_candidates": np.asarray(view.n_candidates, dtype=np.float32),
            "user_row": view.user_row,
            "action_rows": rows,
            "action_mask": mask,
        }
        if cfg.extra_features:
            state["state_extra"] = dialogue_features(obs, view.n_candidates, cfg.max_turns)
            state["action_extra"] = self._action_features(view)
        turn = int(obs["turn"])
        forced = cfg.recommend_rule and (
            view.n_candidates <= cfg.rec_size or turn >= cfg.max_turns - 1 or n_q == 0
        )
        return _Turn(view, state, forced)

    def _action_features(self, view: GraphView) -> npt.NDArray[np.float32]:
        """Per action: preference (item w_v or question entropy), rank, share held, is-question."""
        cfg = self.config
        out = np.zeros((cfg.n_actions, _N_ACTION_FEATURES), dtype=np.float32)
        n_items = view.item_actions.size
        pos = np.searchsorted(view.candidates, view.item_actions)
        out[:n_items, 0] = 0.5 * (1.0 + np.tanh(0.5 * view.scores[pos]))
        out[:n_items, 1] = np.arange(n_items) / cfg.item_actions
        out[:n_items, 2] = 1.0 / max(view.n_candidates, 1)
        n_q = view.question_actions.size
        rows = slice(cfg.item_actions, cfg.item_actions + n_q)
        out[rows, 0] = view.question_entropy
        out[rows, 1] = np.arange(n_q) / cfg.question_actions
        out[rows, 3] = 1.0
        return out

    def _q(self, turn: _Turn) -> npt.NDArray[np.float64]:
        batch = {k: torch.from_numpy(np.asarray(v))[None] for k, v in turn.state.items()}
        with torch.no_grad():
            q = self.q_net(batch)[0].double().numpy()
        q[~turn.mask] = -np.inf
        out: npt.NDArray[np.float64] = q
        return out

    def _choose(self, turn: _Turn) -> tuple[int, npt.NDArray[np.float64] | None]:
        """Greedy slot of the pruned action set (slot 0, the best item, when forced)."""
        if turn.forced:
            return 0, None
        q = self._q(turn)
        return int(np.argmax(q)), q

    def _to_action(
        self, turn: _Turn, slot: int, q: npt.NDArray[np.float64] | None
    ) -> dict[str, Any]:
        cfg = self.config
        k = cfg.rec_size
        if slot >= cfg.item_actions:
            question = int(turn.view.question_actions[slot - cfg.item_actions])
            return {"kind": ASK, "question": question, "items": np.zeros(k, dtype=np.int64)}
        items = turn.view.item_actions
        if cfg.rec_order == "q" and q is not None:
            # Stable sort: equal Q-values keep the score order.
            items = items[np.argsort(-q[: items.size], kind="stable")]
        return recommend_action(items[:k], k)

    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Return the greedy base-environment action for ``obs``."""
        turn = self._turn(obs)
        slot, q = self._choose(turn)
        return self._to_action(turn, slot, q)

    def action_dist(self, obs: dict[str, Any]) -> npt.NDArray[np.float64]:
        """Return the greedy policy's probabilities over the flat action set (one-hot)."""
        turn = self._turn(obs)
        slot, _ = self._choose(turn)
        p = np.zeros(self.n_actions)
        if slot >= self.config.item_actions:
            p[int(turn.view.question_actions[slot - self.config.item_actions])] = 1.0
        else:
            p[-1] = 1.0
        return p

    def to_action(self, flat: int, obs: dict[str, Any]) -> dict[str, Any]:
        """Turn a flat action (question id, or ``n_questions`` = recommend) into an env action.

        A recommendation lists the items the greedy policy would recommend at ``obs``.
        """
        if not 0 <= flat <= self.world.n_questions:
            raise ConfigError(f"`flat` must be in [0, {self.world.n_questions}], got {flat}")
        if flat < self.world.n_questions:
            k = self.config.rec_size
            return {"kind": ASK, "question": int(flat), "items": np.zeros(k, dtype=np.int64)}
        turn = self._turn(obs)
        q = None if turn.forced else self._q(turn)
        return self._to_action(turn, 0, q)

    # ---- learning ------------------------------------------------------------------------------
    def _epsilon(self) -> float:
        cfg = self.config
        span = max(cfg.eps_fraction * cfg.episodes, 1.0)
        frac = min(self.episodes_done / span, 1.0)
        return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)

    def _batch(self, idx: npt.NDArray[np.int64]) -> dict[str, torch.Tensor]:
        assert self._replay is not None
        return {
            k: torch.from_numpy(v[idx]).long() if k == "accepted" else torch.from_numpy(v[idx])
            for k, v in self._replay.states.items()
        }

    def _gradient_step(self) -> None:
        cfg = self.config
        rb = self._replay
        assert rb is not None
        idx, isw = rb.sample(cfg.batch_size, self._rng)
        s = self._batch(idx)
        action = torch.from_numpy(rb.action[idx])
        reward = torch.from_numpy(rb.reward[idx])
        live = ~rb.done[idx]
        q = self.q_net(s).gather(1, action[:, None])[:, 0]
        target = reward.clone()
        if live.any():
            s2 = self._batch(rb.next_slot(idx)[live])
            with torch.no_grad():
                online = self.q_net(s2).masked_fill(~s2["action_mask"], -torch.inf)
                best = online.argmax(dim=1, keepdim=True)
                q2 = self.target_net(s2).gather(1, best)[:, 0]
            target[torch.from_numpy(live)] += cfg.gamma * q2
        td = q - target
        loss = (torch.from_numpy(isw) * td.pow(2)).mean()
        self.optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        online = list(self.q_net.parameters())
        nn.utils.clip_grad_value_(online, 1.0, foreach=True)
        self.optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(self.target_net.parameters()), online, cfg.tau)
        rb.update(idx, td.detach().double().numpy())
        self.grad_steps += 1

    def _run_episode(
        self, env: gymnasium.Env[Any, Any], split: str, index: int, eps: float
    ) -> float:
        cfg = self.config
        rb = self._replay
        assert rb is not None
        obs, _ = env.reset(
            seed=int(self._rng.integers(2**31 - 1)), options={"split": split, "index": index}
        )
        turn = self._turn(obs)
        total = 0.0
        while True:
            if turn.forced:
                slot, q = 0, None
            elif self._rng.random() < eps:
                slot, q = int(self._rng.choice(np.flatnonzero(turn.mask))), None
            else:
                slot, q = self._choose(turn)
            obs, reward, term, trunc, _ = env.step(self._to_action(turn, slot, q))
            done = bool(term or trunc)
            nxt = None if done else self._turn(obs)
            rb.add(turn.state, slot, float(reward), None if nxt is None else nxt.state)
            total += float(reward)
            self.env_steps += 1
            if len(rb) >= max(cfg.learning_starts, 1) and self.env_steps % cfg.train_every == 0:
                self._gradient_step()
            if nxt is None:
                return total
            turn = nxt

    def _training_env(
        self, env: gymnasium.Env[Any, Any] | None
    ) -> tuple[gymnasium.Env[Any, Any], str, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The env to train in, its split, and the training and held-out ``valid`` sessions."""
        cfg = self.config
        if env is None:
            default, train_idx, hold_idx = self._prepare_learning()
            return default, "valid", train_idx, hold_idx
        base = getattr(env, "unwrapped", None)
        if not isinstance(base, ConversationalRecEnv):
            raise ConfigError(
                f"`env` must be a ConversationalRecEnv or a wrapper of one, got {type(env).__name__}"
            )
        if base.world.summary() != self.world.summary():
            raise ConfigError(
                f"`env` converses in world {base.world.name!r} {base.world.summary()}, the agent "
                f"was built for {self.world.name!r} {self.world.summary()}"
            )
        if (base.rec_size, base.max_turns) != (cfg.rec_size, cfg.max_turns):
            raise ConfigError(
                f"`env` has rec_size={base.rec_size}, max_turns={base.max_turns}; the agent's "
                f"config has rec_size={cfg.rec_size}, max_turns={cfg.max_turns}"
            )
        if self.embeddings is None:
            self.embeddings = train_fm(self.world, cfg.fm, seed=self.seed)
        train_idx, hold_idx = validation_split(
            self.world, cfg.holdout_fraction, cfg.eval_sessions, self.seed
        )
        split = str(base.split)
        if split != "valid":
            train_idx = np.arange(len(self.world.split(split)), dtype=np.int64)
        return env, split, train_idx, hold_idx

    def learn(
        self,
        env: gymnasium.Env[Any, Any] | None = None,
        episodes: int | None = None,
        *,
        progress: bool = False,
        checkpoint_path: str | Path | None = None,
        checkpoint_every: int = 500,
        callback: Callable[[UNICORNAgent], None] | None = None,
    ) -> UNICORNAgent:
        """Train (or resume training) in ``env`` up to ``episodes`` total sessions.

        ``env`` is a :class:`~recoworld.envs.ConversationalRecEnv` (or a wrapper of one) with any
        user, rewards and split; training sessions come from its split (minus the held-out
        model-selection sessions when it is ``valid``). ``None`` = the world's ``valid`` split
        with the published protocol. Trains the node embeddings first when the agent has none.
        Every ``eval_every`` episodes and at the end the greedy policy is scored on held-out
        ``valid`` sessions of ``env``; the best weights are kept and loaded at the end. With
        ``checkpoint_path`` the full training state (replay included) is saved every
        ``checkpoint_every`` episodes, so that :meth:`load` + :meth:`learn` resumes exactly.
        ``callback`` is called after every episode.
        """
        cfg = self.config
        total = cfg.episodes if episodes is None else episodes
        start = time.perf_counter()
        if self.embeddings is None and cfg.pretrained == "transe":
            self.embeddings = train_transe(self.world, cfg.transe, seed=self.seed)
        env, split, train_idx, hold_idx = self._training_env(env)
        assert self.embeddings is not None
        if self._graph is None:
            self._attach(self.embeddings)
        if self._replay is None:
            self._replay = self._make_replay()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=self.episodes_done, desc="UNICORN", unit="ep")
        while self.episodes_done < total:
            i = int(train_idx[self._rng.integers(train_idx.size)])
            self._run_episode(env, split, i, self._epsilon())
            self.episodes_done += 1
            if bar is not None:
                bar.update(1)
            if self.episodes_done % cfg.eval_every == 0 or self.episodes_done == total:
                self._select(env, hold_idx)
                if bar is not None:
                    bar.set_postfix(holdout_sr=f"{self.selection_history[-1][1]:.3f}")
            if callback is not None:
                callback(self)
            if checkpoint_path is not None and self.episodes_done % checkpoint_every == 0:
                self.train_seconds += time.perf_counter() - start
                start = time.perf_counter()
                self.save(checkpoint_path)
        self._finish_learning(bar, start, checkpoint_path)
        return self

    def _selected_network(self) -> nn.Module:
        return self.q_net

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path, replay: bool = True) -> None:
        """Write weights, embeddings, settings and the training state to ``path``.

        ``replay=False`` leaves out the replay buffer (most of the file): enough to act and to
        evaluate, while resuming training then starts from an empty buffer.
        """
        payload: dict[str, Any] = {
            **checkpoint_header(self.name, self.config, self.seed, self.world),
            "q_net": self.q_net.state_dict(),
            "target_net": self.target_net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "replay": self._replay.to_tensors() if replay and self._replay is not None else None,
            "rng": rng_state(self._rng),
            "episodes_done": self.episodes_done,
            "grad_steps": self.grad_steps,
            "env_steps": self.env_steps,
            **self._selection_payload(),
        }
        if self.embeddings is not None:
            payload["embeddings"] = embeddings_payload(self.embeddings)
        save_checkpoint(path, payload)

    @classmethod
    def load(cls, path: str | Path, world: AttributeGraphWorld) -> UNICORNAgent:
        """Rebuild an agent saved by :meth:`save` (resumable with :meth:`learn`)."""
        payload = load_checkpoint(path, cls.name)
        check_world(payload, world, path)
        config = config_from_dict(
            UNICORNConfig, payload["config"], {"fm": FMConfig, "transe": TransEConfig}
        )
        emb = None
        if "embeddings" in payload:
            emb = embeddings_from_payload(payload["embeddings"])
        agent = cls(world, config, seed=int(payload["seed"]), embeddings=emb)
        agent.q_net.load_state_dict(payload["q_net"])
        agent.target_net.load_state_dict(payload["target_net"])
        agent.optimizer.load_state_dict(payload["optimizer"])
        if payload["replay"] is not None:
            agent._replay = agent._make_replay()
            agent._replay.restore(payload["replay"])
        agent._rng = rng_from_state(payload["rng"])
        agent.grad_steps = int(payload["grad_steps"])
        agent.env_steps = int(payload["env_steps"])
        agent._restore_selection(payload)
        return agent
