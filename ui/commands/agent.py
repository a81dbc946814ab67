"""`idiolect chat | generate | mine | examples`: drafting with the agent, bulk runs, mining, listing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from core.errors import ConfigError, LLMError
from ui.ops.context import make_context

console = Console(stderr=True)
out = Console()


def render_review(review: dict[str, Any]) -> None:
    """Draft cards in the terminal."""
    if review.get("notice"):
        console.print(f"[yellow]{review['notice']}[/yellow]")
    for d in review["drafts"]:
        s = d.get("scores") or {}
        checks = d.get("checks") or {}
        score = (f"voice {s.get('voice')} · reasoning {s.get('reasoning_style')} · accuracy "
                 f"{s.get('technical_accuracy')} · analogy {s.get('analogy_use')} · overall {s.get('overall')}")
        flags = [f"assistant-isms: {', '.join(checks['assistant_isms'])}"] if checks.get("assistant_isms") else []
        if not checks.get("reasoning_present", True):
            flags.append("reasoning missing" if not d.get("reasoning", "").strip() else "reasoning too short")
        if checks.get("injection"):
            flags.append("FLAGGED, not scored: " + escape("; ".join(checks["injection"])))
        if s.get("overall") is None:
            score = "unscored" + (f" ({checks['judge_skipped']})" if checks.get("judge_skipped") else "")
        src = "\n".join(f"  [{x['id']}] {x['title']}: {x['text'][:120]!r}" for x in d.get("sources", []))
        body = (f"[bold]Prompt[/bold] {d['prompt']}\n[bold]Reasoning[/bold] {d['reasoning']}\n"
                f"[bold]Response[/bold] {d['response']}\n[dim]{d['domain']} · {', '.join(d['tags'])} · {score}"
                f"{' · ' + '; '.join(flags) if flags else ''}[/dim]" + (f"\n[dim]sources:\n{src}[/dim]" if src else ""))
        out.print(Panel(body, title=f"draft {d['number']} (v{d['version']})", expand=True))
    console.print(f"[dim]{review['hint']}[/dim]")


def _bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[stats]}"), console=console, transient=False)


def register(app: typer.Typer) -> None:
    from ui.cli import emit_json, services

    @app.command()
    def chat(ctx: typer.Context, thread: str = typer.Option(None, help="Resume this thread id."),
             message: str = typer.Option(None, "--message", "-m", help="First message (else prompted).")) -> None:
        """Chat with the drafting agent: ask for examples, approve, edit, reject or revise them."""
        from agent.graph import open_graph, pending_review, send

        sv = services(ctx)
        agent_ctx = make_context(sv)
        thread_id = thread or f"chat-{uuid.uuid4().hex[:8]}"
        console.print(f"[dim]thread {thread_id} (resume with --thread {thread_id}); /quit to leave[/dim]")

        async def loop() -> None:
            async with open_graph(sv.settings.checkpoints_path) as graph:
                review = await pending_review(graph, thread_id)
                first = message
                while True:
                    if review:
                        render_review(review)
                    try:
                        text = first or typer.prompt("review" if review else "you", prompt_suffix="> ")
                    except (typer.Abort, EOFError):
                        return
                    first = None
                    if text.strip() in ("/quit", "/exit"):
                        return
                    if not text.strip():
                        continue
                    try:
                        res = await send(graph, thread_id, agent_ctx,
                                         **({"resume": text} if review else {"message": text}))
                    except LLMError as e:
                        # The thread keeps its last checkpoint: the same drafts wait for review.
                        console.print(f"LLM error: {e}", style="red", markup=False, highlight=False)
                        review = await pending_review(graph, thread_id)
                        continue
                    review = res["review"]
                    if res["reply"] and not review:
                        out.print(f"[bold green]agent[/bold green] {res['reply']}")

        asyncio.run(loop())

    @app.command()
    def generate(
        ctx: typer.Context,
        n: int = typer.Option(..., "--n", min=1, help="How many examples."),
        mix: str = typer.Option(None, help="Domain weights, e.g. architecture=30,coding=10 (default: settings)."),
        concurrency: int = typer.Option(None, help="Parallel LLM calls (default: llm_concurrency)."),
        batch: bool = typer.Option(False, "--batch", help="Use Anthropic Message Batches (half price, slower)."),
        new: bool = typer.Option(False, "--new", help="Start another run even if one with this spec finished."),
        poll_seconds: float = typer.Option(30.0, help="Batch polling interval."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Draft and score N examples unattended; they land as pending. Re-run to resume."""
        from agent.bulk import BulkSpec, parse_mix, run_bulk, run_bulk_batch

        sv = services(ctx)
        spec = BulkSpec(n=n, mix=parse_mix(mix, sv.settings.domains), batch=batch)
        agent_ctx = make_context(sv)
        runs = sv.store.examples
        while new and runs.bulk_run(spec.run_id()) is not None:
            spec.generation += 1
        prior = runs.bulk_run(spec.run_id())
        if prior and prior["status"] == "done":
            raise ConfigError(f"run {spec.run_id()} with this spec already finished ({n} examples); "
                              "pass --new to start another")
        if prior:
            console.print(f"[dim]resuming {spec.run_id()}[/dim]")
        with _bar() as bar:
            task = bar.add_task(f"generate {spec.run_id()}", total=n, stats="")

            def progress(done: int, total: int, usage: dict[str, Any], failed: int) -> None:
                bar.update(task, completed=done, stats=(
                    f"in {usage.get('input_tokens', 0):,} (cached {usage.get('cache_read', 0):,}) · "
                    f"out {usage.get('output_tokens', 0):,} · ${usage.get('cost_usd', 0):.2f} · failed {failed}"))

            if batch:
                from core.llm_anthropic import AnthropicBatches, AnthropicChat

                if not isinstance(agent_ctx.llm, AnthropicChat):
                    raise ConfigError("--batch needs the Anthropic provider (Message Batches)")
                report = asyncio.run(run_bulk_batch(agent_ctx, spec, AnthropicBatches(agent_ctx.llm),
                                                    poll_seconds=poll_seconds, progress=progress))
            else:
                report = asyncio.run(run_bulk(agent_ctx, spec, concurrency=concurrency or sv.settings.llm_concurrency,
                                              progress=progress))
        if as_json:
            emit_json(report.as_dict())
            if report.failed:
                raise typer.Exit(1)
            return
        out.print(f"{report.run_id}: {report.done}/{report.total} done ({report.created} new, {report.failed} failed) "
                  f"in {report.seconds:.1f} s · ${report.usage.get('cost_usd', 0):.2f} · status {report.status}")
        for e in report.errors:
            console.print(e, style="yellow", markup=False, highlight=False)
        if report.status not in ("done", "waiting"):
            console.print("[dim]run the same command again to finish the missing slots[/dim]")
        if report.failed:  # scripts must see that slots failed (the run resumes where it stopped)
            raise typer.Exit(1)

    @app.command()
    def mine(ctx: typer.Context, no_llm: bool = typer.Option(False, "--no-llm", help="Never call the LLM."),
             as_json: bool = typer.Option(False, "--json")) -> None:
        """Mine authentic examples and branch preference pairs from the imports (as pending)."""
        from agent.miner import mine as run_mine

        sv = services(ctx)
        llm = None if no_llm or sv.settings.llm_provider == "none" else sv.llm
        report = asyncio.run(run_mine(sv.store, list(sv.settings.domains), llm=llm, on_saved=sv.embed_cache.warm))
        if as_json:
            emit_json(report.as_dict())
            return
        out.print(f"mined {len(report.asked)} answers to the assistant's questions, {len(report.views)} "
                  f"volunteered views, {len(report.pairs)} branch pairs; {report.created_examples} new examples, "
                  f"{report.created_pairs} new pairs (pending review)")
