"""Child processes that stop with the process that started them (the embedded warehouse, the demo traffic).

The child arranges it itself as it starts, from an environment variable naming its parent, rather than in a
`preexec_fn` between fork and exec, which is not safe once the parent has threads: `tickettoken serve` starts
the warehouse again from a thread of its own when it exits.
"""

from __future__ import annotations

import ctypes
import os
import signal

PARENT_PID = "TICKETTOKEN_STOP_WITH_PARENT"
PR_SET_PDEATHSIG = 1


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a child that is to stop when this process ends, however it ends."""
    return {**os.environ, **(extra or {}), PARENT_PID: str(os.getpid())}


def stop_with_parent_if_asked() -> None:
    """In the child: have the kernel send SIGTERM when the parent dies (Linux's PR_SET_PDEATHSIG; uvicorn ends
    its process by re-raising the signal that stopped it, so the parent's own cleanup may never run). The
    signal comes when the parent's thread that started this process ends, which lives as long as the parent
    (its main thread) or watches this process (the warehouse's watcher). A parent gone already stops it now."""
    parent = os.environ.pop(PARENT_PID, None)  # not passed on to this process's own children
    if parent is None or not parent.isdigit():
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):
        os.kill(os.getpid(), signal.SIGTERM)
