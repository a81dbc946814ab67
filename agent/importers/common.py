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
