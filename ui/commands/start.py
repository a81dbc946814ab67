"""`idiolect quickstart`: the Getting started loop on the bundled sample, in the terminal."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

console = Console(stderr=True)
out = Console()

ICONS = {"waiting": "[dim]○[/dim]", "running": "[yellow]◐[/yellow]", "done": "[green]●[/green]",
         "failed": "[red]✕[/red]", "skipped": "[dim]–[/dim]"}


def _table(state: dict[str, dict[str, Any]]) -> Table:
    from ui.ops.starter import STEPS

    t = Table(show_header=False, box=None)
    for s in STEPS:
        st = state[s.key]
        text = st.get("error") if st["status"] == "failed" else st.get("detail") or ""
        took = f" [dim]({st['seconds']:.0f} s)[/dim]" if st.get("seconds") and st["status"] == "done" else ""
        t.add_row(ICONS.get(st["status"], "?"), s.title, f"{text}{took}")
    return t


def register(app: typer.Typer) -> None:
    from ui.cli import emit_json, services

    @app.command()
    def quickstart(
        ctx: typer.Context,
        retry: bool = typer.Option(False, "--retry", help="Run failed steps again."),
        drafts: int = typer.Option(4, help="Examples the local model drafts for review (0: none)."),
        as_json: bool = typer.Option(False, "--json", help="Print the steps' final state as JSON."),
    ) -> None:
        """Run the whole loop on the bundled sample: import, examples, train voice-v1, arena, eval."""
        import threading

        from core.errors import IdiolectError
        from ui.ops.starter import StarterOptions, sample_starter
        from ui.sample import write_sample_settings

        write_sample_settings()
        sv = services(ctx)
        starter = sample_starter(sv, StarterOptions(draft_count=drafts))
        if retry:
            starter.retry()
        worker = threading.Thread(target=starter.run, daemon=True)
        worker.start()
        with Live(_table(starter.state()), console=console, refresh_per_second=2, transient=as_json) as live:
            while worker.is_alive():
                time.sleep(0.5)
                live.update(_table(starter.state()))
            live.update(_table(starter.state()))
        state = starter.state()
        if as_json:
            emit_json(state)
        failed = [k for k, v in state.items() if v["status"] == "failed"]
        if failed:
            raise IdiolectError(f"quickstart stopped at {failed[0]}: {state[failed[0]].get('error')} "
                                "(fix it, then run `idiolect quickstart --retry`)")
        if not as_json:
            out.print("Done. Open the app (`idiolect app`) and vote in the Arena tab.")
