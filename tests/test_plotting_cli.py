"""Figures (`jaxgan.plotting` core) and `jaxgan.reproduce` (also through `jaxgan reproduce`; the other
commands are tested in test_cli.py).

Oracles: the closed forms of the article's fields (minimax / non-saturating at pd:
λ = -4pd ± 2√(4pd² - 1), Euler's largest stable step 2pd, alternating's -2pd + √(4pd² + 1);
quadratic: λ = -pd/2 ± i√(1 - pd²/4); Wasserstein: ±i), the article's script in NumPy, and
`jaxgan.analyze` / `jaxgan.simulate` as independent cross-checks of what the figures draw.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jaxgan  # noqa: E402
from jaxgan import article, cli, plotting  # noqa: E402
from jaxgan.errors import ArgumentError, ArgumentTypeError  # noqa: E402
from jaxgan.fields import Field  # noqa: E402
from jaxgan.plotting.portraits import _grid_velocity  # noqa: E402

PD = 0.2


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def minimax_eigs(pd):
    s = 2 * np.sqrt(complex(4 * pd * pd - 1))
    return np.array([-4 * pd - s, -4 * pd + s])


def article_script(field_fn, d, pg, pd, lr, n_iter):
    """The article's script, in NumPy (float64): returns the step at which pg < 0 first (or -1) and the path."""
    hist = [(d, pg)]
    for i in range(n_iter):
        vd, vpg = field_fn(d, pg, pd)
        d, pg = d + lr * vd, pg + lr * vpg
        if pg < 0:
            return i, np.array(hist)
        hist.append((d, pg))
    return -1, np.array(hist)


# ----------------------------------------------------------------------------- plotting


