"""Sample-quality measures (jaxgan.neural.quality): modes of a Gaussian mixture, digit classes and the
Fréchet distance, against closed forms, an independent NumPy implementation of the mixture rule, and
scipy's matrix square root."""

import io
import math
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan.errors import ArgumentError, ArgumentTypeError, MissingExtraError
from jaxgan.neural import quality
from jaxgan.neural.data import grid_of_25, ring_of_8
from jaxgan.neural.quality import (DigitClassifier, digit_classifier, digit_quality, digit_quality_of, frechet_distance,
                                   mixture_quality, mixture_quality_of, reference_stats)

TAIL_2D = math.exp(-4.5)  # P(‖N(0, I₂)‖ > 3): the squared norm is χ²₂, an exponential of mean 2
N = 20_000  # one sample size for the mixture tests: one compiled program per mixture size


def _binomial_ok(fraction, p, n=N, z=4.0):
    return abs(fraction - p) <= z * math.sqrt(p * (1 - p) / n)


def _draw(mixture, n=N, seed=0, modes=None, spread=1.0):
    """`n` samples of `mixture` drawn with NumPy (independently of jaxgan's sampler), from `modes` only if given."""
    rng = np.random.default_rng(seed)
    means, stds = np.asarray(mixture.means), np.asarray(mixture.stds)
    comp = rng.choice(np.arange(len(stds)) if modes is None else np.asarray(modes), n)
    return (means[comp] + spread * stds[comp, None] * rng.standard_normal((n, mixture.dim))).astype(np.float32)


# ============================================================================ mixtures


@pytest.mark.parametrize("mixture", [ring_of_8(), grid_of_25()], ids=["ring8", "grid25"])
def test_samples_of_the_mixture_cover_every_mode_and_miss_only_the_tail(mixture):
    q = mixture_quality_of(_draw(mixture), mixture)
    assert q["modes_covered"] == mixture.n_components
    assert _binomial_ok(q["high_quality"], 1 - TAIL_2D), q
    assert isinstance(q["high_quality"], float)


def test_samples_of_three_of_the_eight_modes_cover_exactly_three():
    ring = ring_of_8()
    q = mixture_quality(_draw(ring, seed=1, modes=[0, 1, 2]), *ring.arrays())
    assert float(q["modes_covered"]) == 3
    assert _binomial_ok(float(q["high_quality"]), 1 - TAIL_2D)


def test_far_samples_cover_nothing():
    ring = ring_of_8()
    q = mixture_quality_of(_draw(ring, seed=2) + 100.0, ring)
    assert q == {"modes_covered": 0.0, "high_quality": 0.0}


def _numpy_quality(fake, means, stds, weights, n_sigma, min_share):
    """The rule of `mixture_quality`, written again with NumPy loops (the oracle)."""
    fake, means = np.asarray(fake, np.float64), np.asarray(means, np.float64)
    counts = np.zeros(len(means))
    good = 0
    for x in fake:
        dist = np.linalg.norm(means - x, axis=1)
        k = int(np.argmin(dist))
        if dist[k] <= n_sigma * stds[k]:
            good += 1
            counts[k] += 1
    w = np.asarray(weights, np.float64) / np.sum(weights)
    covered = (counts > 0) & (counts >= min_share * w * len(fake))
    return covered.sum(), good / len(fake)


def test_rule_matches_a_numpy_implementation_under_jit_and_vmap():
    ring = ring_of_8()
    fakes = np.stack([_draw(ring, 300, seed=s, modes=[0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6], spread=2.5)
                      for s in range(3)])
    means, stds, weights = np.asarray(ring.means), np.asarray(ring.stds), np.array([3.0, 1, 1, 1, 1, 1, 1, 1])
    n_sigmas = np.array([1.0, 3.0, 5.0], np.float32)

    @jax.jit
    def batched(fakes, n_sigmas):
        return jax.vmap(lambda f, s: mixture_quality(f, means, stds, weights, n_sigma=s, min_share=0.5))(fakes, n_sigmas)

    got = batched(fakes, n_sigmas)
    for i in range(3):
        covered, hq = _numpy_quality(fakes[i], means, stds, weights, float(n_sigmas[i]), 0.5)
        assert float(got["modes_covered"][i]) == covered
        assert float(got["high_quality"][i]) == pytest.approx(hq, abs=1e-6)
    assert len({float(v) for v in got["modes_covered"]}) > 1  # the radii make a difference here


