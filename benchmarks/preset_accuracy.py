"""Accuracy of a preset's cheaper formulation: the minimax game's `log(1 - D)` against `log1p(-D)`.

The minimax preset computes `f3(D) = -log(1 - D)` (XLA's `log` is cheaper than its `log1p`; see
`sweep_throughput.py --breakdown`). The field uses `f3` only through `f3(D) - f3(D0)`, and `f1'`,
`f2'` through autodiff, so this script measures, in float32 over D in (0, 1), against float64:

- `f3(D) - f3(D0)` (the field's dpg/dt), for both formulations;
- `f3(D)` alone (absolute error: the kernel field's mass-conserving mode subtracts a weighted mean
  of f3 values, so absolute errors are what reach it);
- `f2'(D)` and `f3'(D)` by autodiff (the field's dD/dt takes `f2'`; `f3'` enters the stability
  analysis), for `f = log1p(-D)` and `f = log(1 - D)`;
- D0, the root of `f1' + f2' = 0`, solved by `Game.rest_d` in float32 and float64.

The sample: every float32 D of a dense set, 3 geometric decades per 10^5 points towards 0 and
towards 1 (where `1 - D` rounds, and where `log` is steep) and a uniform grid; the reference is
NumPy's float64 `log1p` of the same float32 D. Errors are reported as max absolute, max relative
(where the float64 value is not 0), and in units of float32 ulp (of the reference; for the
difference, of the larger of |f3(D)| and |f3(D0)|, the terms whose rounding it inherits).

Usage: `python benchmarks/preset_accuracy.py` (a few seconds; prints one markdown table).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxgan


def sample() -> np.ndarray:
    """float32 values of D in (0, 1), dense near both ends and uniform in between."""
    tiny = np.geomspace(np.finfo(np.float32).tiny, 0.5, 1_000_000)  # normal floats (XLA flushes subnormals)
    near_one = 1.0 - np.geomspace(2.0 ** -24, 0.5, 1_000_000)
    uniform = np.linspace(0.0, 1.0, 1_000_001)
    d = np.unique(np.concatenate([tiny, near_one, uniform]).astype(np.float32))
    return d[(d > 0) & (d < 1)]


def errors(got32, ref64, scale64=None):
    """Max absolute error, max relative error (where the reference is not 0) and max error in
    float32 ulp of `scale64` (default: of the reference itself)."""
    got = np.asarray(got32, np.float64)
    abs_err = np.abs(got - ref64)
    nz = ref64 != 0
    scale = np.abs(ref64 if scale64 is None else scale64)
    ulp = np.spacing(scale.astype(np.float32)).astype(np.float64)
    return abs_err.max(), (abs_err[nz] / np.abs(ref64[nz])).max(), (abs_err / ulp).max()


def main():
    d32 = sample()
    d64 = d32.astype(np.float64)
    game = jaxgan.games.get("minimax")
    d0_32 = np.float32(game.rest_d(jnp.float32))
    # The two formulations of f3, and of f2 (for its derivative), in float32 as JAX runs them.
    forms = {"log1p(-D)": lambda d: jnp.log1p(-d), "log(1 - D)": lambda d: jnp.log(1.0 - d)}
    ref_f = np.log1p(-d64)  # f = log(1 - D) in float64
    ref_df = -1.0 / (1.0 - d64)  # its derivative
    ref_diff = -ref_f + np.log1p(-np.float64(d0_32))  # f3(D) - f3(D0), f3 = -f
    rows = []
    for name, f in forms.items():
        fv = jax.jit(jax.vmap(f))(jnp.asarray(d32))
        df = jax.jit(jax.vmap(jax.grad(f)))(jnp.asarray(d32))
        f3_d0 = -f(jnp.float32(d0_32))
        diff = jax.jit(lambda d: -f(d) - f3_d0)(jnp.asarray(d32))
        # The difference inherits the rounding of both terms: its natural unit is the ulp of the
        # larger of |f3(D)| and |f3(D0)| (near D0 the relative error of any float32 formula blows up).
        scale = np.maximum(np.abs(ref_f), abs(np.log1p(-np.float64(d0_32))))
        rows.append((f"f3(D) - f3(D0), f3 = -{name}", *errors(diff, ref_diff, scale)))
        rows.append((f"f3(D) = -{name}", *errors(-fv, -ref_f)))
        rows.append((f"f'(D) by autodiff, f = {name}", *errors(df, ref_df)))
    same_df = np.array_equal(np.asarray(jax.vmap(jax.grad(forms["log1p(-D)"]))(jnp.asarray(d32))),
                             np.asarray(jax.vmap(jax.grad(forms["log(1 - D)"]))(jnp.asarray(d32))))
    print(f"## minimax preset: log(1 - D) against log1p(-D), float32 against float64 — {d32.size:,} values "
          f"of D in (0, 1), jax {jax.__version__} on {jax.devices()[0].device_kind}")
    print()
    print("| quantity | max abs error | max rel error | max error in f32 ulp (see the docstring) |")
    print("|---|---:|---:|---:|")
    for name, a, r, u in rows:
        print(f"| {name} | {a:.3g} | {r:.3g} | {u:.3g} |")
    print()
    print(f"f'(D) of the two formulations bit-identical at every D: {same_df}")
    with jax.enable_x64(True):
        d0_64 = game.rest_d(jnp.float64)
    alt = jaxgan.Game(jnp.log, forms["log(1 - D)"], lambda d: -jnp.log(1.0 - d), name="minimax_log", d_domain=(0.0, 1.0))
    with jax.enable_x64(True):
        alt_64 = alt.rest_d(jnp.float64)
    print(f"D0 (root of f1' + f2'): preset {game.rest_d(jnp.float32)!r} (float32), {d0_64!r} (float64); with "
          f"f2 = log(1 - D) too: {alt.rest_d(jnp.float32)!r} (float32), {alt_64!r} (float64); exact 0.5")


if __name__ == "__main__":
    main()
