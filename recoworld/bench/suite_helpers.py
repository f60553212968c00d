"""What the benchmark suites share: typed settings, name checks, one torch thread, seed statistics.

Each suite (:mod:`~recoworld.bench.suite_crs`, :mod:`~recoworld.bench.suite_feed`,
:mod:`~recoworld.bench.suite_llm`, :mod:`~recoworld.bench.suite_ope`) plans units, runs them and
summarises the rows; the pieces they all need live here once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from recoworld.bench.config import BenchConfig
from recoworld.bench.records import PlotSpec, Series
from recoworld.errors import ConfigError

__all__ = [
    "category_plot",
    "check_env_ids",
    "check_known",
    "mean_and_std",
    "one_torch_thread",
    "seed_series",
    "seeds_text",
    "short_id",
    "suite_settings",
]

SettingsT = TypeVar("SettingsT")


def suite_settings(config: BenchConfig, kind: type[SettingsT]) -> SettingsT:
    """``config.settings`` as the suite's settings class (the config checked it when loaded)."""
    settings = config.settings
    assert isinstance(settings, kind), f"{config.suite} suite got {type(settings).__name__}"
    return settings


def short_id(env_id: str) -> str:
    """``recoworld/ShortVideo-v0`` -> ``ShortVideo-v0`` (unit keys, plot names)."""
    return env_id.rsplit("/", 1)[-1]


def seeds_text(config: BenchConfig) -> str:
    """The run's seeds as the notes print them: ``0, 1, 2``."""
    return ", ".join(map(str, config.seeds))


def check_known(field: str, values: Iterable[str], known: Sequence[str], why: str = "") -> None:
    """Raise :class:`ConfigError` for the first of ``values`` not in ``known``."""
    for value in values:
        if value not in known:
            raise ConfigError(f"`{field}` holds {value!r}{why}; known: {', '.join(known)}")


def check_env_ids(
    field: str, env_ids: Iterable[str], belongs: Callable[[str], bool], family: str
) -> None:
    """Raise :class:`ConfigError` for the first id that is not of the suite's ``family``."""
    for env_id in env_ids:
        if not belongs(env_id):
            raise ConfigError(f"`{field}` holds {env_id!r}, which is not a {family} env id")


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread inside a unit, so its numbers do not depend on the process."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def mean_and_std(
    per_seed: npt.ArrayLike,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mean and standard deviation over seeds (axis 0, ``ddof=1``; zeros from a single seed)."""
    values = np.asarray(per_seed, dtype=np.float64)
    std = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1:])
    return values.mean(axis=0), std


def seed_series(label: str, x: npt.ArrayLike, per_seed: npt.ArrayLike) -> Series:
    """A line (or error bars) of the mean over seeds at ``x``, the std as its band."""
    mean, std = mean_and_std(per_seed)
    xs = np.asarray(x, dtype=np.float64)
    return Series(label, tuple(map(float, xs)), tuple(map(float, mean)), tuple(map(float, std)))


def category_plot(
    name: str, title: str, xlabel: str, ylabel: str, labels: Sequence[str],
    series: Sequence[Series],
) -> PlotSpec:
    """An error-bar plot over named categories (x = positions ``0 .. len(labels) - 1``)."""
    return PlotSpec(
        name=name,
        title=title,
        xlabel=xlabel,
        ylabel=ylabel,
        series=tuple(series),
        kind="errorbar",
        xticklabels=tuple(labels),
    )
