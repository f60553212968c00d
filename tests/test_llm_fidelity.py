"""The fidelity harness: exact scores for the oracle users, failures counted, bad input refused."""

from __future__ import annotations

import json
import math

import pytest
from llm_server import fake_endpoint, oracle_reply, tiny_world

from recoworld.bench.fidelity import measure_fidelity
from recoworld.cli import main
from recoworld.errors import ConfigError
from recoworld.users.llm.client import LLMClient, LLMClientConfig
from recoworld.users.llm.conversational import LLMConversationalUser
from recoworld.users.target_item import TargetItemUser


def test_statistical_user_scores_one() -> None:
    world = tiny_world()
    r = measure_fidelity(world, TargetItemUser(world), sessions=2, questions=4, rec_size=4)
    assert (r.answer_accuracy, r.acceptance_accuracy, r.opening_accuracy) == (1.0, 1.0, 1.0)
    assert (r.sessions, r.questions, r.judgements, r.turns, r.invalid_rate) == (2, 8, 4, 14, 0.0)


def test_scripted_llm_user_scores_one_and_garbage_is_counted() -> None:
    world = tiny_world()
    with fake_endpoint(oracle_reply) as ep, LLMClient(LLMClientConfig(base_url=ep.base_url)) as c:
        r = measure_fidelity(world, LLMConversationalUser(world, c), 2, questions=4, rec_size=4)
    assert (r.answer_accuracy, r.acceptance_accuracy, r.opening_accuracy) == (1.0, 1.0, 1.0)
    assert r.invalid_rate == 0.0
    with fake_endpoint(lambda b: "??") as ep, LLMClient(LLMClientConfig(base_url=ep.base_url)) as c:
        r = measure_fidelity(world, LLMConversationalUser(world, c), 2, questions=4, rec_size=4)
    assert r.invalid_rate == 1.0 and r.invalid_responses == r.turns == 14
    # the fallbacks ("no", reject) are what the env receives: right on the negatives only
    assert r.answer_accuracy == 0.5 and r.acceptance_accuracy == 0.5
    assert math.isnan(r.answer_accuracy_valid) and math.isnan(r.opening_accuracy)


def test_bad_input() -> None:
    world = tiny_world()
    user = TargetItemUser(world)
    with pytest.raises(ConfigError, match="`sessions` must be <= the 2 sessions of split 'test', got 3"):
        measure_fidelity(world, user, 3, rec_size=4)
    with pytest.raises(ConfigError, match=r"`rec_size` must be in \[2, 8\], got 10"):
        measure_fidelity(world, user, 1)
    with pytest.raises(ConfigError, match="`sessions` must be >= 1"):
        measure_fidelity(world, user, 0, rec_size=4)


def test_cli_json_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fidelity", "--env", "recoworld/Synthetic-CRS-v0", "--user", "statistical",
                 "--sessions", "3", "--json"])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["sessions"] == 3 and report["answer_accuracy"] == 1.0
    assert {"answer_accuracy", "acceptance_accuracy", "invalid_rate", "sessions"} <= set(report)
    assert main(["fidelity", "--env", "recoworld/ShortVideo-v0", "--sessions", "1"]) == 2
