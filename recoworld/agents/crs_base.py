"""Shared plumbing of the learned conversational agents (SCPR, EAR, CRM).

* :func:`dialogue_features`: a fixed-size summary of the conversation read from the base
  environment's observation (counts of turns, questions, rejections, candidate-count bucket), so
  that agents stay stateless between calls (``predict(obs)`` needs nothing but ``obs``);
* :func:`session_split`: the training / model-selection halves of the validation sessions;
* :func:`success_rate`: greedy success rate of an agent on given sessions (model selection);
* :func:`save_checkpoint` / :func:`load_checkpoint`: one ``.pt`` file per agent holding tensors
  and plain values only, read back with ``torch.load(weights_only=True)`` (no code execution);
  :func:`checkpoint_header`, :func:`embeddings_payload` and :func:`embeddings_from_payload` build
  and read the parts every learned agent's checkpoint shares;
* :func:`validation_split` / :func:`learning_sessions`: the training and model-selection
  sessions an agent uses (model selection on held-out ``valid`` sessions only);
* :func:`consistent_candidates` / :func:`declined_counts` / :func:`candidate_view`: the
  candidates an agent considers (the hard filter on declined attributes and the noise-aware one).

The learner base of SCPR, EAR and CRM is :class:`~recoworld.agents.learner.LearnedCRSAgent`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import gymnasium
import numpy as np
import numpy.typing as npt
import torch

from recoworld._validate import require_range
from recoworld.agents.base import Agent
from recoworld.agents.fm import FMEmbeddings
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import RECOMMEND
from recoworld.errors import ConfigError, DataError, DatasetNotFoundError

__all__ = [
    "candidate_bucket",
    "candidate_view",
    "check_world",
    "checkpoint_header",
    "config_from_dict",
    "consistent_candidates",
    "declined_counts",
    "dialogue_features",
    "embeddings_from_payload",
    "embeddings_payload",
    "learning_sessions",
    "load_checkpoint",
    "n_dialogue_features",
    "posterior_scores",
    "recommend_action",
    "rng_from_state",
    "rng_state",
    "save_checkpoint",
    "session_split",
    "success_rate",
    "unseen_candidates",
    "validation_split",
]

_N_BUCKETS = 16


def candidate_bucket(n_candidates: int) -> int:
    """Bucket of a candidate count: 0 for none, else ``1 + floor(log2(n))`` capped at 15."""
    if n_candidates <= 0:
        return 0
    return min(1 + int(np.log2(n_candidates)), _N_BUCKETS - 1)


def n_dialogue_features(max_turns: int = 15) -> int:
    """Length of :func:`dialogue_features`' vector."""
    return 4 * (max_turns + 1) + _N_BUCKETS


def dialogue_features(
    obs: dict[str, Any], n_candidates: int, max_turns: int = 15
) -> npt.NDArray[np.float32]:
    """One-hot turn, questions asked, attributes accepted, failed recommendations, and bucket.

    Each count is capped at ``max_turns``. The failed recommendations are the turns neither
    opening nor question: ``turn - 1 - questions asked``.
    """
    width = max_turns + 1
    out = np.zeros(n_dialogue_features(max_turns), dtype=np.float32)
    turn = int(obs["turn"])
    asked = int(np.count_nonzero(obs["asked"]))
    accepted = int(np.count_nonzero(obs["accepted"]))
    rec_fail = max(turn - 1 - asked, 0)
    for slot, value in enumerate((turn, asked, accepted, rec_fail)):
        out[slot * width + min(value, max_turns)] = 1.0
    out[4 * width + candidate_bucket(n_candidates)] = 1.0
    return out


def _declined_holders(
    attribute_items: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]],
    rejected: npt.NDArray[np.intp],
) -> npt.NDArray[np.int32]:
    """The items holding each declined attribute, concatenated (an item once per attribute)."""
    indptr, indices = attribute_items
    starts, ends = indptr[rejected], indptr[rejected + 1]
    lengths = (ends - starts).astype(np.int64)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    holders: npt.NDArray[np.int32] = indices[np.repeat(starts.astype(np.int64), lengths) + offsets]
    return holders


