"""Files of the sweeps: the resumable chunk folder and the `.npz` + JSON result files.

Everything is written atomically (a temporary file, flushed and synced, then renamed), holds
no pickle, and is validated when read: a foreign, corrupt or mismatched file or folder raises
`jaxgan.errors.StoreError` before anything is computed or overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from typing import Sequence

import numpy as np

from .._processes import host_tag, pid_alive
from ..errors import StoreError
from ..fates import Fate

FORMAT_VERSION = 1


# ============================================================================ atomic writes and digests

# Temporary files are named `.<target>.<host>.<pid>.<random>.tmp`: per process (several processes
# may write one folder at the same time, on one host or several), hidden (a dot: a half-made
# folder never looks foreign), and telling which process made them (see `_stale`).
_TMP_SUFFIX = ".tmp"
STALE_AFTER_S = 6 * 3600  # a temporary this old is abandoned whoever made it (a write takes seconds)


def _host() -> str:
    return host_tag()


def temporary_name(folder: str, target: str) -> str:
    """A fresh temporary path in `folder` for writing `target` (a file name), unique to this process."""
    return os.path.join(folder, f".{target}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}")


def _stale(folder: str, name: str, now: float) -> bool:
    """Whether the temporary `name` is abandoned: its process, on this host, is gone; or it is
    older than `STALE_AFTER_S` (a process on another host, or a reused pid). A temporary of a
    live process is never stale, so a writer never loses its file to another process."""
    parts = name[: -len(_TMP_SUFFIX)].rsplit(".", 3)
    if len(parts) == 4 and parts[1] == _host() and parts[2].isdigit() and not pid_alive(int(parts[2])):
        return True
    try:
        return now - os.stat(os.path.join(folder, name)).st_mtime > STALE_AFTER_S
    except OSError:
        return False  # gone already (renamed by its writer)


def replace_from(tmp: str, path: str, write_tmp):
    """`write_tmp()` (which writes the file `tmp`), then rename `tmp` onto `path`; on any failure or
    interrupt (Ctrl-C, SIGTERM turned into an exception) the temporary is removed and `path` is left
    as it was."""
    try:
        write_tmp()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _write_then_rename(path: str, tmp: str, write, mode: str):
    """`write(fh)` into `tmp` (flushed to disk), then rename it onto `path` (see `replace_from`)."""
    def write_tmp():
        with open(tmp, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())

    replace_from(tmp, path, write_tmp)


def atomic_write_text(path: str, text: str):
    tmp = temporary_name(os.path.dirname(path) or ".", os.path.basename(path))
    _write_then_rename(path, tmp, lambda fh: fh.write(text), "w")


def atomic_savez(path: str, tmp: str | None = None, **arrays):
    tmp = tmp or temporary_name(os.path.dirname(path) or ".", os.path.basename(path))
    _write_then_rename(path, tmp, lambda fh: np.savez(fh, **arrays), "wb")


def create_exclusive_text(path: str, text: str) -> bool:
    """Write `text` to `path` atomically unless `path` exists (then leave it): True when written.
    Two processes creating the same file at once: exactly one wins, the other reads its file."""
    tmp = temporary_name(os.path.dirname(path) or ".", os.path.basename(path))
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # atomic, and fails when `path` exists
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: rename unless it appeared meanwhile
        if os.path.exists(path):
            return False
        os.replace(tmp, path)
        return True
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def digest(key: dict) -> str:
    """A digest of a JSON-able dict (the identity of a sweep)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def array_digest(*arrays) -> str:
    """A digest of arrays: their dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _short(value, width: int = 60) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


_MEANING = {
    "identity.computation": "the computation of one update differs (the field's functions, the update rule and "
                            "the constants compiled into it, e.g. a plain optax transformation's numbers or an "
                            "adaptive solver's tolerances)",
    "identity.leaves": "the values of the field's leaves differ",
    "starts_digest": "the starts differ",
}


def key_diff(old, new, path: str = "") -> list[str]:
    """What differs between two identities, one entry per differing setting: `"lr: 0.001 vs 0.002"`
    (folder's value first), nested settings by dotted path."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k not in old:
                out.append(f"{sub}: (none) vs {_short(new[k])}")
            elif k not in new:
                out.append(f"{sub}: {_short(old[k])} vs (none)")
            else:
                out += key_diff(old[k], new[k], sub)
        return out
    if old == new:
        return []
    if path in _MEANING:
        word = "fingerprint" if path == "identity.computation" else "digest"
        return [f"{_MEANING[path]} ({word} {_short(old, 12)} vs {_short(new, 12)})"]
    return [f"{path or 'settings'}: {_short(old)} vs {_short(new)}"]


# ============================================================================ the chunk folder

CHUNKS_VERSION = 2  # 2: the identity holds the computation's fingerprint; chunks carry a checksum


class ChunkStore:
    """A folder of atomically written chunk files plus a manifest naming the sweep.

    Several processes may use one folder at once (the `part=` workflow): the manifest is created
    exclusively (the first process writes it, the others check theirs against it), each process
    writes its own temporary files and renames them into place, and only stale temporaries are
    removed (see `_stale`).
    """

    MANIFEST = "manifest.json"
    FORMAT = "jaxgan.sweep-chunks"

    def __init__(self, out, key: dict, n_chunks: int, chunk: int, n_jobs: int, n_dim: int, dtype):
        self.dir = os.fspath(out)
        self.key = key
        self.digest = digest(key)
        self.n_chunks, self.chunk, self.n_jobs, self.n_dim = n_chunks, chunk, n_jobs, n_dim
        self.dtype = np.dtype(dtype)
        manifest = os.path.join(self.dir, self.MANIFEST)
        if os.path.exists(self.dir) and not os.path.isdir(self.dir):
            raise StoreError(f"`out` {self.dir!r} exists and is not a folder; refusing to write there.")
        if os.path.isdir(self.dir) and not os.path.exists(manifest) and any(
                not n.startswith(".") for n in os.listdir(self.dir)):
            raise StoreError(
                f"`out` {self.dir!r} is a non-empty folder without a jaxgan manifest; refusing to write into it."
            )
        os.makedirs(self.dir, exist_ok=True)
        text = json.dumps({"format": self.FORMAT, "version": CHUNKS_VERSION, "digest": self.digest, "key": key,
                           "n_chunks": n_chunks, "written_by": _versions()}, indent=1, sort_keys=True)
        if not create_exclusive_text(manifest, text):
            self._check_manifest(manifest)
        self._drop_stale_temporaries()

    def _check_manifest(self, manifest: str):
        try:
            with open(manifest, encoding="utf-8") as fh:
                meta = json.load(fh)
            fmt, dig = meta["format"], meta["digest"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"`out` {self.dir!r}: corrupt manifest.json ({exc}); nothing was overwritten.") from None
        if fmt != self.FORMAT:
            raise StoreError(f"`out` {self.dir!r} holds a foreign manifest (format {fmt!r}); nothing was overwritten.")
        if meta.get("version") != CHUNKS_VERSION:
            raise StoreError(
                f"`out` {self.dir!r} holds chunks written by another jaxgan (folder format {meta.get('version')!r}, "
                f"this jaxgan writes {CHUNKS_VERSION}); use another folder or delete it. Nothing was overwritten.")
        if dig != self.digest:
            key = meta.get("key")
            diff = key_diff(key if isinstance(key, dict) else {}, self.key) or ["the digest of the settings"]
            shown = "; ".join(diff[:8]) + (f"; and {len(diff) - 8} more" if len(diff) > 8 else "")
            old_v, new_v = meta.get("written_by"), _versions()
            if isinstance(old_v, dict) and old_v != new_v:
                shown += f" (the folder was written with {_short(old_v)}, this is {_short(new_v)})"
            raise StoreError(
                f"`out` {self.dir!r} holds chunks of a different sweep; what differs (folder vs now): {shown}. "
                f"Use another folder or delete it. Nothing was overwritten."
            )

    def _drop_stale_temporaries(self):
        """Remove temporaries abandoned by killed writers (never one a live process is writing)."""
        now = time.time()
        for name in os.listdir(self.dir):
            if name.startswith(".") and name.endswith(_TMP_SUFFIX) and _stale(self.dir, name, now):
                try:
                    os.remove(os.path.join(self.dir, name))
                except OSError:
                    pass

    def path(self, i: int) -> str:
        return os.path.join(self.dir, f"chunk_{i:06d}.npz")

    def existing(self, skip=()):
        """Read back every finished chunk not in `skip` (validated): `[(i, arrays)]`."""
        return [(i, self._read(i, self.path(i))) for i in range(self.n_chunks)
                if i not in skip and os.path.exists(self.path(i))]

    def _read(self, i: int, p: str):
        k = min(self.chunk, self.n_jobs - i * self.chunk)
        try:
            with np.load(p, allow_pickle=False) as data:
                meta = json.loads(str(data["__meta__"]))
                arrays = tuple(np.array(data[name]) for name in ("fate", "step", "final", "turns"))
        except Exception as exc:  # any failure to read is a corrupt file
            raise StoreError(f"corrupt chunk file {p!r} ({type(exc).__name__}: {exc}); delete it to recompute. "
                             f"Nothing was overwritten.") from None
        fate, step, final, turns = arrays
        problems = []
        if not isinstance(meta, dict) or meta.get("digest") != self.digest or meta.get("index") != i:
            problems.append("it belongs to another sweep or chunk")
        elif meta.get("checksum") != array_digest(*arrays):
            problems.append("its arrays do not match their checksum")
        if fate.shape != (k,) or step.shape != (k,) or turns.shape != (k,) or final.shape != (k, self.n_dim):
            problems.append(f"wrong shapes {fate.shape}, {final.shape} (expected {k} starts)")
        if fate.dtype != np.int8 or final.dtype != self.dtype:
            problems.append(f"wrong dtypes {fate.dtype}, {final.dtype}")
        elif fate.size and (fate.min() < 0 or fate.max() > max(Fate)):
            problems.append("fate codes out of range")
        if problems:
            raise StoreError(f"corrupt chunk file {p!r}: {'; '.join(problems)}; delete it to recompute. "
                             f"Nothing was overwritten.")
        return arrays

    def write(self, i: int, fate, step, final, turns):
        meta = json.dumps({"format": self.FORMAT, "digest": self.digest, "index": i,
                           "checksum": array_digest(fate, step, final, turns)})
        atomic_savez(self.path(i), fate=fate, step=step, final=final, turns=turns, __meta__=np.asarray(meta))

    def complete(self) -> bool:
        return all(os.path.exists(self.path(i)) for i in range(self.n_chunks))


def _versions() -> dict:
    """The versions that made a folder (shown when its computation's fingerprint differs)."""
    from importlib import metadata

    import jax

    try:
        own = metadata.version("jaxgan")
    except metadata.PackageNotFoundError:
        own = "unknown"
    return {"jax": jax.__version__, "jaxgan": own}


def folder_chunk(out) -> int | None:
    """The chunk size of the sweep already in the folder `out`, or None (no readable manifest:
    `ChunkStore` decides what to do with the folder)."""
    try:
        with open(os.path.join(os.fspath(out), ChunkStore.MANIFEST), encoding="utf-8") as fh:
            old = json.load(fh)["key"]["chunk"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return old if isinstance(old, int) and old >= 1 else None


# ============================================================================ result files


def save_arrays(path, kind: str, arrays: dict, meta: dict) -> str:
    """Write `arrays` and the JSON `meta` (tagged with `kind` and the format version) to `.npz`."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    meta = {"format": kind, "version": FORMAT_VERSION, **meta}
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    atomic_savez(path, __meta__=np.asarray(json.dumps(meta, sort_keys=True)), **arrays)
    return path


def read_kind(path) -> str | None:
    """The `format` tag of a result file. **Raises:** `StoreError` for an unreadable file."""
    p = os.fspath(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise StoreError(f"{p!r} is not a jaxgan result file ({type(exc).__name__}: {exc}).") from None
    return meta.get("format") if isinstance(meta, dict) else None


def load_arrays(path, kind: str, what: str, names: Sequence[str]):
    """`(arrays, meta)` of a file written by `save_arrays` with `kind`; `names` must be present.

    **Raises:** `FileNotFoundError`; `StoreError` for a foreign, corrupt or other-version file.
    """
    p = os.fspath(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            if "__meta__" not in data.files:
                raise ValueError("no jaxgan metadata")
            meta = json.loads(str(data["__meta__"]))
            arrays = {k: np.array(data[k]) for k in data.files if k != "__meta__"}
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise StoreError(f"{p!r} is not a jaxgan {what} result file ({type(exc).__name__}: {exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != kind:
        fmt = meta.get("format") if isinstance(meta, dict) else None
        raise StoreError(f"{p!r} is not a jaxgan {what} result file (format {fmt!r}, expected {kind!r}).")
    if meta.get("version") != FORMAT_VERSION:
        raise StoreError(f"{p!r}: unsupported {kind} file version {meta.get('version')!r} "
                         f"(this jaxgan reads {FORMAT_VERSION}).")
    missing = [k for k in names if k not in arrays]
    if missing:
        raise StoreError(f"{p!r} is not a valid jaxgan {what} result file (missing arrays {missing}).")
    return arrays, meta


def expect(path, cond: bool, what: str):
    """**Raises:** `StoreError` unless `cond` (a consistency test of a file being read)."""
    if not cond:
        raise StoreError(f"{os.fspath(path)!r} is not a valid jaxgan result file ({what} inconsistent).")
