"""SCPR: adjacent-attribute questions, training beats max entropy, determinism, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recoworld.agents.fm import FMConfig, FMScorer, train_fm
from recoworld.agents.rules import MaxEntropyAgent
from recoworld.agents.scpr import SCPRAgent, SCPRConfig, scpr_question
from recoworld.datasets.synthetic import SyntheticWorldConfig, make_synthetic_world
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.errors import ConfigError, DataError, DatasetNotFoundError
from recoworld.evaluation import evaluate

FM = FMConfig(epochs=8, dim=16, lr=0.02)
CFG = SCPRConfig(episodes=240, eval_every=120, eval_sessions=80, learning_starts=200, fm=FM)


@pytest.fixture(scope="module")
def world() -> AttributeGraphWorld:
    cfg = SyntheticWorldConfig(n_users=120, n_items=400, n_attributes=16, n_clusters=4)
    return make_synthetic_world(cfg, seed=3)


@pytest.fixture(scope="module")
def trained(world: AttributeGraphWorld) -> SCPRAgent:
    torch.set_num_threads(1)
    return SCPRAgent(world, CFG, seed=0).learn()


def _tiny_world() -> AttributeGraphWorld:
    # items x attributes: item0 {0,1}, item1 {0,2}, item2 {0,1,3}, item3 {4}
    ia = sp.csr_matrix(
        np.array(
            [[1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [1, 1, 0, 1, 0], [0, 0, 0, 0, 1]], dtype=bool
        )
    )
    ui = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 1, 1]], dtype=bool))
    friends = sp.csr_matrix(np.array([[0, 1], [1, 0]], dtype=bool))
    likes = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [1, 0, 0, 0, 1]], dtype=bool))
    return AttributeGraphWorld(
        name="tiny",
        item_attributes=ia,
        user_items=ui,
        user_items_train=ui,
        friends=friends,
        user_attributes=likes,
        sessions={"train": np.array([[0, 0]]), "valid": np.array([[1, 1]]), "test": [[1, 2]]},
        attribute_names=tuple("abcde"),
    )


def test_question_is_adjacent_max_entropy() -> None:
    w = _tiny_world()
    obs = {
        "user": 0,
        "accepted": np.array([1, 0, 0, 0, 0], np.int8),
        "asked": np.zeros(5, np.int8),
    }
    cand = np.array([0, 1, 2])
    # Counts over candidates: attr1 2/3, attr2 1/3, attr3 1/3 -> equal entropy 1/3 vs 2/3; the
    # tie goes to the smallest id. attr0 is accepted, attr4 held by no candidate.
    assert scpr_question(w, obs, cand, None) == 1
    # Weighting item 1 up makes attr2 (held by item 1 only) the most informative question.
    weights = np.array([0.01, 0.99, 0.01])
    assert scpr_question(w, obs, cand, weights) == 2
    # Asked questions leave; with every split-able question asked, none is worth asking.
    obs["asked"] = np.array([0, 1, 1, 1, 0], np.int8)
    assert scpr_question(w, obs, cand, None) == -1
    # The friend hop reaches attribute 4 (liked by friend 1, who also likes accepted attr 0),
    # but it splits no candidate, so it is not worth asking unless known answers are allowed.
    friend_mask = np.array([True, False, False, False, True])
    assert scpr_question(w, obs, cand, None, friend_mask) == -1
    assert scpr_question(w, obs, cand, None, friend_mask, skip_known=False) == 4


def test_friend_hop_mask(world: AttributeGraphWorld) -> None:
    w = _tiny_world()
    agent = SCPRAgent(w, SCPRConfig(friend_hop=True, fm=FM), seed=0)
    obs = {"user": 0, "accepted": np.array([1, 0, 0, 0, 0], np.int8)}
    np.testing.assert_array_equal(agent._friend_attributes(obs), [True, False, False, False, True])
    obs["accepted"] = np.array([0, 1, 0, 0, 0], np.int8)
    assert not agent._friend_attributes(obs).any()


def test_trained_scpr_beats_max_entropy(world: AttributeGraphWorld, trained: SCPRAgent) -> None:
    env = ConversationalRecEnv(world, split="test")
    ours, _ = evaluate(env, trained, "test", seed=0)
    assert trained.embeddings is not None
    rule, _ = evaluate(env, MaxEntropyAgent(world, scorer=FMScorer(trained.embeddings)), "test")
    plain, _ = evaluate(env, MaxEntropyAgent(world), "test")
    assert ours.sr15 > rule.sr15 + 0.1
    assert ours.sr15 > plain.sr15 + 0.1
    assert ours.avg_turns < rule.avg_turns
    # Model selection only ever read held-out valid sessions.
    assert [e for e, _ in trained.selection_history] == [120, 240]


def test_same_seed_same_weights_and_metrics(world: AttributeGraphWorld, trained: SCPRAgent) -> None:
    again = SCPRAgent(world, CFG, seed=0).learn()
    for k, v in trained.q_net.state_dict().items():
        torch.testing.assert_close(again.q_net.state_dict()[k], v, rtol=0, atol=0)
    env = ConversationalRecEnv(world, split="test")
    a, _ = evaluate(env, trained, "test", sessions=150, seed=1)
    b, _ = evaluate(env, again, "test", sessions=150, seed=1)
    assert a == b
    other = SCPRAgent(world, CFG, seed=1).learn(episodes=120)
    assert not torch.equal(
        other.q_net.state_dict()["body.0.weight"], trained.q_net.state_dict()["body.0.weight"]
    )


def test_checkpoint_round_trip_and_action_dist(
    world: AttributeGraphWorld, trained: SCPRAgent, tmp_path: Path
) -> None:
    path = tmp_path / "scpr.pt"
    trained.save(path)
    back = SCPRAgent.load(path, world)
    env = ConversationalRecEnv(world, split="test")
    for i in range(20):
        obs, _ = env.reset(seed=i, options={"split": "test", "index": i})
        done = False
        while not done:
            a, b = trained.predict(obs), back.predict(obs)
            assert a["kind"] == b["kind"] and a["question"] == b["question"]
            np.testing.assert_array_equal(a["items"], b["items"])
            p = back.action_dist(obs)
            assert p.shape == (world.n_questions + 1,)
            assert p.sum() == pytest.approx(1.0)
            assert (p[:-1][obs["asked"] == 1] == 0).all()
            assert (p[:-1][obs["accepted"] == 1] == 0).all()
            if a["kind"] == 0:
                assert p[a["question"]] == 1.0
            else:
                assert p[-1] == 1.0
            obs, _, term, trunc, _ = env.step(a)
            done = term or trunc
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        SCPRAgent.load(tmp_path / "none.pt", world)
    other = make_synthetic_world(SyntheticWorldConfig(n_users=60, n_items=200, n_attributes=10))
    with pytest.raises(DataError, match="was trained on a world with"):
        SCPRAgent.load(path, other)
    torch.save({"agent": "ear"}, tmp_path / "ear.pt")
    with pytest.raises(DataError, match=r"holds agent 'ear', expected one of \['scpr'\]"):
        SCPRAgent.load(tmp_path / "ear.pt", world)


def test_resume_is_exact(world: AttributeGraphWorld, tmp_path: Path) -> None:
    cfg = SCPRConfig(episodes=120, eval_every=60, eval_sessions=40, learning_starts=100, fm=FM)
    emb = train_fm(world, FM, seed=4)
    half = SCPRAgent(world, cfg, seed=4, embeddings=emb)
    fresh = SCPRAgent(world, cfg, seed=4, embeddings=emb).learn()
    half.learn(episodes=60, checkpoint_path=tmp_path / "ck.pt", checkpoint_every=60)
    resumed = SCPRAgent.load(tmp_path / "ck.pt", world).learn()
    for k, v in fresh.q_net.state_dict().items():
        torch.testing.assert_close(resumed.q_net.state_dict()[k], v, rtol=0, atol=0)
    assert resumed.selection_history == fresh.selection_history


def test_bad_settings_raise() -> None:
    with pytest.raises(ConfigError, match="`gamma` must be in"):
        SCPRConfig(gamma=1.5)
    with pytest.raises(ConfigError, match="`episodes` must be >= 1, got 0"):
        SCPRConfig(episodes=0)
    agent = SCPRAgent(_tiny_world(), SCPRConfig(fm=FM))
    obs = {
        "user": 0, "turn": 1, "candidates": np.ones(4, np.int8),
        "accepted": np.zeros(5, np.int8), "rejected": np.zeros(5, np.int8),
        "asked": np.zeros(5, np.int8),
    }
    with pytest.raises(ConfigError, match="no FM embeddings yet"):
        agent.predict(obs)


def test_consistent_candidates_drop_items_with_declined_attributes() -> None:
    from recoworld.agents.crs_base import consistent_candidates

    w = _tiny_world()
    csc = w.item_attributes.tocsc()
    cols = (csc.indptr, csc.indices)
    cand = np.array([0, 1, 2], dtype=np.int64)
    obs = {"rejected": np.array([0, 1, 0, 0, 0], np.int8)}
    # Items 0 and 2 hold the declined attribute 1.
    np.testing.assert_array_equal(consistent_candidates(cols, obs, cand), [1])
    obs = {"rejected": np.array([0, 1, 1, 0, 0], np.int8)}
    # Every candidate is ruled out: keep them all rather than recommend nothing.
    np.testing.assert_array_equal(consistent_candidates(cols, obs, cand), cand)
    obs = {"rejected": np.zeros(5, np.int8)}
    np.testing.assert_array_equal(consistent_candidates(cols, obs, cand), cand)
    # The target never holds a declined attribute, so pruning never drops it in a session.
    world = make_synthetic_world(
        SyntheticWorldConfig(n_users=60, n_items=200, n_attributes=10), seed=1
    )
    wc = world.item_attributes.tocsc()
    env = ConversationalRecEnv(world, split="test")
    rng = np.random.default_rng(0)
    for i in range(30):
        obs, info = env.reset(seed=i, options={"split": "test", "index": i})
        target = int(info["target"])
        for _ in range(6):
            obs, _, term, trunc, info = env.step(env.ask(int(rng.integers(world.n_attributes))))
            if term or trunc:
                break
            kept = consistent_candidates((wc.indptr, wc.indices), obs, env.candidate_items())
            assert target in kept


def test_lean_checkpoint_acts_the_same(
    world: AttributeGraphWorld, trained: SCPRAgent, tmp_path: Path
) -> None:
    trained.save(tmp_path / "full.pt")
    trained.save(tmp_path / "lean.pt", lean=True)
    assert (tmp_path / "lean.pt").stat().st_size < (tmp_path / "full.pt").stat().st_size / 2
    lean = SCPRAgent.load(tmp_path / "lean.pt", world)
    env = ConversationalRecEnv(world, split="test")
    a, _ = evaluate(env, trained, "test", sessions=60, seed=3)
    b, _ = evaluate(env, lean, "test", sessions=60, seed=3)
    assert a == b


def test_noise_aware_filter_exact_offsets_and_drops() -> None:
    from recoworld.agents.crs_base import candidate_view, declined_counts

    w = _tiny_world()
    csc = w.item_attributes.tocsc()
    cols = (csc.indptr, csc.indices)
    # Item 0 {0,1}, item 1 {0,2}, item 2 {0,1,3}, item 3 {4}; declined: 1 and 3.
    obs = {"user": 0, "candidates": np.array([1, 1, 1, 1], np.int8),
           "rejected": np.array([0, 1, 0, 1, 0], np.int8)}
    cand = np.arange(4, dtype=np.int64)
    np.testing.assert_array_equal(declined_counts(cols, obs, cand), [1, 0, 2, 0])
    view = dict(exclude_seen=False, prune_rejected=True, max_declined=2)
    hard, offset = candidate_view(w, cols, obs, answer_noise=0.0, **view)
    np.testing.assert_array_equal(hard, [1, 3])
    np.testing.assert_array_equal(offset, [0.0, 0.0])
    soft, offset = candidate_view(w, cols, obs, answer_noise=0.1, **view)
    np.testing.assert_array_equal(soft, [0, 1, 3])  # item 2 holds 2 declined: dropped
    np.testing.assert_allclose(offset, [np.log(0.1 / 0.9), 0.0, 0.0])
    keep_all, offset = candidate_view(w, cols, obs, answer_noise=0.2, **{**view, "max_declined": 3})
    np.testing.assert_array_equal(keep_all, cand)
    np.testing.assert_allclose(offset, np.array([1, 0, 2, 0]) * np.log(0.25))
    off, offset = candidate_view(w, cols, obs, answer_noise=0.0, **{**view, "prune_rejected": False})
    np.testing.assert_array_equal(off, cand)
    assert not offset.any()


def test_faithful_config_and_noise_settings() -> None:
    cfg = SCPRConfig.faithful(episodes=10)
    assert not cfg.skip_known_questions and not cfg.score_features and cfg.episodes == 10
    assert cfg.weighted_entropy and not cfg.friend_hop and not cfg.prune_rejected
    assert SCPRConfig().skip_known_questions and SCPRConfig().score_features
    with pytest.raises(ConfigError, match="set `prune_rejected` too"):
        SCPRConfig(answer_noise=0.1)
    with pytest.raises(ConfigError, match=r"`answer_noise` must be in \[0, 0.5\)"):
        SCPRConfig(prune_rejected=True, answer_noise=0.5)
    with pytest.raises(ConfigError, match="`max_declined` must be >= 1"):
        SCPRConfig(max_declined=0)