def test_grid_velocity_matches_closed_form_and_masks_outside_domain():
    field = jaxgan.pointwise_field("minimax", PD)
    xs = np.linspace(-0.2, 0.9, 12)  # D ≤ 0 is outside (0, 1)
    ys = np.linspace(-0.3, 1.0, 9)   # pg < 0 is outside
    U, V, S = _grid_velocity(field, xs, ys)
    X, Y = np.meshgrid(xs, ys)
    outside = (X <= 0) | (Y < 0)
    np.testing.assert_array_equal(np.ma.getmaskarray(U), outside)
    inside = ~outside
    with np.errstate(divide="ignore", invalid="ignore"):
        u = PD / X - Y / (1 - X)
        v = -np.log1p(-X) + np.log(0.5)
    np.testing.assert_allclose(U[inside], u[inside], rtol=2e-5)
    np.testing.assert_allclose(V[inside], v[inside], rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(S[inside], np.hypot(u, v)[inside], rtol=2e-5)


def test_phase_portrait_draws_simulate_path_rest_point_and_labels():
    field = jaxgan.pointwise_field("minimax", PD)
    ax = plotting.phase_portrait(field, starts=[(0.75, 0.9)], steps=4000, lr=1e-3)
    assert ax.get_xlabel() == "D (discriminator)"
    assert ax.get_ylabel() == "p_g (generator density)"
    np.testing.assert_allclose(ax.get_xlim(), (0.01, 0.99))
    assert ax.get_ylim()[0] == 0.0  # pg ≥ 0 is closed at 0
    path = np.asarray(jaxgan.simulate(field, [0.75, 0.9], steps=4000, lr=1e-3, save_every=2))
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    traj = lines["trajectory from (0.75, 0.9)"]
    np.testing.assert_allclose(traj.get_xydata(), path, rtol=1e-6)
    star = lines["rest point (0.5, 0.2)"]
    assert star.get_marker() == "*" and star.get_color() == "k"
    np.testing.assert_allclose(star.get_xydata()[0], (0.5, PD), rtol=1e-6)
    assert len(ax.collections) >= 1  # the streamlines
    assert ax.get_legend() is not None


def test_phase_portrait_marks_domain_exit_at_the_article_scripts_step():
    field = jaxgan.pointwise_field("wasserstein", PD)
    ax = plotting.phase_portrait(field, starts=[(0.75, 0.9)], steps=3000, lr=1e-3)
    labels = [ln.get_label() for ln in ax.get_lines()]
    exits = [lab for lab in labels if lab.startswith("left the domain at step ")]
    assert len(exits) == 1
    step = int(exits[0].rsplit(" ", 1)[1])
    ref_step, _ = article_script(lambda d, pg, pd: (pd - pg, d), 0.75, 0.9, PD, 1e-3, 3000)
    assert ref_step > 0 and abs(step - ref_step) <= 1


def test_phase_portrait_ranges_and_trajectories_given():
    field = jaxgan.pointwise_field("quadratic", PD)
    path = np.asarray(jaxgan.simulate(field, [0.85, 0.3], steps=2000, lr=1e-2, method="rk4"))
    ax = plotting.phase_portrait(field, trajectories=[path], d_range=(0.5, 1.5), pg_range=(0.0, 0.5),
                                 speed=False, equal_aspect=True, title="q")
    assert ax.get_xlim() == (0.5, 1.5) and ax.get_ylim() == (0.0, 0.5)
    assert ax.get_title() == "q" and ax.get_aspect() == 1.0
    labelled = plotting.phase_portrait(field, trajectories=[path], labels=["rk4"])  # the default grid: compiled
    assert "rk4" in [t.get_text() for t in labelled.get_legend().get_texts()]
    with pytest.raises(ValueError, match="`labels`"):
        plotting.phase_portrait(field, trajectories=[path], labels=["a", "b"])
    # Without ranges: the box around the rest point and the path, inside the domain.
    ax2 = plotting.phase_portrait(field, trajectories=[path])
    (x0, x1), (y0, y1) = ax2.get_xlim(), ax2.get_ylim()
    assert x0 < path[:, 0].min() and x1 > path[:, 0].max() and y0 >= 0.0 and y1 > path[:, 1].max()


def test_phase_portrait_bad_inputs():
    field = jaxgan.pointwise_field("minimax", PD)
    with pytest.raises(ArgumentTypeError, match="`field`"):
        plotting.phase_portrait("minimax")
    f3 = Field(lambda p, z: -z, labels=("a", "b", "c"))
    with pytest.raises(ArgumentError, match="2-dimensional"):
        plotting.phase_portrait(f3)
    with pytest.raises(ArgumentError, match="`d_range`"):
        plotting.phase_portrait(field, d_range=(0.9, 0.1))
    # A range that is not numbers is of the wrong kind (a TypeError), as in the sweeps.
    with pytest.raises(ArgumentTypeError, match="`pg_range` must be a pair"):
        plotting.phase_portrait(field, pg_range=("low", "high"))
    with pytest.raises(ArgumentTypeError, match="`d_range`"):
        plotting.phase_portrait(field, d_range=0.5)
    with pytest.raises(ValueError, match=r"`trajectories\[0\]`"):
        plotting.phase_portrait(field, trajectories=[np.zeros((5, 3))])
    with pytest.raises(ValueError, match="`starts`"):
        plotting.phase_portrait(field, starts=[(0.1, 0.2, 0.3)])
    with pytest.raises(ValueError, match="outside the domain"):
        plotting.phase_portrait(field, starts=[(1.5, 0.2)], steps=10)
    with pytest.raises(ValueError, match="`grid`"):
        plotting.phase_portrait(field, grid=2)


def test_eigenvalues_plot_points_and_stable_half_plane():
    names = ["minimax", "non_saturating", "wasserstein", "quadratic"]
    fields = [jaxgan.pointwise_field(n, PD) for n in names]
    ax = plotting.eigenvalues(fields)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["minimax, non_saturating", "wasserstein", "quadratic"]  # equal spectra merged
    pts = np.concatenate([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    want = np.concatenate([minimax_eigs(PD), [1j, -1j],
                           -PD / 2 + np.array([1j, -1j]) * math.sqrt(1 - PD * PD / 4)])
    for w in want:
        assert np.min(np.abs(pts[:, 0] + 1j * pts[:, 1] - w)) < 1e-5
    shaded = [p for p in ax.patches if p.get_alpha() and p.get_alpha() < 0.5]
    assert len(shaded) == 1
    assert np.isclose(shaded[0].get_x() + shaded[0].get_width(), 0.0)  # up to Re λ = 0
    # Reports work too, labels are checked.
    ax2 = plotting.eigenvalues({"a": jaxgan.analyze(fields[0])}, group=False)
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == ["a"]
    with pytest.raises(ValueError, match="`labels`"):
        plotting.eigenvalues(fields, labels=["x"])
    with pytest.raises(TypeError, match="reports_or_fields"):
        plotting.eigenvalues(3.0)


@pytest.mark.parametrize("span", [1e2, 1e6, 1e11, 1e20])
def test_symlog_decade_labels_never_overlap(span):
    # The Ritz values of BatchNorm networks span ten decades and more on either side of 0 (the
    # eigenvalue figures of jaxgan.plotting.neural and .kernels): every label is drawn apart from
    # its neighbours, 0 is labelled, and the limits stay those of the data.
    from jaxgan.plotting._common import symlog_decades

    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    ax.scatter([-span, -1.0, 0.0, 1e-3, span], [-span, 0.0, 1.0, 2.0, span])
    ax.set_xscale("symlog", linthresh=1e-6)
    ax.set_yscale("symlog", linthresh=1e-6)
    limits = ax.get_xlim(), ax.get_ylim()
    for which in "xy":
        symlog_decades(ax, which, 1e-6)
    fig.canvas.draw()
    assert (ax.get_xlim(), ax.get_ylim()) == limits
    for axis in (ax.xaxis, ax.yaxis):
        labels = [t for t in axis.get_ticklabels() if t.get_text()]
        assert len(labels) >= 3 and 0.0 in axis.get_ticklocs()
        boxes = [t.get_window_extent() for t in labels]
        assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:])), [t.get_text() for t in labels]
    plt.close(fig)


