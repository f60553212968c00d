"""Fidelity of a conversational user simulator against the statistical oracle's ground truth.

``recoworld fidelity --env ID --user llm --sessions N`` plays the first ``N`` sessions of a split.
In each session the simulator opens the conversation, answers ``questions`` questions and judges
two recommendation lists, and every answer is compared with the truth (the target's attributes):

- questions (binary worlds): half about attributes the target holds, half about attributes it
  does not (drawn uniformly), so that a user who always says "yes" (or "no") scores 0.5;
  enumerated worlds ask parents drawn uniformly and need the exact set of children;
- lists: one holds the target at a random position among ``rec_size - 1`` random items, one
  holds ``rec_size`` random non-targets; acceptance is right iff it equals "target in list".

Reported: ``answer_accuracy`` (of the answers the environment receives, invalid replies'
fallbacks included), ``answer_accuracy_valid`` (over parsed replies only),
``acceptance_accuracy`` (likewise ``acceptance_accuracy_valid``), ``opening_accuracy`` (the
opening names an attribute of the target), ``invalid_rate`` (unparseable replies / all turns) and
``sessions``. The statistical user scores 1 everywhere, which checks the harness itself.

With ``transcripts=k`` the first ``k`` sessions are also kept as text
(:func:`recoworld.envs.transcript.format_conversation`: the questions, the answers, the user's
utterances), so an LLM user's session can be read beside the statistical user's.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from recoworld._validate import require_range
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.transcript import ConversationTurn, TurnKind, format_conversation
from recoworld.errors import ConfigError
from recoworld.users.conversational import ConversationalUser
from recoworld.users.target_item import TargetItemUser

__all__ = ["FidelityReport", "measure_fidelity"]


@dataclass(frozen=True)
class FidelityReport:
    """Agreement of a user simulator with the ground truth (see the module docstring)."""

    sessions: int
    questions: int
    judgements: int
    answer_accuracy: float
    answer_accuracy_valid: float
    acceptance_accuracy: float
    acceptance_accuracy_valid: float
    opening_accuracy: float
    invalid_rate: float
    invalid_responses: int
    turns: int
    seconds: float
    transcripts: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the report's numbers as a JSON-ready dict (``transcripts`` are left out)."""
        out = asdict(self)
        del out["transcripts"]
        return out


def _mean(hits: list[bool]) -> float:
    return float(np.mean(hits)) if hits else float("nan")


def _invalid(user: ConversationalUser) -> bool:
    return bool(user.step_info().get("invalid_response", False))


def _turn(user: ConversationalUser, turn: int, kind: TurnKind, **fields: Any) -> ConversationTurn:
    """The turn just played, with the user's utterance; no candidate set, no reward."""
    info = user.step_info()
    return ConversationTurn(
        turn, kind, candidates=-1, utterance=str(info.get("utterance", "")),
        invalid=bool(info.get("invalid_response", False)), **fields,
    )


def measure_fidelity(
    world: AttributeGraphWorld,
    user: ConversationalUser,
    sessions: int,
    split: str = "test",
    questions: int = 4,
    rec_size: int = 10,
    seed: int = 0,
    transcripts: int = 0,
) -> FidelityReport:
    """Play ``sessions`` sessions of ``split`` with ``user`` and score it against the truth.

    The first ``transcripts`` sessions are kept as text in the report's ``transcripts``.
    """
    require_range("sessions", sessions, 1)
    require_range("transcripts", transcripts, 0)
    require_range("questions", questions, 1)
    require_range("rec_size", rec_size, 2, world.n_items)
    pairs = world.split(split)
    if len(pairs) < sessions:
        raise ConfigError(
            f"`sessions` must be <= the {len(pairs)} sessions of split {split!r}, got {sessions}"
        )
    truth = TargetItemUser(world)
    answers: list[bool] = []
    answers_valid: list[bool] = []
    accepts: list[bool] = []
    accepts_valid: list[bool] = []
    openings: list[bool] = []
    turns = invalid = 0
    texts: list[str] = []
    t0 = time.perf_counter()
    for i in range(sessions):
        played: list[ConversationTurn] = []
        u, target = int(pairs[i, 0]), int(pairs[i, 1])
        rng = np.random.default_rng([seed, i])
        attrs = world.attributes_of(target)
        opening = user.start(u, target, rng)
        truth.start(u, target, np.random.default_rng(0))
        bad = _invalid(user)
        played.append(_turn(user, 1, "open", accepted=(int(opening),)))
        turns, invalid = turns + 1, invalid + bad
        if not bad:
            openings.append(bool(np.isin(opening, attrs)))
        if world.question_mode == "binary":
            others = np.setdiff1d(np.arange(world.n_attributes), attrs)
            n_pos = min(questions // 2, attrs.size)
            n_neg = min(questions - n_pos, others.size)
            asked = np.concatenate(
                [rng.choice(attrs, n_pos, replace=False), rng.choice(others, n_neg, replace=False)]
            )
            for a in rng.permutation(asked):
                yes = user.answer_binary(int(a), rng)
                ok = yes == truth.answer_binary(int(a), rng)
                bad = _invalid(user)
                said = ((int(a),), ()) if yes else ((), (int(a),))
                played.append(
                    _turn(user, len(played) + 1, "ask", question=int(a), accepted=said[0],
                          rejected=said[1])
                )
                answers.append(ok)
                if not bad:
                    answers_valid.append(ok)
                turns, invalid = turns + 1, invalid + bad
        else:
            parents = rng.choice(world.n_parents, min(questions, world.n_parents), replace=False)
            for p in parents:
                got = user.answer_enumerated(int(p), rng)
                ok = bool(np.array_equal(np.sort(got), np.sort(truth.answer_enumerated(int(p), rng))))
                bad = _invalid(user)
                played.append(
                    _turn(user, len(played) + 1, "ask", question=int(p),
                          accepted=tuple(int(c) for c in np.sort(got)))
                )
                answers.append(ok)
                if not bad:
                    answers_valid.append(ok)
                turns, invalid = turns + 1, invalid + bad
        non_targets = np.setdiff1d(np.arange(world.n_items), [target])
        with_target = rng.choice(non_targets, rec_size, replace=False)
        with_target[rng.integers(rec_size)] = target
        without = rng.choice(non_targets, rec_size, replace=False)
        for items in (with_target, without):
            yes = user.judge(items, rng)
            ok = yes == truth.judge(items, rng)
            bad = _invalid(user)
            at = np.flatnonzero(items == target)
            played.append(
                _turn(user, len(played) + 1, "recommend", items=tuple(int(v) for v in items),
                      rank=int(at[0]) + 1 if yes and at.size else 0, off_target=yes and not at.size)
            )
            accepts.append(ok)
            if not bad:
                accepts_valid.append(ok)
            turns, invalid = turns + 1, invalid + bad
        if i < transcripts:
            texts.append(format_conversation(world, u, target, played))
    return FidelityReport(
        sessions=sessions,
        questions=len(answers),
        judgements=len(accepts),
        answer_accuracy=_mean(answers),
        answer_accuracy_valid=_mean(answers_valid),
        acceptance_accuracy=_mean(accepts),
        acceptance_accuracy_valid=_mean(accepts_valid),
        opening_accuracy=_mean(openings),
        invalid_rate=invalid / turns,
        invalid_responses=invalid,
        turns=turns,
        seconds=time.perf_counter() - t0,
        transcripts=tuple(texts),
    )
