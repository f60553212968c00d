"""Typed, validated logged-data containers backed by polars: bandit logs and trajectories.

A :class:`BanditLog` holds one row per logged decision (context features, action, optional slate
position, reward, logging propensity): the Open Bandit Pipeline's ``bandit_feedback`` dict as a
checked table. A :class:`TrajectoryLog` holds one row per environment step (episode, step,
observation features, action, reward, propensity, done) and, optionally, the action
distributions of evaluation policies at every logged observation. Both check their schema and
values when built, so the estimators never see a propensity of zero or an action outside the
action space, and both round-trip through parquet with their metadata.

The estimators are unbiased only if ``pscore`` is the probability with which the logging policy
really drew the logged action; nothing in a log can check that, so log it where the action is
drawn (:func:`~recoworld.estimators.collect` does).

References: Saito, Aihara, Matsutani & Narita, "Open Bandit Dataset and Pipeline", NeurIPS 2021
Datasets and Benchmarks (the ``bandit_feedback`` fields).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from recoworld._validate import require_range
from recoworld.errors import DataError, EstimatorInputError

__all__ = ["BanditLog", "TrajectoryLog", "check_action_dist", "check_pscore"]

_FloatArray = npt.NDArray[np.float64]
_IntArray = npt.NDArray[np.int64]
_META_KEY = "recoworld.logged_data"
_EVAL_PREFIX = "eval_dist__"


def _as_1d(name: str, values: npt.ArrayLike, dtype: type[np.generic]) -> npt.NDArray[np.generic]:
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged nesting and the like
        raise EstimatorInputError(f"`{name}` must be a one-dimensional array: {exc}") from None
    if arr.ndim != 1:
        raise EstimatorInputError(f"`{name}` must be one-dimensional, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "biuf":
        raise EstimatorInputError(f"`{name}` must hold numbers, got dtype {arr.dtype}")
    if dtype is np.int64:
        if arr.size and arr.dtype.kind == "f":
            whole = np.isfinite(arr) & (np.abs(arr) < 2.0**62)
            if not np.all(whole) or not np.all(arr == np.round(arr)):
                raise EstimatorInputError(f"`{name}` must hold integers, got dtype {arr.dtype}")
        if arr.size and arr.dtype.kind == "u" and int(arr.max()) > np.iinfo(np.int64).max:
            raise EstimatorInputError(f"`{name}` holds integers beyond int64, max={arr.max()}")
        return np.ascontiguousarray(arr, dtype=np.int64)
    out = np.ascontiguousarray(arr, dtype=np.float64)
    if out.size and not np.all(np.isfinite(out)):
        raise EstimatorInputError(f"`{name}` must be finite, got {int(np.sum(~np.isfinite(out)))} "
                                  "non-finite values (NaN or inf)")
    return out


def _check_lengths(lengths: Mapping[str, int]) -> int:
    sizes = set(lengths.values())
    if len(sizes) > 1:
        listing = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise EstimatorInputError(f"all logged arrays must have the same length, got {listing}")
    n = sizes.pop()
    if n == 0:
        raise EstimatorInputError("the log must hold at least one row, got 0 rows")
    return n


def check_pscore(pscore: _FloatArray, name: str = "pscore") -> None:
    """Raise :class:`EstimatorInputError` unless every propensity lies in (0, 1].

    A zero propensity would make every importance weight infinite: a logging policy that never
    takes an action cannot be corrected for (no common support).
    """
    lo, hi = float(pscore.min()), float(pscore.max())
    if lo <= 0.0 or hi > 1.0:
        raise EstimatorInputError(
            f"`{name}` must be in (0, 1], got min={lo:g}, max={hi:g}; a logging policy that never "
            "takes an action cannot be corrected for, log the propensity it really used"
        )


def _check_actions(action: _IntArray, n_actions: int, name: str = "action") -> None:
    lo, hi = int(action.min()), int(action.max())
    if lo < 0 or hi >= n_actions:
        raise EstimatorInputError(
            f"`{name}` must lie in the action space [0, {n_actions - 1}] (n_actions={n_actions}), "
            f"got min={lo}, max={hi}"
        )


def _context_matrix(context: npt.ArrayLike | None, n: int) -> _FloatArray | None:
    if context is None:
        return None
    ctx = np.asarray(context, dtype=np.float64)
    if ctx.ndim == 1:
        ctx = ctx[:, None]
    if ctx.ndim != 2:
        raise EstimatorInputError(f"`context` must be a (n_rows, n_features) matrix, "
                                  f"got shape {ctx.shape}")
    if ctx.shape[0] != n:
        raise EstimatorInputError(f"all logged arrays must have the same length, got "
                                  f"action={n}, context={ctx.shape[0]}")
    if not np.all(np.isfinite(ctx)):
        raise EstimatorInputError("`context` must be finite, got NaN or inf entries")
    return np.ascontiguousarray(ctx)


def _matrix_column(mat: _FloatArray) -> pl.Series:
    return pl.Series(mat).cast(pl.Array(pl.Float64, mat.shape[1]))


def _column_matrix(frame: pl.DataFrame, name: str) -> _FloatArray:
    return np.ascontiguousarray(frame.get_column(name).to_numpy(), dtype=np.float64)


@dataclass(frozen=True)
class BanditLog:
    """Logged contextual-bandit (or slate) feedback: one row per decision.

    Build it with :meth:`from_arrays`; the frame has the columns ``action`` (Int64), ``reward``
    (Float64), ``pscore`` (Float64, the logging policy's probability of the logged action at the
    logged position), optional ``position`` (Int64, 0-based slot in the slate) and optional
    ``context`` (Array[Float64, d]). Every value is checked: ``pscore`` in (0, 1], actions in
    ``[0, n_actions)``, positions in ``[0, len_list)``, rewards finite, equal lengths.

    The numpy views (:attr:`action`, :attr:`reward`, ...) are computed once and cached, so that
    estimators over tens of millions of rows pay no conversion per call.
    """

    frame: pl.DataFrame
    """The validated rows."""
    n_actions: int
    """Size of the action space; actions are ``0 .. n_actions - 1``."""
    len_list: int = 1
    """Number of slate positions; 1 for a plain bandit."""
    _arrays: dict[str, npt.NDArray[np.generic]] = field(default_factory=dict, repr=False,
                                                       compare=False)
    _validated: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built directly from a frame (not through from_arrays): validate it the same way.
        if not self._validated:
            checked = BanditLog.from_frame(self.frame, self.n_actions, self.len_list)
            self._arrays.update(checked._arrays)

    @classmethod
    def from_arrays(
        cls,
        action: npt.ArrayLike,
        reward: npt.ArrayLike,
        pscore: npt.ArrayLike,
        n_actions: int,
        *,
        context: npt.ArrayLike | None = None,
        position: npt.ArrayLike | None = None,
        len_list: int | None = None,
    ) -> BanditLog:
        """Validate numpy-like arrays and wrap them in a :class:`BanditLog`.

        Args:
            action: ``(n_rows,)`` logged actions in ``[0, n_actions)``.
            reward: ``(n_rows,)`` finite rewards.
            pscore: ``(n_rows,)`` logging probabilities of the logged actions, in (0, 1].
            n_actions: size of the action space.
            context: ``(n_rows, n_features)`` (or ``(n_rows,)``) context features, or ``None``.
            position: ``(n_rows,)`` 0-based slate positions, or ``None`` for a plain bandit.
            len_list: number of slate positions (default: the largest position + 1).

        Returns:
            The validated log.

        Raises:
            EstimatorInputError: a value out of range or arrays of different lengths (the message
                names the argument and what it got).

        """
        require_range("n_actions", n_actions, 1, error=EstimatorInputError)
        a = _as_1d("action", action, np.int64)
        r = _as_1d("reward", reward, np.float64)
        p = _as_1d("pscore", pscore, np.float64)
        lengths = {"action": a.size, "reward": r.size, "pscore": p.size}
        pos = None if position is None else _as_1d("position", position, np.int64)
        if pos is not None:
            lengths["position"] = pos.size
        n = _check_lengths(lengths)
        check_pscore(p)  # type: ignore[arg-type]
        _check_actions(a, int(n_actions))  # type: ignore[arg-type]
        n_pos = 1
        if pos is not None:
            n_pos = int(pos.max()) + 1 if len_list is None else int(len_list)
            if int(pos.min()) < 0 or int(pos.max()) >= n_pos:
                raise EstimatorInputError(
                    f"`position` must lie in [0, {n_pos - 1}] (len_list={n_pos}), "
                    f"got min={int(pos.min())}, max={int(pos.max())}"
                )
        elif len_list not in (None, 1):
            raise EstimatorInputError(f"`len_list`={len_list} needs a `position` array, got None")
        ctx = _context_matrix(context, n)
        cols: dict[str, pl.Series] = {
            "action": pl.Series("action", a, dtype=pl.Int64),
            "reward": pl.Series("reward", r, dtype=pl.Float64),
            "pscore": pl.Series("pscore", p, dtype=pl.Float64),
        }
        arrays: dict[str, npt.NDArray[np.generic]] = {"action": a, "reward": r, "pscore": p}
        if pos is not None:
            cols["position"] = pl.Series("position", pos, dtype=pl.Int64)
            arrays["position"] = pos
        if ctx is not None:
            cols["context"] = _matrix_column(ctx).alias("context")
            arrays["context"] = ctx
        return cls(pl.DataFrame(cols), int(n_actions), n_pos, arrays, _validated=True)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, n_actions: int, len_list: int = 1) -> BanditLog:
        """Validate a polars frame with the :class:`BanditLog` schema."""
        missing = [c for c in ("action", "reward", "pscore") if c not in frame.columns]
        if missing:
            raise DataError(f"a bandit log needs the columns action, reward, pscore; "
                            f"missing {missing}, got {frame.columns}")
        ctx = _column_matrix(frame, "context") if "context" in frame.columns else None
        pos = frame.get_column("position").to_numpy() if "position" in frame.columns else None
        return cls.from_arrays(
            frame.get_column("action").to_numpy(),
            frame.get_column("reward").to_numpy(),
            frame.get_column("pscore").to_numpy(),
            n_actions,
            context=ctx,
            position=pos,
            len_list=len_list if pos is not None else None,
        )

    def _array(self, name: str) -> npt.NDArray[np.generic]:
        if name not in self._arrays:
            if name == "context":
                self._arrays[name] = _column_matrix(self.frame, name)
            else:
                self._arrays[name] = self.frame.get_column(name).to_numpy()
        return self._arrays[name]

    @property
    def n_rows(self) -> int:
        """Number of logged decisions."""
        return self.frame.height

    @property
    def action(self) -> _IntArray:
        """Logged actions, shape ``(n_rows,)``."""
        return self._array("action")  # type: ignore[return-value]

    @property
    def reward(self) -> _FloatArray:
        """Observed rewards, shape ``(n_rows,)``."""
        return self._array("reward")  # type: ignore[return-value]

    @property
    def pscore(self) -> _FloatArray:
        """Logging propensities of the logged actions, shape ``(n_rows,)``."""
        return self._array("pscore")  # type: ignore[return-value]

    @property
    def position(self) -> _IntArray | None:
        """Slate positions, shape ``(n_rows,)``, or ``None`` for a plain bandit."""
        if "position" not in self.frame.columns:
            return None
        return self._array("position")  # type: ignore[return-value]

    @property
    def context(self) -> _FloatArray | None:
        """Context features, shape ``(n_rows, n_features)``, or ``None``."""
        if "context" not in self.frame.columns:
            return None
        return self._array("context")  # type: ignore[return-value]

    def save(self, path: str | Path) -> None:
        """Write the log to a parquet file (the action-space sizes go in its metadata)."""
        meta = {"kind": "bandit", "n_actions": self.n_actions, "len_list": self.len_list}
        self.frame.write_parquet(Path(path), metadata={_META_KEY: json.dumps(meta)})

    @classmethod
    def load(cls, path: str | Path) -> BanditLog:
        """Read and re-validate a log written by :meth:`save`."""
        meta = _read_meta(Path(path), "bandit")
        return cls.from_frame(pl.read_parquet(Path(path)), int(str(meta["n_actions"])),
                              int(str(meta["len_list"])))


def _read_meta(path: Path, kind: str) -> dict[str, object]:
    if not path.is_file():
        raise DataError(f"logged-data file {str(path)!r} does not exist; write it with .save()")
    meta_raw = pl.read_parquet_metadata(path).get(_META_KEY)
    if meta_raw is None:
        raise DataError(f"{str(path)!r} has no {_META_KEY!r} metadata; it was not written by "
                        f"RecoWorld's {kind} log .save()")
    meta: dict[str, object] = json.loads(meta_raw)
    if meta.get("kind") != kind:
        raise DataError(f"{str(path)!r} holds a {meta.get('kind')!r} log, expected {kind!r}")
    return meta


@dataclass(frozen=True)
class TrajectoryLog:
    """Logged episodes: one row per environment step.

    Columns: ``episode`` (Int64, 0-based, contiguous), ``step`` (Int64, 0, 1, ... within each
    episode), ``observation`` (Array[Float64, d], the observation features the policies saw),
    ``action``, ``reward``, ``pscore`` (logging probability of the logged action), ``done``
    (Boolean, true on an episode's last row). Rows are sorted by (episode, step).

    ``evaluation_action_dist`` maps an evaluation policy's name to its action distribution at every
    logged observation, shape ``(n_rows, n_actions)``; :func:`recoworld.estimators.collect.collect`
    fills it so that off-policy estimators need no access to the raw observations.
    """

    frame: pl.DataFrame
    """The validated rows."""
    n_actions: int
    """Size of the action space."""
    evaluation_action_dist: Mapping[str, _FloatArray] = field(default_factory=dict)
    """Evaluation policies' action distributions at the logged observations."""
    _validated: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built directly from a frame (not through from_arrays): validate it the same way.
        if not self._validated:
            _trajectory_from_frame(self.frame, self.n_actions, self.evaluation_action_dist)

    @classmethod
    def from_arrays(
        cls,
        episode: npt.ArrayLike,
        step: npt.ArrayLike,
        action: npt.ArrayLike,
        reward: npt.ArrayLike,
        pscore: npt.ArrayLike,
        done: npt.ArrayLike,
        n_actions: int,
        *,
        observation: npt.ArrayLike | None = None,
        evaluation_action_dist: Mapping[str, npt.ArrayLike] | None = None,
    ) -> TrajectoryLog:
        """Validate numpy-like arrays and wrap them in a :class:`TrajectoryLog`.

        Args:
            episode: ``(n_rows,)`` 0-based episode index, sorted and contiguous.
            step: ``(n_rows,)`` 0, 1, 2, ... within each episode.
            action: ``(n_rows,)`` logged actions in ``[0, n_actions)``.
            reward: ``(n_rows,)`` finite rewards.
            pscore: ``(n_rows,)`` logging probabilities of the logged actions, in (0, 1].
            done: ``(n_rows,)`` true exactly on each episode's last row.
            n_actions: size of the action space.
            observation: ``(n_rows, n_features)`` observation features, or ``None``.
            evaluation_action_dist: name -> ``(n_rows, n_actions)`` distributions of evaluation
                policies at the logged observations.

        Returns:
            The validated log.

        Raises:
            EstimatorInputError: a value out of range, a broken episode layout or arrays of
                different lengths.

        """
        require_range("n_actions", n_actions, 1, error=EstimatorInputError)
        ep = _as_1d("episode", episode, np.int64)
        st = _as_1d("step", step, np.int64)
        a = _as_1d("action", action, np.int64)
        r = _as_1d("reward", reward, np.float64)
        p = _as_1d("pscore", pscore, np.float64)
        d = np.asarray(done, dtype=bool)
        n = _check_lengths({"episode": ep.size, "step": st.size, "action": a.size,
                            "reward": r.size, "pscore": p.size, "done": d.size})
        check_pscore(p)  # type: ignore[arg-type]
        _check_actions(a, int(n_actions))  # type: ignore[arg-type]
        _check_episode_layout(ep, st, d)  # type: ignore[arg-type]
        obs = _context_matrix(observation, n)
        dists: dict[str, _FloatArray] = {}
        for name, dist in (evaluation_action_dist or {}).items():
            dists[name] = check_action_dist(np.asarray(dist, dtype=np.float64), n, int(n_actions),
                                            name=f"evaluation_action_dist[{name!r}]")
        cols: dict[str, pl.Series] = {
            "episode": pl.Series("episode", ep, dtype=pl.Int64),
            "step": pl.Series("step", st, dtype=pl.Int64),
            "action": pl.Series("action", a, dtype=pl.Int64),
            "reward": pl.Series("reward", r, dtype=pl.Float64),
            "pscore": pl.Series("pscore", p, dtype=pl.Float64),
            "done": pl.Series("done", d, dtype=pl.Boolean),
        }
        if obs is not None:
            cols["observation"] = _matrix_column(obs).alias("observation")
        return cls(pl.DataFrame(cols), int(n_actions), dists, _validated=True)

    @property
    def n_rows(self) -> int:
        """Number of logged steps."""
        return self.frame.height

    @property
    def n_episodes(self) -> int:
        """Number of logged episodes."""
        return int(self.frame.get_column("episode").max()) + 1  # type: ignore[arg-type]

    def column(self, name: str) -> npt.NDArray[np.generic]:
        """One column as a numpy array (``observation`` as an ``(n_rows, d)`` matrix)."""
        if name not in self.frame.columns:
            raise DataError(f"the trajectory log has no column {name!r}; columns: "
                            f"{self.frame.columns}")
        if name == "observation":
            return _column_matrix(self.frame, name)
        return self.frame.get_column(name).to_numpy()

    def first_steps(self) -> BanditLog:
        """Return each episode's first decision as a contextual-bandit log (reward of step 0)."""
        first = self.frame.filter(pl.col("step") == 0)
        ctx = _column_matrix(first, "observation") if "observation" in first.columns else None
        return BanditLog.from_arrays(first.get_column("action").to_numpy(),
                                     first.get_column("reward").to_numpy(),
                                     first.get_column("pscore").to_numpy(),
                                     self.n_actions, context=ctx)

    def save(self, path: str | Path) -> None:
        """Write the log (and the evaluation distributions as array columns) to parquet."""
        frame = self.frame
        for name, dist in self.evaluation_action_dist.items():
            frame = frame.with_columns(_matrix_column(dist).alias(_EVAL_PREFIX + name))
        meta = {"kind": "trajectory", "n_actions": self.n_actions}
        frame.write_parquet(Path(path), metadata={_META_KEY: json.dumps(meta)})

    @classmethod
    def load(cls, path: str | Path) -> TrajectoryLog:
        """Read and re-validate a log written by :meth:`save`."""
        meta = _read_meta(Path(path), "trajectory")
        frame = pl.read_parquet(Path(path))
        dists = {c[len(_EVAL_PREFIX):]: _column_matrix(frame, c)
                 for c in frame.columns if c.startswith(_EVAL_PREFIX)}
        frame = frame.drop([c for c in frame.columns if c.startswith(_EVAL_PREFIX)])
        return _trajectory_from_frame(frame, int(str(meta["n_actions"])), dists)


def _trajectory_from_frame(frame: pl.DataFrame, n_actions: int,
                           dists: Mapping[str, _FloatArray]) -> TrajectoryLog:
    needed = ("episode", "step", "action", "reward", "pscore", "done")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"a trajectory log needs the columns {list(needed)}; missing {missing}, "
                        f"got {frame.columns}")
    obs = _column_matrix(frame, "observation") if "observation" in frame.columns else None
    ep, st, act, rew, ps, done = (frame.get_column(c).to_numpy() for c in needed)
    return TrajectoryLog.from_arrays(ep, st, act, rew, ps, done, n_actions, observation=obs,
                                     evaluation_action_dist=dists)


