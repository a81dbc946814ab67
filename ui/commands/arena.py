"""`idiolect arena stats | promote | prefs | rater …` and `idiolect retrain`: the arena's commands."""

from __future__ import annotations

import getpass
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ui.ops.arena import promote, summary

console = Console(stderr=True)
out = Console()


def _stats_tables(summary: dict[str, Any]) -> list[Any]:
    t = Table(title=f"Arena: {summary['votes']} votes, champion {summary['champion'] or 'none'}")
    for col in ("model", "rating", "95% interval", "votes"):
        t.add_column(col)
    for r in summary["leaderboard"]["ratings"]:
        t.add_row(r["model"], f"{r['rating']:.0f}", f"[{r['lower']:.0f}, {r['upper']:.0f}]", str(r["votes"]))
    lines = [f"SPRT: {s['summary']} (design fixed at the first look: p1 {s['design']['p1']}, "
             f"alpha {s['design']['alpha']}, beta {s['design']['beta']}, cap {s['design']['max_votes']} votes)"
             for s in summary["sprt"]] or ["SPRT: no champion-vs-challenger votes yet"]
    lines.append(summary["position_bias"]["summary"])
    return [t, "\n".join(lines)]


def register(app: typer.Typer) -> None:
    """Add the `arena` command group and `retrain` to the CLI."""
    from ui.cli import emit_json, services

    arena = typer.Typer(help="Blind A/B arena: statistics, promotion, preferences, rater accounts.",
                        no_args_is_help=True)
    raters = typer.Typer(help="Rater accounts (needed to serve the app beyond this machine).", no_args_is_help=True)
    arena.add_typer(raters, name="rater")
    app.add_typer(arena, name="arena")

    @arena.command("stats")
    def stats(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON."),
              rounds: int = typer.Option(1000, help="Bootstrap rounds (resampling prompts)."),
              seed: int = typer.Option(0, help="Bootstrap seed.")) -> None:
        """Ratings with intervals, win rates, vote counts, position bias and the sequential test.

        The test's design (arena_p1, arena_alpha, arena_beta, arena_max_votes settings) is fixed
        for each duel at its first look; it is shown, never changed, here.
        """
        sv = services(ctx)
        data = summary(sv.store, sv.settings, rounds=rounds, seed=seed)
        if json_out:
            emit_json(data)
            return
        for part in _stats_tables(data):
            out.print(part)

    @arena.command("promote")
    def promote_cmd(ctx: typer.Context, challenger: str = typer.Option(None, help="Default: the newest adapter."),
                    json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Make the challenger champion only if the sequential test says it is better."""
        sv = services(ctx)
        d = promote(sv.store, sv.settings, challenger=challenger)
        if json_out:
            emit_json(d)
            return
        out.print(("Promoted: " if d["promote"] else "Champion stays: ") + d["reason"])

    @arena.command("prefs")
    def prefs(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Turn votes into DPO pairs and written answers into gold examples (idempotent).

        With a retrain policy set (`idiolect retrain --every N`), this also starts the retrain
        job when the pairs make it due, exactly as a vote in the app would.
        """
        from training.dataset.preferences import convert_votes
        from training.runs.retrain import policy
        from ui.ops.retrain_trigger import RetrainTrigger

        sv = services(ctx)
        job = None
        if policy(sv.store):  # the trigger's first pass converts every vote, then applies the policy
            trigger = RetrainTrigger(sv.store, sv.settings, sv.scrubber.scrub, background=False)
            job = trigger.check()
            report = trigger.last_report
        else:
            report = convert_votes(sv.store, sv.scrubber.scrub)
        rep = {**report.as_dict(), "retrain_job": job.id if job is not None else None}
        if json_out:
            emit_json(rep)
            return
        out.print(f"{rep['votes']} votes: {rep['pairs_created']} new pairs ({rep['pairs_existing']} already stored), "
                  f"{rep['gold_created']} new gold examples; skipped {rep['skipped'] or 'none'}; "
                  f"{rep['redactions']} redactions")
        if job is not None:
            out.print(f"the retrain policy is due: started retrain job {job.id} (`idiolect jobs` to follow it)")

    @raters.command("add")
    def rater_add(ctx: typer.Context, name: str,
                  password: str = typer.Option(None, help="Prompted (hidden) when omitted.")) -> None:
        """Create or replace a rater account."""
        from ui.auth import add_rater

        pw = password or getpass.getpass(f"password for {name}: ")
        add_rater(services(ctx).settings.home, name, pw)
        out.print(f"rater {name} saved")

    @raters.command("init")
    def rater_init(ctx: typer.Context) -> None:
        """First start of a server: with no account yet, create "owner" and print its password once."""
        from ui.auth import ensure_owner_account

        if ensure_owner_account(services(ctx).settings.home, say=lambda line: typer.echo(line)) is None:
            typer.echo("idiolect: rater accounts exist; none created")

    @raters.command("remove")
    def rater_remove(ctx: typer.Context, name: str) -> None:
        """Delete a rater account."""
        from core.errors import NotFound
        from ui.auth import remove_rater

        if not remove_rater(services(ctx).settings.home, name):
            raise NotFound(f"no rater named {name!r}")
        out.print(f"rater {name} removed")

    @raters.command("list")
    def rater_list(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Rater account names (never passwords)."""
        from ui.auth import load_raters

        names = sorted(load_raters(services(ctx).settings.home))
        if json_out:
            emit_json({"raters": names})
        else:
            out.print("\n".join(names) or "no rater accounts (the app serves 127.0.0.1 only)")

    @app.command("retrain")
    def retrain_cmd(
        ctx: typer.Context,
        preset: str = typer.Option(None, help="Training preset name or YAML path; default: the train_preset setting."),
        base_model: str = typer.Option(None, help="Default: the champion's base model."),
        snapshot: str = typer.Option(None, help="Snapshot folder; default: the newest snapshot."),
        server_url: str = typer.Option(None, help="Server to hot-load into; default: the base model's endpoint."),
        min_pairs: int = typer.Option(1, help="Refuse to run with fewer arena preference pairs."),
        max_steps: int = typer.Option(None, help="Override the preset's steps (both stages)."),
        dpo: bool = typer.Option(True, "--dpo/--sft-only", help="Run the DPO stage on the preferences."),
        every: int = typer.Option(None, help="Instead of running: retrain automatically after N new pairs (0 = off)."),
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Votes -> pairs -> SFT (snapshot + gold) -> DPO -> voice-vN+1, hot-loaded and sent to the arena."""
        from dataclasses import asdict

        from training.runs.retrain import RetrainConfig, retrain, set_policy

        sv = services(ctx)
        cfg = RetrainConfig(preset=preset, base_model=base_model, snapshot=snapshot, server_url=server_url,
                            min_pairs=min_pairs, dpo=dpo, overrides={"max_steps": max_steps} if max_steps else {})
        if every is not None:
            # The other options become the automatic runs' settings (only those given).
            given = {k: v for k, v in asdict(cfg).items() if v != getattr(RetrainConfig(), k)}
            set_policy(sv.store, every or None, given)
            msg = {"policy": {"every": every or None, "config": given if every else {}}}
            emit_json(msg) if json_out else out.print(
                f"retrain automatically after every {every} new pairs (the app starts the job after a vote)"
                if every else "automatic retraining off")
            return
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, disable=json_out, transient=True) as bar:
            tasks: dict[str, Any] = {}

            def update(job: Any) -> None:
                if job.id not in tasks:
                    tasks[job.id] = bar.add_task(f"{job.kind} {job.id}", total=job.total_steps or None)
                bar.update(tasks[job.id], completed=job.step, total=job.total_steps or None)

            result = retrain(sv.store, sv.settings, sv.scrubber.scrub, cfg, on_update=update)
        if json_out:
            emit_json(result.as_dict())
            return
        out.print(f"[bold]{result.name}[/] trained from {result.train_rows} examples ({result.gold} gold) and "
                  f"{result.pairs} pairs; parent {result.parent or 'none'}; "
                  + (f"serving at {result.endpoint}; it meets the champion in the arena next."
                     if result.endpoint else "not loaded: no running server (start one with `idiolect serve`)."))
