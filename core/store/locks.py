"""Named locks shared by every process that opens the same database.

PostgreSQL: a session-level advisory lock on a connection of its own; the server drops it
when that connection ends, so a crashed holder never blocks the next one, and app
processes on different machines exclude each other. SQLite: an flock on a file beside the
database file (processes sharing a SQLite file share its folder); the kernel drops it when
the process dies. An in-memory SQLite database is one process's: a thread lock suffices.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from core.errors import IdiolectError

if TYPE_CHECKING:
    from core.store import Store

_MEMORY_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_MEMORY_GUARD = threading.Lock()


class LockBusy(IdiolectError):
    """Another holder has the lock and the caller asked not to wait."""


def lock_key(name: str) -> int:
    """Signed 64-bit key of `name` (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


class NamedLock:
    """A mutual-exclusion lock named `name` across all processes on one database.

    Use `with store.lock(name):` to wait for it, or `acquire(blocking=False)` to try.
    Not re-entrant; one NamedLock object is held by one thread at a time. The lock lives
    no longer than this object: its connection (unpooled) or file handle goes with it.
    """

    def __init__(self, store: Store, name: str) -> None:
        self.name = name
        self._store = store
        self._conn: Any = None
        self._fh: Any = None
        self._mem: threading.Lock | None = None

    def _file(self) -> Path | None:
        db = self._store.engine.url.database
        if not db or db == ":memory:":
            return None
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.name)
        return Path(db).with_name(f"{Path(db).name}.{safe}.lock")

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; with `blocking=False` return False at once if someone else holds it."""
        engine = self._store.engine
        if engine.dialect.name == "postgresql":
            conn = self._store.lock_engine.connect()
            try:
                fn = "pg_advisory_lock" if blocking else "pg_try_advisory_lock"
                got = conn.execute(text(f"SELECT {fn}(:k)"), {"k": lock_key(self.name)}).scalar()
                conn.commit()  # the lock belongs to the session, not to this transaction
            except BaseException:
                conn.close()  # unpooled: closing ends the session and any lock it took
                raise
            if got is False:
                conn.close()
                return False
            self._conn = conn
            return True
        path = self._file()
        if path is None:
            with _MEMORY_GUARD:
                lock = _MEMORY_LOCKS.setdefault((str(engine.url), self.name), threading.Lock())
            if not lock.acquire(blocking):
                return False
            self._mem = lock
            return True
        fh = path.open("a")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.close()
            return False
        self._fh = fh
        return True

    def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.name)})
                conn.commit()
            finally:
                conn.close()
        if self._fh is not None:
            fh, self._fh = self._fh, None
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
        if self._mem is not None:
            mem, self._mem = self._mem, None
            mem.release()

    def __enter__(self) -> NamedLock:
        self.acquire(blocking=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def held_elsewhere(self) -> bool:
        """Tell whether some other holder has the lock right now (a probe: takes and drops it)."""
        if not self.acquire(blocking=False):
            return True
        self.release()
        return False
