"""The landscape experiment (Berard et al. 2020): closed-form oracles for the end-point measurements,
the bump score on linear fields, the table and findings of a tiny run, the command, bad input."""

from __future__ import annotations

import json
import os
import re
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxgan import cli
from jaxgan.errors import ArgumentError, ArgumentTypeError
from jaxgan.neural import GAN, Net, ring_of_8
from jaxgan.neural import landscape as L
from jaxgan.neural.endpoint import EndSizes, end_point, lanczos_extremes
from jaxgan.neural.objectives import draw_batch, field_parts
from jaxgan.neural.step import init_state
from jaxgan.stability.krylov import arnoldi, ritz_values


# ----------------------------------------------------------------------------- oracles


LAM = 10.0


def test_player_hessians_match_the_closed_forms_of_a_linear_gan(x64):
    # NSGAN with the WGAN-GP penalty, D(x) = σ(u), u = wᵀx + b, G(z) = zA + c (affine maps: Net(())).
    # u is linear in each player's parameters, so with s = σ(u) and g = ∂u/∂(parameters):
    #   D's loss Hessian  −∇²Ĵ + ∇²pen = mean_i s_i(1−s_i) g_i g_iᵀ + mean_j s_j(1−s_j) g_j g_jᵀ
    #                                   + 2λ[(1 − 1/r) I + wwᵀ/r³] on w (r = ‖w‖), g = (x, 1);
    #   G's loss Hessian  −∇²Î = mean_j s_j(1−s_j) h_j h_jᵀ, h_j = (z_j ⊗ w, w).
    gan = GAN(data=ring_of_8(), game="non_saturating", discriminator=Net(()), generator=Net(()), latent_dim=2,
              penalty="wgan_gp", penalty_weight=LAM, batch_size=8)
    seed, n_big = 3, 64
    st = init_state(gan, jax.random.PRNGKey(seed))
    theta, _ = ravel_pytree((st.td, st.tg))
    res = types.SimpleNamespace(gan=gan, seeds=np.array([seed]), final=jax.tree_util.tree_map(lambda a: a[None], st),
                                theta0=np.asarray(theta)[None] - 0.1)
    end = end_point(res, EndSizes(n_big=n_big, arnoldi=theta.shape[0], lanczos=6, n_path=3, n_zoom=1))
    # end_point's measurement batch of this seed (jitted: one program, not one per op)
    batch = jax.jit(lambda: draw_batch(gan, jax.random.split(jax.random.fold_in(jax.random.PRNGKey(12), seed), 4)[0],
                                       n_big))()
    w, b = np.asarray(st.td["dense"][0]["w"])[:, 0], float(st.td["dense"][0]["b"][0])
    A, c = np.asarray(st.tg["dense"][0]["w"]), np.asarray(st.tg["dense"][0]["b"])
    x, z = np.asarray(batch.x), np.asarray(batch.z)
    fake = z @ A + c
    sig = lambda u: 1 / (1 + np.exp(-u))  # noqa: E731

    def curvature(points):  # mean s(1 − s) g gᵀ with g = (x, 1)
        s = sig(points @ w + b)
        g = np.concatenate([points, np.ones((len(points), 1))], axis=1)
        return np.einsum("j,ja,jb->ab", s * (1 - s), g, g) / len(points)

    r = np.linalg.norm(w)
    gp = np.zeros((3, 3))
    gp[:2, :2] = 2 * LAM * ((1 - 1 / r) * np.eye(2) + np.outer(w, w) / r**3)
    ev_d = np.linalg.eigvalsh(curvature(x) + curvature(fake) + gp)
    s = sig(fake @ w + b)
    h = np.concatenate([np.einsum("jk,i->jki", z, w).reshape(len(z), -1), np.tile(w, (len(z), 1))], axis=1)
    ev_g = np.linalg.eigvalsh(np.einsum("j,ja,jb->ab", s * (1 - s), h, h) / len(z))
    np.testing.assert_allclose(end.hess_d[0], [ev_d[0], ev_d[-1]], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(end.hess_g[0], [ev_g[0], ev_g[-1]], rtol=1e-6, atol=1e-9)
    assert ev_d[0] < 0 < ev_g[0] + 1e-12  # r < 1 here: the penalty makes D's loss non-convex
    # Arnoldi with m = p: every eigenvalue of the game Jacobian, as the dense jacfwd of the field on the batch
    _, unravel = ravel_pytree((st.td, st.tg))

    def v(t):
        td, tg = unravel(t)
        return ravel_pytree(field_parts(gan, td, tg, st.sd, st.sg, batch))[0]

    dense = np.linalg.eigvals(np.asarray(jax.jit(jax.jacfwd(v))(theta)))
    ritz = ritz_values(end.game_h[0], end.game_k[0], theta.shape[0])
    ritz = ritz[np.isfinite(ritz)]
    assert ritz.size >= theta.shape[0] - 1
    top = dense[np.lexsort((-dense.imag, -np.abs(dense)))][:ritz.size]  # ritz_values' order
    np.testing.assert_allclose(ritz, top, rtol=1e-6, atol=1e-9)
    assert end.samples.shape == (1, n_big, 2) and end.cosines.shape == (1, 3) and end.zoom_cosines.shape == (1, 3)


def test_lanczos_extremes_of_a_known_spectrum():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(40, 40)))
    M = jnp.asarray(Q @ np.diag(np.linspace(-3.0, 7.0, 40)) @ Q.T, jnp.float32)
    Hl, kl = jax.jit(lambda v0: arnoldi(lambda u: M @ u, v0, 25))(jnp.asarray(rng.normal(size=40), jnp.float32))
    np.testing.assert_allclose(lanczos_extremes(Hl, kl), [-3.0, 7.0], rtol=1e-4)