def test_portrait_grid_panels():
    fields = {n: jaxgan.pointwise_field(n, PD) for n in ("minimax", "wasserstein", "quadratic")}
    # 4000 steps: the run of test_phase_portrait_draws_simulate_path_rest_point_and_labels (compiled once)
    fig = plotting.portrait_grid(fields, starts={"minimax": [(0.75, 0.9)]}, steps=4000, ncols=2, suptitle="s")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == list(fields)
    assert not fig.axes[3].get_visible()
    with pytest.raises(ArgumentError, match="one list per panel"):
        plotting.portrait_grid(fields, trajectories=[[]])
    with pytest.raises(ArgumentTypeError, match=r"`fields\[0\]`"):
        plotting.portrait_grid(["minimax"])
    with pytest.raises(ArgumentError, match="at least one Field"):
        plotting.portrait_grid({})


def test_portrait_grid_draws_in_a_given_figure_as_in_its_own():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fields = {n: jaxgan.pointwise_field(n, PD) for n in ("minimax", "quadratic")}

    def pixels(fig):
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba()).copy()

    own = plotting.portrait_grid(fields, ncols=2, suptitle="s")
    given = Figure()
    assert plotting.portrait_grid(fields, ncols=2, suptitle="s", fig=given) is given  # no pyplot figure made
    assert given.get_size_inches().tolist() == own.get_size_inches().tolist()
    np.testing.assert_array_equal(pixels(given), pixels(own))
    with pytest.raises(ArgumentTypeError, match="`fig`.*a matplotlib Figure"):
        plotting.portrait_grid(fields, fig=plt.gca())
    with pytest.raises(ArgumentError, match="`fig` must be an empty Figure; it has 2 axes"):
        plotting.portrait_grid(fields, fig=given)


PUBLIC = ["phase_portrait", "eigenvalues", "portrait_grid", "axis_label", "image_mosaic", "basins", "phase_diagram", "FATE_COLOURS",
          "kernel_heatmap", "kernel_spectrum", "kernel_eigenfunctions", "kernel_field_eigenvalues",
          "stability_region", "eigenvalue_locus", "lyapunov_map", "neural_distance_curves", "neural_d_over_time",
          "neural_eigenvalues", "neural_vs_pointwise", "neural_path_angle", "neural_experiment_figures",
          "landscape_eigenvalues", "landscape_path_angle", "landscape_hessians", "landscape_samples",
          "landscape_figures"]


