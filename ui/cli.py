"""The `idiolect` command line. Feature commands live in ui/commands/, one module each.

Errors: a domain error (IdiolectError) prints `Error: <cause>` and, when there is a next step,
`Hint: <step>` on stderr, and exits 1. With `--json` anywhere after the command name every
failure (domain error, usage error, or a bug) prints ONE JSON object on stdout instead,
`{"error": "<cause>", "hint": "<next step>" | null}`, and exits non-zero (1, or 2 for usage
errors), so scripts read stdout the same way on success and on failure.

Heavy libraries (torch, chromadb, gradio, sklearn, langchain) are imported inside the
commands that use them, so `idiolect --help` and `status` stay fast.
"""

from __future__ import annotations

import json
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

import click
import typer
from typer.core import TyperGroup

import core  # noqa: F401  (telemetry off first)
from core.errors import IdiolectError, hint_of


def _wants_json(ctx: click.Context) -> bool:
    """Return True when `--json` was passed to the subcommand (the group holds its unparsed arguments)."""
    rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
    return "--json" in (rest[: rest.index("--")] if "--" in rest else rest)


def _command_path(group: click.Group, ctx: click.Context) -> str:
    """`idiolect CMD` or `idiolect GROUP CMD` for the command these arguments name (for hints)."""
    rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
    words = ["idiolect", *rest[:1]]
    sub = group.get_command(ctx, rest[0]) if rest else None
    if isinstance(sub, click.Group) and len(rest) > 1 and not rest[1].startswith("-"):
        words.append(rest[1])
    return " ".join(words)


def json_error(error: str, hint: str | None) -> None:
    """Print the one JSON error object on stdout."""
    click.echo(json.dumps({"error": error, "hint": hint}, ensure_ascii=False))


class _Group(TyperGroup):
    """Turns errors into one clear line (or one JSON object with `--json`) and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        as_json, path = _wants_json(ctx), _command_path(self, ctx)  # read before click consumes the arguments
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except IdiolectError as e:
            if as_json:
                json_error(str(e), hint_of(e))
            else:
                # Plain lines on stderr (no Rich panel: it wraps long paths across lines).
                click.echo(f"Error: {e}", err=True)
                if hint_of(e):
                    click.echo(f"Hint: {hint_of(e)}", err=True)
            ctx.exit(1)
        except click.ClickException as e:  # usage errors: unknown option, bad value, missing argument
            if not as_json:
                raise
            json_error(e.format_message(), f"see `{path} --help`")
            ctx.exit(e.exit_code)
        except Exception as e:  # a bug: with --json still one object; the traceback goes to stderr
            if not as_json:
                raise
            import traceback

            traceback.print_exc(file=sys.stderr)
            json_error(f"internal error: {type(e).__name__}: {e}",
                       "this is a bug in idiolect; the traceback is on stderr")
            ctx.exit(1)


def resolve_path(path: Path | str) -> Path:
    """Return an output or input path as the caller meant it: relative to their working directory, `~` expanded.

    Resolved at the CLI boundary because some work runs in subprocesses with another cwd.
    """
    return Path(path).expanduser().resolve()


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
    "ui.commands.profile",
    "ui.commands.agent",
    "ui.commands.examples",
    "ui.commands.dataset",
    "ui.commands.training",
    "ui.commands.arena",
    "ui.commands.eval",
]


def services(ctx: click.Context) -> Any:
    """Return the Services for this invocation (tests pass their own through `obj=`)."""
    root = ctx.find_root()
    if root.obj is None:
        from pydantic import ValidationError

        from core.config import Settings, default_home
        from core.errors import ConfigError
        from ui.services import Services

        try:
            settings = Settings()
        except ValidationError as e:
            where = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()[:3])
            raise ConfigError(f"invalid settings in {default_home() / 'idiolect.toml'} or IDIOLECT_* variables "
                              f"({where})", hint="fix that entry, or move the file aside to use the defaults") from None
        root.obj = Services(settings)
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
