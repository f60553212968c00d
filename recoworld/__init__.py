"""RecoWorld: simulated environments for recommender systems.

Importing the package registers every environment id with Gymnasium, e.g.
``gymnasium.make("recoworld/Synthetic-CRS-v0")``.
"""

from __future__ import annotations

from recoworld.registration import register_all

__all__ = ["__version__"]
__version__ = "0.1.0"

register_all()
