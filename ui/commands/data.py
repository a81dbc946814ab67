"""`idiolect import | search | profile | status | app`: the data foundation's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

console = Console(stderr=True)
out = Console()


def _summary_table(s: dict[str, Any]) -> Table:
    t = Table(title="Import summary", show_header=False)
    rows = [
        ("conversations", f"{s['conversations']} ({s.get('conversations_new', 0)} new, "
                          f"{s.get('conversations_updated', 0)} updated, "
                          f"{s.get('conversations_unchanged', 0)} unchanged)"),
        ("person messages (shown branch)", s["person_messages"]),
        ("assistant messages (shown branch)", s["assistant_messages"]),
        ("abandoned branches: person / assistant",
         f"{s.get('abandoned_person_messages', 0)} / {s.get('abandoned_assistant_messages', 0)}"),
        ("skipped", ", ".join(f"{k}: {v}" for k, v in s.get("skipped", {}).items()) or "none"),
        ("redactions", ", ".join(f"{k}: {v}" for k, v in sorted(s.get("redactions", {}).items())) or "none"),
        ("chunks indexed", s.get("chunks_indexed", 0)),
        ("time", f"{s.get('seconds', 0):.1f} s"),
    ]
    for k, v in rows:
        t.add_row(k, str(v))
    return t


def run_import(sv: Any, paths: list[str], *, index: bool = True, show_progress: bool = True) -> dict[str, Any]:
    """Import with a progress bar; refresh the voice profile afterwards."""
    from agent.ingest import import_exports
    from agent.profile import refresh_profile

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=console, disable=not show_progress, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int, label: str) -> None:
            key = f"{stage}:{label}"
            if key not in tasks:
                name = Path(label.split("!")[-1]).name if stage == "parse" else "embedding chunks"
                tasks[key] = bar.add_task(f"{stage} {name}", total=total)
            bar.update(tasks[key], completed=done, total=total)

        summary = import_exports(paths, store=sv.store, scrubber=sv.scrubber,
                                 index=sv.message_index if index else None, progress=progress)
    refresh_profile(sv.store, name=sv.settings.person_name)
    return summary.model_dump()


def register(app: typer.Typer) -> None:
    from ui.cli import emit_json, services

    @app.command("import")
    def import_cmd(
        ctx: typer.Context,
        paths: list[str] = typer.Argument(..., help="Export zips, folders, conversations.json, .jsonl or .md files."),
        no_index: bool = typer.Option(False, "--no-index", help="Store only; skip embedding into the index."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Import ChatGPT / Claude exports: scrub, store, index, profile."""
        sv = services(ctx)
        s = run_import(sv, paths, index=not no_index, show_progress=not as_json)
        if as_json:
            emit_json(s)
            return
        out.print(_summary_table(s))
        for w in s["warnings"][:10]:
            console.print(f"[yellow]warning:[/yellow] {w}")

    @app.command()
    def search(
        ctx: typer.Context,
        query: str = typer.Argument(..., help="What to look for in your own messages."),
        k: int = typer.Option(8, "-k", help="How many results."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Search your own past messages by meaning."""
        hits = services(ctx).message_index.search(query, k=k)
        if as_json:
            emit_json({"query": query, "hits": [h.model_dump() for h in hits]})
            return
        if not hits:
            out.print("No matches. Have you imported an export? (idiolect import PATH)")
        for i, h in enumerate(hits, 1):
            out.print(f"[bold]{i}. {h.conversation_title or h.conversation_id}[/bold]  [dim]{h.score:.3f}[/dim]")
            out.print(h.text[:400].strip() + ("…" if len(h.text) > 400 else ""), markup=False, highlight=False)
            out.print()

    @app.command()
    def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
        """Show what is in the store."""
        sv = services(ctx)
        totals = sv.store.conversations.totals()
        totals["examples"] = sv.store.examples.counts().get("status", {})
        totals["home"] = str(sv.settings.home)
        if as_json:
            emit_json(totals)
            return
        t = Table(title=f"idiolect store: {totals['home']}", show_header=False)
        for k, v in totals.items():
            if k != "home":
                value = ", ".join(f"{a}: {b}" for a, b in v.items()) if isinstance(v, dict) else str(v)
                t.add_row(k.replace("_", " "), value)
        out.print(t)

    @app.command("app")
    def app_cmd(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", help="Address to bind; non-loopback needs rater accounts."),
        port: int = typer.Option(7860, help="Port."),
        sample: bool = typer.Option(False, "--sample",
                                    help="First run on the bundled sample: import, train voice-v1, open the arena."),
        open_browser: bool = typer.Option(False, "--open", help="Open a browser tab."),
    ) -> None:
        """Serve the app (Gradio) on this machine."""
        from ui.app import build_app, launch
        from ui.starter import sample_starter

        if sample:
            from ui.sample import write_sample_settings

            write_sample_settings()  # the sample person's domains, targets and golden prompts, once
        sv = services(ctx)
        starter = sample_starter(sv) if sample else None
        if starter is not None and not starter.finished():
            console.print("Getting started on the bundled sample in the background (see the app's panel)…")
            starter.start_background()
        launch(build_app(sv, starter), sv, host=host, port=port, open_browser=open_browser)
