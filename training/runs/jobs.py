"""Out-of-process jobs: `python -m <module of kind>` subprocesses tracked in the jobs table.

Torch-free: the CLI and the app start, watch and cancel training without loading torch.

Kinds and the config keys each takes (a dict passed to `JobRunner.start`):

- ``sft`` / ``dpo``: any `training.recipe.TrainConfig` field, plus ``preset`` (a preset name or
  YAML path). Usually ``preset``, ``snapshot`` (directory), ``base_model`` (when the preset
  leaves it empty) and, for DPO, ``parent_adapter`` + ``parent_name`` (the reference).
  ``output_dir`` defaults to ``<adapters_dir>/runs/<job id>``; ``progress_file`` is set by
  the runner. Output: the final adapter directory.
- ``serve``: `training.serving.serve.ServeSpec` fields (``base_model``, ``adapters`` {name: path},
  ``port``, ``backend`` "vllm" | "cpu" | "auto", ``family``, ``max_lora_rank`` …).
  Output: the server's base URL once healthy; the job then stays running until cancelled.

A job's step, losses, ETA and log tail live in its row (`Job.config["_runtime"]` holds the
ETA, log tail, return code and final metrics). A job whose process crashes is marked failed
with its log tail; one whose process vanished (killed, machine rebooted) is detected on the
next poll and marked failed, never left "running". Only `settings.max_gpu_jobs` jobs that
hold the GPU run at once: training runs, and servers on the vLLM backend (vLLM reserves
`gpu_memory_utilization` of the card, 0.9 by default, so a training run beside it would run
out of memory).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, JobError
from core.schemas import Job, JobStatus, utcnow
from core.store.registry import is_terminal, started_seconds_ago
from training.rundata import read_progress
from training.runs.processes import free_port, log_tail, pid_alive

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store

GPU_KINDS = {"sft", "dpo"}  # training kinds; a vLLM serve job holds the GPU too (see holds_gpu)
# The module each job kind runs as `python -m MODULE` (training runs at training/, the rest in sub-packages).
JOB_MODULES = {"sft": "training.sft", "dpo": "training.dpo", "serve": "training.serving.serve",
               "retrain": "training.runs.retrain"}
RUNTIME = "_runtime"


def holds_gpu(kind: str, config: dict[str, Any]) -> bool:
    """Tell whether a job of `kind` with `config` occupies the GPU (counts against max_gpu_jobs)."""
    return kind in GPU_KINDS or (kind == "serve" and config.get("backend") == "vllm")


def _describe(job: Job) -> str:
    if job.kind == "serve":
        share = job.config.get("gpu_memory_utilization", 0.9)
        return f"{job.id} (vLLM server holding {share:.0%} of the GPU memory)"
    return f"{job.id} ({job.kind} training)"


def eta_seconds(job: Job) -> float | None:
    """Seconds left, from the pace so far (None until a step is done or when unknown)."""
    return (job.config.get(RUNTIME) or {}).get("eta_seconds")


class JobRunner:
    """Starts and tracks training/serving subprocesses for one Store and Settings."""

    def __init__(self, store: Store, settings: Settings, *, python: str | None = None) -> None:
        self.store = store
        self.settings = settings
        self.python = python or sys.executable
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # ------------------------------------------------------------------ start
    def start(self, kind: str, config: dict[str, Any]) -> Job:
        """Launch the kind's module (JOB_MODULES) as `python -m` with `config`; returns the running Job.

        Raises:
            ConfigError: unknown kind or bad config.
            JobError: the GPU job limit is reached.

        """
        module = JOB_MODULES.get(kind, f"training.{kind}")
        if not kind.isidentifier() or find_spec(module) is None:
            raise ConfigError(f"unknown job kind {kind!r}: no module {module}")
        cfg = {k: v for k, v in config.items() if k != RUNTIME}
        if kind == "serve":
            from training.serving.serve import ServeSpec, pick_backend

            # Resolve "auto" now: whether the server holds the GPU decides the limit below.
            cfg["backend"] = pick_backend(ServeSpec.from_dict(cfg))
        if holds_gpu(kind, cfg):
            self._check_gpu_room(kind)
        job_id = uuid.uuid4().hex[:12]
        job_dir = self.settings.jobs_dir / job_id
        job_dir.mkdir(parents=True, exist_ok=True)
        if kind in GPU_KINDS:
            cfg.setdefault("output_dir", str(self.settings.adapters_dir / "runs" / job_id))
        cfg["progress_file"] = str(job_dir / "progress.jsonl")
        config_path = job_dir / "config.json"
        config_path.write_text(json.dumps(cfg, indent=2, default=str), "utf-8")
        log_path = job_dir / "log.txt"
        cmd = self._command(kind, module, cfg, config_path)
        job = Job(id=job_id, kind=kind, status=JobStatus.running, config={**cfg, RUNTIME: {"command": cmd}},
                  log_path=str(log_path), started_at=utcnow())
        self.store.registry.add_job(job)
        with log_path.open("ab") as log:
            # A new session: cancel signals the whole process group (dataloader workers too),
            # and the job survives the UI process that started it.
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=str(Path(__file__).resolve().parents[2]),
                                    env=self.child_env())
        self._procs[job_id] = proc
        return self.store.registry.update_job(job_id, pid=proc.pid)

    def child_env(self) -> dict[str, str]:
        """Return the environment a job runs in: this runner's data home, whatever the caller's env says."""
        env = {**os.environ, "IDIOLECT_HOME": str(self.settings.home)}
        for name, value in (("IDIOLECT_DATABASE_URL", self.settings.database_url),
                            ("IDIOLECT_MODELS_PATH", self.settings.models_path)):
            if value:
                env[name] = str(value)
        return env

    def _check_gpu_room(self, kind: str) -> None:
        """Refuse a GPU job when max_gpu_jobs already run, saying which and what to do."""
        busy = [j for j in self.list(active_only=True) if holds_gpu(j.kind, j.config)]
        limit = self.settings.max_gpu_jobs
        if len(busy) < limit:
            return
        taken = ", ".join(_describe(j) for j in busy)
        if kind == "serve":
            advice = ("Wait for it to finish or cancel it (`idiolect jobs --cancel ID`), serve on the CPU "
                      "backend (`idiolect serve --backend cpu`), or raise max_gpu_jobs if the card holds both.")
        elif any(j.kind == "serve" for j in busy):
            advice = ("Stop the server (`idiolect jobs --cancel ID`), train, then serve again; or, on a card "
                      "with room for both, serve with a lower --gpu-memory-utilization and raise max_gpu_jobs.")
        else:
            advice = "Wait, cancel one (`idiolect jobs --cancel ID`), or raise the limit."
        # The advice names CLI commands, so it is the hint: the app shows its own next step.
        raise JobError(f"the GPU is taken by {taken} (max_gpu_jobs={limit})", hint=advice)

    def _command(self, kind: str, module: str, cfg: dict[str, Any], config_path: Path) -> list[str]:
        """`python -m <module> --config FILE`, under `accelerate launch` when the run asks for it."""
        plain = ["-m", module, "--config", str(config_path)]
        if kind not in GPU_KINDS:
            return [self.python, *plain]
        from training.recipe import launch_settings

        accel, procs = launch_settings(cfg, kind)
        if accel is None:
            return [self.python, *plain]
        cmd = [self.python, "-m", "accelerate.commands.launch", "--config_file", str(accel)]
        if procs:
            cmd += ["--num_processes", str(procs)]
        # A free rendezvous port: accelerate's default (29500) would collide with a second run.
        return [*cmd, "--main_process_port", str(free_port()), *plain]

    def resume(self, job_id: str) -> Job:
        """Start a new job with a failed/cancelled job's config; training resumes from its checkpoint."""
        old = self.store.registry.require_job(job_id)
        if not is_terminal(old.status):
            raise JobError(f"job {job_id} is still {old.status.value}; cancel it first")
        cfg = {k: v for k, v in old.config.items() if k not in (RUNTIME, "progress_file")}
        cfg["resume"] = True
        return self.start(old.kind, cfg)

    # ------------------------------------------------------------------ watch
    def poll(self, job_id: str) -> Job:
        """Refresh a job from its progress file and process; returns the updated Job."""
        job = self.store.registry.require_job(job_id)
        if is_terminal(job.status):
            return job
        # Exit state first, progress after: a job writes its "done" event before it exits, so
        # reading in this order never sees an exited process without its last events (the
        # other order raced, and a finished job was marked "vanished").
        returncode, gone = self._exit_state(job)
        events = read_progress(job.config.get("progress_file") or "")
        fields = self._progress_fields(job, events)
        runtime = dict(job.config.get(RUNTIME) or {})
        runtime.update(fields.pop("_runtime"))
        runtime["log_tail"] = log_tail(job.log_path)
        done = next((e for e in reversed(events) if e.get("event") == "done"), None)
        ready = next((e for e in reversed(events) if e.get("event") == "ready"), None)
        if ready and not done:
            fields["output"] = ready.get("url")
        if returncode is not None or gone:
            runtime["returncode"] = returncode
            runtime["eta_seconds"] = 0.0
            fields["finished_at"] = utcnow()
            if runtime.get("cancel_requested"):
                fields["status"] = JobStatus.cancelled
            elif done and returncode in (0, None):
                fields["status"] = JobStatus.succeeded
                fields["output"] = done.get("output")
                runtime["metrics"] = done.get("metrics") or {}
            else:
                fields["status"] = JobStatus.failed
                why = ("process vanished without finishing (killed or the machine restarted)"
                       if returncode is None else f"exited with code {returncode}")
                fields["error"] = f"{why}\n--- log tail ---\n{runtime['log_tail']}"
        updated = self.store.registry.update_job(job_id, config={**job.config, RUNTIME: runtime}, **fields)
        self._release_endpoints(updated)
        return updated

    def _release_endpoints(self, job: Job) -> None:
        """Clear the registry endpoints of a serve job that ended (cancelled, crashed, vanished)."""
        if job.kind != "serve" or not is_terminal(job.status):
            return
        from training.runs.registry import clear_endpoints

        cfg = job.config
        clear_endpoints(self.store, job.output or f"http://{cfg.get('host', '127.0.0.1')}:{cfg.get('port', 8000)}/v1")

    def _progress_fields(self, job: Job, events: list[dict[str, Any]]) -> dict[str, Any]:
        loss = [(int(e["step"]), float(e["loss"])) for e in events if e.get("event") == "log" and "loss" in e]
        eval_loss = [(int(e["step"]), float(e["eval_loss"])) for e in events if e.get("event") == "eval"]
        steps = [int(e["step"]) for e in events if isinstance(e.get("step"), (int, float))]
        totals = [int(e["total_steps"]) for e in events if e.get("total_steps")]
        step = max(steps, default=job.step)
        total = totals[-1] if totals else job.total_steps
        runtime: dict[str, Any] = {}
        start = next((e for e in reversed(events) if e.get("event") == "start"), None)
        resumed = next((e for e in reversed(events) if e.get("event") == "resume"), None)
        if resumed:
            runtime["resumed_from"] = resumed.get("checkpoint")
        if start and total and step > int(start.get("step") or 0):
            # Pace since this process's training began (a resumed run starts past step 0).
            done_steps = step - int(start.get("step") or 0)
            elapsed = max(0.0, time.time() - float(start["time"]))
            runtime["seconds_per_step"] = elapsed / done_steps
            runtime["eta_seconds"] = max(0.0, (total - step) * elapsed / done_steps)
        elif (secs := started_seconds_ago(job)) is not None:
            runtime["elapsed_seconds"] = secs
        return {"step": step, "total_steps": total, "loss": loss, "eval_loss": eval_loss, "_runtime": runtime}

    def _exit_state(self, job: Job) -> tuple[int | None, bool]:
        """(return code if it exited and we can know it, True if the process is gone)."""
        proc = self._procs.get(job.id)
        if proc is not None:
            rc = proc.poll()
            return rc, rc is not None
        return None, not pid_alive(job.pid)

    def wait(self, job_id: str, timeout: float | None = None, *, interval: float = 0.5,
             on_update: Callable[[Job], None] | None = None) -> Job:
        """Poll until the job finishes; returns it. Raises JobError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.poll(job_id)
            if on_update is not None:
                on_update(job)
            if is_terminal(job.status):
                return job
            if job.kind == "serve" and job.output:
                return job  # a server is "done starting" once it is healthy
            if deadline is not None and time.monotonic() > deadline:
                raise JobError(f"job {job_id} still {job.status.value} after {timeout:.0f}s (step {job.step})")
            time.sleep(interval)

    def list(self, *, active_only: bool = False, limit: int = 50) -> list[Job]:
        """Jobs, newest first, each refreshed if still active."""
        jobs = self.store.registry.active_jobs() if active_only else self.store.registry.list_jobs(limit=limit)
        out = [self.poll(j.id) if not is_terminal(j.status) else j for j in jobs]
        return [j for j in out if not is_terminal(j.status)] if active_only else out

    # ------------------------------------------------------------------ stop
    def cancel(self, job_id: str, *, grace: float = 30.0) -> Job:
        """Stop a job: SIGTERM (training saves a checkpoint and exits), SIGKILL after `grace` s."""
        job = self.store.registry.require_job(job_id)
        if is_terminal(job.status):
            return job
        runtime = {**(job.config.get(RUNTIME) or {}), "cancel_requested": True}
        self.store.registry.update_job(job_id, config={**job.config, RUNTIME: runtime})
        self._signal(job, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self._exit_state(job)[1]:
                break
            time.sleep(0.2)
        else:
            self._signal(job, signal.SIGKILL)
            time.sleep(0.2)
        polled = self.poll(job_id)
        if not is_terminal(polled.status):  # killed but not yet reaped: it is over all the same
            polled = self.store.registry.update_job(job_id, status=JobStatus.cancelled, finished_at=utcnow())
            self._release_endpoints(polled)
        return polled

    def _signal(self, job: Job, sig: int) -> None:
        if not job.pid:
            return
        try:
            os.killpg(job.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(job.pid, sig)
            except ProcessLookupError:
                pass

    # ------------------------------------------------------------------ chains
    def run_chain(self, steps: list[tuple[str, dict[str, Any]]], *, timeout: float | None = None,
                  on_update: Callable[[Job], None] | None = None) -> list[Job]:
        """Run jobs one after another (e.g. sft then dpo), blocking; stops at the first failure.

        A step whose config has ``"parent_adapter": "$previous"`` gets the previous job's
        output (its adapter directory), which is how a DPO step trains on top of the SFT
        step before it. Run it in a thread to keep a UI responsive.
        """
        jobs: list[Job] = []
        for kind, config in steps:
            cfg = dict(config)
            for key, value in cfg.items():
                if value == "$previous":
                    if not jobs or not jobs[-1].output:
                        raise ConfigError(f"{kind}: {key}=$previous but there is no previous output")
                    cfg[key] = jobs[-1].output
            job = self.wait(self.start(kind, cfg).id, timeout, on_update=on_update)
            jobs.append(job)
            if job.status != JobStatus.succeeded:
                break
        return jobs