def test_a_mode_needs_min_share_of_its_expected_count():
    ring = ring_of_8()
    means = np.asarray(ring.means, np.float32)
    far = np.full((N, 2), 50.0, np.float32)
    need = N // 8 // 4  # min_share 0.25 × (1/8 × N) samples
    for count, covered in ((need - 1, 0), (need, 1)):
        fake = far.copy()
        fake[:count] = means[0]
        q = mixture_quality_of(fake, ring, min_share=0.25)
        assert q["modes_covered"] == covered and q["high_quality"] == pytest.approx(count / N, rel=1e-6)
    fake = far.copy()
    fake[0] = means[5]
    assert mixture_quality_of(fake, ring, min_share=0.0)["modes_covered"] == 1  # VEEGAN: one sample covers
    assert mixture_quality_of(far, ring, min_share=0.0)["modes_covered"] == 0  # ... but none does not


def test_nan_samples_are_never_high_quality():
    ring = ring_of_8()
    fake = np.repeat(np.asarray(ring.means, np.float32), N // 8, axis=0)
    fake[::2] = np.nan
    assert mixture_quality_of(fake, ring, min_share=0.0) == {"modes_covered": 8.0, "high_quality": 0.5}


@pytest.mark.parametrize("change, arg", [
    (dict(fake=np.zeros((5, 3))), "fake"), (dict(fake=np.zeros(5)), "fake"),
    (dict(means=np.zeros(8)), "means"), (dict(stds=np.ones(7)), "stds"),
    (dict(weights=np.ones((8, 1))), "weights"), (dict(stds=-np.ones(8)), "stds"),
    (dict(weights=-np.ones(8)), "weights"), (dict(n_sigma=0.0), "n_sigma"), (dict(min_share=-0.1), "min_share"),
])
def test_bad_mixture_input_names_the_argument(change, arg):
    means, stds, weights = ring_of_8().arrays()
    kw = dict(fake=np.zeros((5, 2)), means=means, stds=stds, weights=weights) | change
    extra = {k: kw.pop(k) for k in ("n_sigma", "min_share") if k in kw}
    with pytest.raises(ArgumentError, match=f"`{arg}`"):
        mixture_quality(kw["fake"], kw["means"], kw["stds"], kw["weights"], **extra)


def test_shapes_are_checked_on_tracers_too():
    means, stds, weights = ring_of_8().arrays()
    with pytest.raises(ArgumentError, match="`fake` must have shape \\(n, 2\\)"):
        jax.jit(lambda f: mixture_quality(f, means, stds, weights))(jnp.zeros((4, 3)))
    with pytest.raises(ArgumentTypeError, match="`mixture`"):
        mixture_quality_of(np.zeros((4, 2)), means)


# ============================================================================ Fréchet distance


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    a, b = rng.uniform(0.1, 3.0, 5), rng.uniform(0.1, 3.0, 5)
    exact = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert float(got) == pytest.approx(exact, rel=1e-5)
    assert float(frechet_distance(mu1, np.diag(a), mu1, np.diag(a))) == pytest.approx(0.0, abs=1e-5)


def test_frechet_distance_matches_scipy_sqrtm_and_is_symmetric(x64):
    import scipy.linalg

    rng = np.random.default_rng(1)
    for f in (3, 7):
        m1, m2 = rng.normal(size=(f, f)), rng.normal(size=(f, 2 * f))
        c1, c2 = m1 @ m1.T + 0.1 * np.eye(f), m2 @ m2.T / (2 * f)
        mu1, mu2 = rng.normal(size=f), rng.normal(size=f)
        exact = np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(scipy.linalg.sqrtm(c1 @ c2)).real
        got = frechet_distance(mu1, c1, mu2, c2)
        assert got.dtype == jnp.float64
        assert float(got) == pytest.approx(exact, rel=1e-10)
        assert float(frechet_distance(mu2, c2, mu1, c1)) == pytest.approx(exact, rel=1e-10)


def test_frechet_distance_bad_shapes():
    with pytest.raises(ArgumentError, match="`cov2`"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))
    with pytest.raises(ArgumentError, match="`mu2`"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


# ============================================================================ digits


@pytest.fixture(scope="module")
def clf():
    return digit_classifier()  # trained once for this file (the test session's cache folder, conftest.py)


@pytest.fixture(scope="module")
def ref(clf):
    return reference_stats(clf)


def test_classifier_is_accurate_on_held_out_digits(clf):
    assert 0.95 <= clf.accuracy <= 1.0
    images, labels = jaxgan.datasets.load_digits()
    _, held = quality._split(len(labels))
    predicted = np.asarray(clf.predict(images[held]))
    assert np.mean(predicted == labels[held]) == pytest.approx(clf.accuracy, abs=1e-9)
    flat = images[held].reshape(len(held), 64)
    np.testing.assert_array_equal(np.asarray(clf.logits(flat)), np.asarray(clf.logits(images[held])))
    assert clf.features(images[held]).shape == (len(held), clf.feature_dim)
    with pytest.raises(ArgumentError, match="`x`"):
        clf.logits(np.zeros((3, 7, 7)))


def test_training_is_deterministic(clf):
    again = digit_classifier(cache=False)
    assert again is not clf and again.accuracy == clf.accuracy
    for a, b in zip(jax.tree_util.tree_leaves(again), jax.tree_util.tree_leaves(clf)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_real_digits_cover_every_class_and_one_class_covers_one(clf, ref):
    images, labels = jaxgan.datasets.load_digits()
    whole = digit_quality(images, clf, *ref)
    assert float(whole["classes_covered"]) == 10
    assert float(whole["fd"]) == pytest.approx(0.0, abs=1e-4 * float(jnp.trace(ref[1])))
    rng = np.random.default_rng(0)
    picks = [rng.choice(np.flatnonzero(np.isin(labels, keep)), 256) for keep in (range(10), [3], [0, 1])]
    got = jax.jit(jax.vmap(lambda f: digit_quality(f, clf, *ref)))(jnp.stack([images[p] for p in picks]))
    np.testing.assert_array_equal(np.asarray(got["classes_covered"]), [10, 1, 2])
    fd_real, fd_three, fd_pair = np.asarray(got["fd"])
    assert 0 < fd_real < fd_pair / 10 and fd_real < fd_three / 10, got["fd"]


def test_digit_quality_of_and_min_share(clf):
    images, labels = jaxgan.datasets.load_digits()
    # 10 % of the images are 1s, the rest 0s (as many as the real digits: the compiled program is reused):
    # share 0.1 of the 1s is covered at min_share 0.5 (needs 0.05), not at 1.5 (needs 0.15)
    rng = np.random.default_rng(1)
    n_ones = len(labels) // 10
    fake = np.concatenate([images[rng.choice(np.flatnonzero(labels == 0), len(labels) - n_ones)],
                           images[rng.choice(np.flatnonzero(labels == 1), n_ones)]])
    assert digit_quality_of(fake, clf)["classes_covered"] == 2
    assert digit_quality_of(fake, clf, min_share=1.5)["classes_covered"] == 1  # the 1s need 0.15 now
    fake[: len(labels) - n_ones] = np.nan  # the 0s diverged: no class for them, and no distance
    q = digit_quality_of(fake, clf)
    assert q["classes_covered"] == 1 and math.isnan(q["fd"])


@pytest.mark.parametrize("change, arg, error", [
    (dict(fake=np.zeros((4, 8, 8, 2))), "fake", ArgumentError), (dict(fake=np.zeros((1, 64))), "fake", ArgumentError),
    (dict(ref_cov=np.eye(3)), "ref_cov", ArgumentError), (dict(ref_mean=np.zeros(5)), "ref_mean", ArgumentError),
    (dict(classifier="net"), "classifier", ArgumentTypeError), (dict(min_share=-1.0), "min_share", ArgumentError),
])
def test_bad_digit_input_names_the_argument(clf, ref, change, arg, error):
    kw = dict(fake=np.zeros((4, 8, 8, 1)), classifier=clf, ref_mean=ref[0], ref_cov=ref[1], min_share=0.2) | change
    with pytest.raises(error, match=f"`{arg}`"):
        digit_quality(kw["fake"], kw["classifier"], kw["ref_mean"], kw["ref_cov"], min_share=kw["min_share"])


def test_classifier_cache_on_disk(clf, tmp_path, monkeypatch):
    monkeypatch.setenv("JAXGAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(quality, "_MEMORY", {})
    trained = []
    monkeypatch.setattr(quality, "_train", lambda *a: trained.append(1) or clf)

    first = digit_classifier()
    files = os.listdir(tmp_path / "models")
    assert len(trained) == 1 and len(files) == 1 and files[0].startswith("digit-classifier-")
    assert digit_classifier() is first  # the process's own copy

    monkeypatch.setattr(quality, "_MEMORY", {})
    loaded = digit_classifier()  # from the file, not trained
    assert len(trained) == 1 and loaded is not clf and loaded.accuracy == clf.accuracy
    for a, b in zip(jax.tree_util.tree_leaves(loaded), jax.tree_util.tree_leaves(clf)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    path = tmp_path / "models" / files[0]
    npy = io.BytesIO()
    np.save(npy, np.arange(3))
    for damage in (b"not a zip file", path.read_bytes()[:500], npy.getvalue()):  # corrupt, truncated, foreign
        path.write_bytes(damage)
        monkeypatch.setattr(quality, "_MEMORY", {})
        with pytest.warns(UserWarning, match="cannot be used"):
            digit_classifier()
    assert len(trained) == 4 and os.listdir(tmp_path / "models") == files  # rewritten in place, no temporaries
    monkeypatch.setattr(quality, "_MEMORY", {})
    digit_classifier()
    assert len(trained) == 4  # the rewritten file is read


def test_unwritable_cache_folder_is_a_warning(clf, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("JAXGAN_CACHE_DIR", str(tmp_path / "file"))  # a file where a folder should be
    monkeypatch.setattr(quality, "_MEMORY", {})
    monkeypatch.setattr(quality, "_train", lambda *a: clf)
    with pytest.warns(UserWarning, match="keeping it in memory only"):
        assert digit_classifier() is clf


def test_cache_folder_and_key():
    assert quality.quality_cache_dir({"JAXGAN_CACHE_DIR": "/c"}) == "/c/models"
    assert quality.quality_cache_dir({"XDG_CACHE_HOME": "/x", "JAXGAN_CACHE_DIR": ""}) == "/x/jaxgan/models"
    assert quality.quality_cache_dir({}) == os.path.expanduser("~/.cache/jaxgan/models")
    images, labels = np.zeros((3, 64), np.float32), np.arange(3)
    key = quality._cache_key(images, labels, np.float32)
    assert key == quality._cache_key(images.copy(), labels, np.float32)
    assert key != quality._cache_key(images, labels, np.float64)
    assert key != quality._cache_key(images + 1, labels, np.float32)


def test_without_scikit_learn_the_extra_is_named(monkeypatch):
    monkeypatch.setattr(quality, "_MEMORY", {})
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    jaxgan.datasets._raw.cache_clear()
    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[digits\]"'):
        digit_classifier()
    monkeypatch.undo()
    jaxgan.datasets._raw.cache_clear()


def test_classifier_is_a_pytree(clf):
    leaves, tree = jax.tree_util.tree_flatten(clf)
    back = jax.tree_util.tree_unflatten(tree, leaves)
    assert isinstance(back, DigitClassifier) and back.accuracy == clf.accuracy and len(leaves) == 6
    assert "held-out accuracy" in repr(clf)
