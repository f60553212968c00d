"""``render_mode="ansi"``: the transcript of a scripted session is exactly what a person reads."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from feed_helpers import tiny_feed_world
from gymnasium.utils.env_checker import check_env

import recoworld  # noqa: F401
from recoworld.envs import ConversationalRecEnv, FeedEnv, FeedSettings
from recoworld.envs.transcript import FeedView, format_feed_session
from recoworld.errors import ConfigError

EXPECTED_CONVERSATION = """\
[tiny] user 0, looking for item 2
turn  1 | user opens with "a1" | candidates 4
turn  2 | agent asks "a2"? | user: no | candidates 4 | reward -0.10
turn  3 | agent asks "a3"? | user: yes | candidates 2 | reward +0.01
turn  4 | agent recommends 2 items | user: no | candidates 1 | reward -0.10
          1. item 0; 2. item 9
turn  5 | agent recommends 1 items | user: yes, #1 | candidates 1 | reward +1.00
          1. item 2
end: the user accepted a recommendation (turn 5)
"""


def test_scripted_conversation_renders_the_expected_transcript(tiny_world):
    env = ConversationalRecEnv(tiny_world, render_mode="ansi")
    # Target 2 holds {0, 1, 3}; seed 1 draws the opening "a1" (items 0-3).
    env.reset(seed=1, options={"user": 0, "target": 2})
    assert env.render().splitlines()[1] == 'turn  1 | user opens with "a1" | candidates 4'
    for action in (env.ask(2), env.ask(3), env.recommend([0, 9]), env.recommend([2])):
        env.step(action)
    assert env.render() == EXPECTED_CONVERSATION


def test_enumerated_questions_render_the_picked_children(tiny_enum_world):
    env = ConversationalRecEnv(tiny_enum_world, render_mode="ansi")
    env.reset(seed=0, options={"user": 2, "target": 9})  # target 9 holds {4, 5}; opens with "a5"
    env.step(env.ask(1))  # parent p1 = {a2, a3}: none held
    env.step(env.ask(2))  # parent p2 = {a4, a5}: a4 is new
    lines = env.render().splitlines()
    assert lines[1] == 'turn  1 | user opens with "a5" | candidates 1'
    assert lines[2] == 'turn  2 | agent asks "p1"? | user picks none of them | candidates 1 | reward -0.10'
    assert lines[3] == 'turn  3 | agent asks "p2"? | user picks "a4" | candidates 1 | reward +0.01'



def test_render_modes_are_declared_and_checked(tiny_world):
    assert ConversationalRecEnv.metadata["render_modes"] == ["ansi"]
    assert ConversationalRecEnv(tiny_world).render() is None
    with pytest.raises(ConfigError, match="render_mode"):
        ConversationalRecEnv(tiny_world, render_mode="rgb_array")
    env = gymnasium.make("recoworld/Synthetic-CRS-v0", render_mode="ansi")
    check_env(env.unwrapped)


def test_real_item_names_appear_in_the_transcript(shared_data):
    env = gymnasium.make("recoworld/LastFM-CRS-v0", data_dir=str(shared_data), render_mode="ansi")
    env.reset(seed=0, options={"split": "test", "index": 3})
    env.step(env.unwrapped.recommend([49]))
    text = env.render()
    assert "looking for item 49 (INXS)" in text and "1. INXS" in text


# ---- feeds -----------------------------------------------------------------------------------

class _ScriptedFeedUser:
    """Watches half of every video, likes the 2nd, writes an instruction at the 2nd, leaves at the
    3rd; comes back after 2 days the first time and after 30 (outside the window) the second."""

    n_uniforms = 1

    def bind(self, world, n_slots):
        self.duration = world.catalogue.duration_s
        self.seen = np.zeros(n_slots, dtype=np.int64)
        self.sessions = np.zeros(n_slots, dtype=np.int64)

    def reset(self, slots, users):
        self.seen[slots] = 0
        self.sessions[slots] = 0

    def start_session(self, slots, days_away):
        self.seen[slots] = 0
        self.sessions[slots] += 1

    def respond(self, slots, items, u):
        from recoworld.users import FeedResponse

        self.seen[slots] += 1
        n, seen = len(items), self.seen[slots]
        leave = seen >= 3
        return FeedResponse(
            watch_ratio=np.full(n, 0.5, np.float32),
            watch_time=(0.5 * self.duration[items]).astype(np.float32),
            like=seen == 2,
            skip=np.zeros(n, bool),
            leave=leave,
            return_days=np.where(leave, np.where(self.sessions[slots] == 0, 2, 30), 0),
            info={
                "instruction": np.array(["fewer long clips" if s == 2 else "" for s in seen]),
                "new_instruction": seen == 2,
            },
        )

    def expected(self, slots, candidates):
        raise NotImplementedError


def test_feed_views_format_exactly():
    views = [
        FeedView(0, 1, 4, "c1", 300.0, 150.0, False, False, False, 0.0, False, 2.5),
        FeedView(0, 2, 0, "c0", 10.0, 5.0, True, False, False, 0.0, False, 0.08, "fewer long clips"),
        FeedView(0, 3, 2, "c2", 60.0, 30.0, False, True, True, 2.0, True, 0.5),
        FeedView(1, 1, 3, "c0", 120.0, 60.0, False, False, True, 30.0, False, 1.0),
    ]
    assert format_feed_session(7, views) == (
        "[feed] user 7\n"
        "session 1\n"
        "  video   1 | item 4 (c1, 300 s) | watched 150.0 s (50%) | reward +2.50\n"
        "  video   2 | item 0 (c0, 10 s) | watched 5.0 s (50%) | liked | reward +0.08\n"
        '            user writes: "fewer long clips"\n'
        "  video   3 | item 2 (c2, 60 s) | watched 30.0 s (50%) | skipped | reward +0.50\n"
        "  the user leaves after 3 videos, 185 s watched; comes back after 2.0 days\n"
        "session 2\n"
        "  video   1 | item 3 (c0, 120 s) | watched 60.0 s (50%) | reward +1.00\n"
        "  the user leaves after 1 videos, 60 s watched; does not come back within the window\n"
    )


def _scripted_feed_env(**kwargs):
    world = tiny_feed_world()
    return world, FeedEnv(FeedSettings(world=world, sessions=2, return_window_days=7),
                          user_model=_ScriptedFeedUser(), render_mode="ansi", **kwargs)


def test_scripted_feed_session_renders_every_video_and_the_leave_decisions():
    world, env = _scripted_feed_env()
    obs, info = env.reset(seed=0)
    shown = []
    while True:
        shown.append(int(obs["candidate_ids"][0]))
        obs, _, term, trunc, info = env.step(0)
        if term or trunc:
            break
    cat = world.catalogue
    assert [v.item for v in env.views] == shown and len(shown) == 6
    assert [(v.session, v.depth, v.liked, v.left) for v in env.views] == [
        (0, 1, False, False), (0, 2, True, False), (0, 3, False, True),
        (1, 1, False, False), (1, 2, True, False), (1, 3, False, True),
    ]
    lines = env.render().splitlines()
    first = shown[0]
    assert lines[:2] == [f"[feed] user {int(env.sim.user[0])}", "session 1"]
    assert lines[2] == (
        f"  video   1 | item {first} ({cat.category_names[cat.category[first]]}, "
        f"{cat.duration_s[first]:.0f} s) | watched {cat.duration_s[first] / 2:.1f} s (50%) | "
        f"reward {cat.duration_s[first] / 2 / 60:+.2f}"
    )
    assert lines.count('            user writes: "fewer long clips"') == 2
    assert lines[-1].endswith("does not come back within the window")
    assert "comes back after 2.0 days" in lines[lines.index("session 2") - 1]


def test_slate_and_vector_feeds_render_one_chosen_slot():
    env = gymnasium.make("recoworld/ShortVideo-Slate-v0", render_mode="ansi")
    env.reset(seed=0)
    env.step(np.arange(5))
    assert env.render().count("  video ") == len(env.unwrapped.views) >= 1
    vec = gymnasium.make_vec("recoworld/ShortVideo-v0", num_envs=3, render_mode="ansi",
                             render_slot=2, vectorization_mode="vector_entry_point")
    single = gymnasium.make("recoworld/ShortVideo-v0", render_mode="ansi")
    vec.reset(seed=10)
    single.reset(seed=12)  # slot 2 of a vector env seeded 10 is the single env seeded 12
    for _ in range(4):
        _, _, term, trunc, _ = vec.step(np.zeros(3, dtype=np.int64))
        single.step(0)
        assert not (term[2] or trunc[2])
    assert vec.render() == single.render()
    with pytest.raises(ConfigError, match="render_slot"):
        gymnasium.make_vec("recoworld/ShortVideo-v0", num_envs=2, render_slot=2,
                           vectorization_mode="vector_entry_point")


def test_vector_conversations_render_one_chosen_slot_like_a_single_env():
    """Slot 2 of a vector env seeded 5 renders what a single env seeded 7 renders, across ends."""
    n, slot = 4, 2
    vec = gymnasium.make_vec("recoworld/Synthetic-CRS-v0", num_envs=n, max_turns=5,
                             render_mode="ansi", render_slot=slot,
                             vectorization_mode="vector_entry_point")
    single = gymnasium.make("recoworld/Synthetic-CRS-v0", max_turns=5, render_mode="ansi")
    vec.reset(seed=5)
    single.reset(seed=7)
    n_q = single.unwrapped.world.n_questions
    ended = 0
    for t in range(14):
        kind = np.full(n, 1 if t % 3 == 2 else 0, dtype=np.int64)
        question = np.full(n, (11 * t) % n_q, dtype=np.int64)
        items = np.tile(np.arange(t, t + 10, dtype=np.int64), (n, 1))
        _, _, term, trunc, _ = vec.step({"kind": kind, "question": question, "items": items})
        if single.unwrapped._done:  # the vector env reset this slot at this step (NEXT_STEP)
            single.reset()
            ended += 1
        else:
            action = {"kind": int(kind[0]), "question": int(question[0]), "items": items[0]}
            single.step(action)
        assert vec.render() == single.render(), f"step {t}"
    assert ended >= 2
    assert vec.render().startswith("[synthetic] user ")
