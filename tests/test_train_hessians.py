"""`train(..., hessians=False)`: the players' own Hessians leave the compiled program, nothing else does.

Checked on the traced program's output structure (`jax.eval_shape`: traced, never compiled), so the
test costs no XLA compile: with `hessians=False` the per-checkpoint logs lose exactly the two Lanczos
tridiagonals and their step counts (`hd`, `hd_k`, `hg`, `hg_k`) and keep the game Jacobian's
Hessenberg matrix; a non-bool is refused naming the argument before anything is traced.
"""

from __future__ import annotations

import numpy as np
import pytest

import jax

from jaxgan import neural
from jaxgan.errors import ArgumentTypeError
from jaxgan.neural import training
from jaxgan.neural.spec import program_key
from jaxgan.neural.step import seed_keys

GAN = neural.GAN(discriminator=neural.Net((4,)), generator=neural.Net((4,)), batch_size=8)


def _log_shapes(hessians: bool) -> dict:
    cfg, *_ = training._run_config(GAN, 4, 2, 16, 3, None, False, 4, None, 0.25, False, hessians)
    grids, _, _ = training._grids(GAN, 8, 8, None)
    seeds = np.arange(2)
    per_seed = jax.tree_util.tree_map(lambda a: np.broadcast_to(np.asarray(a), (2, *np.shape(a))), grids)
    args = training._seed_parts(GAN, seed_keys(seeds))
    logs = jax.eval_shape(training._train_jit, program_key(GAN), cfg, per_seed, *args)[0]
    return {k: (v.shape, str(v.dtype)) for k, v in logs.items()}


def test_hessians_off_drops_only_the_players_lanczos_logs():
    on, off = _log_shapes(True), _log_shapes(False)
    assert set(on) - set(off) == {"hd", "hd_k", "hg", "hg_k"}
    assert set(off) <= set(on) and all(off[k] == on[k] for k in off)
    assert on["hd"][0][:2] == (2, 3) and on["hess"] == off["hess"]  # (seeds, checkpoints, ...): one Hessenberg each


def test_hessians_must_be_a_bool():
    with pytest.raises(ArgumentTypeError, match="`hessians`"):
        neural.train(GAN, 2, steps=4, measure_every=2, n_eval=16, krylov=2, hessians="no")
