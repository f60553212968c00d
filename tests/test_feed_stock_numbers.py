"""The stock statistical feed user's numbers, pinned for fixed seeds.

Recorded from the code before the feed user took pluggable parts (commit 8d70906): the fused
kernel must keep producing these trajectories whatever the refactoring around it. Counts are
exact; summed floats carry a tolerance of a few float32 ulps. The KuaiRec replay numbers were
re-recorded on 2026-12-05: on a fresh install (numpy 2.4.6) the old ones no longer reproduced, and
the replay world read the signs of its SVD components, which LAPACK builds may choose differently;
the world now fixes those signs (tests/test_feed_datasets.py checks it does not depend on them).
"""

from __future__ import annotations

import hashlib

import gymnasium as gym
import numpy as np
import pytest
from feed_helpers import write_kuairec_fixture

import recoworld  # noqa: F401  (registers the ids)
from recoworld.agents import make_feed_agent
from recoworld.evaluation import evaluate_feed, make_feed_vector_env
from recoworld.users.feed import FeedUserParams
from recoworld.users.feed.duration_bias import DurationBiasParams
from recoworld.users.feed.transition import TransitionParams


def _single(env, episodes, seed, action_seed=0):
    """Episode lengths, likes, skips, return days at each end, summed watch time and reward."""
    rng = np.random.default_rng(action_seed)
    lengths, likes, skips, days = [], 0, 0, []
    watch = reward = 0.0
    env.reset(seed=seed)
    for _ in range(episodes):
        n = 0
        while True:
            shape = env.action_space.shape  # () for one video, (slate_size,) for a slate
            action = rng.integers(0, env.unwrapped.pool_size, size=shape or None)
            _, r, term, trunc, info = env.step(action)
            n += 1
            reward += float(r)
            watch += float(np.sum(info["watch_time"]))
            likes += int(np.sum(info["like"]))
            skips += int(np.sum(info["skip"]))
            if term or trunc:
                days.append(int(info["return_days"]))
                env.reset()
                break
        lengths.append(n)
    return {"lengths": lengths, "likes": likes, "skips": skips, "days": days,
            "watch": watch, "reward": reward}


def _vector(env, steps, seed):
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    ends = likes = 0
    watch = 0.0
    days = []
    for _ in range(steps):
        _, _, term, trunc, info = env.step(rng.integers(0, env.pool_size, env.num_envs))
        ends += int(np.sum(term | trunc))
        likes += int(np.sum(info["like"]))
        watch += float(np.sum(info["watch_time"], dtype=np.float64))
        days.extend(info["return_days"][info["left"]].tolist())
    return {"ends": ends, "likes": likes, "days": sum(days), "watch": watch}


def _check(got, want):
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-5), key
        else:
            assert got[key] == value, key


def test_single_env_default_user():
    got = _single(gym.make("recoworld/ShortVideo-v0"), 6, seed=0)
    _check(got, {"lengths": [10, 10, 19, 51, 13, 24], "likes": 7, "skips": 11,
                 "days": [5, 8, 9, 5, 2, 2], "watch": 8210.814440011978,
                 "reward": 136.84690753556788})


def test_multi_session_retention_reward():
    env = gym.make("recoworld/ShortVideo-v0", sessions=3, reward="retention")
    _check(_single(env, 4, seed=5), {
        "lengths": [31, 46, 66, 78], "likes": 18, "skips": 18, "days": [8, 2, 1, 2],
        "watch": 13402.738681435585, "reward": 273.37897787615657})


def test_user_params_switch_parts_off():
    off = FeedUserParams(duration_bias=DurationBiasParams(enabled=False),
                         transition=TransitionParams(drift_enabled=False))
    env = gym.make("recoworld/ShortVideo-v0", user_params=off)
    _check(_single(env, 4, seed=2), {
        "lengths": [23, 22, 28, 11], "likes": 8, "skips": 2, "days": [1, 7, 2, 1],
        "watch": 9323.459702968597, "reward": 155.39099490456283})


def test_slate_env():
    _check(_single(gym.make("recoworld/ShortVideo-Slate-v0"), 3, seed=1), {
        "lengths": [3, 3, 5], "likes": 3, "skips": 2, "days": [3, 2, 2],
        "watch": 3477.867233276367, "reward": 57.96445380151272})


def test_replay_user(tmp_path):
    write_kuairec_fixture(tmp_path / "small_matrix.csv")
    env = gym.make("recoworld/KuaiRec-Replay-v0", kuairec_path=str(tmp_path / "small_matrix.csv"))
    _check(_single(env, 4, seed=3), {
        "lengths": [23, 20, 15, 11], "likes": 2, "skips": 2, "days": [2, 1, 2, 2],
        "watch": 12289.81084394455, "reward": 204.83018052577972})