def test_bump_score_on_linear_fields():
    # v(θ_α) = A e + (α − 1) A d: a rotation (A antisymmetric) gives a bump at α = 1, an attraction
    # (A = −I) a sign switch between equal flanks, through 0 where the offset e dominates (a dip, no bump).
    d = np.array([1.0, 0.0])
    e = np.array([0.0, 0.02])
    alphas = np.concatenate([np.linspace(0, 1.2, 61), 1 + np.geomspace(1e-4, 0.2, 10), 1 - np.geomspace(1e-4, 0.2, 10)])

    def cosines(A):
        v = (A @ e)[None] + (alphas - 1)[:, None] * (A @ d)[None]
        return v @ d / np.linalg.norm(v, axis=1)

    rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert L.bump_score(alphas, cosines(rot)) > 0.9
    assert L.bump_score(alphas, cosines(-np.eye(2))) < 0.05
    mixed = L.bump_score(alphas, np.stack([cosines(rot - 0.3 * np.eye(2)), cosines(-np.eye(2))]))
    assert mixed.shape == (2,) and mixed[0] > L.BUMP_MIN > mixed[1]


# ----------------------------------------------------------------------------- a tiny run, its table, the command

TINY = dict(data="ring", games=("non_saturating",), seeds=2, steps=100, size="quick", progress=False, workers=1)


@pytest.fixture(scope="module")
def tiny():
    return L.landscape_experiment(**TINY)


def test_tiny_run_table_and_findings(tiny):
    run = tiny.runs["ring / non_saturating"]
    assert run.eigs.shape == (2, L.LANDSCAPE_SIZES["quick"]["arnoldi"]) and run.hess_g.shape == (2, 2)
    row = tiny.rows[0]
    assert row["seeds"] == 2 and sum(row[k] for k in ("converged", "cycling", "diverged", "undecided")) == 2
    # the row's fractions are the per-seed verdicts, recomputed here from the raw numbers
    neg = run.hess_g[:, 0] < -L.NASH_TOL * np.abs(run.hess_g).max(axis=1)
    assert row["neg_g"] == pytest.approx(neg[run.ok].mean())
    assert row["bump"] == pytest.approx(np.mean(run.bump[run.ok] >= L.BUMP_MIN))
    table = tiny.table()
    lines = table.splitlines()
    assert lines[0].startswith("| data | game |") and lines[2].startswith("| ring | non_saturating | 2 |")
    cells = [len(re.findall(r"(?<!\\)\|", line)) for line in lines[:3]]  # unescaped bars
    assert cells[0] == cells[1] == cells[2] and "nan" not in table.lower()
    findings = tiny.check()
    assert [f.key for f in findings] == ["a", "b", "c"]
    for f, col in zip(findings, ("rotating", "neg_g", "bump")):
        assert f.verdict == ("agree" if row[col] >= 0.5 else "disagree")
        assert "ring / non_saturating" in f.evidence
    doc = json.loads(json.dumps(tiny.to_json()))
    assert doc["rows"][0]["game"] == "non_saturating" and len(doc["runs"]["ring / non_saturating"]["cosines"]) == 2


def test_image_samples_tile_row_by_row_with_white_gaps():
    from jaxgan.plotting import image_mosaic

    imgs = np.arange(5 * 2 * 2, dtype=float).reshape(5, 2, 2) / 100  # five 2×2 images on a 2 × 3 tile
    imgs[0, 0, 0] = 7.0  # clipped to 1
    t = image_mosaic(imgs, 2, 3, background=1.0)
    assert t.shape == (2 * 4, 3 * 4)
    want = np.clip(imgs, -1, 1)
    for k in range(5):
        r, c = divmod(k, 3)
        np.testing.assert_array_equal(t[4 * r + 1:4 * r + 3, 4 * c + 1:4 * c + 3], want[k])
    for i in (0, 3, 4, 7):  # every image's one-pixel frame
        assert np.all(t[i, :] == 1.0) and np.all(t[:, i] == 1.0)
    assert np.all(t[4:, 8:] == 1.0)  # the sixth place, empty
    assert np.all(image_mosaic(imgs, 2, 3, background=-1.0)[4:, 8:] == -1.0)
    np.testing.assert_array_equal(image_mosaic(imgs[..., None], 2, 3), image_mosaic(imgs, 2, 3))  # one channel


