"""Retrain from the arena: votes -> pairs -> SFT (snapshot + gold) -> DPO -> voice-vN+1, hot-loaded, scheduled.

Torch-free: training runs as `python -m training.sft` / `training.dpo` subprocesses through
`training.runs.jobs.JobRunner`; retrain_data.py prepares the data, this module chains the jobs, registers the
adapter and loads it into the running server.

The stages:
1. Convert votes to preference pairs and gold examples (training/dataset/preferences.py).
2. Write a retrain folder: train.jsonl = the newest snapshot's training examples plus every
   approved gold example, validation.jsonl = the snapshot's, preferences.jsonl = the arena's
   pairs plus the snapshot's own (all rendered for the model family).
3. SFT continues the current voice (the champion, else the newest adapter of this base; the
   base only when there is none yet) on it, then DPO on the pairs starts from that SFT
   adapter, which is also DPO's frozen reference (the standard recipe: the reference is the
   policy the preferences are measured against). Each retrain builds on the last one instead
   of starting over from the base. With no pairs the DPO stage is skipped.
4. Register the result under the next versioned name (`voice-vN+1`) with its lineage
   (parent = the champion it must beat), hot-load it into the server that serves the base,
   and record it as the scheduled challenger. The arena's pairing then sends half of all
   battles to champion-vs-newest, so it meets the champion next. The champion itself
   changes only when the sequential test or the intervals say so (eval/sequential.py,
   applied by the UI), never because a run finished.

The automatic policy (`idiolect retrain --every N`) is acted on by the app: after a vote it
converts the new votes, and once N pairs have arrived since the last retrain (or the last
automatic start) it starts `python -m training.runs.retrain` as a job (`start_retrain_job`).
`retrain` holds a lock file for its whole run, so no two retrains overlap across processes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, IdiolectError, JobError
from core.schemas import Job, JobStatus, ModelKind, ModelRecord, utcnow
from training.dataset.preferences import ScrubFn, arena_pairs, convert_votes
from training.recipe import resolve_config
from training.runs.registry import adapters, champion, next_adapter_name, register_adapter
from training.runs.retrain_data import _latest_snapshot_dir, build_retrain_data, render_family
from training.runs.retrain_policy import (  # re-exported: the CLI and tests import the policy from here
    POLICY_KEY,
    STATE_KEY,
    TRIGGER_KEY,
    due,
    new_pairs,
    policy,
    policy_config,
    record_trigger,
    retrain_running,
    retrain_state,
    run_lock,
    set_policy,
    trigger_state,
)

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store
    from training.runs.jobs import JobRunner

__all__ = [
    "POLICY_KEY", "STATE_KEY", "TRIGGER_KEY", "RetrainConfig", "RetrainResult", "build_retrain_data", "due",
    "main", "new_pairs", "policy", "policy_config", "record_trigger", "render_family", "retrain", "retrain_config",
    "retrain_running", "retrain_state", "run_lock", "set_policy", "start_retrain_job", "trigger_state",
]


@dataclass(kw_only=True)
class RetrainConfig:
    """One retrain run. Everything but `preset` has a sensible default from the store."""

    preset: str | None = None  # default: settings.train_preset
    base_model: str | None = None  # default: the champion's base model (or the only base model)
    snapshot: str | None = None  # snapshot folder; default: the newest snapshot
    prefix: str = "voice"
    server_url: str | None = None  # server to hot-load into; default: the base model's endpoint
    min_pairs: int = 1
    dpo: bool = True  # False: SFT only (a first adapter, or when the pairs are not trusted yet)
    overrides: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields for both stages
    sft_overrides: dict[str, Any] = field(default_factory=dict)
    dpo_overrides: dict[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None


@dataclass
class RetrainResult:
    name: str
    parent: str | None
    base_model: str
    data_dir: str
    jobs: list[str]
    pairs: int
    gold: int
    train_rows: int
    endpoint: str | None
    conversion: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- config and job


def retrain_config(raw: dict[str, Any]) -> RetrainConfig:
    """Build a RetrainConfig from a mapping, naming any key it does not know."""
    known = {f.name for f in fields(RetrainConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"retrain config: unknown key(s) {unknown}; known: {sorted(known)}")
    return RetrainConfig(**raw)


def start_retrain_job(store: Store, settings: Settings, cfg: RetrainConfig | dict[str, Any] | None = None, *,
                      runner: JobRunner | None = None) -> Job:
    """Start `python -m training.runs.retrain` as a job (the app's button and automatic policy use this).

    The caller converts votes first with the real scrubber (training may not import it);
    the job then trains on the stored pairs.

    Raises:
        ConfigError: a config key RetrainConfig does not have.

    """
    from training.runs.jobs import JobRunner

    raw = asdict(cfg) if isinstance(cfg, RetrainConfig) else dict(cfg or {})
    checked = retrain_config(raw)
    have = len(arena_pairs(store))
    if have < checked.min_pairs:  # say so now, not after a job started and failed
        raise ConfigError(f"only {have} arena preference pair(s); a retrain needs at least {checked.min_pairs}. "
                          "Vote on more battles (a tie or 'both bad' makes no pair), or lower the minimum.")
    job_cfg = {**raw, "home": str(settings.home)}
    if settings.database_url:
        job_cfg["database_url"] = settings.database_url
    return (runner or JobRunner(store, settings)).start("retrain", job_cfg)


# --------------------------------------------------------------------------- run


def current_voice(store: Store, base: ModelRecord) -> ModelRecord | None:
    """Return the adapter a retrain continues: the champion, else the newest adapter of this base."""
    champ = champion(store)
    if champ is not None and champ.path and Path(champ.path).exists():
        return champ
    mine = [a for a in adapters(store, base_model=base.base_model) if a.path and Path(a.path).exists()]
    return mine[-1] if mine else None


def _base_for(store: Store, cfg: RetrainConfig, champ: ModelRecord | None) -> ModelRecord:
    bases = store.registry.list_models(kind=ModelKind.base)
    want = cfg.base_model or (champ.base_model if champ else None)
    if want:
        for b in bases:
            if want in (b.name, b.base_model, b.path):
                return b
        return ModelRecord(name=Path(want).name, kind=ModelKind.base, base_model=want)
    if len(bases) == 1:
        return bases[0]
    raise ConfigError("which base model? pass --base-model (registered base models: "
                      f"{', '.join(b.name for b in bases) or 'none'})")


def retrain(store: Store, settings: Settings, scrub: ScrubFn | None, cfg: RetrainConfig | None = None, *,
            runner: JobRunner | None = None, on_update: Callable[[Job], None] | None = None,
            http_client: Any = None) -> RetrainResult:
    """Run the whole retrain loop once and return what it made.

    Args:
        store: the open Store.
        settings: paths (adapters, jobs) and job limits.
        scrub: the scrubber's `scrub(text) -> (clean, redactions)` (the app passes agent's);
            None when the caller already converted the votes (the job subprocess).
        cfg: what to run; defaults train `settings.train_preset`.
        runner: a JobRunner (default: a new one for this store and settings).
        on_update: called with each job as it progresses (progress bars, the Training tab).
        http_client: an httpx.Client for the hot-load call (tests).

    Raises:
        ConfigError: nothing to train on, too few pairs, or no base model to train.
        JobError: a training job failed (its log tail is in the message), or another
            retrain is running.

    """
    with run_lock(settings):
        return _retrain(store, settings, scrub, cfg or RetrainConfig(), runner=runner, on_update=on_update,
                        http_client=http_client)


def _retrain(store: Store, settings: Settings, scrub: ScrubFn | None, cfg: RetrainConfig, *,
             runner: JobRunner | None, on_update: Callable[[Job], None] | None, http_client: Any) -> RetrainResult:
    from training.runs.jobs import JobRunner
    from training.serving.serve import hot_load

    runner = runner or JobRunner(store, settings)
    conversion = convert_votes(store, scrub) if scrub is not None else None
    pairs_now = len(arena_pairs(store))
    if pairs_now < cfg.min_pairs:
        raise ConfigError(f"only {pairs_now} arena preference pair(s); retrain needs at least {cfg.min_pairs} "
                          "(vote on more battles, or lower --min-pairs)")
    champ = champion(store)
    base = _base_for(store, cfg, champ)
    parent = current_voice(store, base)
    preset = cfg.preset or settings.train_preset
    family = resolve_config(preset, {"base_model": base.base_model, **cfg.overrides}, method="sft").family
    fam = render_family(family, base.base_model)
    run_dir = settings.home / "retrain" / utcnow().strftime("%Y%m%dT%H%M%S%f")
    snapshot_dir = Path(cfg.snapshot).expanduser() if cfg.snapshot else _latest_snapshot_dir(store)
    data = build_retrain_data(store, run_dir / "data", snapshot_dir=snapshot_dir, family=fam)
    common = {"preset": preset, "base_model": base.path or base.base_model, "snapshot": str(run_dir / "data"),
              **cfg.overrides}
    start = {"parent_adapter": parent.path, "parent_name": parent.name} if parent is not None else {}
    steps: list[tuple[str, dict[str, Any]]] = [("sft", {**common, **start, **cfg.sft_overrides})]
    if data["pairs"] and cfg.dpo:
        steps.append(("dpo", {**common, "parent_adapter": "$previous", **cfg.dpo_overrides}))

    def watch(job: Job) -> None:
        # A stage's adapter is not a model of its own: mark it at once, or the Training tab's
        # job list would register a finished SFT stage as the next voice-vN mid-run.
        runtime = job.config.get("_runtime") or {}
        if not runtime.get("registered_as"):
            store.registry.update_job(job.id, config={**job.config, "_runtime": {
                **runtime, "registered_as": "(a retrain stage)"}})
        if on_update is not None:
            on_update(job)

    jobs = runner.run_chain(steps, timeout=cfg.timeout_s, on_update=watch)
    failed = next((j for j in jobs if j.status != JobStatus.succeeded), None)
    if failed is not None or len(jobs) != len(steps):
        j = failed or jobs[-1]
        raise JobError(f"retrain {j.kind} job {j.id} {j.status.value}: {j.error or 'no output'}")
    adapter_dir = jobs[-1].output
    if not adapter_dir:
        raise JobError(f"retrain job {jobs[-1].id} finished without an adapter directory")
    name = next_adapter_name(store, cfg.prefix)
    rec = register_adapter(store, path=adapter_dir, base_model=base.base_model, name=name,
                           parent=parent.name if parent else None, snapshot_id=data["snapshot_id"],
                           preference_ids=data["arena_pair_ids"], method="+".join(k for k, _ in steps),
                           config={"retrain": {"preset": preset, "jobs": [j.id for j in jobs],
                                               "data_dir": str(run_dir / "data"), "gold": data["gold"]}})
    for j in jobs:  # the chain made this one adapter: its stages point to it
        j = store.registry.require_job(j.id)
        runtime = {**(j.config.get("_runtime") or {}), "registered_as": rec.name}
        store.registry.update_job(j.id, config={**j.config, "_runtime": runtime})
    server = cfg.server_url or base.endpoint
    endpoint = None
    if server:
        hot_load(store, rec.name, server, client=http_client)
        endpoint = store.registry.require_model(rec.name).endpoint
    store.kv.put(STATE_KEY, {"pairs_seen": pairs_now, "last_run": utcnow().isoformat(), "adapter": rec.name,
                             "challenger": rec.name, "champion": champ.name if champ else None})
    return RetrainResult(name=rec.name, parent=rec.parent, base_model=base.base_model, data_dir=str(run_dir / "data"),
                         jobs=[j.id for j in jobs], pairs=data["pairs"], gold=data["gold"], train_rows=data["train"],
                         endpoint=endpoint, conversion=conversion.as_dict() if conversion else {})


# --------------------------------------------------------------------------- job entry point


def main(argv: list[str] | None = None) -> int:
    """`python -m training.runs.retrain --config FILE`: one retrain as a job (exit 2 on bad input)."""
    from core.config import Settings
    from core.store import Store
    from training.rundata import ProgressWriter

    ap = argparse.ArgumentParser(prog="python -m training.runs.retrain", description=main.__doc__)
    ap.add_argument("--config", required=True, help="JSON file of RetrainConfig fields (the job runner writes one)")
    args = ap.parse_args(argv)
    try:
        raw = json.loads(Path(args.config).read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        print(f"error: --config {args.config}: {e}", file=sys.stderr)
        return 2
    writer = ProgressWriter(raw.pop("progress_file", None))
    where = {k: raw.pop(k) for k in ("home", "database_url") if raw.get(k)}
    settings = Settings(**where)
    store = Store.open(settings.db_url)
    last: dict[str, tuple[str, int]] = {}

    def update(job: Job) -> None:
        # Only changes are written: the runner polls children twice a second.
        now = (job.status.value, job.step)
        if last.get(job.id) != now:
            last[job.id] = now
            writer.emit("stage", stage=job.kind, job=job.id, status=job.status.value, child_step=job.step,
                        child_total=job.total_steps)

    try:
        writer.emit("start")
        result = retrain(store, settings, None, retrain_config(raw), on_update=update)
    except IdiolectError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    writer.emit("done", output=result.name, metrics=result.as_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
