"""``LLMConversationalUser`` on a tiny world, against scripted and garbage fake endpoints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from llm_server import ATTRS, fake_endpoint, oracle_reply, tiny_world

from recoworld.errors import InvalidActionError, LLMResponseError
from recoworld.users.conversational import ConversationalUser
from recoworld.users.llm.cache import ResponseCache
from recoworld.users.llm.client import LLMClient, LLMClientConfig
from recoworld.users.llm.conversational import (
    LLMConversationalUser,
    LLMConversationalUserConfig,
)
from recoworld.users.target_item import TargetItemUser

TARGET = 5  # rock, guitar, live recording, vocals


def _play(user: ConversationalUser, rng: np.random.Generator) -> list[object]:
    """A fixed script of every call the environment makes; returns answers and infos."""
    out: list[object] = [user.start(0, TARGET, rng), user.step_info()]
    for a in range(len(ATTRS)):
        out += [user.answer_binary(a, rng), user.step_info()]
    out += [user.judge(np.array([0, 3, 5]), rng), user.step_info()]
    out += [user.judge(np.array([0, 1, 2]), rng), user.step_info()]
    out += [user.wants_to_leave(rng)]
    return out


def test_implements_the_protocol_and_matches_the_oracle_exactly() -> None:
    world = tiny_world()
    truth = TargetItemUser(world)
    with fake_endpoint(oracle_reply) as ep, LLMClient(LLMClientConfig(base_url=ep.base_url)) as c:
        user = LLMConversationalUser(world, c)
        assert isinstance(user, ConversationalUser)
        rng = np.random.default_rng(0)
        opening = user.start(0, TARGET, rng)
        truth.start(0, TARGET, np.random.default_rng(0))
        assert opening == 6  # the scripted user names the last wanted feature: vocals
        info = user.step_info()
        assert info["utterance"] == "I want vocals." and info["invalid_response"] is False
        for a in range(len(ATTRS)):
            assert user.answer_binary(a, rng) == truth.answer_binary(a, rng)
        assert user.judge(np.array([0, 3, 5, 7]), rng) is True
        assert user.step_info()["utterance"] == "I'll take C."
        assert user.judge(np.array([0, 3, 7]), rng) is False
        assert user.wants_to_leave(rng) is False
        assert user.stats == {"turns": 11, "invalid_responses": 0, "llm_attempts": 11}


def test_enumerated_answers_match_the_oracle() -> None:
    world = tiny_world("enumerated")
    truth = TargetItemUser(world)
    with fake_endpoint(oracle_reply) as ep, LLMClient(LLMClientConfig(base_url=ep.base_url)) as c:
        user = LLMConversationalUser(world, c)
        rng = np.random.default_rng(1)
        user.start(0, TARGET, rng)
        truth.start(0, TARGET, rng)
        for parent in range(world.n_parents):
            got = user.answer_enumerated(parent, rng)
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, truth.answer_enumerated(parent, rng))
        body = ep.requests[-1]
        chosen = body["response_format"]["schema"]["properties"]["chosen"]
        assert chosen["items"]["enum"] == ["live recording", "instrumental"]


def test_garbage_endpoint_marks_every_turn_invalid_and_counts_it() -> None:
    world = tiny_world("enumerated")
    with fake_endpoint(lambda b: "blah {not json") as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url)) as c:
            user = LLMConversationalUser(world, c)
            rng = np.random.default_rng(2)
            opening = user.start(0, TARGET, rng)
            assert opening in world.attributes_of(TARGET)  # uniform fallback, flagged
            info = user.step_info()
            assert info["invalid_response"] is True and info["invalid_reply"] == "blah {not json"
            assert user.answer_binary(0, rng) is False  # rock is wanted: the fallback is visible
            assert user.step_info()["invalid_response"] is True
            assert user.answer_enumerated(0, rng).size == 0
            assert user.judge(np.array([5]), rng) is False
            assert user.step_info()["invalid_responses"] == 4
    assert user.stats == {"turns": 4, "invalid_responses": 4, "llm_attempts": 7}
    assert len(ep.requests) == 7  # 3 decisions x (json_schema, grammar) + 1 letter choice


def test_on_invalid_raise() -> None:
    world = tiny_world()
    cfg = LLMConversationalUserConfig(on_invalid="raise")
    with fake_endpoint(lambda b: "no idea") as ep, LLMClient(LLMClientConfig(base_url=ep.base_url)) as c:
        user = LLMConversationalUser(world, c, cfg)
        with pytest.raises(LLMResponseError, match="did not parse after 2 attempt"):
            user.start(0, TARGET, np.random.default_rng(0))


def test_no_prompt_contains_the_target_id(tmp_path: Path) -> None:
    world = tiny_world()
    with fake_endpoint(oracle_reply) as ep, LLMClient(LLMClientConfig(base_url=ep.base_url)) as c:
        user = LLMConversationalUser(world, c)
        _play(user, np.random.default_rng(3))
        sent = [json.dumps(b["messages"]) for b in ep.requests]
    assert len(sent) == 11
    for text in sent:
        assert re.search(rf"\b{TARGET}\b", text) is None
        assert "item 5" not in text.lower()
    # the prompts do carry the target's attributes
    assert "rock, guitar, live recording, vocals" in sent[0]


def test_judge_json_mode_and_input_errors() -> None:
    world = tiny_world()
    reply = lambda b: json.dumps({"choice": "B", "utterance": "the second"})
    cfg = LLMConversationalUserConfig(judge_mode="json")
    with fake_endpoint(reply) as ep, LLMClient(LLMClientConfig(base_url=ep.base_url)) as c:
        user = LLMConversationalUser(world, c, cfg)
        rng = np.random.default_rng(0)
        user.start(0, TARGET, rng)  # the opening fails to parse: flagged, then a uniform draw
        assert user.judge(np.array([1, 5, 2]), rng) is True
        assert user.step_info()["utterance"] == "the second"
        enum = ep.requests[-1]["response_format"]["schema"]["properties"]["choice"]["enum"]
        assert enum == ["A", "B", "C", "D"]
        with pytest.raises(InvalidActionError, match=r"`items` must be item ids in \[0, 8\)"):
            user.judge(np.array([9]), rng)
        with pytest.raises(InvalidActionError, match="`attribute` must be in"):
            user.answer_binary(99, rng)
        with pytest.raises(InvalidActionError, match="`target` must be in"):
            user.start(0, 42, rng)


def test_recorded_session_replays_without_server(tmp_path: Path) -> None:
    world = tiny_world()
    path = tmp_path / "conv.sqlite"
    with fake_endpoint(oracle_reply) as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url), ResponseCache(path)) as c:
            first = _play(LLMConversationalUser(world, c), np.random.default_rng(11))
    cfg = LLMClientConfig(base_url="http://127.0.0.1:9/v1", max_retries=0)
    with LLMClient(cfg, ResponseCache(path, "replay")) as c:
        second = _play(LLMConversationalUser(world, c), np.random.default_rng(11))
        assert c.server_calls == 0
    for a, b in zip(first, second, strict=True):
        if isinstance(a, dict):
            assert isinstance(b, dict)
            a = {k: v for k, v in a.items() if k != "cached"}
            b = {k: v for k, v in b.items() if k != "cached"}
        assert a == b
