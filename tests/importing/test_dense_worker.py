"""The dense index's background worker: started by the import, killed mid-fill, resumed. Real processes."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from typer.testing import CliRunner

from agent.index import dense_status
from benchmarks.gen_chatgpt_export import write_export
from tests.conftest import EXPORTS
from ui.cli import app
from ui.ops.dense_fill import start_background_fill

RUNNER = CliRunner()


def _cli(services, *args) -> dict:
    res = RUNNER.invoke(app, [*args, "--json"], obj=services)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _wait(store, until, timeout: float = 240.0) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        st = dense_status(store)
        if until(st):
            return st
        assert time.monotonic() < deadline, f"dense index did not get there in {timeout:.0f} s: {st}"
        time.sleep(0.05)


@pytest.mark.slow  # the worker is a fresh process that loads torch and the embedder: 15-40 s
def test_the_import_returns_at_once_and_a_worker_fills_the_meaning_index(services) -> None:
    s = _cli(services, "import", str(EXPORTS / "claude"))
    assert s["chunks_embedded"] == 0  # back before anything was embedded: the worker does that
    # This process opens the embedded Chroma folder while the worker writes to it ...
    first = services.message_index.search("wiring a subpanel for the GPU room", 1)
    assert first[0].conversation_title == "Subpanel for the GPU room"  # words answer meanwhile
    st = _wait(services.store, lambda st: st["embedded"] == st["chunks"] and not st["filling"])
    assert st["chunks"] == s["chunks_indexed"] and services.index.count() == st["chunks"]
    assert (services.settings.jobs_dir / "dense-index.log").exists()
    # ... and its reader still sees every vector the other process wrote.
    hits = services.message_index.search("wiring a subpanel for the GPU room", 3, mode="dense")
    assert hits[0].conversation_title == "Subpanel for the GPU room" and hits[0].meta["cosine"] > 0.3
    assert len(services.index.get_vectors([h.chunk_id for h in hits])) == len(hits)


@pytest.mark.slow
@pytest.mark.both_backends
def test_a_killed_worker_leaves_its_progress_and_the_next_fill_resumes(services, tmp_path) -> None:
    path, _ = write_export(tmp_path / "export", 300_000, seed=5)
    s = _cli(services, "import", "--no-index", str(path))
    total = s["chunks_indexed"]
    assert total > 100
    # Open the Chroma folder before the worker is frozen: a writer stopped inside a write
    # transaction holds the folder's SQLite lock, and a fresh PersistentClient then waits on
    # it for minutes. What is under test is the fill lock, which fill() checks first.
    index = services.message_index
    proc = start_background_fill(services.settings, batch=2)
    try:
        _wait(services.store, lambda st: st["embedded"] >= 4)
        os.kill(proc.pid, signal.SIGSTOP)  # frozen mid-fill, lock held
        frozen = dense_status(services.store)
        assert frozen["filling"] and 4 <= frozen["embedded"] < total
        busy = index.fill()
        assert busy.busy and busy.embedded == 0  # never two fillers at once
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    after = dense_status(services.store)
    assert not after["filling"]  # the dead worker's lock went with it
    assert after["embedded"] >= frozen["embedded"]  # what it recorded stays recorded
    done = _cli(services, "index")
    assert done["embedded"] == done["chunks"] == total and done["pending"] == 0
    assert services.index.count() == total  # every chunk once in Chroma, none twice
