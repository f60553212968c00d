"""UNICORN: the conversation graph against a dense GCN, pruned actions, replay, training, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recoworld.agents._conversation_graph import ConversationGraph
from recoworld.agents._prioritized_replay import PrioritizedReplay
from recoworld.agents.fm import FMConfig, FMEmbeddings, train_fm
from recoworld.agents.rules import MaxEntropyAgent
from recoworld.agents.unicorn import UNICORNAgent, UNICORNConfig
from recoworld.datasets.synthetic import SyntheticWorldConfig, make_synthetic_world
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.errors import ConfigError, DataError
from recoworld.evaluation import evaluate

FM = FMConfig(epochs=8, dim=16, lr=0.02)
CFG = UNICORNConfig(
    episodes=120, eval_every=60, eval_sessions=60, batch_size=32, buffer_size=3000,
    learning_starts=64, train_every=2, hidden=32, feedforward=64, lr=1e-3, fm=FM,
)


@pytest.fixture(scope="module")
def world() -> AttributeGraphWorld:
    cfg = SyntheticWorldConfig(n_users=120, n_items=400, n_attributes=16, n_clusters=4)
    return make_synthetic_world(cfg, seed=3)


@pytest.fixture(scope="module")
def trained(world: AttributeGraphWorld) -> UNICORNAgent:
    torch.set_num_threads(1)
    return UNICORNAgent(world, CFG, seed=0).learn()


def _tiny_world() -> AttributeGraphWorld:
    # items x attributes: item0 {0,1}, item1 {0,2}, item2 {0,1,3}, item3 {4}, item4 {0,3,4}
    ia = sp.csr_matrix(
        np.array(
            [[1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [1, 1, 0, 1, 0], [0, 0, 0, 0, 1], [1, 0, 0, 1, 1]],
            dtype=bool,
        )
    )
    ui = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 1, 1, 1, 0]], dtype=bool))
    return AttributeGraphWorld(
        name="tiny",
        item_attributes=ia,
        user_items=ui,
        user_items_train=ui,
        friends=sp.csr_matrix((2, 2), dtype=bool),
        user_attributes=sp.csr_matrix((2, 5), dtype=bool),
        sessions={"train": np.array([[0, 0]]), "valid": np.array([[1, 1]]), "test": [[1, 2]]},
        attribute_names=tuple("abcde"),
    )


def _embeddings(world: AttributeGraphWorld, dim: int = 4) -> FMEmbeddings:
    rng = np.random.default_rng(0)
    return FMEmbeddings(
        user=rng.normal(size=(world.n_users, dim)).astype(np.float32),
        item=rng.normal(size=(world.n_items, dim)).astype(np.float32),
        attribute=rng.normal(size=(world.n_attributes, dim)).astype(np.float32),
    )


def _obs(candidates: list[int], accepted: list[int], rejected: list[int], n_items: int = 5,
         n_attr: int = 5) -> dict[str, object]:
    def mask(ids: list[int], n: int) -> np.ndarray:
        m = np.zeros(n, np.int8)
        m[ids] = 1
        return m

    return {
        "user": 0,
        "turn": 1 + len(rejected) + len(accepted) - 1,
        "candidates": mask(candidates, n_items),
        "accepted": mask(accepted, n_attr),
        "rejected": mask(rejected, n_attr),
        "asked": mask(accepted[1:] + rejected, n_attr),
    }


def test_graph_rows_equal_a_dense_gcn_aggregation() -> None:
    w = _tiny_world()
    emb = _embeddings(w)
    graph = ConversationGraph(w, emb, item_actions=3, question_actions=3, rejected_penalty="dot")
    # Accepted 0, declined 3: candidates {0, 1, 2, 4}; attributes in the graph {0, 1, 2, 4}.
    obs = _obs([0, 1, 2, 4], accepted=[0], rejected=[3])
    view = graph.build(obs)
    cand = [0, 1, 2, 4]
    ia = w.item_attributes.toarray()
    q = emb.user[0] + emb.attribute[0]
    s = np.array([emb.item[v] @ q - (ia[v, 3] * emb.item[v] @ emb.attribute[3]) for v in cand])
    np.testing.assert_allclose(view.scores, s, rtol=1e-5)
    wv = 1.0 / (1.0 + np.exp(-s))
    attrs = [0, 1, 2, 4]
    # Dense graph: node 0 = user, then candidates, then the attributes in the graph.
    n = 1 + len(cand) + len(attrs)
    a = np.zeros((n, n))
    for i, v in enumerate(cand):
        a[0, 1 + i] = a[1 + i, 0] = wv[i]
        for j, p in enumerate(attrs):
            if ia[v, p]:
                a[1 + i, 1 + len(cand) + j] = a[1 + len(cand) + j, 1 + i] = 1.0
    a += np.eye(n)
    d = a.sum(1)
    a_hat = a / np.sqrt(np.outer(d, d))
    h = np.vstack([emb.user[[0]], emb.item[cand], emb.attribute[attrs]])
    rows = a_hat @ h
    np.testing.assert_allclose(view.user_row, rows[0], rtol=1e-5, atol=1e-6)
    # The accepted attribute's row from the stored neighbour sum and candidate count.
    nc = 1 + view.n_candidates
    acc_row = emb.attribute[0] / nc + view.neighbour_sum / np.sqrt(nc)
    np.testing.assert_allclose(acc_row, rows[1 + len(cand) + attrs.index(0)], rtol=1e-5, atol=1e-6)
    # Item actions: the three best w_v, their rows; questions: the reachable attributes 1, 2, 4.
    assert view.item_actions.tolist() == [cand[i] for i in np.argsort(-s, kind="stable")[:3]]
    for k, v in enumerate(view.item_actions.tolist()):
        np.testing.assert_allclose(
            view.action_rows[k], rows[1 + cand.index(v)], rtol=1e-5, atol=1e-6
        )
    assert sorted(view.question_actions.tolist()) == [1, 2, 4]
    for k, p in enumerate(view.question_actions.tolist()):
        np.testing.assert_allclose(
            view.action_rows[3 + k], rows[1 + len(cand) + attrs.index(p)], rtol=1e-5, atol=1e-6
        )


def test_questions_ranked_by_weighted_entropy() -> None:
    w = _tiny_world()
    emb = _embeddings(w)
    obs = _obs([0, 1, 2, 4], accepted=[0], rejected=[])
    view = ConversationGraph(w, emb, question_actions=2).build(obs)
    s = view.scores
    wv = 1.0 / (1.0 + np.exp(-s))
    ia = w.item_attributes.toarray()[[0, 1, 2, 4]]
    p = (wv @ ia) / wv.sum()
    h = -(p * np.log2(np.clip(p, 1e-12, 1)) + (1 - p) * np.log2(np.clip(1 - p, 1e-12, 1)))
    h[0] = -np.inf  # accepted
    best = np.argsort(-h, kind="stable")[:2]
    assert view.question_actions.tolist() == best.tolist()
    np.testing.assert_allclose(view.question_entropy, h[best])
    # The declined-attribute term moves items holding it down the ranking.
    obs = _obs([0, 1, 2, 4], accepted=[0], rejected=[3])
    plain = ConversationGraph(w, emb, rejected_penalty="none").build(obs)
    dot = ConversationGraph(w, emb, rejected_penalty="dot").build(obs)
    sig = ConversationGraph(w, emb).build(obs)
    holds = np.array([False, False, True, True])  # items 2 and 4 hold attribute 3
    dots = np.array([emb.item[v] @ emb.attribute[3] for v in [2, 4]])
    np.testing.assert_allclose(plain.scores[holds] - dot.scores[holds], dots, rtol=1e-5)
    np.testing.assert_allclose(
        plain.scores[holds] - sig.scores[holds], 1 / (1 + np.exp(-dots)), rtol=1e-5
    )
    np.testing.assert_allclose(plain.scores[~holds], dot.scores[~holds])
    np.testing.assert_allclose(plain.scores[~holds], sig.scores[~holds])


def test_prioritized_replay_samples_by_priority_and_chains_states() -> None:
    rb = PrioritizedReplay(8, {"x": ((2,), np.float32)}, alpha=1.0, beta=1.0, beta_increment=0.0)
    for t in range(3):  # one episode of three steps: states 0, 1, 2, 3
        nxt = None if t == 2 else {"x": np.full(2, t + 1, np.float32)}
        rb.add({"x": np.full(2, t, np.float32)}, t, float(t), nxt)
    assert len(rb) == 3
    np.testing.assert_array_equal(rb.states["x"][rb.next_slot(np.array([0, 1]))][:, 0], [1, 2])
    assert rb.done.tolist()[:3] == [False, False, True]
    rb.update(np.array([0, 1, 2]), np.array([0.99, 2.99, 5.99]))  # priorities 1, 3, 6 (eps .01)
    rng = np.random.default_rng(0)
    counts = np.zeros(8)
    for _ in range(2000):
        idx, weights = rb.sample(10, rng)
        np.add.at(counts, idx, 1)
        assert weights.max() == pytest.approx(1.0)
    assert counts[3:].sum() == 0
    np.testing.assert_allclose(counts[:3] / counts.sum(), [0.1, 0.3, 0.6], atol=0.01)
    # Importance weights undo the sampling bias: (N P(i))^-1 / max.
    idx, weights = rb.sample(3, np.random.default_rng(1))
    expected = (3 * np.array([0.1, 0.3, 0.6])[idx]) ** -1.0
    np.testing.assert_allclose(weights, expected / expected.max(), rtol=1e-6)


def test_trained_unicorn_beats_max_entropy_and_its_untrained_self(
    world: AttributeGraphWorld, trained: UNICORNAgent
) -> None:
    env = ConversationalRecEnv(world, split="test")
    ours, _ = evaluate(env, trained, "test", seed=0)
    plain, _ = evaluate(env, MaxEntropyAgent(world), "test")
    untrained = UNICORNAgent(world, CFG, seed=0, embeddings=trained.embeddings)
    before, _ = evaluate(env, untrained, "test", seed=0)
    assert ours.sr15 > plain.sr15 + 0.1
    assert ours.avg_turns < plain.avg_turns
    # The learned Q-values, not only the pruning, matter: they recommend sooner, with success.
    assert ours.sr5 > before.sr5 + 0.2
    assert ours.avg_turns < before.avg_turns - 1.0
    assert ours.hdcg > before.hdcg
    assert [e for e, _ in trained.selection_history] == [60, 120]
    assert trained.grad_steps > 0


def test_checkpoint_round_trip_and_action_dist(
    world: AttributeGraphWorld, trained: UNICORNAgent, tmp_path: Path
) -> None:
    path = tmp_path / "unicorn.pt"
    trained.save(path, replay=False)
    back = UNICORNAgent.load(path, world)
    env = ConversationalRecEnv(world, split="test")
    for i in range(15):
        obs, _ = env.reset(seed=i, options={"split": "test", "index": i})
        done = False
        while not done:
            a, b = trained.predict(obs), back.predict(obs)
            assert a["kind"] == b["kind"] and a["question"] == b["question"]
            np.testing.assert_array_equal(a["items"], b["items"])
            p = back.action_dist(obs)
            assert p.shape == (world.n_questions + 1,) and p.sum() == pytest.approx(1.0)
            assert (p[:-1][obs["asked"] == 1] == 0).all()
            assert p[a["question"]] == 1.0 if a["kind"] == 0 else p[-1] == 1.0
            obs, _, term, trunc, _ = env.step(a)
            done = term or trunc
    other = make_synthetic_world(SyntheticWorldConfig(n_users=60, n_items=200, n_attributes=10))
    with pytest.raises(DataError, match="was trained on a world with"):
        UNICORNAgent.load(path, other)


def test_resume_is_exact(world: AttributeGraphWorld, tmp_path: Path) -> None:
    cfg = UNICORNConfig(
        episodes=60, eval_every=30, eval_sessions=20, batch_size=16, buffer_size=400,
        learning_starts=32, hidden=16, heads=2, feedforward=32, fm=FM,
    )
    emb = train_fm(world, FM, seed=4)
    fresh = UNICORNAgent(world, cfg, seed=4, embeddings=emb).learn()
    half = UNICORNAgent(world, cfg, seed=4, embeddings=emb)
    half.learn(episodes=30, checkpoint_path=tmp_path / "ck.pt", checkpoint_every=30)
    resumed = UNICORNAgent.load(tmp_path / "ck.pt", world).learn()
    for k, v in fresh.q_net.state_dict().items():
        torch.testing.assert_close(resumed.q_net.state_dict()[k], v, rtol=0, atol=0)
    assert resumed.selection_history == fresh.selection_history
    assert resumed.grad_steps == fresh.grad_steps
    other = UNICORNAgent(world, cfg, seed=5, embeddings=emb).learn(episodes=30)
    assert not torch.equal(other.q_net.gcn.weight, fresh.q_net.gcn.weight)


def test_bad_settings_raise() -> None:
    with pytest.raises(ConfigError, match="`gamma` must be in"):
        UNICORNConfig(gamma=1.5)
    with pytest.raises(ConfigError, match="`hidden` must be a multiple of `heads`"):
        UNICORNConfig(hidden=30, heads=4)
    with pytest.raises(ConfigError, match="`item_actions` \\(5\\) must be >= `rec_size` \\(10\\)"):
        UNICORNConfig(item_actions=5)
    with pytest.raises(ConfigError, match="`rec_order` must be 'q' or 'score'"):
        UNICORNConfig(rec_order="rank")  # type: ignore[arg-type]
    agent = UNICORNAgent(_tiny_world(), UNICORNConfig(fm=FM))
    with pytest.raises(ConfigError, match="no embeddings yet"):
        agent.predict(_obs([0, 1], accepted=[0], rejected=[]))


def test_train_command_then_evaluate_reproduces_the_library_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from recoworld.cli import main
    from recoworld.datasets.registry import load_world

    settings = {
        "episodes": 30, "eval_every": 15, "eval_sessions": 20, "batch_size": 16,
        "buffer_size": 500, "learning_starts": 32, "hidden": 16, "heads": 2, "feedforward": 32,
        "fm": {"epochs": 2, "dim": 16},
    }
    cfg = tmp_path / "unicorn.json"
    cfg.write_text(json.dumps(settings))
    out = tmp_path / "run"
    env_id = "recoworld/Synthetic-CRS-v0"
    argv = ["train", "--env", env_id, "--agent", "unicorn", "--seed", "2", "--out", str(out),
            "--config", str(cfg), "--quiet", "--json"]
    assert main([*argv, "--checkpoint-every", "10"]) == 0  # a checkpoint mid-way, then at 30
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [e for e, _ in trained["selection_history"]] == [15, 30]
    assert main(argv) == 0  # the finished run resumes from its checkpoint and trains no more
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["selection_history"] == trained["selection_history"]
    assert main(["evaluate", "--env", env_id, "--agent", "unicorn", "--checkpoint", str(out),
                 "--sessions", "60", "--seed", "2", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # The same seed and settings through the library give the same agent and the same row.
    world = load_world("synthetic")
    from recoworld.agents.registry import read_agent_config

    agent = UNICORNAgent(world, read_agent_config("unicorn", str(cfg), {}), seed=2).learn()
    env = ConversationalRecEnv(world, split="test")
    lib, _ = evaluate(env, agent, "test", sessions=60, seed=2)
    assert {k: cli[k] for k in ("sr@5", "sr@10", "sr@15", "avg_turns", "hdcg", "sessions")} == {
        k: v for k, v in lib.to_json().items()
        if k in ("sr@5", "sr@10", "sr@15", "avg_turns", "hdcg", "sessions")
    }
