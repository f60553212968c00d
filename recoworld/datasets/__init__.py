"""Worlds: loaders for released datasets, synthetic generators, the bundled default world.

Nothing is downloaded: loaders read a local folder (``data_dir=`` or ``$RECOWORLD_DATA``).
"""

from recoworld.datasets.coat import CoatData, load_coat
from recoworld.datasets.crs_loader import load_crs_release, load_taxonomy
from recoworld.datasets.feed_world import (
    FeedWorld,
    UserPopulation,
    VideoCatalogue,
    synthetic_feed_world,
)
from recoworld.datasets.kuairand import load_kuairand_world
from recoworld.datasets.kuairec import KuaiRecMatrix, kuairec_world, load_kuairec_matrix
from recoworld.datasets.registry import DATASETS, data_root, dataset_status, load_world
from recoworld.datasets.safe_pickle import load_fm_embeddings, load_pickle
from recoworld.datasets.synthetic import SyntheticWorldConfig, default_world, make_synthetic_world
from recoworld.datasets.world import SPLITS, AttributeGraphWorld
from recoworld.datasets.yahoo_r3 import YahooR3Data, load_yahoo_r3

__all__ = [
    "DATASETS",
    "SPLITS",
    "AttributeGraphWorld",
    "CoatData",
    "FeedWorld",
    "KuaiRecMatrix",
    "SyntheticWorldConfig",
    "UserPopulation",
    "VideoCatalogue",
    "YahooR3Data",
    "data_root",
    "dataset_status",
    "default_world",
    "kuairec_world",
    "load_coat",
    "load_crs_release",
    "load_fm_embeddings",
    "load_kuairand_world",
    "load_kuairec_matrix",
    "load_pickle",
    "load_taxonomy",
    "load_world",
    "load_yahoo_r3",
    "make_synthetic_world",
    "synthetic_feed_world",
]
