"""The `jaxgan` command's persistent compilation cache: the one place jaxgan changes `jax.config`.

The command (and only the command: `jaxgan.cli.main()` run as the program, not the library, not
`main([...])` called from a program) keeps what XLA compiled in a folder, so a second run of a
command loads its programs instead of compiling them again:

- the folder: `$JAXGAN_CACHE_DIR`, else `$XDG_CACHE_HOME/jaxgan/jax-cache`, else
  `~/.cache/jaxgan/jax-cache` (created, private to the user, when missing);
- off with the global flag `--no-cache` or `JAXGAN_NO_CACHE=1` in the environment;
- every program is kept, however small or quick to compile (jaxgan compiles many small ones);
- each entry written whole under a temporary name, then renamed into place (`_atomic_entries`), so
  that threads or processes that compile the same program at once never read an entry another is
  still writing (JAX itself writes in place unless the folder has a size bound, whose file lock
  cost a cold `table convergence` 4 s of waiting);
- beside JAX's entries, in `jaxgan-programs/`, a program store (`jaxgan._exported`): the programs of
  `table convergence` and the rest-point analyses kept already traced, so that a warm run skips
  tracing them as well as compiling them.

Bad input: a folder that cannot be created or written into is one warning line on stderr, and
the command runs without the cache. JAX keys each entry by the program, the jax and jaxlib
versions, the backend and the compiler's flags, so entries written by another version (or
another machine) are simply not found; files that are not JAX's entries are never read; an entry
that cannot be read (truncated, corrupted) is compiled afresh, with one warning line that names
the folder to remove.

The folder is trusted: JAX runs the programs it finds there. It is created readable by its owner
only; do not point `JAXGAN_CACHE_DIR` at a folder others can write to.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from typing import Iterator, Mapping

__all__ = ["ENV_DIR", "ENV_OFF", "cache_dir", "cache_disabled", "compilation_cache"]

ENV_DIR = "JAXGAN_CACHE_DIR"
ENV_OFF = "JAXGAN_NO_CACHE"
#: The program store's folder inside the cache folder (`jaxgan._exported`: programs kept traced).
PROGRAMS = "jaxgan-programs"

#: Kept whatever its compile time or size: a program that took 0.02 s to compile loads in ~1 ms.
MIN_COMPILE_TIME_S = 0.0
MIN_ENTRY_SIZE_BYTES = -1  # JAX's "no size threshold"

# JAX's own warning for an entry it could not read or write (jax._src.compiler); one line of ours instead.
_JAX_ENTRY_ERRORS = ("Error reading persistent compilation cache entry",
                     "Error writing persistent compilation cache entry")


def cache_dir(environ: Mapping[str, str] | None = None) -> str:
    """The cache folder: `$JAXGAN_CACHE_DIR`, else `$XDG_CACHE_HOME/jaxgan/jax-cache`, else
    `~/.cache/jaxgan/jax-cache` (an absolute path; empty variables count as unset)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_DIR):
        path = os.path.expanduser(env[ENV_DIR])
    else:
        base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "jaxgan", "jax-cache")
    return os.path.abspath(path)


def cache_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether `$JAXGAN_NO_CACHE` turns the cache off: any value but empty, `0`, `false`, `no`, `off`."""
    value = (os.environ if environ is None else environ).get(ENV_OFF, "")
    return value.strip().lower() not in ("", "0", "false", "no", "off")


def _unusable(path: str) -> str | None:
    """Why `path` cannot hold the cache (created if missing, a probe file written and removed), or None."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".jaxgan-probe-", dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def _warn(message: str) -> None:
    sys.stderr.write(f"jaxgan: warning: {message}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def _entry_errors_as_one_line(path: str) -> Iterator[None]:
    """Inside: JAX's warnings about cache entries it could not read or write become one line (the
    first), not one multi-line warning per program; other warnings are shown as before."""
    previous = warnings.showwarning
    said = []

    def show(message, category, filename, lineno, file=None, line=None):
        if str(message).startswith(_JAX_ENTRY_ERRORS):
            if not said:
                said.append(True)
                text = str(message)
                detail = text.split("': ", 1)[-1].splitlines()[0][:100] if "': " in text else text[:100]
                _warn(f"the compilation cache {path!r} has an entry that cannot be "
                      f"{'read' if 'reading' in text else 'written'} ({detail}); compiling instead "
                      f"(remove the folder to rebuild it)")
            return
        previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def _atomic_entries() -> bool:
    """Make JAX write each cache entry to a temporary name in the folder and rename it into place.

    JAX writes an entry in place (`write_bytes`) unless the folder has a size bound, and a thread or
    process that looks the same program up meanwhile reads it half written: a cold `jaxgan table
    convergence`, whose threads compiled two identical programs at once, warned of an entry that
    "cannot be read" and compiled it again. (A bound makes JAX lock every read and write instead; in
    the table that was 4 s of threads waiting on the lock.) For this process only: the command's.
    Returns whether JAX's cache is one this knows how to write (else it is left as it is).
    """
    try:
        from jax._src import lru_cache

        cache, suffix = lru_cache.LRUCache, lru_cache._CACHE_SUFFIX
        put = cache.put
    except (ImportError, AttributeError):
        return False
    if getattr(put, "_jaxgan_atomic", False):
        return True

    def atomic_put(self, key: str, value: bytes) -> None:
        if getattr(self, "eviction_enabled", True) or not key:  # bounded (JAX locks), or JAX's own error
            return put(self, key, value)
        final = os.path.join(str(self.path), f"{key}{suffix}")
        if os.path.exists(final):  # as JAX: an entry is never overwritten
            return
        fd, tmp = tempfile.mkstemp(prefix=".jaxgan-entry-", dir=os.path.dirname(final))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(value)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise

    atomic_put._jaxgan_atomic = True
    cache.put = atomic_put
    return True


@contextlib.contextmanager
def compilation_cache(enabled: bool, environ: Mapping[str, str] | None = None) -> Iterator[str | None]:
    """Inside: JAX's persistent compilation cache on, in `cache_dir()`, unless `enabled` is False or
    `$JAXGAN_NO_CACHE` is set. Call it before anything is compiled (JAX decides once per process).

    Yields the folder in use, or None (off, or unusable: one warning line on stderr, and the run
    goes on without it). The settings stay for the rest of the process (the command's own).
    """
    if not enabled or cache_disabled(environ):
        yield None
        return
    path = cache_dir(environ)
    reason = _unusable(path)
    if reason is not None:
        _warn(f"cannot use the compilation cache {path!r} ({reason}); running without it "
              f"(set {ENV_DIR} to another folder, or turn it off with --no-cache or {ENV_OFF}=1)")
        yield None
        return
    import jax

    from .. import _exported

    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_TIME_S)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", MIN_ENTRY_SIZE_BYTES)
    _atomic_entries()
    # Not XLA's GPU autotuning cache beside it: its path enters every entry's key (the folder could not be
    # moved or copied without missing every entry), and a cache hit skips autotuning anyway.
    jax.config.update("jax_persistent_cache_enable_xla_caches", "none")
    with _entry_errors_as_one_line(path), _exported.using(os.path.join(path, PROGRAMS), _warn):
        yield path
