"""`idiolect train | serve | models | jobs`: training runs, serving and the model registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table

from core.errors import ConfigError
from ui.ops.training import job_summary, register_output, start_training

if TYPE_CHECKING:  # core.schemas builds pydantic models on import: only the commands that use it pay
    from core.schemas import Job

console = Console(stderr=True)
out = Console()


def _parse_sets(items: list[str]) -> dict[str, Any]:
    over: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        over[key.strip().replace("-", "_")] = value
    return over


def _follow(sv: Any, job: Job) -> Job:
    from training.runs.jobs import JobRunner

    runner = JobRunner(sv.store, sv.settings)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task(f"{job.kind} {job.id}", total=None, loss="-")

        def update(j: Job) -> None:
            bar.update(task, completed=j.step, total=j.total_steps,
                       loss=f"{j.loss[-1][1]:.3f}" if j.loss else "-")

        return runner.wait(job.id, on_update=update, interval=1.0)


def print_table(table: Table) -> None:
    """Print a table whole, never cut at 80 columns.

    Off a terminal (a pipe, a file, a test) it prints at its natural width; on one, long cells
    fold onto more lines within the terminal's width.
    """
    if out.is_terminal:
        out.print(table)
        return
    from rich.measure import Measurement

    width = Measurement.get(out, out.options.update(max_width=10_000), table).maximum
    Console(width=max(width, out.width)).print(table)  # `print(width=)` is capped at the console's width


def _family_of(base_model: str) -> str:
    """Return the reasoning family a base model's name implies ("Qwen/Qwen3-8B" -> qwen3), else "none"."""
    from training.reasoning import family_for

    try:
        return family_for(base_model).name
    except ValueError:
        return "none"


