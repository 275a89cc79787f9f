"""Pointwise GAN games: the three scalar functions of the article and their presets.

A game is the triple `(f1, f2, f3)` of the general objectives

    J = ∫ pd f1(D) + ∫ pg f2(D)      (the discriminator ascends J)
    I = ∫ pg f3(D)                    (the generator ascends I)

Sign convention: `f3` is what the generator *maximises*. The rest point of the pointwise
field has `pg = pd` and `D = D0`, the root of `f1'(D) + f2'(D) = 0` inside the game's
domain for D.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_float
from .errors import ArgumentError, ArgumentTypeError

__all__ = ["Game", "get", "names", "register", "solve_d0"]

ScalarFn = Callable[[jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True, eq=False)
class Game:
    """A pointwise two-player game given by three scalar functions of D.

    **Arguments:**

    - `f1`: scalar function; the discriminator's objective on data, `J ∋ ∫ pd f1(D)`.
    - `f2`: scalar function; the discriminator's objective on generated samples, `J ∋ ∫ pg f2(D)`.
    - `f3`: scalar function; what the generator maximises, `I = ∫ pg f3(D)`.
    - `name`: a short name, used in messages, figures and tables.
    - `d_domain`: `(lo, hi)`, the open interval D lives in (use `±math.inf` for ℝ).
    - `d0`: the discriminator's value at the rest point. `None` (default) means: solve
      `f1'(D) + f2'(D) = 0` inside `d_domain` (autodiff + safeguarded Newton/bisection).
      Give it explicitly when that equation has no isolated root (Wasserstein, hinge), or
      where it is known in closed form: the presets give theirs (the root the solver finds,
      `tests/test_games.py`), so that no process spends its start solving them op by op.

    The functions must be written with `jax.numpy` so they can be differentiated and
    compiled. Games compare by identity, so one game object is one compiled field.

    **Raises:**

    `TypeError` if a function is not callable; `ValueError` for a bad domain or a `d0`
    outside it.

    **Example:**

    ```python
    import jax.numpy as jnp, jaxgan
    game = jaxgan.Game(f1=jnp.log, f2=lambda d: jnp.log1p(-d), f3=lambda d: -jnp.log1p(-d),
                       name="my_minimax", d_domain=(0.0, 1.0))
    game.rest_d()   # 0.5
    ```
    """

    f1: ScalarFn
    f2: ScalarFn
    f3: ScalarFn
    name: str = "custom"
    d_domain: tuple[float, float] = (-math.inf, math.inf)
    d0: float | None = None
    source: str = ""

    def __post_init__(self):
        for arg in ("f1", "f2", "f3"):
            if not callable(getattr(self, arg)):
                raise ArgumentTypeError(
                    f"Game argument `{arg}` must be a callable of one scalar (written with "
                    f"jax.numpy); got {type(getattr(self, arg)).__name__}."
                )
        if not isinstance(self.name, str) or not self.name:
            raise ArgumentTypeError(f"Game argument `name` must be a non-empty string; got {self.name!r}.")
        try:
            if any(isinstance(v, (bool, np.bool_)) for v in self.d_domain):
                raise TypeError("a bool is not a bound")
            lo, hi = (float(v) for v in self.d_domain)
        except (TypeError, ValueError):
            raise ArgumentError(
                f"Game argument `d_domain` must be a pair (lo, hi) of numbers; got {self.d_domain!r}."
            ) from None
        if math.isnan(lo) or math.isnan(hi) or not lo < hi:
            raise ArgumentError(
                f"Game argument `d_domain` must satisfy lo < hi; got {self.d_domain!r} "
                f"for game {self.name!r}."
            )
        object.__setattr__(self, "d_domain", (lo, hi))
        if self.d0 is not None:
            d0 = check_float("Game", "d0", self.d0, sign="any")
            if not (lo < d0 < hi):
                raise ArgumentError(
                    f"Game argument `d0` must lie inside d_domain {self.d_domain}; got {d0} "
                    f"for game {self.name!r}."
                )
            object.__setattr__(self, "d0", d0)

    # The derivatives the field and the stability analysis need.
    def df1(self, d):
        """f1'(d), by autodiff."""
        return jax.grad(self.f1)(d)

    def df2(self, d):
        """f2'(d), by autodiff."""
        return jax.grad(self.f2)(d)

    def df3(self, d):
        """f3'(d), by autodiff."""
        return jax.grad(self.f3)(d)

    def rest_d(self, dtype=None) -> float:
        """D0: the explicit `d0`, or the root of f1' + f2' solved in `dtype`.

        **Arguments:**

        - `dtype`: the floating dtype to solve in; default: JAX's default float
          (float64 when x64 is enabled, else float32).

        **Returns:** a Python float.

        **Raises:** `ValueError` naming the game when no root exists in its domain.
        """
        if self.d0 is not None:
            return self.d0
        dtype = jnp.dtype(dtype or jnp.result_type(float))
        return _solved_d0(self, dtype.name)

    def __repr__(self):
        return f"Game(name={self.name!r}, d_domain={self.d_domain}, d0={self.d0})"


