"""Metrics of the evaluator and the rule agents."""

from __future__ import annotations

import numpy as np
import pytest

from recoworld.agents.rules import AbsGreedyAgent, MaxEntropyAgent, RandomAgent, make_rule_agent
from recoworld.datasets.synthetic import default_world
from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.errors import ConfigError
from recoworld.evaluation import SessionOutcome, evaluate, metrics_from_outcomes


def test_metrics_from_known_outcomes():
    outs = [
        SessionOutcome(0, 0, turn=3, rank=1, steps=2),
        SessionOutcome(0, 1, turn=8, rank=2, steps=7),
        SessionOutcome(1, 2, turn=0, rank=0, steps=14),
        SessionOutcome(1, 3, turn=15, rank=1, steps=14),
    ]
    m = metrics_from_outcomes(outs)
    assert m.sr5 == 0.25 and m.sr10 == 0.5 and m.sr15 == 0.75
    assert m.avg_turns == pytest.approx((3 + 8 + 15 + 15) / 4)
    assert m.success_by_turn[2] == 0.25 and m.success_by_turn[14] == 0.75
    assert m.steps == 37


def test_max_entropy_asks_the_max_entropy_reachable_attribute(tiny_world):
    env = ConversationalRecEnv(tiny_world, rec_size=2)
    agent = MaxEntropyAgent(tiny_world, rec_size=2)
    obs, info = env.reset(seed=0, options={"user": 0, "target": 7})  # opening 0 -> items 0..7
    # Among items 0..7, attributes 1, 2, 3 each split 4/4 (entropy 1); ties go to the smallest id.
    a = agent.predict(obs)
    assert a["kind"] == 0 and a["question"] == 1
    p = agent.action_dist(obs)
    assert p.sum() == pytest.approx(1.0) and p[1] == 1.0


def test_max_entropy_recommends_when_few_candidates(tiny_world):
    env = ConversationalRecEnv(tiny_world, rec_size=10)
    agent = MaxEntropyAgent(tiny_world)
    obs, _ = env.reset(seed=0, options={"user": 0, "target": 9})  # opening 4 or 5: <= 4 items
    a = agent.predict(obs)
    assert a["kind"] == 1 and 9 in a["items"].tolist()


def test_max_entropy_never_asks_a_question_whose_answer_is_known(tiny_world):
    # Target 3 holds attributes 0 and 1 only. Its candidates end as items 0..3, which all hold 0
    # and 1; once 2 and 3 are asked and declined, the only reachable attribute left is held by every
    # candidate (entropy 0, the answer is known): the rule recommends instead of asking it.
    env = ConversationalRecEnv(tiny_world, rec_size=2)
    agent = MaxEntropyAgent(tiny_world, rec_size=2)
    obs, _ = env.reset(seed=0, options={"user": 1, "target": 3})
    asked = []
    while True:
        a = agent.predict(obs)
        if a["kind"] == 1:
            break
        asked.append(int(a["question"]))
        obs, _, term, trunc, _ = env.step(a)
        assert not (term or trunc)
    cand = set(np.flatnonzero(obs["candidates"]).tolist())
    assert cand == {0, 1, 2, 3}
    assert sorted(set(asked)) == sorted(asked)  # no question twice
    assert {2, 3} <= set(asked)
    # The attribute every candidate holds (0 or 1, whichever the opening was not) stays unasked.
    known = {0, 1} - set(np.flatnonzero(obs["accepted"]).tolist())
    assert known and known.isdisjoint(asked)
    assert agent.action_dist(obs)[-1] == 1.0


def test_random_agent_distribution_respects_reachability(tiny_world):
    env = ConversationalRecEnv(tiny_world)
    agent = RandomAgent(tiny_world, seed=1)
    obs, _ = env.reset(seed=0, options={"user": 0, "target": 7})
    p = agent.action_dist(obs)
    assert p.sum() == pytest.approx(1.0)
    # Attributes 4 and 5 are held by no candidate; 0 is accepted: all unreachable.
    assert p[0] == p[4] == p[5] == 0.0 and p[1] == pytest.approx(0.25)


def test_abs_greedy_recommends_by_popularity(tiny_world):
    env = ConversationalRecEnv(tiny_world)
    agent = AbsGreedyAgent(tiny_world, rec_size=3)
    obs, _ = env.reset(seed=0, options={"user": 0, "target": 7})
    a = agent.predict(obs)
    # Training popularity: items 0, 1, 3, 4, 6, 7 have 1 interaction; ties by smaller id.
    assert a["kind"] == 1 and a["items"][:3].tolist() == [0, 1, 3]


def test_evaluation_is_deterministic_and_max_entropy_beats_random():
    world = default_world()
    env = ConversationalRecEnv(world)
    m1, o1 = evaluate(env, make_rule_agent("max-entropy", world), "test", 150, seed=3)
    m2, o2 = evaluate(env, make_rule_agent("max-entropy", world), "test", 150, seed=3)
    assert o1 == o2 and m1 == m2
    r1, _ = evaluate(env, make_rule_agent("random", world, seed=3), "test", 150, seed=3)
    r2, _ = evaluate(env, make_rule_agent("random", world, seed=3), "test", 150, seed=3)
    assert r1 == r2
    assert m1.sr15 > r1.sr15
    assert np.all(np.diff(m1.success_by_turn) >= 0)


def test_unknown_rule_agent(tiny_world):
    with pytest.raises(ConfigError, match="unknown rule agent 'greedy'"):
        make_rule_agent("greedy", tiny_world)
