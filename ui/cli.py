"""The `idiolect` command line. Feature commands live in ui/commands/, one module each."""

from __future__ import annotations

import json
from importlib import import_module
from typing import Any

import click
import typer
from typer.core import TyperGroup

import core  # noqa: F401  (telemetry off first)
from core.errors import IdiolectError


class _Group(TyperGroup):
    """Turns domain errors into one clear line and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IdiolectError as e:
            # One plain line on stderr (no Rich panel: it wraps long paths across lines).
            click.echo(f"Error: {e}", err=True)
            ctx.exit(1)


app = typer.Typer(
    cls=_Group,
    help="idiolect: your chat history in, a model that sounds like you out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Each module defines `register(app)`; the order is the order of `idiolect --help`.
COMMAND_MODULES = [
    "ui.commands.start",
    "ui.commands.data",
    "ui.commands.agent",
    "ui.commands.dataset",
    "ui.commands.training",
    "ui.commands.arena",
    "ui.commands.eval",
]


def services(ctx: click.Context) -> Any:
    """Return the Services for this invocation (tests pass their own through `obj=`)."""
    root = ctx.find_root()
    if root.obj is None:
        from core.config import Settings
        from ui.services import Services

        root.obj = Services(Settings())
        root.call_on_close(root.obj.close)  # stops a local model server this command started
    return root.obj


def emit_json(data: Any) -> None:
    """Print one JSON object on stdout (for `--json`)."""
    typer.echo(json.dumps(data, default=str, ensure_ascii=False, indent=2))


for _name in COMMAND_MODULES:
    try:
        _mod = import_module(_name)
    except ModuleNotFoundError as _e:
        if _e.name != _name:  # a real missing dependency must fail loudly
            raise
        continue  # that feature is not in this build
    _mod.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
