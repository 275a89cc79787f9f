"""Output paths of the commands: checked before any computation, written only when everything succeeded.

Every path flag is checked up front (`output_file`, `image_file`, `output_folder`): a missing folder,
a folder where a file is expected and the reverse, an image type matplotlib cannot write and a
location this process cannot write into are one-line errors that name the flag, before anything is
computed. The files are then written under temporary names next to their targets and moved into
place together at the end (`Staged`): a run that fails or is interrupted leaves every file the user
had as it was and removes its temporaries; those of a process that was killed outright are removed
by the next run that writes the same target.
"""

from __future__ import annotations

import os
import tempfile

from ..article import remove_stale_temporaries, temporary_path
from ._common import CLIError

__all__ = ["output_file", "image_file", "output_folder", "Staged"]


def _writable(flag: str, path: str, folder: str) -> None:
    """Refuse `path` if this process cannot create a file in `folder` (tried, not guessed: permissions,
    read-only file systems, ACLs and root all answer the same way)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".jaxgan-write-test-", dir=folder)
    except OSError as exc:
        raise CLIError(f"{flag} {path!r}: cannot write in folder {folder!r} ({exc.strerror or exc})") from None
    os.close(fd)
    os.remove(probe)


def output_file(flag: str, path: str) -> str:
    """`path`, the absolute path of a file to write, if its folder exists, is writable and `path` is
    not a folder.

    **Raises:** `CLIError` naming `flag`.
    """
    full = os.path.abspath(path)
    if os.path.isdir(full):
        raise CLIError(f"{flag} {path!r} is a folder; give a file name")
    parent = os.path.dirname(full)
    if not os.path.isdir(parent):
        if os.path.exists(parent):
            raise CLIError(f"{flag} {path!r}: {parent!r} is a file, not a folder")
        raise CLIError(f"{flag} {path!r}: folder {parent!r} does not exist")
    _writable(flag, path, parent)
    return full


def image_file(flag: str, path: str) -> str:
    """`output_file` for a figure: also its suffix must be an image type matplotlib can write."""
    from matplotlib.backend_bases import FigureCanvasBase

    ext = os.path.splitext(path)[1].lower().lstrip(".")
    kinds = FigureCanvasBase.get_supported_filetypes()
    if ext not in kinds:
        raise CLIError(f"{flag} {path!r}: unknown image type {ext or '(none)'!r}; use one of {', '.join(sorted(kinds))}")
    return output_file(flag, path)


def output_folder(flag: str, path: str) -> str:
    """`path`, the absolute path of a folder to write into (created later, with its parents, if missing),
    if it is not a file, no folder above it is a file, and the nearest existing one is writable.

    **Raises:** `CLIError` naming `flag`.
    """
    full = os.path.abspath(path)
    if os.path.exists(full) and not os.path.isdir(full):
        raise CLIError(f"{flag} {path!r} exists and is not a folder")
    existing = full
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise CLIError(f"{flag} {path!r}: {existing!r} is a file, not a folder")
    _writable(flag, path, existing)
    return full


class Staged:
    """Files written under temporary names and moved to their targets together, at the end.

    `with Staged() as st:` then `st.file(target)` gives the temporary path to write `target` to (same
    folder, same suffix) and `st.folder(path)` creates a missing output folder. Leaving the block
    normally moves every file into place (`os.replace`, atomic per file); leaving it by an exception
    (an error, KeyboardInterrupt, SystemExit) removes the temporaries and the folders it created, so a
    failed run leaves the user's files as they were.
    """

    def __init__(self):
        self._files: list[tuple[str, str]] = []
        self._made: list[str] = []

    def folder(self, path: str) -> str:
        """Create `path` (and missing parents) if missing; returns it."""
        missing = []
        p = os.path.abspath(path)
        while not os.path.exists(p):
            missing.append(p)
            p = os.path.dirname(p)
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise CLIError(f"cannot create {path!r}: {exc.strerror or exc}") from None
        self._made += reversed(missing)
        return path

    def file(self, target: str) -> str:
        """The temporary path to write `target` to; stale temporaries of `target` are removed first."""
        target = os.path.abspath(target)
        remove_stale_temporaries(target)
        tmp = temporary_path(target, os.path.splitext(target)[1])
        self._files.append((tmp, target))
        return tmp

    def __enter__(self) -> "Staged":
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if kind is None:
            try:
                for tmp, target in self._files:
                    os.replace(tmp, target)
                return False
            except OSError as err:
                self._discard()
                raise CLIError(f"cannot write {target!r}: {err.strerror or err}") from None
        self._discard()
        return False

    def _discard(self) -> None:
        for tmp, _ in self._files:
            try:
                os.remove(tmp)
            except OSError:
                pass
        for path in reversed(self._made):
            try:
                os.rmdir(path)  # only if still empty
            except OSError:
                pass
