"""OS-level helpers for job subprocesses: a log's tail, a free local port, whether a pid still runs."""

from __future__ import annotations

import os
from pathlib import Path

LOG_TAIL_CHARS = 4000


def log_tail(path: str | Path | None, chars: int = LOG_TAIL_CHARS) -> str:
    """Return the last `chars` characters of a log file ("" when absent)."""
    if not path or not Path(path).exists():
        return ""
    with Path(path).open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - chars))
        return fh.read().decode("utf-8", errors="replace")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by a parent that is not us) is not running.
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False
    return True
