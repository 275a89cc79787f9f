"""`batchnorm_experiment(data="digits")` and `jaxgan experiment batchnorm --data digits`: the BatchNorm
claim on real images (DCGAN conv nets in flax on scikit-learn's 8×8 digits).

Compile time dominates (about 20 s for one DCGAN training program on a quiet core): one library run
(the BatchNorm configuration, 2 seeds × 60 updates), whose result the command test writes out (the
command's call to the library is checked, not repeated); the bad-input tests compile nothing.

Oracles: the generated digits of `ExperimentResult.generated` against the flax module applied by
hand to the final variables (an independent path from the training's player adapter); the digit
scores against their definitions (a count of the 10 classes, a Fréchet distance ≥ 0); the table and
the files against the result they come from.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

pytest.importorskip("flax")
pytest.importorskip("sklearn")

from jaxgan import cli, neural  # noqa: E402
from jaxgan.neural import dcgan  # noqa: E402
from jaxgan.errors import ArgumentError, JaxganError  # noqa: E402
from jaxgan.fates import Fate  # noqa: E402

# One configuration, few seeds and updates: what the command below repeats, so it reuses the program.
RUN = dict(variants=("batchnorm",), seeds=2, steps=60)
ARGV = ["experiment", "batchnorm", "--quick", "--data", "digits", "--variants", "batchnorm", "--seeds", "2",
        "--steps", "60", "--workers", "1", "--quiet"]


@pytest.fixture(scope="module")
def exp():
    return neural.batchnorm_experiment("quick", data="digits", workers=1, **RUN)


def test_digits_table_has_the_configuration_and_finite_digit_scores(exp):
    assert exp.digits and list(exp.results) == ["relu + batchnorm"]
    r = exp.results["relu + batchnorm"]
    assert r.steps.tolist() == [0, 30, 60] and r.n_seeds == 2
    assert r.gan.data.sample_shape == (8, 8, 1) and r.gan.latent_dim == 16
    assert r.gan.d_player.batchnorm and r.gan.g_player.batchnorm
    ok = r.fate != Fate.DIVERGED
    assert ok.any()
    cls, fd = r.classes_covered[ok], r.fd[ok]
    assert np.all(np.isfinite(cls)) and np.all(np.isfinite(fd))
    assert np.all((cls >= 0) & (cls <= 10)) and np.all(cls == np.round(cls)) and np.all(fd >= 0)
    rows = [line for line in exp.table().splitlines() if line.startswith("|")]
    assert len(rows) == 3 and "classes covered" in rows[0] and "FD" in rows[0]
    cells = [c.strip() for c in rows[2].split("|")[1:-1]]
    assert cells[0] == "relu + batchnorm" and len(cells) == 13
    fd_med = float(np.median(r.fd[ok, -1]))
    assert cells[-1].startswith(f"{fd_med:.3g} [") and cells[-2].startswith(f"{np.median(r.classes_covered[ok, -1]):g}")
    assert "nan" not in exp.table().lower() and "DCGAN conv nets of width 4" in exp.table()
    row = exp.rows[0]
    assert row["classes_covered_median"] == np.median(r.classes_covered[ok, -1]) and row["fd_median"] == fd_med


def test_generated_digits_are_the_generator_applied_to_the_final_variables(exp):
    r = exp.results["relu + batchnorm"]
    imgs = exp.generated(n=9, seed=1)["relu + batchnorm"]
    assert imgs.shape == (9, 8, 8, 1) and np.all(np.abs(imgs) <= 1)  # tanh output
    st = jax.tree_util.tree_map(lambda a: a[1], r.final)
    z = jax.random.normal(jax.random.key(0), (9, 16))
    module = dcgan.dcgan_generator(latent_dim=16, width=4, activation="relu", norm="batchnorm")
    variables = {"params": st.tg["params"] if "params" in st.tg else st.tg, "batch_stats": _stats(st.sg)}
    by_hand = jax.jit(lambda v, z: module.apply(v, z, train=False))(variables, z)  # one program, not one per op
    np.testing.assert_allclose(imgs, np.asarray(by_hand), atol=1e-5)
    with pytest.raises(ArgumentError, match="seed"):
        exp.generated(seed=2)


def _stats(sg):
    return sg["batch_stats"] if isinstance(sg, dict) and "batch_stats" in sg else sg


def test_cli_digits_writes_its_files(exp, tmp_path, capsys, monkeypatch):
    calls = []

    def experiment(size, **kw):  # the command's call, answered with the library run above (no retraining)
        calls.append((size, kw))
        return exp

    monkeypatch.setattr(neural, "batchnorm_experiment", experiment)
    out = tmp_path / "bn"
    assert cli.main(ARGV + ["--out", str(out)]) == 0
    [(size, kw)] = calls
    assert size == "quick" and (kw["data"], kw["seeds"], kw["steps"], tuple(kw["variants"])) == ("digits", 2, 60,
                                                                                                ("batchnorm",))
    text = capsys.readouterr().out
    assert "| relu + batchnorm |" in text and "classes covered" in text and "nan" not in text.lower()
    for name in ("batchnorm_table.md", "batchnorm_table.csv", "batchnorm.json", "batchnorm_distances.png",
                 "batchnorm_samples.png", "batchnorm_quality.png", "batchnorm_eigenvalues.png",
                 "batchnorm_path_angle.png"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "batchnorm_d_over_time.png").exists() and not (out / "batchnorm_pointwise.png").exists()
    header, line = (out / "batchnorm_table.csv").read_text().splitlines()
    assert header.endswith("classes_covered_median,fd_median") and line.startswith("relu + batchnorm,2,")
    doc = json.loads((out / "batchnorm.json").read_text())
    assert doc["settings"]["data_kind"] == "digits" and doc["settings"]["width"] == 4
    curve = doc["curves"]["relu + batchnorm"]
    assert len(curve["fd_median"]) == 3 and all(v is not None and v >= 0 for v in curve["fd_median"])
    assert doc["rows"][0]["fd_median"] == pytest.approx(exp.rows[0]["fd_median"], rel=1e-6)
    assert curve["fd_median"][-1] == pytest.approx(exp.rows[0]["fd_median"], rel=1e-6)  # 2 seeds, none diverged


@pytest.mark.parametrize("argv, expect", [
    (["--data", "ring"], "--data of `jaxgan experiment batchnorm` must be mixture or digits; got 'ring'"),
    (["--data", "grid", "--out", "{tmp}/x"], "--data of `jaxgan experiment batchnorm` must be mixture or digits"),
    (["--data", "digits", "--games", "wgan_gp"], "--games is an option of `jaxgan experiment landscape`"),
])
def test_cli_bad_data_is_named_before_computing(argv, expect, tmp_path, capsys, monkeypatch):
    def computed(*a, **k):
        raise AssertionError("the computation started before the bad input was refused")

    monkeypatch.setattr(neural, "batchnorm_experiment", computed)
    code = cli.main(["experiment", "batchnorm", "--quick"] + [a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and expect.format(tmp=tmp_path) in err and len(err.splitlines()) == 1, err
    with pytest.raises(SystemExit) as info:
        cli.main(["experiment", "batchnorm", "--data", "pixels"])
    assert info.value.code == 2 and "--data" in capsys.readouterr().err


@pytest.mark.parametrize("kw, match", [
    (dict(data="pixels"), "`data` must be one of 'mixture', 'digits'"),
    (dict(data=42), "`data` must be"),
    (dict(data=neural.samples(np.zeros((4, 3)))), "8×8×1 image Samples"),
    (dict(data="digits", activations=("relu", "swish")), "`activations` must be one of"),
    (dict(data="digits", variants=("layernorm",)), "`variants`"),
    (dict(data="digits", steps=10), "`steps` must be ≥ 30"),
])
def test_bad_digits_arguments_raise_before_compiling(kw, match):
    with pytest.raises(JaxganError, match=match):
        neural.batchnorm_experiment("quick", **kw)
