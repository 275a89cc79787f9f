"""The layout ARCHITECTURE.md describes, enforced: imports only go down the layers, files stay
small, long functions say why they are long, and no library code changes `jax.config`."""

import ast
import pathlib


PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "jaxgan"

# The layers of ARCHITECTURE.md, lowest first: a module may import from its own layer or below.
LAYERS = [
    {"errors", "progress", "_checks", "_format", "_processes", "_exported", "_xla"},
    {"games", "datasets"},
    {"fields", "fates"},
    {"dynamics"},
    {"stability", "lyapunov"},
    {"nets", "networks", "kernels"},
    {"sweeps", "neural", "tables"},
    {"plotting"},
    {"article"},
    {"cli"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
MAX_LINES = 650
MAX_FUNCTION_LINES = 80


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def _unit(path: pathlib.Path) -> str:
    """The top-level unit of jaxgan a file belongs to (`fields` for jaxgan/fields/toys.py)."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imported_units(source: str, rel: tuple):
    """(line, unit) for every import of a part of jaxgan in `source`, the text of the file at
    `rel` (its path parts relative to jaxgan/); relative and absolute imports alike."""
    pkg = list(rel[:-1])  # the package the file lives in, relative to jaxgan
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(pkg):
                    continue
                target = pkg[: len(pkg) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "jaxgan":
                target = node.module.split(".")[1:]
            else:
                continue
            if target:
                yield node.lineno, target[0]
            else:  # `from . import games` at the top of jaxgan
                for alias in node.names:
                    yield node.lineno, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "jaxgan" and len(parts) > 1:
                    yield node.lineno, parts[1]


def _imports_of(path: pathlib.Path):
    return _imported_units(path.read_text(encoding="utf-8"), path.relative_to(PACKAGE).parts)


def test_every_module_has_a_layer():
    missing = sorted({_unit(p) for p in _modules()} - set(LAYER))
    assert not missing, f"modules without a layer in ARCHITECTURE.md / this test: {missing}"


def test_imports_only_go_down_the_layers():
    bad = []
    for path in _modules():
        unit = _unit(path)
        for line, target in _imports_of(path):
            if target in LAYER and LAYER[target] > LAYER[unit]:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({unit}, layer {LAYER[unit]}) imports "
                           f"{target} (layer {LAYER[target]})")
    assert not bad, "imports that go up the layers:\n" + "\n".join(bad)


def test_the_checker_sees_every_kind_of_import():
    # The rule above must be able to fail: a fields module importing the sweeps is caught,
    # whichever way the import is written.
    src = ("from ..sweeps import basins\nfrom .field import Field\nimport jaxgan.plotting\n"
           "from jaxgan.kernels import spectrum\nfrom .. import games\n\ndef f():\n    from ..cli import main\n")
    units = [u for _, u in _imported_units(src, ("fields", "probe.py"))]
    assert units == ["sweeps", "fields", "plotting", "kernels", "games", "cli"]
    top = [u for _, u in _imported_units("from . import games\nfrom .fields import Field\n", ("article.py",))]
    assert top == ["games", "fields"]


def test_files_are_small():
    big = {str(p.relative_to(PACKAGE.parent)): n for p in _modules()
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not big, f"files over {MAX_LINES} lines (one concern per file): {big}"


def _long_functions(text: str, label: str):
    """Functions whose code (the docstring not counted) is over MAX_FUNCTION_LINES lines and whose
    first statement is not a comment saying why they are long."""
    lines = text.splitlines()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            has_doc = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and len(body) > 1
            start = body[1].lineno if has_doc else body[0].lineno
            # the lines between the docstring and the first statement hold its leading comments
            first = (body[0].end_lineno + 1) if has_doc else node.lineno + 1
            length = node.end_lineno - first + 1
            if length <= MAX_FUNCTION_LINES:
                continue
            comments = [ln.strip() for ln in lines[first - 1:start - 1] if ln.strip().startswith("#")]
            if not (comments and "long" in comments[0].lower()):
                yield f"{label}:{node.lineno} {node.name} ({length} lines of code)"


def test_long_functions_say_why():
    bad = [item for p in _modules()
           for item in _long_functions(p.read_text(encoding="utf-8"), str(p.relative_to(PACKAGE.parent)))]
    assert not bad, (f"functions over {MAX_FUNCTION_LINES} lines whose first statement is not a comment saying "
                     f"why they are long:\n" + "\n".join(bad))


def test_the_long_function_rule_can_fail():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES + 5))
    doc = '    """A docstring does not count."""\n'
    assert len(list(_long_functions(f"def f():\n{doc}{body}", "probe"))) == 1
    assert not list(_long_functions(f"def f():\n{doc}    # Long because: a probe.\n{body}", "probe"))
    short = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 1))
    long_doc = '    """A long docstring.\n' + "    more words\n" * 40 + '    """\n'
    assert not list(_long_functions(f"def f():\n{long_doc}{short}", "probe"))


def _config_updates(source: str) -> list[int]:
    """Lines that call `<anything>.config.update(...)` or `jax.config.update(...)` (in code, not in
    strings: a message may tell the user how to enable x64 in their own program)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update":
            owner = node.func.value
            if isinstance(owner, ast.Attribute) and owner.attr == "config":
                lines.append(node.lineno)
            elif isinstance(owner, ast.Name) and owner.id == "config":
                lines.append(node.lineno)
    return lines


# The one module allowed to change jax.config: the `jaxgan` command's persistent compilation cache, set up
# by the command's entry point for its own process (never by the library, never by `main([...])`).
CONFIG_ALLOWED = {"jaxgan/cli/_cache.py"}


def _config_changes(paths, root: pathlib.Path = PACKAGE.parent) -> list[str]:
    """`file:line` of every jax.config change in `paths` (relative to `root`) outside CONFIG_ALLOWED."""
    return [f"{rel}:{line}" for p in paths
            if (rel := p.relative_to(root).as_posix()) not in CONFIG_ALLOWED
            for line in _config_updates(p.read_text(encoding="utf-8"))]


def test_library_never_changes_jax_config():
    hits = _config_changes(_modules())
    assert not hits, f"library code that changes jax.config: {hits}"
    allowed = [PACKAGE.parent / name for name in sorted(CONFIG_ALLOWED)]
    assert all(p.exists() and _config_updates(p.read_text(encoding="utf-8")) for p in allowed), (
        "an allowed jax.config module that no longer exists or no longer changes it: drop it from CONFIG_ALLOWED")


def test_only_the_cli_cache_module_may_change_jax_config(tmp_path):
    # The exception is one path: the same call anywhere else in the package, the CLI included, is refused.
    code = 'import jax\njax.config.update("jax_compilation_cache_dir", "/tmp")\n'
    probes = []
    for rel in ("cli/_cache.py", "cli/core.py", "cli/_cache2.py", "tables.py"):
        path = tmp_path / "jaxgan" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
        probes.append(path)
    assert _config_changes(probes, tmp_path) == ["jaxgan/cli/core.py:2", "jaxgan/cli/_cache2.py:2",
                                                 "jaxgan/tables.py:2"]


def test_the_config_check_can_fail():
    src = 'import jax\nmsg = "call jax.config.update(...) yourself"\ndef f():\n    jax.config.update("x", 1)\n'
    assert _config_updates(src) == [4]
    assert _config_updates("from jax import config\nconfig.update('jax_enable_x64', True)\n") == [2]
