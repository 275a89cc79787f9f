"""jaxgan.kernels.top_spectrum: the matrix-free top of a kernel's spectrum against the dense route
(`spectrum(parametric_kernel(...), weights)`, numpy's eigh), both products (structured factors of
jaxgan MLPs, the linearised vjp of any function) and both eigensolvers; warnings and errors.

float64 tests use the `x64` fixture of conftest.py."""

import warnings

import jax
import numpy as np
import pytest

from jaxgan import kernels, nets
from jaxgan.errors import ArgumentError, ArgumentTypeError, ConvergenceWarning
from jaxgan.kernels import eigen


def _dense(apply, params, x, w, **kw):
    k = np.asarray(kernels.parametric_kernel(apply, params, x, **kw), np.float64)
    return k, kernels.spectrum(k, w)


def _explicit(apply, params, x, w, **kw):
    """`(K, spectrum)` with K = J Jᵀ from the reverse-mode Jacobian of the batch outputs (one batch:
    for BatchNorm in train mode the batch operator)."""
    leaves = jax.tree_util.tree_leaves(jax.jit(jax.jacrev(lambda p: apply(p, x, **kw).reshape(-1)))(params))
    j = np.concatenate([np.asarray(a).reshape(np.shape(x)[0], -1) for a in leaves], axis=1)  # on the host
    k = j @ j.T
    return k, kernels.spectrum(k, w)


def _true_residuals(k, w, top):
    """`‖K W φ − λ φ‖_{L²(w)} / λ_1` from the dense kernel."""
    r = k @ (w[:, None] * top.eigenfunctions) - top.eigenfunctions * top.eigenvalues[None, :]
    return np.sqrt(np.sum(w[:, None] * r ** 2, axis=0)) / top.eigenvalues[0]


def _check_vectors(top, sp, w, k, rel_gap=1e-3, tol=1e-6):
    """Eigenfunctions equal to the dense ones up to sign, where the eigenvalue is separated from its
    neighbours by more than `rel_gap·λ_1` (else only the spanned space is defined)."""
    lam = sp.eigenvalues
    below = lam[:k] - lam[1: k + 1]
    above = np.r_[np.inf, lam[: k - 1] - lam[1:k]]
    gaps = np.minimum(below, above)
    checked = 0
    for i in range(k):
        if gaps[i] > rel_gap * lam[0]:
            overlap = abs(np.sum(w * top.eigenfunctions[:, i] * sp.eigenfunctions[:, i]))
            assert abs(overlap - 1) < tol, (i, overlap)
            checked += 1
    assert checked >= 2


@pytest.fixture(scope="module")
def tanh_net():
    init, apply = nets.mlp((1, 24, 24, 1), "tanh")
    return init, apply


def test_float64_agrees_with_dense_eigh_both_products_and_solvers(x64, tanh_net):
    init, apply = tanh_net
    params = init(jax.random.PRNGKey(0))
    n, k = 128, 8
    x = np.linspace(-3, 3, n)
    w = np.random.default_rng(0).uniform(0.5, 1.5, n) * (6 / n)
    kmat, sp = _dense(apply, params, x, w)
    plain = lambda p, xx: apply(p, xx)  # noqa: E731  (not a jaxgan MLP: the linearised products)
    runs = [(apply, "lanczos", "structured"), (plain, "lanczos", "linearized"), (apply, "lobpcg", "structured")]
    for model, algorithm, product in runs:
        top = kernels.top_spectrum(model, params, x[:, None], k, weights=w, algorithm=algorithm)
        assert (top.product, top.algorithm, top.converged) == (product, algorithm, True)
        assert top.eigenvalues.shape == (k,) and top.eigenfunctions.shape == (n, k) and top.residuals.shape == (k,)
        rel = np.abs(top.eigenvalues / sp.eigenvalues[:k] - 1)
        assert rel.max() < 1e-8, (algorithm, product, rel)
        # orthonormal in L²(w), and the reported residuals are the true ones (up to round-off)
        gram = top.eigenfunctions.T @ (w[:, None] * top.eigenfunctions)
        assert np.abs(gram - np.eye(k)).max() < 1e-10
        true = _true_residuals(kmat, w, top)
        assert np.all(true <= np.maximum(2 * top.residuals, 1e-13)), (true, top.residuals)
        assert np.all(top.residuals <= top.tol) and top.tol == 1e-10
        _check_vectors(top, sp, w, k)
        assert top.noise_floor == pytest.approx(np.finfo(np.float64).eps * top.eigenvalues[0])
        assert 1 <= top.n_matvecs


