"""The fidelity harness: exact scores for the oracle users, failures counted, bad input refused."""

from __future__ import annotations

import json
import math

import pytest
from llm_server import fake_endpoint, oracle_reply, tiny_world

from recoworld.bench.agreement import kendall_tau, ranking_agreement
from recoworld.bench.fidelity import measure_fidelity
from recoworld.bench.leakage import Leak, find_leaks
from recoworld.cli import main
from recoworld.errors import ConfigError
from recoworld.users.llm.client import LLMClient, LLMClientConfig
from recoworld.users.llm.conversational import LLMConversationalUser
from recoworld.users.target_item import TargetItemUser


def test_statistical_user_scores_one() -> None:
    world = tiny_world()
    r = measure_fidelity(world, TargetItemUser(world), sessions=2, questions=4, rec_size=4)
    assert (r.answer_accuracy, r.acceptance_accuracy, r.opening_accuracy) == (1.0, 1.0, 1.0)
    # per session: opening, 4 questions, the first question again, 2 lists
    assert (r.sessions, r.questions, r.judgements, r.turns, r.invalid_rate) == (2, 8, 4, 16, 0.0)
    assert (r.answer_accuracy_held, r.answer_accuracy_not_held, r.consistency) == (1.0, 1.0, 1.0)
    assert r.leakage_rate == 0.0 and r.leaks == {"target_id": 0, "attribute": 0}
    assert sum(v["questions"] for v in r.answer_accuracy_by_type.values()) == 8
    assert all(v["accuracy"] == 1.0 for v in r.answer_accuracy_by_type.values())
    # slices played apart ask what one run asks
    a = measure_fidelity(world, TargetItemUser(world), 1, questions=4, rec_size=4, first=1)
    b = measure_fidelity(world, TargetItemUser(world), 1, questions=4, rec_size=4, indices=[1])
    assert a.answer_accuracy_by_type == b.answer_accuracy_by_type


def test_scripted_llm_user_scores_one_and_garbage_is_counted() -> None:
    world = tiny_world()
    with fake_endpoint(oracle_reply) as ep, LLMClient(LLMClientConfig(base_url=ep.base_url)) as c:
        r = measure_fidelity(world, LLMConversationalUser(world, c), 2, questions=4, rec_size=4)
    assert (r.answer_accuracy, r.acceptance_accuracy, r.opening_accuracy) == (1.0, 1.0, 1.0)
    assert r.invalid_rate == 0.0
    with fake_endpoint(lambda b: "??") as ep, LLMClient(LLMClientConfig(base_url=ep.base_url)) as c:
        r = measure_fidelity(world, LLMConversationalUser(world, c), 2, questions=4, rec_size=4)
    assert r.invalid_rate == 1.0 and r.invalid_responses == r.turns == 16
    # the fallbacks ("no", reject) are what the env receives: right on the negatives only
    assert r.answer_accuracy == 0.5 and r.acceptance_accuracy == 0.5
    assert math.isnan(r.answer_accuracy_valid) and math.isnan(r.opening_accuracy)


def test_bad_input() -> None:
    world = tiny_world()
    user = TargetItemUser(world)
    with pytest.raises(ConfigError, match="`sessions` must be <= the 2 sessions of split 'test'"):
        measure_fidelity(world, user, 3, rec_size=4)
    with pytest.raises(ConfigError, match=r"`indices` must be session indices in \[0, 2\)"):
        measure_fidelity(world, user, 1, rec_size=4, indices=[7])
    with pytest.raises(ConfigError, match="`sessions` must equal the 2 `indices`"):
        measure_fidelity(world, user, 1, rec_size=4, indices=[0, 1])
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


class LeakyUser(TargetItemUser):
    """A planted leak: the statistical user, but its opening utterance describes the target."""

    def __init__(self, world, say) -> None:  # type: ignore[no-untyped-def]
        super().__init__(world)
        self.say = say
        self._utterance = ""

    def start(self, user, target, rng):  # type: ignore[no-untyped-def]
        opening = super().start(user, target, rng)
        self._utterance = self.say(self.world, target)
        return opening

    def answer_binary(self, attribute, rng):  # type: ignore[no-untyped-def]
        self._utterance = "Yes." if super().answer_binary(attribute, rng) else "No."
        return self._utterance == "Yes."

    def step_info(self):  # type: ignore[no-untyped-def]
        return {"utterance": self._utterance}


def test_leakage_detector_catches_a_planted_leak() -> None:
    world = tiny_world()
    every = lambda w, t: "I want " + " and ".join(w.attribute_names[a] for a in w.attributes_of(t))
    r = measure_fidelity(world, LeakyUser(world, every), 2, questions=4, rec_size=4)
    assert r.leakage_rate == 1.0 and r.leaks["attribute"] > 0 and r.leaks["target_id"] == 0
    # naming the item's id is caught too; a sentence about nothing the target holds is not
    by_id = measure_fidelity(world, LeakyUser(world, lambda w, t: f"It is item {t}!"), 2,
                             questions=4, rec_size=4)  # fmt: skip
    assert by_id.leakage_rate == 1.0 and by_id.leaks == {"target_id": 2, "attribute": 0}
    clean = measure_fidelity(world, LeakyUser(world, lambda w, t: "Hello, popular stuff?"), 2,
                             questions=4, rec_size=4)  # fmt: skip
    assert clean.leakage_rate == 0.0 and clean.answer_accuracy == 1.0


def test_find_leaks_whole_words_and_disclosed_attributes() -> None:
    world = tiny_world()  # item 5: rock, guitar, live recording, vocals
    assert find_leaks("I like popular music from the 1950s", world, 5) == []
    got = find_leaks("Something with Live Recording and rock!", world, 5, disclosed={0})
    assert got == [Leak("attribute", "live recording")]
    assert find_leaks("item 5", world, 5) == [Leak("target_id", "5")]
    assert find_leaks("item 15 or 50", world, 5) == []
    assert find_leaks("the Blue Song", world, 5, item_names=["x"] * 5 + ["Blue Song"]) == [
        Leak("target_id", "Blue Song")
    ]


def test_kendall_tau_and_ranking_agreement() -> None:
    assert kendall_tau((1.0, 2.0, 3.0), (10.0, 20.0, 30.0)) == 1.0
    assert kendall_tau((1.0, 2.0, 3.0), (3.0, 2.0, 1.0)) == -1.0
    # tau-b with a tie in y: (C - D) / sqrt((C + D + Tx)(C + D + Ty)) = (2 - 0) / sqrt(2 * 3)
    assert kendall_tau((1.0, 2.0, 3.0), (1.0, 2.0, 2.0)) == pytest.approx(2 / 6**0.5)
    assert math.isnan(kendall_tau((1.0, 1.0), (1.0, 2.0)))
    with pytest.raises(ConfigError, match="equal length"):
        kendall_tau((1.0,), (1.0,))
    from recoworld.agents.rules import make_rule_agent
    from recoworld.datasets.registry import load_world

    world = load_world("synthetic")
    agents = {n: make_rule_agent(n, world, seed=0) for n in ("random", "max-entropy")}
    same = ranking_agreement(world, agents, TargetItemUser(world), TargetItemUser(world), 10)
    assert same.sr15_reference == same.sr15_candidate
    assert same.sr15_reference[0] != same.sr15_reference[1] and same.kendall_tau == 1.0
    with pytest.raises(ConfigError, match="at least 2 agents"):
        ranking_agreement(world, {"random": agents["random"]}, TargetItemUser(world),
                          TargetItemUser(world), 5)  # fmt: skip
