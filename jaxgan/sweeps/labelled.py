"""The sweeps' results as labelled arrays: `xarray.Dataset`s with named coordinates, and their
netCDF / zarr files (xarray is an optional extra; the `.npz` + JSON files of `save` stay the
default and need nothing).

A basin map becomes a Dataset over the grid's coordinates (`D`, `pg` for the pointwise field:
the field's labels), a phase diagram one over the swept parameters (`lr`, `pd`, `momentum`, ...)
and `start`. Data variables: `fate` (int8 codes, with the CF attributes `flag_values` /
`flag_meanings`), `step` (the decision step, -1 for UNDECIDED), `turns`, `final` (over `state`,
the field's coordinates by name), and the rest point or the analytic boundary. The run's settings
are flat attributes (`steps`, `lr`, `method`, `game`, `dtype`, `fingerprint` when known, ...),
the fate codes are the attribute `fate_codes` (JSON, name -> integer), and the full settings
are the JSON attribute `jaxgan_settings`. Every attribute is a string, a number or a vector of
numbers, so the file can be netCDF-3 (xarray's `scipy` engine, no extra library).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import MissingExtraError
from ..fates import Fate
from .store import replace_from, temporary_name

__all__ = ["basins_dataset", "sweep_dataset", "write_netcdf", "write_zarr"]

_RESERVED = {"fate", "step", "turns", "final", "rest_point", "boundary", "state", "start", "starts"}
_DESCRIPTIONS = {
    "fate": "what became of the start (a jaxgan.Fate code; see flag_values and flag_meanings)",
    "step": "the step at which the fate was decided (-1: UNDECIDED)",
    "turns": "net turns around the rest point in the winding plane (+: counter-clockwise)",
    "final": "the state at the decision (or after `steps`)",
}


def import_xarray(fn: str):
    """`xarray`, or a one-line `MissingExtraError` naming the extra."""
    try:
        import xarray
    except ImportError:
        raise MissingExtraError(f'{fn} needs xarray, an optional extra: pip install -e ".[xarray]" '
                                f'(or pip install xarray)') from None
    return xarray


def _fate_var(dims, fate):
    codes = [f for f in Fate]
    return dims, fate, {"long_name": _DESCRIPTIONS["fate"], "flag_values": np.asarray(codes, np.int8),
                        "flag_meanings": " ".join(f.name for f in codes)}


def _attr(value):
    """A value netCDF can hold as an attribute (None: leave it out)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                          for v in value):
        return np.asarray(value)
    return json.dumps(value, sort_keys=True)


def _attrs(settings: dict, swept=()) -> dict:
    """The run settings as flat attributes (plus the fate codes and the full JSON settings); a
    swept parameter is a coordinate, so its base value is left out."""
    field, method = settings.get("field") or {}, settings.get("method") or {}
    flat = {"jaxgan_kind": settings.get("kind"), "field": field.get("name"), "game": field.get("game"),
            "field_kind": field.get("kind"), "domain": field.get("domain"), "method": method.get("name"),
            "lr": method.get("lr")}
    for k, v in (field.get("params") or {}).items():
        flat[f"field_{k}"] = None if k in swept else v
    for k, v in (method.get("hyperparams") or {}).items():
        flat[f"method_{k}"] = None if k in swept else v
    for k in ("steps", "tol", "bound", "cycle_rtol", "cycle_turns", "check_every", "plane", "chunk", "dtype",
              "relative", "boundary_method", "fingerprint"):
        flat[k] = settings.get(k)
    flat["fate_codes"] = json.dumps({f.name: int(f) for f in Fate})
    flat["jaxgan_settings"] = json.dumps(settings, sort_keys=True)
    out = {}
    for k, v in flat.items():
        v = _attr(v)
        if v is not None:
            out[k] = v
    return out


def _names(wanted, taken=()) -> list[str]:
    """Dimension names: `wanted`, each made unique and kept off the data variables' names."""
    used, out = set(_RESERVED) | set(taken), []
    for i, name in enumerate(wanted):
        name = str(name) if str(name) else f"axis_{i}"
        while name in used:
            name += "_"
        used.add(name)
        out.append(name)
    return out


