"""The convergence table and the article's stability rows, computed for all their cases at once, against
the same numbers computed one case at a time with the public functions (`analyze`, `max_stable_lr`,
`step_spectral_radius`, `simulate` + `classify_path`): the way they were computed before batching.

Small sizes: a few cases, short runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import article, fields, tables

METHODS = ("alternating", "optimistic")  # players in turn; an optimiser state
STEPS, N_SAVES, LR = 400, 50, 0.1


def one_case(case, method):
    """A row's numbers, one case at a time (the table before batching)."""
    rep = jaxgan.analyze(case.field)
    rest = np.asarray(rep.point)
    run = jaxgan.simulate(case.field, (1.0, 1.0), steps=STEPS, lr=LR, method=method, save_every=STEPS // N_SAVES,
                          warn=False)
    fate = tables.classify_path(np.asarray(run.path, np.float64), rest, fate=run.fate)
    return dict(eigenvalues=rep.eigenvalues, kind=rep.kind, lr_max_euler=jaxgan.max_stable_lr(case.field),
                lr_max_alternating=jaxgan.max_stable_lr(case.field, method="alternating"),
                radius=jaxgan.step_spectral_radius(case.field, method=method, lr=LR), fate=fate,
                distance=float(np.linalg.norm(np.asarray(run.final, np.float64) - rest)))


@pytest.fixture(scope="module")
def cases():
    dg = fields.dirac_gan("logistic")
    return [
        tables.ConvergenceCase("dirac_gan", "r1(0.3)", fields.r1(dg, 0.3)),
        tables.ConvergenceCase("dirac_gan", "r1(0.8)", fields.r1(dg, 0.8)),  # same kind as r1(0.3): stacked
        tables.ConvergenceCase("bilinear", "sga(1)", fields.sga(fields.bilinear(), 1.0)),
    ]


def test_the_batched_table_equals_one_case_at_a_time(cases):
    before = tables._simulate_groups._cache_size()
    rows = tables.convergence_table(cases, METHODS, lr=LR, steps=STEPS, n_saves=N_SAVES, progress=False)
    # One program per rule for all the cases (the two R1 cases stacked, the SGA case alone).
    assert tables._simulate_groups._cache_size() - before == len(METHODS)
    assert [(r.regulariser, r.method) for r in rows] == [(c.regulariser, m) for c in cases for m in METHODS]
    for row, (case, method) in zip(rows, [(c, m) for c in cases for m in METHODS]):
        want = one_case(case, method)
        where = f"{case.regulariser}, {method}"
        np.testing.assert_allclose(row.eigenvalues, want["eigenvalues"], rtol=1e-6, err_msg=where)
        assert row.kind == want["kind"] and row.fate == want["fate"], where
        assert row.lr_max_euler == pytest.approx(want["lr_max_euler"], rel=1e-6), where
        assert row.lr_max_alternating == pytest.approx(want["lr_max_alternating"], rel=1e-9), where
        assert row.radius == pytest.approx(want["radius"], rel=1e-6), where
        # The same steps as simulate's, to float32 rounding: the table compiles them with quicker XLA
        # options (tables.QUICK_COMPILE), and the R1 cases run vmapped.
        assert row.distance == pytest.approx(want["distance"], rel=1e-4, abs=1e-30), where


def test_rest_linearisations_share_one_kind_and_keep_the_jacobian(cases):
    lins = tables.rest_linearisations([c.field for c in cases])
    assert len({jax.tree_util.tree_structure(lin.linear) for lin in lins}) == 1  # one compiled kind for all
    for case, lin in zip(cases, lins):
        want = jaxgan.analyze(case.field)
        assert np.asarray(lin.report.jacobian).tobytes() == np.asarray(want.jacobian).tobytes()  # signed zeros too
        np.testing.assert_array_equal(lin.report.eigenvalues, want.eigenvalues)
        assert lin.report.kind == want.kind
        np.testing.assert_array_equal(np.asarray(jaxgan.analyze(lin.linear).jacobian), np.asarray(want.jacobian))
        assert np.asarray(lin.linear64.params["jacobian"]).dtype == np.float64


TRACES = []


def _counted_velocity(params, z):
    TRACES.append(str(z.dtype))  # Python runs once per trace of the velocity, not per evaluation
    return jnp.stack([-params["a"] * z[1], params["a"] * z[0] - 0.1 * z[1]]).astype(z.dtype)


def test_each_field_is_traced_once_per_dtype():
    # The velocity's trace is reused by the Jacobians and the runs of every rule (11 traces before: 9 in
    # float32, 2 in float64). A thread that starts a run while another traces may trace it once more.
    field = jaxgan.Field(_counted_velocity, {"a": jnp.float32(1.0)}, rest_point=jnp.zeros(2), name="counted")
    del TRACES[:]
    rows = tables.convergence_table([tables.ConvergenceCase("counted", "none", field)], steps=64, n_saves=8,
                                    progress=False)
    assert len(rows) == len(tables.DEFAULT_METHODS) and rows[0].kind == "stable focus"
    assert TRACES.count("float64") == 1 and 1 <= TRACES.count("float32") <= 1 + tables._WORKERS, TRACES


def test_the_articles_stability_rows_equal_one_game_at_a_time():
    games = ["minimax", "quadratic"]
    rows = article.stability_rows(0.2, games)
    for name, row in zip(games, rows):
        field = jaxgan.pointwise_field(name, 0.2)
        rep = jaxgan.analyze(field)
        assert row["kind"] == rep.kind
        np.testing.assert_allclose(np.array(row["eigenvalues"]), np.c_[rep.eigenvalues.real, rep.eigenvalues.imag],
                                   rtol=1e-6, atol=1e-7)
        assert row["lr_max_euler"] == pytest.approx(jaxgan.max_stable_lr(field), rel=1e-6)
        assert row["lr_max_alternating"] == pytest.approx(jaxgan.max_stable_lr(field, method="alternating"),
                                                          rel=1e-9)