def test_float32_agrees_with_dense_at_a_looser_tolerance():
    init, apply = nets.mlp((1, 32, 32, 1), "relu")
    params = init(jax.random.PRNGKey(1))
    n, k = 128, 6
    x = np.linspace(-2, 2, n).astype(np.float32)
    kmat, sp = _dense(apply, params, x, None)
    top = kernels.top_spectrum(apply, params, x, k)
    assert top.converged and top.tol == 1e-5
    assert np.abs(top.eigenvalues - sp.eigenvalues[:k]).max() < 1e-5 * sp.eigenvalues[0]
    assert np.abs(top.eigenvalues[:3] / sp.eigenvalues[:3] - 1).max() < 1e-4
    assert top.noise_floor == pytest.approx(np.finfo(np.float32).eps * top.eigenvalues[0])
    assert np.all(_true_residuals(kmat, np.ones(n), top) < 1e-4)


def test_batchnorm_train_mode_is_the_batch_operator(x64):
    init, apply = nets.mlp((1, 8, 1), "relu", batchnorm=True)  # in train mode: rank 4 on a batch
    params = init(jax.random.PRNGKey(2))
    n, k = 64, 4
    x = np.random.default_rng(3).normal(size=n)
    w = np.full(n, 1.0 / n)
    _, sp = _explicit(apply, params, x, w, train=True)
    top = kernels.top_spectrum(apply, params, x, k, weights=w, train=True)
    assert top.product == "linearized" and top.converged  # the vjp of the whole batch
    assert np.abs(top.eigenvalues / sp.eigenvalues[:k] - 1).max() < 1e-8
    # eval mode is a different operator (running statistics): the structured factors
    _, sp_eval = _explicit(apply, params, x, w, train=False)
    top_eval = kernels.top_spectrum(apply, params, x, k, weights=w, train=False)
    assert top_eval.product == "structured"
    assert np.abs(top_eval.eigenvalues / sp_eval.eigenvalues[:k] - 1).max() < 1e-8
    assert abs(top_eval.eigenvalues[0] / top.eigenvalues[0] - 1) > 1e-3


def test_k_equal_to_n_on_a_rank_deficient_kernel(x64):
    # 1→3→1: 10 parameters, so K on 16 points has rank ≤ 10 and six (or more) zero eigenvalues.
    init, apply = nets.mlp((1, 3, 1), "tanh")
    params = init(jax.random.PRNGKey(4))
    x = np.linspace(-1, 1, 16)
    _, sp = _dense(apply, params, x, None)
    top = kernels.top_spectrum(apply, params, x, 16)
    assert top.converged
    assert np.abs(top.eigenvalues - sp.eigenvalues).max() < 1e-10 * sp.eigenvalues[0]
    gram = top.eigenfunctions.T @ top.eigenfunctions
    assert np.abs(gram - np.eye(16)).max() < 1e-8


def test_thick_restarts_on_a_slowly_decaying_known_spectrum():
    # evenly spaced eigenvalues (gaps 1/300): a Krylov space of 16 needs many restarts for the top 5.
    n, k, m = 300, 5, 16
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = np.linspace(1.0, 0.0, n)
    a = (q * lam) @ q.T
    events = []
    theta, y, res, n_mv = eigen._lanczos(lambda v: a @ v, n, k, m, 1e-11, 2000, rng.normal(size=n),
                                         np.finfo(np.float64).eps, lambda done, msg="": events.append(done))
    assert n_mv > 5 * m and len(events) == n_mv  # restarted several times
    np.testing.assert_allclose(theta, lam[:k], rtol=1e-13)
    true = np.linalg.norm(a @ y - y * theta, axis=0) / theta[0]
    assert np.all(res <= 1e-11) and np.all(true <= 1e-10)
    np.testing.assert_allclose(np.abs(np.sum(y * q[:, :k], axis=0)), 1.0, atol=1e-8)


