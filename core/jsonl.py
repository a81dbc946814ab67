"""JSON-lines files read with errors that name the file and line (snapshots, exports, eval sets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import ConfigError


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Return the rows of a JSON-lines file; blank lines are skipped.

    Raises:
        ConfigError: the file is missing, or a line is not a JSON object (naming file and line).

    """
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}:{i}: not valid JSON ({e.msg})") from e
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{i}: each line must be a JSON object")
            rows.append(row)
    return rows