def _state_labels(settings: dict, n: int) -> list[str]:
    labels = list((settings.get("field") or {}).get("labels") or [])
    if len(labels) != n or len(set(map(str, labels))) != n:
        labels = [f"z{i}" for i in range(n)]
    return [str(v) for v in labels]


def basins_dataset(res, fn: str = "BasinsResult.to_xarray"):
    """The `xarray.Dataset` of a `BasinsResult` (see the module docstring)."""
    xr = import_xarray(fn)
    a, b = _names(res.labels[:2] if len(res.labels) >= 2 else ("d", "pg"))
    n = res.final.shape[-1]
    data = {"fate": _fate_var((a, b), res.fate),
            "step": ((a, b), res.step, {"long_name": _DESCRIPTIONS["step"]}),
            "turns": ((a, b), res.turns, {"long_name": _DESCRIPTIONS["turns"]}),
            "final": ((a, b, "state"), res.final, {"long_name": _DESCRIPTIONS["final"]}),
            "rest_point": (("state",), np.asarray(res.rest_point), {"long_name": "the field's rest point"})}
    coords = {a: (a, np.asarray(res.d), {"long_name": f"start value of coordinate 0 ({res.labels[0]})"}),
              b: (b, np.asarray(res.pg), {"long_name": f"start value of coordinate 1 ({res.labels[1]})"}),
              "state": ("state", _state_labels(res.settings, n), {"long_name": "the field's coordinates"})}
    return xr.Dataset(data, coords, _attrs(res.settings))


def sweep_dataset(res, fn: str = "SweepResult.to_xarray"):
    """The `xarray.Dataset` of a `SweepResult` (see the module docstring)."""
    xr = import_xarray(fn)
    dims = _names(res.names)
    grid = tuple(dims) + ("start",)
    n = res.final.shape[-1]
    what = "offset from the rest point of its grid point" if res.relative else "absolute start"
    data = {"fate": _fate_var(grid, res.fate),
            "step": (grid, res.step, {"long_name": _DESCRIPTIONS["step"]}),
            "turns": (grid, res.turns, {"long_name": _DESCRIPTIONS["turns"]}),
            "final": (grid + ("state",), res.final, {"long_name": _DESCRIPTIONS["final"]})}
    if res.boundary is not None:
        other = tuple(d for d, name in zip(dims, res.names) if name != "lr")
        data["boundary"] = (other, res.boundary, {"long_name": "max_stable_lr at each point of the other axes"})
    coords = {d: (d, np.asarray(v), {"long_name": f"swept parameter {name}"})
              for d, name, v in zip(dims, res.names, res.values)}
    coords["start"] = ("start", np.arange(res.starts.shape[0], dtype=np.int32), {"long_name": "index of the start"})
    coords["starts"] = (("start", "state"), np.asarray(res.starts), {"long_name": f"each start: {what}"})
    coords["state"] = ("state", _state_labels(res.settings, n), {"long_name": "the field's coordinates"})
    return xr.Dataset(data, coords, _attrs(res.settings, res.names))


def write_netcdf(ds, path, engine=None) -> str:
    """Write `ds` to the netCDF file `path` under a temporary name, then rename it (a failure
    leaves `path` as it was). `engine`: xarray's (default: netCDF4, h5netcdf or scipy, the first
    installed; scipy writes netCDF-3 and needs no other library). Returns the path."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = temporary_name(folder, os.path.basename(path))
    replace_from(tmp, path, lambda: ds.to_netcdf(tmp, engine=engine))
    return path


def write_zarr(ds, path, fn: str) -> str:
    """Write `ds` to a new zarr store `path` (refused if it exists) in zarr format 2, which every
    zarr reader knows and which holds the text coordinates (format 3 has no stable string type
    yet). Returns the path."""
    try:
        import zarr
    except ImportError:
        raise MissingExtraError(f"{fn} needs zarr, which is not installed: pip install zarr") from None
    path = os.fspath(path)
    major = int(str(getattr(zarr, "__version__", "2")).split(".")[0] or 2)
    ds.to_zarr(path, mode="w-", **({"zarr_format": 2} if major >= 3 else {}))
    return path
