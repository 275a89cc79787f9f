"""jaxgan.kernels: the parametric kernel (every path against an explicit Jacobian product and a
closed form), the article's first-order derivation, kernel_vp, spectrum, the kernel field.

float64 tests use the `x64` fixture of conftest.py."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import kernels, nets
from jaxgan.errors import ArgumentError, ArgumentTypeError


@functools.partial(jax.jit, static_argnums=(0, 3))
def _jac(apply, params, x, kw, mask):
    """Full reverse-mode Jacobian of the batch outputs over the parameter pytree (one compiled
    program per network and mode, shared by every call: eager `jacrev` compiles op by op)."""
    kw = dict(kw) | ({} if mask is None else {"mask": mask})
    return jax.jacrev(lambda p: apply(p, x, **kw))(params)


def _explicit(apply, params, x1, x2, **kw):
    """K = J1 J2ᵀ from full reverse-mode Jacobians of the batch outputs over the flat parameters."""
    def flat(x, k):
        k = dict(k)
        mask = k.pop("mask", None)
        leaves = jax.tree_util.tree_leaves(_jac(apply, params, x, tuple(sorted(k.items())), mask))
        return np.concatenate([np.asarray(a).reshape(np.shape(x)[0], -1) for a in leaves], axis=1)

    return flat(x1, kw.get("kw1", {})) @ flat(x2, kw.get("kw2", {})).T


# (activation, sizes, batchnorm, train, dropout, n1, n2, block): odd blocks with a short last one
CASES = {
    "relu-1d": ("relu", (1, 6, 5, 1), False, None, 0.0, 7, 4, 3),
    "tanh-2d": ("tanh", (2, 5, 4, 1), False, None, 0.0, 7, 4, 3),
    "leaky-bn-eval-1d": ("leaky_relu", (1, 6, 5, 1), True, False, 0.0, 7, 4, 3),
    # BatchNorm in train mode (an operator on the batch) with a fixed dropout mask; n1 + n2 < width + 1,
    # so the coupled structured path compresses the layer inputs with an SVD basis (x1 alone and x1
    # with x2); n2 = n1, so that x2's batch programs (oracle and rows) are x1's
    "relu-bn-train-dropout-2d": ("relu", (2, 11, 10, 1), True, True, 0.3, 5, 5, 2),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_path_equals_explicit_jacobian_product(x64, case):
    act, sizes, bn, train, drop, n1, n2, block = CASES[case]
    init, apply = nets.mlp(sizes, act, batchnorm=bn, dropout=drop)
    params = init(jax.random.PRNGKey(1))
    d = sizes[0]
    rng = np.random.default_rng(2)
    if bn:  # non-trivial running statistics
        calib = rng.normal(size=(16, d))
        mask = [np.ones((16, h)) for h in sizes[1:-1]] if drop else None
        _, params = apply(params, calib, train=True, update_stats=True, mask=mask)
    x1, x2 = rng.normal(size=(n1, d)), rng.normal(size=(n2, d))
    if d == 1:  # 1-D inputs given as (n,)
        x1, x2 = x1[:, 0], x2[:, 0]
    ex1 = ex2 = None
    kw1, kw2 = {}, {}
    if train is not None:
        kw1, kw2 = {"train": train}, {"train": train}
    if drop and train:
        m1 = [(rng.uniform(size=(n1, h)) > drop).astype(float) for h in sizes[1:-1]]
        m2 = [(rng.uniform(size=(n2, h)) > drop).astype(float) for h in sizes[1:-1]]
        ex1, ex2 = {"mask": m1}, {"mask": m2}
        kw1, kw2 = dict(kw1, mask=m1), dict(kw2, mask=m2)
    if train:  # batch-coupled: each batch on its own
        ref_sym = _explicit(apply, params, x1, x1, kw1=kw1, kw2=kw1)
        ref_cross = _explicit(apply, params, x1, x2, kw1=kw1, kw2=kw2)
    else:  # per example: one Jacobian of both sets of points
        both = _explicit(apply, params, np.concatenate([x1, x2]), np.concatenate([x1, x2]), kw1=kw1, kw2=kw1)
        ref_sym, ref_cross = both[:n1, :n1], both[:n1, n1:]
    scale = np.abs(ref_sym).max()
    runs = [("structured", block, None), ("structured", block, x2), ("jacobian", block, None), ("jacfwd", None, None)]
    if not train:  # (the batch-coupled x2 code is the same function as for x1)
        runs.append(("jacobian", block, x2))
    if case == "relu-1d":
        runs += [("jacfwd", None, x2), ("auto", None, None)]  # default block size: one block
    for algorithm, bs, xb in runs:
        k = kernels.parametric_kernel(apply, params, x1, xb, algorithm=algorithm, batch_size=bs, train=train,
                                      x1_kwargs=ex1, x2_kwargs=None if xb is None else ex2)
        assert k.dtype == jnp.float64
        ref = ref_sym if xb is None else ref_cross
        assert k.shape == ref.shape
        err = np.abs(np.asarray(k) - ref).max() / scale
        assert err < 1e-10, (case, algorithm, bs, xb is None, err)
        if xb is None:
            np.testing.assert_array_equal(np.asarray(k), np.asarray(k).T)


def test_closed_form_one_hidden_relu(x64):
    # D(x) = Σ_h v_h relu(w_h x + b_h) + c:  K(x, y) = 1 + Σ_h [relu_h(x) relu_h(y) + v_h² 1_h(x) 1_h(y) (x y + 1)]
    init, apply = nets.mlp((1, 40, 1), "relu")
    p = init(jax.random.PRNGKey(7))
    w, b = np.asarray(p["dense"][0]["w"])[0], np.asarray(p["dense"][0]["b"])
    v = np.asarray(p["dense"][1]["w"])[:, 0]
    x, y = np.linspace(-2, 2, 9), np.linspace(-1.3, 2.9, 5)
    hx, hy = np.outer(x, w) + b, np.outer(y, w) + b
    ref = (1 + np.maximum(hx, 0) @ np.maximum(hy, 0).T
           + ((hx > 0) * v ** 2) @ (hy > 0).T.astype(float) * (np.outer(x, y) + 1))
    k = kernels.parametric_kernel(apply, p, x, y)
    np.testing.assert_allclose(np.asarray(k), ref, rtol=1e-12, atol=1e-12)


def test_symmetric_psd_float32():
    init, apply = nets.mlp((1, 64, 64, 1), "relu")
    p = init(jax.random.PRNGKey(0))
    x = np.linspace(-2, 2, 96, dtype=np.float32)
    k = np.asarray(kernels.parametric_kernel(apply, p, x, batch_size=40))  # 3 blocks, last one short
    assert k.dtype == np.float32
    np.testing.assert_array_equal(k, k.T)
    lam = np.linalg.eigvalsh(k.astype(np.float64))
    assert lam.min() > -1e-6 * lam.max()
    k_one = np.asarray(kernels.parametric_kernel(apply, p, x))
    np.testing.assert_allclose(k, k_one, rtol=2e-5, atol=2e-5 * np.abs(k).max())


# μ small enough to stay in the Taylor regime: below the ReLU kink crossings, and for BatchNorm in
# train mode a seed without a near-constant unit (batch variance ≪ 1 makes D strongly non-linear in θ)
@pytest.mark.parametrize("act, bn, seed, mu0", [("tanh", False, 3, 1e-3), ("relu", False, 3, 1e-5),
                                                 ("tanh", True, 8, 1e-3)])
def test_first_order_step_of_the_article(x64, act, bn, seed, mu0):
    # θ += μ ∇θ Σ_j w_j g_j D(x_j)  ⇒  ΔD(x) = μ K(x, X) (w ⊙ g) + O(μ²)
    init, apply = nets.mlp((1, 12, 12, 1), act, batchnorm=bn)
    p = init(jax.random.PRNGKey(seed))
    X = np.linspace(-1.5, 1.5, 11)  # host arrays: no compiled op per line
    x_out = X if bn else np.linspace(-2, 2, 7)  # BatchNorm in train mode: D on the batch itself
    train = True if bn else None
    if bn:
        var = jax.jit(lambda q: nets._forward(apply.spec, q, X, train=True)[1]["batch_var"])(p)
        assert min(float(np.min(v)) for v in var) > 5e-3
    w = np.full(11, 3.0 / 10)
    g = np.sin(3 * X) + 0.5
    mus = np.array([mu0, mu0 / 2, mu0 / 4])
    delta = np.asarray(_first_order_deltas(apply, bool(bn), p, X, w * g, x_out, mus))
    k = kernels.parametric_kernel(apply, p, x_out, None if bn else X, train=train)
    pred = np.asarray(k) @ (w * g)
    errs = []
    for mu, d in zip(mus, delta):
        errs.append(np.abs(d - mu * pred).max())
        assert errs[-1] < 1e-2 * np.abs(mu * pred).max()
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    np.testing.assert_allclose(ratios, 4.0, rtol=0.05)  # the error is O(μ²)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _first_order_deltas(apply, train, p, X, wg, x_out, mus):
    """`D_{θ + μ ∇θ Σ_j (w g)_j D(x_j)}(x_out) − D_θ(x_out)` for each μ, in one compiled program."""
    kw = {"train": True} if train else {}
    grad = jax.grad(lambda q: jnp.sum(wg * apply(q, X, **kw)))(p)
    base = apply(p, x_out, **kw)

    def moved(mu):
        return apply(jax.tree_util.tree_map(lambda a, da: a + mu * da, p, grad), x_out, **kw) - base

    return jax.lax.map(moved, mus)


def test_kernel_vp_equals_k_times_g(x64):
    init, apply = nets.mlp((2, 8, 8, 1), "leaky_relu", batchnorm=True)
    p = init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(1)
    xo, xi, g = rng.normal(size=(6, 2)), rng.normal(size=(6, 2)), rng.normal(size=(6, 3))
    for train, gg in ((False, g), (True, g[:, 0])):  # m vectors at once / one vector
        k = np.asarray(kernels.parametric_kernel(apply, p, xo, xi, train=train))
        np.testing.assert_allclose(kernels.kernel_vp(apply, p, xo, xi, gg, train=train), k @ gg,
                                   rtol=1e-11, atol=1e-11 * np.abs(k).max())
    # a pure JAX function: under grad (of Σ_i (K g)_i with respect to g: the column sums of K)
    col = jax.jit(jax.grad(lambda v: jnp.sum(kernels.kernel_vp(apply, p, xo, xi, v, train=True))))(g[:, 0])
    np.testing.assert_allclose(col, k.sum(axis=0), rtol=1e-11, atol=1e-11 * np.abs(k).max())


def test_generic_networks_match_structured(x64):
    init, apply = nets.mlp((2, 7, 1), "tanh")
    p = init(jax.random.PRNGKey(0))
    x = np.random.default_rng(1).normal(size=(8, 2))

    def user_apply(params, x):  # the same network written by a user: generic path
        (l1, l2) = params
        return (jnp.tanh(x @ l1["w"] + l1["b"]) @ l2["w"] + l2["b"])[:, 0]

    ref = kernels.parametric_kernel(apply, p, x)
    k_user = kernels.parametric_kernel(user_apply, tuple(p["dense"]), x, batch_size=3)
    np.testing.assert_allclose(k_user, ref, rtol=1e-12, atol=1e-12)
    with pytest.raises(ArgumentError, match="structured"):
        kernels.parametric_kernel(user_apply, tuple(p["dense"]), x, algorithm="structured")
    eqx = pytest.importorskip("equinox")
    shapes = eqx.filter_eval_shape(eqx.nn.MLP, 2, "scalar", 5, 1, activation=jnp.tanh, key=jax.random.PRNGKey(2))
    shapes, static = eqx.partition(shapes, lambda a: isinstance(a, jax.ShapeDtypeStruct))
    rng = np.random.default_rng(2)  # weights drawn on the host: an eager init compiles op by op
    arrays = jax.tree_util.tree_map(lambda sd: rng.normal(size=sd.shape) / 2, shapes)

    def eqx_apply(arr, x):
        return jax.vmap(eqx.combine(arr, static))(x)

    k_eqx = kernels.parametric_kernel(eqx_apply, arrays, x)
    np.testing.assert_allclose(k_eqx, _explicit(eqx_apply, arrays, x, x), rtol=1e-12, atol=1e-12)


def test_spectrum_closed_form():
    rng = np.random.default_rng(0)
    n = 12
    w = rng.uniform(0.5, 2.0, n)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = np.geomspace(1.0, 1e-6, n)
    s_half = 1 / np.sqrt(w)
    k = (s_half[:, None] * (q * lam) @ q.T) * s_half[None, :]  # W^½ K W^½ = Q Λ Qᵀ
    sp = kernels.spectrum(k, w)
    np.testing.assert_allclose(sp.eigenvalues, lam, rtol=1e-8, atol=1e-14)
    phi = sp.eigenfunctions
    np.testing.assert_allclose(phi.T @ (w[:, None] * phi), np.eye(n), atol=1e-10)  # orthonormal in L²(w)
    np.testing.assert_allclose(k @ (w[:, None] * phi), phi * sp.eigenvalues, atol=1e-10)  # T φ = λ φ
    flat = kernels.spectrum(np.eye(5))
    assert flat.effective_rank == pytest.approx(5.0) and flat.participation_ratio == pytest.approx(5.0)
    one = kernels.spectrum(np.ones((4, 4)))
    assert one.effective_rank == pytest.approx(1.0, abs=1e-6)
    assert kernels.spectrum(np.eye(3, dtype=np.float32)).noise_floor == pytest.approx(np.finfo(np.float32).eps)


_eval = jax.jit(lambda field, z: field(z))  # one compiled evaluation per kind of field


def _pointwise(game, pd, d, pg):
    return np.asarray(_eval(jaxgan.pointwise_field(game, pd), jnp.array([d, pg])))


def test_kernel_field_delta_reduction(x64):
    n = 6
    w = np.full(n, 0.125)  # a power of two: (1/w)·(w·g) = g exactly
    pd = np.linspace(0.2, 1.5, n)
    z = np.concatenate([np.linspace(0.2, 0.8, n), np.linspace(0.1, 2.0, n)])
    delta = np.diag(1 / w)
    for game in ("minimax", "non_saturating", "quadratic"):
        f = jaxgan.kernel_field(game, pd, w, delta, delta, constant="d0")
        v = np.asarray(_eval(f, jnp.asarray(z)))
        ref = np.array([_pointwise(game, pd[i], z[i], z[n + i]) for i in range(n)])
        np.testing.assert_array_equal(v[:n], ref[:, 0])
        np.testing.assert_array_equal(v[n:], ref[:, 1])
        # random weights: equal to rounding
        wr = np.random.default_rng(1).uniform(0.05, 0.3, n)
        fr = jaxgan.kernel_field(game, pd, wr, np.diag(1 / wr), constant="d0")
        np.testing.assert_allclose(np.asarray(_eval(fr, jnp.asarray(z))), np.concatenate([ref[:, 0], ref[:, 1]]),
                                   rtol=1e-14, atol=1e-14)
        # Lagrange constant: the pointwise field with f3(D0) replaced by c = Σ w f3(D) / Σ w
        fl = jaxgan.kernel_field(game, pd, w, delta)
        g = jaxgan.games.get(game)
        f3 = np.asarray(jax.jit(jax.vmap(g.f3))(np.append(z[:n], g.rest_d())))  # one compiled program
        c = np.dot(w, f3[:n]) / w.sum()
        shift = float(f3[n]) - c
        np.testing.assert_allclose(np.asarray(_eval(fl, jnp.asarray(z)))[n:], ref[:, 1] + shift, rtol=1e-13, atol=1e-13)
        # at the rest point both agree with the pointwise rest point
        np.testing.assert_allclose(_eval(fl, fl.rest_point), 0.0, atol=1e-14)
    # the linearisation: union of the pointwise 2×2 spectra
    f = jaxgan.kernel_field("minimax", pd, w, delta, constant="d0")
    ev = kernels.field_eigenvalues(f)
    ref = np.concatenate([jaxgan.analyze(jaxgan.pointwise_field("minimax", p)).eigenvalues for p in pd])
    ref = ref[np.lexsort((ref.imag, ref.real))]
    np.testing.assert_allclose(ev, ref, atol=1e-12)
    assert jaxgan.analyze(f).stable


def test_kernel_field_jacobian_closed_form_and_mass(x64):
    rng = np.random.default_rng(2)
    n = 5
    w = rng.uniform(0.1, 0.4, n)
    pd = rng.uniform(0.3, 1.2, n)
    a, b = rng.normal(size=(n, n)), rng.normal(size=(n, n))
    kd, kg = a @ a.T + 0.1 * np.eye(n), b @ b.T + 0.1 * np.eye(n)
    f = jaxgan.kernel_field("minimax", pd, w, kd, kg)
    rep = jaxgan.analyze(f)
    # minimax at D0 = 1/2: f1''+f2'' = -8, f2' = -2, f3' = 2;  Π = I - K_G w wᵀ / (wᵀ K_G w)
    W = np.diag(w)
    proj = np.eye(n) - np.outer(kg @ w, w) / (w @ kg @ w)
    ref = np.block([[kd @ W @ np.diag(-8 * pd), kd @ W * -2.0], [proj @ kg @ W * 2.0, np.zeros((n, n))]])
    np.testing.assert_allclose(rep.jacobian, ref, rtol=1e-12, atol=1e-12)
    assert rep.kind == "degenerate"  # the conserved mass: one structural zero eigenvalue
    modes = kernels.field_modes(f)
    assert modes.eigenvalues.size == 2 * n - 1 and modes.damped == 2 * n - 1
    # mass Σ w pg is conserved by every Euler step (a linear invariant), from any start
    z0 = np.concatenate([np.full(n, 0.4), pd * 1.3])
    path = jaxgan.simulate(f, z0, steps=400, lr=2e-3, save_every=100)
    mass = np.asarray(path)[:, n:] @ w
    np.testing.assert_allclose(mass, mass[0], rtol=1e-13)


def test_discriminator_field_normalised(x64):
    init, apply = nets.mlp((1, 16, 16, 1), "tanh")
    p = init(jax.random.PRNGKey(0))
    x = np.linspace(-2, 2, 10)
    w = np.full(10, 4 / 9)
    pd = np.exp(-x ** 2 / 2) / np.sqrt(2 * np.pi)
    f = kernels.discriminator_field("minimax", apply, p, x, pd, w)
    assert kernels.spectrum(np.asarray(f.params["K_D"]), w).eigenvalues[0] == pytest.approx(1.0)
    f_jac = kernels.discriminator_field("minimax", apply, p, x, pd, w, algorithm="jacobian", batch_size=3)
    np.testing.assert_allclose(f_jac.params["K_D"], f.params["K_D"], rtol=1e-12, atol=1e-12)
    with pytest.raises(ArgumentError, match="algorithm"):
        kernels.discriminator_field("minimax", apply, p, x, pd, w, algorithm="fast")
    m = kernels.field_modes(f)
    assert m.damped + m.neutral + m.growing == 19 and m.growing == 0


def test_modes_live_in_stability():
    from jaxgan.stability import modes

    # one implementation, re-exported for compatibility
    assert kernels.field_modes is modes.field_modes and kernels.FieldModes is modes.FieldModes
    assert kernels.field_eigenvalues is modes.field_eigenvalues and kernels.kernel_field is jaxgan.fields.kernel_field
    m = modes.FieldModes(np.array([-3 + 1j, -3 - 1j, -0.5, 1e-12, 2.0]), 1e-9, 3, 1, 1)
    assert m.slowest_damping == pytest.approx(0.5)
    assert np.isnan(modes.FieldModes(np.array([1e-12, 2.0]), 1e-9, 0, 1, 1).slowest_damping)
    with pytest.raises(ArgumentTypeError, match="field_eigenvalues argument `field`"):
        kernels.field_eigenvalues(np.eye(2))
    with pytest.raises(ArgumentError, match="rest point"):
        kernels.field_modes(jaxgan.Field(lambda p, z: -z, labels=("a", "b")))
    # away from the rest point, at z: the Jacobian there (this field is linear: the same spectrum)
    f = jaxgan.Field(lambda p, z: jnp.array([-2.0 * z[0] + z[1], -z[1]]), rest_point=jnp.zeros(2))
    np.testing.assert_allclose(kernels.field_eigenvalues(f, jnp.ones(2)).real, [-2.0, -1.0], atol=1e-6)
    assert kernels.field_modes(f).damped == 2


def test_kernel_study_bn_eval():
    prev = jax.config.jax_enable_x64
    n, lo, hi = 9, -2.0, 2.5
    s = kernels.kernel_study(activation="relu", width=8, depth=1, batchnorm=True, bn_mode="eval", n=n,
                             x_range=(lo, hi), game="non_saturating", seed=3)
    assert jax.config.jax_enable_x64 == prev  # the library never flips the global flag
    assert s.name == "relu+BN(eval)" and s.architecture == "1→8→1" and s.train is False
    assert s.n_params == 8 + 8 + 2 * 8 + 8 + 1 and s.game is jaxgan.games.get("non_saturating")
    np.testing.assert_allclose(s.x, np.linspace(lo, hi, n))
    assert s.weights.sum() == pytest.approx(hi - lo) and s.weights[0] == pytest.approx(s.weights[1] / 2)
    assert np.dot(s.weights, s.pd) == pytest.approx(1.0)
    np.testing.assert_allclose(s.pd / s.pd.max(), np.exp(-0.5 * s.x ** 2) / np.exp(-0.5 * s.x ** 2).max())
    # BatchNorm's running statistics are those of 512 N(0, 1) samples drawn from the seed
    samples = jax.random.normal(jax.random.split(jax.random.PRNGKey(3))[1], (512, 1))
    h = np.asarray(samples) @ np.asarray(s.params["dense"][0]["w"]) + np.asarray(s.params["dense"][0]["b"])
    np.testing.assert_allclose(s.params["batch_stats"][0]["mean"], h.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s.params["batch_stats"][0]["var"], h.var(0), rtol=1e-4)
    # K is the network's kernel in eval mode (float32), its spectrum that of K W, the field normalised
    ref = kernels.parametric_kernel(s.apply, s.params, s.x.astype(np.float32), train=False, algorithm="jacfwd")
    assert s.K.dtype == np.float32 and isinstance(s.K, np.ndarray)
    np.testing.assert_allclose(s.K, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    np.testing.assert_allclose(s.spectrum.eigenvalues, kernels.spectrum(s.K, s.weights).eigenvalues)
    assert kernels.spectrum(np.asarray(s.field.params["K_D"]), s.weights).eigenvalues[0] == pytest.approx(1.0, 1e-5)
    assert s.field.name == "non_saturating/relu+BN(eval)" and s.field.dim == 2 * n
    assert s.modes.damped + s.modes.neutral + s.modes.growing == 2 * n - 1  # the Lagrange subspace
    summary = json.loads(json.dumps(s.summary(n_eigenvalues=4)))
    assert summary["network"] == "relu+BN(eval)" and len(summary["eigenvalues"]) == 4
    assert summary["field_damped"] == s.modes.damped and len(summary["field_eigenvalues"]) == 2 * n - 1


def test_kernel_study_float64_in_a_scope():
    prev = jax.config.jax_enable_x64
    with jax.enable_x64(True):
        s = kernels.kernel_study(activation="tanh", width=6, depth=2, n=7, algorithm="jacobian")
        ref = kernels.parametric_kernel(s.apply, s.params, s.x, algorithm="jacfwd")
    assert jax.config.jax_enable_x64 == prev
    assert s.K.dtype == np.float64 and s.name == "tanh" and s.train is None
    np.testing.assert_allclose(s.K, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    assert s.modes.resolution < 1e-6 * np.abs(s.modes.eigenvalues).max()  # √eps of float64


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(n=1), ArgumentError, "`n`"),
    (dict(x_range=(3.0, -3.0)), ArgumentError, "x_range"),
    (dict(bn_mode="batch"), ArgumentError, "bn_mode"),
    (dict(activation="sigmoid"), ArgumentError, "activation"),
    (dict(algorithm="fast"), ArgumentError, "algorithm"),
    (dict(width=2.5), ArgumentTypeError, "width"),
    (dict(seed=-1), ArgumentError, "seed"),
    (dict(batchnorm="yes"), ArgumentTypeError, "batchnorm"),
])
def test_kernel_study_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        kernels.kernel_study(**kwargs)


@pytest.fixture(scope="module")
def small_net():
    init, apply = nets.mlp((2, 4, 1), "relu")
    return apply, init(jax.random.PRNGKey(0))


def test_bad_input(small_net):
    apply, p = small_net
    x = jnp.ones((3, 2))
    pk = kernels.parametric_kernel
    with pytest.raises(ArgumentError, match="apply_fn.*one scalar per input"):
        pk(lambda q, xx: jnp.ones((xx.shape[0], 2)), p, x)
    with pytest.raises(ValueError, match="apply_fn.*one scalar per input"):
        pk(lambda q, xx: jnp.sum(xx), p, x)
    with pytest.raises(ArgumentTypeError, match="apply_fn"):
        pk("not a function", p, x)
    with pytest.raises(ValueError, match="x1.*shape"):
        pk(apply, p, jnp.ones((3, 2, 1)))
    with pytest.raises(ValueError, match="x1.*shape"):
        pk(apply, p, jnp.ones((3,)))  # d_in = 2
    with pytest.raises(ValueError, match="x2.*2 features"):
        pk(apply, p, x, jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="same feature shape"):
        pk(lambda q, xx: jnp.sum(xx, axis=(1,)) * q, jnp.ones(()), x, jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="x1.*leading axis"):
        pk(lambda q, xx: xx * q, jnp.ones(()), 1.0)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="batch_size"):
            pk(apply, p, x, batch_size=bad)
    with pytest.raises(ArgumentTypeError, match="batch_size"):
        pk(apply, p, x, batch_size=2.5)
    with pytest.raises(ArgumentError, match="memory_budget"):
        pk(apply, p, x, memory_budget=-1)
    with pytest.raises(ArgumentTypeError, match="train"):
        pk(apply, p, x, train="yes")
    with pytest.raises(ArgumentError, match="algorithm"):
        pk(apply, p, x, algorithm="fast")
    with pytest.raises(TypeError, match="method"):  # `method` names an update rule in jaxgan, not this
        pk(apply, p, x, method="jacobian")
    with pytest.raises(ArgumentError, match="jacfwd"):
        pk(apply, p, x, algorithm="jacfwd", memory_budget=100)
    with pytest.raises(ArgumentTypeError, match="params"):
        pk(lambda q, xx: xx[:, 0] * q, jnp.int32(2), x)
    with pytest.raises(ArgumentError, match="layout"):
        pk(apply, {"dense": p["dense"][:1]}, x)
    init_bn, apply_bn = nets.mlp((2, 4, 1), "relu", batchnorm=True)
    with pytest.raises(ValueError, match="train=False.*train=True"):
        pk(apply_bn, init_bn(jax.random.PRNGKey(0)), x)
    init_do, apply_do = nets.mlp((2, 4, 1), "relu", dropout=0.5)
    with pytest.raises(ValueError, match="mask"):
        pk(apply_do, init_do(jax.random.PRNGKey(0)), x, train=True)
    with pytest.raises(ValueError, match="x1_kwargs.*leading axis of 3"):
        pk(apply_do, init_do(jax.random.PRNGKey(0)), x, train=True, x1_kwargs={"mask": [jnp.ones((2, 4))]})
    with pytest.raises(ArgumentError, match="g.*shape"):
        kernels.kernel_vp(apply, p, x, x, jnp.ones(4))
    # spectrum / kernel_field weights and matrices
    with pytest.raises(ValueError, match="weights.*positive"):
        kernels.spectrum(np.eye(3), [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"weights.*shape \(3,\)"):
        kernels.spectrum(np.eye(3), [1.0, 1.0])
    with pytest.raises(ValueError, match="K.*square"):
        kernels.spectrum(np.ones((3, 2)))
    with pytest.raises(ArgumentError, match="symmetric"):
        kernels.spectrum(np.triu(np.ones((3, 3))))
    with pytest.raises(ValueError, match="weights.*positive"):
        jaxgan.kernel_field("minimax", np.ones(3), [0.1, -0.1, 0.1], np.eye(3))
    with pytest.raises(ValueError, match="pd.*positive"):
        jaxgan.kernel_field("minimax", np.array([1.0, 0.0, 1.0]), np.ones(3), np.eye(3))
    with pytest.raises(ValueError, match="K_D.*shape"):
        jaxgan.kernel_field("minimax", np.ones(3), np.ones(3), np.eye(4))
    with pytest.raises(ValueError, match="constant"):
        jaxgan.kernel_field("minimax", np.ones(3), np.ones(3), np.eye(3), constant="mean")


def test_cli_kernel_command(tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    from jaxgan import cli

    # the network, grid size and game of test_kernel_study_bn_eval: its compiled programs serve here too
    rc = cli.main(["kernel", "--act", "relu", "--bn", "--bn-mode", "eval", "--width", "8", "--depth", "1", "--n", "9",
                   "--game", "non_saturating", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "relu+BN(eval)" in out and "damped" in out
    for name in ("kernel.png", "spectrum.png", "eigenfunctions.png", "field_eigenvalues.png"):
        assert (tmp_path / name).stat().st_size > 1000
    summary = json.loads((tmp_path / "kernel_summary.json").read_text())
    assert [c["network"] for c in summary["cases"]] == ["relu+BN(eval)"]
    assert all(c["field_damped"] + c["field_neutral"] + c["field_growing"] == 17 for c in summary["cases"])
    assert cli.main(["kernel", "--n", "1"]) == 2
    with pytest.raises(SystemExit):
        cli.main(["kernel", "--act", "sigmoid"])