def test_public_names_stay_in_jaxgan_plotting():
    assert sorted(plotting.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert name == "FATE_COLOURS" or getattr(plotting, name).__module__.startswith("jaxgan.plotting.")
    assert len(plotting.FATE_COLOURS) == len(jaxgan.Fate)


@pytest.mark.parametrize("draw, arg", [
    (plotting.basins, "`result`"), (plotting.phase_diagram, "`result`"),
    (plotting.stability_region, "`region`"), (plotting.lyapunov_map, "`check`"),
    (plotting.neural_distance_curves, "`results`"), (plotting.neural_eigenvalues, "`results`"),
    (plotting.neural_d_over_time, "`result`"), (plotting.neural_path_angle, "`curves`"),
    (plotting.neural_experiment_figures, "`experiment`"),
])
def test_figures_of_results_reject_other_objects(draw, arg):
    with pytest.raises(ArgumentTypeError, match=arg):
        draw({})


# ----------------------------------------------------------------------------- reproduce

EXPECTED_FILES = sorted(["portrait_minimax.png", "portrait_non_saturating.png", "portrait_wasserstein.png",
                         "portrait_quadratic.png", "article_fields.png", "eigenvalues.png", "stability.md",
                         "stability.csv", "stability.json"])


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """`jaxgan reproduce` at the article's full size, into a folder that already holds user files."""
    out = tmp_path_factory.mktemp("repro") / "figs"
    out.mkdir()
    (out / "keep.txt").write_text("user notes")
    (out / "stability.md").write_text("old table")
    code = cli.main(["reproduce", "--out", str(out), "--quiet"])
    return code, out


def test_reproduce_writes_every_file_and_keeps_user_files(reproduced):
    code, out = reproduced
    assert code == 0
    assert sorted(os.listdir(out)) == sorted(EXPECTED_FILES + ["keep.txt"])
    assert (out / "keep.txt").read_text() == "user notes"
    assert (out / "stability.md").read_text().startswith("# Stability of the preset games at pd = 0.2")
    for f in EXPECTED_FILES:
        if f.endswith(".png"):
            assert (out / f).read_bytes()[:4] == b"\x89PNG" and (out / f).stat().st_size > 30_000
    assert not [p for p in os.listdir(out.parent) if p.startswith(".figs.tmp-")]


def test_reproduce_table_matches_closed_forms(reproduced):
    _, out = reproduced
    data = json.loads((out / "stability.json").read_text())
    assert data["settings"] == {"pd": 0.2, "steps": 100_000, "lr": 1e-3, "start": [0.75, 0.9], "method": "euler"}
    rows = {r["game"]: r for r in data["games"]}
    assert sorted(rows) == jaxgan.games.names()
    ev = lambda g: np.sort_complex(np.array([complex(*e) for e in rows[g]["eigenvalues"]]))  # noqa: E731
    for g in ("minimax", "non_saturating"):
        np.testing.assert_allclose(ev(g), [-0.8 - 1.8330303j, -0.8 + 1.8330303j], rtol=1e-6)
        assert rows[g]["lr_max_euler"] == pytest.approx(0.4, rel=1e-6)
        assert rows[g]["lr_max_alternating"] == pytest.approx(-0.4 + math.sqrt(1.16), rel=1e-5)
        assert rows[g]["kind"] == "stable focus" and rows[g]["criterion"] is True
    np.testing.assert_allclose(ev("quadratic"), [-0.1 - math.sqrt(0.99) * 1j, -0.1 + math.sqrt(0.99) * 1j], rtol=1e-6)
    np.testing.assert_allclose(ev("wasserstein"), [-1j, 1j], atol=1e-7)
    assert rows["wasserstein"]["kind"] == "centre" and rows["wasserstein"]["lr_max_euler"] == 0.0
    # Criterion and eigenvalues agree on every preset.
    for r in rows.values():
        assert r["criterion"] == (r["kind"].startswith("stable"))
    # The CSV holds the same numbers.
    with open(out / "stability.csv", newline="", encoding="utf-8") as fh:
        csv_rows = {r["game"]: r for r in csv.DictReader(fh)}
    assert sorted(csv_rows) == sorted(rows)
    for g, r in rows.items():
        assert float(csv_rows[g]["eig2_im"]) == pytest.approx(r["eigenvalues"][1][1])
        assert float(csv_rows[g]["lr_max_euler"]) == pytest.approx(r["lr_max_euler"])
    md = (out / "stability.md").read_text()
    assert "| minimax | 0.5 | -0.8 − 1.833i, -0.8 + 1.833i | stable focus |" in md


def test_reproduce_runs_are_the_article_script(reproduced):
    _, out = reproduced
    traj = {(t["game"], t["run"]): t for t in json.loads((out / "stability.json").read_text())["trajectories"]}
    # Classic and non-saturating: converge to (1/2, pd), as in the article.
    for g in ("minimax", "non_saturating"):
        t = traj[(g, "article")]
        assert t["start"] == pytest.approx([0.75, 0.9]) and t["fate"] == "undecided"
        assert t["distance_to_rest"] < 1e-3
    # Wasserstein / quadratic: the article's orbit reaches pg = 0 at the NumPy script's step.
    fields = {"wasserstein": lambda d, pg, pd: (pd - pg, d), "quadratic": lambda d, pg, pd: (-pd * d + pg, 1 - d)}
    for g, fn in fields.items():
        ref, _ = article_script(fn, 0.75, 0.9, PD, 1e-3, 100_000)
        t = traj[(g, "article")]
        assert t["fate"] == "left_domain" and abs(t["exit_step"] - ref) <= 1
        assert traj[(g, "inside the domain")]["fate"] == "undecided"
    assert traj[("quadratic", "inside the domain")]["distance_to_rest"] < 1e-3
    # Wasserstein's inside orbit: Euler grows the radius by √(1 + lr²) per step.
    t = traj[("wasserstein", "inside the domain")]
    r0 = math.hypot(t["start"][0] - 0.0, t["start"][1] - PD)
    assert t["distance_to_rest"] == pytest.approx(r0 * (1 + 1e-6) ** 50_000, rel=1e-4)


def test_reproduce_failure_leaves_folder_untouched(tmp_path, monkeypatch):
    out = tmp_path / "figs"
    out.mkdir()
    (out / "stability.md").write_text("old table")
    (out / "keep.txt").write_text("user notes")
    before = {p: (out / p).read_bytes() for p in os.listdir(out)}

    def boom(*a, **k):
        raise RuntimeError("drawing failed")

    written = []

    def quick_portrait(*a, **k):  # an empty figure: the folder is tested here, not the drawing
        written.append(a[0])
        return plt.subplots()[1]

    # Fails after the four portraits were written (to the temporary folder). The article's runs at their
    # full size: the programs `reproduced` compiled.
    monkeypatch.setattr(plotting, "phase_portrait", quick_portrait)
    monkeypatch.setattr(plotting, "portrait_grid", boom)
    with pytest.raises(RuntimeError, match="drawing failed"):
        article.reproduce(out)
    assert len(written) == 4
    assert {p: (out / p).read_bytes() for p in os.listdir(out)} == before
    assert os.listdir(tmp_path) == ["figs"]  # no temporary folder left behind
    # A new folder is not created by a failing run either.
    monkeypatch.setattr(plotting, "phase_portrait", boom)
    with pytest.raises(RuntimeError):
        article.reproduce(tmp_path / "new")
    assert not (tmp_path / "new").exists() and os.listdir(tmp_path) == ["figs"]


def test_a_failed_stage_stops_and_joins_the_drawing_thread(tmp_path, monkeypatch):
    # The portraits are drawn on a second thread while the stability rows are computed; when that stage
    # fails (or is interrupted), the thread stops after the figure it is drawing and is joined before
    # `reproduce` raises: no thread is left running, the switch interval is restored, the temporary
    # folder is gone.
    import sys
    import threading

    drawing, drawn = threading.Event(), []

    def slow_portrait(*a, **k):  # an empty figure, slowly: the thread is still drawing when the stage fails
        drawing.set()
        time.sleep(0.3)
        drawn.append(a[0])
        return plt.subplots()[1]

    def failing_stage(*a, **k):
        assert drawing.wait(60)
        assert sys.getswitchinterval() <= 5e-4  # the threads take short turns at the GIL meanwhile
        raise KeyboardInterrupt

    interval = sys.getswitchinterval()
    monkeypatch.setattr(plotting, "phase_portrait", slow_portrait)
    monkeypatch.setattr(article, "_stability", failing_stage)
    with pytest.raises(KeyboardInterrupt):
        article.reproduce(tmp_path / "figs", steps=100)
    assert sys.getswitchinterval() == interval  # restored
    assert not [t for t in threading.enumerate() if t.name == "jaxgan-reproduce-figures"]
    assert 1 <= len(drawn) < 4  # stopped early, after the figure it was drawing
    assert os.listdir(tmp_path) == []


def test_reproduce_bad_arguments(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="`out`"):
        article.reproduce(tmp_path / "f")
    with pytest.raises(ValueError, match="`pd`"):
        article.reproduce(tmp_path / "d", pd=-0.2)
    with pytest.raises(ValueError, match="`steps`"):
        article.reproduce(tmp_path / "d", steps=0)
    with pytest.raises(ValueError, match="`start`"):
        article.reproduce(tmp_path / "d", start=(0.75,))
    with pytest.raises(ArgumentError, match="`out` must be a folder; .* under the file"):
        article.reproduce(tmp_path / "f" / "sub" / "figs")
    assert os.listdir(tmp_path) == ["f"]


# ----------------------------------------------------------------------------- reproduce, interrupted

# `jaxgan reproduce` in a child process that pauses once its temporary folder exists (inside the
# article's runs), so the test can interrupt it there.
_CHILD = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # a background shell starts children with SIGINT ignored
import matplotlib
matplotlib.use("Agg")
from jaxgan import article, cli

def paused(*a, **k):
    time.sleep(300)

article._stability = paused  # the stage on the main thread, while the portraits are drawn beside it
sys.exit(cli.main(["reproduce", "--out", sys.argv[1], "--steps", "100", "--quiet"]))
"""


def _temporaries(folder, name="figs") -> list:
    return sorted(p for p in os.listdir(folder) if p.startswith(f".{name}.tmp-"))


def _start_paused_reproduce(folder):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", _CHILD, str(folder / "figs")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})


def _wait_for_temporary(proc, folder, timeout=240.0, ready=lambda tmp: True):
    """Until `folder` holds the child's temporary folder, and `ready(its name)`."""
    t0 = time.monotonic()
    while not (_temporaries(folder) and ready(_temporaries(folder)[0])):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "the child never made its temporary folder"
        time.sleep(0.05)


def test_interrupted_reproduce_leaves_no_temporary_folder(tmp_path):
    # Real processes, really interrupted (Ctrl-C, SIGTERM) while their temporary folder exists: each
    # ends with one line and exit 130 / 143, leaves no `.figs.tmp-*` and does not create `figs`.
    # A third is killed outright (SIGKILL): its folder stays, and the next run removes it.
    import signal

    folders = {sig: tmp_path / sig.name for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)}
    procs = {}
    for sig, folder in folders.items():
        folder.mkdir()
        procs[sig] = _start_paused_reproduce(folder)
    try:
        for sig, proc in procs.items():
            drawing = (lambda tmp, f=folders[sig]: any(p.endswith(".png") for p in os.listdir(f / tmp)))
            # SIGINT and SIGTERM while the portraits are drawn (on their own thread)
            _wait_for_temporary(proc, folders[sig], ready=drawing if sig != signal.SIGKILL else lambda tmp: True)
            proc.send_signal(sig)
        results = {sig: (proc.wait(timeout=120), proc.communicate()[1]) for sig, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    assert results[signal.SIGINT] == (130, "jaxgan reproduce: interrupted\n")
    assert results[signal.SIGTERM] == (143, "jaxgan reproduce: terminated (SIGTERM)\n")
    assert os.listdir(folders[signal.SIGINT]) == [] and os.listdir(folders[signal.SIGTERM]) == []
    killed = folders[signal.SIGKILL]
    assert results[signal.SIGKILL][0] == -signal.SIGKILL and len(_temporaries(killed)) == 1
    stale = _temporaries(killed)[0]
    assert stale.split("-")[-2] == str(procs[signal.SIGKILL].pid)  # named by its (dead) owner
    _next_run_fails_early(killed / "figs")
    assert os.listdir(killed) == []


def _next_run_fails_early(out):
    """`article.reproduce(out)` stopped by an error in its stability stage (after it set up its folder)."""
    import unittest.mock

    with unittest.mock.patch.object(article, "_stability", side_effect=RuntimeError("stopped early")):
        with pytest.raises(RuntimeError, match="stopped early"):
            article.reproduce(out, steps=100)


def test_stale_temporaries_are_removed_only_when_their_owner_is_gone(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "figs"
    mine = os.path.basename(article.temporary_path(out))
    _, host, pid, rand = mine.rsplit("-", 3)
    names = {
        "dead": mine.replace(f"-{pid}-", f"-{dead.pid}-"),
        "live": mine.replace(f"-{pid}-", "-1-"),                    # pid 1 never dies
        "other host": mine.replace(f"-{host}-", "-0123abcd-").replace(f"-{pid}-", f"-{dead.pid}-"),
        "legacy, old": ".figs.tmp-ab_cd123",                       # tempfile.mkdtemp's, before owners
        "legacy, recent": ".figs.tmp-zz_yy987",
        "user": ".figs.tmp-notes",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "portrait_minimax.png").write_bytes(b"png")
    two_days_ago = time.time() - 2 * 86_400
    os.utime(tmp_path / names["legacy, old"], (two_days_ago, two_days_ago))
    _next_run_fails_early(out)
    kept = {k for k, v in names.items() if (tmp_path / v).exists()}
    assert kept == {"live", "other host", "legacy, recent", "user"}
    assert not out.exists() and len(os.listdir(tmp_path)) == 4
