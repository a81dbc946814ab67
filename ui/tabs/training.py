"""Training tab: start a run, watch its loss live, read the log tail, cancel; the job list.

Handlers are module-level functions over explicit inputs returning dicts keyed by component
name; `build` maps names to components. Training runs out of process (training.runs.jobs), so
this tab never loads torch. The arena's retrain button uses `start_run` and `job_detail`.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from core.errors import IdiolectError
from ui.ops.training import job_summary, register_output, start_training

LABEL = "Training"
PRESET_LAUNCH = "as the preset says"  # one process unless the preset names an accelerate config
JOB_COLUMNS = ["id", "kind", "status", "step", "loss", "eval_loss", "tokens/s", "eta", "adapter / output"]


def presets() -> list[str]:
    """Return the YAML presets shipped with idiolect."""
    from training.recipe import list_presets

    return list_presets()


def launch_choices() -> list[str]:
    """Return the preset's own choice plus the accelerate configs (multi-process / multi-GPU launches)."""
    from training.recipe import list_accelerate_configs

    return [PRESET_LAUNCH, *list_accelerate_configs()]


def start_run(services: Any, preset: str, method: str, snapshot: str, base_model: str, parent: str,
              max_steps: float | None, launch: str | None = None,
              num_processes: float | None = None) -> dict[str, Any]:
    """Start a training job; returns the status line and the new job id (selected for watching).

    `launch` is an accelerate config name (DDP, FSDP, DeepSpeed); empty or PRESET_LAUNCH keeps the
    preset's choice (one process unless the preset names a config).
    """
    over: dict[str, Any] = {}
    if base_model and base_model.strip():
        over["base_model"] = base_model.strip()
    if max_steps and int(max_steps) > 0:
        over["max_steps"] = int(max_steps)
    if launch and launch != PRESET_LAUNCH:
        over["accelerate_config"] = launch
        if num_processes and int(num_processes) > 0:
            over["num_processes"] = int(num_processes)
    problem = precondition(services, preset, method, (snapshot or "").strip(), over)
    if problem:
        return {"status": f"**Not started:** {problem}", "job_id": ""}
    try:
        job = start_training(services, preset=preset, method=method, snapshot=(snapshot or "").strip() or None,
                             parent=(parent or "").strip() or None, overrides=over)
    except IdiolectError as e:
        return {"status": f"**Could not start:** {e}", "job_id": ""}
    how = f", {over['accelerate_config']}" if "accelerate_config" in over else ""
    return {"status": f"Started **{job.kind}** job `{job.id}` ({preset}{how}).", "job_id": job.id}


def precondition(services: Any, preset: str, method: str, snapshot: str, over: dict[str, Any]) -> str | None:
    """Return what stops a run from starting (checked before any export or process), with the next step here."""
    from training.recipe import read_preset

    if not preset:
        return "choose a preset."
    try:
        data = read_preset(preset)
    except IdiolectError as e:
        return str(e)
    if not over.get("base_model") and not (data.get("base_model") or (data.get(method) or {}).get("base_model")):
        return (f"the {preset} preset names no base model. Type a model folder or hub id in *Base model override*, "
                f"or choose the default preset, {services.settings.train_preset}.")
    if not snapshot and services.store.snapshots.latest() is None:
        return ("there is no dataset snapshot yet. Approve examples in the Dataset tab, then press "
                "**Make a snapshot** there, or **Make a snapshot now** below.")
    return None


def snapshot_now(services: Any) -> dict[str, Any]:
    """Make a snapshot of the approved examples from the Training tab (the Dataset tab's action)."""
    from ui.tabs.dataset_curate import take_snapshot

    return {"status": take_snapshot(services, 0, 0.1, "", False)["snapshot_result"]}


def jobs_table(services: Any) -> pd.DataFrame:
    """Every job, newest first, refreshed from its process."""
    from training.runs.jobs import JobRunner

    rows = []
    for j in JobRunner(services.store, services.settings).list():
        register_output(services, j)
        s = job_summary(services.store.registry.require_job(j.id))
        eta = f"{s['eta_seconds'] / 60:.1f} min" if s["eta_seconds"] else ""
        rows.append([s["id"], s["kind"], s["status"], f"{s['step']}/{s['total_steps'] or '?'}",
                     s["loss"], s["eval_loss"], s["tokens_per_second"], eta, s["registered_as"] or s["output"] or ""])
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def loss_frame(job: Any) -> pd.DataFrame:
    """Train and eval loss by step, long format for a line plot."""
    rows = [{"step": s, "loss": v, "series": "train"} for s, v in job.loss]
    rows += [{"step": s, "loss": v, "series": "eval"} for s, v in job.eval_loss]
    return pd.DataFrame(rows or [{"step": 0, "loss": None, "series": "train"}])


