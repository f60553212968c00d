"""Scored decisions: answer log-probabilities, contextual and fitted calibration, few-shot draws,
and the scored user against a scripted model with a known bias (exact fidelity figures)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from llm_server import FakeEndpoint, tiny_world

from recoworld.bench.fidelity import measure_fidelity
from recoworld.errors import ConfigError, LLMResponseError
from recoworld.users.llm.cache import ResponseCache
from recoworld.users.llm.client import LLMClient, LLMClientConfig
from recoworld.users.llm.fewshot import FewShotPool
from recoworld.users.llm.logprob import AnswerScores, Calibration, answer_scores
from recoworld.users.llm.scored import ScoredConversationalUser, ScoredUserConfig, fit_threshold

CONTENT_FREE = {"N/A", "[MASK]", ""}


def world8():
    """The tiny world with a training split over all 8 items (few-shot examples come from it)."""
    world = tiny_world()
    train = np.array([[i % 3, i] for i in range(8)])
    return dataclasses.replace(world, sessions={**world.sessions, "train": train})


def test_answer_scores_merge_variants_and_bound_the_missing() -> None:
    top = {" yes": math.log(0.2), "Yes": math.log(0.1), " no": math.log(0.3), "\n": math.log(0.05)}
    s = answer_scores(top, ("yes", "no"))
    assert s.logprobs["yes"] == pytest.approx(math.log(0.3))
    assert s.logprobs["no"] == pytest.approx(math.log(0.3)) and s.missing == () and s.valid
    assert sum(math.exp(v) for v in s.normalised().values()) == pytest.approx(1.0)
    only_no = answer_scores({" no": -0.1, " maybe": -3.0}, ("yes", "no"))
    assert only_no.missing == ("yes",) and only_no.logprobs["yes"] == -3.0 and only_no.valid
    assert not answer_scores({" maybe": -0.1}, ("yes", "no")).valid
    assert not answer_scores(None, ("yes", "no")).valid
    with pytest.raises(ConfigError, match="distinct and non-empty"):
        answer_scores(top, ("yes", "yes"))


def test_contextual_calibration_divides_out_the_prior() -> None:
    # content-free answers: p(yes) = .1 and .3 -> mean prior .2 / .8
    cf = [AnswerScores({"yes": math.log(0.1), "no": math.log(0.9)}),
          AnswerScores({"yes": math.log(0.3), "no": math.log(0.7)}),
          AnswerScores({"yes": -1.0, "no": -1.0}, missing=("yes", "no"))]  # invalid: left out
    cal = Calibration.from_content_free(cf)
    assert math.exp(cal.prior["yes"]) == pytest.approx(0.2)
    # a question scored p(yes) = .4: raw log-odds log(.4/.6) < 0 (no), calibrated > 0 (yes)
    q = AnswerScores({"yes": math.log(0.4), "no": math.log(0.6)})
    assert Calibration.uniform(("yes", "no")).margin(q) == pytest.approx(math.log(0.4 / 0.6))
    assert cal.margin(q) == pytest.approx(math.log(0.4 / 0.6) - math.log(0.2 / 0.8))
    assert cal.margin(q) > 0
    with pytest.raises(ConfigError, match="differ from the scored answers"):
        Calibration({"a": 0.0, "b": 0.0}).apply(q)


def test_fit_threshold_maximises_balanced_accuracy() -> None:
    assert fit_threshold([-3.0, -2.0, 0.5, 1.0], [False, False, True, True]) == 0.0
    # all raw margins negative (the "no to everything" model): the threshold moves between them
    assert fit_threshold([-4.0, -3.5, -1.0, -0.5], [False, False, True, True]) == -2.25
    assert fit_threshold([1.0, 2.0], [True, True]) == 0.0


def test_few_shot_examples_never_show_the_target_and_alternate() -> None:
    world = world8()
    pool = FewShotPool(world, shots=2, split="train", seed=0)
    seen = {s.item for s in pool.binary(-1)} | {j.item for j in pool.judge(-1)}
    for target in seen:
        assert target not in {s.item for s in pool.binary(target)}
        assert target not in {x for j in pool.judge(target) for x in (j.item, j.candidate)}
    for target in range(world.n_items):
        b, j = pool.binary(target), pool.judge(target)
        assert [s.answer for s in b] == [True, False] and [s.answer for s in j] == [True, False]
        for s in b:
            assert (s.attribute in world.attributes_of(s.item)) == s.answer
    again = FewShotPool(world, shots=2, split="train", seed=0)
    assert again.binary(3) == pool.binary(3) and again.judge(3) == pool.judge(3)
    with pytest.raises(ConfigError, match="too few"):
        FewShotPool(world, shots=3, split="train")


def _biased_model(bias: float, strength: float = 2.0):
    """yes/no log-probs from the truth of the prompt's last line, shifted by ``bias`` log-odds."""

    def top(prompt: str) -> dict[str, float]:
        line = prompt.rstrip().splitlines()[-1]
        if line.startswith("Features: "):
            wanted, asked = line[len("Features: "):].rsplit(". Has ", 1)
            asked = asked.rstrip("?")
            logit = 0.0 if asked in CONTENT_FREE else (
                strength if asked in wanted.split(", ") else -strength)
        else:
            wanted, got = line[len("Want: "):].split(". Got: ", 1)
            got = got.rsplit(". Same?", 1)[0]
            logit = 0.0 if got in CONTENT_FREE else (
                strength if sorted(got.split(", ")) == sorted(wanted.split(", ")) else -strength)
        p = 1.0 / (1.0 + math.exp(-(logit + bias)))
        return {" yes": math.log(p), " no": math.log(1.0 - p), " maybe": math.log(1e-6)}

    return top


