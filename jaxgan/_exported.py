"""A program store: compiled programs kept as `jax.export` artifacts in a folder, so that a later
process calls them without tracing them again.

The persistent compilation cache spares XLA's compiling, yet JAX must still trace and lower each
program to find it there. For `jaxgan table convergence`, whose regularised fields' nested derivatives
are slow to trace, that was most of a warm run. A store keeps each program's StableHLO, serialised by
`jax.export`, under a key of everything that decides it:

- jaxgan's own source (every `.py` file of the package, hashed once per process), the jax and jaxlib
  versions (together: the folder's *salt*);
- the default backend, JAX's settings that change a traced program (x64, matmul precision, dtype
  promotion, the random bits' implementation, NaN checks), the XLA options it compiles with;
- the program's name, its static arguments, its arguments' tree structure (with the addresses of
  functions removed) and their types (shape, dtype, weak type).

A later process finds the entry, loads it and calls it; the executable itself then comes from the
compilation cache. The key cannot see code that is not jaxgan's, so only programs built from jaxgan's
own functions go through a store, and only the `jaxgan` command turns one on (`using`, beside its
compilation cache and with the same off switches). The library never does on its own: without a
store, `call` is the jitted function's own call.

The folder holds `<salt>/<key>.exported`; a new salt removes the other salts' folders (their entries
could never be found again). Writes are atomic (a temporary file renamed into place). An entry that
cannot be read is exported afresh and rewritten, with one warning. `jax.export`'s serialisation needs
`flatbuffers` (a core dependency of jaxgan); without it no store is used.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import pathlib
import re
import shutil
import tempfile
import threading
from typing import Any, Callable, Iterator, Mapping

import jax

__all__ = ["ProgramStore", "call", "using", "active", "available"]

_SUFFIX = ".exported"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # a function's repr: its name stays, its address goes
_active: "ProgramStore | None" = None  # process-wide: the table's runs call from worker threads
# JAX's settings that change what a traced program is (its numbers' types, its matmuls' precision, its
# random bits, its checks): part of every key.
_SETTINGS = ("jax_enable_x64", "jax_default_matmul_precision", "jax_numpy_dtype_promotion",
             "jax_numpy_rank_promotion", "jax_default_prng_impl", "jax_threefry_partitionable", "jax_debug_nans",
             "jax_debug_infs")


@functools.lru_cache(maxsize=1)
def _salt() -> str:
    """A hash of jaxgan's source files and of jax's and jaxlib's versions."""
    import jaxlib

    h = hashlib.sha256(f"jax {jax.__version__} jaxlib {jaxlib.__version__}".encode())
    root = pathlib.Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:24]


def _portable(value) -> str:
    return _ADDRESS.sub("", repr(value))


