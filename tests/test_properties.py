"""Property-based tests (hypothesis) of the three surfaces that take outside input.

- env actions: any value handed to ``step`` of the conversational and feed envs;
- estimator inputs: arbitrary logs, policies, reward models and rating matrices;
- dataset files: the released JSON layout, a KuaiRec CSV and an FM-embedding pickle, with their
  bytes mutated (flipped, deleted, inserted, truncated) or their JSON values replaced.

The property everywhere: the call either succeeds (with finite numbers where it returns one) or
raises one of the project's named errors (:class:`~recoworld.errors.RecoWorldError`). Any other
exception -- a raw ``KeyError``, ``ValueError``, ``IndexError``, a numpy warning turned error --
fails the test. Examples are derandomised (the same inputs every run) and few enough that the file
runs in seconds.
"""

from __future__ import annotations

import json
import pickle
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the dev extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from recoworld.errors import RecoWorldError  # noqa: E402

SETTINGS = settings(
    max_examples=120,
    deadline=None,  # the machine's load decides wall time, not the code under test
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _named_error_or_ok(call: Callable[[], Any]) -> Any:
    """Run ``call`` with numpy warnings as errors; a RecoWorldError is a pass (returns None)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            return call()
        except RecoWorldError:
            return None


# ---- env actions ---------------------------------------------------------------------------------

scalars = st.one_of(
    st.integers(-5, 20), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(max_size=3), st.just(np.int64(1)), st.just(np.float32(2.0)), st.just(np.array(1)),
)
id_lists = st.one_of(
    st.lists(st.integers(-3, 15), max_size=12),
    st.lists(st.floats(-2, 14), max_size=12),
    st.lists(scalars, max_size=4),
    st.lists(st.lists(st.integers(0, 11), max_size=3), max_size=3),
    st.builds(np.array, st.lists(st.integers(0, 11), min_size=1, max_size=10)),
    scalars,
)
actions = st.one_of(
    st.fixed_dictionaries({}, optional={"kind": scalars, "question": scalars, "items": id_lists}),
    st.fixed_dictionaries({"kind": st.sampled_from([0, 1]), "question": scalars, "items": id_lists}),
    scalars,
    st.lists(st.integers(0, 3), max_size=3),
)


@SETTINGS
@given(steps=st.lists(actions, min_size=1, max_size=6))
def test_conversational_env_step_takes_anything(steps):
    from conftest import make_tiny_world

    from recoworld.envs import ConversationalRecEnv

    env = ConversationalRecEnv(make_tiny_world(enumerated=False))
    env.reset(seed=0)
    for action in steps:
        out = _named_error_or_ok(lambda a=action: env.step(a))
        if out is not None:
            obs, reward, terminated, truncated, _ = out
            assert np.isfinite(float(reward))
            assert env.observation_space.contains(obs)
            if terminated or truncated:
                env.reset()


@pytest.fixture(scope="module")
def feed_env():
    import gymnasium

    return gymnasium.make("recoworld/ShortVideo-v0").unwrapped


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(action=st.one_of(scalars, st.lists(st.integers(-2, 80), max_size=3),
                        st.lists(st.lists(st.integers(0, 3), max_size=2), max_size=2)))
def test_feed_env_step_takes_anything(feed_env, action):
    feed_env.reset(seed=0)
    out = _named_error_or_ok(lambda: feed_env.step(action))
    if out is not None:
        assert np.isfinite(float(out[1]))


# ---- estimator inputs ----------------------------------------------------------------------------

finite = st.floats(-1e3, 1e3, allow_nan=False)
anything = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def bandit_inputs(draw):
    n = draw(st.integers(1, 8))
    k = draw(st.integers(1, 4))
    valid = draw(st.booleans())
    if valid:
        action = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
        reward = draw(st.lists(finite, min_size=n, max_size=n))
        pscore = draw(st.lists(st.floats(1e-3, 1.0), min_size=n, max_size=n))
        raw = np.asarray(draw(st.lists(st.floats(0.0, 1.0), min_size=n * k, max_size=n * k)))
        dist = raw.reshape(n, k) + 1e-9
        dist = dist / dist.sum(axis=1, keepdims=True)
        if draw(st.booleans()):  # sometimes a policy with no overlap at all
            dist = np.zeros((n, k))
            dist[:, (np.asarray(action) + 1) % k] = 1.0
    else:
        m = draw(st.integers(0, 9))
        action = draw(st.lists(st.one_of(st.integers(-2, 6), anything), min_size=m, max_size=m))
        reward = draw(st.lists(anything, min_size=n, max_size=n))
        pscore = draw(st.lists(st.one_of(anything, st.floats(-1, 2)), min_size=n, max_size=n))
        shape = draw(st.sampled_from([(n, k), (n,), (n, k + 1), (n + 1, k), (n, k, 2)]))
        dist = np.asarray(draw(st.lists(anything, min_size=int(np.prod(shape)),
                                        max_size=int(np.prod(shape))))).reshape(shape)
    q = np.asarray(draw(st.lists(finite, min_size=dist.size, max_size=dist.size))).reshape(dist.shape)
    return action, reward, pscore, k, dist, q


@SETTINGS
@given(inputs=bandit_inputs())
def test_bandit_estimators_take_anything(inputs):
    from recoworld.bench.ope_bench import bandit_estimators
    from recoworld.estimators import BanditLog

    action, reward, pscore, k, dist, q = inputs
    log = _named_error_or_ok(lambda: BanditLog.from_arrays(action, reward, pscore, k))
    if log is None:
        return
    for est in bandit_estimators():
        value = _named_error_or_ok(lambda e=est: e.estimate_policy_value(log, dist, q))
        if value is not None:
            assert np.isfinite(value), (est, value)


@st.composite
def trajectory_inputs(draw):
    n_ep = draw(st.integers(1, 4))
    lengths = draw(st.lists(st.integers(1, 3), min_size=n_ep, max_size=n_ep))
    ep = np.repeat(np.arange(n_ep), lengths)
    step = np.concatenate([np.arange(m) for m in lengths])
    n = ep.size
    k = draw(st.integers(1, 3))
    action = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    reward = draw(st.lists(finite, min_size=n, max_size=n))
    pscore = draw(st.lists(st.one_of(st.floats(1e-3, 1.0), st.sampled_from([0.0, 1.5, np.nan])),
                           min_size=n, max_size=n))
    done = np.concatenate([[False] * (m - 1) + [True] for m in lengths])
    raw = np.asarray(draw(st.lists(st.floats(0.0, 1.0), min_size=n * k, max_size=n * k)))
    dist = raw.reshape(n, k) + draw(st.sampled_from([0.0, 1e-9]))
    sums = dist.sum(axis=1, keepdims=True)
    dist = np.divide(dist, sums, out=np.zeros_like(dist), where=sums > 0)
    return ep, step, action, reward, pscore, done, k, dist


@SETTINGS
@given(inputs=trajectory_inputs())
def test_sequential_estimators_take_anything(inputs):
    from recoworld.bench.ope_bench import sequential_estimators
    from recoworld.estimators import TrajectoryLog

    ep, step, action, reward, pscore, done, k, dist = inputs
    log = _named_error_or_ok(
        lambda: TrajectoryLog.from_arrays(ep, step, action, reward, pscore, done, k)
    )
    if log is None:
        return
    q = np.zeros_like(dist)
    for est in sequential_estimators():
        value = _named_error_or_ok(lambda e=est: e.estimate_policy_value(log, dist, q))
        if value is not None:
            assert np.isfinite(value), (est, value)


@SETTINGS
@given(
    ratings=st.lists(st.lists(st.one_of(st.sampled_from([0.0, 1.0, 3.0, 5.0]), anything),
                              min_size=3, max_size=3), min_size=1, max_size=3),
    prop=st.one_of(st.floats(-0.5, 1.5), anything),
    shape_ok=st.booleans(),
)
def test_rating_error_estimators_take_anything(ratings, prop, shape_ok):
    from recoworld.estimators.rating_error import estimate_rating_error

    r = np.asarray(ratings)
    pred = np.full(r.shape if shape_ok else (r.shape[0] + 1, 3), 3.0)
    p = np.full(r.shape, prop)
    out = _named_error_or_ok(
        lambda: estimate_rating_error(pred, r, p, imputed_error=np.ones(r.shape))
    )
    if out is not None:
        assert np.isfinite([out.naive, out.ips, out.snips, out.doubly_robust]).all()


# ---- dataset files -------------------------------------------------------------------------------


@st.composite
def mutations(draw, original: bytes) -> bytes:
    """``original`` with 1-4 byte-level edits: flip, delete, insert or truncate."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "delete" and data:
            del data[at: at + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=6))
        else:
            del data[at:]
    return bytes(data)


