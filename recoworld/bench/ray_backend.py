"""The Ray backend: the units of one stage run as Ray tasks, on a cluster or a local one.

Every unit is computed by the same :func:`recoworld.bench.units.execute_unit` as on the local
backend, from the same config and unit, so the results are identical; only where and in which
order they run differs. The driver writes each unit's file as its task finishes, so a run killed
part way resumes with either backend.

``address=None`` starts a local cluster with ``num_cpus`` worker slots (``ray.init(num_cpus=2)``);
an address (``"ray://host:10001"``, ``"host:6379"`` or ``"auto"``) joins an existing cluster,
whose nodes must have RecoWorld installed and see the run directory (a trained agent written by
one stage is read by the next, wherever it runs) and, for real datasets, the data at the same
path: on a real cluster both live on shared storage. :func:`run_units_ray` returns which node ran
which unit; the runner records it in ``meta.json`` as ``ray_nodes``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from recoworld._validate import require_range
from recoworld.bench.config import BenchConfig
from recoworld.bench.units import Unit, execute_unit
from recoworld.errors import ConfigError

__all__ = ["run_units_ray"]

NodeRecord = dict[str, Any]


def _import_ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "`--backend ray` needs the `ray` package; install it with "
            "`pip install 'recoworld[ray]'`"
        ) from exc
    return ray


def _execute_on_node(
    config: BenchConfig, unit: Unit, run_dir: str
) -> tuple[dict[str, Any], float, str]:
    """:func:`execute_unit` in a Ray worker, with the id of the node it ran on."""
    import ray

    result, seconds = execute_unit(config, unit, run_dir)
    return result, seconds, str(ray.get_runtime_context().get_node_id())


def run_units_ray(
    config: BenchConfig,
    units: list[Unit],
    run_dir: Path,
    on_done: Callable[[Unit, dict[str, Any], float], None],
    address: str | None = None,
    num_cpus: int = 2,
) -> dict[str, NodeRecord]:
    """Run ``units`` as Ray tasks; ``on_done(unit, result, seconds)`` as each one finishes.

    Returns the nodes that ran units: node id -> ``{"ip", "hostname", "port", "units"}`` (the
    node's address, host name and node-manager port, and the keys of the units it ran).
    """
    ray = _import_ray()
    started_here = False
    if not ray.is_initialized():
        if address is None:
            require_range("num_cpus", num_cpus, 1)
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        else:
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            except ConnectionError as exc:
                raise ConfigError(
                    f"cannot reach the Ray cluster at `--address` {address!r}: {exc}; "
                    "start it with `ray start --head` or omit --address for a local cluster"
                ) from exc
        started_here = True
    ran: dict[str, list[str]] = {}
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_execute_on_node)
        pending = {task.remote(config, u, str(run_dir)): u for u in units}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            unit = pending.pop(ref)
            result, seconds, node_id = ray.get(ref)
            on_done(unit, result, seconds)
            ran.setdefault(node_id, []).append(unit.key)
        known = {str(n["NodeID"]): n for n in ray.nodes()}
    finally:
        if started_here:
            ray.shutdown()
    return {
        node_id: {
            "ip": known.get(node_id, {}).get("NodeManagerAddress"),
            "hostname": known.get(node_id, {}).get("NodeManagerHostname"),
            "port": known.get(node_id, {}).get("NodeManagerPort"),
            "units": sorted(keys),
        }
        for node_id, keys in sorted(ran.items())
    }
