"""Loader for the authors' released layout of the EAR / SCPR / UNICORN datasets.

Layout (one directory per dataset)::

    Graph_generate_data/item_dict.json          {item: {"feature_index": [attr, ...], ...}}
                       (Yelp: item_dict-original_tag.json, same shape, child attribute ids)
    Graph_generate_data/user_dict.json          {user: {"friends": [...], "like": [...]}}
    Graph_generate_data/user_item.json          {user: [item, ...]}   every interaction
    Graph_generate_data/user_item_train.json    {user: [item, ...]}   training graph (optional)
    Graph_generate_data/2-layer taxonomy.json   {parent name: [child, ...]}   (Yelp only)
    UI_Interaction_data/review_dict_{train,valid,test}.json   {user: [item, ...]}
    ID_map_info/tag_reverse_map.json            {attr: {"real_name": [name]}}  (optional names)
    ID_map_info/item_reverse_map.json           {item: {"real_name": [name]}}  (optional names)

Every file and id is validated; errors name the file, the key and what was expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recoworld.datasets.world import SPLITS, AttributeGraphWorld, QuestionMode
from recoworld.errors import DataError, DatasetNotFoundError

__all__ = ["load_crs_release", "load_taxonomy"]

_ITEM_FILES = ("item_dict.json", "item_dict-original_tag.json")
_ATTR_NAME_FILES = ("tag_reverse_map.json", "second-layer_tag_reverse_map.json")
_PARENT_NAME_FILE = "first-layer_merged_tag_map.json"
_TAXONOMY_FILE = "2-layer taxonomy.json"


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DatasetNotFoundError(
            f"missing file {path}; the dataset directory must hold the authors' released layout "
            "(Graph_generate_data/, UI_Interaction_data/, ID_map_info/)"
        )
    try:
        with path.open("rb") as fh:
            return json.loads(fh.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON (truncated or corrupt?): {exc}") from exc


def _as_dict(obj: Any, path: Path) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a JSON object keyed by id, got {type(obj).__name__}")
    return obj


def _int_key(key: str, path: Path, bound: int, what: str) -> int:
    try:
        value = int(key)
    except ValueError:
        raise DataError(f"{path}: key {key!r} is not an integer {what} id") from None
    if not 0 <= value < bound:
        raise DataError(f"{path}: {what} id {value} (key {key!r}) out of range [0, {bound})")
    return value


def _id_list(values: Any, path: Path, key: str, bound: int, what: str) -> list[int]:
    if not isinstance(values, list):
        raise DataError(
            f"{path}: key {key!r}: expected a list of {what} ids, got {type(values).__name__}"
        )
    out: list[int] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise DataError(f"{path}: key {key!r}: {what} id {v!r} is not an integer")
        if not 0 <= v < bound:
            raise DataError(f"{path}: key {key!r}: {what} id {v} out of range [0, {bound})")
        out.append(v)
    return out


def _contiguous_count(d: dict[str, Any], path: Path, what: str) -> int:
    try:
        ids = sorted(int(k) for k in d)
    except ValueError as exc:
        raise DataError(f"{path}: every key must be an integer {what} id ({exc})") from None
    if not ids:
        raise DataError(f"{path}: holds no {what}")
    if ids[0] != 0 or ids[-1] != len(ids) - 1:
        raise DataError(f"{path}: {what} ids must be 0..{len(ids) - 1} without gaps")
    return len(ids)


def _user_item_matrix(d: dict[str, Any], path: Path, n_users: int, n_items: int) -> sp.csr_matrix:
    rows: list[int] = []
    cols: list[int] = []
    for key, items in d.items():
        u = _int_key(key, path, n_users, "user")
        ids = _id_list(items, path, key, n_items, "item")
        rows.extend([u] * len(ids))
        cols.extend(ids)
    return sp.csr_matrix(
        (np.ones(len(rows), dtype=np.bool_), (rows, cols)), shape=(n_users, n_items)
    )


def _pairs(d: dict[str, Any], path: Path, n_users: int, n_items: int) -> npt.NDArray[np.int64]:
    pairs: list[tuple[int, int]] = []
    for key, items in d.items():
        u = _int_key(key, path, n_users, "user")
        pairs.extend((u, v) for v in _id_list(items, path, key, n_items, "item"))
    if not pairs:
        raise DataError(f"{path}: the split is empty (no user-item pair)")
    return np.asarray(pairs, dtype=np.int64)


def _names(path: Path | None, n: int, what: str) -> tuple[str, ...]:
    if path is None or not path.is_file():
        return tuple(f"{what}_{i}" for i in range(n))
    d = _as_dict(_read_json(path), path)
    names = [f"{what}_{i}" for i in range(n)]
    for key, entry in d.items():
        i = _int_key(key, path, n, what)
        if isinstance(entry, dict) and entry.get("real_name"):
            names[i] = str(entry["real_name"][0])
    return tuple(names)


def load_crs_release(
    root: str | Path,
    name: str,
    question_mode: QuestionMode = "binary",
) -> AttributeGraphWorld:
    """Load one dataset of the EAR / SCPR / UNICORN release from directory ``root``.

    Args:
        root: The dataset directory (e.g. ``.../crs/lastfm``).
        name: The world's name (``"lastfm"``, ``"lastfm_star"``, ``"yelp"``, ``"yelp_star"``).
        question_mode: ``"enumerated"`` reads ``2-layer taxonomy.json`` and asks parents.

    Raises:
        DatasetNotFoundError: ``root`` or a required file does not exist.
        DataError: a file is not valid JSON, an id is out of range, or a split is empty.

    """
    base = Path(root)
    if not base.is_dir():
        raise DatasetNotFoundError(
            f"dataset directory {base} does not exist; put the authors' release of {name!r} "
            "there or point RECOWORLD_DATA at the folder that holds crs/"
        )
    graph = base / "Graph_generate_data"
    item_path = next(
        (graph / f for f in _ITEM_FILES if (graph / f).is_file()), graph / _ITEM_FILES[0]
    )
    item_dict = _as_dict(_read_json(item_path), item_path)
    n_items = _contiguous_count(item_dict, item_path, "item")

    ui_path = graph / "user_item.json"
    user_item = _as_dict(_read_json(ui_path), ui_path)
    n_users = _contiguous_count(user_item, ui_path, "user")

    name_path = next(
        (
            base / "ID_map_info" / f
            for f in _ATTR_NAME_FILES
            if (base / "ID_map_info" / f).is_file()
        ),
        None,
    )
    feature_lists: list[Any] = []
    max_attr = -1
    for key, entry in item_dict.items():
        if not isinstance(entry, dict) or "feature_index" not in entry:
            raise DataError(f"{item_path}: item {key!r} lacks the 'feature_index' list")
        feats = entry["feature_index"]
        if not isinstance(feats, list):
            raise DataError(f"{item_path}: item {key!r}: 'feature_index' must be a list")
        feature_lists.append((key, feats))
        max_attr = max([max_attr, *(f for f in feats if isinstance(f, int))])
    if name_path is not None:
        n_attr = len(_as_dict(_read_json(name_path), name_path))
    else:
        n_attr = max_attr + 1
    rows: list[int] = []
    cols: list[int] = []
    for key, feats in feature_lists:
        v = _int_key(key, item_path, n_items, "item")
        ids = _id_list(feats, item_path, key, n_attr, "attribute")
        rows.extend([v] * len(ids))
        cols.extend(ids)
    item_attributes = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.bool_), (rows, cols)), shape=(n_items, n_attr)
    )

    user_items = _user_item_matrix(user_item, ui_path, n_users, n_items)
    uid_path = base / "UI_Interaction_data"
    sessions = {}
    for split in SPLITS:
        p = uid_path / f"review_dict_{split}.json"
        sessions[split] = _pairs(_as_dict(_read_json(p), p), p, n_users, n_items)
    train_path = graph / "user_item_train.json"
    if train_path.is_file():
        user_items_train = _user_item_matrix(
            _as_dict(_read_json(train_path), train_path), train_path, n_users, n_items
        )
    else:
        tr = sessions["train"]
        user_items_train = sp.csr_matrix(
            (np.ones(len(tr), dtype=np.bool_), (tr[:, 0], tr[:, 1])), shape=(n_users, n_items)
        )

    ud_path = graph / "user_dict.json"
    user_dict = _as_dict(_read_json(ud_path), ud_path)
    f_rows: list[int] = []
    f_cols: list[int] = []
    l_rows: list[int] = []
    l_cols: list[int] = []
    for key, entry in user_dict.items():
        u = _int_key(key, ud_path, n_users, "user")
        if not isinstance(entry, dict):
            raise DataError(
                f"{ud_path}: user {key!r}: expected an object with 'friends' and 'like'"
            )
        friends = _id_list(entry.get("friends", []), ud_path, key, n_users, "user")
        likes = _id_list(entry.get("like", []), ud_path, key, n_attr, "attribute")
        f_rows.extend([u] * len(friends))
        f_cols.extend(friends)
        l_rows.extend([u] * len(likes))
        l_cols.extend(likes)
    friends_m = sp.csr_matrix(
        (np.ones(len(f_rows), dtype=np.bool_), (f_rows, f_cols)), shape=(n_users, n_users)
    )
    likes_m = sp.csr_matrix(
        (np.ones(len(l_rows), dtype=np.bool_), (l_rows, l_cols)), shape=(n_users, n_attr)
    )

    item_name_path = base / "ID_map_info" / "item_reverse_map.json"
    item_names = _names(item_name_path, n_items, "item") if item_name_path.is_file() else ()
    parent_children = None
    parent_names: tuple[str, ...] = ()
    if question_mode == "enumerated":
        parent_children, parent_names = load_taxonomy(base, n_attr)
    return AttributeGraphWorld(
        name=name,
        item_attributes=item_attributes,
        user_items=user_items,
        user_items_train=user_items_train,
        friends=friends_m,
        user_attributes=likes_m,
        sessions=sessions,
        attribute_names=_names(name_path, n_attr, "attribute"),
        question_mode=question_mode,
        parent_children=parent_children,
        parent_names=parent_names,
        item_names=item_names,
    )


def load_taxonomy(base: str | Path, n_attributes: int) -> tuple[sp.csr_matrix, tuple[str, ...]]:
    """Read ``2-layer taxonomy.json`` (parent name -> child ids) of a Yelp-style release.

    Parents are ordered by ``first-layer_merged_tag_map.json`` when present (name -> index),
    else by their order in the taxonomy file.
    """
    base = Path(base)
    tax_path = base / "Graph_generate_data" / _TAXONOMY_FILE
    taxonomy = _as_dict(_read_json(tax_path), tax_path)
    order_path = base / "Graph_generate_data" / _PARENT_NAME_FILE
    if order_path.is_file():
        order = _as_dict(_read_json(order_path), order_path)
        missing = sorted(set(taxonomy) - set(order))
        if missing:
            raise DataError(f"{order_path}: parents {missing} of {tax_path.name} have no index")
        names = sorted(taxonomy, key=lambda k: int(order[k]))
    else:
        names = list(taxonomy)
    rows: list[int] = []
    cols: list[int] = []
    for p, parent in enumerate(names):
        ids = _id_list(taxonomy[parent], tax_path, parent, n_attributes, "attribute")
        rows.extend([p] * len(ids))
        cols.extend(ids)
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.bool_), (rows, cols)), shape=(len(names), n_attributes)
    )
    return matrix, tuple(names)
