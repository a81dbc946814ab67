"""`idiolect eval`: compare base, the prompting baseline and adapters on voice fidelity; write the gate."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.errors import ConfigError
from ui.ops.eval import draft_golden_prompts, run_evaluation, summary_rows

console = Console(stderr=True)
out = Console()


def _table(result: dict[str, Any]) -> Table:
    t = Table(title=f"Voice evaluation {result['id']} (ceiling: {result['base']})")
    cols = ["model", "vgc", "M1", "M2", "M3", "M4", "p_person", "auc_vs_person", "copied", "phrase_ratio",
            "M4m", "confusion", "rouge_l", "checks"]
    for c in cols:
        t.add_column(c, justify="left" if c == "model" else "right")
    for r in summary_rows(result):
        t.add_row(*("n/a" if r[c] is None else f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    return t


def run_eval_command(sv: Any, models: list[str], *, judge: bool, show_progress: bool, **options: Any) -> dict[str, Any]:
    """Run one evaluation (ui/ops/eval.py) with a Rich progress bar."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=not show_progress, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        return run_evaluation(sv, models, judge=judge, progress=progress, **options)


def _golden_commands(app: typer.Typer) -> None:
    from ui.cli import emit_json, services

    golden = typer.Typer(help="Golden prompts: the fixed questions every evaluation asks.", no_args_is_help=True)
    app.add_typer(golden, name="golden")

    def show(prompts: list[Any], as_json: bool, extra: dict[str, Any] | None = None) -> None:
        if as_json:
            emit_json({**(extra or {}), "prompts": [p.model_dump() for p in prompts]})
            return
        t = Table("id", "domain", "source", "prompt")
        for p in prompts:
            t.add_row((p.id or "")[:8], p.domain, p.source, p.prompt)
        out.print(t)

    @golden.command("list")
    def list_cmd(ctx: typer.Context,
                 as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
        """List the golden prompts (the first call seeds five, drafted from your topics when there are some)."""
        from eval.golden import golden_prompts

        show(golden_prompts(services(ctx).store), as_json)

    @golden.command()
    def draft(ctx: typer.Context, n: int = typer.Option(5, "--n", "-n", min=1, max=50, help="How many."),
              llm: bool = typer.Option(True, "--llm/--no-llm",
                                       help="Write them with the configured LLM (else templates over your topics)."),
              as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
        """Draft golden prompts from your own topics; they are added with source 'drafted' for you to edit."""
        res = draft_golden_prompts(services(ctx), n, use_llm=llm)
        if res["note"]:
            console.print(f"[yellow]{res['note']}[/yellow]")
        show(res["added"], as_json, {"how": res["how"], "note": res["note"]})
        if not as_json:
            console.print(f"[dim]{len(res['added'])} added ({res['how']}); edit them in the Eval tab or with "
                          "`idiolect golden add` / `delete`.[/dim]")

    @golden.command()
    def add(ctx: typer.Context, prompt: str = typer.Argument(..., help="The question."),
            domain: str = typer.Option("reasoning", help="Its domain."),
            as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
        """Add one golden prompt of your own."""
        from core.schemas import GoldenPrompt

        show([services(ctx).store.evals.add_golden(GoldenPrompt(prompt=prompt, domain=domain, source="owner"))],
             as_json)

    @golden.command()
    def delete(ctx: typer.Context, prompt_id: str = typer.Argument(..., metavar="ID", help="Id or id prefix."),
               as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
        """Delete one golden prompt."""
        from core.errors import NotFound

        store = services(ctx).store
        found = [p for p in store.evals.golden_prompts() if (p.id or "").startswith(prompt_id.strip())]
        if len(found) != 1:
            raise NotFound(f"{'no' if not found else 'more than one'} golden prompt with id {prompt_id!r}",
                           hint="`idiolect golden list` shows the ids")
        store.evals.delete_golden(found[0].id or "")
        if as_json:
            emit_json({"deleted": found[0].id})
        else:
            out.print(f"Deleted {found[0].id}.")


def register(app: typer.Typer) -> None:
    from ui.cli import emit_json, services

    _golden_commands(app)

    @app.command("eval")
    def eval_cmd(
        ctx: typer.Context,
        models: str = typer.Option("base", "--models", "-m",
                                   help="Comma-separated registry names; 'base' = the base model."),
        judge: bool = typer.Option(False, "--judge", help="Also run the LLM judges (G-Eval voice + pairwise)."),
        no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the prompting baseline."),
        max_heldout: int = typer.Option(60, help="Held-out real contexts to answer."),
        repeats: int = typer.Option(20, help="Split halves for the floors (small data runs more)."),
        seed: int = typer.Option(0, help="Random seed."),
        write_gate: str | None = typer.Option(None, "--write-gate", metavar="PATH",
                                              help="Write a release-gate pytest file for the first adapter and stop."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Offline voice metrics (and judges) for base, the prompting baseline and adapters; Markdown + HTML report."""
        names = [m.strip() for m in models.split(",") if m.strip()]
        if not names:
            raise ConfigError("--models needs at least one model name")
        if write_gate:
            from eval.release_gate import write_gate as write

            target = next((n for n in names if n != "base"), None)
            if target is None:
                raise ConfigError("--write-gate needs the adapter to gate in --models, e.g. --models base,voice-v1")
            from ui.cli import resolve_path

            path = write(resolve_path(write_gate), model=target)
            if as_json:
                emit_json({"gate": str(path), "model": target})
            else:
                out.print(f"Wrote {path}. Run: deepeval test run {path}  (or pytest {path})")
            return
        sv = services(ctx)
        result = run_eval_command(sv, names, judge=judge, show_progress=not as_json, include_baseline=not no_baseline,
                                  max_heldout=max_heldout, repeats=repeats, seed=seed)
        if as_json:
            emit_json({"id": result["id"], "models": result["models"], "base": result["base"],
                       "summary": summary_rows(result), "sanity_auc": result["voice"]["sanity_auc"],
                       "warnings": result["voice"]["warnings"], "judges": result.get("judges"),
                       "report": result["report"], "linked_models": result["linked_models"]})
            return
        out.print(_table(result))
        out.print(f"Classifier sanity AUC (person vs base): {result['voice']['sanity_auc']:.2f}")
        for w in result["voice"]["warnings"]:
            console.print(f"[yellow]caveat:[/yellow] {w}")
        out.print(f"Report: {result['report']['html']}")