def consistent_candidates(
    attribute_items: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]],
    obs: dict[str, Any],
    candidates: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Drop the candidates holding an attribute the user declined (all kept if none would remain).

    With exact answers the target never holds a declined attribute, so such items cannot be it.
    ``attribute_items`` is the ``(indptr, indices)`` of the item-attribute matrix in CSC form.
    """
    rejected = np.flatnonzero(obs["rejected"])
    if rejected.size == 0 or candidates.size == 0:
        return candidates
    keep = candidates[~np.isin(candidates, _declined_holders(attribute_items, rejected))]
    return keep if keep.size else candidates


def declined_counts(
    attribute_items: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]],
    obs: dict[str, Any],
    candidates: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """How many of the attributes the user declined each of the sorted ``candidates`` holds.

    ``attribute_items`` is the ``(indptr, indices)`` of the item-attribute matrix in CSC form.
    """
    counts = np.zeros(candidates.size, dtype=np.int64)
    rejected = np.flatnonzero(obs["rejected"])
    if rejected.size == 0 or candidates.size == 0:
        return counts
    holders = _declined_holders(attribute_items, rejected)
    pos = np.minimum(np.searchsorted(candidates, holders), candidates.size - 1)
    hit = candidates[pos] == holders
    counts += np.bincount(pos[hit], minlength=candidates.size)
    return counts


def candidate_view(
    world: AttributeGraphWorld,
    attribute_items: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]],
    obs: dict[str, Any],
    *,
    exclude_seen: bool,
    prune_rejected: bool,
    answer_noise: float,
    max_declined: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The candidates an agent ranks and asks about, and a score offset for each.

    Starts from the observation's candidates; ``exclude_seen`` drops the user's training items.
    ``prune_rejected`` with ``answer_noise == 0`` is the hard filter (:func:`consistent_candidates`:
    no item holding a declined attribute, which exact answers rule out). With ``answer_noise``
    ``= p > 0`` it is the noise-aware filter: if each answer is flipped with probability ``p``, a
    candidate holding ``k`` declined attributes has its odds of being the target multiplied by
    ``(p / (1 - p)) ** k``; the offset returned is that log-likelihood ratio, ``k * log(p / (1 -
    p))``, to add to a log-prior (:func:`posterior_scores`), and a candidate is dropped only once
    ``k >= max_declined``. Nothing is dropped when nothing would remain.
    """
    cand = np.flatnonzero(obs["candidates"]).astype(np.int64)
    if exclude_seen:
        cand = unseen_candidates(world, int(obs["user"]), cand)
    offset = np.zeros(cand.size, dtype=np.float64)
    if not prune_rejected:
        return cand, offset
    if answer_noise <= 0.0:
        cand = consistent_candidates(attribute_items, obs, cand)
        return cand, np.zeros(cand.size, dtype=np.float64)
    k = declined_counts(attribute_items, obs, cand)
    keep = k < max_declined
    if keep.any():
        cand, k = cand[keep], k[keep]
    penalty = (k * np.log(answer_noise / (1.0 - answer_noise))).astype(np.float64)
    return cand, penalty


def posterior_scores(
    fm_scores: npt.NDArray[np.float64], offset: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Log-posterior weights of candidates: ``log sigmoid(fm_scores) + offset``.

    SCPR weighs items by the sigmoid of their FM score; read as a prior, its logarithm plus the
    answers' log-likelihood ratio (:func:`candidate_view`'s offset) is the log of the posterior
    weight under the assumed flip rate. The sigmoid saturates, so a declined attribute demotes
    even an item of a very high FM score.
    """
    out: npt.NDArray[np.float64] = -np.logaddexp(0.0, -fm_scores) + offset
    return out


def unseen_candidates(
    world: AttributeGraphWorld, user: int, candidates: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Drop ``user``'s training items from ``candidates`` (all kept if nothing would remain)."""
    ui = world.user_items_train
    seen = ui.indices[ui.indptr[user] : ui.indptr[user + 1]]
    keep = candidates[~np.isin(candidates, seen, assume_unique=True)]
    return keep if keep.size else candidates


