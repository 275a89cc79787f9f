"""The results of the sweeps: `BasinsResult` (a basin map) and `SweepResult` (a phase diagram),
with their `.npz` + JSON files (`save`, `load`), and as labelled arrays (`to_xarray`, `to_netcdf`,
`to_zarr`; xarray is an optional extra, see `jaxgan.sweeps.labelled`)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from .._checks import bad_value
from ..errors import StoreError
from ..fates import Fate
from .labelled import basins_dataset, sweep_dataset, write_netcdf, write_zarr
from .store import expect, load_arrays, read_kind, save_arrays

__all__ = ["BasinsResult", "SweepResult", "load"]


def _fractions(fate: np.ndarray, axis=None):
    return {f.name: np.mean(fate == f, axis=axis) for f in Fate}


@dataclasses.dataclass(frozen=True, eq=False)
class BasinsResult:
    """The fates of a grid of starts (a basin map).

    Arrays are indexed `[i, j]` = start `(d[i], pg[j])` ("ij" indexing; coordinates other than
    the two of the grid are at the rest point).

    - `fate: Int8[ndarray, "n_d n_pg"]`: a `Fate` code per start.
    - `step: Int32[ndarray, "n_d n_pg"]`: the step at which the fate was decided (-1: UNDECIDED).
    - `final: Float[ndarray, "n_d n_pg n"]`: the state at the decision (or after `steps`).
    - `turns: Int32[ndarray, "n_d n_pg"]`: net turns around the rest point (+ counter-clockwise).
    - `d`, `pg`: the axes (the values of coordinates 0 and 1); `labels`: their names.
    - `rest_point`: the field's rest point; `settings`: a JSON-able dict of everything else.
    """

    fate: np.ndarray
    step: np.ndarray
    final: np.ndarray
    turns: np.ndarray
    d: np.ndarray
    pg: np.ndarray
    rest_point: np.ndarray
    labels: tuple
    settings: dict

    KIND = "jaxgan.basins"

    @property
    def shape(self) -> tuple[int, int]:
        return self.fate.shape

    def fractions(self) -> dict[str, float]:
        """The fraction of starts with each fate, `{"CONVERGED": 0.7, ...}` (sums to 1)."""
        return {k: float(v) for k, v in _fractions(self.fate).items()}

    def counts(self) -> dict[str, int]:
        """The number of starts with each fate."""
        return {f.name: int(np.sum(self.fate == f)) for f in Fate}

    def mask(self, fate) -> np.ndarray:
        """Boolean map of the starts with `fate` (a `Fate` or its name)."""
        return self.fate == _as_fate("BasinsResult.mask", fate)

    def starts(self) -> np.ndarray:
        """The starts, `Float[ndarray, "n_d n_pg 2"]` (coordinates of the grid)."""
        return np.stack(np.meshgrid(self.d, self.pg, indexing="ij"), axis=-1)

    def __repr__(self):
        fr = ", ".join(f"{k}={v:.3f}" for k, v in self.fractions().items() if v)
        return (f"BasinsResult({self.settings.get('field', {}).get('name')!r}, {self.shape[0]}x{self.shape[1]} "
                f"starts, {self.settings.get('method', {}).get('name')}, steps={self.settings.get('steps')}: {fr})")

    def save(self, path) -> str:
        """Write `.npz` (arrays) with the metadata as JSON inside; no pickle. Atomic. Returns the path."""
        return save_arrays(path, self.KIND, {"fate": self.fate, "step": self.step, "final": self.final,
                                       "turns": self.turns, "d": self.d, "pg": self.pg,
                                       "rest_point": self.rest_point},
                     {"labels": list(self.labels), "settings": self.settings})

    def to_xarray(self):
        """The result as an `xarray.Dataset` with named coordinates (the grid's axes by the field's labels: `D`, `pg` for the pointwise field).

        Data variables `fate` (int8 `Fate` codes; CF `flag_values`/`flag_meanings`), `step`,
        `turns`, `final` (over `state`, the field's coordinates), `rest_point`; attributes: the run settings
        (`steps`, `lr`, `method`, `game`, `dtype`, `fingerprint` when known, ...), `fate_codes` (JSON,
        name -> integer) and `jaxgan_settings` (the full settings as JSON).

        **Raises:** `jaxgan.errors.MissingExtraError` (an `ImportError`) when xarray is not installed:
        `pip install -e ".[xarray]"`.
        """
        return basins_dataset(self)

    def to_netcdf(self, path, *, engine=None) -> str:
        """Write `to_xarray()` to the netCDF file `path` (atomic). `engine`: xarray's (default: the
        first of netCDF4, h5netcdf, scipy installed; scipy writes netCDF-3). Read it back with
        `xarray.open_dataset(path)`. Returns the path. **Raises:** as `to_xarray`."""
        return write_netcdf(self.to_xarray(), path, engine)

    def to_zarr(self, path) -> str:
        """Write `to_xarray()` to a new zarr store `path` (refused if it exists). Returns the path.
        **Raises:** as `to_xarray`; `MissingExtraError` when zarr is not installed."""
        return write_zarr(self.to_xarray(), path, "BasinsResult.to_zarr")

    @classmethod
    def load(cls, path) -> "BasinsResult":
        """Read a file written by `save`.

        **Raises:** `FileNotFoundError`; `jaxgan.errors.StoreError` for a foreign or corrupt file.
        """
        arrays, meta = load_arrays(path, cls.KIND, "basins", ("fate", "step", "final", "turns", "d", "pg",
                                                              "rest_point"))
        try:
            labels, settings = tuple(meta["labels"]), meta["settings"]
        except (KeyError, TypeError) as exc:
            raise StoreError(f"{os.fspath(path)!r} is not a valid jaxgan basins result file (missing {exc}).") from None
        fate = arrays["fate"]
        expect(path, fate.ndim == 2 and fate.dtype == np.int8, "fate must be a 2-D int8 array")
        shp = fate.shape
        expect(path, arrays["step"].shape == shp and arrays["turns"].shape == shp, "step/turns shape")
        expect(path, arrays["final"].shape[:2] == shp and arrays["final"].ndim == 3, "final shape")
        expect(path, arrays["d"].shape == (shp[0],) and arrays["pg"].shape == (shp[1],), "axes shape")
        expect(path, fate.size == 0 or (fate.min() >= 0 and fate.max() <= max(Fate)), "fate codes")
        return cls(fate, arrays["step"], arrays["final"], arrays["turns"], arrays["d"], arrays["pg"],
                   arrays["rest_point"], labels, settings)


@dataclasses.dataclass(frozen=True, eq=False)
class SweepResult:
    """The fates of a set of starts at every point of a grid of parameters (a phase diagram).

    - `names: tuple[str, ...]`: the swept parameters, in axis order (`"lr"`, a field parameter
      such as `"pd"`, or an `Optimizer` hyper-parameter such as `"momentum"`).
    - `values: tuple[Float[ndarray, "k_a"], ...]`: their values.
    - `starts: Float[ndarray, "m n"]`: the starts; offsets from the rest point of each grid
      point if `relative`, else absolute.
    - `fate`, `step`, `turns`: `[*grid, m]`; `final`: `[*grid, m, n]` (as in `BasinsResult`).
    - `boundary`: `max_stable_lr` at each point of the grid's *other* axes (shape: the grid
      without the `lr` axis), when `lr` is swept; else None.
    - `settings`: a JSON-able dict of everything else.
    """

    names: tuple
    values: tuple
    starts: np.ndarray
    relative: bool
    fate: np.ndarray
    step: np.ndarray
    final: np.ndarray
    turns: np.ndarray
    boundary: np.ndarray | None
    settings: dict

    KIND = "jaxgan.sweep"

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.values)

    def axis(self, name: str) -> np.ndarray:
        """The values of the swept parameter `name`."""
        if name not in self.names:
            raise bad_value("SweepResult.axis", "name", f"a swept parameter, one of {list(self.names)}", name)
        return self.values[self.names.index(name)]

    def fraction(self, fate=Fate.CONVERGED) -> np.ndarray:
        """Fraction of the starts with `fate` at each grid point; shape `grid_shape`."""
        return np.mean(self.fate == _as_fate("SweepResult.fraction", fate), axis=-1)

    def fractions(self) -> dict[str, np.ndarray]:
        """`{fate name: fraction per grid point}` (each of shape `grid_shape`; they sum to 1)."""
        return _fractions(self.fate, axis=-1)

    def median_time(self) -> np.ndarray:
        """Median number of steps to converge among the CONVERGED starts, per grid point.

        NaN where no start converged (there is no time to report); shape `grid_shape`.
        """
        conv = self.fate == Fate.CONVERGED
        t = np.where(conv, self.step, np.nan).astype(np.float64)
        out = np.full(self.grid_shape, np.nan)
        has = conv.any(axis=-1)
        if has.any():
            out[has] = np.nanmedian(t[has], axis=-1)
        return out

    def __repr__(self):
        axes = ", ".join(f"{n}[{len(v)}]" for n, v in zip(self.names, self.values))
        return (f"SweepResult({self.settings.get('field', {}).get('name')!r}, axes {axes}, "
                f"{self.starts.shape[0]} starts per point, converged overall "
                f"{float(np.mean(self.fate == Fate.CONVERGED)):.3f})")

    def save(self, path) -> str:
        """Write `.npz` (arrays) with the metadata as JSON inside; no pickle. Atomic. Returns the path."""
        arrays = {"fate": self.fate, "step": self.step, "final": self.final, "turns": self.turns,
                  "starts": self.starts}
        for i, v in enumerate(self.values):
            arrays[f"axis_{i}"] = v
        if self.boundary is not None:
            arrays["boundary"] = self.boundary
        return save_arrays(path, self.KIND, arrays, {"names": list(self.names), "relative": self.relative,
                                               "settings": self.settings,
                                               "has_boundary": self.boundary is not None})

    def to_xarray(self):
        """The result as an `xarray.Dataset` with named coordinates (the swept parameters by name: `lr`, `pd`, ...; then `start`).

        Data variables `fate` (int8 `Fate` codes; CF `flag_values`/`flag_meanings`), `step`,
        `turns`, `final` (over `state`, the field's coordinates); `boundary` when computed; the coordinate `starts`; attributes: the run settings
        (`steps`, `lr`, `method`, `game`, `dtype`, `fingerprint` when known, ...), `fate_codes` (JSON,
        name -> integer) and `jaxgan_settings` (the full settings as JSON).

        **Raises:** `jaxgan.errors.MissingExtraError` (an `ImportError`) when xarray is not installed:
        `pip install -e ".[xarray]"`.
        """
        return sweep_dataset(self)

    def to_netcdf(self, path, *, engine=None) -> str:
        """Write `to_xarray()` to the netCDF file `path` (atomic). `engine`: xarray's (default: the
        first of netCDF4, h5netcdf, scipy installed; scipy writes netCDF-3). Read it back with
        `xarray.open_dataset(path)`. Returns the path. **Raises:** as `to_xarray`."""
        return write_netcdf(self.to_xarray(), path, engine)

    def to_zarr(self, path) -> str:
        """Write `to_xarray()` to a new zarr store `path` (refused if it exists). Returns the path.
        **Raises:** as `to_xarray`; `MissingExtraError` when zarr is not installed."""
        return write_zarr(self.to_xarray(), path, "SweepResult.to_zarr")

    @classmethod
    def load(cls, path) -> "SweepResult":
        """Read a file written by `save`.

        **Raises:** `FileNotFoundError`; `jaxgan.errors.StoreError` for a foreign or corrupt file.
        """
        arrays, meta = load_arrays(path, cls.KIND, "sweep", ("fate", "step", "final", "turns", "starts"))
        try:
            names = tuple(str(n) for n in meta["names"])
            values = tuple(arrays[f"axis_{i}"] for i in range(len(names)))
            boundary = arrays["boundary"] if meta["has_boundary"] else None
            relative, settings = bool(meta["relative"]), meta["settings"]
        except (KeyError, TypeError) as exc:
            raise StoreError(f"{os.fspath(path)!r} is not a valid jaxgan sweep result file (missing {exc}).") from None
        shp = tuple(len(v) for v in values) + (arrays["starts"].shape[0],)
        expect(path, arrays["fate"].shape == shp and arrays["fate"].dtype == np.int8, "fate shape")
        expect(path, arrays["step"].shape == shp and arrays["turns"].shape == shp, "step/turns shape")
        expect(path, arrays["final"].shape[:-1] == shp, "final shape")
        fate = arrays["fate"]
        expect(path, fate.size == 0 or (fate.min() >= 0 and fate.max() <= max(Fate)), "fate codes")
        return cls(names, values, arrays["starts"], relative, arrays["fate"], arrays["step"], arrays["final"],
                   arrays["turns"], boundary, settings)


def _as_fate(fn: str, fate) -> Fate:
    expected = f"a Fate or one of {', '.join(f.name for f in Fate)}"
    if isinstance(fate, str):
        try:
            return Fate[fate.upper()]
        except KeyError:
            raise bad_value(fn, "fate", expected, fate) from None
    try:
        return Fate(int(fate))
    except (TypeError, ValueError):
        raise bad_value(fn, "fate", expected, fate) from None


def load(path) -> BasinsResult | SweepResult:
    """Load a `BasinsResult` or `SweepResult` file, whichever it is.

    **Raises:** `FileNotFoundError`; `jaxgan.errors.StoreError` for a file that is neither.
    """
    kind = read_kind(path)
    if kind == BasinsResult.KIND:
        return BasinsResult.load(path)
    if kind == SweepResult.KIND:
        return SweepResult.load(path)
    raise StoreError(f"{os.fspath(path)!r} is not a jaxgan result file (format {kind!r}).")
