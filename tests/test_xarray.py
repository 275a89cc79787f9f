"""Labelled results: `BasinsResult.to_xarray()` / `SweepResult.to_xarray()` (named coordinates,
the arrays unchanged, the settings and fate codes as attributes), their netCDF round trip, zarr
where installed, and the one-line error when xarray is missing."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import jaxgan
from jaxgan import sweeps
from jaxgan.errors import JaxganError, MissingExtraError
from jaxgan.fates import Fate

xr = pytest.importorskip("xarray")

MINIMAX = jaxgan.pointwise_field("minimax", 0.2)
KW = dict(steps=64, chunk=16, check_every=16)


@pytest.fixture(scope="module")
def basin():
    res = sweeps.basins(MINIMAX, (0.3, 0.7, 5), (0.05, 0.6, 3), lr=0.2, **KW)
    assert len(set(res.fate.ravel().tolist())) >= 2  # a map with several fates
    return res


@pytest.fixture(scope="module")
def phase():
    return sweeps.sweep(MINIMAX, {"lr": [0.1, 0.3, 0.6], "pd": [0.2, 0.5]}, offsets=[[0.05, 0.0], [0.0, 0.05]],
                        **KW)


def test_basins_dataset_is_the_result_labelled(basin):
    ds = basin.to_xarray()
    assert isinstance(ds, xr.Dataset) and dict(ds.sizes) == {"D": 5, "pg": 3, "state": 2}
    np.testing.assert_array_equal(ds["D"].values, np.linspace(0.3, 0.7, 5))  # the grid, by name
    np.testing.assert_array_equal(ds["pg"].values, np.linspace(0.05, 0.6, 3))
    assert list(ds["state"].values) == ["D", "pg"]
    for name in ("fate", "step", "turns", "final"):
        assert ds[name].dtype == getattr(basin, name).dtype
        np.testing.assert_array_equal(ds[name].values, getattr(basin, name))
    assert ds["fate"].dims == ("D", "pg") and ds["final"].dims == ("D", "pg", "state")
    np.testing.assert_array_equal(ds["rest_point"].values, MINIMAX.rest_point)
    # selecting by label finds the same start as indexing the arrays
    d, pg = basin.d[3], basin.pg[1]
    assert int(ds["fate"].sel(D=d, pg=pg)) == basin.fate[3, 1]
    np.testing.assert_array_equal(ds["final"].sel(D=d, pg=pg).values, basin.final[3, 1])
    np.testing.assert_array_equal(ds["final"].sel(state="pg").values, basin.final[..., 1])
    # fractions computed on the labelled data agree with the result's own
    for f in Fate:
        assert float((ds["fate"] == int(f)).mean()) == pytest.approx(basin.fractions()[f.name])


def test_basins_attributes_hold_the_settings_and_fate_codes(basin):
    a = basin.to_xarray().attrs
    assert a["steps"] == 64 and a["lr"] == 0.2 and a["method"] == "euler" and a["game"] == "minimax"
    assert a["dtype"] == "float32" and a["field"] == basin.settings["field"]["name"] and a["field_pd"] == np.float32(0.2)
    assert a["check_every"] == 16 and a["tol"] == basin.settings["tol"] and a["jaxgan_kind"] == "basins"
    assert "fingerprint" not in a  # only when the settings hold one
    assert json.loads(a["fate_codes"]) == {f.name: int(f) for f in Fate}
    assert json.loads(a["jaxgan_settings"]) == json.loads(json.dumps(basin.settings))
    fate = basin.to_xarray()["fate"].attrs
    assert list(fate["flag_values"]) == [int(f) for f in Fate]
    assert fate["flag_meanings"].split() == [f.name for f in Fate]
    for v in a.values():  # netCDF-storable: strings, numbers, numeric vectors
        assert isinstance(v, (str, int, float, np.integer, np.floating, np.ndarray)), v


def test_sweep_dataset_names_the_swept_parameters(phase):
    ds = phase.to_xarray()
    assert ds["fate"].dims == ("lr", "pd", "start") and ds["final"].dims == ("lr", "pd", "start", "state")
    np.testing.assert_array_equal(ds["lr"].values, [0.1, 0.3, 0.6])
    np.testing.assert_array_equal(ds["pd"].values, [0.2, 0.5])
    np.testing.assert_array_equal(ds["starts"].values, phase.starts)
    for name in ("fate", "step", "turns", "final"):
        np.testing.assert_array_equal(ds[name].values, getattr(phase, name))
    assert ds["boundary"].dims == ("pd",)
    np.testing.assert_array_equal(ds["boundary"].values, phase.boundary)
    assert int(ds["fate"].sel(lr=0.3, pd=0.5, start=1)) == phase.fate[1, 1, 1]
    conv = (ds["fate"] == int(Fate.CONVERGED)).mean("start")
    np.testing.assert_allclose(conv.transpose("lr", "pd").values, phase.fraction())
    a = ds.attrs
    assert a["steps"] == 64 and a["method"] == "euler" and a["relative"] == 1 and a["jaxgan_kind"] == "sweep"
    assert "lr" not in a and "field_pd" not in a  # swept: a coordinate, not a setting


def test_netcdf_round_trip(basin, phase, tmp_path):
    for res, name in ((basin, "b.nc"), (phase, "sub/s.nc")):
        path = res.to_netcdf(tmp_path / name)
        assert path == os.fspath(tmp_path / name)
        with xr.open_dataset(path) as back:
            back.load()
        xr.testing.assert_identical(back, res.to_xarray())
    assert sorted(os.listdir(tmp_path)) == ["b.nc", "sub"]  # no temporaries left
    # the .npz + JSON format stays the default and is unchanged
    assert sweeps.load(basin.save(tmp_path / "b.npz")).fate.tolist() == basin.fate.tolist()


def test_a_failed_netcdf_write_leaves_nothing(basin, tmp_path):
    with pytest.raises(ValueError):
        basin.to_netcdf(tmp_path / "x.nc", engine="no_such_engine")
    assert os.listdir(tmp_path) == []


def test_field_labels_name_the_basin_axes():
    ds = sweeps.basins(jaxgan.fields.dirac_gan(), (-1.0, 1.0, 2), (-1.0, 1.0, 2), lr=0.1, **KW).to_xarray()
    assert ds["fate"].dims == ("theta", "psi") and list(ds["state"].values) == ["theta", "psi"]


def test_zarr_round_trip(basin, tmp_path):
    pytest.importorskip("zarr")
    path = basin.to_zarr(tmp_path / "b.zarr")
    back = xr.open_zarr(path).load()
    xr.testing.assert_identical(back, basin.to_xarray())
    with pytest.raises(Exception):  # an existing store is never overwritten
        basin.to_zarr(path)


def test_missing_extras_say_what_to_install(basin, phase, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "zarr", None)  # `import zarr` now raises ImportError
    with pytest.raises(MissingExtraError, match="pip install zarr"):
        basin.to_zarr(tmp_path / "z.zarr")
    monkeypatch.setitem(sys.modules, "xarray", None)
    for call in (basin.to_xarray, phase.to_xarray, lambda: phase.to_netcdf(tmp_path / "s.nc")):
        with pytest.raises(ImportError) as info:
            call()
        assert isinstance(info.value, JaxganError)
        msg = str(info.value)
        assert len(msg.splitlines()) == 1 and 'pip install -e ".[xarray]"' in msg and "to_xarray" in msg
    assert os.listdir(tmp_path) == []