class ProgramStore:
    """Programs kept in `folder` (created when missing) as `jax.export` artifacts; see the module.

    **Arguments:** `folder`: the store's folder; `warn`: called with one line when an entry cannot be
    read or the folder cannot be written (default: nothing said).
    """

    def __init__(self, folder: str, warn: Callable[[str], None] | None = None):
        self.root = os.path.abspath(folder)
        self.folder = os.path.join(self.root, _salt())
        self._warn = warn
        self._said: set = set()
        self._lock = threading.Lock()
        self._callers: dict = {}  # key -> the jitted call of its `Exported`, once per process
        self._prepared = False

    def _say(self, what: str, message: str) -> None:
        with self._lock:
            if what in self._said or self._warn is None:
                return
            self._said.add(what)
        self._warn(message)

    def _prepare(self) -> bool:
        """Create this salt's folder; the first time, remove the other salts' folders."""
        if self._prepared:
            return True
        try:
            if not os.path.isdir(self.folder):
                os.makedirs(self.folder, mode=0o700, exist_ok=True)
                for name in os.listdir(self.root):
                    other = os.path.join(self.root, name)
                    if other != self.folder and os.path.isdir(other) and not os.path.islink(other):
                        shutil.rmtree(other, ignore_errors=True)
        except OSError as exc:
            self._say("write", f"cannot write the program store {self.root!r} ({exc.strerror or exc}); "
                               f"tracing every program")
            return False
        self._prepared = True
        return True

    def key(self, name: str, args, static: Mapping[str, Any], compiler_options: Mapping[str, Any]) -> str:
        """The entry's key (a hex digest) for `name` called on `args` with `static` and `compiler_options`."""
        return self._key(name, *jax.tree_util.tree_flatten(args), static, compiler_options)

    @staticmethod
    def _key(name: str, leaves, tree, static, compiler_options) -> str:
        settings = [f"{setting}={getattr(jax.config, setting, None)}" for setting in _SETTINGS]
        parts = [name, _portable(tree), _portable(sorted(static.items())), _portable(sorted(compiler_options.items())),
                 jax.default_backend(), *settings, *(str(jax.typeof(x)) for x in leaves)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]

    def _load(self, path: str):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        try:
            return jax.export.deserialize(bytearray(data))
        except Exception as exc:  # noqa: BLE001 -- anything unreadable is exported afresh
            self._say("read", f"the program store {self.root!r} has an entry that cannot be read "
                              f"({type(exc).__name__}); tracing it afresh")
            return None

    def _save(self, path: str, exported) -> None:
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(exported.serialize())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.remove(tmp)
                raise
        except OSError as exc:
            self._say("write", f"cannot write the program store {self.root!r} ({exc.strerror or exc}); "
                               f"tracing every program")

    def call(self, name: str, fn, args: tuple, static: Mapping[str, Any], compiler_options: Mapping[str, Any]):
        """`fn(*args, **static)` (`fn` a `jax.jit`-wrapped function of jaxgan's), through the store."""
        leaves, tree = jax.tree_util.tree_flatten(args)
        key = self._key(name, leaves, tree, static, compiler_options)
        caller = self._callers.get(key)
        if caller is None:
            path = os.path.join(self.folder, key + _SUFFIX)
            exported = self._load(path) if self._prepare() else None
            if exported is None:
                plain = fn.__wrapped__  # the function itself: its options go on the outer jit

                def flat(*leaves):
                    return plain(*jax.tree_util.tree_unflatten(tree, leaves), **static)

                try:
                    exported = jax.export.export(jax.jit(flat))(*leaves)
                except Exception:  # noqa: BLE001 -- e.g. a host callback, which jax.export refuses: not kept
                    with self._lock:
                        self._callers[key] = caller = functools.partial(_plain_call, fn, tree, static)
                    return caller(*leaves)
                if self._prepared:
                    self._save(path, exported)
            # This process runs what a later one will load: the same program, and its executable is
            # cached under that program's key.
            caller = jax.jit(exported.call, compiler_options=dict(compiler_options))
            with self._lock:
                caller = self._callers.setdefault(key, caller)
        return caller(*leaves)


def _plain_call(fn, tree, static, *leaves):
    return fn(*jax.tree_util.tree_unflatten(tree, leaves), **static)


def active() -> ProgramStore | None:
    """The store in use in this process, or None."""
    return _active


def call(name: str, fn, args: tuple, static: Mapping[str, Any] | None = None,
         compiler_options: Mapping[str, Any] | None = None):
    """`fn(*args, **static)`, through the active store if one is on (then compiled with
    `compiler_options`, which must be those `fn` was jitted with).

    **Arguments:** `name`: the program's name in the store (unique per function); `fn`: a function
    wrapped by `jax.jit` whose code is jaxgan's; `args`: a tuple of pytrees of arrays (fields, starts);
    `static`: `fn`'s static keyword arguments; `compiler_options`: `fn`'s XLA options.
    """
    static = {} if static is None else dict(static)
    store = _active
    if store is None or jax.config.jax_disable_jit:  # nothing compiled: nothing to keep
        return fn(*args, **static)
    return store.call(name, fn, args, static, compiler_options or {})


def available() -> bool:
    """Whether `jax.export` can serialise here (it needs `flatbuffers`)."""
    return importlib.util.find_spec("flatbuffers") is not None


@contextlib.contextmanager
def using(folder: str | None, warn: Callable[[str], None] | None = None) -> Iterator[ProgramStore | None]:
    """Inside: the programs that go through `call` use a store in `folder` (None, or no `flatbuffers`:
    none). Yields the store or None."""
    global _active
    if folder is None or not available():
        yield None
        return
    previous, _active = _active, ProgramStore(folder, warn)
    try:
        yield _active
    finally:
        _active = previous
