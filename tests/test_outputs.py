"""Writing results: strict JSON, atomic files, output folders checked before work starts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from recoworld.errors import OutputError
from recoworld.outputs import atomic_write_json, dumps_json, prepare_output_dir


def _strict_loads(text: str):
    def reject(name: str):
        raise AssertionError(f"non-strict constant {name}")

    return json.loads(text, parse_constant=reject)


def test_undefined_numbers_are_null_and_numpy_values_plain():
    obj = {"a": math.nan, "b": [np.float32("inf"), -math.inf, 1.5], "c": np.float64("nan"),
           "d": np.arange(3), "e": (np.int64(4), True, None, "x"), 7: {"f": np.array([np.nan, 2.0])}}
    text = dumps_json(obj)
    assert _strict_loads(text) == {"a": None, "b": [None, None, 1.5], "c": None, "d": [0, 1, 2],
                                   "e": [4, True, None, "x"], "7": {"f": [None, 2.0]}}


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "deep" / "results.json"
    atomic_write_json(path, {"x": 1})
    atomic_write_json(path, {"x": math.nan})
    assert _strict_loads(path.read_text()) == {"x": None}
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        atomic_write_json(path, {"x": Unserialisable()})
    assert _strict_loads(path.read_text()) == {"x": None}  # the old file is intact
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]


def test_prepare_output_dir(tmp_path):
    out = prepare_output_dir(tmp_path / "a" / "b")
    assert out.is_dir() and not list(out.iterdir())  # the write probe left nothing behind
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=r"`--out` .*file is a file, not a folder"):
        prepare_output_dir(blocker)
    with pytest.raises(OutputError, match=r"`--run` .* cannot be created: .*file is a file"):
        prepare_output_dir(blocker / "sub" / "run", flag="--run")
    with pytest.raises(OutputError, match="cannot be created"):
        prepare_output_dir("/proc/recoworld-no/such")
