"""The dataset registry: names -> worlds, read from a path argument or ``$RECOWORLD_DATA``.

The data root holds one folder per family, as in the project's shared data::

    $RECOWORLD_DATA/crs/lastfm        LastFM (33 merged attributes)
    $RECOWORLD_DATA/crs/lastfm_star   LastFM* (8,438 original tags)
    $RECOWORLD_DATA/crs/yelp          Yelp release, or at least its 2-layer taxonomy

``synthetic`` needs no data.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoworld.datasets.crs_loader import load_crs_release
from recoworld.datasets.synthetic import default_world
from recoworld.datasets.world import AttributeGraphWorld, QuestionMode
from recoworld.datasets.yelp_synthetic import make_yelp_world
from recoworld.errors import ConfigError, DatasetNotFoundError

__all__ = ["DATASETS", "YELP_RELEASE", "DatasetSpec", "data_root", "dataset_status", "load_world"]

ENV_VAR = "RECOWORLD_DATA"

#: Where the authors' Yelp release (SCPR / UNICORN) is published, and what the loader reads.
YELP_RELEASE = (
    "the authors' Yelp release is public in the GitHub repositories of later CRS papers that "
    "kept its layout, e.g. Sky-Wanderer/Towards-Goal-oriented-Intelligent-Tutoring-Systems-in-"
    "Online-Education (data/yelp/ and data_backup/yelp/), rakanWen/Adacrs (dataset/yelp/) and "
    "ZYM6-6/MCMIPL (data/yelp_star/); put its Graph_generate_data/ (item_dict-original_tag.json, "
    "item_dict-merged_tag.json, user_dict.json, user_item.json, 2-layer taxonomy.json, ...), "
    "UI_Interaction_data/ and ID_map_info/ under crs/yelp/ as they are: the loader reads them "
    "unchanged"
)


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives under the data root and how its questions are asked."""

    name: str
    subdir: str
    question_mode: QuestionMode
    description: str
    full_release_file: str = "Graph_generate_data/item_dict.json"
    where: str = ""


DATASETS: dict[str, DatasetSpec] = {
    "lastfm": DatasetSpec(
        "lastfm", "crs/lastfm", "binary", "LastFM, 33 attributes, binary",
        where="the EAR / SCPR authors' release (lastfm/ in their repositories), read as it is",
    ),
    "lastfm_star": DatasetSpec(
        "lastfm_star", "crs/lastfm_star", "binary", "LastFM*, 8,438 attributes, binary",
        where="the SCPR / UNICORN authors' release (lastfm_star/), read as it is",
    ),
    "yelp": DatasetSpec(
        "yelp",
        "crs/yelp",
        "enumerated",
        "Yelp, 29 parents / 590 children, enumerated (without the full release: a synthetic "
        "world at the published scale on the real taxonomy, flagged synthetic in every output)",
        "Graph_generate_data/item_dict-original_tag.json",
        where=YELP_RELEASE,
    ),
    "yelp_star": DatasetSpec(
        "yelp_star",
        "crs/yelp",
        "binary",
        "Yelp*, 590 attributes, binary (without the full release: the same synthetic world, "
        "flagged synthetic)",
        "Graph_generate_data/item_dict-original_tag.json",
        where=YELP_RELEASE,
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
        where = f" ({spec.where})" if spec.where else ""
        raise DatasetNotFoundError(
            f"dataset {spec.name!r} not found at {path}; put the authors' release there "
            f"(Graph_generate_data/, UI_Interaction_data/, ID_map_info/) or point {ENV_VAR} "
            f"at the folder that holds crs/{where}"
        )
    return path


def load_world(name: str, data_dir: str | Path | None = None, **kwargs: Any) -> AttributeGraphWorld:
    """Load the world of dataset ``name``.

    Names: ``lastfm``, ``lastfm_star``, ``yelp``, ``yelp_star``, ``synthetic``. Worlds are cached
    per path. Yelp without its full release is a synthetic world at the published scale on the
    real taxonomy (:func:`recoworld.datasets.yelp_synthetic.make_yelp_world`; ``kwargs`` go to
    it: ``config``, ``seed``), built once for both Yelp ids; ``world.synthetic`` says which.
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
        if kwargs:
            raise ConfigError(
                f"dataset {name!r} is read from its release at {path}; the options "
                f"{sorted(k for k, _ in kwargs)} are for the synthetic world only"
            )
        return load_crs_release(path, name, spec.question_mode)
    if name in ("yelp", "yelp_star"):
        world = _synthetic_yelp(path, kwargs)
        if name == "yelp":
            return world
        return dataclasses.replace(
            world, name=name, question_mode="binary", parent_children=None, parent_names=()
        )
    return load_crs_release(path, name, spec.question_mode)


@functools.lru_cache(maxsize=2)
def _synthetic_yelp(path: str, kwargs: tuple[tuple[str, Any], ...]) -> AttributeGraphWorld:
    taxonomy = Path(path) / "Graph_generate_data" / "2-layer taxonomy.json"
    if not taxonomy.is_file():
        raise DatasetNotFoundError(
            f"{path} holds neither the Yelp release nor its taxonomy ({taxonomy} is missing); "
            + YELP_RELEASE
        )
    return make_yelp_world(path, "enumerated", name="yelp", **dict(kwargs))


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
                    "synthetic": True,
                    "where": "",
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
                "synthetic": bool(spec.name.startswith("yelp") and not full),
                "where": spec.where,
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
                "synthetic": False,
                "where": "",
            }
        )
    return rows
