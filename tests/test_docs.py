"""The documentation site: its configuration, its notebooks, and what a strict build refuses.

The full `mkdocs build --strict` runs in `.ci/run` after the tests (about 30 s, mostly rendering
the notebooks); here are the fast checks:

- a strict build with the site's own link validation fails on a broken link and on a broken
  cross-reference to the API, naming each (a tiny project in a temporary folder, ~2 s), and
  passes once they are mended;
- every public module of jaxgan has an API page in the nav, and every API page documents a
  module that exists;
- every notebook is committed executed, top to bottom, without errors (the site renders the
  committed outputs and executes nothing);
- the docs hook puts every notebook in the nav, and nests the docstrings' 2-space lists.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXECUTE_HINT = "python docs/execute_notebooks.py notebooks/{name}"


def _config() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def _nav_pages(nav) -> list[str]:
    out = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return out


def _build(project: pathlib.Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)


def test_strict_build_names_a_broken_link_and_a_broken_cross_reference(tmp_path):
    for mod in ("mkdocs", "mkdocs_autorefs"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed (pip install -e '.[docs]')")
    yaml = pytest.importorskip("yaml")
    real = _config()
    assert real.get("strict") is True
    config = {"site_name": "broken", "strict": True, "validation": real["validation"], "plugins": ["autorefs"],
              "markdown_extensions": ["attr_list", "toc"]}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "api.md").write_text("# API\n\n## simulate {#jaxgan.simulate}\n", encoding="utf-8")
    page = docs / "index.md"
    page.write_text("# Home\n\nSee [the guide](guide/missing.md) and [`simulate`][jaxgan.simulat].\n",
                    encoding="utf-8")
    broken = _build(tmp_path)
    assert broken.returncode != 0, broken.stderr
    assert "guide/missing.md" in broken.stderr, broken.stderr
    assert "jaxgan.simulat'" in broken.stderr, broken.stderr
    assert "strict mode" in broken.stdout + broken.stderr, broken.stdout

    page.write_text("# Home\n\nSee [the API](api.md) and [`simulate`][jaxgan.simulate].\n", encoding="utf-8")
    mended = _build(tmp_path)
    assert mended.returncode == 0, mended.stderr
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert re.search(r'href="[^"]*api/#jaxgan\.simulate"', html), "the cross-reference was not resolved"


def _public_modules() -> set[str]:
    pkg = ROOT / "jaxgan"
    names = {p.stem for p in pkg.glob("*.py")} | {p.name for p in pkg.iterdir() if (p / "__init__.py").exists()}
    return {f"jaxgan.{n}" for n in names if not n.startswith("_") and n != "cli"} | {"jaxgan"}


def _module_file(dotted: str) -> pathlib.Path | None:
    path = ROOT.joinpath(*dotted.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def _defined(target: str) -> bool:
    """`target` is a module of the repository, or a function / class / name defined in one."""
    if _module_file(target):
        return True
    module, _, name = target.rpartition(".")
    source = _module_file(module)
    return source is not None and re.search(rf"^(def|class) {name}\b|^{name}\b.*=", source.read_text(encoding="utf-8"),
                                            flags=re.M) is not None


def test_every_public_module_has_an_api_page_in_the_nav():
    pages = _nav_pages(_config()["nav"])
    documented = {}
    for page in (ROOT / "docs" / "api").glob("*.md"):
        for target in re.findall(r"^::: *([\w.]+)", page.read_text(encoding="utf-8"), flags=re.M):
            documented[target] = page
    missing = sorted(_public_modules() - set(documented))
    assert not missing, f"no API page documents {missing}: add docs/api/NAME.md ('::: jaxgan.NAME') and a nav line"
    for target, page in documented.items():
        rel = page.relative_to(ROOT / "docs").as_posix()
        assert rel in pages, f"{rel} is not in the nav of mkdocs.yml"
        assert _defined(target), f"{rel}: no module or top-level definition {target}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_executed(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    hint = EXECUTE_HINT.format(name=path.name)
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name} is not committed executed top to bottom (execution counts {counts}); the site and "
        f"GitHub show the committed outputs: run `{hint}`")
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name} was committed with an error output: {errors[0].get('ename')}; run `{hint}`"
    draws = any(re.search(r"\bplt\.|plotting|\.figure\b", "".join(c["source"])) for c in code)
    figures = any("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))
    assert figures or not draws, (f"{path.name} draws figures but none is among its outputs (executed with "
                                  f"MPLBACKEND=Agg?); run `{hint}`")


def test_docs_hook_puts_every_notebook_in_the_nav():
    spec = importlib.util.spec_from_file_location("jaxgan_docs_hooks", ROOT / "docs" / "hooks.py")
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)

    class Config:
        nav = _config()["nav"]
        markdown_extensions = []

    config = hooks.on_config(Config())
    section = next(item["Notebooks"] for item in config.nav if isinstance(item, dict) and "Notebooks" in item)
    assert [next(iter(entry.values())) for entry in section] == [f"notebooks/{p.name}" for p in NOTEBOOKS]
    titles = [next(iter(entry)) for entry in section]
    assert all(titles) and not any("$" in t or t[:2].isdigit() for t in titles), titles

    # The docstrings nest lists by 2 spaces; the extension the hook adds makes Markdown nest them.
    import markdown

    text = "**Arguments:**\n\n- `algorithm`: how:\n  - `\"auto\"`: the default.\n- `x`: points.\n\n  code\n"
    plain = markdown.markdown(text)
    nested = markdown.markdown(text, extensions=config.markdown_extensions)
    assert plain.count("<ul>") == 1 and nested.count("<ul>") == 2, nested
    assert "<li><code>x</code>: points." in nested and "<ul>\n<li><code>\"auto\"</code>" in nested, nested
