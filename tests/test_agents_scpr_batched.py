"""SCPR on batches: acting on a vector env's observations, training on a vector env."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

from recoworld.agents.fm import FMConfig, train_fm
from recoworld.agents.rules import MaxEntropyAgent
from recoworld.agents.scpr import SCPRAgent, SCPRConfig
from recoworld.datasets.synthetic import SyntheticWorldConfig, make_synthetic_world
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.envs.conversational_vector import ConversationalVectorEnv, vector_env_like
from recoworld.errors import ConfigError
from recoworld.evaluation import evaluate
from recoworld.users import TargetItemUserConfig

FM = FMConfig(epochs=8, dim=16, lr=0.02)
BATCHED = SCPRConfig(
    episodes=256, eval_every=128, eval_sessions=64, learning_starts=200, fm=FM,
    num_envs=16, transitions_per_update=2,
)  # fmt: skip


@pytest.fixture(scope="module")
def world() -> AttributeGraphWorld:
    cfg = SyntheticWorldConfig(n_users=120, n_items=400, n_attributes=16, n_clusters=4)
    return make_synthetic_world(cfg, seed=3)


@pytest.fixture(scope="module")
def emb(world: AttributeGraphWorld) -> object:
    return train_fm(world, FM, seed=0)


@pytest.fixture(scope="module")
def batched(world: AttributeGraphWorld, emb: object) -> SCPRAgent:
    torch.set_num_threads(1)
    return SCPRAgent(world, BATCHED, seed=0, embeddings=emb).learn()  # type: ignore[arg-type]


def test_predict_batch_is_predict_row_by_row(world: AttributeGraphWorld, batched: SCPRAgent) -> None:
    vec = ConversationalVectorEnv(32, world=world, split="test")
    obs, _ = vec.reset(seed=5)
    for _ in range(6):
        action = batched.predict_batch(obs)
        for r in range(32):
            one = batched.predict({k: v[r] for k, v in obs.items()})
            assert (action["kind"][r], action["question"][r]) == (one["kind"], one["question"])
            if one["kind"] == 1:
                np.testing.assert_array_equal(action["items"][r], one["items"])
        obs, *_ = vec.step(action)


def test_near_ties_are_decided_by_the_one_row_pass(
    world: AttributeGraphWorld, batched: SCPRAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Equal output rows make every (ask, recommend) pair a tie, up to the last bits that a batched
    # and a one-row pass may round differently: the batched pass must hand each row to the
    # one-row pass, so the choices are the single path's.
    agent = SCPRAgent(world, BATCHED, seed=1, embeddings=batched.embeddings)
    last = agent.q_net.body[-1]
    with torch.no_grad():
        last.weight[1] = last.weight[0]
        last.bias[1] = last.bias[0]
    calls: list[int] = []
    single = agent._q
    monkeypatch.setattr(agent, "_q", lambda t: calls.append(1) or single(t))
    vec = ConversationalVectorEnv(16, world=world, split="test")
    obs, _ = vec.reset(seed=0)
    action = agent.predict_batch(obs)
    assert len(calls) == 16
    single_kind = [agent.predict({k: v[r] for k, v in obs.items()})["kind"] for r in range(16)]
    np.testing.assert_array_equal(action["kind"], single_kind)


def test_batched_evaluation_equals_single_path(
    world: AttributeGraphWorld, batched: SCPRAgent
) -> None:
    env = ConversationalRecEnv(world, split="test")
    one, outcomes_one = evaluate(env, batched, "test", seed=3, num_envs=1)
    many, outcomes_many = evaluate(env, batched, "test", seed=3, num_envs=64)
    assert outcomes_one == outcomes_many
    assert one == many


def test_batched_training_learns(world: AttributeGraphWorld, batched: SCPRAgent) -> None:
    env = ConversationalRecEnv(world, split="test")
    ours, _ = evaluate(env, batched, "test", seed=0)
    plain, _ = evaluate(env, MaxEntropyAgent(world), "test")
    assert ours.sr15 > plain.sr15 + 0.1
    assert batched.episodes_done == 256
    assert [e for e, _ in batched.selection_history] == [128, 256]
    # one gradient step per 2 transitions once the buffer held learning_starts of them
    assert 0 < batched.grad_steps <= batched._replay.size // 2


def test_batched_training_is_reproducible_and_resumes_exactly(
    world: AttributeGraphWorld, emb: object, tmp_path: Path
) -> None:
    cfg = SCPRConfig(
        episodes=128, eval_every=64, eval_sessions=32, learning_starts=100, fm=FM,
        num_envs=8, transitions_per_update=3,
    )  # fmt: skip
    fresh = SCPRAgent(world, cfg, seed=4, embeddings=emb).learn()  # type: ignore[arg-type]
    again = SCPRAgent(world, cfg, seed=4, embeddings=emb).learn()  # type: ignore[arg-type]
    half = SCPRAgent(world, cfg, seed=4, embeddings=emb)  # type: ignore[arg-type]
    half.learn(episodes=64, checkpoint_path=tmp_path / "ck.pt", checkpoint_every=64)
    resumed = SCPRAgent.load(tmp_path / "ck.pt", world).learn()
    for other in (again, resumed):
        for k, v in fresh.q_net.state_dict().items():
            torch.testing.assert_close(other.q_net.state_dict()[k], v, rtol=0, atol=0)
        assert other.selection_history == fresh.selection_history
        assert other.grad_steps == fresh.grad_steps
    differs = SCPRAgent(world, cfg, seed=5, embeddings=emb).learn(episodes=64)  # type: ignore[arg-type]
    assert not torch.equal(
        differs.q_net.state_dict()["body.0.weight"], fresh.q_net.state_dict()["body.0.weight"]
    )


def test_batched_training_meets_the_env_it_is_handed(
    world: AttributeGraphWorld, emb: object
) -> None:
    # A noisy user and a test split: the vector copy carries both.
    env = ConversationalRecEnv(
        world, split="test", user_config=TargetItemUserConfig(answer_flip_prob=0.3)
    )
    vec = vector_env_like(env, 4)
    assert vec.split == "test" and vec.num_envs == 4
    assert vec.user.draws_only_at_start is False  # the flips draw during the session
    cfg = SCPRConfig(episodes=16, eval_sessions=0, learning_starts=10, fm=FM, num_envs=4)
    agent = SCPRAgent(world, cfg, seed=0, embeddings=emb).learn(env)  # type: ignore[arg-type]
    assert agent.episodes_done == 16 and agent._replay.size > 16


def test_batched_training_refuses_what_the_vector_env_cannot_play(
    world: AttributeGraphWorld, emb: object
) -> None:
    cfg = SCPRConfig(episodes=8, eval_sessions=0, fm=FM, num_envs=4)
    agent = SCPRAgent(world, cfg, seed=0, embeddings=emb)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="reject_filter=True"):
        agent.learn(ConversationalRecEnv(world, split="valid", reject_filter=True))
    wrapped = gymnasium.wrappers.RecordEpisodeStatistics(ConversationalRecEnv(world, split="valid"))
    with pytest.raises(ConfigError, match="RecordEpisodeStatistics wrapper"):
        agent.learn(wrapped)
    with pytest.raises(ConfigError, match="`num_envs` must be"):
        SCPRConfig(num_envs=0)
    with pytest.raises(ConfigError, match="`transitions_per_update` must be"):
        SCPRConfig(transitions_per_update=0)


def test_ear_and_crm_play_their_batches_on_a_vector_env(
    world: AttributeGraphWorld, emb: object
) -> None:
    from recoworld.agents.crm import CRMAgent, CRMConfig
    from recoworld.agents.ear import EARAgent, EARConfig

    for cls, cfg_cls in ((EARAgent, EARConfig), (CRMAgent, CRMConfig)):
        cfg = cfg_cls(
            episodes=96, pretrain_sessions=64, batch_episodes=32, eval_every=48, eval_sessions=32,
            fm=FM, num_envs=32,
        )  # fmt: skip
        a = cls(world, cfg, seed=0, embeddings=emb).learn()  # type: ignore[arg-type]
        b = cls(world, cfg, seed=0, embeddings=emb).learn()  # type: ignore[arg-type]
        assert a.episodes_done == 96 and a.pretrained_sessions == 64
        for k, v in a.policy.state_dict().items():
            torch.testing.assert_close(b.policy.state_dict()[k], v, rtol=0, atol=0)
        assert not a._slot_memory  # the per-slot reflection memories last one batch
    # the batched imitation steps taught the policy the max-entropy rule
    cfg = EARConfig(episodes=1, pretrain_sessions=256, batch_episodes=16, eval_sessions=0, fm=FM,
                    num_envs=16)  # fmt: skip
    ear = EARAgent(world, cfg, seed=0, embeddings=emb)  # type: ignore[arg-type]
    env = ConversationalRecEnv(world, split="test")

    def agreement() -> float:
        agree = 0
        for i in range(40):
            obs, _ = env.reset(seed=i, options={"split": "test", "index": i})
            s = ear._step(obs)
            agree += int(np.argmax(ear._probs(s)) == ear._rule_action(s, int(obs["turn"])))
        return agree / 40

    before = agreement()
    ear.learn()
    assert agreement() > max(0.8, before + 0.3)


def test_ear_batched_evaluation_equals_single_path(
    world: AttributeGraphWorld, emb: object
) -> None:
    from recoworld.agents.ear import EARAgent, EARConfig

    cfg = EARConfig(episodes=64, pretrain_sessions=64, eval_sessions=0, fm=FM, num_envs=16)
    ear = EARAgent(world, cfg, seed=0, embeddings=emb).learn()  # type: ignore[arg-type]
    assert ear.config.reflection  # each slot reflects on its own session
    env = ConversationalRecEnv(world, split="test")
    one, outcomes_one = evaluate(env, ear, "test", seed=2, num_envs=1)
    many, outcomes_many = evaluate(env, ear, "test", seed=2, num_envs=32)
    assert outcomes_one == outcomes_many
    assert one == many


def test_ear_reflects_per_slot_when_the_active_rows_change(
    world: AttributeGraphWorld, emb: object, tmp_path: Path
) -> None:
    from recoworld.agents.ear import EARAgent, EARConfig

    cfg = EARConfig(episodes=32, pretrain_sessions=64, eval_sessions=0, fm=FM, num_envs=16)
    ear = EARAgent(world, cfg, seed=0, embeddings=emb).learn()  # type: ignore[arg-type]
    ear.save(tmp_path / "ear.pt")
    copies = [EARAgent.load(tmp_path / "ear.pt", world) for _ in range(16)]  # one per slot
    vec = ConversationalVectorEnv(16, world=world, split="test", autoreset_mode="Disabled")
    obs, _ = vec.reset(seed=7)

    def check(active: np.ndarray) -> dict[str, np.ndarray]:
        action = ear.predict_batch(obs, active)
        for r in np.flatnonzero(active).tolist():
            one = copies[r].predict({k: np.array(v[r]) for k, v in obs.items()})
            assert (action["kind"][r], action["question"][r]) == (one["kind"], one["question"])
            assert copies[r].reflection is not None
            np.testing.assert_array_equal(ear._slot_memory[r].vector, copies[r].reflection.vector)
        return action

    check(np.ones(16, dtype=np.bool_))
    # Every slot recommends ten of its candidates (not the agent's choice): most are rejected,
    # and the next observation makes each slot's memory reflect on its own rejected list.
    items = np.stack([vec.candidate_items(r)[:10] for r in range(16)])
    obs, _, term, trunc, _ = vec.step({"kind": np.ones(16, np.int64), "question": np.zeros(16, np.int64),
                                       "items": items})  # fmt: skip
    odd = (np.arange(16) % 2 == 1) & ~(term | trunc)  # now the odd slots only: rows != slots
    check(odd)
    reflected = [
        r for r in np.flatnonzero(odd).tolist()
        if not np.array_equal(ear._slot_memory[r].vector, ear._emb().user[int(obs["user"][r])])
    ]
    assert reflected  # the memories that were checked had moved
