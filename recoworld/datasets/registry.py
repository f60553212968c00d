"""The dataset registry: names -> worlds, read from a path argument or ``$RECOWORLD_DATA``.

The data root holds one folder per family, as in the project's shared data::

    $RECOWORLD_DATA/crs/lastfm        LastFM (33 merged attributes)
    $RECOWORLD_DATA/crs/lastfm_star   LastFM* (8,438 original tags)
    $RECOWORLD_DATA/crs/yelp          Yelp release, or at least its 2-layer taxonomy

``synthetic`` needs no data.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoworld.datasets.crs_loader import load_crs_release
from recoworld.datasets.synthetic import default_world, make_taxonomy_world
from recoworld.datasets.world import AttributeGraphWorld, QuestionMode
from recoworld.errors import ConfigError, DatasetNotFoundError

__all__ = ["DATASETS", "DatasetSpec", "data_root", "dataset_status", "load_world"]

ENV_VAR = "RECOWORLD_DATA"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives under the data root and how its questions are asked."""

    name: str
    subdir: str
    question_mode: QuestionMode
    description: str
    full_release_file: str = "Graph_generate_data/item_dict.json"


DATASETS: dict[str, DatasetSpec] = {
    "lastfm": DatasetSpec("lastfm", "crs/lastfm", "binary", "LastFM, 33 attributes, binary"),
    "lastfm_star": DatasetSpec(
        "lastfm_star", "crs/lastfm_star", "binary", "LastFM*, 8,438 attributes, binary"
    ),
    "yelp": DatasetSpec(
        "yelp",
        "crs/yelp",
        "enumerated",
        "Yelp, 29 parents / 590 children, enumerated (synthetic items on the real taxonomy "
        "unless the full release is present)",
        "Graph_generate_data/item_dict-original_tag.json",
    ),
    "yelp_star": DatasetSpec(
        "yelp_star",
        "crs/yelp",
        "binary",
        "Yelp*, 590 attributes, binary (synthetic items on the real taxonomy unless the full "
        "release is present)",
        "Graph_generate_data/item_dict-original_tag.json",
    ),
    "synthetic": DatasetSpec("synthetic", "", "binary", "bundled synthetic default world"),
}


# Datasets of the other families, read by their own loaders (`recoworld.datasets.coat`,
# `recoworld.datasets.kuairand`); listed here so that `recoworld datasets` shows every one.
_OTHER_DATASETS: dict[str, tuple[str, str]] = {
    "coat": ("coat", "Coat: MNAR train + MCAR test ratings, propensities (estimators)"),
    "kuairand_pure": ("kuairand_pure", "KuaiRand-Pure user and video features (feed env)"),
}


def data_root(data_dir: str | Path | None = None) -> Path | None:
    """The data root: ``data_dir`` if given, else ``$RECOWORLD_DATA``, else ``None``."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else None


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[name]


def _dataset_dir(spec: DatasetSpec, data_dir: str | Path | None) -> Path:
    root = data_root(data_dir)
    if root is None:
        raise DatasetNotFoundError(
            f"dataset {spec.name!r} needs its files: pass `data_dir=` (or --data-dir) or set "
            f"{ENV_VAR} to a folder holding {spec.subdir}/ in the authors' released layout"
        )
    path = root / spec.subdir
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"dataset {spec.name!r} not found at {path}; put the authors' release there "
            f"(Graph_generate_data/, UI_Interaction_data/, ID_map_info/) or point {ENV_VAR} "
            "at the folder that holds crs/"
        )
    return path


def load_world(name: str, data_dir: str | Path | None = None, **kwargs: Any) -> AttributeGraphWorld:
    """Load the world of dataset ``name``.

    Names: ``lastfm``, ``lastfm_star``, ``yelp``, ``yelp_star``, ``synthetic``. Real datasets are cached per path; ``kwargs`` go to the synthetic generator
    of Yelp when only the taxonomy is present (``config``, ``seed``).
    """
    spec = _spec(name)
    if name == "synthetic":
        if kwargs:
            raise ConfigError(f"dataset 'synthetic' takes no options, got {sorted(kwargs)}")
        return default_world()
    path = _dataset_dir(spec, data_dir).resolve()
    return _load_cached(name, str(path), tuple(sorted(kwargs.items())))


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, path: str, kwargs: tuple[tuple[str, Any], ...]) -> AttributeGraphWorld:
    spec = DATASETS[name]
    if (Path(path) / spec.full_release_file).is_file():
        return load_crs_release(path, name, spec.question_mode)
    if name in ("yelp", "yelp_star"):
        return make_taxonomy_world(path, spec.question_mode, name=name, **dict(kwargs))
    return load_crs_release(path, name, spec.question_mode)


def dataset_status(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per dataset: name, whether it is present, where, and what it is."""
    root = data_root(data_dir)
    rows = []
    for spec in DATASETS.values():
        if spec.name == "synthetic":
            rows.append(
                {
                    "name": spec.name,
                    "present": True,
                    "path": "(bundled)",
                    "description": spec.description,
                }
            )
            continue
        path = root / spec.subdir if root is not None else None
        present = path is not None and path.is_dir()
        full = present and path is not None and (path / spec.full_release_file).is_file()
        desc = spec.description
        if present and spec.name.startswith("yelp"):
            desc += " [full release]" if full else " [taxonomy only: synthetic items]"
        rows.append(
            {
                "name": spec.name,
                "present": present,
                "path": str(path) if path is not None else f"(set {ENV_VAR})",
                "description": desc,
            }
        )
    for name, (subdir, description) in _OTHER_DATASETS.items():
        path = root / subdir if root is not None else None
        rows.append(
            {
                "name": name,
                "present": path is not None and path.is_dir(),
                "path": str(path) if path is not None else f"(set {ENV_VAR})",
                "description": description,
            }
        )
    return rows
