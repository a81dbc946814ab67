"""`idiolect import | search | profile | status | app`: the data foundation's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
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
        ("chunks searchable (new or changed)", s.get("chunks_indexed", 0)),
        ("chunks embedded now", s.get("chunks_embedded", 0)),
        ("time", f"{s.get('seconds', 0):.1f} s"),
    ]
    for k, v in rows:
        t.add_row(k, str(v))
    return t


def run_import(sv: Any, paths: list[str], *, index: bool = True, show_progress: bool = True,
               follow: bool = False) -> dict[str, Any]:
    """Import (ui/ops/imports.py) with a progress bar; the words are searchable on return.

    With `index`, the dense (meaning) index is then filled: by a background worker
    (`idiolect index`), or here with a progress bar when `follow` is set.
    """
    from ui.ops.imports import import_exports

    with _bar(show_progress) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int, label: str) -> None:
            key = f"{stage}:{label}"
            if key not in tasks:
                tasks[key] = bar.add_task(f"{stage} {Path(label.split('!')[-1]).name}", total=total)
            bar.update(tasks[key], completed=done, total=total)

        summary = import_exports(sv, paths, progress=progress)
    if index and follow:
        summary["chunks_embedded"] = fill_dense(sv, show_progress=show_progress)
    elif index:
        from ui.ops.dense_fill import start_background_fill

        start_background_fill(sv.settings)
    return summary


def _bar(show: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console, disable=not show, transient=True)


def fill_dense(sv: Any, *, show_progress: bool = True, batch: int = 256) -> int:
    """Fill the dense index here with a progress bar (or follow the worker already filling); returns chunks embedded."""
    from agent.index import dense_status
    from ui.ops.dense_fill import follow

    with _bar(show_progress) as bar:
        task = bar.add_task("embedding chunks", total=None)
        report = sv.message_index.fill(progress=lambda d, t: bar.update(task, completed=d, total=t), batch=batch)
        if report.busy:  # another process is filling: watch it instead
            bar.update(task, description="embedding (another process)")
            follow(sv.store, lambda st: bar.update(task, completed=st["embedded"], total=st["chunks"]))
            return 0
    st = dense_status(sv.store)
    if st["error"] and st["embedded"] < st["chunks"]:
        console.print(f"[yellow]dense index:[/yellow] {st['error']}")
    return report.embedded


def register(app: typer.Typer) -> None:
    from ui.cli import emit_json, services

    @app.command("import")
    def import_cmd(
        ctx: typer.Context,
        paths: list[str] = typer.Argument(..., help="Export zips, folders, conversations.json, .jsonl or .md files."),
        no_index: bool = typer.Option(False, "--no-index",
                                      help="Index the words only; leave the meaning index to `idiolect index`."),
        follow: bool = typer.Option(False, "--follow",
                                    help="Stay until the meaning index is filled, with a progress bar."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Import ChatGPT / Claude exports: scrub, store, index, profile.

        Returns as soon as your messages are searchable by their words; the meaning (dense)
        index fills in a background process (`idiolect status` shows how far it is).
        """
        sv = services(ctx)
        s = run_import(sv, paths, index=not no_index, show_progress=not as_json, follow=follow)
        if as_json:
            emit_json(s)
            return
        out.print(_summary_table(s))
        for w in s["warnings"][:10]:
            console.print(f"[yellow]warning:[/yellow] {w}")
        if not no_index and not follow:
            console.print("Searchable by words now; the meaning index fills in the background "
                          "(`idiolect status` shows progress, `idiolect index` follows it).")

    @app.command("index")
    def index_cmd(
        ctx: typer.Context,
        batch: int = typer.Option(256, "--batch", min=1, help="Chunks embedded per recorded batch."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar (the background worker)."),
        background: bool = typer.Option(False, "--background", help="Start the worker detached and return."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Fill the meaning (dense) index with every chunk it lacks; resumes where a stopped fill left off."""
        from agent.index import dense_status
        from ui.ops.dense_fill import progress_line, start_background_fill

        sv = services(ctx)
        if background:
            start_background_fill(sv.settings, batch=batch)
        else:
            fill_dense(sv, show_progress=not (quiet or as_json), batch=batch)
        st = dense_status(sv.store)
        if as_json:
            emit_json(st)
        elif not quiet:
            out.print(progress_line(st))

    @app.command()
    def search(
        ctx: typer.Context,
        query: str = typer.Argument(..., help="What to look for in your own messages."),
        k: int = typer.Option(8, "-k", help="How many results."),
        mode: str = typer.Option("fused", "--mode", help="fused (words and meaning), lexical or dense."),
        min_cosine: float = typer.Option(0.3, "--min-cosine",  # agent.index.MIN_COSINE (not imported: a fast --help)
                                         help="Meaning-only matches below this similarity are left out."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Search your own past messages by their words and meaning (best first)."""
        if mode not in ("fused", "lexical", "dense"):
            raise typer.BadParameter(f"--mode {mode!r}: choose fused, lexical or dense")
        from ui.ops.search import search_for_person, why_nothing

        sv = services(ctx)
        hits = search_for_person(sv, query, k, mode=mode, min_cosine=min_cosine)
        if as_json:
            emit_json({"query": query, "hits": [h.model_dump(mode="json") for h in hits]})
            return
        if not hits:
            out.print(why_nothing(sv, query, min_cosine=min_cosine, import_hint="idiolect import PATH"),
                      markup=False, highlight=False)
        for i, h in enumerate(hits, 1):
            out.print(f"[bold]{i}. {h.conversation_title or h.conversation_id}[/bold]  [dim]{h.score:.3f}[/dim]")
            out.print(h.text[:400].strip() + ("…" if len(h.text) > 400 else ""), markup=False, highlight=False)
            out.print()

    @app.command()
    def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
        """Show what is in the store."""
        from agent.index import dense_status
        from ui.ops.dense_fill import progress_line

        sv = services(ctx)
        totals = sv.store.conversations.totals()
        totals["examples"] = sv.store.examples.counts().get("status", {})
        dense = dense_status(sv.store)
        totals["home"] = str(sv.settings.home)
        if as_json:
            emit_json({**totals, "dense_index": dense})
            return
        t = Table(title=f"idiolect store: {totals['home']}", show_header=False)
        for k, v in totals.items():
            if k != "home":
                value = ", ".join(f"{a}: {b}" for a, b in v.items()) if isinstance(v, dict) else str(v)
                t.add_row(k.replace("_", " "), value)
        t.add_row("dense index", progress_line(dense))
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
        from ui.ops.starter import sample_starter

        if sample:
            from ui.sample import write_sample_settings

            write_sample_settings()  # the sample person's domains, targets and golden prompts, once
        sv = services(ctx)
        starter = sample_starter(sv) if sample else None
        if starter is not None and not starter.finished():
            console.print("Getting started on the bundled sample in the background (see the app's panel)…")
            starter.start_background()
        elif not sample:
            from agent.index import dense_status
            from ui.ops.dense_fill import start_fill

            st = dense_status(sv.store)
            if st["chunks"] > st["embedded"] and not st["filling"]:
                start_fill(sv)  # the app fills the meaning index itself while it serves
        launch(build_app(sv, starter), sv, host=host, port=port, open_browser=open_browser)
