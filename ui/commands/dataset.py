"""`idiolect dataset report | snapshot | export | list`: quality, snapshots and exports from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ui.ops.dataset import export_dataset, qc_callables, run_report

console = Console(stderr=True)
out = Console()

FAMILY_HELP = "qwen3, deepseek-r1, apriel-1.5, minimax-m2 or none (a base-model name also works)."


def _card_table(card: Any) -> Table:
    t = Table(title="Dataset report card")
    for col in ("target", "value", "goal", ""):
        t.add_column(col)
    for c in card.checks:
        t.add_row(c.name, c.detail, c.target, "[green]PASS[/green]" if c.passed else "[red]FAIL[/red]")
    return t


def _drops_table(qc: dict[str, Any]) -> Table:
    t = Table(title=f"QC: {qc['kept']} of {qc['total']} kept")
    t.add_column("dropped because")
    t.add_column("count", justify="right")
    for reason, n in qc["dropped"].items():
        t.add_row(reason, str(n))
    if not qc["semantic_checked"]:
        t.caption = "semantic (embedding) dedup skipped"
    return t


def register(app: typer.Typer) -> None:
    from ui.cli import emit_json, resolve_path, services

    ds = typer.Typer(help="Dataset quality, snapshots and exports.", no_args_is_help=True)
    app.add_typer(ds, name="dataset")

    @ds.command()
    def report(
        ctx: typer.Context,
        semantic: bool = typer.Option(True, "--semantic/--no-semantic", help="Embedding dedup (slower)."),
        plots: Path | None = typer.Option(None, "--plots", help="Write the three plots as PNGs here."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Grade the approved examples against your targets (after QC)."""
        sv = services(ctx)
        with console.status("Running QC and grading…", spinner="dots"):
            r = run_report(sv, semantic=semantic)
        card, qc = r["card"], r["qc"]
        written = []
        if plots is not None:
            from training.dataset.report_card import figure_png
            from training.dataset.report_card import plots as make_plots

            plots = resolve_path(plots)
            plots.mkdir(parents=True, exist_ok=True)
            for name, fig in make_plots(card).items():
                (plots / f"{name}.png").write_bytes(figure_png(fig))
                written.append(str(plots / f"{name}.png"))
        if as_json:
            emit_json({"report": card.to_dict(), "qc": {k: v for k, v in qc.items() if k != "drops"},
                       "drops": qc["drops"][:200], "plots": written})
            return
        out.print(_card_table(card))
        out.print(_drops_table(qc))
        out.print("[bold green]All targets met.[/bold green]" if card.passed
                  else f"[bold red]{sum(not c.passed for c in card.checks)} targets missed.[/bold red]")

    @ds.command()
    def snapshot(
        ctx: typer.Context,
        seed: int = typer.Option(0, help="Split seed; the same data and seed give the same snapshot."),
        validation: float = typer.Option(0.1, help="Share of examples held out for validation."),
        note: str = typer.Option("", help="A note stored with the snapshot."),
        semantic: bool = typer.Option(True, "--semantic/--no-semantic", help="Embedding dedup (slower)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """QC, split and freeze the approved examples into a new versioned snapshot."""
        from training.dataset.snapshots import create_snapshot

        sv = services(ctx)
        with console.status("QC, split and write…", spinner="dots"):
            snap, created = create_snapshot(sv.store, sv.settings, seed=seed, validation_fraction=validation,
                                            note=note, **qc_callables(sv, semantic))
        if as_json:
            emit_json({**snap.model_dump(mode="json"), "created": created})
            return
        verb = "Created" if created else "Unchanged data: existing"
        out.print(f"{verb} snapshot v{snap.version} ({snap.id[:12]}): {snap.n_train} train, "
                  f"{snap.n_validation} validation, {snap.n_preferences} preference pairs\n{snap.path}")
        out.print(_drops_table(snap.qc_report))

    @ds.command("list")
    def list_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
        """List snapshots, newest first."""
        snaps = services(ctx).store.snapshots.list()
        if as_json:
            emit_json([s.model_dump(mode="json", exclude={"qc_report"}) for s in snaps])
            return
        t = Table(title="Snapshots")
        for col in ("version", "id", "created", "train", "validation", "prefs", "note"):
            t.add_column(col)
        for s in snaps:
            t.add_row(str(s.version), s.id[:12], s.created_at.strftime("%Y-%m-%d %H:%M"), str(s.n_train),
                      str(s.n_validation), str(s.n_preferences), s.note)
        out.print(t)

    @ds.command()
    def export(
        ctx: typer.Context,
        fmt: str = typer.Option("messages", "--format", "-f",
                                help="messages, sharegpt, hf, axolotl or llamafactory."),
        target_model: str = typer.Option("qwen3", "--target-model", "-t", help=FAMILY_HELP),
        snapshot_ref: str | None = typer.Option(None, "--snapshot", "-s", help="Version or id; default latest."),
        out_dir: Path | None = typer.Option(None, "--out", "-o", help="Output folder (must be new or empty)."),
        push_repo: str | None = typer.Option(None, "--push-to-hub", help="With --format hf: push to this repo."),
        hf_token: str | None = typer.Option(None, "--hf-token", help="Token for --push-to-hub."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Export a snapshot for a trainer, rendering reasoning for the target model family."""
        sv = services(ctx)
        with console.status("Exporting…", spinner="dots"):
            snap, summary = export_dataset(sv, fmt=fmt, target_model=target_model, snapshot_ref=snapshot_ref,
                                           out_dir=resolve_path(out_dir) if out_dir else None, push_repo=push_repo,
                                           hf_token=hf_token)
        fam = summary.get("family", target_model)
        if as_json:
            emit_json(summary)
            return
        out.print(f"Exported snapshot v{snap.version} as {fmt} for {fam}: {summary['n_train']} train, "
                  f"{summary['n_validation']} validation, {summary['n_preferences']} pairs\n{summary['path']}")
        for f in summary["files"]:
            out.print(f"  {f}")
