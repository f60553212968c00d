"""End-to-end tests against the REAL local server: llama-cpp-python serving SmolLM2-135M-Instruct.

A module-scoped fixture starts the server on a free loopback port and stops it afterwards. The
135M model writes fluent nonsense, so these tests check protocol and structure (every decision in
its schema or flagged), not answer quality -- the fidelity harness measures that.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llm_server import ATTRS, tiny_world

from recoworld.envs import FeedEnv, FeedSettings
from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.errors import LLMServerError
from recoworld.users.llm.cache import ResponseCache
from recoworld.users.llm.client import LLMClient, LLMClientConfig
from recoworld.users.llm.conversational import LLMConversationalUser
from recoworld.users.llm.decision import DecisionField, DecisionSchema
from recoworld.users.llm.feed import WATCH_BUCKETS, HybridFeedUser, LLMFeedUser
from recoworld.users.llm.serve import LocalLLMServer, free_port

TARGET = 5
_WANTED = ("rock", "guitar", "live recording", "vocals")
THREADS = 2


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer(n_threads=THREADS, startup_timeout_s=120) as srv:
        yield srv
    assert not srv.answers()


def _client(url: str, cache: ResponseCache | None = None) -> LLMClient:
    # timeout_s bounds a whole call (retries included): generous, for a heavily loaded machine
    return LLMClient(LLMClientConfig(base_url=url, timeout_s=600, max_tokens=96), cache)


def _conversation(env: ConversationalRecEnv, seed: int) -> list[Any]:
    """Ask three attributes, then recommend the candidates; record the whole trajectory."""
    obs, info = env.reset(seed=seed, options={"user": 0, "target": TARGET})
    out: list[Any] = [obs["accepted"].tolist(), info["user_info"]]
    for a in (1, 3, 6):
        obs, reward, term, trunc, info = env.step(env.ask(a))
        out += [obs["accepted"].tolist(), obs["rejected"].tolist(), reward, term, info["user_info"]]
        if term or trunc:
            return out
    obs, reward, term, trunc, info = env.step(env.recommend(env.candidate_items()[:10]))
    return [*out, reward, term, info["success"], info["user_info"]]


def _without_cached_flag(traj: list[Any]) -> list[Any]:
    return [
        {k: v for k, v in x.items() if k != "cached"} if isinstance(x, dict) else x for x in traj
    ]


def test_server_answers_with_the_smollm2_model(server: LocalLLMServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:") and server.answers()
    assert server.model_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_constrained_decisions_conform_to_their_schema(server: LocalLLMServer) -> None:
    schema = DecisionSchema(
        (
            DecisionField("answer", "enum", ("yes", "no")),
            DecisionField("chosen", "enum_list", ("rock", "jazz", "pop")),
            DecisionField("utterance", "text", max_chars=40),
        )
    )
    msgs = [{"role": "user", "content": "Do you like rock? Which genres? Reply in JSON."}]
    with _client(server.base_url) as client:
        decisions = client.decide_many([(msgs, schema, s) for s in range(3)])
        letters = client.choose(msgs, ("A", "B", "C"), seed=0)
    for d in decisions:
        assert d.valid, d.replies  # server-side constrained decoding: always in schema
        assert d.values is not None and d.values["answer"] in ("yes", "no")
        assert set(d.values["chosen"]) <= {"rock", "jazz", "pop"}
    assert letters.valid and letters.values is not None and letters.values["choice"] in "ABC"
    assert letters.probabilities is not None
    assert sum(letters.probabilities.values()) == pytest.approx(1.0)


def test_conversational_session_end_to_end(server: LocalLLMServer, tmp_path: Path) -> None:
    world = tiny_world()
    cache = ResponseCache(tmp_path / "conv.sqlite")
    with _client(server.base_url, cache) as client:
        user = LLMConversationalUser(world, client)
        env = ConversationalRecEnv(world, user=user, max_turns=6)
        traj = _conversation(env, seed=0)
    infos = [x for x in traj if isinstance(x, dict)]
    assert len(infos) >= 2
    for info in infos:
        assert isinstance(info["invalid_response"], bool) and isinstance(info["utterance"], str)
    assert user.stats["turns"] == len(infos)
    assert user.stats["invalid_responses"] == sum(i["invalid_response"] for i in infos)
    # no prompt that reached the server names the target's id
    requests = cache.requests()
    assert len(requests) >= len(infos)
    for req in requests:
        text = json.dumps(req["messages"])
        assert re.search(rf"\b{TARGET}\b", text) is None
    assert any("rock, guitar, live recording, vocals" in json.dumps(r["messages"]) for r in requests)
    assert all(a in json.dumps(requests[0]["messages"]) for a in ATTRS if a in _WANTED)


def test_feed_sessions_end_to_end(server: LocalLLMServer) -> None:
    from recoworld.datasets.feed_world import synthetic_feed_world

    world = synthetic_feed_world(n_users=10, n_items=100, n_categories=5, seed=2)
    buckets = {b[0] for b in WATCH_BUCKETS}
    with _client(server.base_url) as client:
        env = FeedEnv(FeedSettings(world=world), user_model=LLMFeedUser(client))
        obs, _ = env.reset(seed=0)
        for _ in range(3):
            obs, reward, term, _, info = env.step(0)
            assert env.observation_space.contains(obs)
            assert info["watch_bucket"] in buckets or info["invalid_response"]
            assert isinstance(info["mindset"], str) and isinstance(info["instruction"], str)
            if term:
                break
        hybrid = FeedEnv(FeedSettings(world=world), user_model=HybridFeedUser(client))
        hybrid.reset(seed=0)
        for _ in range(4):
            _, _, term, _, info = hybrid.step(0)
            if info["new_instruction"]:
                assert info["instruction"]
            if term:
                break


def test_fidelity_cli_against_the_server(server: LocalLLMServer) -> None:
    out = subprocess.run(
        [
            sys.executable, "-m", "recoworld.cli", "fidelity", "--env", "recoworld/Synthetic-CRS-v0",
            "--user", "llm", "--sessions", "1", "--questions", "2", "--base-url", server.base_url,
            "--timeout", "280", "--json",
        ],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["sessions"] == 1 and report["turns"] == 6  # opening + 2 questions + 1 repeat + 2 lists
    for key in ("answer_accuracy", "acceptance_accuracy", "invalid_rate"):
        assert 0.0 <= report[key] <= 1.0
    assert report["server_calls"] >= 5


def test_llm_serve_command_prints_the_base_url() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "recoworld.cli", "llm", "serve", "--port", str(port), "--threads", "1"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    probe = LocalLLMServer(port=port)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/v1" in line
        assert probe.answers()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not probe.answers()  # SIGTERM also stopped the model server child


def test_cached_rerun_reproduces_the_trajectory_with_the_server_stopped(
    server: LocalLLMServer, tmp_path: Path
) -> None:
    """Last test of the module: it stops the shared server (the fixture's stop is idempotent)."""
    world = tiny_world()
    path = tmp_path / "replay.sqlite"
    url = server.base_url
    with _client(url, ResponseCache(path)) as client:
        env = ConversationalRecEnv(world, LLMConversationalUser(world, client), max_turns=6)
        first = _conversation(env, 7)
    server.stop()
    assert not server.answers()
    with _client(url, ResponseCache(path, "replay")) as client:
        env = ConversationalRecEnv(world, LLMConversationalUser(world, client), max_turns=6)
        second = _conversation(env, 7)
        assert client.server_calls == 0 and client.cache_hits > 0
    assert _without_cached_flag(second) == _without_cached_flag(first)
    # without the cache the stopped server gives the documented error
    cfg = LLMClientConfig(base_url=url, max_retries=1, backoff_s=0.01, timeout_s=5)
    with LLMClient(cfg) as client, pytest.raises(LLMServerError, match=re.escape(url)):
        LLMConversationalUser(world, client).start(0, TARGET, np.random.default_rng(0))
