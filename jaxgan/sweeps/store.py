"""Files of the sweeps: the resumable chunk folder and the `.npz` + JSON result files.

Everything is written atomically (a temporary file, flushed and synced, then renamed), holds
no pickle, and is validated when read: a foreign, corrupt or mismatched file or folder raises
`jaxgan.errors.StoreError` before anything is computed or overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Sequence

import numpy as np

from ..errors import StoreError
from ..fates import Fate

FORMAT_VERSION = 1


# ============================================================================ atomic writes and digests


def atomic_write_text(path: str, text: str):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_savez(path: str, tmp: str, **arrays):
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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


def _key_diff(old: dict, new: dict) -> str:
    names = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(names) or "settings"


# ============================================================================ the chunk folder


class ChunkStore:
    """A folder of atomically written chunk files plus a manifest naming the sweep."""

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
        if os.path.isdir(self.dir) and os.path.exists(manifest):
            self._check_manifest(manifest)
        elif os.path.isdir(self.dir) and any(not n.startswith(".") for n in os.listdir(self.dir)):
            raise StoreError(
                f"`out` {self.dir!r} is a non-empty folder without a jaxgan manifest; refusing to write into it."
            )
        else:
            os.makedirs(self.dir, exist_ok=True)
            atomic_write_text(manifest, json.dumps(
                {"format": self.FORMAT, "version": FORMAT_VERSION, "digest": self.digest, "key": key,
                 "n_chunks": n_chunks}, indent=1, sort_keys=True))
        self._drop_temporaries()

    def _check_manifest(self, manifest: str):
        try:
            with open(manifest, encoding="utf-8") as fh:
                meta = json.load(fh)
            fmt, dig = meta["format"], meta["digest"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"`out` {self.dir!r}: corrupt manifest.json ({exc}); nothing was overwritten.") from None
        if fmt != self.FORMAT:
            raise StoreError(f"`out` {self.dir!r} holds a foreign manifest (format {fmt!r}); nothing was overwritten.")
        if dig != self.digest:
            key = meta.get("key")
            diff = _key_diff(key if isinstance(key, dict) else {}, self.key)
            raise StoreError(
                f"`out` {self.dir!r} holds chunks of a different sweep (differs in: {diff}); use another "
                f"folder or delete it. Nothing was overwritten."
            )

    def _drop_temporaries(self):
        """Temporary files of a killed run are ours and incomplete: drop them."""
        for name in os.listdir(self.dir):
            if name.startswith(".chunk_") and ".tmp" in name:
                try:
                    os.remove(os.path.join(self.dir, name))
                except OSError:
                    pass

    def path(self, i: int) -> str:
        return os.path.join(self.dir, f"chunk_{i:06d}.npz")

    def existing(self):
        """Read back every finished chunk (validated before anything is computed): `[(i, arrays)]`."""
        return [(i, self._read(i, self.path(i))) for i in range(self.n_chunks) if os.path.exists(self.path(i))]

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
        if fate.shape != (k,) or step.shape != (k,) or turns.shape != (k,) or final.shape != (k, self.n_dim):
            problems.append(f"wrong shapes {fate.shape}, {final.shape} (expected {k} starts)")
        if fate.dtype != np.int8 or final.dtype != self.dtype:
            problems.append(f"wrong dtypes {fate.dtype}, {final.dtype}")
        elif fate.size and (fate.min() < 0 or fate.max() > max(Fate)):
            problems.append("fate codes out of range")
        if problems:
            raise StoreError(f"corrupt chunk file {p!r}: {'; '.join(problems)}. Nothing was overwritten.")
        return arrays

    def write(self, i: int, fate, step, final, turns):
        meta = json.dumps({"format": self.FORMAT, "digest": self.digest, "index": i})
        atomic_savez(self.path(i), os.path.join(self.dir, f".chunk_{i:06d}.npz.tmp{os.getpid()}"),
                     fate=fate, step=step, final=final, turns=turns, __meta__=np.asarray(meta))

    def complete(self) -> bool:
        return all(os.path.exists(self.path(i)) for i in range(self.n_chunks))


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
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}")
    atomic_savez(path, tmp, __meta__=np.asarray(json.dumps(meta, sort_keys=True)), **arrays)
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
