"""Every notebook in notebooks/*.ipynb executes top to bottom, at small sizes.

The notebooks run in a "python3" kernel started with *this* interpreter (so they exercise the
jaxgan under test, whatever kernels the machine has installed), with `JAXGAN_SMALL=1` in the
environment: notebooks read it to shrink their sizes (the committed outputs are that size,
`docs/execute_notebooks.py`); `JAXGAN_TEST=1` too, for a notebook whose small size is still long
(05: the quick size of the experiment). A cell that raises fails the test.

Each notebook has its own fresh kernel, as before; the kernels run two at a time (a kernel spends
most of its time compiling, on one core), started together when the first notebook test runs, so
that their time overlaps. Each test then waits for its own notebook and reports its own error.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
KERNELS_AT_ONCE = 2


def _missing() -> str | None:
    for mod in ("nbformat", "nbclient", "ipykernel", "jupyter_client"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed (pip install -e '.[test]'): no python3 kernel to run notebooks"
    return None


def _execute(path: pathlib.Path, kernel_name: str):
    """Run the notebook at `path` in a fresh kernel; returns the executed notebook (raises as nbclient does)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


@pytest.fixture(scope="module")
def executed(request, tmp_path_factory):
    """`{path: Future of the executed notebook}` for the notebooks selected in this session, all
    started at once (`KERNELS_AT_ONCE` kernels at a time) in a kernel spec named "python3" that runs
    this interpreter, first on JUPYTER_PATH, with `JAXGAN_SMALL=1` and the Agg backend."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (jaxgan tests)", "language": "python",
    }))
    selected = [item.callspec.params["path"] for item in request.session.items
                if item.originalname == "test_notebook_executes" and hasattr(item, "callspec")]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        mp.setenv("JAXGAN_SMALL", "1")
        mp.setenv("JAXGAN_TEST", "1")  # notebooks whose small size is still long take a smaller one
        mp.setenv("MPLBACKEND", "Agg")
        with ThreadPoolExecutor(max_workers=KERNELS_AT_ONCE) as pool:
            yield {path: pool.submit(_execute, path, "python3") for path in selected}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, executed):
    nb = executed[path].result()  # a cell that raised re-raises here (nbclient's CellExecutionError)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"


def test_notebooks_exist():
    assert (NOTEBOOK_DIR / "01_article.ipynb") in NOTEBOOKS
