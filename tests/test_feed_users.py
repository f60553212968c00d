"""The statistical feed user's parts: each bias acts in its direction, leave and return invariants."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from feed_helpers import tiny_feed_world

from recoworld.errors import ConfigError
from recoworld.users.feed import FeedUserParams, StatisticalFeedUser
from recoworld.users.feed.duration_bias import DurationBias, DurationBiasParams
from recoworld.users.feed.leave import Leave, LeaveParams
from recoworld.users.feed.position_bias import PositionBiasParams
from recoworld.users.feed.response import Response, ResponseParams
from recoworld.users.feed.returning import Return, ReturnParams
from recoworld.users.feed.transition import TransitionParams


def _user(world, n_slots=1, **parts):
    model = StatisticalFeedUser(FeedUserParams(**parts))
    model.bind(world, n_slots)
    slots = np.arange(n_slots)
    model.reset(slots, np.zeros(n_slots, dtype=np.intp))
    return model, slots


def _mean_ratio_by_item(params, world, n=4000, seed=0):
    """Mean sampled watch ratio of each item, each shown once to a fresh user (depth 0), with
    common random numbers across items."""
    out = []
    for item in range(world.catalogue.n_items):
        rng = np.random.default_rng(seed)
        fresh = StatisticalFeedUser(params)
        fresh.bind(world, n)
        slots = np.arange(n)
        fresh.reset(slots, np.zeros(n, dtype=np.intp))
        resp = fresh.respond(slots, np.full(n, item), rng.random((n, fresh.n_uniforms)))
        out.append(float(resp.watch_ratio.mean()))
    return np.array(out)


def test_duration_bias_on_short_videos_reach_higher_watch_ratios():
    world = tiny_feed_world()  # identical videos of 10 s .. 600 s
    ratio = _mean_ratio_by_item(FeedUserParams(), world)
    assert np.all(np.diff(ratio) < 0), ratio
    # Absolute watch time still grows with duration (strength < 1).
    seconds = ratio * world.catalogue.duration_s
    assert np.all(np.diff(seconds) > 0), seconds


def test_duration_bias_off_ratio_does_not_depend_on_duration():
    world = tiny_feed_world()
    ratio = _mean_ratio_by_item(FeedUserParams(duration_bias=DurationBiasParams(enabled=False)), world)
    # Same uniforms, same logit: exactly equal.
    assert np.allclose(ratio, ratio[0], rtol=0, atol=1e-6)


def test_duration_shift_exact_value():
    bias = DurationBias(DurationBiasParams(strength=0.5, reference_s=60.0))
    shift = bias.logit_shift(np.array([60.0, 240.0], dtype=np.float32))
    np.testing.assert_allclose(shift, [0.0, -0.5 * np.log(4.0)], rtol=1e-6)


def _expected_ratio_at_depths(params_kwargs, depths):
    world = tiny_feed_world(categories=[0, 1, 2, 0, 1, 2])
    model, slots = _user(world, **params_kwargs)
    out = []
    for d in depths:
        model.depth[:] = d
        out.append(float(model.expected(slots, np.array([[2]])).watch_ratio[0, 0]))
    return np.array(out)


def test_position_bias_on_engagement_falls_with_depth():
    ratio = _expected_ratio_at_depths({}, [0, 5, 20, 80])
    assert np.all(np.diff(ratio) < 0), ratio


def test_position_bias_off_depth_has_no_effect():
    ratio = _expected_ratio_at_depths({"position_bias": PositionBiasParams(enabled=False)},
                                      [0, 5, 20, 80])
    assert np.all(ratio == ratio[0])


def test_position_bias_lowers_realised_likes_and_ratios_over_a_session():
    """Show the same-appeal video again and again (rotating categories so satiation stays flat);
    with position bias the second half of the session engages less than the first."""
    world = tiny_feed_world(categories=[0, 1, 2, 3, 4, 5])
    n = 3000
    rng = np.random.default_rng(1)
    for enabled in (True, False):
        model, slots = _user(
            world, n_slots=n,
            position_bias=PositionBiasParams(enabled=enabled, strength=1.0),
            transition=TransitionParams(satiation_enabled=False, drift_enabled=False),
            leave=LeaveParams(step_cost=1e-6, poor_penalty=0.0),
        )
        ratios = []
        for _ in range(30):
            resp = model.respond(slots, np.full(n, 2), rng.random((n, 3)))
            ratios.append(resp.watch_ratio.mean())
        first, second = np.mean(ratios[:10]), np.mean(ratios[20:])
        if enabled:
            assert second < first - 0.05
        else:
            assert abs(second - first) < 0.02


def test_repeated_categories_lose_appeal():
    world = tiny_feed_world(categories=[0, 0, 1, 1, 2, 2])
    model, slots = _user(world)
    before = model.expected(slots, np.array([[0, 2]])).watch_ratio[0]
    for item in (0, 1, 0):  # three videos of category 0
        model.respond(slots, np.array([item]), np.full((1, 3), 0.5))
    model.depth[:] = 0  # isolate satiation from position bias
    after = model.expected(slots, np.array([[0, 2]])).watch_ratio[0]
    assert after[0] < before[0]  # category 0 lost appeal
    # Category 1 was untouched (satiation only; drift moves interest toward identical embeddings).
    assert after[1] == pytest.approx(before[1], abs=1e-6)


def test_satiation_off_repeated_categories_keep_appeal():
    world = tiny_feed_world(categories=[0, 0, 1, 1, 2, 2])
    model, slots = _user(world, transition=TransitionParams(satiation_enabled=False))
    before = model.expected(slots, np.array([[0]])).watch_ratio[0, 0]
    for item in (0, 1, 0):
        model.respond(slots, np.array([item]), np.full((1, 3), 0.5))
    model.depth[:] = 0
    assert model.expected(slots, np.array([[0]])).watch_ratio[0, 0] == pytest.approx(before, abs=1e-6)


def test_feedback_loop_moves_interest_toward_watched_video():
    base = tiny_feed_world()
    target = np.array([0.0, 1.0, 0.0, 0.0], dtype=np.float32)
    emb = base.catalogue.embedding.copy()
    emb[3] = target
    world = dataclasses.replace(base, catalogue=dataclasses.replace(base.catalogue, embedding=emb))
    model, slots = _user(world)
    start = model.interest[0].copy()
    model.respond(slots, np.array([3]), np.full((1, 3), 0.9))
    moved = model.interest[0]
    assert np.dot(moved, target) > np.dot(start, target)
    off, slots2 = _user(world, transition=TransitionParams(drift_enabled=False))
    off.respond(slots2, np.array([3]), np.full((1, 3), 0.9))
    np.testing.assert_array_equal(off.interest[0], start)


def test_leave_budget_falls_every_video_and_faster_after_poor_ones():
    leave = Leave(LeaveParams(step_cost=0.3, poor_penalty=1.2, good_ratio=0.9))
    ratios = np.array([0.0, 0.45, 0.9, 1.5], dtype=np.float32)
    cost = leave.cost(ratios)
    np.testing.assert_allclose(cost, [1.5, 0.9, 0.3, 0.3], rtol=1e-6)
    assert np.all(cost >= 0.3)


def test_leave_iff_budget_at_or_below_threshold_and_session_bounded():
    world = tiny_feed_world()
    model, slots = _user(world, leave=LeaveParams(step_cost=0.5, threshold=0.0))
    rng = np.random.default_rng(0)
    budget = [float(model.budget[0])]
    left_at = None
    for t in range(100):
        resp = model.respond(slots, np.array([t % 6]), rng.random((1, 3)))
        budget.append(float(model.budget[0]))
        assert bool(resp.leave[0]) == (budget[-1] <= 0.0)
        if resp.leave[0]:
            left_at = t + 1
            assert resp.return_days[0] >= 1
            break
        assert resp.return_days[0] == 0
    assert np.all(np.diff(budget) <= -0.5 + 1e-6)
    # Patience 5 at >= 0.5 per video: at most 10 videos.
    assert left_at is not None and left_at <= 10


def test_return_days_invariants():
    ret = Return(ReturnParams(base_rate=0.2, satisfaction_weight=3.0, max_days=7))
    u = np.linspace(0.0, 0.999, 50)
    low = ret.days_from_uniform(np.full(50, 0.2, np.float32), np.ones(50, np.float32), u)
    high = ret.days_from_uniform(np.full(50, 1.2, np.float32), np.ones(50, np.float32), u)
    keen = ret.days_from_uniform(np.full(50, 0.2, np.float32), np.full(50, 3.0, np.float32), u)
    assert low.min() >= 1 and high.min() >= 1
    assert np.all(high <= low) and np.any(high < low)  # satisfied users come back sooner
    assert np.all(keen <= low)  # higher propensity, sooner
    np.testing.assert_array_equal(ret.returned(low), low <= 7)
    # Exact value: hazard 0.2 at reference satisfaction 0.7, u = 1 - e^-1: wait 5 days -> 6.
    one = ret.days_from_uniform(np.array([0.7], np.float32), np.ones(1, np.float32),
                                np.array([1 - np.exp(-1.0)]))
    assert int(one[0]) == 6


def test_return_rate_matches_exponential_law():
    ret = Return(ReturnParams(base_rate=0.15, max_days=7))
    rng = np.random.default_rng(3)
    days = ret.sample_days(np.full(200_000, 0.7, np.float32), np.ones(200_000, np.float32), rng)
    # P(days <= 7) = P(wait < 7) = 1 - exp(-0.15 * 7)
    assert ret.returned(days).mean() == pytest.approx(1 - np.exp(-1.05), abs=0.005)


def test_response_same_generator_same_draws_and_expected_value():
    resp = Response(ResponseParams(noise_scale=0.5))
    logit = np.full(100_000, 0.4, np.float32)
    dur = np.full(100_000, 30.0, np.float32)
    a = resp.sample(logit, dur, np.random.default_rng(5))
    b = resp.sample(logit, dur, np.random.default_rng(5))
    np.testing.assert_array_equal(a.watch_ratio, b.watch_ratio)
    np.testing.assert_allclose(a.watch_time, a.watch_ratio * 30.0, rtol=1e-6)
    exp = resp.expected_watch_ratio(logit[:1])[0]
    assert a.watch_ratio.mean() == pytest.approx(exp, rel=0.01)
    assert np.array_equal(a.skip, a.watch_ratio < 0.2)


@pytest.mark.parametrize(
    ("cls", "field", "value", "match"),
    [
        (DurationBiasParams, "strength", 1.5, r"`DurationBiasParams.strength` must be in \[0, 1\], got 1.5"),
        (LeaveParams, "step_cost", 0.0, r"`LeaveParams.step_cost` must be > 0, got 0.0"),
        (ReturnParams, "base_rate", -1.0, r"`ReturnParams.base_rate` must be > 0, got -1.0"),
        (TransitionParams, "satiation_decay", 1.0,
         r"`TransitionParams.satiation_decay` must be in \[0, 1\), got 1.0"),
        (ResponseParams, "noise_scale", float("nan"), r"`ResponseParams.noise_scale` must be >= 0, got nan"),
        (ResponseParams, "base_logit", float("inf"), r"`ResponseParams.base_logit` must be a finite number"),
        (PositionBiasParams, "scale", 0.0, r"`PositionBiasParams.scale` must be > 0, got 0.0"),
        (ReturnParams, "max_days", "7", r"`ReturnParams.max_days` must be a number, got '7' \(str\)"),
    ],
)
def test_params_validate_themselves(cls, field, value, match):
    with pytest.raises(ConfigError, match=match):
        cls(**{field: value})
    params = cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(params, field, value)


def test_compiled_response_matches_the_parts_numpy_composition():
    from recoworld.datasets.feed_world import synthetic_feed_world

    world = synthetic_feed_world(n_users=50, n_items=200, n_categories=5, dim=8, seed=1)
    n = 64
    calm = LeaveParams(step_cost=1e-3, poor_penalty=1e-3)  # nobody leaves: states stay aligned
    fast, ref = StatisticalFeedUser(FeedUserParams(leave=calm)), StatisticalFeedUser(
        FeedUserParams(leave=calm))
    users = np.arange(n) % 50
    for m in (fast, ref):
        m.bind(world, n)
        m.reset(slice(None), users)
    rng = np.random.default_rng(0)
    for _ in range(30):
        items = rng.integers(0, 200, n)
        u = rng.random((n, 3))
        a = fast.respond(slice(None), items, u)
        b = ref.respond_composed(slice(None), items, u)
        np.testing.assert_allclose(a.watch_ratio, b.watch_ratio, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(a.watch_time, b.watch_time, rtol=1e-4, atol=1e-4)
        assert (a.like != b.like).mean() <= 0.02  # float32 vs float64 at the coin's edge
        np.testing.assert_array_equal(a.skip, b.skip)
    np.testing.assert_allclose(fast.interest, ref.interest, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.satiation, ref.satiation, rtol=1e-5)
    np.testing.assert_allclose(fast.budget, ref.budget, rtol=1e-4)
    np.testing.assert_array_equal(fast.depth, ref.depth)
    # Leaving and the return draw agree too.
    for m in (fast, ref):
        m.budget[:] = 0.0005
    u = rng.random((n, 3))
    items = rng.integers(0, 200, n)
    a, b = fast.respond(slice(None), items, u), ref.respond_composed(slice(None), items, u)
    assert a.leave.all() and b.leave.all()
    np.testing.assert_array_equal(a.return_days, b.return_days)


# -- parts that plug in ---------------------------------------------------------------------------


class _CappedLeave:
    """A leave part written from scratch: every user leaves after ``cap`` videos, whatever they
    watched. Counts its calls, so a test can see it is the part that acts."""

    n_uniforms = 0

    def __init__(self, cap):
        self.cap = cap
        self.calls = 0

    def cost(self, watch_ratio):
        return np.zeros(np.shape(watch_ratio), dtype=np.float32)

    def leaves(self, budget, depth, u):
        self.calls += 1
        return depth >= self.cap


class _CoinLeave(Leave):
    """A stock leave with one change: after each video the user also leaves with probability
    ``p``, drawn from its own uniform."""

    n_uniforms = 1

    def __init__(self, p):
        super().__init__()
        object.__setattr__(self, "p", p)

    def leaves(self, budget, depth, u):
        return super().leaves(budget, depth, u) | (u[:, 0] < self.p)


def _session_lengths(env_kwargs, episodes, seed=0):
    import gymnasium as gym

    import recoworld  # noqa: F401

    env = gym.make("recoworld/ShortVideo-v0", **env_kwargs)
    env.reset(seed=seed)
    lengths = []
    for _ in range(episodes):
        n = 0
        while True:
            _, _, term, trunc, _ = env.step(0)
            n += 1
            if term or trunc:
                env.reset()
                break
        lengths.append(n)
    return np.array(lengths), env


def test_a_custom_leave_part_sets_the_session_length():
    leave = _CappedLeave(cap=4)
    user = StatisticalFeedUser(leave=leave)
    assert not user.fused
    lengths, env = _session_lengths({"user_model": user}, episodes=5)
    assert lengths.tolist() == [4] * 5  # stock patience gives 10-50 videos (test_feed_stock_numbers)
    assert leave.calls == 20  # one call per video: the part is really consulted
    assert env.unwrapped.sim.user_model is user


def test_a_subclassed_stock_part_is_not_silently_fused_away():
    """The bug this design removes: a replaced part that the fused kernel would ignore."""
    coin = _CoinLeave(p=0.5)
    user = StatisticalFeedUser(leave=coin)
    assert not user.fused and user.n_uniforms == 4  # response 2, return 1, the coin 1
    lengths, _ = _session_lengths({"user_model": user}, episodes=400, seed=1)
    # Leaving is at least geometric(0.5): mean length <= 2, far below the stock user's ~20.
    assert lengths.mean() == pytest.approx(2.0, abs=0.25)
    stock, _ = _session_lengths({}, episodes=50, seed=1)
    assert stock.mean() > 8


def test_stock_parts_passed_explicitly_still_run_fused():
    user = StatisticalFeedUser(leave=Leave(LeaveParams(step_cost=0.5)))
    assert user.fused
    assert StatisticalFeedUser(FeedUserParams(leave=LeaveParams(step_cost=0.5))).fused


def test_composed_parts_match_the_fused_kernel_on_a_whole_env():
    """The composed path (parts' own methods) and the kernel agree on a stock user's sessions."""
    from recoworld.users.feed.preference import Preference

    class _Same(Preference):  # a stock preference under another type: forces composition
        pass

    fused, _ = _session_lengths({}, episodes=12, seed=3)
    composed, _ = _session_lengths({"user_model": StatisticalFeedUser(preference=_Same())},
                                   episodes=12, seed=3)
    assert fused.tolist() == composed.tolist()


def test_a_part_and_its_params_together_are_an_error():
    with pytest.raises(ConfigError, match=r"the leave part is given twice"):
        StatisticalFeedUser(FeedUserParams(leave=LeaveParams(step_cost=0.5)), leave=_CappedLeave(3))
    # Parameters of the other parts are fine beside it.
    StatisticalFeedUser(FeedUserParams(response=ResponseParams(noise_scale=0.1)), leave=_CappedLeave(3))


def test_a_part_that_does_not_follow_its_protocol_is_an_error():
    with pytest.raises(ConfigError, match=r"`leave` must follow LeaveModel \(missing \['cost', "
                                          r"'leaves', 'n_uniforms'\]\), got LeaveParams"):
        StatisticalFeedUser(leave=LeaveParams())


def test_user_params_and_user_model_together_are_an_error():
    import gymnasium as gym

    import recoworld  # noqa: F401

    with pytest.raises(ConfigError, match=r"`user_params` and `user_model` are both given"):
        gym.make("recoworld/ShortVideo-v0", user_params=FeedUserParams(),
                 user_model=StatisticalFeedUser())
