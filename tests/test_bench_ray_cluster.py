"""``recoworld bench --backend ray --address`` on a real multi-node cluster started with ``ray start``.

A head node (``ray start --head``) and a second node joining it (``ray start --address``) run on
127.0.0.1 as separate process trees, each with one CPU slot, on free ports and a private temporary
directory (so no other Ray cluster on the machine is touched, and ``ray.init()`` elsewhere does not
find this one). The quick CRS suite runs on it from the command line; its units must have run on
both nodes, and its results must equal the local backend's byte for byte. Both nodes are stopped
whatever happens, and no process of theirs may outlive the test.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from bench_helpers import result_bytes

from recoworld.bench.config import default_config
from recoworld.bench.runner import run_suite

BIN = Path(sys.executable).parent
# `ray` through this interpreter (the nodes' workers run the Python that started the node)
RAY = [sys.executable, "-m", "ray.scripts.scripts"]
SEEDS = (0,)


def _free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports on 127.0.0.1 that are free right now."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _our_processes(marker: str) -> list[int]:
    """Ids of the processes whose command line names ``marker`` (this cluster's temp dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            pids.append(int(entry.name))
    return pids


class RayNode:
    """One ``ray start --block`` process tree; stopped with SIGTERM to its process group."""

    def __init__(self, name: str, args: list[str], temp_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = temp_dir.parent / f"{name}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [*RAY, "start", "--block", *args],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
        )  # fmt: skip

    def wait_started(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Ray runtime started" in self.log_path.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise AssertionError(
            f"ray node {self.name} did not start (exit {self.proc.poll()}):\n"
            + self.log_path.read_text(errors="replace")[-3000:]
        )

    def stop(self) -> None:
        """SIGTERM to ``ray start`` (it stops its node's processes in order), then SIGKILL to
        whatever is left of its process group."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


@pytest.fixture
def cluster() -> Iterator[tuple[str, dict[str, int], dict[str, str]]]:
    """A 2-node cluster on 127.0.0.1: (GCS address, node name -> node-manager port, environment).

    The cluster uses Ray's token authentication with a token of its own, passed to the nodes and
    the driver through the environment (``RAY_AUTH_TOKEN``), not through ``~/.ray``.
    """
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    temp_root = Path(tempfile.mkdtemp(prefix="rw-ray-", dir="/tmp"))  # short: socket paths
    gcs, head_nm, worker_nm, *rest = _free_ports(13)
    address = f"127.0.0.1:{gcs}"
    common = [
        "--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0",
        "--object-store-memory=100000000", "--min-worker-port=0", "--max-worker-port=0",
        "--disable-usage-stats", "--include-log-monitor=false",
    ]  # fmt: skip

    def ports(offset: int) -> list[str]:
        om, agent_http, agent_grpc, metrics, runtime_env = rest[offset : offset + 5]
        return [
            f"--object-manager-port={om}", f"--dashboard-agent-listen-port={agent_http}",
            f"--dashboard-agent-grpc-port={agent_grpc}", f"--metrics-export-port={metrics}",
            f"--runtime-env-agent-port={runtime_env}",
        ]  # fmt: skip

    with ExitStack() as stack:
        stack.callback(shutil.rmtree, temp_root, True)

        def kill_leftovers() -> None:
            leftovers = _our_processes(str(temp_root))
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            assert leftovers == [], f"processes of the test cluster outlived it: {leftovers}"

        stack.callback(kill_leftovers)
        head_dir = temp_root / "head"
        head = RayNode(
            "head",
            ["--head", f"--port={gcs}", f"--node-manager-port={head_nm}", "--include-dashboard=false",
             f"--temp-dir={head_dir}", *common, *ports(0)],
            head_dir, env,
        )  # fmt: skip
        stack.callback(head.stop)
        head.wait_started()
        worker_dir = temp_root / "worker"
        worker = RayNode(
            "worker",
            [f"--address={address}", f"--node-manager-port={worker_nm}",
             f"--temp-dir={worker_dir}", *common, *ports(5)],
            worker_dir, env,
        )  # fmt: skip
        stack.callback(worker.stop)
        worker.wait_started()
        yield address, {"head": head_nm, "worker": worker_nm}, env


def test_quick_crs_suite_runs_on_both_nodes_with_the_local_backends_results(
    cluster: tuple[str, dict[str, int], dict[str, str]], tmp_path: Path
) -> None:
    address, node_ports, env = cluster
    on_ray = tmp_path / "ray"
    proc = subprocess.run(
        [str(BIN / "recoworld"), "bench", "crs", "--quick", "--seeds", *map(str, SEEDS),
         "--backend", "ray", "--address", address, "--out", str(on_ray), "--json"],
        capture_output=True, text=True, timeout=1200, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    planned = len(list((on_ray / "units").rglob("*.json")))
    assert out["units_computed"] == planned > 2

    meta = json.loads((on_ray / "meta.json").read_text())
    assert (meta["backend"], meta["address"]) == ("ray", address)
    nodes = meta["ray_nodes"]
    # both nodes ran units, and every unit ran on exactly one of them
    assert sorted(n["port"] for n in nodes.values()) == sorted(node_ports.values())
    assert all(n["units"] for n in nodes.values())
    assert len({n["ip"] for n in nodes.values()}) == 1  # one host (Ray names it by its address)
    ran = [key for n in nodes.values() for key in n["units"]]
    assert len(ran) == len(set(ran)) == planned

    local = tmp_path / "local"
    run_suite(default_config("crs", quick=True).with_seeds(SEEDS), local, progress=False)
    assert result_bytes(on_ray) == result_bytes(local)