def job_detail(services: Any, job_id: str) -> dict[str, Any]:
    """Return the selected job: summary line, loss curve and log tail."""
    from training.runs.jobs import JobRunner, log_tail

    if not job_id:
        return {"summary": "Select or start a job.", "plot": loss_frame(_Empty()), "log": ""}
    try:
        job = JobRunner(services.store, services.settings).poll(job_id.strip())
    except IdiolectError as e:
        return {"summary": f"**{e}**", "plot": loss_frame(_Empty()), "log": ""}
    name = register_output(services, job)
    s = job_summary(job)
    eta = f" · ETA {s['eta_seconds'] / 60:.1f} min" if s["eta_seconds"] else ""
    line = f"`{job.id}` **{job.status.value}** · step {job.step}/{job.total_steps or '?'}{eta}"
    if name:
        line += f" · registered as **{name}**"
    if job.error:
        line += "\n\n" + job.error.split("\n--- log tail ---")[0]
    return {"summary": line, "plot": loss_frame(job), "log": log_tail(job.log_path, 6000)}


def cancel_job(services: Any, job_id: str) -> dict[str, Any]:
    """Cancel the selected job (training saves a checkpoint first)."""
    from training.runs.jobs import JobRunner

    if not job_id:
        return {"status": "No job selected."}
    try:
        job = JobRunner(services.store, services.settings).cancel(job_id.strip())
    except IdiolectError as e:
        return {"status": f"**Could not cancel:** {e}"}
    return {"status": f"Job `{job.id}` is {job.status.value}."}


class _Empty:
    loss: list = []
    eval_loss: list = []


def build(services: Any) -> None:
    """Lay out the tab (called inside `with gr.Tab(LABEL)`)."""
    with gr.Row():
        with gr.Column(scale=1):
            default = services.settings.train_preset
            preset = gr.Dropdown(presets(), value=default if default in presets() else None, label="Preset",
                                 allow_custom_value=True)
            method = gr.Radio(["sft", "dpo"], value="sft", label="Method")
            snapshot = gr.Textbox(label="Snapshot (id, version or folder; empty = latest)")
            base_model = gr.Textbox(label="Base model override (optional)")
            parent = gr.Textbox(label="Parent adapter (DPO default: champion)")
            max_steps = gr.Number(label="Max steps (0 = preset)", value=0, precision=0)
            with gr.Row():
                launch = gr.Dropdown(launch_choices(), value=PRESET_LAUNCH, elem_id="train-launch",
                                     label="Launch (several GPUs: fsdp, deepspeed)")
                num_processes = gr.Number(label="Processes (0 = config's)", value=0, precision=0)
            start = gr.Button("Start training", variant="primary", elem_id="train-start")
            snap_now = gr.Button("Make a snapshot now", elem_id="train-snapshot")
            status = gr.Markdown(elem_id="train-status")
        with gr.Column(scale=2):
            job_id = gr.Textbox(label="Job", elem_id="train-job")
            summary = gr.Markdown()
            plot = gr.LinePlot(loss_frame(_Empty()), x="step", y="loss", color="series", label="Loss")
            cancel = gr.Button("Cancel job", variant="stop")
    table = gr.Dataframe(jobs_table(services), label="Jobs", interactive=False)
    log = gr.Textbox(label="Log tail", lines=12, max_lines=12, autoscroll=True)
    timer = gr.Timer(2.0)

    def _start(*args: Any) -> tuple[Any, ...]:
        r = start_run(services, *args)
        return r["status"], r["job_id"]

    def _refresh(jid: str) -> tuple[Any, ...]:
        d = job_detail(services, jid)
        return d["summary"], d["plot"], d["log"], jobs_table(services)

    def _cancel(jid: str) -> Any:
        return cancel_job(services, jid)["status"]

    def _select(evt: gr.SelectData, df: pd.DataFrame) -> str:
        return str(df.iloc[evt.index[0]]["id"]) if evt.index is not None else ""

    start.click(_start, [preset, method, snapshot, base_model, parent, max_steps, launch, num_processes],
                [status, job_id])
    cancel.click(_cancel, [job_id], [status])
    snap_now.click(lambda: snapshot_now(services)["status"], None, [status])
    table.select(_select, [table], [job_id])
    timer.tick(_refresh, [job_id], [summary, plot, log, table])
    job_id.change(_refresh, [job_id], [summary, plot, log, table])
