"""Feed environments: spaces, check_env (Gymnasium and SB3), determinism, vector equals single."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from feed_helpers import tiny_feed_world, write_kuairec_fixture
from gymnasium.utils.env_checker import check_env

import recoworld  # noqa: F401  (registers the ids)
from recoworld.envs import (
    FeedEnv,
    FeedSettings,
    FeedVectorEnv,
    RetrieverConfig,
    RewardWeights,
    SlateFeedEnv,
)
from recoworld.errors import ConfigError, DatasetNotFoundError, InvalidActionError
from recoworld.registration import FEED_IDS, all_ids, is_feed
from recoworld.users.feed import FeedUserParams
from recoworld.users.feed.leave import LeaveParams

FEED_WITH_DATA = ["recoworld/ShortVideo-v0", "recoworld/KuaiRand-Feed-v0",
                  "recoworld/ShortVideo-Slate-v0"]


@pytest.fixture(scope="module")
def kuairec_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("kuairec") / "small_matrix.csv"
    write_kuairec_fixture(path)
    return path


def _make(env_id, kuairec_csv):
    kwargs = {"kuairec_path": str(kuairec_csv)} if "KuaiRec" in env_id else {}
    return gym.make(env_id, **kwargs)


def test_feed_ids_registered():
    assert set(FEED_IDS) <= set(all_ids())
    assert all(is_feed(i) for i in FEED_IDS)
    assert not is_feed("recoworld/LastFM-CRS-v0")


@pytest.mark.parametrize("env_id", sorted(FEED_IDS))
def test_gymnasium_check_env(env_id, kuairec_csv):
    env = _make(env_id, kuairec_csv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either (bounded boxes, fixed dtypes)
        check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", sorted(FEED_IDS))
def test_sb3_check_env(env_id, kuairec_csv):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = _make(env_id, kuairec_csv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(env.unwrapped, warn=True)
    # The only advice SB3 gives: 2-D boxes (K x F candidates, H x G history) need a custom policy,
    # which recoworld.agents.feed_sb3.CandidateScoringPolicy is.
    other = [str(w.message) for w in caught if "unconventional shape" not in str(w.message)]
    assert other == []
    shaped = {str(w.message).split()[2] for w in caught if "unconventional shape" in str(w.message)}
    assert shaped <= {"candidates", "history"}


def _rollout(env, seed, steps=300, action_seed=0):
    rng = np.random.default_rng(action_seed)
    obs, _ = env.reset(seed=seed)
    trace = []
    for _ in range(steps):
        a = env.action_space.sample() if isinstance(env.unwrapped, SlateFeedEnv) else int(
            rng.integers(0, env.unwrapped.pool_size))
        obs, r, term, trunc, info = env.step(a)
        trace.append((r, term, trunc, obs["candidates"].tobytes(), obs["history"].tobytes()))
        if term or trunc:
            obs, _ = env.reset()
    return trace


@pytest.mark.parametrize("env_id", sorted(FEED_IDS))
def test_same_seed_same_trajectory(env_id, kuairec_csv):
    a, b = _make(env_id, kuairec_csv), _make(env_id, kuairec_csv)
    a.action_space.seed(1)
    b.action_space.seed(1)
    assert _rollout(a, 3) == _rollout(b, 3)
    c = _make(env_id, kuairec_csv)
    c.action_space.seed(1)
    assert _rollout(c, 4) != _rollout(a, 3)


def test_observation_layout_and_space():
    env = gym.make("recoworld/ShortVideo-v0")
    obs, info = env.reset(seed=0)
    space = env.observation_space
    assert space.contains(obs)
    k = env.unwrapped.pool_size
    assert obs["candidates"].shape == (k, 5 + 16) and obs["candidates"].dtype == np.float32
    assert obs["history"][:, 0].sum() == 0  # empty history at the start
    np.testing.assert_array_equal(obs["candidate_ids"], info["candidate_ids"])
    obs, _, _, _, info = env.step(0)
    assert obs["history"][-1, 0] == 1.0
    assert obs["history"][-1, 1] == pytest.approx(info["watch_ratio"])
    assert info["depth"] == 1 and info["action_mask"].tolist() == [1] * k


def test_vector_env_equals_single_envs():
    n, seed, steps = 6, 11, 150
    vec = gym.make_vec("recoworld/ShortVideo-v0", num_envs=n, vectorization_mode="vector_entry_point")
    assert isinstance(vec.unwrapped, FeedVectorEnv)
    singles = [gym.make("recoworld/ShortVideo-v0") for _ in range(n)]
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 16, size=(steps, n))
    vobs, _ = vec.reset(seed=seed)
    sobs = [e.reset(seed=seed + i)[0] for i, e in enumerate(singles)]
    pending_reset = np.zeros(n, dtype=bool)
    episodes_ended = 0
    for t in range(steps):
        for i in range(n):
            np.testing.assert_array_equal(vobs["candidates"][i], sobs[i]["candidates"])
            np.testing.assert_array_equal(vobs["history"][i], sobs[i]["history"])
            np.testing.assert_array_equal(vobs["user"][i], sobs[i]["user"])
        vobs, vr, vterm, vtrunc, _ = vec.step(actions[t])
        for i, env in enumerate(singles):
            if pending_reset[i]:  # NEXT_STEP autoreset: the vector env resets this slot now
                sobs[i], _ = env.reset()
                assert vr[i] == 0.0
                continue
            sobs[i], r, term, trunc, _ = env.step(int(actions[t, i]))
            assert vr[i] == pytest.approx(r, abs=0)
            assert (vterm[i], vtrunc[i]) == (term, trunc)
        pending_reset = vterm | vtrunc
        episodes_ended += int(pending_reset.sum())
    assert episodes_ended >= n  # the comparison crossed episode boundaries


def test_truncation_at_horizon_and_termination_on_leave():
    patient = FeedUserParams(leave=LeaveParams(step_cost=1e-4, poor_penalty=0.0))
    env = gym.make("recoworld/ShortVideo-v0", user_params=patient)
    env.reset(seed=0)
    for t in range(200):
        _, _, term, trunc, _ = env.step(0)
        assert not term
        assert trunc == (t == 199)
    env = gym.make("recoworld/ShortVideo-v0")
    env.reset(seed=0)
    for _ in range(200):
        _, _, term, trunc, info = env.step(0)
        if term:
            assert info["left"] and info["return_days"] >= 1
            break
    assert term


def test_multi_session_episode_continues_after_a_return():
    env = FeedEnv(FeedSettings(sessions=5, return_window_days=366))  # every user "returns"
    env.reset(seed=2)
    sessions_seen = set()
    for _ in range(2000):
        _, _, term, _, info = env.step(0)
        sessions_seen.add(int(info["session_index"]))
        if info["left"]:
            assert info["returned"]
        if term:
            break
    assert term and sessions_seen == {0, 1, 2, 3, 4}


def test_reward_presets_and_weights():
    env = FeedEnv(FeedSettings(reward="watch_ratio"))
    env.reset(seed=0)
    _, r, _, _, info = env.step(0)
    assert r == pytest.approx(float(info["watch_ratio"]))
    env = FeedEnv(FeedSettings(reward=RewardWeights(watch_time=0.0, like=2.0)))
    env.reset(seed=0)
    _, r, _, _, info = env.step(0)
    assert r == pytest.approx(2.0 * float(info["like"]))
    with pytest.raises(ConfigError, match=r"`reward` must be one of .* got 'clicks'"):
        FeedSettings(reward="clicks")


def test_invalid_actions_raise_clear_errors():
    env = FeedEnv()
    with pytest.raises(InvalidActionError, match="before reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"`action` must be in \[0, 16\), got 16"):
        env.step(16)
    with pytest.raises(InvalidActionError, match=r"`action` must be an integer"):
        env.step(np.array([1, 2]))
    vec = FeedVectorEnv(num_envs=2)
    vec.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"`actions` must lie in \[0, 16\), got \[-1\]"):
        vec.step(np.array([0, -1]))


def test_kuairand_feed_needs_data(monkeypatch, tmp_path):
    monkeypatch.delenv("RECOWORLD_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError, match=r"pass data_dir=\.\.\. or set \$RECOWORLD_DATA"):
        FeedEnv(FeedSettings(source="kuairand"))
    with pytest.raises(DatasetNotFoundError, match=r"not found in .*kuairand_pure"):
        FeedEnv(FeedSettings(source="kuairand", data_dir=str(tmp_path)))


def test_kuairec_replay_needs_a_path(monkeypatch):
    monkeypatch.delenv("RECOWORLD_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError, match="pass kuairec_path"):
        gym.make("recoworld/KuaiRec-Replay-v0")


def test_kuairec_replay_answers_with_recorded_ratios(kuairec_csv):
    env = gym.make("recoworld/KuaiRec-Replay-v0", kuairec_path=str(kuairec_csv))
    env.reset(seed=0)
    world = env.unwrapped.world
    recorded = world.recorded_watch_ratio
    for _ in range(30):
        user = int(env.unwrapped.sim.user[0])
        _, _, term, trunc, info = env.step(1)
        if info["recorded"]:
            assert info["watch_ratio"] == pytest.approx(recorded[user, info["item"]])
        else:
            assert np.isnan(recorded[user, info["item"]])
        if term or trunc:
            env.reset()


def test_slate_env_shows_in_order_and_once():
    env = SlateFeedEnv(slate_size=4)
    obs, _ = env.reset(seed=0)
    ids = obs["candidate_ids"]
    _, r, term, _, info = env.step(np.array([3, 3, 1, 0]))
    assert info["shown"].tolist()[:2] == [True, False]
    shown = info["item"][info["shown"]]
    expected = [ids[3], ids[1], ids[0]][: len(shown)]
    assert shown.tolist() == [int(x) for x in expected]
    assert r == pytest.approx(float(info["watch_time"][info["shown"]].sum()) / 60.0, rel=1e-5)
    with pytest.raises(InvalidActionError, match="must be 4 candidate indices"):
        env.step(np.array([0, 1]))


def test_custom_world_and_retriever():
    world = tiny_feed_world()
    env = FeedEnv(FeedSettings(
        world=world, retriever=RetrieverConfig(per_segment=(2,), n_popular=1, n_fresh=1)))
    obs, _ = env.reset(seed=0)
    assert obs["candidates"].shape[0] == 4 and env.action_space.n == 4
    assert set(obs["candidate_ids"].tolist()) <= set(range(world.catalogue.n_items))
    with pytest.raises(ConfigError, match=r"RetrieverConfig counts must be >= 0"):
        RetrieverConfig(per_segment=(-1,))


def test_compiled_observation_matches_numpy():
    env = FeedVectorEnv(num_envs=7)
    obs, _ = env.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(12):
        obs, *_ = env.step(rng.integers(0, 16, 7))
    sim = env.sim
    cands, users = sim.candidates, sim.user
    np.testing.assert_array_equal(obs["candidate_ids"], cands)
    # Retrieval pools: the numpy formula equals the compiled fill.
    np.testing.assert_array_equal(sim.retriever.candidates(np.arange(7), sim.step_count), cands)
    score = np.einsum("nd,nkd->nk", sim._profile[users], sim._embedding[cands])
    np.testing.assert_allclose(obs["candidates"][:, :, 0], score, rtol=1e-5, atol=1e-6)
    h = sim.hist_items
    h_cat = np.where(h >= 0, sim._category[h], -1)
    share = (sim._category[cands][:, :, None] == h_cat[:, None, :]).mean(axis=2)
    np.testing.assert_allclose(obs["candidates"][:, :, 1], share)
    np.testing.assert_array_equal(obs["candidates"][:, :, 2:], sim._item_table[cands])
    valid = h >= 0
    np.testing.assert_array_equal(obs["history"][:, :, 0], valid)
    np.testing.assert_array_equal(obs["history"][:, :, 1:4], sim.hist_feedback)
    np.testing.assert_array_equal(obs["history"][:, :, 4:], sim._item_table[h] * valid[:, :, None])
    depth = sim.session_depth
    np.testing.assert_allclose(obs["user"][:, -4], depth / 50.0)
    np.testing.assert_allclose(obs["user"][:, -1], np.minimum(sim.last_ratio, 10.0))
    np.testing.assert_array_equal(obs["user"][:, :-4], sim._user_static[users])


class _ScriptedUser:
    """A fake user model: watches every video to ratio 0.5, leaves after 3 videos, back in 2 days."""

    n_uniforms = 1

    def bind(self, world, n_slots):
        self.duration = world.catalogue.duration_s
        self.seen = np.zeros(n_slots, dtype=np.int64)
        self.sessions_started = 0

    def reset(self, slots, users):
        self.seen[slots] = 0

    def start_session(self, slots, days_away):
        self.seen[slots] = 0
        self.sessions_started += 1
        assert np.all(days_away == 2)

    def respond(self, slots, items, u):
        from recoworld.users.feed import FeedResponse

        self.seen[slots] += 1
        n = len(items)
        leave = self.seen[slots] >= 3
        return FeedResponse(
            watch_ratio=np.full(n, 0.5, np.float32),
            watch_time=(0.5 * self.duration[items]).astype(np.float32),
            like=np.zeros(n, bool),
            skip=np.zeros(n, bool),
            leave=leave,
            return_days=np.where(leave, 2, 0).astype(np.int64),
            info={"uniform": u[:, 0].copy()},
        )

    def expected(self, slots, candidates):
        raise NotImplementedError


def test_pluggable_user_model_drives_the_env_exactly():
    user = _ScriptedUser()
    env = FeedEnv(FeedSettings(sessions=2), user_model=user)
    obs, _ = env.reset(seed=0)
    steps = []
    while True:
        ids = obs["candidate_ids"]
        obs, r, term, trunc, info = env.step(0)
        steps.append((info["depth"], info["session_index"], info["left"], term))
        assert info["item"] == ids[0]
        assert r == pytest.approx(0.5 * float(env.world.catalogue.duration_s[ids[0]]) / 60.0)
        assert 0.0 <= info["uniform"] < 1.0  # the model's own info is merged into the step info
        if term:
            break
    assert steps == [(1, 0, False, False), (2, 0, False, False), (3, 0, True, False),
                     (1, 1, False, False), (2, 1, False, False), (3, 1, True, True)]
    assert user.sessions_started == 1


def test_sb3_dqn_runs_on_the_raw_observation():
    from stable_baselines3 import DQN

    env = gym.make("recoworld/ShortVideo-v0")
    model = DQN("MultiInputPolicy", env, learning_starts=16, buffer_size=200, batch_size=8,
                train_freq=4, seed=0, device="cpu")
    model.learn(64)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert 0 <= int(action) < 16


def test_slate_size_is_validated():
    with pytest.raises(ConfigError, match=r"`slate_size` must be in \[1, 16\], got 17"):
        SlateFeedEnv(slate_size=17)


def test_observations_stay_inside_the_declared_space_over_long_rollouts():
    env = FeedVectorEnv(num_envs=64, max_episode_steps=200)
    space = env.single_observation_space
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(150):
        obs, *_ = env.step(rng.integers(0, 16, 64))
        for i in range(0, 64, 7):
            assert space.contains({k: v[i] for k, v in obs.items()})


def test_make_takes_the_settings_keywords_and_rejects_unknown_ones():
    env = gym.make("recoworld/ShortVideo-v0", sessions=2, history_length=3)
    assert env.unwrapped.settings == FeedSettings(sessions=2, history_length=3)
    slate = gym.make("recoworld/ShortVideo-Slate-v0", slate_size=3, reward="likes")
    assert slate.unwrapped.slate_size == 3 and slate.unwrapped.settings.reward == "likes"
    vec = gym.make_vec("recoworld/ShortVideo-v0", num_envs=2, vectorization_mode="vector_entry_point",
                       sessions=4)
    assert vec.settings == FeedSettings(sessions=4) and vec.max_episode_steps == 200
    with pytest.raises(ConfigError, match=r"unknown feed environment keyword 'sesions'; "
                                          r"did you mean 'sessions'\?"):
        gym.make("recoworld/ShortVideo-v0", sesions=2)
    with pytest.raises(TypeError):  # as Python's own: SB3's make_vec_env probes render_mode so
        gym.make("recoworld/ShortVideo-v0", render_mode="rgb_array")
    with pytest.raises(ConfigError, match=r"`history_length` must be >= 1, got 0"):
        FeedSettings(history_length=0)
    with pytest.raises(ConfigError, match=r"`source` must be one of .* got 'kuairandom'"):
        FeedSettings(source="kuairandom")