def test_too_few_iterations_warn_with_the_residuals(tanh_net):
    init, apply = tanh_net
    params = init(jax.random.PRNGKey(0))
    x = np.linspace(-3, 3, 128)
    events = []
    with pytest.warns(ConvergenceWarning, match=r"top_spectrum: \d+ of 6 eigenpairs did not reach tol") as rec:
        top = kernels.top_spectrum(apply, params, x, 6, max_iters=6, tol=1e-6, progress=events.append)
    assert not top.converged and top.n_matvecs == 6 and top.eigenvalues.shape == (6,)
    res = rec[0].message.residuals
    np.testing.assert_array_equal(res, top.residuals)
    assert np.max(res) > 1e-6
    assert [e.done for e in events] == [1, 2, 3, 4, 5, 6, 6] and events[-1].message.startswith("NOT converged")
    # the same run with room to converge: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert kernels.top_spectrum(apply, params, x, 6, tol=1e-4).converged


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"k": 129}, ArgumentError, r"top_spectrum argument `k` must be an integer in \[1, 128\]"),
    ({"k": 0}, ArgumentError, r"top_spectrum argument `k` must be an integer ≥ 1; got 0"),
    ({"k": 2.0}, ArgumentTypeError, r"`k` must be an integer"),
    ({"weights": -np.ones(128)}, ArgumentError, r"`weights` must hold finite positive numbers"),
    ({"weights": np.ones(5)}, ArgumentError, r"`weights` must have shape \(128,\)"),
    ({"algorithm": "arnoldi"}, ArgumentError, r"`algorithm` must be"),
    ({"algorithm": "lobpcg", "k": 26}, ArgumentError, r"needs 5·k < n"),
    ({"tol": 0.0}, ArgumentError, r"`tol` must be a positive"),
    ({"max_iters": 3}, ArgumentError, r"`max_iters` must be an integer ≥ 4"),  # k = 4 products at least
    ({"max_iters": 0, "algorithm": "lobpcg"}, ArgumentError, r"`max_iters` must be an integer ≥ 1"),
    ({"progress": "yes"}, ArgumentTypeError, r"`progress` must be True, False or a callable"),
    ({"key": "seed"}, ArgumentTypeError, r"top_spectrum argument `key` must be a jax.random key"),
    ({"memory_budget": -1}, ArgumentError, r"`memory_budget` must be a positive"),
])
def test_bad_arguments_raise_before_any_product(monkeypatch, tanh_net, kwargs, exc, match):
    init, apply = tanh_net
    params = init(jax.random.PRNGKey(0))
    monkeypatch.setattr(eigen, "_operator", lambda *a: pytest.fail("computed before checking"))
    kw = {"k": 4, **kwargs}
    with pytest.raises(exc, match=match):
        kernels.top_spectrum(apply, params, np.linspace(-1, 1, 128), **kw)


def test_bad_network_and_mode_are_the_plan_errors(monkeypatch, tanh_net):
    init, apply = tanh_net
    monkeypatch.setattr(eigen, "_operator", lambda *a: pytest.fail("computed before checking"))
    with pytest.raises(ArgumentError, match="one scalar per input"):
        kernels.top_spectrum(lambda p, x: np.ones((x.shape[0], 2)) * p["w"], {"w": np.ones(1)}, np.ones((8, 1)), 2)
    bn_init, bn_apply = nets.mlp((1, 4, 1), batchnorm=True)
    with pytest.raises(ArgumentError, match="choose `train=False`"):
        kernels.top_spectrum(bn_apply, bn_init(jax.random.PRNGKey(0)), np.ones(8), 2)