@functools.lru_cache(maxsize=256)
def _solved_d0(game: Game, dtype_name: str) -> float:
    # Solve in float64 (a scoped switch, restored on exit) and round to the requested dtype:
    # a float32 solve cannot resolve roots where f1' + f2' is flat to float32 precision.
    with jax.enable_x64(True):
        root = solve_d0(game, dtype=jnp.float64)
        # A short decimal that is at least as good a root is the exact one (e.g. 0, 1/2).
        short = round(root, 12)
        if short != root and game.d_domain[0] < short < game.d_domain[1]:
            g = _g_program(game)
            pair = np.resize(np.array([short, root], np.float64), _interior_grid(*game.d_domain).shape)
            g_short, g_root = np.asarray(g(jnp.asarray(pair))[0])[:2]
            if abs(float(g_short)) <= abs(float(g_root)):
                root = short
    return float(np.asarray(root, dtype=jnp.dtype(dtype_name)))


def _g_program(game: Game):
    """`d -> (g(d), g'(d))` with `g = f1' + f2'`, elementwise over a vector, eager (op by op).

    Eager rather than jitted: XLA's fusion of a whole program rounds some games' g differently from
    their op-by-op evaluation, and results must not depend on that. Every call uses the grid's length,
    so each primitive is compiled for one shape only (not also for the scalar Newton steps)."""
    g = lambda d: game.df1(d) + game.df2(d)  # noqa: E731
    vg, vdg = jax.vmap(g), jax.vmap(jax.grad(g))
    return lambda d: (vg(d), vdg(d))


