"""The article's figures and a stability table of every preset game, in one call.

`reproduce(out)` runs the article's script (simultaneous Euler, `lr = 1e-3`, 100 000 steps from
`(D, pg) = (0.75, 0.9)` at `pd = 0.2`, the article's section 6) on the four fields the article discusses
(classic/minimax, non-saturating, Wasserstein, quadratic), draws each as a phase portrait and all
four in one panel figure, plots the rest points' eigenvalues of every preset game, and writes a
stability table (markdown, CSV, JSON). This is the library behind `jaxgan reproduce --out DIR`.

The pointwise field lives on `pg ≥ 0`. At `pd = 0.2` the article's start lies on Wasserstein and
quadratic orbits that reach `pg = 0`: `jaxgan.simulate` stops those runs at the domain's edge (the
figures mark the spot). So that the article's picture of each field is still visible, those two panels
also show one orbit that stays inside the domain (`extra_starts`): Wasserstein's slowly growing circle
and the quadratic GAN's spiral into its rest point.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import secrets
import shutil
import signal
import sys
import threading
import time
from typing import NamedTuple, Sequence

import numpy as np

from . import games as _games
from . import plotting
from ._checks import check_float, check_int
from ._format import eigenvalues_text, lr_text
from ._processes import host_tag, pid_alive
from .dynamics import simulate
from .errors import ArgumentError
from .fates import Fate
from .fields import Field, pointwise_field
from .progress import reporter
from .stability import max_stable_lr, stability_conditions
from .tables import rest_linearisations

__all__ = ["reproduce", "Reproduction", "ARTICLE_GAMES", "ARTICLE_TITLES", "article_runs", "extra_starts",
           "stability_rows", "ARTICLE_PD", "ARTICLE_START", "ARTICLE_LR", "ARTICLE_STEPS"]

#: The fields the article discusses, in its order.
ARTICLE_GAMES = ("minimax", "non_saturating", "wasserstein", "quadratic")
#: Panel titles.
ARTICLE_TITLES = {
    "minimax": "classic (minimax)",
    "non_saturating": "non-saturating (Goodfellow)",
    "wasserstein": "Wasserstein",
    "quadratic": "quadratic (the article's new GAN)",
}
#: The article's script: pd, start (D, pg), step and number of steps.
ARTICLE_PD = 0.2
ARTICLE_START = (0.75, 0.9)
ARTICLE_LR = 1e-3
ARTICLE_STEPS = 100_000


def extra_starts(name: str, field: Field) -> list[tuple[float, float]]:
    """Starts whose orbits stay inside `pg ≥ 0`, shown next to the article's run.

    Wasserstein: `(D0 + 0.75 pd, pd)`, on a circle of radius `0.75 pd` about the rest point (Euler
    grows it by `√(1 + lr²)` per step, 5% over the article's 100 000 steps). Quadratic: at distance
    `0.78 pd` from the rest point, inside the Lyapunov level set `V < pd²/2` that never touches
    `pg = 0`. Other games: none.
    """
    d0, pd = (float(v) for v in np.asarray(field.rest_point))
    if name == "wasserstein":
        return [(d0 + 0.75 * pd, pd)]
    if name == "quadratic":
        return [(d0 - 0.6 * pd, 1.5 * pd)]
    return []


def _save_every(steps: int) -> int:
    return plotting.portraits.save_every_for(steps)


def article_runs(pd: float = ARTICLE_PD, *, steps: int = ARTICLE_STEPS, lr: float = ARTICLE_LR,
                 start=ARTICLE_START, games: Sequence[str] = ARTICLE_GAMES, with_extra: bool = True):
    """The article's trajectories: for each game, `simulate(..., method="euler")` from `start`.

    **Arguments:** `pd`, `steps`, `lr`, `start`: the article's script (defaults: 0.2, 100 000, 1e-3,
    (0.75, 0.9)); `games`: preset names; `with_extra`: also run `extra_starts`.

    **Returns:** a dict `name -> (field, [Trajectory, ...])`, the article's run first. Paths
    keep about 2000 rows (`save_every` = the largest divisor of `steps` ≤ steps / 2000).
    """
    out = {}
    se = _save_every(int(steps)) if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else 1
    for name in games:
        field = pointwise_field(name, pd)
        starts = [tuple(float(v) for v in start)] + (extra_starts(_games.get(name).name, field) if with_extra else [])
        runs = [simulate(field, s, steps=steps, lr=lr, method="euler", save_every=se, warn=False)
                for s in starts]
        out[name] = (field, runs)
    return out


def _finite_or_str(x: float):
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def stability_rows(pd: float = ARTICLE_PD, games: Sequence[str] | None = None) -> list[dict]:
    """One row per game: D0, eigenvalues at `pd`, kind, the criterion's numbers, largest stable steps.

    **Returns:** a list of dicts with keys `game`, `d0`, `eigenvalues` (list of `[re, im]`), `kind`,
    `stable`, `curvature` ((f1''+f2'')(D0)), `coupling` (f2'(D0)·f3'(D0)), `criterion` (both < 0),
    `lr_max_euler`, `lr_max_alternating` (`max_stable_lr`), `source`.
    """
    return _stability(pd, games)[0]


def _stability(pd, games) -> tuple[list[dict], dict]:
    """`(stability_rows, {game: StabilityReport})`. Each field is analysed through its linearisation at
    the rest point (`jaxgan.tables.rest_linearisations`: the same Jacobian, compiled once for all the
    games rather than once per game)."""
    names = list(games if games is not None else _games.names())
    game_list = [_games.get(name) for name in names]
    fields = [pointwise_field(game, pd) for game in game_list]
    rows, reports = [], {}
    for game, lin in zip(game_list, rest_linearisations(fields, fn="stability_rows")):
        rep = lin.report
        cond = stability_conditions(game)
        rows.append({
            "game": game.name, "d0": cond.d0,
            "eigenvalues": [[float(l.real), float(l.imag)] for l in rep.eigenvalues],
            "kind": rep.kind, "stable": bool(rep.stable), "curvature": cond.curvature, "coupling": cond.coupling,
            "criterion": bool(cond.stable), "lr_max_euler": max_stable_lr(lin.linear, method="euler"),
            "lr_max_alternating": max_stable_lr(lin.linear64, method="alternating"), "source": game.source,
        })
        reports[game.name] = rep
    return rows, reports


def _trajectory_rows(runs) -> list[dict]:
    rows = []
    for name, (field, items) in runs.items():
        rest = np.asarray(field.rest_point, dtype=np.float64)
        for k, run in enumerate(items):
            final = np.asarray(run.final, dtype=np.float64)
            rows.append({"game": name, "run": "article" if k == 0 else "inside the domain",
                         "start": np.asarray(run.path[0], np.float64).tolist(), "fate": Fate(run.fate).name.lower(),
                         "exit_step": int(run.exit_step), "final": final.tolist(),
                         "distance_to_rest": float(np.linalg.norm(final - rest))})
    return rows


def _eig_text(pairs) -> str:
    return eigenvalues_text([complex(re, im) for re, im in pairs], 4, minus="−")


def _lr_text(x) -> str:
    return lr_text(x, 4, none="0 (none)")


_FATE_TEXT = {"undecided": "ran all steps", "left_domain": "left the domain", "diverged": "diverged"}


def _markdown(rows, traj, settings) -> str:
    pd = settings["pd"]
    lines = [
        f"# Stability of the preset games at pd = {pd:g}",
        "",
        "Rest point (D0, pd). Local criterion: (f1''+f2'')(D0) < 0 and f2'(D0)·f3'(D0) < 0. "
        "Largest stable step: |1 + lr·λ| < 1 for every eigenvalue (Euler); autodiff of one update "
        "(alternating).",
        "",
        "| game | D0 | eigenvalues | kind | (f1''+f2'')(D0) | f2'·f3'(D0) | criterion | max lr Euler | "
        "max lr alternating |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['game']} | {r['d0']:.4g} | {_eig_text(r['eigenvalues'])} | {r['kind']} | "
                     f"{r['curvature']:.4g} | {r['coupling']:.4g} | {'holds' if r['criterion'] else 'fails'} | "
                     f"{_lr_text(r['lr_max_euler'])} | {_lr_text(r['lr_max_alternating'])} |")
    lines += [
        "",
        f"## The article's runs (Euler, lr = {settings['lr']:g}, {settings['steps']:,} steps)",
        "",
        "| game | run | start (D, pg) | fate | stopped at step | final (D, pg) | distance to rest |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in traj:
        ex = str(t["exit_step"]) if t["exit_step"] >= 0 else "—"
        fate = _FATE_TEXT.get(t["fate"], t["fate"])
        lines.append(f"| {t['game']} | {t['run']} | ({t['start'][0]:.4g}, {t['start'][1]:.4g}) | {fate} | "
                     f"{ex} | ({t['final'][0]:.4g}, {t['final'][1]:.4g}) | {t['distance_to_rest']:.3g} |")
    lines += ["", "\"left the domain\": the next step would have made pg < 0 (or taken D out of its interval); "
              "the run stopped there.", ""]
    return "\n".join(lines)


def _write_csv(path, rows):
    fields = ["game", "d0", "eig1_re", "eig1_im", "eig2_re", "eig2_im", "kind", "stable", "curvature", "coupling",
              "criterion", "lr_max_euler", "lr_max_alternating", "source"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            (e1r, e1i), (e2r, e2i) = r["eigenvalues"]
            w.writerow({**{k: r[k] for k in fields if k in r}, "eig1_re": e1r, "eig1_im": e1i, "eig2_re": e2r,
                        "eig2_im": e2i})


class Reproduction(NamedTuple):
    """What `reproduce` wrote.

    - `out`: the folder; `files`: the file names written into it (sorted).
    - `table`: the stability rows (`stability_rows`); `trajectories`: one dict per run (game, start,
      fate, exit step, final state, distance to the rest point).
    - `seconds`: wall time.
    """

    out: str
    files: list
    table: list
    trajectories: list
    seconds: float


def _check_args(pd, steps, lr, start, dpi):
    check_float("reproduce", "pd", pd)
    check_int("reproduce", "steps", steps)
    check_float("reproduce", "lr", lr)
    try:
        s = tuple(float(v) for v in start)
    except (TypeError, ValueError):
        raise ArgumentError(f"reproduce argument `start` must be a pair (D, pg); got {start!r}.") from None
    if len(s) != 2 or not all(math.isfinite(v) for v in s):
        raise ArgumentError(f"reproduce argument `start` must be a pair of finite numbers (D, pg); got {start!r}.")
    check_int("reproduce", "dpi", dpi, 30, 1200)
    return s


def _move_into(tmp: str, out: str) -> None:
    """Move every file of `tmp` into `out` (created if missing); replaces only same-named files."""
    if not os.path.exists(out):
        os.rename(tmp, out)
        return
    for name in sorted(os.listdir(tmp)):
        os.replace(os.path.join(tmp, name), os.path.join(out, name))
    os.rmdir(tmp)


# ----------------------------------------------------------------------------- temporaries
# A temporary file or folder is named `.NAME.tmp-HOST-PID-RANDOM[.ext]` next to its target NAME: HOST (a
# hash of the host name) and PID say whose it is, so a later run can remove those of processes that died
# (SIGKILL, a power cut) without touching those of a live process, here or on another host sharing the folder.

_LEGACY_AGE_S = 86_400.0  # older versions: `.NAME.tmp-XXXXXXXX` (tempfile.mkdtemp), no owner; removed after a day


def temporary_path(target, suffix: str = "") -> str:
    """A fresh path for a temporary next to `target`: `.NAME.tmp-HOST-PID-RANDOM` plus `suffix`.

    **Arguments:** `target`: the final path (file or folder); `suffix`: appended (e.g. `".npz"`, for
    writers that choose the format from the name).

    **Returns:** the path (nothing is created); `remove_stale_temporaries(target)` recognises it.
    """
    target = os.path.abspath(os.fspath(target))
    name = f".{os.path.basename(target)}.tmp-{host_tag()}-{os.getpid()}-{secrets.token_hex(4)}{suffix}"
    return os.path.join(os.path.dirname(target), name)


def remove_stale_temporaries(target) -> list[str]:
    """Remove the temporaries of `target` (see `temporary_path`) whose process is dead.

    Only those made on this host by a process that no longer exists, and legacy unowned ones older
    than a day, are removed; a live process's temporaries (this one's included) are never touched.

    **Returns:** the paths removed.
    """
    target = os.path.abspath(os.fspath(target))
    parent, base = os.path.dirname(target), os.path.basename(target)
    owned = re.compile(rf"\.{re.escape(base)}\.tmp-([0-9a-f]{{8}})-(\d+)-[0-9a-f]+(\.\w+)?")
    legacy = re.compile(rf"\.{re.escape(base)}\.tmp-[A-Za-z0-9_]{{8}}")
    try:
        entries = os.listdir(parent)
    except OSError:
        return []
    host, removed = host_tag(), []
    for entry in entries:
        path = os.path.join(parent, entry)
        m = owned.fullmatch(entry)
        if m:
            stale = m.group(1) == host and int(m.group(2)) != os.getpid() and not pid_alive(int(m.group(2)))
        else:
            try:
                stale = bool(legacy.fullmatch(entry)) and time.time() - os.lstat(path).st_mtime > _LEGACY_AGE_S
            except OSError:
                stale = False
        if stale:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except OSError:
                    pass
            removed.append(path)
    return removed


def reproduce(out, *, pd: float = ARTICLE_PD, steps: int = ARTICLE_STEPS, lr: float = ARTICLE_LR,
              start=ARTICLE_START, with_extra: bool = True, dpi: int = 150,
              progress=None) -> Reproduction:
    """Write the article's figures and the stability table of every preset game into the folder `out`.

    Files (names fixed):

    - `portrait_<game>.png` for minimax, non_saturating, wasserstein, quadratic: the field's
      streamlines, the article's trajectory (simultaneous Euler from `start`), the rest point;
    - `article_fields.png`: the four portraits in one figure;
    - `eigenvalues.png`: the rest points' eigenvalues of every preset game at `pd`;
    - `stability.md`, `stability.csv`, `stability.json`: per preset game D0, eigenvalues at `pd`, kind,
      the criterion's values, the largest stable Euler and alternating steps (the markdown and JSON
      also list the trajectories' fates).

    Nothing in `out` is touched until everything has been written: files go to a temporary folder
    next to `out` (`.NAME.tmp-HOST-PID-RANDOM`) and are moved in at the end (replacing only files of the
    same names). A run that fails or is interrupted (KeyboardInterrupt, or SIGTERM where the caller turns
    it into an exception, as the `jaxgan` command does) leaves `out` as it was and removes its temporary
    folder; one left by a process that was killed outright (SIGKILL) is removed by the next run.

    **Arguments:**

    - `out`: the folder (created if missing, with its parents).
    - `pd`, `steps`, `lr`, `start`: the article's script (0.2, 100 000, 1e-3, (0.75, 0.9)); a smaller
      `steps` gives a quick preview.
    - `with_extra`: also draw one orbit that stays inside `pg ≥ 0` for Wasserstein and quadratic
      (`extra_starts`).
    - `dpi`: resolution of the PNGs.
    - `progress`: `None` (default): a bar on stderr when stderr is a terminal; `True`: always a
      bar; `False`: silent; a callable: receives a `jaxgan.ProgressEvent` per stage (3 stages).

    **Returns:** a `Reproduction` (folder, file names, the table's rows, the runs, seconds).

    **Raises:** `ArgumentError` for bad arguments, or an `out` that exists and is not a folder or lies
    under a file (before any work); `OSError` when `out` cannot be created or written into; whatever
    a stage raises, after removing the temporary folder.
    """
    t0 = time.perf_counter()
    start = _check_args(pd, steps, lr, start, dpi)
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out) and not os.path.isdir(out):
        raise ArgumentError(f"reproduce argument `out` must be a folder; {out!r} exists and is not one.")
    above = os.path.dirname(out)
    while not os.path.exists(above):
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        raise ArgumentError(f"reproduce argument `out` must be a folder; got {out!r}, under the file {above!r}.")
    report = reporter("reproduce", progress, "reproduce", 3, unit="stage")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    remove_stale_temporaries(out)
    tmp = temporary_path(out)  # this process's own name: removing it below never touches another's
    try:
        # Inside the `try`: an interrupt that lands as the folder is made (Python raises it when the
        # call returns) must still remove it.
        os.mkdir(tmp, 0o700)
        runs = article_runs(pd, steps=int(steps), lr=lr, start=start, with_extra=with_extra)
        # The portraits are drawn on a second thread while this one computes the stability rows (whose
        # many small compiles let go of the GIL), with short turns at the GIL meanwhile. The thread is
        # stopped and joined before the block is left, whatever ends it: an interrupt waits for one
        # figure at most, and no thread outlives the call. The article's runs stay on this thread: with
        # their compiles on the other one, an interrupted run under load failed to end within minutes.
        with _Beside(_write_portraits, tmp, runs, pd=pd, steps=int(steps), lr=lr, start=start,
                     dpi=dpi) as portraits, _short_gil_turns():
            rows, reports = _stability(pd, None)
            report(1, f"article runs: {len(ARTICLE_GAMES)} fields, {steps} Euler steps of {lr:g} from {start}")
            written = portraits.result()
        report(2, "phase portraits written")
        traj = _trajectory_rows(runs)
        settings = {"pd": pd, "steps": int(steps), "lr": lr, "start": list(start), "method": "euler"}
        written += _write_tables(tmp, rows, traj, settings, dpi=dpi, reports=reports)
        report(3, "stability table of every preset game written")
        _move_into(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # first: nothing left behind, whatever happens next
        report.close()  # the bar's line ends before the traceback
        raise
    return Reproduction(out, sorted(written), rows, traj, time.perf_counter() - t0)


def _write_portraits(stop: threading.Event, tmp: str, runs: dict, *, pd, steps: int, lr, start,
                     dpi: int) -> list[str]:
    """One phase portrait per game and the combined panel, as PNGs in `tmp`; returns the names. Drawn on
    matplotlib's own `Figure`s, not pyplot's (a GUI backend cannot make figures off the main thread);
    returns early, with what it wrote, once `stop` is set."""
    from matplotlib.figure import Figure

    written = []
    for name, (field, items) in runs.items():
        if stop.is_set():
            return written
        fig = Figure(figsize=(5.4, 4.4), layout="constrained")  # `phase_portrait`'s own figure
        plotting.phase_portrait(field, trajectories=items, colorbar=True, ax=fig.add_subplot(),
                                title=f"{ARTICLE_TITLES[name]}, pd = {pd:g}")
        fname = f"portrait_{name}.png"
        fig.savefig(os.path.join(tmp, fname), dpi=dpi)
        written.append(fname)
    if stop.is_set():
        return written
    fig = plotting.portrait_grid({ARTICLE_TITLES[n]: f for n, (f, _) in runs.items()},
                                 trajectories=[items for _, items in runs.values()], ncols=2, fig=Figure(),
                                 suptitle=f"The article's fields at pd = {pd:g}: Euler, lr = {lr:g}, "
                                          f"{steps:,} steps from (D, pg) = ({start[0]:g}, {start[1]:g})")
    fig.savefig(os.path.join(tmp, "article_fields.png"), dpi=dpi)
    return written + ["article_fields.png"]


@contextlib.contextmanager
def _short_gil_turns(seconds: float = 5e-4):
    """Python's thread switch interval at most `seconds` inside (restored on exit). The stability rows
    dispatch many small operations (the D0 solves, op by op), each letting go of the GIL while it runs;
    at the default interval (5 ms) each then waited for the drawing thread's turn to end, and the stage
    took 9.7 s instead of 3.5 s. At 0.5 ms the two threads share the GIL as intended."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class _Beside:
    """`fn(stop, *args, **kwargs)` on a second thread while the caller's goes on, as a `with` block.

    `result()` waits for it (in short joins, so that a signal still reaches the caller's thread) and
    returns its value or raises its exception. Leaving the block sets `stop` (a `threading.Event` that
    `fn` checks between its pieces of work) and joins the thread, however the block ends.
    """

    def __init__(self, fn, *args, **kwargs):
        self._stop = threading.Event()
        self._box: dict = {}

        def work():
            try:
                if hasattr(signal, "pthread_sigmask"):  # Ctrl-C and SIGTERM are the caller's thread's to take
                    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
                self._box["value"] = fn(self._stop, *args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 -- handed to the caller's thread by `result`
                self._box["error"] = exc

        self._thread = threading.Thread(target=work, name="jaxgan-reproduce-figures")

    def __enter__(self) -> "_Beside":
        self._thread.start()
        return self

    def _join(self) -> None:
        while self._thread.is_alive():
            self._thread.join(0.1)

    def result(self):
        self._join()
        if "error" in self._box:
            raise self._box["error"]
        return self._box["value"]

    def __exit__(self, *exc_info) -> bool:
        self._stop.set()
        self._join()
        return False


def _write_tables(tmp: str, rows: list, traj: list, settings: dict, *, dpi: int, reports: dict) -> list[str]:
    """The eigenvalue figure (of `reports`: game -> StabilityReport) and the stability table (markdown, CSV,
    JSON) in `tmp`; returns the names."""
    import matplotlib.pyplot as plt

    pd = settings["pd"]
    ax = plotting.eigenvalues(reports, title=f"rest-point eigenvalues of the preset games, pd = {pd:g}")
    ax.figure.savefig(os.path.join(tmp, "eigenvalues.png"), dpi=dpi)
    plt.close(ax.figure)
    with open(os.path.join(tmp, "stability.md"), "w", encoding="utf-8") as fh:
        fh.write(_markdown(rows, traj, settings))
    _write_csv(os.path.join(tmp, "stability.csv"), rows)
    json_rows = [{**r, "lr_max_euler": _finite_or_str(r["lr_max_euler"]),
                  "lr_max_alternating": _finite_or_str(r["lr_max_alternating"])} for r in rows]
    with open(os.path.join(tmp, "stability.json"), "w", encoding="utf-8") as fh:
        json.dump({"settings": settings, "games": json_rows, "trajectories": traj}, fh, indent=1)
    return ["eigenvalues.png", "stability.md", "stability.csv", "stability.json"]
