"""Stale serving state (issue 14, finding 8): a stopped server's models leave the arena.

Cancelling (or losing) a serve job clears the registry endpoints it served, and the app's
arena probes endpoints before pairing, so a battle never goes to a dead port.
"""

from __future__ import annotations

import socket
import subprocess
import sys

from core.schemas import Job, JobStatus, ModelKind, ModelRecord, utcnow
from eval.arena_contestants import contestants_from_registry
from tests.fakes.openai_chat import fake_openai
from training.runs.jobs import JobRunner
from ui.services import Services
from ui.tabs.arena import make_arena


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _register(store, name: str, kind: ModelKind, endpoint: str) -> None:  # type: ignore[no-untyped-def]
    store.registry.upsert_model(ModelRecord(name=name, kind=kind, base_model="/models/tiny", endpoint=endpoint,
                                            served_name=name, path=None if kind is ModelKind.base else f"/a/{name}"))


def _serve_job(store, port: int, folder) -> tuple[Job, subprocess.Popen]:  # type: ignore[no-untyped-def]
    """A serve job as the runner records it, backed by a real listening process in its own session."""
    code = f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(120)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    job = Job(id=f"serve{port}", kind="serve", status=JobStatus.running, pid=proc.pid, started_at=utcnow(),
              output=f"http://127.0.0.1:{port}/v1", log_path=str(folder / "log.txt"),
              config={"base_model": "/models/tiny", "port": port, "progress_file": str(folder / "progress.jsonl")})
    store.registry.add_job(job)
    return job, proc


def test_cancelling_a_serve_job_takes_its_endpoints_out_of_the_registry(store, settings) -> None:  # type: ignore[no-untyped-def]
    port, other = _free_port(), "http://127.0.0.1:9/v1"
    job, proc = _serve_job(store, port, settings.jobs_dir)
    url = f"http://127.0.0.1:{port}/v1"
    _register(store, "tiny", ModelKind.base, url)
    _register(store, "voice-v1", ModelKind.adapter, url)
    _register(store, "elsewhere", ModelKind.adapter, other)  # served by another server: untouched
    try:
        done = JobRunner(store, settings).cancel(job.id, grace=10)
    finally:
        proc.kill()
        proc.wait()
    assert done.status == JobStatus.cancelled
    for name in ("tiny", "voice-v1"):
        rec = store.registry.require_model(name)
        assert rec.endpoint is None and rec.served_name is None
    assert store.registry.require_model("elsewhere").endpoint == other
    assert {c.name for c in contestants_from_registry(store)} == {"elsewhere"}


def test_a_serve_job_that_died_is_found_on_the_next_poll_and_cleared(store, settings) -> None:  # type: ignore[no-untyped-def]
    port = _free_port()
    job, proc = _serve_job(store, port, settings.jobs_dir)
    _register(store, "tiny", ModelKind.base, f"http://127.0.0.1:{port}/v1")
    proc.kill()
    proc.wait()
    polled = JobRunner(store, settings).poll(job.id)
    assert polled.status == JobStatus.failed
    assert store.registry.require_model("tiny").endpoint is None


def test_the_arena_never_pairs_a_dead_endpoint(settings, store) -> None:  # type: ignore[no-untyped-def]
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    with fake_openai({"tiny-base": "Base.", "voice-v1": "One."}) as srv:
        _register(store, "tiny-base", ModelKind.base, srv.url)
        _register(store, "voice-v1", ModelKind.adapter, srv.url)
        _register(store, "voice-v2", ModelKind.adapter, dead)  # its server is gone; the registry not yet told
        arena = make_arena(Services(settings, store=store, message_index=object()))
        pairs = [arena.new_battle(source="typed", prompt=f"q{k}") for k in range(30)]
    assert all("voice-v2" not in (b.left_model, b.right_model) for b in pairs)
    assert {b.left_model for b in pairs} | {b.right_model for b in pairs} >= {"tiny-base", "voice-v1"}
