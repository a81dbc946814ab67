"""Jobs: subprocess training with progress in the store; crashes, vanished processes, cancel, resume."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from core.errors import ConfigError, JobError
from core.schemas import JobStatus
from training.rundata import read_progress
from training.runs.jobs import JobRunner, eta_seconds


def until(predicate, timeout: float = 120.0, interval: float = 0.05):
    """Wait for predicate() to return something truthy; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def sft_config(tiny_model: Path, snapshot: Path, **kw) -> dict:
    return {"preset": "tiny-cpu", "base_model": str(tiny_model), "snapshot": str(snapshot),
            "max_length": 64, "max_examples": 16, "logging_steps": 1, "eval_steps": 0, **kw}


def test_crashing_job_is_failed_with_its_log(store, settings, tmp_path):
    snap = tmp_path / "bad"
    snap.mkdir()
    (snap / "train.jsonl").write_text('{"messages": "not a list"}\n')
    runner = JobRunner(store, settings)
    job = runner.start("sft", {"preset": "tiny-cpu", "base_model": "x", "snapshot": str(snap)})
    assert job.status == JobStatus.running and job.pid
    done = runner.wait(job.id, timeout=60)
    assert done.status == JobStatus.failed and done.finished_at is not None
    assert "exited with code 2" in done.error
    assert "train.jsonl:1: 'messages' must be a non-empty list" in done.error  # the log tail
    assert store.registry.require_job(job.id).status == JobStatus.failed


def test_unknown_kind_and_bad_config_are_refused(store, settings):
    runner = JobRunner(store, settings)
    with pytest.raises(ConfigError, match="unknown job kind 'nope'"):
        runner.start("nope", {})
    with pytest.raises(ConfigError, match="unknown job kind"):
        runner.start("../sft", {})


@pytest.mark.slow  # two subprocesses importing torch: ~25 s alone, more on a busy box
def test_killed_job_is_detected_and_resumes_from_its_checkpoint(store, settings, tiny_model, snapshot_dir):
    runner = JobRunner(store, settings)
    job = runner.start("sft", sft_config(tiny_model, snapshot_dir, max_steps=30, save_steps=5))
    progress = Path(job.config["progress_file"])
    ckpt = Path(job.config["output_dir"]) / "checkpoints" / "checkpoint-5"
    # Step 6 is logged only after checkpoint-5 was written in full.
    until(lambda: ckpt.exists() and any(e.get("step", 0) >= 6 for e in read_progress(progress)))
    running = runner.poll(job.id)
    assert running.status == JobStatus.running and running.total_steps == 30 and running.loss
    assert eta_seconds(running) is not None
    os.killpg(job.pid, signal.SIGKILL)  # the machine "crashes" mid-run

    other = JobRunner(store, settings)  # a new app process: no handle on the old child
    dead = until(lambda: (j := other.poll(job.id)).status == JobStatus.failed and j)
    assert "vanished" in dead.error

    resumed = other.resume(job.id)
    done = other.wait(resumed.id, timeout=180)
    assert done.status == JobStatus.succeeded, done.error
    runtime = done.config["_runtime"]
    start = next(e for e in read_progress(done.config["progress_file"]) if e["event"] == "start")
    assert start["step"] >= 5  # training picked up where the checkpoint left it, not at 0
    assert runtime["resumed_from"].endswith(f"checkpoint-{start['step']}")
    assert done.step == 30 and Path(done.output, "adapter_model.safetensors").exists()
    assert runtime["metrics"]["global_step"] == 30


def test_one_gpu_job_at_a_time_and_cancel_checkpoints(store, settings, tiny_model, snapshot_dir):
    runner = JobRunner(store, settings)
    job = runner.start("sft", sft_config(tiny_model, snapshot_dir, max_steps=400, save_steps=1000))
    with pytest.raises(JobError, match="max_gpu_jobs=1"):
        runner.start("dpo", sft_config(tiny_model, snapshot_dir))
    until(lambda: runner.poll(job.id).step >= 1)
    cancelled = runner.cancel(job.id)
    assert cancelled.status == JobStatus.cancelled
    events = read_progress(job.config["progress_file"])
    stopped = [e for e in events if e["event"] == "interrupted"]
    assert stopped, "SIGTERM should stop training at a step boundary"
    # The graceful stop saved a checkpoint at that step even though save_steps is 1000.
    assert (Path(job.config["output_dir"]) / "checkpoints" / f"checkpoint-{stopped[0]['step']}").exists()
    assert [j.id for j in runner.list()][:1] == [job.id]
    assert json.loads(Path(settings.jobs_dir / job.id / "config.json").read_text())["max_steps"] == 400


def test_a_job_that_finishes_between_two_reads_is_succeeded_not_vanished(store, settings, tmp_path, monkeypatch):
    """The poll race: progress read (no "done" yet), then the process writes "done" and exits.

    A stand-in interpreter writes the events a real job writes; the patched reader returns
    what it read only after the process has exited, which is the race made certain. Read in
    that order, a finished job was marked "process vanished" (a CI failure of the retrain job).
    """
    fake_python = tmp_path / "python"
    fake_python.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys, time\n"
        "cfg = json.load(open(sys.argv[-1]))\n"
        "with open(cfg['progress_file'], 'a') as f:\n"
        "    f.write(json.dumps({'event': 'start', 'time': time.time()}) + '\\n'); f.flush()\n"
        "    time.sleep(0.5)\n"
        "    f.write(json.dumps({'event': 'done', 'output': 'out', 'metrics': {}}) + '\\n')\n")
    fake_python.chmod(0o755)
    watcher = JobRunner(store, settings)  # like the app's second process: no handle on the child
    job = JobRunner(store, settings, python=str(fake_python)).start("retrain", {})

    import training.runs.jobs as jobs

    def stale_read(path):
        events = read_progress(path)
        until(lambda: not jobs.pid_alive(job.pid))  # the child finishes after the read
        return events

    monkeypatch.setattr(jobs, "read_progress", stale_read)
    done = watcher.wait(job.id, timeout=60, interval=0.05)
    assert done.status == JobStatus.succeeded, done.error
    assert done.output == "out"
