"""The local model server: one `serve` job for the default base model, found or started on demand.

Torch-free. The local LLM provider (drafting, judging, backtranslation) and the arena share
this one process: it serves the base model, and adapters are hot-loaded into it as they are
trained. `ensure()` reuses a healthy server any idiolect process started (the registry records
its endpoint) and otherwise starts one as a job; `stop()` stops only a server this object
started, so a CLI command never takes down the app's server.
"""

from __future__ import annotations

import atexit
import fcntl
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from core.errors import JobError
from core.schemas import Job, JobStatus, ModelKind, ModelRecord
from training.model_ref import BUNDLED_PREFIX, is_bundled
from training.serving.serve import default_base_name

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store
    from training.runs.jobs import JobRunner


def names_for(base_model: str) -> tuple[str, str]:
    """(registry name, served model id) for a base model reference."""
    if is_bundled(base_model):
        served = base_model.removeprefix(BUNDLED_PREFIX)
        return served.lower(), served
    return default_base_name(base_model), base_model


def free_port() -> int:
    """Return a free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(endpoint: str, *, client: httpx.Client | None = None) -> bool:
    """Return True when the server behind an OpenAI base URL answers /health."""
    http = client or httpx.Client(timeout=3.0)
    try:
        return http.get(endpoint.rstrip("/").removesuffix("/v1") + "/health").status_code == 200
    except httpx.HTTPError:
        return False
    finally:
        if client is None:
            http.close()


class LocalServer:
    """Finds or starts the server for `settings.base_model` and remembers whether it started it."""

    def __init__(self, store: Store, settings: Settings, *, runner: JobRunner | None = None) -> None:
        from training.runs.jobs import JobRunner

        self.store = store
        self.settings = settings
        self.runner = runner or JobRunner(store, settings)
        self.name, self.served_name = names_for(settings.base_model)
        self.started: Job | None = None

    def find(self) -> ModelRecord | None:
        """Return the registered base model if a live server serves it, else None."""
        rec = self.store.registry.get_model(self.name)
        if rec is None or rec.kind != ModelKind.base or not rec.endpoint or rec.base_model != self.settings.base_model:
            return None
        return rec if healthy(rec.endpoint) else None

    def starting(self) -> Job | None:
        """Return a serve job for this base model that is still starting (not yet healthy), if any."""
        for job in self.runner.list(active_only=True):
            if job.kind == "serve" and job.config.get("base_name") == self.name and not job.output:
                return job
        return None

    def ensure(self, *, timeout: float = 900.0, on_update: Callable[[Job], None] | None = None) -> ModelRecord:
        """Return the live base-model record, starting the server first when none runs.

        Raises:
            JobError: the server failed to start (its log tail is in the message).

        """
        rec = self.find()
        if rec is not None:
            return rec
        lock_path = self.settings.home / "local-server.lock"
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two processes asking at once start one server
            rec = self.find()
            if rec is not None:
                return rec
            job = self.starting() or self._start()
            job = self.runner.wait(job.id, timeout, on_update=on_update)
        if job.status != JobStatus.running or not job.output:
            raise JobError(f"the local model server did not start ({job.status.value}): "
                           f"{(job.error or '').strip()[-1500:] or 'no output'}")
        rec = self.store.registry.get_model(self.name)
        if rec is None or not rec.endpoint:
            raise JobError("the local model server started but did not register its endpoint")
        return rec

    def _start(self) -> Job:
        spec: dict[str, Any] = {"base_model": self.settings.base_model, "base_name": self.name,
                                "served_name": self.served_name, "backend": "cpu", "port": free_port(),
                                "family": "none", "health_timeout": 900.0}
        self.started = self.runner.start("serve", spec)
        # A process that forgets Services.close() (a script, a crash in the caller) still stops
        # the server it started when the interpreter exits; only a SIGKILL leaves it running,
        # and the next ensure() reuses it then.
        atexit.register(self.stop)
        return self.started

    def stop(self) -> None:
        """Stop the server if this object started it (others' servers are left running)."""
        if self.started is None:
            return
        job, self.started = self.started, None
        self.runner.cancel(job.id, grace=10.0)
        rec = self.store.registry.get_model(self.name)
        if rec is not None and rec.endpoint and not healthy(rec.endpoint):
            self.store.registry.upsert_model(rec.model_copy(update={"endpoint": None}))
            for adapter in self.store.registry.list_models(kind=ModelKind.adapter):
                if adapter.endpoint == rec.endpoint:
                    self.store.registry.upsert_model(adapter.model_copy(update={"endpoint": None}))
