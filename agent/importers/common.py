"""Helpers shared by the vendor parsers: timestamps, tallies of what was skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class Tally:
    """What a parse skipped and warned about; summed into the import summary."""

    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    bytes_read: Any = None  # the reader of the file being parsed (for byte progress)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def warn(self, text: str) -> None:
        if len(self.warnings) < 200:  # a broken export must not flood the summary
            self.warnings.append(text)


def parse_time(value: Any) -> datetime | None:
    """Epoch seconds (ChatGPT) or ISO 8601 with Z / +00:00 (Claude); None when absent or bad."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, float)) or hasattr(value, "as_integer_ratio"):
            return datetime.fromtimestamp(float(value), tz=UTC)
        s = str(value).strip()
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        dt = datetime.fromisoformat(s)
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None


# Exports are untrusted input: a field of the wrong type is read as absent, never raised on.
def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else {}."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a JSON array, else []."""
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str:
    """`value` if it is a string, else ""."""
    return value if isinstance(value, str) else ""


def as_id(value: Any) -> str:
    """Read an id field as text: strings and integers (never booleans, objects or floats)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def as_size(value: Any) -> int | None:
    """Read a byte size: a non-negative integer, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value < 1 << 62:
        return value
    if isinstance(value, float) and value.is_integer() and 0 <= value < 2**62:
        return int(value)
    return None