def register(app: typer.Typer) -> None:
    """Add the training commands to the CLI."""
    from ui.cli import emit_json, services

    @app.command()
    def train(ctx: typer.Context,
              preset: str = typer.Option(None, help="Preset name (training/configs/) or YAML path "
                                                    "(default: the train_preset setting)."),
              snapshot: str = typer.Option(None, help="Snapshot id/version or a directory (default: latest)."),
              method: str = typer.Option("sft", help="sft or dpo."),
              parent: str = typer.Option(None, help="Adapter to continue from (DPO default: the champion)."),
              base_model: str = typer.Option(None, help="Override the preset's base model."),
              accelerate: str = typer.Option(
                  None, "--accelerate",
                  help="Launch with `accelerate launch` and this config: cpu-ddp, fsdp, deepspeed-zero2, "
                       "deepspeed-zero3 (training/configs/accelerate/) or a YAML path. Default: the preset's, "
                       "else one process."),
              num_processes: int = typer.Option(None, help="Processes (GPUs) for --accelerate (default: config's)."),
              set_: list[str] = typer.Option([], "--set", help="Override any config field: KEY=VALUE."),
              wait: bool = typer.Option(True, help="Follow the job and register the adapter when it is done."),
              as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Start a LoRA training job (out of process); follow it and register the adapter."""
        from core.schemas import JobStatus

        sv = services(ctx)
        preset = preset or sv.settings.train_preset
        over = _parse_sets(set_)
        if base_model:
            over["base_model"] = base_model
        if accelerate:
            over["accelerate_config"] = accelerate
        if num_processes:
            over["num_processes"] = num_processes
        job = start_training(sv, preset=preset, method=method, snapshot=snapshot, parent=parent, overrides=over)
        if wait:
            job = _follow(sv, job)
            register_output(sv, job)
            job = sv.store.registry.require_job(job.id)
        summary = job_summary(job)
        if job.status == JobStatus.failed:
            summary["hint"] = (f"the whole log is at {job.log_path}; fix the cause, then "
                               f"`idiolect jobs --resume {job.id}` restarts it from its last checkpoint")
        if as_json:
            emit_json(summary)
        elif job.status == JobStatus.succeeded:
            out.print(f"[green]done[/] {job.id}: adapter [bold]{summary['registered_as']}[/] at {job.output}")
        elif job.status == JobStatus.failed:
            out.print(f"[red]failed[/] {job.id}\n{job.error}")
        else:
            out.print(f"started job {job.id} ({job.kind}); follow with `idiolect jobs`")
        if job.status == JobStatus.failed:
            raise typer.Exit(1)

    @app.command()
    def serve(ctx: typer.Context,
              base_model: str = typer.Option(None, help="Base model id/path (default: the adapters' base)."),
              adapter: list[str] = typer.Option([], help="Registry adapter names to serve (default: all ready ones)."),
              backend: str = typer.Option("auto", help="vllm, cpu or auto (vLLM when it and a GPU are present)."),
              port: int = typer.Option(8000, help="Port on 127.0.0.1."),
              family: str = typer.Option(None, help="Model family (reasoning parser); default from the adapters."),
              vllm_bin: str = typer.Option("vllm", help="The vllm executable (its own environment)."),
              max_lora_rank: int = typer.Option(
                  None, help="vLLM --max-lora-rank (default: the largest rank of the adapters and base's presets)."),
              max_loras: int = typer.Option(None, help="vLLM --max-loras: adapters per batch (default: adapters + 1)."),
              max_cpu_loras: int = typer.Option(None, help="vLLM --max-cpu-loras: adapters cached on the host."),
              gpu_memory_utilization: float = typer.Option(
                  0.9, help="Share of the GPU's memory vLLM reserves (lower it to train beside the server)."),
              max_model_len: int = typer.Option(None, help="vLLM --max-model-len (default: the model's)."),
              print_command: bool = typer.Option(False, help="Only print the server command."),
              as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Serve a base model and its adapters (OpenAI-compatible) and register the endpoints."""
        from training.runs.jobs import JobRunner
        from training.runs.registry import adapters as list_adapters
        from training.serving.serve import ServeSpec, command_for, spec_dict

        sv = services(ctx)
        recs = [sv.store.registry.require_model(n) for n in adapter] or list_adapters(sv.store, base_model=base_model)
        base = base_model or (recs[-1].base_model if recs else None)
        if not base:
            raise ConfigError("nothing to serve: no base model given and no adapter trained yet",
                              hint="pass --base-model ID, or train an adapter first (`idiolect train`)")
        recs = [r for r in recs if r.base_model == base]
        fam = family or next((r.config.get("family") for r in recs if r.config.get("family")), None)
        spec = ServeSpec(base_model=base, adapters={r.name: r.path for r in recs if r.path}, backend=backend,
                         port=port, family=fam or _family_of(base), vllm_bin=vllm_bin, max_lora_rank=max_lora_rank,
                         max_loras=max_loras, max_cpu_loras=max_cpu_loras,
                         gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len)
        if print_command:
            cmd = command_for(spec)
            emit_json({"command": cmd}) if as_json else out.print(" ".join(cmd))
            return
        runner = JobRunner(sv.store, sv.settings)
        job = runner.wait(runner.start("serve", spec_dict(spec)).id, timeout=spec.health_timeout + 60)
        summary = {**job_summary(job), "url": job.output, "models": [spec.served_name or base, *spec.adapters]}
        if not job.output:
            summary["hint"] = f"the server's log is at {job.log_path}"
        if as_json:
            emit_json(summary)
            if not job.output:
                raise typer.Exit(1)
        elif job.output:
            out.print(f"serving at [bold]{job.output}[/] (job {job.id}): {', '.join(summary['models'])}")
        else:
            out.print(f"[red]server failed[/] {job.id}\n{job.error}")
            raise typer.Exit(1)

    @app.command()
    def models(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Return the model registry: base models, adapters with lineage, the champion."""
        from training.runs.registry import champion

        sv = services(ctx)
        champ = champion(sv.store)
        rows = [{**m.model_dump(mode="json"), "champion": bool(champ and champ.name == m.name)}
                for m in sv.store.registry.list_models()]
        if as_json:
            emit_json({"champion": champ.name if champ else None, "models": rows})
            return
        # Long names, paths and URLs fold onto more lines instead of being cut at the terminal's width.
        table = Table(*(Column(c, overflow="fold") for c in ("name", "kind", "base", "parent", "method", "snapshot",
                                                            "eval_loss", "status", "endpoint")))
        for r in rows:
            loss = r["metrics"].get("eval_loss")
            table.add_row(("* " if r["champion"] else "") + r["name"], r["kind"], r["base_model"], r["parent"] or "",
                          r["method"] or "", (r["snapshot_id"] or "")[:10], f"{loss:.3f}" if loss else "",
                          r["status"], r["endpoint"] or "")
        print_table(table)

    @app.command()
    def jobs(ctx: typer.Context,
             cancel: str = typer.Option(None, help="Cancel this job id."),
             resume: str = typer.Option(None, help="Restart a failed/cancelled job from its checkpoint."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Training and serving jobs: status, step, loss, ETA; cancel or resume one."""
        from training.runs.jobs import JobRunner

        sv = services(ctx)
        runner = JobRunner(sv.store, sv.settings)
        if cancel:
            runner.cancel(cancel)
        if resume:
            runner.resume(resume)
        listed = runner.list()
        for j in listed:
            register_output(sv, j)
        summaries = [job_summary(sv.store.registry.require_job(j.id)) for j in listed]
        if as_json:
            emit_json({"jobs": summaries})
            return
        table = Table(*(Column(c, overflow="fold") for c in ("id", "kind", "status", "step", "loss", "eval", "tok/s",
                                                            "steps/min", "eta", "adapter / output")))
        for s in summaries:
            eta = f"{s['eta_seconds'] / 60:.1f} min" if s["eta_seconds"] else ""
            table.add_row(s["id"], s["kind"], s["status"], f"{s['step']}/{s['total_steps'] or '?'}",
                          f"{s['loss']:.3f}" if s["loss"] is not None else "",
                          f"{s['eval_loss']:.3f}" if s["eval_loss"] is not None else "",
                          f"{s['tokens_per_second']:,.0f}" if s["tokens_per_second"] else "",
                          f"{s['steps_per_minute']:.1f}" if s["steps_per_minute"] else "", eta,
                          s["registered_as"] or s["output"] or "")
        print_table(table)
