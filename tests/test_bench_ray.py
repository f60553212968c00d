"""The Ray backend on a local 2-worker cluster gives exactly the local backend's results."""

from __future__ import annotations

import json

import ray
from bench_helpers import result_bytes, small_crs_config

from recoworld.bench.runner import run_suite


def test_ray_backend_equals_local_backend(tmp_path):
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


def test_ray_resumes_a_local_run(tmp_path):
    cfg = small_crs_config(seeds=(0,))
    keys = []

    def stop_after_two(key):
        keys.append(key)
        if len(keys) == 2:
            raise KeyboardInterrupt

    try:
        run_suite(cfg, tmp_path / "run", progress=False, after_unit=stop_after_two)
    except KeyboardInterrupt:
        pass
    summary = run_suite(cfg, tmp_path / "run", backend="ray", num_cpus=2, progress=False)
    assert (summary.units_computed, summary.units_reused) == (2, 2)
    run_suite(cfg, tmp_path / "plain", progress=False)
    assert result_bytes(tmp_path / "run") == result_bytes(tmp_path / "plain")
