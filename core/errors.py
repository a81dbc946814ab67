"""Domain errors; the CLI and the app translate them into one clear line each.

Every error names the cause in its message. Where a next step exists it goes in `hint`, kept
apart from the cause because the next step differs by surface: the CLI prints the hint (a
command to run), the app shows its own next step (a button to press) and never a CLI flag.
`--json` prints `{"error": message, "hint": hint}`.
"""

from __future__ import annotations


class IdiolectError(Exception):
    """Base of every error idiolect raises on purpose.

    `hint` (keyword) is the next step on the command line; a subclass may set a default.
    """

    hint: str | None = None

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        if hint is not None:
            self.hint = hint


class ImportFailed(IdiolectError):
    """An export could not be read. The message names the file and, where known, the position."""

    def __init__(self, path: str, reason: str, position: str | None = None) -> None:
        self.path = path
        self.reason = reason
        self.position = position
        where = f"{path}{f' at {position}' if position else ''}"
        super().__init__(f"{where}: {reason}")


class ConfigError(IdiolectError):
    """A setting is missing or invalid."""


class EgressRefused(IdiolectError):
    """`local_only` refused an endpoint outside the owner's machines."""

    hint = "point the setting at a machine on your network, or set local_only = false in idiolect.toml"


class LLMError(IdiolectError):
    """An LLM provider failed: missing key, unreachable endpoint, rate limit, bad output."""


class NotFound(IdiolectError):
    """A record the caller named does not exist."""


class JobError(IdiolectError):
    """A training or serving job could not be started or failed."""

    hint = "see `idiolect jobs` for every job's status and log"


def hint_of(e: BaseException) -> str | None:
    """Return the error's CLI next step, if it has one."""
    return getattr(e, "hint", None)