def test_property_random_small_mlps_agree_with_dense(x64):
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings, strategies as st

    # few shapes (compiled once each), random weights, points, weights and k
    @settings(max_examples=3, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
    @given(act=st.sampled_from(nets.ACTIVATIONS), width=st.sampled_from([3, 8]), depth=st.integers(1, 2),
           n=st.sampled_from([16, 24]), k_frac=st.floats(0.05, 1.0), seed=st.integers(0, 2**16))
    def check(act, width, depth, n, k_frac, seed):
        init, apply = nets.mlp((1,) + (width,) * depth + (1,), act)
        params = init(jax.random.PRNGKey(seed))
        x = np.random.default_rng(seed).uniform(-2, 2, n)
        w = np.random.default_rng(seed + 1).uniform(0.5, 2.0, n)
        k = max(1, int(round(k_frac * n)))
        _, sp = _dense(apply, params, x, w)
        top = kernels.top_spectrum(apply, params, x, k, weights=w)
        assert top.converged
        assert np.abs(top.eigenvalues - sp.eigenvalues[:k]).max() <= 1e-9 * sp.eigenvalues[0]

    del hypothesis
    check()


# ----------------------------------------------------------------------------- kernel_study and `jaxgan kernel`


def test_kernel_study_goes_matrix_free_beyond_the_dense_limit():
    top = kernels.kernel_study(activation="tanh", width=8, depth=1, n=48, seed=1, dense_limit=40)
    assert top.method == "top-k" and top.K is None and top.field is None and top.modes is None
    assert isinstance(top.spectrum, kernels.TopSpectrum) and top.spectrum.eigenvalues.shape == (20,)
    np.testing.assert_array_equal(top.spectrum.weights, top.weights)  # the grid's trapezoid weights
    lam = _dense(top.apply, top.params, top.x.astype(np.float32), top.weights)[1].eigenvalues
    assert np.abs(top.spectrum.eigenvalues[:4] / lam[:4] - 1).max() < 1e-4
    assert np.abs(top.spectrum.eigenvalues - lam[:20]).max() < 1e-5 * lam[0]
    s = top.summary(n_eigenvalues=5)
    assert s["method"] == "top-k" and len(s["residuals"]) == 5 and s["effective_rank"] is None
    assert s["field_damped"] is None and s["converged"] is True
    with pytest.raises(ArgumentError, match=r"kernel_study argument `top_k` must be an integer in \[1, 48\]"):
        kernels.kernel_study(n=48, top_k=49)


def test_cli_kernel_top_k(tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    from jaxgan import cli

    # the network, grid size and k of test_kernel_study_goes_matrix_free: its compiled programs serve here too
    rc = cli.main(["kernel", "--act", "tanh", "--width", "8", "--depth", "1", "--n", "48", "--top-k", "20",
                   "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "top 20 eigenpairs" in out and "matrix-free" in out and "max residual" in out and "tanh " in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eigenfunctions.png", "kernel_summary.json", "spectrum.png"]
    summary = __import__("json").loads((tmp_path / "kernel_summary.json").read_text())
    assert [c["method"] for c in summary["cases"]] == ["top-k"]
    assert all(len(c["eigenvalues"]) == 20 and c["converged"] for c in summary["cases"])
    assert cli.main(["kernel", "--n", "8", "--top-k", "9"]) == 2
    assert "--top-k must be at most --n (8); got 9" in capsys.readouterr().err


def test_a_flax_dense_stack_takes_the_structured_products(x64):
    nn = pytest.importorskip("flax.linen")

    class Dense(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(1)(nn.tanh(nn.Dense(6)(x)))

    x = np.random.default_rng(6).normal(size=(48, 3))
    w = np.random.default_rng(7).uniform(0.5, 1.5, 48)
    module = Dense()  # recognised (plan.mlp_params in jaxgan's layout); other models: the linearised products
    v = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), jax.jit(module.init)(jax.random.PRNGKey(0), x[:2]))
    _, sp = _dense(module, v, x, w)
    top = kernels.top_spectrum(module, v, x, 4, weights=w)
    assert top.product == "structured" and top.converged
    assert np.abs(top.eigenvalues / sp.eigenvalues[:4] - 1).max() < 1e-8
