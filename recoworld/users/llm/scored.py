"""``ScoredConversationalUser``: an LLM user whose every decision is a scored yes/no question.

Each decision is recast as the narrowest question the model can answer from what the user knows,
the target's attribute names and the recommended items' attribute names, and the model is asked
it as a raw completion (``/v1/completions``, no chat template) after a few solved examples from the
training split (:mod:`~recoworld.users.llm.fewshot`). The answer is read from the log-probabilities
of " yes" and " no" (:mod:`~recoworld.users.llm.logprob`), not from generated text:

- binary question about attribute ``a``: "Features: <wanted>. Has <a>?";
- enumerated question about a parent: the same question for each child; the user picks the
  children answered yes;
- recommended list: for each item, "Want: <wanted>. Got: <item's attributes>. Same?"; the user
  accepts the list when an item is answered yes (it names the first) and rejects it when none is;
- opening: the published protocol draws the opening attribute uniformly among the target's; there
  is nothing to judge, so no model call is spent (``start`` draws it from the handed generator).

``calibration="contextual"`` (the default) divides out the answer prior the model shows on the
same prompt with the question's content replaced by content-free texts ("N/A", "[MASK]", "";
Zhao et al., 2021), measured once per session and decision kind; ``"none"`` compares the raw
log-probabilities. Scores are deterministic (no sampling), so a repeated question gets the same
answer and the same request is one cache entry wherever it is asked.

When neither answer is among the model's likely next tokens the reply is invalid: the turn falls
back to the documented rejection (no / no children / reject), flagged ``invalid_response`` in
:meth:`ScoredConversationalUser.step_info`, or :class:`~recoworld.errors.LLMResponseError` with
``on_invalid="raise"``. The user writes no free text; its utterance is a fixed sentence stating the
decision, so it can leak nothing the decision does not.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from recoworld.datasets.world import AttributeGraphWorld
from recoworld.errors import ConfigError, InvalidActionError, LLMResponseError
from recoworld.users.conversational import target_attributes
from recoworld.users.llm.client import LLMClient
from recoworld.users.llm.fewshot import FewShotPool
from recoworld.users.llm.logprob import AnswerScores, Calibration, answer_scores
from recoworld.users.llm.prompts import render_prompt

__all__ = ["ScoredConversationalUser", "ScoredUserConfig", "fit_threshold"]

_ANSWERS = ("yes", "no")


@dataclass(frozen=True)
class ScoredUserConfig:
    """Settings of :class:`ScoredConversationalUser`.

    Attributes:
        item_noun: What the items are called in prompts ("song", "business", "item").
        calibration: ``"contextual"`` (divide out the content-free prior), ``"fitted"`` (a
            yes-vs-no threshold fitted on labelled questions about other training items) or
            ``"none"`` (compare the raw log-probabilities).
        shots: Solved examples before each question (0 for none).
        shot_split: Split the examples' items come from (never the evaluated one).
        shot_seed: Seed of the examples' draw.
        top_logprobs: Alternatives of the first token read from the server (an answer outside
            them is bounded by the least likely one).
        content_free: Texts standing in for the question's content when measuring the prior.
        fit_questions: Labelled questions of each kind the fitted threshold is chosen on.
        max_item_attributes: Attributes shown per recommended item (the rest are elided).
        on_invalid: ``"reject"`` (fall back to a rejection, flagged) or ``"raise"``.

    """

    item_noun: str = "item"
    calibration: Literal["contextual", "fitted", "none"] = "contextual"
    shots: int = 4
    shot_split: str = "train"
    shot_seed: int = 0
    top_logprobs: int = 20
    content_free: tuple[str, ...] = ("N/A", "[MASK]", "")
    fit_questions: int = 16
    max_item_attributes: int = 12
    on_invalid: Literal["reject", "raise"] = "reject"

    def __post_init__(self) -> None:
        if self.calibration not in ("contextual", "fitted", "none"):
            raise ConfigError(
                "`calibration` must be 'contextual', 'fitted' or 'none', got "
                f"{self.calibration!r}"
            )
        if self.fit_questions < 2:
            raise ConfigError(f"`fit_questions` must be >= 2, got {self.fit_questions}")
        if self.shots < 0:
            raise ConfigError(f"`shots` must be >= 0, got {self.shots}")
        if not 2 <= self.top_logprobs <= 50:
            raise ConfigError(f"`top_logprobs` must be in [2, 50], got {self.top_logprobs}")
        if self.calibration == "contextual" and not self.content_free:
            raise ConfigError("`content_free` must hold at least one text for contextual calibration")
        if self.max_item_attributes < 1:
            raise ConfigError(
                f"`max_item_attributes` must be >= 1, got {self.max_item_attributes}"
            )
        if self.on_invalid not in ("reject", "raise"):
            raise ConfigError(f"`on_invalid` must be 'reject' or 'raise', got {self.on_invalid!r}")


class ScoredConversationalUser:
    """A :class:`~recoworld.users.conversational.ConversationalUser` deciding by scored answers.

    Args:
        world: The attribute-graph world.
        client: The client of an OpenAI-protocol server with ``/v1/completions`` and
            log-probabilities (``recoworld llm serve --engine scoring``, llama.cpp, vLLM).
        config: Prompting, calibration and failure settings.

    Example:
        >>> user = ScoredConversationalUser(world, LLMClient(LLMClientConfig(base_url=url)))
        >>> env = gymnasium.make("recoworld/LastFM-CRS-v0", user=user)  # doctest: +SKIP

    """

    def __init__(
        self,
        world: AttributeGraphWorld,
        client: LLMClient,
        config: ScoredUserConfig | None = None,
    ) -> None:
        self.world = world
        self.client = client
        self.config = config or ScoredUserConfig()
        self.shots = FewShotPool(
            world, self.config.shots, self.config.shot_split, self.config.shot_seed
        )
        self._target = -1
        self._wanted = ""
        self._prefix_text = ""
        self._calibration: dict[str, Calibration] = {}
        self._thresholds: dict[str, float] | None = None
        self._info: dict[str, Any] = {}
        self._attempts = 0
        self._cached = True
        self.stats: dict[str, int] = {"turns": 0, "invalid_responses": 0, "llm_attempts": 0}
        self.prompts: list[str] = []
        """Every prompt sent this session (kept for audits such as the no-leak test)."""

    @property
    def target(self) -> int:
        """The current session's target (the environment's secret; never put in a prompt)."""
        return self._target

    # ---- prompts --------------------------------------------------------------------------
    def _features(self, item: int, cap: int | None = None) -> str:
        names = [self.world.attribute_names[int(a)] for a in self.world.attributes_of(item)]
        if cap is not None and len(names) > cap:
            return ", ".join(names[:cap]) + ", ..."
        return ", ".join(names) or "none"

    def _binary_line(self, wanted: str, attribute: str) -> str:
        return render_prompt("scored_binary_line", wanted=wanted, attribute=attribute)

    def _judge_line(self, wanted: str, candidate: str) -> str:
        return render_prompt("scored_judge_line", wanted=wanted, candidate=candidate)

    def _prefix(self, target: int) -> str:
        """The header and the solved examples, binary and comparison lines alternating.

        One prefix shared by every question of every session whose target is not an example.
        """
        cap = self.config.max_item_attributes
        lines = [render_prompt("scored_header", item_noun=self.config.item_noun)]
        for b, j in zip(self.shots.binary(target), self.shots.judge(target), strict=True):
            line = self._binary_line(self._features(b.item), self.world.attribute_names[b.attribute])
            lines.append(f"{line} {'yes' if b.answer else 'no'}")
            line = self._judge_line(self._features(j.item, cap), self._features(j.candidate, cap))
            lines.append(f"{line} {'yes' if j.answer else 'no'}")
        return "\n".join(lines) + "\n"

    # ---- scoring --------------------------------------------------------------------------
    def _score(self, prompt: str) -> AnswerScores:
        self.prompts.append(prompt)
        response = self.client.complete(prompt, top_logprobs=self.config.top_logprobs)
        self._attempts += 1
        self._cached = self._cached and response.cached
        return answer_scores(response.top_logprobs, _ANSWERS)

    def _line(self, kind: str, wanted: str, asked: str) -> str:
        if kind == "binary":
            return self._binary_line(wanted, asked)
        return self._judge_line(wanted, asked)

    def _calibration_for(self, kind: str) -> Calibration:
        if self.config.calibration != "contextual":
            return Calibration.uniform(_ANSWERS)
        if kind not in self._calibration:
            prompts = [self._prefix_text + self._line(kind, self._wanted, cf)
                       for cf in self.config.content_free]  # fmt: skip
            self._calibration[kind] = Calibration.from_content_free(
                [self._score(p) for p in prompts]
            )
        return self._calibration[kind]

    def _threshold(self, kind: str) -> float:
        """The fitted yes-vs-no log-odds threshold of ``kind`` (0 unless ``"fitted"``)."""
        if self.config.calibration != "fitted":
            return 0.0
        if self._thresholds is None:
            binary, judge = self.shots.fitting(self.config.fit_questions)
            prefix = self._prefix(-1)
            cap = self.config.max_item_attributes
            fitted: dict[str, float] = {}
            for name, questions in (
                ("binary", [(self._features(b.item), self.world.attribute_names[b.attribute],
                             b.answer) for b in binary]),
                ("judge", [(self._features(j.item, cap), self._features(j.candidate, cap),
                            j.answer) for j in judge]),
            ):  # fmt: skip
                margins, labels = [], []
                for wanted, asked, answer in questions:
                    scores = self._score(prefix + self._line(name, wanted, asked))
                    if scores.valid:
                        margins.append(Calibration.uniform(_ANSWERS).margin(scores))
                        labels.append(answer)
                fitted[name] = fit_threshold(margins, labels)
            self._thresholds = fitted
        return self._thresholds[kind]

    def _ask(self, kind: str, prompt: str) -> tuple[bool, bool, float]:
        """Score one question; return (answer is yes, valid, calibrated margin)."""
        calibration = self._calibration_for(kind)
        threshold = self._threshold(kind)
        scores = self._score(prompt)
        if not scores.valid:
            return False, False, float("nan")
        margin = calibration.margin(scores) - threshold
        return margin > 0.0, True, margin

    def _begin_turn(self) -> None:
        self._attempts = 0
        self._cached = True

    def _end_turn(self, valid: bool, utterance: str, **extra: Any) -> None:
        self.stats["turns"] += 1
        self.stats["llm_attempts"] += self._attempts
        if not valid:
            self.stats["invalid_responses"] += 1
            if self.config.on_invalid == "raise":
                raise LLMResponseError(
                    "neither 'yes' nor 'no' was among the model's likely next tokens; use a "
                    "stronger model, more shots, or on_invalid='reject'"
                )
        self._info = {
            "utterance": utterance,
            "invalid_response": not valid,
            "invalid_responses": self.stats["invalid_responses"],
            "llm_attempts": self._attempts,
            "cached": self._cached and self._attempts > 0,
            **extra,
        }

    # ---- ConversationalUser protocol ------------------------------------------------------
    def start(self, user: int, target: int, rng: np.random.Generator) -> int:
        """Begin a session; the opening attribute is drawn uniformly (no model call)."""
        attrs = target_attributes(self.world, user, target)
        self._target = int(target)
        self._wanted = ", ".join(self.world.attribute_names[int(a)] for a in attrs)
        self._prefix_text = self._prefix(int(target))
        self._calibration = {}
        self.stats = {"turns": 0, "invalid_responses": 0, "llm_attempts": 0}
        self.prompts = []
        self._begin_turn()
        opening = int(attrs[rng.integers(attrs.size)])
        self._end_turn(True, f"I'm looking for {self.world.attribute_names[opening]}.")
        return opening

    def answer_binary(self, attribute: int, rng: np.random.Generator) -> bool:
        """Yes iff the calibrated score of "yes" beats "no"; invalid counts as "no" (flagged)."""
        if not 0 <= attribute < self.world.n_attributes:
            raise InvalidActionError(
                f"`attribute` must be in [0, {self.world.n_attributes}), got {attribute}"
            )
        self._begin_turn()
        name = self.world.attribute_names[attribute]
        yes, valid, margin = self._ask(
            "binary", self._prefix_text + self._binary_line(self._wanted, name)
        )
        self._end_turn(valid, f"Yes, {name}." if yes else "No.", margin=margin)
        return yes

    def answer_enumerated(self, parent: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """Return the children answered yes; an invalid child answer counts as no (flagged)."""
        if not 0 <= parent < self.world.n_parents:
            raise InvalidActionError(
                f"`parent` must be in [0, {self.world.n_parents}), got {parent}"
            )
        self._begin_turn()
        picked: list[int] = []
        all_valid = True
        for child in self.world.children_of(parent):
            name = self.world.attribute_names[int(child)]
            yes, valid, _ = self._ask(
                "binary", self._prefix_text + self._binary_line(self._wanted, name)
            )
            all_valid = all_valid and valid
            if yes:
                picked.append(int(child))
        names = ", ".join(self.world.attribute_names[c] for c in picked)
        self._end_turn(all_valid, f"I want {names}." if picked else "None of those.")
        return np.array(picked, dtype=np.int64)

    def judge(self, items: npt.NDArray[np.int64], rng: np.random.Generator) -> bool:
        """Accept at the first item scored the same as the wanted one; reject if none is."""
        items = np.asarray(items, dtype=np.int64).ravel()
        if items.size == 0 or items.size > 25:
            raise InvalidActionError(
                f"`items` must hold 1 to 25 recommended items, got {items.size}"
            )
        if items.min() < 0 or items.max() >= self.world.n_items:
            raise InvalidActionError(
                f"`items` must be item ids in [0, {self.world.n_items}), got {items.tolist()}"
            )
        self._begin_turn()
        cap = self.config.max_item_attributes
        all_valid = True
        margins: list[float] = []
        chosen = -1
        for position, item in enumerate(items):
            got = self._features(int(item), cap)
            yes, valid, margin = self._ask(
                "judge", self._prefix_text + self._judge_line(self._wanted, got)
            )
            all_valid = all_valid and valid
            margins.append(margin)
            if yes and chosen < 0:
                chosen = position
        if chosen >= 0:
            letter = chr(ord("A") + chosen)
            self._end_turn(True, f"I'll take {letter}.", chosen_position=chosen, margins=margins)
            return True
        self._end_turn(all_valid, "None of these is what I want.", margins=margins)
        return False

    def wants_to_leave(self, rng: np.random.Generator) -> bool:
        """Never: as in the published protocol, the user stays until the horizon."""
        return False

    def step_info(self) -> dict[str, Any]:
        """Report the latest call: utterance, validity, attempts, cache use.

        Keys: ``utterance``, ``invalid_response``, ``invalid_responses`` (session count so far),
        ``llm_attempts`` (model calls this turn), ``cached``, and ``margin`` (the calibrated
        yes-vs-no log-odds of a binary answer) or ``margins`` (one per listed item) and
        ``chosen_position`` (the first item answered yes).
        """
        return dict(self._info)


def fit_threshold(margins: list[float], labels: list[bool]) -> float:
    """The threshold on ``margins`` (yes iff above) maximising balanced accuracy on ``labels``.

    Candidates are midpoints between consecutive distinct margins (and 0); ties go to the
    candidate closest to 0. With one class missing, 0.
    """
    pos = [m for m, y in zip(margins, labels, strict=True) if y]
    neg = [m for m, y in zip(margins, labels, strict=True) if not y]
    if not pos or not neg:
        return 0.0
    values = sorted(set(margins))
    candidates = [0.0, values[0] - 1.0, values[-1] + 1.0]
    candidates += [(a + b) / 2 for a, b in itertools.pairwise(values)]

    def balanced(t: float) -> float:
        return (sum(m > t for m in pos) / len(pos) + sum(m <= t for m in neg) / len(neg)) / 2

    return max(candidates, key=lambda t: (balanced(t), -abs(t)))
