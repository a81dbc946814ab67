"""Reading snapshot files and writing run progress, without torch.

The training scripts validate their data here before importing torch, so a bad snapshot
fails in a second with a message naming the file and line, not after a minute of imports.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from core.errors import ConfigError
from core.jsonl import read_jsonl

ROLES = {"system", "user", "assistant"}
MANIFEST_NAMES = ("manifest.json", "snapshot.json")


def _check_messages(msgs: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(msgs, list) or not msgs:
        raise ConfigError(f"{where}: 'messages' must be a non-empty list")
    out = []
    for j, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ConfigError(f"{where}: message {j} needs role in {sorted(ROLES)} and string content")
        out.append({"role": m["role"], "content": m["content"]})
    if out[-1]["role"] != "assistant":
        raise ConfigError(f"{where}: the last message must be the assistant's (the trained answer)")
    return out


def load_sft_rows(snapshot: str | Path, split: str = "train") -> list[dict[str, Any]]:
    """`{"messages": [...]}` rows of `<snapshot>/<split>.jsonl`, validated."""
    path = Path(snapshot) / f"{split}.jsonl"
    rows = read_jsonl(path)
    return [{"messages": _check_messages(r.get("messages"), f"{path}:{i}")}
            for i, r in enumerate(rows, 1)]


def _as_turns(value: Any, role: str, where: str, key: str) -> list[dict[str, str]]:
    """Return A string or a list of messages -> a list of messages (TRL conversational format)."""
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        return [{"role": m.get("role", role), "content": str(m.get("content", ""))} for m in value]
    raise ConfigError(f"{where}: '{key}' must be a string or a list of messages")


def load_preference_rows(snapshot: str | Path) -> list[dict[str, Any]]:
    """Conversational DPO rows `{"id", "prompt", "chosen", "rejected"}` from preferences.jsonl.

    Accepts plain strings (prompt = the user turn, with an optional "system") or TRL's
    conversational lists, so both exporter styles train the same way.
    """
    path = Path(snapshot) / "preferences.jsonl"
    out = []
    for i, r in enumerate(read_jsonl(path), 1):
        where = f"{path}:{i}"
        for key in ("prompt", "chosen", "rejected"):
            if key not in r:
                raise ConfigError(f"{where}: missing '{key}'")
        prompt = _as_turns(r["prompt"], "user", where, "prompt")
        if isinstance(r.get("system"), str) and r["system"] and prompt[0]["role"] != "system":
            prompt = [{"role": "system", "content": r["system"]}, *prompt]
        out.append({
            "id": str(r.get("id") or i),
            "prompt": prompt,
            "chosen": _as_turns(r["chosen"], "assistant", where, "chosen"),
            "rejected": _as_turns(r["rejected"], "assistant", where, "rejected"),
        })
    if not out:
        raise ConfigError(f"{path}: no preference pairs")
    return out


def snapshot_identity(snapshot: str | Path, files: list[str]) -> dict[str, str | None]:
    """Return the snapshot's id (from its manifest, when present) and a sha256 of the files used."""
    root = Path(snapshot)
    h = hashlib.sha256()
    for name in files:
        f = root / name
        if f.exists():
            h.update(name.encode())
            h.update(f.read_bytes())
    snap_id = None
    for m in MANIFEST_NAMES:
        if (root / m).exists():
            try:
                snap_id = json.loads((root / m).read_text("utf-8")).get("id")
            except (json.JSONDecodeError, AttributeError):
                snap_id = None
            break
    return {"snapshot_id": snap_id, "snapshot_sha256": h.hexdigest()}


class ProgressWriter:
    """Appends progress events as JSON lines to a file (read by training/runs/jobs.py) and stdout.

    Events: {"event": "start", "total_steps"}, {"event": "log", "step", "loss", …},
    {"event": "eval", "step", "eval_loss"}, {"event": "done", "output", "metrics"},
    {"event": "ready", "url"} (serving), {"event": "interrupted", "step"},
    {"event": "threads", "step", "threads", "others", "cores"} (CPU threads changed, training/cpu_share.py).
    """

    def __init__(self, path: str | Path | None, echo: TextIO | None = sys.stdout) -> None:
        self.path = Path(path) if path else None
        self.echo = echo
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event (flushed at once: a crash must not lose the last step)."""
        line = json.dumps({"event": event, "time": time.time(), **fields}, default=str)
        if self.path:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        if self.echo is not None:
            self.echo.write(f"[progress] {line}\n")
            self.echo.flush()


def read_progress(path: str | Path) -> list[dict[str, Any]]:
    """Every complete event in a progress file (a half-written last line is skipped)."""
    p = Path(path)
    if not p.exists():
        return []
    events = []
    for line in p.read_text("utf-8", errors="replace").splitlines():
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(ev, dict):
            events.append(ev)
    return events


def throughput(events: list[dict[str, Any]]) -> dict[str, float | None]:
    """Training pace of the latest process: tokens per second and steps per minute, from its progress events.

    Counted from that process's "start" event (a resumed run starts past step 0), using the
    cumulative `num_tokens` TRL logs with each step. None where the events do not tell.
    """
    starts = [i for i, e in enumerate(events) if e.get("event") == "start" and "time" in e]
    if not starts:
        return {"tokens_per_second": None, "steps_per_minute": None}
    start = events[starts[-1]]
    logs = [e for e in events[starts[-1] + 1:] if e.get("event") == "log" and "time" in e and "step" in e]
    if not logs:
        return {"tokens_per_second": None, "steps_per_minute": None}
    t0, s0 = float(start["time"]), int(start.get("step") or 0)
    last = logs[-1]
    elapsed = float(last["time"]) - t0
    steps = int(last["step"]) - s0
    spm = steps * 60 / elapsed if elapsed > 0 and steps > 0 else None
    toks = [e for e in logs if isinstance(e.get("num_tokens"), int | float)]
    tps = None
    if toks and s0 == 0:  # num_tokens counts from this process's first step
        n, dt = float(toks[-1]["num_tokens"]), float(toks[-1]["time"]) - t0
        tps = n / dt if dt > 0 and n > 0 else None
    elif len(toks) >= 2:  # resumed: the difference between this process's own logs
        n = float(toks[-1]["num_tokens"]) - float(toks[0]["num_tokens"])
        dt = float(toks[-1]["time"]) - float(toks[0]["time"])
        tps = n / dt if dt > 0 and n > 0 else None
    return {"tokens_per_second": round(tps, 1) if tps else None, "steps_per_minute": round(spm, 2) if spm else None}
