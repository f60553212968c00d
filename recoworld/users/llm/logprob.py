"""Answers scored by their log-probabilities, and contextual calibration.

A small model that is asked to *write* a decision (JSON, a letter) mostly writes its habit; the
same model *scored* on the few words a decision allows ranks them far better (DESIGN.md section 4:
SmolLM2-135M, AUC .84 scored against chance generated). :func:`answer_scores` reads the
log-probability of each allowed answer from the top alternatives of the first generated token of a
raw completion, merging the variants a tokenizer makes of one word (``"yes"``, ``" yes"``,
``" Yes"``). An answer none of whose variants is among the returned alternatives is bounded by the
least likely returned one and listed in :attr:`AnswerScores.missing`; when every answer is missing,
the model did not answer the question and the scores are :attr:`~AnswerScores.valid` ``False``.

Contextual calibration (Zhao et al., "Calibrate Before Use", ICML 2021): a model carries a prior
for each answer that does not depend on the question (the 135M model says "no" to almost
everything). Asking the same prompt with the content replaced by a content-free text (``"N/A"``)
measures that prior; :class:`Calibration` divides it out (subtracts it in log space) before the
answers are compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from recoworld.errors import ConfigError

__all__ = ["AnswerScores", "Calibration", "answer_scores"]


def _logsumexp(values: Sequence[float]) -> float:
    peak = max(values)
    return peak + math.log(sum(math.exp(v - peak) for v in values))


@dataclass(frozen=True)
class AnswerScores:
    """Log-probabilities of the allowed answers of one question.

    Attributes:
        logprobs: Answer -> log-probability of its first token (variants merged); an answer in
            ``missing`` holds an upper bound (the least likely returned alternative).
        missing: Answers none of whose variants was among the returned alternatives.

    """

    logprobs: dict[str, float]
    missing: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        """Whether at least one allowed answer was among the model's likely next tokens."""
        return len(self.missing) < len(self.logprobs)

    def normalised(self) -> dict[str, float]:
        """Log-probabilities renormalised over the allowed answers (they sum to one)."""
        total = _logsumexp(list(self.logprobs.values()))
        return {a: lp - total for a, lp in self.logprobs.items()}


def answer_scores(top: Mapping[str, float] | None, answers: Sequence[str]) -> AnswerScores:
    """Score ``answers`` from a first token's top log-probabilities ``top`` (token -> logprob).

    A token counts for an answer when, stripped of surrounding white space and case-folded, it
    equals the answer (case-folded); the variants' probabilities add up.
    """
    if not answers or len(set(answers)) != len(answers):
        raise ConfigError(f"`answers` must be distinct and non-empty, got {list(answers)}")
    top = dict(top or {})
    floor = min(top.values()) if top else 0.0
    found: dict[str, list[float]] = {a: [] for a in answers}
    keys = {a.strip().casefold(): a for a in answers}
    for token, lp in top.items():
        answer = keys.get(token.strip().casefold())
        if answer is not None and math.isfinite(lp):
            found[answer].append(float(lp))
    missing = tuple(a for a in answers if not found[a])
    logprobs = {a: _logsumexp(v) if v else floor for a, v in found.items()}
    return AnswerScores(logprobs, missing)


@dataclass(frozen=True)
class Calibration:
    """Per-answer prior measured on a content-free prompt, divided out of every score.

    Attributes:
        prior: Answer -> log-probability (normalised over the answers) on the content-free
            prompt; all zero for no calibration.

    """

    prior: dict[str, float]

    @staticmethod
    def uniform(answers: Sequence[str]) -> Calibration:
        """No calibration: the same prior for every answer."""
        return Calibration({a: 0.0 for a in answers})

    @staticmethod
    def from_content_free(scores: Sequence[AnswerScores]) -> Calibration:
        """The mean probability of each answer over content-free prompts.

        Zhao et al. average over several such texts; the result is a normalised log-probability.
        Invalid scores (no answer among the likely tokens) are left out.
        """
        usable = [s for s in scores if s.valid]
        if not usable:
            answers = list(scores[0].logprobs) if scores else []
            if not answers:
                raise ConfigError("`scores` must hold at least one content-free answer score")
            return Calibration.uniform(answers)
        answers = list(usable[0].logprobs)
        mean = {
            a: math.log(sum(math.exp(s.normalised()[a]) for s in usable) / len(usable))
            for a in answers
        }
        total = _logsumexp(list(mean.values()))
        return Calibration({a: v - total for a, v in mean.items()})

    def apply(self, scores: AnswerScores) -> dict[str, float]:
        """Calibrated scores: normalised log-probability minus the prior, per answer."""
        normalised = scores.normalised()
        if set(normalised) != set(self.prior):
            raise ConfigError(
                f"calibration answers {sorted(self.prior)} differ from the scored answers "
                f"{sorted(normalised)}"
            )
        return {a: normalised[a] - self.prior[a] for a in normalised}

    def margin(self, scores: AnswerScores, yes: str = "yes", no: str = "no") -> float:
        """Calibrated log-odds of ``yes`` against ``no`` (> 0 means yes)."""
        calibrated = self.apply(scores)
        return calibrated[yes] - calibrated[no]