def test_vector_env():
    env = make_feed_vector_env("recoworld/ShortVideo-v0", 32)
    _check(_vector(env, 80, seed=4),
           {"ends": 114, "likes": 195, "days": 502, "watch": 201421.62095797062})


def test_oracle_metrics():
    """The oracle reads the users' expected outcomes: pins the numpy logit path too."""
    vec = make_feed_vector_env("recoworld/ShortVideo-v0", 16)
    m = evaluate_feed(vec, make_feed_agent("oracle", vec), episodes=48, seed=6)
    assert (m.episodes, m.sessions, m.coverage) == (48, 48, 0.151)
    assert m.watch_time == pytest.approx(4201.161851922671, rel=1e-5)
    assert m.depth == pytest.approx(21.291666666666668, rel=1e-9)
    assert m.like_rate == pytest.approx(0.06555772994129158, rel=1e-9)
    assert m.return_days == pytest.approx(2.7708333333333335, rel=1e-9)


def _digest_feed(h, mapping):
    for key, value in mapping.items():
        a = np.asarray(value)
        h.update(key.encode() + a.dtype.str.encode() + str(a.shape).encode() + a.tobytes())


def _single_digest(env_id, seed, steps, **keywords):
    """SHA-256 of every observation, info entry (value, dtype, type), reward and end flag."""
    return _env_digest(gym.make(env_id, **keywords), seed, steps)


def _env_digest(env, seed, steps):
    rng = np.random.default_rng(seed)
    h = hashlib.sha256()
    for part in env.reset(seed=seed):
        _digest_feed(h, part)
    ends = 0
    for _ in range(steps):
        shape = env.action_space.shape
        obs, r, term, trunc, info = env.step(rng.integers(0, env.unwrapped.pool_size, size=shape or None))
        _digest_feed(h, obs)
        _digest_feed(h, info)
        h.update(repr((type(r).__name__, float(r).hex(), term, trunc)).encode())
        h.update(repr(sorted((k, type(v).__name__) for k, v in info.items())).encode())
        if term or trunc:
            ends += 1
            for part in env.reset():
                _digest_feed(h, part)
    return h.hexdigest()[:16], ends


def _vector_digest(seed, n, steps, **keywords):
    env = make_feed_vector_env("recoworld/ShortVideo-v0", n, **keywords)
    rng = np.random.default_rng(seed)
    h = hashlib.sha256()
    for part in env.reset(seed=seed):
        _digest_feed(h, part)
    ends = 0
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(rng.integers(0, env.pool_size, n))
        _digest_feed(h, obs)
        _digest_feed(h, info)
        _digest_feed(h, {"reward": r, "terminated": term, "truncated": trunc})
        h.update(repr(list(info)).encode())
        ends += int((term | trunc).sum())
    return h.hexdigest()[:16], ends


def test_exact_trajectories_bit_for_bit():
    """Every bit of short trajectories: observations, rewards, ends, info values, dtypes, keys.

    Recorded from commit 808df36 (before the fused step kernel) and unchanged since: a speed-up
    must not move a single float. Covers resets, multi-session restarts, the slate path and the
    vector env's autoreset and truncation.
    """
    multi = {"sessions": 3, "return_window_days": 366}
    assert _single_digest("recoworld/ShortVideo-v0", 3, 80) == ("fc25898540370418", 4)
    assert _single_digest("recoworld/ShortVideo-v0", 5, 80, **multi) == ("438a351d6ba0c25c", 1)
    assert _single_digest("recoworld/ShortVideo-Slate-v0", 1, 20) == ("c9c0347c249a5377", 5)
    assert _vector_digest(4, 8, 60) == ("f9217191430d1ae3", 19)
    assert _vector_digest(6, 8, 60, max_episode_steps=25, **multi) == ("919261ca2553d35d", 16)


def test_a_stock_user_bound_again_still_drives_the_first_env_exactly():
    """The single step runs the stock user's response inside its own compiled call, reading the
    user's arrays; a second env binding the same user object replaces them, and the first env
    must follow (as it did when it called ``respond``), not step stale arrays."""
    from recoworld.users.feed import StatisticalFeedUser

    user = StatisticalFeedUser()
    first = gym.make("recoworld/ShortVideo-v0", user_model=user)
    gym.make("recoworld/ShortVideo-v0", user_model=user)  # binds `user` again
    assert _env_digest(first, 3, 80) == ("fc25898540370418", 4)