@pytest.mark.parametrize("images, rows, match", [
    (np.zeros((4, 8)), 2, "`images` must be images of shape"),
    (np.zeros((4, 8, 8, 3)), 2, "`images` must be images of shape"),
    (np.zeros((0, 8, 8)), 2, "`images` must be images of shape"),
    (np.zeros((4, 8, 8)), 0, "`rows`"),
    (np.zeros((4, 8, 8)), 1.5, "`rows`"),
])
def test_image_mosaic_refuses_what_is_not_a_stack_of_images(images, rows, match):
    from jaxgan.errors import JaxganError
    from jaxgan.plotting import image_mosaic

    with pytest.raises(JaxganError, match=match):
        image_mosaic(images, rows, 2)


def test_check_verdicts_from_rows():
    def fake(rows):
        return types.SimpleNamespace(rows=rows)

    base = dict(data="ring", rotating=1.0, max_imag_median=1.0, rel_imag_median=0.5, rotation_median=1.0,
                n_rot_median=3.0, neg_g=0.0,
                hess_g_min_median=0.1, hess_g_max_median=1.0, lssp_not_nash=0.0, bump=None, bump_median=None)
    rows = [dict(base, game="a"), dict(base, game="b", rotating=0.25, neg_g=0.5)]
    findings = {f.key: f for f in L.LandscapeResult.check(fake(rows))}
    assert findings["a"].verdict == "partly" and findings["b"].verdict == "partly"
    assert findings["c"].verdict == "n/a"
    assert L.LandscapeResult.check(fake([rows[0]]))[1].verdict == "disagree"


def test_cli_writes_table_json_and_figures(tiny, tmp_path, capsys):
    out = tmp_path / "land"
    code = cli.main(["experiment", "landscape", "--quick", "--games", "non_saturating", "--seeds", "2", "--steps",
                     "100", "--workers", "1", "--quiet", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "| ring | non_saturating | 2 |" in printed and "(a)" in printed
    names = sorted(os.listdir(out))
    assert names == sorted(["landscape_table.md", "landscape.json", "landscape_eigenvalues.png",
                            "landscape_path_angle.png", "landscape_hessians.png", "landscape_samples.png"])
    assert (out / "landscape_table.md").read_text().startswith("| data | game |")
    assert json.loads((out / "landscape.json").read_text())["settings"]["seeds"] == 2
    # the same seeds give the same table as the library call (one compiled program, reused)
    assert tiny.table().splitlines()[2] in printed


# ----------------------------------------------------------------------------- bad input, before any compile


@pytest.fixture
def no_training(monkeypatch):
    def trained(*a, **k):
        raise AssertionError("training started before the bad input was refused")

    monkeypatch.setattr(L, "train", trained)


@pytest.mark.parametrize("kw, error, text", [
    (dict(data="moons"), ArgumentError, "landscape_experiment argument `data` must be one of"),
    (dict(games=("nsgan",)), ArgumentError, "argument `games` must hold 'non_saturating', 'wgan_gp'"),
    (dict(games=()), ArgumentError, "argument `games` must name at least one game"),
    (dict(games=3), ArgumentTypeError, "argument `games` must be a sequence"),
    (dict(size="huge"), ArgumentError, "argument `size` must be one of"),
    (dict(steps=10, size="quick"), ArgumentError, "argument `steps` must be ≥ 100"),
    (dict(seeds=0), ArgumentError, "argument `seeds`"),
    (dict(lr=-1.0), ArgumentError, "argument `lr`"),
])
def test_bad_input_is_named_before_training(no_training, kw, error, text):
    with pytest.raises(error, match=None) as info:
        L.landscape_experiment(**{"progress": False, **kw})
    assert text in str(info.value)


def test_digits_bad_game_is_named_before_loading_anything(no_training, monkeypatch):
    # The checks come before the digits are loaded and the DCGANs built (both take seconds).
    def loaded(*a, **k):
        raise AssertionError("data loaded before the bad input was refused")

    monkeypatch.setattr(L, "_data_of", loaded)
    with pytest.raises(ArgumentError, match="argument `games`"):
        L.landscape_experiment(data="digits", games=("nope",), progress=False)
    assert "digits" in L.LANDSCAPE_DATA


@pytest.mark.parametrize("argv, expect", [
    (["--games", "nope"], "error: --games must hold 'non_saturating'"),
    (["--activations", "relu"], "--activations is an option of `jaxgan experiment batchnorm`"),
    (["--steps", "10"], "error: --steps must be ≥ 100"),
])
def test_cli_bad_input_is_one_line_before_training(no_training, capsys, argv, expect):
    code = cli.main(["experiment", "landscape", "--quick", "--quiet", *argv])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "") and expect in err and len(err.splitlines()) == 1, err
