"""Every notebook in notebooks/*.ipynb executes top to bottom, at small sizes.

The notebooks run in a "python3" kernel started with *this* interpreter (so they exercise the
jaxgan under test, whatever kernels the machine has installed), with `JAXGAN_SMALL=1` in the
environment: notebooks read it to shrink their sizes. A cell that raises fails the test.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys

import pytest

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def _missing() -> str | None:
    for mod in ("nbformat", "nbclient", "ipykernel", "jupyter_client"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed (pip install -e '.[test]'): no python3 kernel to run notebooks"
    return None


@pytest.fixture
def python3_kernel(tmp_path, monkeypatch):
    """A kernel spec named "python3" that runs this interpreter, first on JUPYTER_PATH."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (jaxgan tests)", "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JAXGAN_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, python3_kernel):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=python3_kernel,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"


def test_notebooks_exist():
    assert (NOTEBOOK_DIR / "01_article.ipynb") in NOTEBOOKS
