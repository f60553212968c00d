"""EAR and CRM: training beats max entropy, determinism, checkpoints, masks, reflection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recoworld.agents._policy_gradient import reflect
from recoworld.agents.crm import CRMAgent, CRMConfig
from recoworld.agents.ear import EARAgent, EARConfig
from recoworld.agents.fm import FMConfig, FMEmbeddings, FMScorer, train_fm
from recoworld.agents.rules import MaxEntropyAgent
from recoworld.datasets.synthetic import SyntheticWorldConfig, make_synthetic_world
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.errors import ConfigError
from recoworld.evaluation import evaluate

FM = FMConfig(epochs=8, dim=16, lr=0.02)
EAR = EARConfig(pretrain_sessions=160, episodes=320, eval_every=160, eval_sessions=80, fm=FM)


@pytest.fixture(scope="module")
def world() -> AttributeGraphWorld:
    cfg = SyntheticWorldConfig(n_users=120, n_items=400, n_attributes=16, n_clusters=4)
    return make_synthetic_world(cfg, seed=3)


@pytest.fixture(scope="module")
def emb(world: AttributeGraphWorld) -> FMEmbeddings:
    torch.set_num_threads(1)
    return train_fm(world, FM, seed=0)


@pytest.fixture(scope="module")
def ear(world: AttributeGraphWorld, emb: FMEmbeddings) -> EARAgent:
    return EARAgent(world, EAR, seed=0, embeddings=emb).learn()


def test_trained_ear_beats_max_entropy(
    world: AttributeGraphWorld, emb: FMEmbeddings, ear: EARAgent
) -> None:
    env = ConversationalRecEnv(world, split="test")
    ours, _ = evaluate(env, ear, "test", seed=0)
    rule, _ = evaluate(env, MaxEntropyAgent(world, scorer=FMScorer(emb)), "test")
    assert ours.sr15 > rule.sr15 + 0.1
    assert [e for e, _ in ear.selection_history] == [0, 160, 320]


def test_crm_trains_and_beats_max_entropy(world: AttributeGraphWorld, emb: FMEmbeddings) -> None:
    cfg = CRMConfig(pretrain_sessions=160, episodes=160, eval_every=160, eval_sessions=80, fm=FM)
    crm = CRMAgent(world, cfg, seed=0, embeddings=emb).learn()
    env = ConversationalRecEnv(world, split="test")
    ours, _ = evaluate(env, crm, "test", seed=0)
    rule, _ = evaluate(env, MaxEntropyAgent(world, scorer=FMScorer(emb)), "test")
    assert ours.sr15 > rule.sr15


def test_same_seed_same_weights(world: AttributeGraphWorld, emb: FMEmbeddings, ear: EARAgent) -> None:
    again = EARAgent(world, EAR, seed=0, embeddings=emb).learn()
    for k, v in ear.policy.state_dict().items():
        torch.testing.assert_close(again.policy.state_dict()[k], v, rtol=0, atol=0)
    env = ConversationalRecEnv(world, split="test")
    assert evaluate(env, ear, "test", 100, seed=2)[0] == evaluate(env, again, "test", 100, seed=2)[0]


def test_action_dist_respects_mask_and_checkpoint_round_trips(
    world: AttributeGraphWorld, ear: EARAgent, tmp_path: Path
) -> None:
    ear.save(tmp_path / "ear.pt")
    back = EARAgent.load(tmp_path / "ear.pt", world)
    back.deterministic = False
    env = ConversationalRecEnv(world, split="test")
    for i in range(15):
        obs, _ = env.reset(seed=i, options={"split": "test", "index": i})
        done = False
        while not done:
            p = back.action_dist(obs)
            assert p.sum() == pytest.approx(1.0)
            assert (p >= 0).all()
            assert (p[:-1][obs["asked"] == 1] == 0).all()
            assert (p[:-1][obs["accepted"] == 1] == 0).all()
            assert p[-1] > 0
            a = ear.predict(obs)
            b = EARAgent.load(tmp_path / "ear.pt", world).predict(obs) if i == 0 else a
            assert a["kind"] == b["kind"]
            obs, _, term, trunc, _ = env.step(a)
            done = term or trunc
    with pytest.raises(Exception, match="holds agent 'ear', expected one of \\['crm'\\]"):
        CRMAgent.load(tmp_path / "ear.pt", world)


def test_reflection_pushes_the_user_away_from_rejected_items(
    world: AttributeGraphWorld, emb: FMEmbeddings
) -> None:
    env = ConversationalRecEnv(world, split="test")
    probe = EARAgent(world, EARConfig(reflection=False, fm=FM), seed=0, embeddings=emb)
    rec = world.n_questions

    def rejected_at_once(i: int) -> bool:
        obs, _ = env.reset(seed=0, options={"split": "test", "index": i})
        return not env.step(probe.to_action(rec, obs))[2]

    index = next(i for i in range(len(world.split("test"))) if rejected_at_once(i))
    for reflection in (True, False):
        agent = EARAgent(world, EARConfig(reflection=reflection, fm=FM), seed=0, embeddings=emb)
        first, _ = env.reset(seed=0, options={"split": "test", "index": index})
        agent.action_dist(first)
        action = agent.to_action(rec, first)
        obs, _, term, _, _ = env.step(action)
        assert not term
        user = int(obs["user"])
        rejected_mean = emb.item[action["items"]].mean(axis=0)
        before = float(emb.user[user] @ rejected_mean)
        after = float(agent._user_vector(obs) @ rejected_mean)
        memory = reflect(reflect(None, first, emb, 0.01), obs, emb, 0.01)
        if reflection:
            assert after < before
            np.testing.assert_array_equal(agent._user_vector(obs), memory.vector)
        else:
            assert after == before
        # The pure transition: the same observation twice changes nothing.
        assert reflect(memory, obs, emb, 0.01) is memory


def test_bad_settings_raise() -> None:
    with pytest.raises(ConfigError, match="`batch_episodes` must be >= 1, got 0"):
        EARConfig(batch_episodes=0)
    with pytest.raises(ConfigError, match="`gamma` must be in"):
        CRMConfig(gamma=2.0)
