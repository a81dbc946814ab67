"""Training operations: start a run on a snapshot, register its adapter, summarise a job."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import NotFound

if TYPE_CHECKING:  # core.schemas builds pydantic models on import: only the operations that use it pay
    from core.schemas import Job


def job_summary(job: Job) -> dict[str, Any]:
    """Return A job as a flat JSON-friendly dict (what `--json` prints and the tab shows)."""
    from training.rundata import read_progress, throughput

    runtime = job.config.get("_runtime") or {}
    pace = throughput(read_progress(job.config["progress_file"])) if job.config.get("progress_file") else {}
    return {
        "id": job.id, "kind": job.kind, "status": job.status.value, "step": job.step,
        "total_steps": job.total_steps, "loss": job.loss[-1][1] if job.loss else None,
        "eval_loss": job.eval_loss[-1][1] if job.eval_loss else None,
        "eta_seconds": runtime.get("eta_seconds"), "output": job.output, "error": job.error,
        "preset": job.config.get("preset"), "registered_as": runtime.get("registered_as"),
        "started_at": job.started_at, "finished_at": job.finished_at, "log_path": job.log_path,
        "tokens_per_second": pace.get("tokens_per_second"), "steps_per_minute": pace.get("steps_per_minute"),
    }


def training_data_dir(sv: Any, snapshot: str | None, family: str) -> tuple[Path, str | None]:
    """(directory with train/validation/preferences .jsonl, snapshot id) for --snapshot.

    A directory that already holds train.jsonl or preferences.jsonl is used as is; otherwise
    the snapshot (id, prefix, version, or the latest when omitted) is exported once in the
    family's reasoning format under <snapshots>/<id>/trl-<target>.
    """
    if snapshot and Path(snapshot).expanduser().is_dir():
        p = Path(snapshot).expanduser()
        if (p / "train.jsonl").exists() or (p / "preferences.jsonl").exists():
            return p.resolve(), None
    snap = sv.store.snapshots.get(snapshot) if snapshot else sv.store.snapshots.latest()
    if snap is None:
        raise NotFound("no dataset snapshot yet",
                       hint="make one with `idiolect dataset snapshot`, or pass --snapshot DIR")
    target = family  # resolve_config already gave the renderer's family name
    dest = sv.settings.snapshots_dir / snap.id / f"trl-{target}"
    if not (dest / "train.jsonl").exists():
        from training.dataset.export import export_snapshot

        export_snapshot(snap.path, dest, fmt="messages", target=target)
    return dest, snap.id


def start_training(sv: Any, *, preset: str, method: str = "sft", snapshot: str | None = None,
                   parent: str | None = None, overrides: dict[str, Any] | None = None) -> Job:
    """Validate the config, prepare the data and start an sft/dpo job (the CLI and the tab use this).

    DPO's reference is `parent` (a registry adapter name), else the champion, else the base.
    """
    from training.recipe import resolve_config
    from training.runs.jobs import JobRunner
    from training.runs.registry import champion

    over = dict(overrides or {})
    cfg = resolve_config(preset, over, method=method)  # fail fast, before any export or process
    data_dir, snap_id = training_data_dir(sv, snapshot, cfg.family)
    over.update(preset=preset, snapshot=str(data_dir))
    if snap_id:
        over["snapshot_id"] = snap_id
    if parent:
        parent_rec = sv.store.registry.require_model(parent)
    else:
        parent_rec = champion(sv.store) if method == "dpo" else None
    if parent_rec is not None and parent_rec.path:
        over.update(parent_adapter=parent_rec.path, parent_name=parent_rec.name)
    resolve_config(preset, {k: v for k, v in over.items() if k != "preset"}, method=method)
    return JobRunner(sv.store, sv.settings).start(method, {**over, "method": method})


def register_output(sv: Any, job: Job, prefix: str = "voice") -> str | None:
    """Register a succeeded training job's adapter once; returns its registry name."""
    from core.schemas import JobStatus
    from training.runs.registry import register_adapter

    runtime = dict(job.config.get("_runtime") or {})
    if job.status != JobStatus.succeeded or not job.output or job.kind not in ("sft", "dpo"):
        return None
    if runtime.get("registered_as"):
        return runtime["registered_as"]
    rec = register_adapter(sv.store, path=job.output, prefix=prefix)
    runtime["registered_as"] = rec.name
    sv.store.registry.update_job(job.id, config={**job.config, "_runtime": runtime})
    return rec.name
