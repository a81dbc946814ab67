"""`idiolect profile`: the voice profile, the style card, topics and domain suggestions from your history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ui.ops.profile import current_profile, domain_suggestions

console = Console(stderr=True)
out = Console()


def _suggestion_table(rows: list[dict[str, Any]], current: dict[str, float]) -> Table:
    t = Table(title="Suggested domains (from your own conversations)",
              caption="current: " + ", ".join(f"{k} {v:g}%" for k, v in current.items()))
    for col in ("domain", "share", "keywords (word prefixes)", "for example"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["name"], f"{r['share']}%", ", ".join(r["keywords"]), "; ".join(r["conversations"][:2]))
    return t


def register(app: typer.Typer) -> None:
    from ui.cli import emit_json, services

    @app.command()
    def profile(
        ctx: typer.Context,
        refresh: bool = typer.Option(False, "--refresh", help="Recompute from the store."),
        card_file: Path = typer.Option(None, "--set-card", help="Replace the style card with this file's text."),
        suggest_domains: bool = typer.Option(False, "--suggest-domains",
                                             help="Suggest domains (keywords, shares) from your topics."),
        apply: bool = typer.Option(False, "--apply",
                                   help="With --suggest-domains: write them to idiolect.toml [domains] and "
                                        "[domain_keywords] (the rest of the file is kept)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Show your voice profile, topics and style card; suggest domains from your history."""
        from agent.profile import save_style_card
        from core.errors import ConfigError
        from ui.cli import resolve_path

        if apply and not suggest_domains:
            raise ConfigError("--apply goes with --suggest-domains", hint="idiolect profile --suggest-domains --apply")
        sv = services(ctx)
        if suggest_domains:
            from ui.ops.settings_file import apply_domains, env_overrides

            rows = domain_suggestions(sv, refresh=refresh)
            before = dict(sv.settings.domains)
            written = str(apply_domains(sv.settings, rows)) if apply else None
            if as_json:
                emit_json({"suggested": rows, "current": before, "applied": bool(written), "path": written,
                           "overridden_by": env_overrides()})
                return
            out.print(_suggestion_table(rows, before))
            if written:
                out.print(f"Wrote [domains] and [domain_keywords] to {written}.", highlight=False)
                for name in env_overrides():
                    console.print(f"[yellow]{name} is set in the environment and outranks the file.[/yellow]")
            else:
                console.print("[dim]Apply with `idiolect profile --suggest-domains --apply`, or edit "
                              "idiolect.toml yourself.[/dim]")
            return
        if card_file is not None:
            src = resolve_path(card_file)
            if not src.is_file():
                raise ConfigError(f"{src}: no such file")
            save_style_card(sv.store, src.read_text(encoding="utf-8"))
        prof = current_profile(sv, refresh=refresh)
        card = sv.store.kv.get("style_card") or {}
        if as_json:
            emit_json({"profile": prof, "style_card": card})
            return
        out.print(card.get("text", ""), markup=False)
        out.print(f"\n[dim]{prof.get('messages', 0)} messages profiled; card "
                  f"{'edited by you' if card.get('edited') else 'generated'}.[/dim]")
