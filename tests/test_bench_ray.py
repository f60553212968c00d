"""The Ray backend on a local 2-worker cluster gives exactly the local backend's results."""

from __future__ import annotations

import json

import ray
from bench_helpers import result_bytes, small_crs_config

from recoworld.bench.runner import run_suite


def test_ray_backend_equals_local_backend_and_runs_resume_across_backends(tmp_path):
    cfg = small_crs_config()
    local = tmp_path / "local"
    on_ray = tmp_path / "ray"
    run_suite(cfg, local, progress=False)
    summary = run_suite(cfg, on_ray, backend="ray", num_cpus=2, progress=False)
    assert not ray.is_initialized()  # the backend shuts down the cluster it started
    assert summary.units_computed == 8
    assert result_bytes(on_ray) == result_bytes(local)
    meta = json.loads((on_ray / "meta.json").read_text())
    assert meta["backend"] == "ray"
    # the one local node ran every unit
    (node,) = meta["ray_nodes"].values()
    assert node["units"] == sorted(u.relative_to(on_ray / "units").with_suffix("").as_posix()
                                   for u in (on_ray / "units").rglob("*.json"))
    assert json.loads((local / "meta.json").read_text())["ray_nodes"] == {}
    # unit files do not depend on the backend: a Ray run finished locally is the same run
    units = sorted((on_ray / "units").rglob("*.json"))
    for u in units[::3]:
        u.unlink()
    resumed = run_suite(cfg, on_ray, progress=False)
    assert (resumed.units_computed, resumed.units_reused) == (3, 5)
    assert result_bytes(on_ray) == result_bytes(local)