def _small_release(root: Path) -> dict[str, bytes]:
    items = {str(i): {"feature_index": f} for i, f in enumerate([[0], [0, 1], [2], [1, 2]])}
    files = {
        "Graph_generate_data/item_dict.json": items,
        "Graph_generate_data/user_item.json": {"0": [0, 1], "1": [2, 3], "2": [1, 3]},
        "Graph_generate_data/user_dict.json": {"0": {"friends": [1], "like": [0]}},
        "UI_Interaction_data/review_dict_train.json": {"0": [0], "1": [2], "2": [1]},
        "UI_Interaction_data/review_dict_valid.json": {"0": [1], "1": [3]},
        "UI_Interaction_data/review_dict_test.json": {"2": [3]},
        "ID_map_info/tag_reverse_map.json": {"0": {"real_name": ["x"]}, "1": {"real_name": ["y"]},
                                             "2": {"real_name": ["z"]}},
    }
    out = {}
    for rel, obj in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        out[rel] = json.dumps(obj).encode()
        (root / rel).write_bytes(out[rel])
    return out


RELEASE_FILES = sorted(_small_release(Path(tempfile.mkdtemp(prefix="rw-release-"))))

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 10), st.floats(allow_nan=False),
              st.text(max_size=3)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=2), inner, max_size=3)),
    max_leaves=8,
)


