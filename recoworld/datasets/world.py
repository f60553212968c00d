"""The attribute-graph world of conversational recommendation (EAR / SCPR / UNICORN).

A world is immutable: loaders and generators build it once, environments and users only read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recoworld.errors import DataError

__all__ = ["SPLITS", "AttributeGraphWorld", "QuestionMode"]

QuestionMode = Literal["binary", "enumerated"]
SPLITS = ("train", "valid", "test")


def _frozen_csr(
    matrix: sp.csr_matrix | sp.csr_array, shape: tuple[int, int], what: str
) -> sp.csr_matrix:
    csr = sp.csr_matrix(matrix, dtype=np.bool_)
    if csr.shape != shape:
        raise DataError(f"`{what}` must have shape {shape}, got {csr.shape}")
    csr.sum_duplicates()
    csr.sort_indices()
    for arr in (csr.data, csr.indices, csr.indptr):
        arr.flags.writeable = False
    return csr


@dataclass(frozen=True, eq=False)
class AttributeGraphWorld:
    """Users, items and attributes of a conversational recommendation dataset.

    Attributes:
        name: Short dataset name, e.g. ``"lastfm"``.
        item_attributes: Boolean ``(n_items, n_attributes)`` CSR matrix: item ``v`` holds attribute ``a``.
        user_items: Boolean ``(n_users, n_items)`` CSR matrix of every observed interaction.
        user_items_train: The interactions of the training split only (the graph agents may reason on;
            valid and test pairs are excluded so that nothing leaks).
        friends: Boolean ``(n_users, n_users)`` friendship matrix (empty where the dataset has none).
        user_attributes: Boolean ``(n_users, n_attributes)``: attributes a user declared liking.
        sessions: Split name -> ``(n, 2)`` int64 array of ``(user, target item)`` pairs, in file order.
        attribute_names: One name per attribute.
        question_mode: ``"binary"`` (ask one attribute, yes/no) or ``"enumerated"`` (ask a parent,
            the user picks its children that the target holds).
        parent_children: Boolean ``(n_parents, n_attributes)`` taxonomy, required in enumerated mode.
            A child may sit under several parents (the Yelp taxonomy does this).
        parent_names: One name per parent.
        item_names: One display name per item, or empty where the dataset has none.
        synthetic: Whether users, items or interactions were generated rather than read from a
            released dataset (every evaluation output carries this flag).

    """

    name: str
    item_attributes: sp.csr_matrix
    user_items: sp.csr_matrix
    user_items_train: sp.csr_matrix
    friends: sp.csr_matrix
    user_attributes: sp.csr_matrix
    sessions: Mapping[str, npt.NDArray[np.int64]]
    attribute_names: tuple[str, ...]
    question_mode: QuestionMode = "binary"
    parent_children: sp.csr_matrix | None = None
    parent_names: tuple[str, ...] = ()
    item_names: tuple[str, ...] = ()
    synthetic: bool = False
    _item_attr_sets: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]] = field(
        init=False, repr=False
    )

    def __post_init__(self) -> None:
        n_items, n_attr = self.item_attributes.shape
        n_users = self.user_items.shape[0]
        set_ = object.__setattr__
        set_(
            self,
            "item_attributes",
            _frozen_csr(self.item_attributes, (n_items, n_attr), "item_attributes"),
        )
        set_(self, "user_items", _frozen_csr(self.user_items, (n_users, n_items), "user_items"))
        set_(
            self,
            "user_items_train",
            _frozen_csr(self.user_items_train, (n_users, n_items), "user_items_train"),
        )
        set_(self, "friends", _frozen_csr(self.friends, (n_users, n_users), "friends"))
        set_(
            self,
            "user_attributes",
            _frozen_csr(self.user_attributes, (n_users, n_attr), "user_attributes"),
        )
        if len(self.attribute_names) != n_attr:
            raise DataError(
                f"`attribute_names` must have {n_attr} entries, got {len(self.attribute_names)}"
            )
        if self.item_names and len(self.item_names) != n_items:
            raise DataError(
                f"`item_names` must be empty or have {n_items} entries, got {len(self.item_names)}"
            )
        if self.question_mode not in ("binary", "enumerated"):
            raise DataError(
                f"`question_mode` must be 'binary' or 'enumerated', got {self.question_mode!r}"
            )
        if self.question_mode == "enumerated" and self.parent_children is None:
            raise DataError("`parent_children` is required when `question_mode` is 'enumerated'")
        if self.parent_children is not None:
            n_par = self.parent_children.shape[0]
            set_(
                self,
                "parent_children",
                _frozen_csr(self.parent_children, (n_par, n_attr), "parent_children"),
            )
            if len(self.parent_names) != n_par:
                raise DataError(
                    f"`parent_names` must have {n_par} entries, got {len(self.parent_names)}"
                )
        sessions: dict[str, npt.NDArray[np.int64]] = {}
        for split, pairs in self.sessions.items():
            arr = np.ascontiguousarray(pairs, dtype=np.int64).reshape(-1, 2)
            if arr.size and (arr[:, 0].min() < 0 or arr[:, 0].max() >= n_users):
                raise DataError(f"split {split!r}: user id out of range [0, {n_users})")
            if arr.size and (arr[:, 1].min() < 0 or arr[:, 1].max() >= n_items):
                raise DataError(f"split {split!r}: item id out of range [0, {n_items})")
            arr.flags.writeable = False
            sessions[split] = arr
        set_(self, "sessions", MappingProxyType(sessions))
        ia = self.item_attributes
        set_(self, "_item_attr_sets", (ia.indptr.astype(np.int32), ia.indices.astype(np.int32)))

    # ---- sizes ---------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        """Number of users."""
        return int(self.user_items.shape[0])

    @property
    def n_items(self) -> int:
        """Number of items."""
        return int(self.item_attributes.shape[0])

    @property
    def n_attributes(self) -> int:
        """Number of (child) attributes."""
        return int(self.item_attributes.shape[1])

    @property
    def n_parents(self) -> int:
        """Number of parent attributes (0 without a taxonomy)."""
        return 0 if self.parent_children is None else int(self.parent_children.shape[0])

    @property
    def n_questions(self) -> int:
        """Number of askable questions: attributes in binary mode, parents in enumerated mode."""
        return self.n_parents if self.question_mode == "enumerated" else self.n_attributes

    @property
    def n_interactions(self) -> int:
        """Number of observed user-item interactions."""
        return int(self.user_items.nnz)

    # ---- lookups -------------------------------------------------------------------------------
    def attributes_of(self, item: int) -> npt.NDArray[np.int32]:
        """Sorted attribute ids of ``item`` (a read-only view)."""
        indptr, indices = self._item_attr_sets
        out: npt.NDArray[np.int32] = indices[indptr[item] : indptr[item + 1]]
        return out

    def item_name(self, item: int) -> str:
        """Display name of ``item``: its name where the world has names, else ``item <id>``."""
        return self.item_names[item] if self.item_names else f"item {item}"

    def question_name(self, question: int) -> str:
        """Display name of a question: the attribute (binary) or parent (enumerated) asked."""
        if self.question_mode == "enumerated":
            return self.parent_names[question]
        return self.attribute_names[question]

    def children_of(self, parent: int) -> npt.NDArray[np.int32]:
        """Sorted child attribute ids of ``parent`` (enumerated worlds only)."""
        if self.parent_children is None:
            raise DataError(f"world {self.name!r} has no attribute taxonomy")
        pc = self.parent_children
        out: npt.NDArray[np.int32] = pc.indices[pc.indptr[parent] : pc.indptr[parent + 1]]
        return out

    def split(self, name: str) -> npt.NDArray[np.int64]:
        """The ``(user, target)`` pairs of split ``name``."""
        if name not in self.sessions:
            raise DataError(
                f"world {self.name!r} has no split {name!r}; available: {sorted(self.sessions)}"
            )
        return self.sessions[name]

    def item_popularity(self) -> npt.NDArray[np.float64]:
        """Training-interaction count of every item (the popularity prior of rule agents)."""
        return np.asarray(self.user_items_train.sum(axis=0), dtype=np.float64).ravel()

    def summary(self) -> dict[str, int]:
        """Counts that identify the world (users, items, attributes, interactions, split sizes)."""
        out = {
            "users": self.n_users,
            "items": self.n_items,
            "attributes": self.n_attributes,
            "parents": self.n_parents,
            "interactions": self.n_interactions,
        }
        for split, pairs in self.sessions.items():
            out[f"{split}_pairs"] = len(pairs)
        return out