def _fidelity(calibration: str, bias: float, cache: ResponseCache | None = None):
    world = world8()
    with FakeEndpoint(lambda b: "", text_logprobs=_biased_model(bias)) as ep, LLMClient(
        LLMClientConfig(base_url=ep.base_url), cache
    ) as client:
        config = ScoredUserConfig(
            calibration=calibration, shots=2, shot_split="train", fit_questions=4
        )
        user = ScoredConversationalUser(world, client, config)
        report = measure_fidelity(world, user, 2, questions=2, rec_size=3)
        return report, client.server_calls, ep.requests


def test_uncalibrated_biased_model_says_no_and_calibration_recovers_it() -> None:
    raw, _, _ = _fidelity("none", bias=-3.0)
    # raw margins: held -1, not held -5: "no" to everything
    assert (raw.answer_accuracy_held, raw.answer_accuracy_not_held) == (0.0, 1.0)
    assert raw.answer_accuracy == 0.5 and raw.acceptance_accuracy == 0.5
    cal, calls, requests = _fidelity("contextual", bias=-3.0)
    assert (cal.answer_accuracy, cal.acceptance_accuracy) == (1.0, 1.0)
    assert cal.invalid_rate == 0.0 and cal.consistency == 1.0 and cal.leakage_rate == 0.0
    # every request is a raw completion asking for the first token's top log-probs, no seed
    assert all(r["logprobs"] == 20 and r["max_tokens"] == 1 and "seed" not in r for r in requests)
    # the prior is measured once per session and decision kind: 3 texts x 2 kinds x 2 sessions
    cf = [r for r in requests if r["prompt"].rstrip().endswith(("Has N/A?", "Got: N/A. Same?"))]
    assert len(cf) == 2 * 2
    fitted, _, _ = _fidelity("fitted", bias=-3.0)
    assert (fitted.answer_accuracy, fitted.acceptance_accuracy) == (1.0, 1.0)


def test_scored_prompts_never_show_the_target_id_and_replay_exactly(tmp_path) -> None:
    path = tmp_path / "scored.sqlite"
    first, calls, requests = _fidelity("contextual", -1.0, ResponseCache(path))
    assert calls > 0
    for r in requests:
        assert "item 5" not in r["prompt"]
    world = world8()
    with LLMClient(LLMClientConfig(base_url="http://127.0.0.1:9/v1"),
                   ResponseCache(path, "replay")) as client:  # fmt: skip
        user = ScoredConversationalUser(
            world, client, ScoredUserConfig(shots=2, shot_split="train")
        )
        again = measure_fidelity(world, user, 2, questions=2, rec_size=3)
        assert client.server_calls == 0 and client.cache_hits > 0
    keep = {k: v for k, v in first.to_json().items() if k not in ("seconds", "turns_per_second")}
    assert {k: v for k, v in again.to_json().items() if k in keep} == keep


def test_no_answer_among_the_likely_tokens_is_invalid() -> None:
    world = world8()
    with FakeEndpoint(lambda b: "", text_logprobs=lambda p: {" maybe": -0.1}) as ep, LLMClient(
        LLMClientConfig(base_url=ep.base_url)
    ) as client:
        user = ScoredConversationalUser(world, client, ScoredUserConfig(shots=2, shot_split="train"))
        r = measure_fidelity(world, user, 1, questions=2, rec_size=3)
        # every turn but the opening (no model call): 2 questions, the repeat, 2 lists
        assert r.invalid_responses == 5 and r.turns == 6 and r.answer_accuracy == 0.5
        strict = ScoredConversationalUser(
            world, client, ScoredUserConfig(shots=2, shot_split="train", on_invalid="raise")
        )
        strict.start(0, 5, np.random.default_rng(0))
        with pytest.raises(LLMResponseError, match="neither 'yes' nor 'no'"):
            strict.answer_binary(0, np.random.default_rng(0))


def test_scored_config_errors() -> None:
    with pytest.raises(ConfigError, match="`calibration` must be"):
        ScoredUserConfig(calibration="platt")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="`top_logprobs` must be in"):
        ScoredUserConfig(top_logprobs=1)
    with pytest.raises(ConfigError, match="`content_free`"):
        ScoredUserConfig(content_free=())
