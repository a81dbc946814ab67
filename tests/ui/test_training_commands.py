"""`idiolect train | serve | models | jobs` and the Training tab's handlers."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from core.schemas import JobStatus
from training.runs.jobs import JobRunner
from ui.cli import app
from ui.tabs.training import cancel_job, job_detail, jobs_table, start_run


def _snapshot(tmp_path):
    snap = tmp_path / "snap"
    snap.mkdir()
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Own your iron."}]}
    (snap / "train.jsonl").write_text(json.dumps(row) + "\n")
    return snap


def test_train_jobs_models_serve_commands(settings, tmp_path):
    from ui.services import Services

    sv = Services(settings)
    cli = CliRunner()
    snap = _snapshot(tmp_path)
    r = cli.invoke(app, ["train", "--preset", "tiny-cpu", "--snapshot", str(snap), "--base-model",
                         str(tmp_path / "no-such-model"), "--set", "max_steps=2", "--no-wait", "--json"], obj=sv)
    assert r.exit_code == 0, r.output
    started = json.loads(r.output)
    assert started["kind"] == "sft" and started["status"] == "running" and started["preset"] == "tiny-cpu"
    done = JobRunner(sv.store, settings).wait(started["id"], timeout=120)
    assert done.status == JobStatus.failed and "no-such-model" in done.error  # the crash is reported
    r = cli.invoke(app, ["jobs", "--json"], obj=sv)
    assert json.loads(r.output)["jobs"][0]["status"] == "failed"
    r = cli.invoke(app, ["models", "--json"], obj=sv)
    assert json.loads(r.output) == {"champion": None, "models": []}
    r = cli.invoke(app, ["train", "--preset", "nope", "--snapshot", str(snap)], obj=sv)
    assert r.exit_code != 0 and "unknown preset 'nope'" in r.output
    r = cli.invoke(app, ["serve", "--base-model", "Qwen/Qwen3-8B", "--family", "qwen3", "--backend", "vllm",
                         "--print-command", "--json"], obj=sv)
    cmd = json.loads(r.output)["command"]
    assert cmd[2:5] == ["vllm", "serve", "Qwen/Qwen3-8B"] and "--reasoning-parser" in cmd
    sv.close()


def test_tab_handlers(settings, tmp_path):
    from ui.services import Services

    sv = Services(settings)
    assert "Not started" in start_run(sv, "nope", "sft", "", "", "", 0)["status"]
    assert job_detail(sv, "")["summary"].startswith("Select")
    assert "no job with id" in job_detail(sv, "missing")["summary"]
    started = start_run(sv, "tiny-cpu", "sft", str(_snapshot(tmp_path)), str(tmp_path / "none"), "", 2)
    assert started["job_id"] and "Started" in started["status"]
    assert list(jobs_table(sv)["id"]) == [started["job_id"]]
    # The base model does not exist, so the job fails; cancelling a finished job leaves it as it ended.
    # (Cancelling a running job is tested on a real run in tests/training/test_jobs.py.)
    done = JobRunner(sv.store, settings).wait(started["job_id"], timeout=120)
    assert done.status == JobStatus.failed
    assert cancel_job(sv, started["job_id"])["status"] == f"Job `{started['job_id']}` is failed."
    assert JobRunner(sv.store, settings).poll(started["job_id"]).status == JobStatus.failed
    assert cancel_job(sv, "")["status"] == "No job selected."
    detail = job_detail(sv, started["job_id"])
    assert started["job_id"] in detail["summary"] and "step" in detail["summary"]
    sv.close()


def test_train_can_launch_through_accelerate_from_the_cli_and_the_tab(settings, tmp_path):
    from ui.services import Services
    from ui.tabs.training import PRESET_LAUNCH, launch_choices

    sv = Services(settings)
    cli = CliRunner()
    snap = _snapshot(tmp_path)
    args = ["train", "--preset", "tiny-cpu", "--snapshot", str(snap), "--base-model", str(tmp_path / "none")]
    r = cli.invoke(app, [*args, "--accelerate", "zero9"], obj=sv)
    assert r.exit_code != 0 and "unknown accelerate config 'zero9'" in r.output
    r = cli.invoke(app, [*args, "--accelerate", "cpu-ddp", "--num-processes", "2", "--no-wait", "--json"], obj=sv)
    assert r.exit_code == 0, r.output
    runner = JobRunner(sv.store, settings)
    job = sv.store.registry.require_job(json.loads(r.output)["id"])
    command = job.config["_runtime"]["command"]
    assert (job.config["accelerate_config"], job.config["num_processes"]) == ("cpu-ddp", 2)
    assert "accelerate.commands.launch" in command and command[command.index("--num_processes") + 1] == "2"
    runner.cancel(job.id, grace=5)
    assert launch_choices()[0] == PRESET_LAUNCH and "fsdp" in launch_choices()
    started = start_run(sv, "tiny-cpu", "sft", str(snap), str(tmp_path / "none"), "", 2, "cpu-ddp", 2)
    assert "cpu-ddp" in started["status"]
    tab_job = sv.store.registry.require_job(started["job_id"])
    assert "accelerate.commands.launch" in tab_job.config["_runtime"]["command"]
    runner.cancel(tab_job.id, grace=5)
    plain = start_run(sv, "tiny-cpu", "sft", str(snap), str(tmp_path / "none"), "", 2, PRESET_LAUNCH, 0)
    assert "accelerate" not in " ".join(sv.store.registry.require_job(plain["job_id"]).config["_runtime"]["command"])
    runner.cancel(plain["job_id"], grace=5)
    sv.close()


def test_tab_checks_preconditions_before_starting(settings, tmp_path):
    from core.schemas import Example, ExampleStatus
    from ui.services import Services
    from ui.tabs.training import precondition, snapshot_now

    sv = Services(settings)
    no_snap = start_run(sv, settings.train_preset, "sft", "", "", "", 0)
    assert no_snap["job_id"] == "" and "there is no dataset snapshot yet" in no_snap["status"]
    assert "Make a snapshot" in no_snap["status"]
    assert "--" not in no_snap["status"] and "idiolect" not in no_snap["status"]  # no CLI flags in the app
    no_base = start_run(sv, "tiny-cpu", "sft", "", "", "", 0)
    assert "names no base model" in no_base["status"] and "Base model override" in no_base["status"]
    assert precondition(sv, "", "sft", "", {}) == "choose a preset."
    assert "no example is approved yet" in snapshot_now(sv)["status"]
    ex = sv.store.examples.add(Example(
        prompt="Own or rent the bandsaw?", reasoning="She weighs how often it runs against the rental fee first.",
        response="Own it, like a truck you drive every day: the payments stop and the blade stays yours to dull.",
        status=ExampleStatus.approved))
    assert ex.id and "New snapshot **v1**" in snapshot_now(sv)["status"]
    assert precondition(sv, settings.train_preset, "sft", "", {}) is None  # now it would start
    assert not JobRunner(sv.store, settings).list()  # nothing was started by the checks
    sv.close()
