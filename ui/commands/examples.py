"""`idiolect examples list | show | approve | reject | edit`: review the dataset from the terminal.

Ids are full ids or unique prefixes (the 8 characters `list` shows). `approve` and `reject`
take ids, or a filter (--status, --domain, --origin, --search) for a bulk action: the matching
count is shown and confirmed first (`--yes` skips the question; `--json` needs it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
out = Console()

STATUS_HELP = "Filter: pending, approved or rejected."
ORIGIN_HELP = "Filter: drafted, bulk, mined, gold or manual."
SEARCH_HELP = "Filter: text in the prompt, reasoning or response."


def _filter(status: str | None, domain: str | None, origin: str | None, search: str | None) -> Any:
    from ui.ops.review import Filter

    return Filter(status=status, domain=domain, origin=origin, search=search)


def row(e: Any) -> dict[str, Any]:
    """Return the short form of an example that `list --json` prints."""
    return {"id": e.id, "status": e.status.value, "origin": e.origin.value, "domain": e.domain,
            "overall": e.scores.overall, "prompt": e.prompt, "created_at": e.created_at.isoformat()}


def detail(store: Any, e: Any) -> dict[str, Any]:
    """Everything `show` prints: the texts, scores, readable sources and the edit log."""
    from ui.ops.review import sources

    return {**e.model_dump(mode="json"), "sources": sources(store, e)}


def _print_detail(d: dict[str, Any]) -> None:
    from rich.panel import Panel

    def part(name: str, text: str) -> None:
        if text:
            out.print(Panel(text, title=name, title_align="left", expand=True), markup=False)

    out.print(f"[bold]{d['id']}[/bold]  {d['status']} · {d['domain']} · origin {d['origin']} · "
              f"overall {d['scores'].get('overall') or '-'}", highlight=False)
    part("prompt", d["prompt"])
    part("reasoning", d["reasoning"])
    part("response", d["response"])
    for s in d["sources"]:
        if s.get("missing"):
            out.print(f"[dim]source {s['message_id']}: no longer in the store[/dim]")
            continue
        out.print(f"[bold]source[/bold] “{s['conversation_title']}”, {s['date']} ({s['role']}, message "
                  f"{s['position']})", highlight=False)
        if s.get("answered"):
            out.print(f"  [dim]answering {s['answered']['role']}: {s['answered']['text'][-200:]!r}[/dim]",
                      highlight=False)
        out.print(f"  {s['text'][:600]}", markup=False, highlight=False)
    for ed in d["edits"]:
        changes = ", ".join(f"{v['before']} → {v['after']}" if k == "status" else f"edited {k}"
                            for k, v in (ed.get("changes") or {}).items())
        out.print(f"[dim]{str(ed.get('at', ''))[:16].replace('T', ' ')} {ed.get('by')}: {changes}[/dim]")


def _decide(sv: Any, action: str, ids: list[str], f: Any, yes: bool, as_json: bool) -> dict[str, Any]:
    """Resolve ids or the filter to examples, confirm a bulk action, apply it; the result summary."""
    from core.errors import ConfigError
    from ui.ops.review import matching, resolve_ids, set_status

    status = "approved" if action == "approve" else "rejected"
    if ids and not f.is_empty():
        raise ConfigError(f"give example ids or a filter to {action}, not both")
    if ids:
        targets = resolve_ids(sv.store, ids)
        scope = f"{len(targets)} example(s) by id"
    elif not f.is_empty():
        targets = [e.id for e in matching(sv.store, f)]
        scope = f"{len(targets)} example(s) matching {f.describe()}"
        if targets and not yes:
            if as_json:
                raise ConfigError(f"{scope}; nothing changed: a bulk {action} needs confirming",
                                  hint=f"add --yes to {action} them")
            typer.confirm(f"{action.capitalize()} {scope}?", abort=True, err=True)
    else:
        raise ConfigError(f"nothing to {action}: give example ids or a filter (--status, --domain, --origin, --search)",
                          hint=f"e.g. `idiolect examples {action} 3f2a9c1e` or "
                               f"`idiolect examples {action} --status pending --domain joinery --yes`")
    changed = set_status(sv.store, targets, status)
    return {"action": action, "status": status, "matched": len(targets), "changed": changed, "ids": targets,
            "scope": scope}


def register(app: typer.Typer) -> None:
    from ui.cli import emit_json, services

    ex = typer.Typer(help="Review examples: list, show, approve, reject, edit (ids or id prefixes).",
                     no_args_is_help=True)
    app.add_typer(ex, name="examples")

    @ex.command("list")
    def list_cmd(ctx: typer.Context,
                 status: str = typer.Option(None, "--status", help=STATUS_HELP),
                 domain: str = typer.Option(None, "--domain", help="Filter: a domain."),
                 origin: str = typer.Option(None, "--origin", help=ORIGIN_HELP),
                 search: str = typer.Option(None, "--search", help=SEARCH_HELP),
                 limit: int = typer.Option(20, help="At most this many (0: all)."),
                 counts: bool = typer.Option(False, "--counts", help="Only the counts by status, domain, origin."),
                 as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
        """List examples (newest first), or count them; shows how many are reviewed."""
        from ui.ops.review import matching, progress, progress_line

        sv = services(ctx)
        if counts:
            c = sv.store.examples.counts()
            if as_json:
                emit_json(c)
                return
            for group, vals in c.items():
                out.print(f"[bold]{group}[/bold] " + ", ".join(f"{k}: {v}" for k, v in sorted(vals.items())))
            return
        f = _filter(status, domain, origin, search)
        rows = matching(sv.store, f, limit=limit or None)
        prog = progress(sv.store)
        if as_json:
            emit_json({"progress": prog, "filter": f.describe(), "examples": [row(e) for e in rows]})
            return
        t = Table("id", "status", "origin", "domain", "overall", "prompt",
                  caption=f"{progress_line(prog)} · showing {len(rows)} ({f.describe()})")
        for e in rows:
            t.add_row(e.id[:8], e.status.value, e.origin.value, e.domain, str(e.scores.overall or "-"),
                      " ".join(e.prompt.split())[:70])
        out.print(t)

    @ex.command()
    def show(ctx: typer.Context, example_id: str = typer.Argument(..., metavar="ID", help="Id or id prefix."),
             as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
        """Show one example with its scores, source messages and edit log."""
        from ui.ops.review import resolve_id

        sv = services(ctx)
        d = detail(sv.store, sv.store.examples.get(resolve_id(sv.store, example_id)))
        if as_json:
            emit_json(d)
            return
        _print_detail(d)

    def status_command(action: str) -> None:
        @ex.command(action, help=f"{action.capitalize()} examples by id (or prefix), or every example matching "
                                 "a filter (asks first; --yes to skip).")
        def cmd(ctx: typer.Context,
                ids: list[str] = typer.Argument(None, metavar="[ID]...", help="Ids or id prefixes."),
                status: str = typer.Option(None, "--status", help=STATUS_HELP),
                domain: str = typer.Option(None, "--domain", help="Filter: a domain."),
                origin: str = typer.Option(None, "--origin", help=ORIGIN_HELP),
                search: str = typer.Option(None, "--search", help=SEARCH_HELP),
                yes: bool = typer.Option(False, "--yes", "-y", help="Apply a bulk action without asking."),
                as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
            from ui.ops.review import progress, progress_line

            sv = services(ctx)
            res = _decide(sv, action, list(ids or []), _filter(status, domain, origin, search), yes, as_json)
            res["progress"] = progress(sv.store)
            if as_json:
                emit_json(res)
                return
            out.print(f"{res['status'].capitalize()} {res['scope']} ({res['changed']} changed). "
                      f"{progress_line(res['progress'])}.", soft_wrap=True)

    status_command("approve")
    status_command("reject")

    @ex.command()
    def edit(ctx: typer.Context, example_id: str = typer.Argument(..., metavar="ID", help="Id or id prefix."),
             field: str = typer.Option("response", "--field", "-f",
                                       help="prompt, reasoning, response, system, domain or tags (comma-separated)."),
             text: str = typer.Option(None, "--text", help="The new text."),
             from_file: Path = typer.Option(None, "--from-file", help="Read the new text from this file ('-': stdin)."),
             as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
        """Replace one field of an example; the change is kept in its edit log."""
        from core.errors import ConfigError
        from ui.cli import resolve_path
        from ui.ops.review import edit as edit_field
        from ui.ops.review import resolve_id

        if (text is None) == (from_file is None):
            raise ConfigError("give the new text with exactly one of --text or --from-file")
        if from_file is not None:
            if str(from_file) == "-":
                text = typer.get_text_stream("stdin").read()
            else:
                src = resolve_path(from_file)
                if not src.is_file():
                    raise ConfigError(f"{src}: no such file")
                text = src.read_text(encoding="utf-8")
        sv = services(ctx)
        e = edit_field(sv.store, resolve_id(sv.store, example_id), field, str(text).rstrip("\n"))
        if as_json:
            emit_json(detail(sv.store, e))
            return
        out.print(f"Saved {field} of {e.id[:8]} ({len(e.edits)} edit(s) in its log).", soft_wrap=True)