def _interior_grid(lo: float, hi: float, n: int = 4001) -> np.ndarray:
    """Points strictly inside (lo, hi), dense near finite ends and reaching far on infinite ones."""
    u = np.linspace(-1.0, 1.0, n + 2)[1:-1]
    if math.isfinite(lo) and math.isfinite(hi):
        # Clustered towards both ends (log-barrier-like functions change fast there).
        s = 0.5 * (1.0 + np.sin(0.5 * np.pi * u))
        return lo + (hi - lo) * s
    if math.isfinite(lo):  # (lo, inf)
        return lo + np.geomspace(1e-6, 1e6, n)
    if math.isfinite(hi):  # (-inf, hi)
        return hi - np.geomspace(1e6, 1e-6, n)
    pos = np.geomspace(1e-6, 1e6, n // 2)
    return np.concatenate([-pos[::-1], [0.0], pos])


def solve_d0(game: Game, *, dtype=None, tol: float | None = None, max_iter: int = 200) -> float:
    """Solve f1'(D) + f2'(D) = 0 inside the game's D-domain.

    A grid scan brackets the first sign change of g = f1' + f2' (closest to the middle of
    the domain), then safeguarded Newton iterations (Newton steps with g' from autodiff,
    falling back to bisection whenever a step leaves the bracket or fails to shrink it)
    polish the root.

    **Arguments:**

    - `game`: the `Game`.
    - `dtype`: floating dtype of the computation (default: JAX's default float).
    - `tol`: absolute tolerance on D (default: 4 ulp of the dtype at the root's scale).
    - `max_iter`: iteration cap for the polish.

    **Returns:** the root as a Python float.

    **Raises:** `ValueError` naming the game if g has no sign change (no root) in the domain,
    e.g. when f1' + f2' is identically zero (then pass `d0=` to `Game`).
    """
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    lo, hi = game.d_domain
    # g and g' op by op, always at the grid's length (a Newton step repeats its point over it): each
    # primitive is compiled for one shape, not also for `(1,)` and `()` as before.
    program = _g_program(game)
    grid = _interior_grid(lo, hi).astype(dtype)
    vals = np.asarray(program(jnp.asarray(grid, dtype))[0])

    def at(x):
        fx, dfx = program(jnp.full(grid.shape, x, dtype))
        return float(fx[0]), float(dfx[0])

    finite = np.isfinite(vals)
    exact = np.flatnonzero(finite & (vals == 0))
    sign_change = np.flatnonzero(
        finite[:-1] & finite[1:] & (np.sign(vals[:-1]) * np.sign(vals[1:]) < 0)
    )
    if np.all(vals[finite] == 0) and finite.any():
        raise ArgumentError(
            f"Game {game.name!r}: f1'(D) + f2'(D) is zero everywhere on {game.d_domain}, so "
            f"the rest point's D0 is not determined; pass d0= to Game (the article uses "
            f"D0 = 0 for Wasserstein)."
        )
    centre = 0.5 * (lo + hi) if math.isfinite(lo) and math.isfinite(hi) else 0.0
    candidates = [(abs(float(grid[i]) - centre), "exact", i) for i in exact]
    candidates += [(abs(0.5 * float(grid[i] + grid[i + 1]) - centre), "bracket", i) for i in sign_change]
    if not candidates:
        raise ArgumentError(
            f"Game {game.name!r}: f1'(D) + f2'(D) = 0 has no root inside d_domain "
            f"{game.d_domain} (no sign change found), so the pointwise field has no rest "
            f"point. Check the signs of f1 and f2, or pass d0= to Game explicitly."
        )
    _, kind, i = min(candidates)
    if kind == "exact":
        return float(grid[i])
    a, b = float(grid[i]), float(grid[i + 1])
    ga = float(vals[i])
    eps = float(jnp.finfo(dtype).eps)
    x = 0.5 * (a + b)
    for _ in range(max_iter):
        fx, slope = at(x)
        if fx == 0.0:
            return x
        if np.sign(fx) == np.sign(ga):
            a, ga = x, fx
        else:
            b = x
        step_ok = slope != 0.0 and math.isfinite(slope)
        x_new = x - fx / slope if step_ok else 0.5 * (a + b)
        if not (min(a, b) < x_new < max(a, b)):
            x_new = 0.5 * (a + b)  # the safeguard: bisect when Newton leaves the bracket
        # Relative tolerance, so that a root at 0 is found to full precision too.
        scale = max(abs(x_new), float(jnp.finfo(dtype).tiny))
        done = abs(x_new - x) <= (tol if tol is not None else 4 * eps * scale)
        x = float(jnp.asarray(x_new, dtype))
        if done or abs(b - a) <= 2 * eps * scale:
            return x
    return x


# ----------------------------------------------------------------------------- presets

_REGISTRY: dict[str, Callable[[], Game]] = {}


def register(name: str):
    """Decorator: register a zero-argument game factory under `name` for `get`."""

    def deco(factory):
        if name in _REGISTRY:
            raise ArgumentError(f"a game named {name!r} is already registered")
        _REGISTRY[name] = functools.lru_cache(maxsize=1)(factory)
        return factory

    return deco


def names() -> list[str]:
    """The names of all preset games, sorted."""
    return sorted(_REGISTRY)


def get(name: str | Game, fn: str | None = None, arg: str = "game") -> Game:
    """A preset game by name (the same object every call), or a `Game` passed through.

    **Arguments:** `name`: a preset name (see `names()`; case, `-`/`_` and a few aliases are
    forgiven) or a `Game`; `fn`, `arg`: the public function and argument the name was given to,
    for the messages.

    **Raises:** `ArgumentError` listing the valid names for an unknown name; `ArgumentTypeError`
    for anything but a string or a `Game`.
    """
    if isinstance(name, Game):
        return name
    subject = f"{fn} argument `{arg}`" if fn else f"`{arg}`"
    if not isinstance(name, str):
        raise ArgumentTypeError(f"{subject} must be a preset name (str) or a jaxgan Game; got {type(name).__name__}.")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        prefix = f"{subject}: " if fn else ""
        raise ArgumentError(f"{prefix}unknown game {name!r}; valid names: {', '.join(names())}.")
    return _REGISTRY[key]()


_ALIASES = {"classic": "minimax", "goodfellow": "non_saturating", "wgan": "wasserstein",
            "lsgan": "least_squares", "js": "jensen_shannon", "chi2": "pearson"}

_GOODFELLOW = "Goodfellow et al. 2014, 'Generative Adversarial Nets', NeurIPS"
_NOWOZIN = "Nowozin, Cseke & Tomioka 2016, 'f-GAN: Training Generative Neural Samplers using Variational Divergence Minimization', NeurIPS (Table 2)"


@register("minimax")
def minimax() -> Game:
    """The classic (minimax) GAN: f1 = log D, f2 = log(1-D), f3 = -log(1-D); D ∈ (0, 1), D0 = 1/2.

    Source: Goodfellow et al. 2014, 'Generative Adversarial Nets' (the saturating generator
    minimises log(1-D), i.e. maximises -log(1-D)); the article's "classic" field.

    `f3` is computed as `-log(1 - D)`, not `-log1p(-D)`: the fields need only differences of f3
    values, which it gives as accurately (in float32 over D in (0, 1), `f3(D) - f3(D0)` is within
    1.7 ulp of the larger of |f3(D)|, |f3(D0)| with either formula; see
    benchmarks/preset_accuracy.py), and XLA's `log` is cheaper than its `log1p`. `f3(D)` alone
    keeps the same absolute error but not a small relative one for D below 1e-7. `f2` keeps
    `log1p`: only its derivative enters the field (bit-identical either way) and D0 with it.
    """
    return Game(jnp.log, lambda d: jnp.log1p(-d), lambda d: -jnp.log(1.0 - d),
                name="minimax", d_domain=(0.0, 1.0), d0=0.5, source=_GOODFELLOW)


@register("non_saturating")
def non_saturating() -> Game:
    """Goodfellow's non-saturating GAN: f1 = log D, f2 = log(1-D), f3 = log D; D0 = 1/2.

    Source: Goodfellow et al. 2014, Section 3 (the generator maximises log D instead of
    minimising log(1-D)); the article's "modified" field.
    """
    return Game(jnp.log, lambda d: jnp.log1p(-d), jnp.log,
                name="non_saturating", d_domain=(0.0, 1.0), d0=0.5, source=_GOODFELLOW)


@register("wasserstein")
def wasserstein() -> Game:
    """Wasserstein GAN, pointwise: f1 = D, f2 = -D, f3 = D; D ∈ ℝ.

    f1' + f2' ≡ 0, so D0 is not determined by the field; the article takes D0 = 0, and so
    does this preset. The pointwise view drops the 1-Lipschitz constraint on the critic.

    Source: Arjovsky, Chintala & Bottou 2017, 'Wasserstein GAN', ICML.
    """
    return Game(lambda d: d, lambda d: -d, lambda d: d, name="wasserstein", d0=0.0,
                source="Arjovsky, Chintala & Bottou 2017, 'Wasserstein GAN', ICML")


@register("quadratic")
def quadratic() -> Game:
    """The article's new GAN: f1 = -D²/2, f2 = D, f3 = -D; D ∈ ℝ, D0 = 1.

    Globally stable: V = distance² to the rest point is a Lyapunov function.

    Source: the article this project implements, section 5 (the README restates it).
    """
    return Game(lambda d: -0.5 * d * d, lambda d: d, lambda d: -d, name="quadratic", d0=1.0,
                source="the article (GANs as 2-D vector fields), section 5")


@register("least_squares")
def least_squares() -> Game:
    """Least-squares GAN with the 0-1 coding (a, b, c) = (0, 1, 1).

    f1 = -(D-1)²/2, f2 = -D²/2, f3 = -(D-1)²/2; D ∈ ℝ, D0 = 1/2.

    Source: Mao et al. 2017, 'Least Squares Generative Adversarial Networks', ICCV, eq. (2)
    (each player minimises its squared error; here they maximise its negative).
    """
    return Game(lambda d: -0.5 * (d - 1.0) ** 2, lambda d: -0.5 * d * d,
                lambda d: -0.5 * (d - 1.0) ** 2, name="least_squares", d0=0.5,
                source="Mao et al. 2017, 'Least Squares Generative Adversarial Networks', ICCV")


@register("hinge")
def hinge() -> Game:
    """Hinge-loss GAN: f1 = min(0, D-1), f2 = min(0, -1-D), f3 = D; D ∈ ℝ.

    Inside |D| < 1, f1' + f2' ≡ 0 (the field there is Wasserstein's), so D0 is not
    determined by the field; this preset takes the symmetric choice D0 = 0.

    Source: Lim & Ye 2017, 'Geometric GAN'; Miyato et al. 2018, 'Spectral Normalization for
    Generative Adversarial Networks', ICLR, eq. (16)-(17).
    """
    return Game(lambda d: jnp.minimum(0.0, d - 1.0), lambda d: jnp.minimum(0.0, -1.0 - d),
                lambda d: d, name="hinge", d0=0.0,
                source="Lim & Ye 2017 'Geometric GAN'; Miyato et al. 2018, ICLR")


def _f_gan(name: str, conj: ScalarFn, domain, d0: float, doc_source: str) -> Game:
    # Nowozin et al.: J = E_pd[T] - E_pg[f*(T)] with T = D taken directly in dom f*;
    # the generator minimises J, i.e. maximises E_pg[f*(T)].
    return Game(lambda t: t, lambda t: -conj(t), conj, name=name, d_domain=domain, d0=d0,
                source=_NOWOZIN + "; " + doc_source)


@register("kl")
def kl() -> Game:
    """f-GAN, Kullback-Leibler: f(u) = u log u, f*(t) = exp(t - 1); D = T ∈ ℝ, D0 = f'(1) = 1.

    f1 = T, f2 = -f*(T), f3 = f*(T) (the generator minimises the variational bound).
    Source: Nowozin, Cseke & Tomioka 2016, 'f-GAN', NeurIPS, Table 2.
    """
    return _f_gan("kl", lambda t: jnp.exp(t - 1.0), (-math.inf, math.inf), 1.0, "KL")


@register("reverse_kl")
def reverse_kl() -> Game:
    """f-GAN, reverse KL: f(u) = -log u, f*(t) = -1 - log(-t); T < 0, D0 = -1.

    Source: Nowozin, Cseke & Tomioka 2016, 'f-GAN', NeurIPS, Table 2.
    """
    return _f_gan("reverse_kl", lambda t: -1.0 - jnp.log(-t), (-math.inf, 0.0), -1.0, "reverse KL")


@register("pearson")
def pearson() -> Game:
    """f-GAN, Pearson χ²: f(u) = (u - 1)², f*(t) = t²/4 + t; T ∈ ℝ, D0 = 0.

    Source: Nowozin, Cseke & Tomioka 2016, 'f-GAN', NeurIPS, Table 2.
    """
    return _f_gan("pearson", lambda t: 0.25 * t * t + t, (-math.inf, math.inf), 0.0, "Pearson chi^2")


@register("hellinger")
def hellinger() -> Game:
    """f-GAN, squared Hellinger: f(u) = (√u - 1)², f*(t) = t / (1 - t); T < 1, D0 = 0.

    Source: Nowozin, Cseke & Tomioka 2016, 'f-GAN', NeurIPS, Table 2.
    """
    return _f_gan("hellinger", lambda t: t / (1.0 - t), (-math.inf, 1.0), 0.0, "squared Hellinger")


@register("jensen_shannon")
def jensen_shannon() -> Game:
    """f-GAN, Jensen-Shannon: f*(t) = -log(2 - exp t); T < log 2, D0 = 0.

    Source: Nowozin, Cseke & Tomioka 2016, 'f-GAN', NeurIPS, Table 2.
    """
    return _f_gan("jensen_shannon", lambda t: -jnp.log(2.0 - jnp.exp(t)),
                  (-math.inf, math.log(2.0)), 0.0, "Jensen-Shannon")
