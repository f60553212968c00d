"""Log-prob scoring and calibration on the REAL bundled model (SmolLM2-135M, scoring engine).

A module-scoped fixture starts ``LocalLLMServer(engine="scoring")`` on a free loopback port and
stops it afterwards. The prompts are a few dozen tokens, so the tests stay short.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import numpy as np
import pytest
from test_llm_scored import world8

from recoworld.errors import LLMServerError
from recoworld.users.llm.client import LLMClient, LLMClientConfig
from recoworld.users.llm.logprob import Calibration, answer_scores
from recoworld.users.llm.scored import ScoredConversationalUser, ScoredUserConfig
from recoworld.users.llm.serve import LocalLLMServer

PROMPT = (
    "Features: rock, pop. Has rock? yes\nFeatures: jazz, piano. Has rock? no\n"
    "Features: rock, guitar. Has guitar?"
)


@pytest.fixture(scope="module")
def scoring() -> Iterator[LocalLLMServer]:
    with LocalLLMServer(engine="scoring", n_threads=2, startup_timeout_s=180) as srv:
        yield srv
    assert not srv.answers()


def _client(srv: LocalLLMServer) -> LLMClient:
    return LLMClient(LLMClientConfig(base_url=srv.base_url, model=srv.alias, timeout_s=600))


def test_log_prob_scoring_and_prefix_reuse(scoring: LocalLLMServer) -> None:
    with _client(scoring) as client:
        first = client.complete(PROMPT)
        other = client.complete(PROMPT.replace("Has guitar?", "Has jazz?"))
        again = client.complete(PROMPT)  # evaluated again from the prefix the two share
        with pytest.raises(LLMServerError, match=re.escape("--engine llama-cpp")):
            client.chat([{"role": "user", "content": "hi"}], seed=0)
    assert first.top_logprobs is not None and len(first.top_logprobs) >= 10
    values = list(first.top_logprobs.values())
    assert values == sorted(values, reverse=True) and sum(math.exp(v) for v in values) <= 1 + 1e-6
    assert first.text in first.top_logprobs  # greedy: the generated token is the most likely
    assert again.top_logprobs == pytest.approx(first.top_logprobs, abs=1e-4)
    yes_no = answer_scores(first.top_logprobs, ("yes", "no"))
    assert yes_no.valid and yes_no.missing == ()
    assert other.top_logprobs != first.top_logprobs


def test_contextual_calibration_on_the_real_model(scoring: LocalLLMServer) -> None:
    world = world8()
    with _client(scoring) as client:
        user = ScoredConversationalUser(
            world, client, ScoredUserConfig(shots=2, shot_split="train")
        )
        user.start(0, 5, np.random.default_rng(0))
        user.answer_binary(0, np.random.default_rng(0))  # "rock", held by item 5
        margin = user.step_info()["margin"]
        prompts = user.prompts
    # the three content-free prompts, then the question; redo the arithmetic from the scores
    assert [p.rstrip().rsplit("Has ", 1)[1] for p in prompts] == ["N/A?", "[MASK]?", "?", "rock?"]
    with _client(scoring) as client:
        scores = [answer_scores(client.complete(p).top_logprobs, ("yes", "no")) for p in prompts]
    prior = Calibration.from_content_free(scores[:3])
    raw = Calibration.uniform(("yes", "no")).margin(scores[3])
    assert margin == pytest.approx(raw - (prior.prior["yes"] - prior.prior["no"]), abs=1e-4)
    assert abs(prior.prior["yes"] - prior.prior["no"]) > 0.05  # the small model has a prior
