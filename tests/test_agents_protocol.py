"""One agent surface: every conversational agent learns in the env it is handed, acts, logs, saves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch

from recoworld.agents import (
    AbsGreedyAgent,
    Agent,
    CRMAgent,
    CRMConfig,
    EARAgent,
    EARConfig,
    FMConfig,
    FMEmbeddings,
    MaxEntropyAgent,
    RandomAgent,
    SB3Agent,
    SB3Config,
    SCPRAgent,
    SCPRConfig,
    UNICORNAgent,
    UNICORNConfig,
    train_fm,
)
from recoworld.datasets.synthetic import SyntheticWorldConfig, make_synthetic_world
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs import ConversationalRecEnv, RewardConfig
from recoworld.errors import ConfigError
from recoworld.estimators import MixturePolicy, collect
from recoworld.users import TargetItemUser, TargetItemUserConfig

FM = FMConfig(epochs=4, dim=8, lr=0.02)


@pytest.fixture(scope="module")
def world() -> AttributeGraphWorld:
    cfg = SyntheticWorldConfig(n_users=60, n_items=150, n_attributes=12, n_clusters=3)
    return make_synthetic_world(cfg, seed=5)


@pytest.fixture(scope="module")
def emb(world: AttributeGraphWorld) -> FMEmbeddings:
    torch.set_num_threads(1)
    return train_fm(world, FM, seed=0)


def _agents(world: AttributeGraphWorld, emb: FMEmbeddings) -> dict[str, Any]:
    scpr = SCPRConfig(episodes=12, eval_every=6, eval_sessions=5, learning_starts=20, fm=FM)
    ear = EARConfig(pretrain_sessions=8, episodes=16, batch_episodes=4, eval_every=8,
                    eval_sessions=5, fm=FM)
    crm = CRMConfig(pretrain_sessions=8, episodes=16, batch_episodes=4, eval_every=8,
                    eval_sessions=5, fm=FM)
    sb3 = SB3Config(episodes=12, n_steps=32, batch_size=16, learning_starts=10, eval_sessions=5,
                    fm=FM)
    unicorn = UNICORNConfig(episodes=12, eval_every=6, eval_sessions=5, batch_size=8,
                            buffer_size=200, learning_starts=8, hidden=16, heads=2,
                            feedforward=32, fm=FM)
    return {
        "random": RandomAgent(world),
        "max-entropy": MaxEntropyAgent(world),
        "abs-greedy": AbsGreedyAgent(world),
        "scpr": SCPRAgent(world, scpr, seed=0, embeddings=emb),
        "ear": EARAgent(world, ear, seed=0, embeddings=emb),
        "crm": CRMAgent(world, crm, seed=0, embeddings=emb),
        "sb3-ppo": SB3Agent(world, sb3, seed=0, embeddings=emb, algorithm="ppo"),
        "sb3-dqn": SB3Agent(world, sb3, seed=0, embeddings=emb, algorithm="dqn"),
        "unicorn": UNICORNAgent(world, unicorn, seed=0, embeddings=emb),
    }


class CountingUser(TargetItemUser):
    """A statistical user that counts the sessions it is asked to play."""

    def __init__(self, world: AttributeGraphWorld, config: TargetItemUserConfig | None = None):
        super().__init__(world, config)
        self.sessions: list[tuple[int, int]] = []

    def start(self, user: int, target: int, rng: np.random.Generator) -> int:
        self.sessions.append((user, target))
        return super().start(user, target, rng)


def exercise(agent: Any, world: AttributeGraphWorld, tmp_path: Path) -> None:
    """The one function every agent goes through: learn in a given env, act, log, save, load."""
    assert isinstance(agent, Agent)
    user = CountingUser(world, TargetItemUserConfig(answer_flip_prob=0.05))
    env = ConversationalRecEnv(world, user=user, rewards=RewardConfig.ear(), split="valid")
    assert agent.learn(env) is agent
    test_env = ConversationalRecEnv(world, split="test")
    for i in range(4):
        obs, _ = test_env.reset(seed=i, options={"split": "test", "index": i})
        done = False
        while not done:
            p = agent.action_dist(obs)
            assert p.shape == (world.n_questions + 1,)
            assert p.sum() == pytest.approx(1.0) and (p >= 0).all()
            action = agent.predict(obs)
            flat = world.n_questions if action["kind"] == 1 else int(action["question"])
            assert p[flat] > 0
            if p.max() == 1.0:  # a deterministic agent: the log's action is the one it takes
                again = agent.to_action(int(np.argmax(p)), obs)
                assert again["kind"] == action["kind"]
                np.testing.assert_array_equal(again["items"], action["items"])
                assert again["question"] == action["question"]
            obs, _, term, trunc, _ = test_env.step(action)
            done = term or trunc
    path = tmp_path / "agent.pt"
    agent.save(path)
    back = type(agent).load(path, world)
    obs, _ = test_env.reset(seed=9, options={"split": "test", "index": 5})
    np.testing.assert_array_equal(back.action_dist(obs), agent.action_dist(obs))
    learned = not isinstance(agent, RandomAgent | MaxEntropyAgent | AbsGreedyAgent)
    assert bool(user.sessions) == learned  # learners played in the env they were handed


def test_every_agent_goes_through_one_function(
    world: AttributeGraphWorld, emb: FMEmbeddings, tmp_path: Path
) -> None:
    for name, agent in _agents(world, emb).items():
        exercise(agent, world, tmp_path / name)


def test_learned_agents_train_against_a_user_written_here(
    world: AttributeGraphWorld, emb: FMEmbeddings
) -> None:
    class NeverTakesTheFirstList(TargetItemUser):
        """Declines every first recommendation of a session, even one holding the target."""

        def __init__(self, w: AttributeGraphWorld) -> None:
            super().__init__(w)
            self.lists = 0
            self.sessions = 0

        def start(self, user: int, target: int, rng: np.random.Generator) -> int:
            self.sessions += 1
            self._seen_list = False
            return super().start(user, target, rng)

        def judge(self, items: Any, rng: np.random.Generator) -> bool:
            self.lists += 1
            first, self._seen_list = not self._seen_list, True
            return False if first else super().judge(items, rng)

    for agent in (
        SCPRAgent(world, SCPRConfig(episodes=10, eval_every=5, eval_sessions=4,
                                    learning_starts=10, fm=FM), seed=1, embeddings=emb),
        EARAgent(world, EARConfig(pretrain_sessions=4, episodes=8, batch_episodes=4,
                                  eval_every=4, eval_sessions=4, fm=FM), seed=1, embeddings=emb),
    ):
        user = NeverTakesTheFirstList(world)
        env = ConversationalRecEnv(world, user=user, split="valid")
        agent.learn(env)
        pretrain = getattr(agent.config, "pretrain_sessions", 0)
        selections = len(agent.selection_history)
        assert user.sessions == pretrain + agent.config.episodes + selections * 4
        assert user.lists > 0
        # Against this user no first list succeeds: model selection measured it.
        assert all(sr < 1.0 for _, sr in agent.selection_history)


def test_training_and_selection_sessions(world: AttributeGraphWorld, emb: FMEmbeddings) -> None:
    from recoworld.agents.crs_base import validation_split

    class Recorder(gymnasium.Wrapper[Any, Any, Any, Any]):
        def __init__(self, env: gymnasium.Env[Any, Any]) -> None:
            super().__init__(env)
            self.resets: list[tuple[str, int]] = []

        def reset(self, **kwargs: Any) -> Any:
            opts = kwargs["options"]
            self.resets.append((opts["split"], opts["index"]))
            return self.env.reset(**kwargs)

    cfg = SCPRConfig(episodes=30, eval_every=15, eval_sessions=6, learning_starts=10, fm=FM)
    _, hold = validation_split(world, cfg.holdout_fraction, cfg.eval_sessions, seed=2)
    valid = Recorder(ConversationalRecEnv(world, split="valid"))
    SCPRAgent(world, cfg, seed=2, embeddings=emb).learn(valid)
    assert {s for s, _ in valid.resets} == {"valid"}
    trained = [i for i in valid.resets[: cfg.eval_every]]
    assert not {i for _, i in trained} & set(hold.tolist())  # held-out sessions never trained on
    selection = [i for _, i in valid.resets[cfg.eval_every : cfg.eval_every + cfg.eval_sessions]]
    assert selection == hold.tolist()
    # Trained on the train split: its sessions for training, held-out valid ones for selection.
    train = Recorder(ConversationalRecEnv(world, split="train"))
    SCPRAgent(world, cfg, seed=2, embeddings=emb).learn(train)
    assert {s for s, _ in train.resets} == {"train", "valid"}
    assert [i for s, i in train.resets if s == "valid"] == hold.tolist() * 2
    assert "test" not in {s for s, _ in valid.resets + train.resets}


def test_learn_rejects_an_env_that_does_not_fit(
    world: AttributeGraphWorld, emb: FMEmbeddings
) -> None:
    agent = SCPRAgent(world, SCPRConfig(episodes=2, fm=FM), embeddings=emb)
    other = make_synthetic_world(SyntheticWorldConfig(n_users=30, n_items=80, n_attributes=8))
    with pytest.raises(ConfigError, match="converses in world"):
        agent.learn(ConversationalRecEnv(other, split="valid"))
    with pytest.raises(ConfigError, match="has rec_size=5 but the agent's config has rec_size=10"):
        agent.learn(ConversationalRecEnv(world, split="valid", rec_size=5))
    with pytest.raises(ConfigError, match="must be a ConversationalRecEnv"):
        agent.learn(gymnasium.make("recoworld/ShortVideo-v0"))
    vec = gymnasium.make_vec("recoworld/ShortVideo-v0", num_envs=2,
                             vectorization_mode="vector_entry_point")
    with pytest.raises(ConfigError, match="batched"):
        agent.learn(vec)
    with pytest.raises(ConfigError, match="converses in world"):
        MaxEntropyAgent(world).learn(ConversationalRecEnv(other))


def test_learned_agents_are_logging_policies(world: AttributeGraphWorld, emb: FMEmbeddings) -> None:
    ear = EARAgent(world, EARConfig(pretrain_sessions=8, episodes=8, batch_episodes=4,
                                    eval_every=8, eval_sessions=4, fm=FM), seed=0, embeddings=emb)
    ear.learn()
    ear.deterministic = False
    scpr = SCPRAgent(world, SCPRConfig(episodes=8, eval_every=8, eval_sessions=4,
                                       learning_starts=10, fm=FM), seed=0, embeddings=emb)
    scpr.learn()
    kwargs = {"world": world, "split": "test"}
    for policy in (ear, MixturePolicy([scpr, RandomAgent(world)], [0.8, 0.2])):
        log = collect("recoworld/Synthetic-CRS-v0", policy, episodes=6, seed=3, env_kwargs=kwargs)
        again = collect("recoworld/Synthetic-CRS-v0", policy, episodes=6, seed=3,
                        env_kwargs=kwargs)
        assert log.n_rows > 6
        np.testing.assert_array_equal(log.column("action"), again.column("action"))
        pscore = log.column("pscore").astype(np.float64)
        np.testing.assert_array_equal(pscore, again.column("pscore"))
        assert (pscore > 0).all() and (pscore <= 1).all()
        assert (pscore < 1).any()  # stochastic: the propensities are not all one


def test_ear_action_dist_and_predict_agree_on_every_observation(
    world: AttributeGraphWorld, emb: FMEmbeddings
) -> None:
    cfg = EARConfig(pretrain_sessions=16, batch_episodes=8, eval_sessions=0,
                    reflection_lr=0.5, fm=FM)
    ear = EARAgent(world, cfg, seed=0, embeddings=emb).learn(episodes=0)
    twin = EARAgent(world, cfg, seed=0, embeddings=emb).learn(episodes=0)
    env = ConversationalRecEnv(world, split="test")
    reflected = 0
    for i in range(25):
        obs, _ = env.reset(seed=i, options={"split": "test", "index": i})
        done = False
        while not done:
            # Any order, any number of calls: the same decision. The twin only scores the
            # trajectory (an evaluation policy); it reflects on the same rejected lists.
            p = ear.action_dist(obs)
            action = ear.predict(obs)
            np.testing.assert_array_equal(ear.action_dist(obs), p)
            np.testing.assert_array_equal(twin.action_dist(obs), p)
            flat = world.n_questions if action["kind"] == 1 else int(action["question"])
            assert p[flat] == 1.0
            if action["kind"] == 1:
                np.testing.assert_array_equal(ear.to_action(flat, obs)["items"], action["items"])
            obs, _, term, trunc, _ = env.step(action)
            done = term or trunc
            if not done and action["kind"] == 1:
                before = emb.user[int(obs["user"])]
                reflected += int(not np.array_equal(ear._user_vector(obs), before))
    assert reflected > 0  # rejected lists moved the user vector, identically for both
