"""Who owns a temporary file: this host's tag and whether a process is alive (private, layer 0).

Temporary files carry their writer's host tag and pid, so a later run can tell an abandoned one
(its process on this host is gone) from one a live process is still writing (never touched).
Used by the sweeps' chunk store and by `reproduce`'s temporary folders.
"""

from __future__ import annotations

import hashlib
import os
import socket

__all__ = ["host_tag", "pid_alive"]


def host_tag() -> str:
    """Eight hex digits naming this host (safe in a file name whatever the host name holds)."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def pid_alive(pid: int) -> bool:
    """Whether process `pid` of this host exists; `True` where that cannot be told cheaply (not
    POSIX) or the process is someone else's, so that a live writer's file is never removed."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True
