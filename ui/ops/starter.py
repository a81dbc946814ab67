"""Getting started: the whole loop on the bundled sample, run in the background on first start.

`idiolect app --sample` (what `./start` runs) opens the app at once and runs these steps on a
worker thread: import the sample, mine the person's own answers into examples, freeze a
snapshot, start the local model, train `voice-v1` on it, serve base and adapter in the arena,
draft a few examples with the local model for review, and measure voice-v1 against the base.
Each step's state lives in the store (`starter` key), so a restart resumes where it stopped
and the app's Getting started panel (and `idiolect quickstart`) show the same thing.

No Gradio or Typer here: the app and the CLI both call this.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, IdiolectError
from core.schemas import ExampleOrigin, ExampleStatus, JobStatus, utcnow

STATE_KEY = "starter"


@dataclass(frozen=True)
class Step:
    """One step of the starter loop: what it does, and what the person can do once it is done."""

    key: str
    title: str
    next: str
    every_run: bool = False  # a server does not outlive its process: re-check it on every run


STEPS: tuple[Step, ...] = (
    Step("import", "Import the sample export", "Search tab: look through the sample person's history."),
    Step("examples", "Turn the person's own answers into examples", "Dataset tab: review and curate them."),
    Step("snapshot", "Freeze a dataset snapshot", "Dataset tab: the report card and exports."),
    Step("server", "Start the local model (SmolLM2-135M)", "Chat tab: ask it to draft examples.", every_run=True),
    Step("train", "Train voice-v1 (LoRA on the CPU)", "Training tab: loss curve and job log."),
    Step("arena", "Serve the base model and voice-v1 side by side", "Arena tab: vote blind on their answers.",
         every_run=True),
    Step("drafts", "Draft examples with the local model", "Chat or Dataset tab: approve, edit or reject them."),
    Step("eval", "Measure voice-v1 against the base", "Eval tab: the full report."),
)


@dataclass
class StarterOptions:
    """How big the starter run is (tests shrink it; the defaults fit the 10-minute target)."""

    draft_count: int = 4
    eval_prompts: int = 8
    train_overrides: dict[str, Any] | None = None
    job_timeout_s: float = 3600.0


class Starter:
    """Runs the starter steps once, in order, resuming after a restart."""

    def __init__(self, services: Any, sample: list[Path], options: StarterOptions | None = None,
                 on_change: Callable[[], None] | None = None,
                 golden: Callable[[Any], object] | None = None) -> None:
        self.sv = services
        self.sample = sample
        self.golden = golden  # seeds the golden prompts that fit the sample person
        self.opts = options or StarterOptions()
        self.on_change = on_change
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, dict[str, Any]]:
        """Return each step's state: status (waiting|running|done|failed|skipped), detail, times."""
        saved = self.sv.store.kv.get(STATE_KEY) or {}
        return {s.key: {"status": "waiting", "detail": "", **(saved.get(s.key) or {})} for s in STEPS}

    def _set(self, key: str, **fields: Any) -> None:
        with self._lock:
            saved = self.sv.store.kv.get(STATE_KEY) or {}
            saved[key] = {**(saved.get(key) or {}), **fields}
            self.sv.store.kv.put(STATE_KEY, saved)
        if self.on_change is not None:
            self.on_change()

    def finished(self) -> bool:
        """Return True once every step is done or skipped."""
        return all(v["status"] in ("done", "skipped") for v in self.state().values())

    def running(self) -> bool:
        """Return True while this process's worker thread runs the steps."""
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ run
    def start_background(self) -> threading.Thread:
        """Run the remaining steps on a daemon thread (the app stays usable meanwhile)."""
        if not self.running():
            self._thread = threading.Thread(target=self.run, name="starter", daemon=True)
            self._thread.start()
        return self._thread  # type: ignore[return-value]

    def run(self) -> bool:
        """Run every step not yet done; stop at the first failure. Returns True when all are done."""
        for step in STEPS:
            st = self.state()[step.key]
            if st["status"] in ("done", "skipped") and not (step.every_run and self._needs_rerun(step.key)):
                continue
            self._set(step.key, status="running", detail="", started_at=utcnow().isoformat(), error=None, trace=None)
            t0 = time.monotonic()
            try:
                detail = getattr(self, f"_step_{step.key}")()
            except Exception as e:  # noqa: BLE001  (shown in the panel with its cause; the app stays up)
                why = str(e) if isinstance(e, IdiolectError) else f"{type(e).__name__}: {e}"
                self._set(step.key, status="failed", error=why, trace=traceback.format_exc()[-2000:],
                          seconds=round(time.monotonic() - t0, 1))
                return False
            self._set(step.key, status="done", detail=detail, finished_at=utcnow().isoformat(),
                      seconds=round(time.monotonic() - t0, 1))
        return True

    def _needs_rerun(self, key: str) -> bool:
        """Return True when a done serving step no longer holds (its server went away)."""
        if key == "server":
            return self.sv.local_server.find() is None
        from training.runs.registry import adapters

        return not any(a.endpoint for a in adapters(self.sv.store))

    def retry(self) -> None:
        """Clear failed steps so the next run tries them again."""
        for key, st in self.state().items():
            if st["status"] == "failed":
                self._set(key, status="waiting", error=None)

    # ------------------------------------------------------------------ steps
    def _step_import(self) -> str:
        from agent.ingest import import_exports
        from agent.profile import refresh_profile

        sv = self.sv
        summary = import_exports([str(p) for p in self.sample], store=sv.store, scrubber=sv.scrubber,
                                 index=sv.message_index, chunk_chars=sv.settings.chunk_chars)
        refresh_profile(sv.store, name=sv.settings.person_name)
        if self.golden is not None:
            self.golden(sv.store)
        t = sv.store.conversations.totals()
        return (f"{t['conversations']} conversations, {t['person_messages']} of the person's messages, "
                f"{sum(summary.redactions.values())} secrets and personal details scrubbed")

    def _step_examples(self) -> str:
        from agent.miner import mine

        sv = self.sv
        report = asyncio.run(mine(sv.store, list(sv.settings.domains), on_saved=sv.embed_cache.warm,
                                  keywords=sv.settings.domain_keywords))
        # Mined examples are the person's own words answering real questions: the starter
        # approves them so a first adapter can be trained; the owner can reject any later.
        mined = sv.store.examples.list(origin=ExampleOrigin.mined, status=ExampleStatus.pending, limit=100000)
        sv.store.examples.set_status([e.id for e in mined], ExampleStatus.approved, editor="starter")
        return (f"{len(report.asked) + len(report.views)} examples from the person's answers "
                f"({len(mined)} approved by the starter), {len(report.pairs)} preference pairs from edited branches")

    def _step_snapshot(self) -> str:
        from training.dataset.snapshots import create_snapshot

        snap, _ = create_snapshot(self.sv.store, self.sv.settings, embed=self.sv.embed_cache,
                                  scrub=self.sv.scrubber.scrub, note="starter")
        return f"snapshot v{snap.version}: {snap.n_train} train, {snap.n_validation} validation examples"

    def _step_server(self) -> str:
        rec = self.sv.local_server.ensure(on_update=lambda job: self._set("server", detail=_job_line(job)))
        return f"{rec.served_name} at {rec.endpoint}"

    def _step_train(self) -> str:
        from training.dataset.export import export_snapshot
        from training.recipe import resolve_config
        from training.runs.jobs import JobRunner
        from training.runs.registry import register_adapter

        sv = self.sv
        snap = sv.store.snapshots.latest()
        if snap is None:
            raise ConfigError("no snapshot to train on")
        preset = sv.settings.train_preset
        over = {"base_model": sv.settings.base_model, **(self.opts.train_overrides or {})}
        cfg = resolve_config(preset, over, method="sft")
        data = sv.settings.snapshots_dir / snap.id / f"trl-{cfg.family}"
        if not (data / "train.jsonl").exists():
            export_snapshot(snap.path, data, fmt="messages", target=cfg.family)
        runner = JobRunner(sv.store, sv.settings)
        job = self._earlier_job(runner) or runner.start(
            "sft", {**over, "preset": preset, "snapshot": str(data), "snapshot_id": snap.id, "method": "sft"})
        self._set("train", job=job.id)
        job = runner.wait(job.id, self.opts.job_timeout_s, interval=1.0,
                          on_update=lambda j: self._set("train", detail=_job_line(j)))
        if job.status != JobStatus.succeeded or not job.output:
            raise IdiolectError(f"training job {job.id} {job.status.value}: {(job.error or '')[-800:]}")
        rec = register_adapter(sv.store, path=job.output, base_model=sv.settings.base_model, prefix="voice",
                               snapshot_id=snap.id)
        sv.store.registry.update_job(job.id, config={**job.config, "_runtime": {
            **(job.config.get("_runtime") or {}), "registered_as": rec.name}})
        loss = f", loss {job.loss[0][1]:.2f} → {job.loss[-1][1]:.2f}" if job.loss else ""
        return f"{rec.name} trained in {job.total_steps or job.step} steps{loss}"

    def _earlier_job(self, runner: Any) -> Any:
        """Return the training job an earlier run began, if any.

        Still running: wait for it; done: use it; stopped: resume it from its checkpoint.
        """
        from core.store.registry import is_terminal

        prev = self.state()["train"].get("job")
        job = self.sv.store.registry.get_job(prev) if prev else None
        if job is None:
            return None
        job = runner.poll(job.id)
        if not is_terminal(job.status) or job.status == JobStatus.succeeded:
            return job
        return runner.resume(job.id)

    def _step_arena(self) -> str:
        from training.runs.registry import adapters
        from training.serving.serve import hot_load

        sv = self.sv
        server = sv.local_server.ensure()
        served = {m.name for m in sv.store.registry.list_models() if m.endpoint == server.endpoint}
        loaded = []
        for rec in adapters(sv.store):
            if rec.name not in served and rec.path and Path(rec.path).exists():
                hot_load(sv.store, rec.name, str(server.endpoint))
                loaded.append(rec.name)
        names = sorted(served | set(loaded))
        return f"serving {', '.join(names)}: the Arena tab is ready"

    def _step_drafts(self) -> str:
        from agent.bulk import BulkSpec, run_bulk
        from ui.ops.context import make_context

        sv = self.sv
        if self.opts.draft_count <= 0:
            return "skipped (draft_count 0)"
        spec = BulkSpec(n=self.opts.draft_count, mix=dict(sv.settings.domains))
        report = asyncio.run(run_bulk(make_context(sv), spec, concurrency=4,
                                      progress=lambda d, t, u, f: self._set("drafts", detail=f"{d} of {t} drafted")))
        why = f": {report.errors[0]}" if report.errors else ""
        return f"{report.created} drafts waiting for review ({report.failed} failed{why})"

    def _step_eval(self) -> str:
        from core.generate import GenerationClient
        from eval.runner import EvalOptions, run_eval
        from training.runs.registry import adapters

        sv = self.sv
        served = [a.name for a in adapters(sv.store) if a.endpoint]
        if not served:
            raise ConfigError("no served adapter to evaluate")
        name = served[-1]
        n = self.opts.eval_prompts
        opts = EvalOptions(max_heldout=n, negative_contexts=n, max_tokens=160, repeats=10)
        # A CPU server answers eight requests at a time: a generous timeout, not a false "failed".
        result = run_eval(sv.store, sv.settings, ["base", name], opts=opts,
                          client_for=lambda url: GenerationClient(url, timeout=1800),
                          progress=lambda stage, d, t: self._set("eval", detail=f"{stage}: {d} of {t}"))
        vgc = result["voice"]["systems"][name]["vgc"]
        return (f"{name} closes {vgc:.0%} of the voice gap between the base model and the person"
                if vgc is not None else f"report written ({result['report'].get('html')})")


def sample_starter(services: Any, options: StarterOptions | None = None) -> Starter:
    """Return the starter for the bundled sample export."""
    from ui.sample import sample_paths, seed_golden_prompts

    return Starter(services, sample_paths(), options, golden=seed_golden_prompts)


def _job_line(job: Any) -> str:
    """One line about a job's progress, for the panel."""
    if job.kind == "serve":
        return "loading the model…" if not job.output else f"ready at {job.output}"
    eta = (job.config.get("_runtime") or {}).get("eta_seconds")
    loss = f" · loss {job.loss[-1][1]:.2f}" if job.loss else ""
    left = f" · about {int(eta // 60)} min {int(eta % 60)} s left" if eta else ""
    return f"step {job.step} of {job.total_steps or '?'}{loss}{left}"
