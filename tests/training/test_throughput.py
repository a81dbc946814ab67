"""Training pace from a job's progress file: tokens/s and steps/min, shown by `idiolect jobs` and the Training tab."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from core.schemas import Job, JobStatus
from training.rundata import ProgressWriter, read_progress, throughput

# The shape TRL's SFT logs through training/lora.py's callback (a real run's progress.jsonl, shortened).
EVENTS = [
    {"event": "start", "time": 100.0, "total_steps": 4, "step": 0},
    {"event": "log", "time": 102.0, "step": 1, "loss": 6.9, "num_tokens": 942.0},
    {"event": "log", "time": 104.0, "step": 2, "loss": 6.8, "num_tokens": 1807.0},
    {"event": "eval", "time": 104.5, "step": 2, "eval_loss": 6.2},
    {"event": "log", "time": 108.0, "step": 4, "loss": 6.2, "num_tokens": 3600.0},
]


def test_pace_from_the_start_event() -> None:
    pace = throughput(EVENTS)
    assert pace == {"tokens_per_second": pytest.approx(3600 / 8, abs=0.1), "steps_per_minute": 30.0}
    assert throughput(EVENTS[:1]) == {"tokens_per_second": None, "steps_per_minute": None}
    assert throughput([]) == {"tokens_per_second": None, "steps_per_minute": None}
    no_tokens = [{k: v for k, v in e.items() if k != "num_tokens"} for e in EVENTS]
    assert throughput(no_tokens) == {"tokens_per_second": None, "steps_per_minute": 30.0}


def test_a_resumed_run_counts_only_its_own_process() -> None:
    resumed = [*EVENTS, {"event": "start", "time": 200.0, "total_steps": 8, "step": 4},
               {"event": "log", "time": 210.0, "step": 6, "num_tokens": 5000.0},
               {"event": "log", "time": 220.0, "step": 8, "num_tokens": 7000.0}]
    pace = throughput(resumed)
    assert pace["steps_per_minute"] == pytest.approx(4 * 60 / 20) and pace["tokens_per_second"] == 200.0


def test_jobs_command_shows_the_pace(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ui.cli import app

    progress = tmp_path / "progress.jsonl"
    writer = ProgressWriter(progress, echo=None)
    for e in EVENTS:
        writer.emit(e["event"], **{k: v for k, v in e.items() if k != "event"})
    assert read_progress(progress)[-1]["num_tokens"] == 3600.0
    services.store.registry.add_job(Job(id="job-pace", kind="sft", status=JobStatus.failed,
                                        config={"progress_file": str(progress)}, step=4, total_steps=4))
    r = CliRunner().invoke(app, ["jobs", "--json"], obj=services)
    assert r.exit_code == 0, r.output
    job = json.loads(r.stdout)["jobs"][0]
    assert job["tokens_per_second"] == 450.0 and job["steps_per_minute"] == 30.0
    r = CliRunner().invoke(app, ["jobs"], obj=services)
    assert "tok/s" in r.stdout and "steps/min" in r.stdout and "job-pace" in r.stdout
