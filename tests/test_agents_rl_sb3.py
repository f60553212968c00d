"""stable-baselines3 PPO/DQN through the wrappers, and the train / evaluate commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from recoworld.agents.fm import FMConfig, FMEmbeddings, train_fm
from recoworld.agents.rules import RandomAgent
from recoworld.agents.sb3 import SB3Agent, SB3Config
from recoworld.cli import main
from recoworld.datasets.synthetic import SyntheticWorldConfig, make_synthetic_world
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.errors import ConfigError
from recoworld.evaluation import evaluate

FM = FMConfig(epochs=8, dim=16, lr=0.02)


@pytest.fixture(scope="module")
def world() -> AttributeGraphWorld:
    cfg = SyntheticWorldConfig(n_users=120, n_items=400, n_attributes=16, n_clusters=4)
    return make_synthetic_world(cfg, seed=3)


@pytest.fixture(scope="module")
def emb(world: AttributeGraphWorld) -> FMEmbeddings:
    torch.set_num_threads(1)
    return train_fm(world, FM, seed=0)


def test_ppo_through_the_wrapper_beats_random(
    world: AttributeGraphWorld, emb: FMEmbeddings, tmp_path: Path
) -> None:
    before = (np.random.get_state()[1][:4].copy(), torch.random.get_rng_state().clone())  # noqa: NPY002
    cfg = SB3Config(episodes=200, n_steps=256, eval_sessions=60, fm=FM)
    ppo = SB3Agent(world, cfg, seed=0, embeddings=emb, algorithm="ppo").learn()
    # stable-baselines3 seeds the global generators; the agent restores them.
    np.testing.assert_array_equal(np.random.get_state()[1][:4], before[0])  # noqa: NPY002
    assert torch.equal(torch.random.get_rng_state(), before[1])
    env = ConversationalRecEnv(world, split="test")
    ours, _ = evaluate(env, ppo, "test", seed=0)
    rand, _ = evaluate(env, RandomAgent(world, seed=0), "test", seed=0)
    assert ours.sr15 > rand.sr15 + 0.05
    ppo.save(tmp_path / "ppo.pt")
    back = SB3Agent.load(tmp_path / "ppo.pt", world)
    again, _ = evaluate(env, back, "test", seed=0)
    assert again == ours
    obs, _ = env.reset(seed=0, options={"split": "test", "index": 0})
    p = back.action_dist(obs)
    assert p.sum() == pytest.approx(1.0) and (p[:-1][obs["accepted"] == 1] == 0).all()


def test_dqn_same_seed_same_policy(world: AttributeGraphWorld, emb: FMEmbeddings) -> None:
    cfg = SB3Config(episodes=60, learning_starts=100, eval_sessions=20, fm=FM)
    a = SB3Agent(world, cfg, seed=1, embeddings=emb, algorithm="dqn").learn()
    b = SB3Agent(world, cfg, seed=1, embeddings=emb, algorithm="dqn").learn()
    for k, v in a.model.policy.state_dict().items():
        assert torch.equal(b.model.policy.state_dict()[k], v)
    with pytest.raises(ConfigError, match="`algorithm` must be 'ppo' or 'dqn', got 'a2c'"):
        SB3Agent(world, cfg, algorithm="a2c")
    with pytest.raises(ConfigError, match="`action_set` must be"):
        SB3Config(action_set="other")  # type: ignore[arg-type]


def test_train_command_resumes_and_evaluate_loads_the_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "scpr.json"
    cfg.write_text(json.dumps({"eval_every": 40, "eval_sessions": 30, "fm": {"epochs": 2}}))
    out = tmp_path / "run"
    argv = ["train", "--env", "recoworld/Synthetic-CRS-v0", "--agent", "scpr", "--seed", "0",
            "--out", str(out), "--config", str(cfg), "--quiet", "--json"]
    assert main([*argv, "--episodes", "40", "--checkpoint-every", "20"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["selection_history"][-1][0] == 40
    assert json.loads((out / "config.json").read_text())["agent_config"]["eval_every"] == 40
    # Rerunning with a larger budget resumes from the checkpoint instead of starting over.
    assert main([*argv, "--episodes", "80"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [e for e, _ in second["selection_history"]] == [40, 80]
    assert main(["evaluate", "--env", "recoworld/Synthetic-CRS-v0", "--agent", "scpr",
                 "--checkpoint", str(out / "agent.pt"), "--sessions", "50", "--json"]) == 0
    learned = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # --checkpoint also takes the run folder itself (issue 10 item 2)
    assert main(["evaluate", "--env", "recoworld/Synthetic-CRS-v0", "--agent", "scpr",
                 "--checkpoint", str(out), "--sessions", "50", "--json"]) == 0
    from_folder = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: v for k, v in from_folder.items() if k != "seconds"} == {
        k: v for k, v in learned.items() if k != "seconds"
    }
    assert main(["evaluate", "--env", "recoworld/Synthetic-CRS-v0", "--agent", "max-entropy",
                 "--sessions", "50", "--json"]) == 0
    rule = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(learned) == set(rule)
    assert learned["sessions"] == 50
    # A learned agent without a checkpoint, and a bad config key, fail with clear messages.
    assert main(["evaluate", "--env", "recoworld/Synthetic-CRS-v0", "--agent", "ear"]) == 2
    assert "pass --checkpoint PATH" in capsys.readouterr().err
    cfg.write_text(json.dumps({"episode": 3}))
    assert main([*argv, "--restart"]) == 2
    assert "unknown SCPRConfig key(s) ['episode']" in capsys.readouterr().err


def test_train_or_load_trains_once(world: AttributeGraphWorld, tmp_path: Path) -> None:
    from recoworld.agents.registry import train_or_load
    from recoworld.agents.scpr import SCPRAgent, SCPRConfig

    cfg = SCPRConfig(episodes=30, eval_every=30, eval_sessions=10, learning_starts=50, fm=FM)
    first = train_or_load("scpr", world, 0, tmp_path, cfg)
    assert isinstance(first, SCPRAgent)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"{world.name}-scpr-seed0.pt"]
    again = train_or_load("scpr", world, 0, tmp_path, cfg)
    assert isinstance(again, SCPRAgent)
    assert again.episodes_done == 30
    for k, v in first.q_net.state_dict().items():
        assert torch.equal(again.q_net.state_dict()[k], v)
    with pytest.raises(ConfigError, match="unknown trainable agent 'nonesuch'"):
        train_or_load("nonesuch", world, 0, tmp_path)
