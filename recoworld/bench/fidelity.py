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

Fidelity as the work on LLM user simulators measures it, besides accuracy:

- ``answer_accuracy_by_type``: accuracy per attribute type (the parent in enumerated worlds, the
  attribute itself in binary ones), and in binary worlds ``answer_accuracy_held`` /
  ``answer_accuracy_not_held`` (questions about attributes the target holds / does not hold: a
  user that says "no" to everything scores 0 and 1);
- ``consistency``: after its questions, each session asks its first question again; the share of
  sessions answering it the same way twice (the repeat is not counted in the accuracies);
- ``leakage_rate``: the share of sessions in which the user, before the list holding the target,
  names the target or a target attribute the protocol has not disclosed
  (:func:`~recoworld.bench.leakage.find_leaks`); ``leaks`` counts them by kind;
- ``turns_per_second``: user turns (the repeats included) per second of the whole run.

With ``transcripts=k`` the first ``k`` sessions are also kept as text
(:func:`recoworld.envs.transcript.format_conversation`: the questions, the answers, the user's
utterances), so an LLM user's session can be read beside the statistical user's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from recoworld._validate import require_range
from recoworld.bench.leakage import find_leaks
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
    turns_per_second: float
    answer_accuracy_held: float
    answer_accuracy_not_held: float
    answer_accuracy_by_type: dict[str, dict[str, float]]
    consistency: float
    leakage_rate: float
    leaks: dict[str, int]
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
    first: int = 0,
    indices: Sequence[int] | None = None,
    transcripts: int = 0,
) -> FidelityReport:
    """Play ``sessions`` sessions of ``split`` with ``user`` and score it against the truth.

    The sessions are ``first`` .. ``first + sessions - 1`` of the split, or exactly ``indices``
    when given (then ``sessions`` must be their count); session ``i`` draws from
    ``default_rng([seed, i])``, so slices played apart ask exactly what one run would. The first
    ``transcripts`` sessions played are kept as text in the report's ``transcripts``.
    """
    require_range("sessions", sessions, 1)
    require_range("transcripts", transcripts, 0)
    if indices is not None and len(indices) != sessions:
        raise ConfigError(f"`sessions` must equal the {len(indices)} `indices`, got {sessions}")
    require_range("questions", questions, 1)
    require_range("rec_size", rec_size, 2, world.n_items)
    pairs = world.split(split)
    if first < 0:
        raise ConfigError(f"`first` must be >= 0, got {first}")
    if len(pairs) < first + sessions:
        raise ConfigError(
            f"`sessions` must be <= the {len(pairs) - first} sessions of split {split!r} from "
            f"session {first}, got {sessions}"
        )
    played = list(range(first, first + sessions)) if indices is None else [int(i) for i in indices]
    if any(not 0 <= i < len(pairs) for i in played):
        raise ConfigError(
            f"`indices` must be session indices in [0, {len(pairs)}) of split {split!r}, "
            f"got {played}"
        )
    truth = TargetItemUser(world)
    answers: list[bool] = []
    answers_valid: list[bool] = []
    accepts: list[bool] = []
    accepts_valid: list[bool] = []
    openings: list[bool] = []
    held: list[bool] = []
    not_held: list[bool] = []
    by_type: dict[str, list[bool]] = {}
    consistent: list[bool] = []
    leaky_sessions = 0
    leaks = {"target_id": 0, "attribute": 0}
    turns = invalid = 0
    texts: list[str] = []
    t0 = time.perf_counter()
    for n_played, i in enumerate(played):
        session_turns: list[ConversationTurn] = []
        u, target = int(pairs[i, 0]), int(pairs[i, 1])
        rng = np.random.default_rng([seed, i])
        attrs = world.attributes_of(target)
        disclosed: set[int] = set()
        found: list[str] = []

        def audit(target: int = target, disclosed: set[int] = disclosed,
                  found: list[str] = found) -> None:  # fmt: skip
            text = str(user.step_info().get("utterance", ""))
            found.extend(leak.kind for leak in find_leaks(text, world, target, disclosed))

        opening = user.start(u, target, rng)
        truth.start(u, target, np.random.default_rng(0))
        disclosed.add(int(opening))  # the protocol's opening names it
        audit()
        bad = _invalid(user)
        session_turns.append(_turn(user, 1, "open", accepted=(int(opening),)))
        turns, invalid = turns + 1, invalid + bad
        if not bad:
            openings.append(bool(np.isin(opening, attrs)))
        repeat: Any = None
        first_answer: Any = None
        if world.question_mode == "binary":
            others = np.setdiff1d(np.arange(world.n_attributes), attrs)
            n_pos = min(questions // 2, attrs.size)
            n_neg = min(questions - n_pos, others.size)
            asked = np.concatenate(
                [rng.choice(attrs, n_pos, replace=False), rng.choice(others, n_neg, replace=False)]
            )
            for a in rng.permutation(asked):
                disclosed.add(int(a))
                yes = user.answer_binary(int(a), rng)
                audit()
                want = truth.answer_binary(int(a), rng)
                ok = yes == want
                bad = _invalid(user)
                said = ((int(a),), ()) if yes else ((), (int(a),))
                session_turns.append(
                    _turn(user, len(session_turns) + 1, "ask", question=int(a), accepted=said[0],
                          rejected=said[1])
                )
                answers.append(ok)
                (held if want else not_held).append(ok)
                by_type.setdefault(world.attribute_names[int(a)], []).append(ok)
                if not bad:
                    answers_valid.append(ok)
                turns, invalid = turns + 1, invalid + bad
                if repeat is None:
                    repeat, first_answer = int(a), yes
            again: Any = user.answer_binary(int(repeat), rng)
            consistent.append(bool(again == first_answer))
        else:
            parents = rng.choice(world.n_parents, min(questions, world.n_parents), replace=False)
            for p in parents:
                disclosed.update(int(c) for c in world.children_of(int(p)))
                got_children = np.sort(user.answer_enumerated(int(p), rng))
                audit()
                ok = bool(np.array_equal(got_children, np.sort(truth.answer_enumerated(int(p), rng))))
                bad = _invalid(user)
                session_turns.append(
                    _turn(user, len(session_turns) + 1, "ask", question=int(p),
                          accepted=tuple(int(c) for c in got_children))
                )
                answers.append(ok)
                by_type.setdefault(world.parent_names[int(p)], []).append(ok)
                if not bad:
                    answers_valid.append(ok)
                turns, invalid = turns + 1, invalid + bad
                if repeat is None:
                    repeat, first_answer = int(p), got_children
            again = np.sort(user.answer_enumerated(int(repeat), rng))
            consistent.append(bool(np.array_equal(again, first_answer)))
        audit()
        turns, invalid = turns + 1, invalid + _invalid(user)
        non_targets = np.setdiff1d(np.arange(world.n_items), [target])
        with_target = rng.choice(non_targets, rec_size, replace=False)
        with_target[rng.integers(rec_size)] = target
        without = rng.choice(non_targets, rec_size, replace=False)
        for items in (with_target, without):
            yes = user.judge(items, rng)
            ok = yes == truth.judge(items, rng)
            bad = _invalid(user)
            at = np.flatnonzero(items == target)
            session_turns.append(
                _turn(user, len(session_turns) + 1, "recommend", items=tuple(int(v) for v in items),
                      rank=int(at[0]) + 1 if yes and at.size else 0, off_target=yes and not at.size)
            )
            accepts.append(ok)
            if not bad:
                accepts_valid.append(ok)
            turns, invalid = turns + 1, invalid + bad
        leaky_sessions += bool(found)
        for kind in found:
            leaks[kind] += 1
        if n_played < transcripts:
            texts.append(format_conversation(world, u, target, session_turns))
    seconds = time.perf_counter() - t0
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
        seconds=seconds,
        turns_per_second=turns / seconds if seconds > 0 else float("inf"),
        answer_accuracy_held=_mean(held),
        answer_accuracy_not_held=_mean(not_held),
        answer_accuracy_by_type={
            k: {"questions": float(len(v)), "accuracy": _mean(v)} for k, v in sorted(by_type.items())
        },
        consistency=_mean(consistent),
        leakage_rate=leaky_sessions / sessions,
        leaks=leaks,
        transcripts=tuple(texts),
    )