def recommend_action(items: npt.NDArray[np.int64], k: int) -> dict[str, Any]:
    """The base environment's "recommend" action for ``items``, padded to ``k`` with the last."""
    padded = np.full(k, items[-1] if items.size else 0, dtype=np.int64)
    padded[: items.size] = items
    return {"kind": RECOMMEND, "question": 0, "items": padded}


def session_split(
    n_sessions: int, holdout_fraction: float, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Shuffle session indices ``0..n-1`` into (training, model-selection) parts.

    The model-selection part holds ``round(holdout_fraction * n)`` sessions (at least one when the
    fraction is positive and ``n >= 2``); test sessions never enter either.
    """
    require_range("holdout_fraction", holdout_fraction, 0, 1, high_open=True)
    if n_sessions < 1:
        raise DataError(f"the training split must hold at least one session, got {n_sessions}")
    order = rng.permutation(n_sessions).astype(np.int64)
    n_hold = round(holdout_fraction * n_sessions)
    if holdout_fraction > 0 and n_sessions >= 2:
        n_hold = max(n_hold, 1)
    n_hold = min(n_hold, n_sessions - 1)
    return np.sort(order[n_hold:]), np.sort(order[:n_hold])


def validation_split(
    world: AttributeGraphWorld, holdout_fraction: float, eval_sessions: int, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The (training, model-selection) ``valid`` sessions of an agent seeded with ``seed``.

    :func:`session_split` of ``world``'s ``valid`` split drawn from ``default_rng([seed, 1])``,
    the model-selection part cut to its first ``eval_sessions`` sessions.
    """
    train_idx, hold_idx = session_split(
        len(world.split("valid")), holdout_fraction, np.random.default_rng([seed, 1])
    )
    return train_idx, hold_idx[:eval_sessions]


def learning_sessions(
    world: AttributeGraphWorld,
    split: str,
    holdout_fraction: float,
    eval_sessions: int,
    seed: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The training sessions of ``split`` and the held-out ``valid`` sessions of model selection.

    Model selection always plays held-out ``valid`` sessions (:func:`validation_split`), never
    ``test``. Training on ``valid`` leaves every held-out session out; training on another split
    uses all of its sessions. With ``eval_sessions == 0`` there is no model selection, and a world
    without a ``valid`` split can train on another split.
    """
    n = len(world.split(split))
    if n < 1:
        raise DataError(f"split {split!r} of world {world.name!r} holds no session to train on")
    if split != "valid" and eval_sessions == 0:
        return np.arange(n, dtype=np.int64), np.empty(0, dtype=np.int64)
    train_valid, hold_idx = validation_split(world, holdout_fraction, eval_sessions, seed)
    if split == "valid":
        return train_valid, hold_idx
    return np.arange(n, dtype=np.int64), hold_idx


def success_rate(
    env: gymnasium.Env[Any, Any],
    agent: Agent,
    split: str,
    indices: npt.NDArray[np.int64],
    seed: int = 0,
) -> float:
    """Fraction of the sessions ``indices`` of ``split`` that end in an accepted recommendation."""
    if indices.size == 0:
        return 0.0
    wins = 0
    for k, i in enumerate(indices.tolist()):
        obs, _ = env.reset(seed=seed if k == 0 else None, options={"split": split, "index": i})
        while True:
            obs, _, term, trunc, info = env.step(agent.predict(obs))
            if term or trunc:
                wins += int(bool(info["success"]))
                break
    return wins / indices.size


def rng_state(rng: np.random.Generator) -> str:
    """Encode the generator's state as a JSON string (checkpoints store plain text)."""
    return json.dumps(rng.bit_generator.state)


def rng_from_state(state: str) -> np.random.Generator:
    """Restore a PCG64 generator from :func:`rng_state`."""
    rng = np.random.default_rng()
    rng.bit_generator.state = json.loads(state)
    return rng


T = TypeVar("T")


def config_from_dict(
    cls: type[T], values: dict[str, Any], nested: dict[str, type[Any]] | None = None
) -> T:
    """Rebuild a frozen config dataclass from plain values, rejecting unknown keys.

    ``nested`` maps a field name to the dataclass its dict value is rebuilt as.
    """
    assert is_dataclass(cls)
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(
            f"unknown {cls.__name__} key(s) {sorted(unknown)}; known: {sorted(known)}"
        )
    kwargs = dict(values)
    for name, sub in (nested or {}).items():
        if isinstance(kwargs.get(name), dict):
            kwargs[name] = config_from_dict(sub, kwargs[name])
    return cls(**kwargs)


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (tensors, numbers, strings, lists and dicts of them) atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(p)


def checkpoint_header(name: str, config: Any, seed: int, world: AttributeGraphWorld) -> dict[str, Any]:
    """The first entries of every learned agent's checkpoint: agent, config, seed and world."""
    return {"agent": name, "config": asdict(config), "seed": seed, "world": world.summary()}


def embeddings_payload(emb: FMEmbeddings) -> dict[str, torch.Tensor]:
    """FM embeddings as the tensors a checkpoint stores."""
    return {
        "user": torch.from_numpy(np.array(emb.user)),
        "item": torch.from_numpy(np.array(emb.item)),
        "attribute": torch.from_numpy(np.array(emb.attribute)),
    }


def embeddings_from_payload(e: dict[str, torch.Tensor]) -> FMEmbeddings:
    """FM embeddings read back from :func:`embeddings_payload`'s tensors."""
    return FMEmbeddings(
        user=e["user"].numpy(), item=e["item"].numpy(), attribute=e["attribute"].numpy()
    )


def load_checkpoint(path: str | Path, agent: str | tuple[str, ...]) -> dict[str, Any]:
    """Read a checkpoint of ``agent`` (or one of several names) written by :func:`save_checkpoint`.

    ``path`` is the file, or a run folder of ``recoworld train`` (its ``agent.pt`` is read).

    The file is read with ``torch.load(weights_only=True)``: tensors and plain values only.
    """
    names = (agent,) if isinstance(agent, str) else agent
    p = Path(path)
    if p.is_dir():  # the run folder `recoworld train --out` wrote
        if not (p / "agent.pt").is_file():
            resumable = " (it holds checkpoint.pt: rerun the train command to finish)" if (
                p / "checkpoint.pt"
            ).is_file() else ""
            raise DatasetNotFoundError(
                f"checkpoint folder {p} holds no agent.pt, so its training has not finished"
                f"{resumable}; pass the folder of a finished `recoworld train --out` run"
            )
        p = p / "agent.pt"
    if not p.is_file():
        raise DatasetNotFoundError(
            f"checkpoint {p} does not exist; train one with `recoworld train --agent {names[0]}`"
        )
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise DataError(f"checkpoint {p} is corrupt or not a RecoWorld checkpoint: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("agent") not in names:
        found = payload.get("agent") if isinstance(payload, dict) else type(payload).__name__
        raise DataError(f"checkpoint {p} holds agent {found!r}, expected one of {list(names)}")
    return payload


def check_world(payload: dict[str, Any], world: AttributeGraphWorld, path: str | Path) -> None:
    """Raise :class:`DataError` unless the checkpoint was trained on a world of this shape."""
    want = world.summary()
    got = payload.get("world", {})
    keys = ("users", "items", "attributes", "parents")
    if any(int(got.get(k, -1)) != want[k] for k in keys):
        raise DataError(
            f"checkpoint {path} was trained on a world with "
            f"{ {k: got.get(k) for k in keys} }, this world {world.name!r} has "
            f"{ {k: want[k] for k in keys} }; load it with the environment it was trained on"
        )