def _check_episode_layout(episode: _IntArray, step: _IntArray, done: npt.NDArray[np.bool_]) -> None:
    if int(episode[0]) != 0 or int(step[0]) != 0:
        raise EstimatorInputError(f"the log must start at episode 0, step 0, got episode="
                                  f"{int(episode[0])}, step={int(step[0])}")
    d_ep = np.diff(episode)
    new_ep = d_ep == 1
    if np.any((d_ep != 0) & ~new_ep):
        raise EstimatorInputError("`episode` must be sorted and contiguous (0, 0, 1, 1, 2, ...), "
                                  "got a jump or a decrease")
    expected_step = np.where(new_ep, 0, step[:-1] + 1)
    if np.any(step[1:] != expected_step):
        bad = int(np.flatnonzero(step[1:] != expected_step)[0]) + 1
        raise EstimatorInputError(f"`step` must count 0, 1, 2, ... within each episode, got "
                                  f"step={int(step[bad])} at row {bad}")
    last = np.append(new_ep, True)
    if np.any(done != last):
        bad = int(np.flatnonzero(done != last)[0])
        raise EstimatorInputError(f"`done` must be true exactly on each episode's last row, "
                                  f"got done={bool(done[bad])} at row {bad}")


def check_action_dist(dist: _FloatArray, n_rows: int, n_actions: int,
                      name: str = "action_dist", atol: float = 1e-6) -> _FloatArray:
    """Check an ``(n_rows, n_actions[, len_list])`` probability array; return it as float64.

    Raises :class:`EstimatorInputError` naming ``name`` if the shape is wrong, an entry is negative
    or not finite, or a distribution does not sum to one (within ``atol``).
    """
    if dist.ndim not in (2, 3) or dist.shape[0] != n_rows or dist.shape[1] != n_actions:
        raise EstimatorInputError(
            f"`{name}` must have shape (n_rows, n_actions[, len_list]) = ({n_rows}, {n_actions}"
            f"[, ...]), got {dist.shape}"
        )
    sums = dist.sum(axis=1)
    worst = float(np.max(np.abs(sums - 1.0)))
    if not worst <= atol:  # also catches NaN
        raise EstimatorInputError(
            f"`{name}` must sum to one over actions, got sums in [{float(np.min(sums)):g}, "
            f"{float(np.max(sums)):g}]"
        )
    if float(dist.min()) < 0.0:
        raise EstimatorInputError(f"`{name}` must be non-negative, got min={float(dist.min()):g}")
    return dist
