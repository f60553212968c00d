"""One model behind several OpenAI-protocol servers: a comma-separated list of base URLs."""

from __future__ import annotations

import json
import socket

import pytest
from llm_server import fake_endpoint

from recoworld.errors import LLMServerError
from recoworld.users.llm.client import LLMClient, LLMClientConfig
from recoworld.users.llm.decision import DecisionField, DecisionSchema

MSGS = [{"role": "user", "content": "yes or no?"}]
SCHEMA = DecisionSchema((DecisionField("answer", "enum", ("yes", "no")),))


def _answer(body: dict[str, object]) -> str:
    return json.dumps({"answer": "yes" if body["seed"] % 2 else "no"})  # type: ignore[operator]


def _closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def test_requests_go_to_the_servers_in_turn_with_the_single_servers_answers() -> None:
    requests = [(MSGS, SCHEMA, seed) for seed in range(6)]
    with fake_endpoint(_answer) as a, fake_endpoint(_answer) as b, fake_endpoint(_answer) as one:
        cfg = LLMClientConfig(base_url=f"{a.base_url}, {b.base_url}", max_concurrency=1)
        with LLMClient(cfg) as client:
            assert client.base_urls == [a.base_url, b.base_url]
            spread = client.decide_many(requests)
        with LLMClient(LLMClientConfig(base_url=one.base_url)) as client:
            single = client.decide_many(requests)
    assert len(a.requests) == len(b.requests) == 3
    assert sorted(r["seed"] for r in a.requests + b.requests) == list(range(6))
    assert [d.values for d in spread] == [d.values for d in single]
    assert [d.values["answer"] for d in spread if d.values] == ["no", "yes"] * 3


def test_a_failed_attempt_is_retried_on_the_next_server() -> None:
    dead = _closed_url()
    with fake_endpoint(_answer) as live:
        cfg = LLMClientConfig(base_url=f"{dead},{live.base_url}", max_retries=1, backoff_s=0.0)
        with LLMClient(cfg) as client:
            out = [client.decide(MSGS, SCHEMA, seed=s) for s in range(4)]
            assert client.server_calls == 8  # each request: the dead server, then the live one
    assert all(d.valid for d in out) and len(live.requests) == 4


def test_the_list_comes_from_the_environment_and_errors_name_every_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urls = [_closed_url(), _closed_url()]
    monkeypatch.setenv("OPENAI_BASE_URL", ",".join(urls))
    cfg = LLMClientConfig(max_retries=1, backoff_s=0.0, timeout_s=2.0)
    with LLMClient(cfg) as client:
        assert client.base_urls == urls
        with pytest.raises(LLMServerError, match="did not answer after 2 attempts") as err:
            client.decide(MSGS, SCHEMA, seed=0)
        assert client.server_calls == 2
    assert urls[0] in str(err.value) and urls[1] in str(err.value)
