"""The OpenAI-protocol client against fake loopback endpoints (no model needed)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from llm_server import completion, fake_endpoint

from recoworld.errors import ConfigError, LLMServerError
from recoworld.users.llm.cache import ResponseCache
from recoworld.users.llm.client import LLMClient, LLMClientConfig
from recoworld.users.llm.decision import DecisionField, DecisionSchema

MSGS = [{"role": "user", "content": "yes or no?"}]
SCHEMA = DecisionSchema((DecisionField("answer", "enum", ("yes", "no")),))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_config_from_env_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RECOWORLD_LLM_MODEL", "my-model")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    cfg = LLMClientConfig()
    assert cfg.resolved_base_url() == "http://127.0.0.1:9/v1"
    assert cfg.resolved_model() == "my-model" and cfg.resolved_api_key() == "k"
    assert LLMClientConfig(base_url="http://x/v1", model="m").resolved_base_url() == "http://x/v1"
    with pytest.raises(ConfigError, match="`max_concurrency` must be >= 1, got 0"):
        LLMClientConfig(max_concurrency=0)
    with pytest.raises(ConfigError, match="`decoding` must be"):
        LLMClientConfig(decoding=("magic",))  # type: ignore[arg-type]


def test_no_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with LLMClient() as client, pytest.raises(LLMServerError, match="OPENAI_BASE_URL"):
        client.decide(MSGS, SCHEMA, seed=0)


def test_valid_reply_first_mode_and_request_shape() -> None:
    with fake_endpoint(lambda body: '{"answer": "no"}') as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url, model="m")) as client:
            d = client.decide(MSGS, SCHEMA, seed=7)
    assert d.valid and d.values == {"answer": "no"} and d.attempts == 1
    body = ep.requests[0]
    assert body["seed"] == 7 and body["model"] == "m"
    assert body["response_format"] == SCHEMA.response_format()
    assert "grammar" not in body


def test_garbage_is_retried_with_grammar_then_invalid() -> None:
    with fake_endpoint(lambda body: "I like turtles") as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url)) as client:
            d = client.decide(MSGS, SCHEMA, seed=1)
    assert not d.valid and d.values is None
    assert d.attempts == 2 and d.replies == ("I like turtles", "I like turtles")
    assert "no JSON object" in d.error
    assert "response_format" in ep.requests[0] and "grammar" not in ep.requests[0]
    assert ep.requests[1]["grammar"] == SCHEMA.gbnf() and "response_format" not in ep.requests[1]


def test_second_mode_rescues_a_bad_first_reply() -> None:
    with fake_endpoint(lambda b: '{"answer": "yes"}' if "grammar" in b else "{}") as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url)) as client:
            d = client.decide(MSGS, SCHEMA, seed=1)
    assert d.valid and d.values == {"answer": "yes"} and d.attempts == 2


def test_stopped_server_raises_after_bounded_retries() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    cfg = LLMClientConfig(base_url=url, max_retries=2, backoff_s=0.05, timeout_s=2.0)
    t0 = time.perf_counter()
    with LLMClient(cfg) as client:
        with pytest.raises(LLMServerError, match=rf"{url} did not answer after 3 attempts.*recoworld llm serve"):
            client.decide(MSGS, SCHEMA, seed=0)
        assert client.server_calls == 3
    assert time.perf_counter() - t0 < 10.0


def test_server_error_is_retried_then_raised() -> None:
    with fake_endpoint(lambda b: "", status=500) as ep:
        cfg = LLMClientConfig(base_url=ep.base_url, max_retries=1, backoff_s=0.01)
        with LLMClient(cfg) as client, pytest.raises(LLMServerError, match="after 2 attempts"):
            client.decide(MSGS, SCHEMA, seed=0)
    assert len(ep.requests) == 2


def test_client_error_is_not_retried() -> None:
    with fake_endpoint(lambda b: "", status=400) as ep:
        cfg = LLMClientConfig(base_url=ep.base_url, max_retries=3, backoff_s=0.01)
        with LLMClient(cfg) as client, pytest.raises(LLMServerError, match="refused the request with HTTP 400"):
            client.decide(MSGS, SCHEMA, seed=0)
    assert len(ep.requests) == 1


def test_slow_server_times_out() -> None:
    def slow(body: dict[str, object]) -> str:
        time.sleep(1.0)
        return '{"answer": "yes"}'

    with fake_endpoint(slow) as ep:
        cfg = LLMClientConfig(base_url=ep.base_url, timeout_s=0.2, max_retries=1, backoff_s=0.01)
        with LLMClient(cfg) as client, pytest.raises(
            LLMServerError, match=rf"{ep.base_url} did not answer .* within the 0\.2 s deadline"
        ):
            client.decide(MSGS, SCHEMA, seed=0)


def test_deadline_bounds_the_whole_call_retries_included():
    # every attempt times out: without an overall deadline 5 attempts x 0.5 s would take 2.5 s
    with fake_endpoint(lambda b: '{"answer": "yes"}', delay_s=1.5) as ep:
        cfg = LLMClientConfig(base_url=ep.base_url, timeout_s=0.5, max_retries=4, backoff_s=0.0)
        t0 = time.perf_counter()
        with LLMClient(cfg) as client, pytest.raises(LLMServerError, match=r"0\.5 s deadline"):
            client.chat(MSGS, seed=0)
        elapsed = time.perf_counter() - t0
    assert elapsed < 1.2, elapsed


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>502 Bad Gateway</html>", r"a body that is not valid JSON .*'<html>502 Bad Gateway</html>'"),
        (b'{"choices": [{"message": {"content": "yes"', r"not valid JSON \(Expecting ',' delimiter.*'\{\"choices\""),
        (b'{"object": "chat.completion", "choices": []}', r"JSON without any choice"),
        (b'[1, 2, 3]', r"JSON without any choice: '\[1, 2, 3\]'"),
        (b'{"choices": [{"message": 5}]}', r"a choice without a message object"),
        (b'{"choices": [{"message": {"content": 7}}]}', r"content is not text"),
    ],
)
def test_unreadable_200_is_retried_then_named(body, says):
    with fake_endpoint(lambda b: "", raw_body=lambda b: body) as ep:
        cfg = LLMClientConfig(base_url=ep.base_url, max_retries=2, backoff_s=0.0)
        with LLMClient(cfg) as client, pytest.raises(LLMServerError) as info:
            client.decide(MSGS, SCHEMA, seed=0)
    message = str(info.value)
    assert message.startswith(f"LLM server at {ep.base_url} answered HTTP 200 with ")
    assert re.search(says, message), message
    assert "(3 attempts)" in message and len(ep.requests) == 3


def test_one_unreadable_200_then_a_good_one_recovers():
    calls = {"n": 0}

    def flaky(body: dict[str, object]) -> bytes:
        calls["n"] += 1
        if calls["n"] == 1:
            return b"not json at all"
        return json.dumps(completion('{"answer": "yes"}')).encode()

    with fake_endpoint(lambda b: "", raw_body=flaky) as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url, backoff_s=0.0)) as client:
            d = client.decide(MSGS, SCHEMA, seed=0)
    assert d.valid and d.values == {"answer": "yes"} and len(ep.requests) == 2


def test_letter_choice_reads_logprobs() -> None:
    lp = {"B": -0.2, "A": -2.0, " C": -3.0, "zebra": -0.1}
    with fake_endpoint(lambda b: "A", logprobs=lambda b: lp) as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url)) as client:
            d = client.choose(MSGS, ("A", "B", "C"), seed=3)
    # the most probable ALLOWED letter wins over the sampled one; probs renormalised over A-C
    assert d.valid and d.values == {"choice": "B"} and d.probabilities is not None
    assert set(d.probabilities) == {"A", "B", "C"}
    assert d.probabilities["B"] == pytest.approx(1 / (1 + 2.718281828 ** -1.8 + 2.718281828 ** -2.8))
    body = ep.requests[0]
    assert body["logprobs"] is True and body["max_tokens"] == 1
    assert body["grammar"] == 'root ::= "A" | "B" | "C"\n'


def test_letter_choice_without_logprobs_and_garbage() -> None:
    with fake_endpoint(lambda b: "C") as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url)) as client:
            assert client.choose(MSGS, ("A", "B", "C"), seed=0).values == {"choice": "C"}
    with fake_endpoint(lambda b: "Q") as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url)) as client:
            d = client.choose(MSGS, ("A", "B"), seed=0)
    assert not d.valid and "choice must be one of ['A', 'B'], got 'Q'" in d.error


@pytest.mark.parametrize("limit", [1, 3])
def test_many_runs_concurrently_within_the_limit_and_keeps_order(limit: int) -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def answer(body: dict[str, object]) -> str:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        return json.dumps({"answer": "yes" if body["seed"] % 2 else "no"})  # type: ignore[operator]

    with fake_endpoint(answer) as ep:
        cfg = LLMClientConfig(base_url=ep.base_url, max_concurrency=limit)
        with LLMClient(cfg) as client:
            out = client.decide_many([(MSGS, SCHEMA, s) for s in range(6)])
    assert [d.values["answer"] for d in out if d.values] == ["no", "yes"] * 3
    assert state["peak"] == limit


def test_cache_replays_without_server(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with fake_endpoint(lambda b: "nonsense" if "response_format" in b else '{"answer": "yes"}') as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url), ResponseCache(path)) as client:
            first = client.decide(MSGS, SCHEMA, seed=5)
            again = client.decide(MSGS, SCHEMA, seed=5)
            assert client.server_calls == 2 and client.cache_hits == 2
    assert len(ep.requests) == 2 and first.values == again.values and again.cached
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    with LLMClient(LLMClientConfig(base_url=dead), ResponseCache(path, "replay")) as client:
        replay = client.decide(MSGS, SCHEMA, seed=5)
        assert replay == again and client.server_calls == 0
        from recoworld.users.llm.cache import LLMCacheMissError

        with pytest.raises(LLMCacheMissError, match="seed 6"):
            client.decide(MSGS, SCHEMA, seed=6)
