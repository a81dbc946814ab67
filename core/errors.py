"""Domain errors; the CLI and the app translate them into one clear line each."""

from __future__ import annotations


class IdiolectError(Exception):
    """Base of every error idiolect raises on purpose."""


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


class LLMError(IdiolectError):
    """An LLM provider failed: missing key, unreachable endpoint, rate limit, bad output."""


class NotFound(IdiolectError):
    """A record the caller named does not exist."""


class JobError(IdiolectError):
    """A training or serving job could not be started or failed."""
