"""Execute notebooks in place, at the small size, so that their outputs are committed.

    python docs/execute_notebooks.py                      # every notebooks/*.ipynb
    python docs/execute_notebooks.py notebooks/06_x.ipynb # one
    python docs/execute_notebooks.py --full notebooks/02_basins.ipynb  # at the notebook's own size

The committed outputs are what GitHub shows and what the documentation site renders (the site
does not execute notebooks: `mkdocs build` stays fast and needs no kernel). The notebooks run in a
"python3" kernel started with *this* interpreter, with `JAXGAN_SMALL=1` (the sizes
`tests/test_notebooks.py` uses, but for a notebook that reads `JAXGAN_TEST`, set there only;
`--full` leaves it unset, for a notebook whose full size runs in a minute or two, such as the
basin maps of 02) and matplotlib's inline backend, so figures are embedded as PNG.
Timing metadata is not recorded, so a re-run changes only what the notebook computes, and each
PNG is stored with a 256-colour palette when that makes it smaller (matplotlib's figures lose
nothing visible; a portrait grid shrinks from 500 to 160 KiB), to keep the notebooks small.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def shrink_png(data: str) -> str:
    """A base64 PNG re-encoded with an adaptive 256-colour palette, if that is smaller."""
    from PIL import Image

    raw = base64.b64decode(data)
    im = Image.open(io.BytesIO(raw)).convert("RGBA")
    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, im).convert("RGB")
    out = io.BytesIO()
    flat.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, "PNG", optimize=True)
    small = out.getvalue()
    return base64.b64encode(small).decode("ascii") + "\n" if len(small) < 0.8 * len(raw) else data


def execute(path: pathlib.Path, kernel_dir: pathlib.Path, timeout: int = 1200) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    metadata = copy.deepcopy(nb.metadata)          # kept as is: no kernel version noise in diffs
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    if errors:
        raise SystemExit(f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}")
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "image/png" in out.get("data", {}):
                out["data"]["image/png"] = shrink_png(out["data"]["image/png"])
    nb.metadata = metadata
    nbformat.write(nb, path)
    print(f"{path}: {path.stat().st_size / 1024:.0f} KiB", flush=True)


def main(argv: list[str]) -> None:
    full = "--full" in argv
    argv = [a for a in argv if a != "--full"]
    paths = [pathlib.Path(a).resolve() for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        spec = pathlib.Path(tmp) / "kernels" / "python3"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3", "language": "python"}))
        os.environ["JUPYTER_PATH"] = tmp
        if full:
            os.environ.pop("JAXGAN_SMALL", None)
        else:
            os.environ["JAXGAN_SMALL"] = "1"
        os.environ.pop("MPLBACKEND", None)          # the inline backend: figures become outputs
        for path in paths:
            execute(path, spec)


if __name__ == "__main__":
    main(sys.argv[1:])
