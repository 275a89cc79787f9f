"""mkdocs hooks: the notebooks and the article's figure come from notebooks/, not from docs/.

`on_files` adds every `notebooks/*.ipynb` (rendered by mkdocs-jupyter, outputs as committed) and
`notebooks/figures/*.png` to the site, so nothing is copied or linked into docs/ and a fresh
clone builds as is; `on_config` fills the nav's "Notebooks" section with them, in file order,
titled by each notebook's first heading (a new notebook appears on the site with no edit here), and
`on_page_markdown` replaces `<!-- cli-help -->` (docs/guide/cli.md) with every command's `--help`
and `<!-- top-level-names -->` (docs/api/jaxgan.md) with what `jaxgan` exports, linked to its reference.
"""

from __future__ import annotations

import json
import pathlib
import re

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def _notebooks() -> list[pathlib.Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _title(path: pathlib.Path) -> str:
    """The notebook's first markdown heading, without the leading "NN — "; else its file name."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return path.stem
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    title = line[2:].strip()
                    head, sep, rest = title.partition(" — ")
                    title = rest if sep and head.strip().isdigit() else title
                    return re.sub(r"\$([^$]*)\$", lambda m: _plain_math(m.group(1)), title)
    return path.stem


def _plain_math(tex: str) -> str:
    """`K_\\theta` → `Kθ`: the nav shows text, not MathJax."""
    for name, char in (("theta", "θ"), ("lambda", "λ"), ("gamma", "γ"), ("sigma", "σ")):
        tex = tex.replace("\\" + name, char)
    return tex.replace("_", "").replace("{", "").replace("}", "")


class _NestedLists:
    """A Python-Markdown extension: list items nested by 2 spaces (the docstrings' style, as on
    GitHub) are nested, not flattened (Python-Markdown nests by 4). Only marker lines inside a
    list move, and never inside fenced code."""

    @staticmethod
    def make():
        from markdown.extensions import Extension
        from markdown.preprocessors import Preprocessor

        marker = re.compile(r"^( *)(?:[-*+]|\d+\.) ")

        class Nest(Preprocessor):
            def run(self, lines):
                out, in_list, fence = [], False, False
                for line in lines:
                    if line.lstrip().startswith(("```", "~~~")):
                        fence = not fence
                    m = None if fence else marker.match(line)
                    if m:
                        indent = len(m.group(1))
                        if indent % 4 == 0:
                            in_list = True
                        elif in_list and indent % 4 == 2:
                            line = " " * (indent + 2) + line[indent:]
                    elif line.strip() and not line.startswith(" ") and not fence:
                        in_list = False
                    out.append(line)
                return out

        class NestedLists(Extension):
            def extendMarkdown(self, md):
                md.preprocessors.register(Nest(md), "jaxgan_nested_lists", 35)

        return NestedLists()


@event_priority(100)          # before mkdocstrings reads the extensions for the docstrings
def on_config(config):
    config.markdown_extensions.append(_NestedLists.make())
    pages = [{_title(p): f"notebooks/{p.name}"} for p in _notebooks()]
    for i, item in enumerate(config.nav or []):
        if isinstance(item, dict) and "Notebooks" in item:
            config.nav[i] = {"Notebooks": pages}
    return config


@event_priority(100)          # before mkdocs-jupyter's on_files turns .ipynb files into pages
def on_files(files, config):
    use_urls = config.use_directory_urls
    extra = _notebooks() + sorted((NOTEBOOKS / "figures").glob("*.png"))
    for path in extra:
        rel = path.relative_to(ROOT).as_posix()
        if files.get_file_from_path(rel) is None:
            files.append(File(rel, src_dir=str(ROOT), dest_dir=config.site_dir, use_directory_urls=use_urls))
    return files


CLI_MARKER = "<!-- cli-help -->"


def _subcommands(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def cli_reference() -> str:
    """Every `jaxgan` command's `--help`, as markdown: the reference can never drift from the CLI."""
    import os

    from jaxgan.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"            # argparse wraps to the terminal: fit the page
    try:
        parser = build_parser()
        parts = ["```text", parser.format_help().rstrip(), "```"]

        def add(prefix, sub):
            for name, p in sub.items():
                parts.extend([f"\n### `{prefix} {name}`\n", "```text", p.format_help().rstrip(), "```"])
                add(f"{prefix} {name}", _subcommands(p))

        add("jaxgan", _subcommands(parser))
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if TOP_MARKER in markdown:
        markdown = markdown.replace(TOP_MARKER, top_level_names())
    return markdown


TOP_MARKER = "<!-- top-level-names -->"


def top_level_names() -> str:
    """The names `jaxgan/__init__.py` exports, grouped by the package that documents them."""
    import ast

    tree = ast.parse((ROOT / "jaxgan" / "__init__.py").read_text(encoding="utf-8"))
    public = next((ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                   and any(getattr(t, "id", "") == "__all__" for t in n.targets)), [])
    home, modules = {}, []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                if node.module is None:
                    modules.append(alias.name)
                else:
                    home[alias.asname or alias.name] = (node.module, alias.name)
    rows = ["| package | what `jaxgan` exports from it |", "|---|---|"]
    for mod in modules:
        names = [n for n in public if n in home and home[n][0] == mod]
        links = ", ".join(f"[`{n}`][jaxgan.{mod}.{home[n][1]}]" for n in names) or "—"
        rows.append(f"| [`jaxgan.{mod}`]({mod}.md) | {links} |")
    return "\n".join(rows)