@SETTINGS
@given(data=st.data(), which=st.sampled_from(RELEASE_FILES), structural=st.booleans())
def test_crs_release_loader_takes_any_file(data, which, structural):
    from recoworld.datasets.crs_loader import load_crs_release

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        original = _small_release(root)[which]
        if structural:  # valid JSON, any shape: the whole file, or one entry of its object
            parsed = json.loads(original)
            if data.draw(st.booleans()) and isinstance(parsed, dict) and parsed:
                key = data.draw(st.sampled_from(sorted(parsed)))
                parsed[key] = data.draw(json_values)
            else:
                parsed = data.draw(json_values)
            (root / which).write_text(json.dumps(parsed))
        else:
            (root / which).write_bytes(data.draw(mutations(original)))
        _named_error_or_ok(lambda: load_crs_release(root, "small"))


KUAIREC_CSV = (
    b"user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n"
    b"14,148,4381,6067,2020-07-05 05:27:48.378,20200705,1593898068.378,0.722\n"
    b"14,183,11635,6100,2020-07-05 05:28:00.057,20200705,1593898080.057,1.907\n"
    b"19,148,3000,6067,2020-07-05 05:29:00.000,20200705,1593898140.000,0.494\n"
)


@SETTINGS
@given(data=st.data())
def test_kuairec_csv_loader_takes_any_bytes(data):
    from recoworld.datasets.kuairec import load_kuairec_matrix

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "small_matrix.csv"
        path.write_bytes(data.draw(mutations(KUAIREC_CSV)))
        out = _named_error_or_ok(lambda: load_kuairec_matrix(path))
        if out is not None:
            seen = out.watch_ratio[np.isfinite(out.watch_ratio)]
            assert (seen >= 0).all() and np.isfinite(out.duration_s).all()


FM_PICKLE = pickle.dumps({"ui_emb": np.arange(12, dtype=np.float32).reshape(6, 2),
                          "feature_emb": np.ones((3, 2), dtype=np.float32)}, protocol=2)


@SETTINGS
@given(data=st.data())
def test_fm_pickle_loader_takes_any_bytes(data):
    from recoworld.datasets.safe_pickle import load_fm_embeddings

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "embeds.pkl"
        path.write_bytes(data.draw(mutations(FM_PICKLE)))
        out = _named_error_or_ok(lambda: load_fm_embeddings(path))
        if out is not None:
            assert all(np.isfinite(v).all() and v.ndim == 2 for v in out.values())
