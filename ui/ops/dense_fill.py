"""The dense index's background worker, as the CLI and the app start and watch it.

The worker is `idiolect index` in a process of its own (started detached, logging to the
data home), so the import returns as soon as the words are searchable and the app stays
responsive while embedding runs. Only one worker fills a database at a time (the store's
fill lock); progress lives in the store, so any process can show it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store

LOG_NAME = "dense-index.log"
log = logging.getLogger(__name__)


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment that makes a child process see the same settings as this one."""
    env = {"IDIOLECT_HOME": str(settings.home), "IDIOLECT_EMBEDDING_MODEL": settings.embedding_model,
           "IDIOLECT_CHUNK_CHARS": str(settings.chunk_chars), "IDIOLECT_CHROMA_COLLECTION": settings.chroma_collection,
           "IDIOLECT_EMBEDDING_BATCH_SIZE": str(settings.embedding_batch_size),
           "IDIOLECT_EMBEDDING_DEVICE": settings.embedding_device}
    if settings.database_url:
        env["IDIOLECT_DATABASE_URL"] = settings.database_url
    if settings.chroma_url:
        env["IDIOLECT_CHROMA_URL"] = settings.chroma_url
    return env


def start_background_fill(settings: Settings, *, batch: int | None = None) -> subprocess.Popen[bytes]:
    """Start `idiolect index --quiet` detached; it exits at once if another worker is filling."""
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "ui.cli", "index", "--quiet"] + (["--batch", str(batch)] if batch else [])
    with (settings.jobs_dir / LOG_NAME).open("ab") as log:
        proc = subprocess.Popen(cmd, env={**os.environ, **settings_env(settings)}, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    threading.Thread(target=proc.wait, name="dense-fill-reaper", daemon=True).start()  # no zombie left behind
    return proc


def start_fill(services: Any) -> None:
    """Fill the meaning index in the background from a long-running process (the app).

    With an embedded Chroma folder the app fills it on a thread of its own: one process
    then owns the folder, and its searches keep seeing every vector as it lands. With a
    Chroma server the worker is a separate process, as from the CLI.
    """
    if services.settings.chroma_url:
        start_background_fill(services.settings)
        return

    def run() -> None:
        try:
            services.message_index.fill()
        except Exception:  # recorded in the store (dense_status shows it); the app carries on
            log.exception("filling the dense index failed")

    threading.Thread(target=run, name="dense-index-fill", daemon=True).start()


def progress_line(status: dict[str, Any]) -> str:
    """One sentence on the dense index for people: how far, how fast, or what went wrong."""
    total, done = status["chunks"], status["embedded"]
    if total == 0:
        return "Nothing to index yet: import an export first."
    share = f"{done:,} of {total:,} chunks ({100 * done / total:.0f}%)"
    if done >= total and not status.get("tombstones"):
        return f"Search by words and by meaning: all {total:,} chunks are indexed."
    if status.get("filling"):
        eta = status.get("eta_s")
        rate = status.get("rate_per_s") or 0
        tail = f", {rate:.0f}/s, about {_duration(eta)} left" if eta else ""
        return f"Search by words works now; the meaning index is filling: {share}{tail}."
    if status.get("error"):
        return f"Search by words works; the meaning index stopped at {share}: {status['error']} (run `idiolect index`)."
    return f"Search by words works; the meaning index holds {share}. Run `idiolect index` to finish it."


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def follow(store: Store, on_update: Callable[[dict[str, Any]], None], *, interval: float = 1.0,
           timeout: float | None = None, settle: float = 10.0) -> dict[str, Any]:
    """Watch another process fill the dense index until nothing is pending or no worker is left.

    `settle` seconds are allowed for a just-started worker to take the fill lock.
    """
    from agent.index import dense_status

    start = time.monotonic()
    while True:
        st = dense_status(store)
        on_update(st)
        waited = time.monotonic() - start
        if st["embedded"] >= st["chunks"] and not st["tombstones"]:
            return st
        if not st["filling"] and waited > settle:
            return st
        if timeout is not None and waited > timeout:
            return st
        time.sleep(interval)
