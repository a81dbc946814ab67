"""Arena prompts: the owner's golden set (or a default list), held-out validation prompts, typed ones."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from core.errors import ConfigError
from core.jsonl import read_jsonl

if TYPE_CHECKING:
    from core.store import Store

PromptSource = Literal["golden", "validation", "typed"]

# Used when the owner has no golden set yet: one prompt per default domain, written so any
# voice (and any base model) has something to say.
DEFAULT_PROMPTS = [
    "Why would anyone bother self-hosting their own services instead of paying for the cloud?",
    "Explain what a circuit breaker actually protects, to someone who just bought a house.",
    "Is it ever rational to change your mind because an argument is persuasive but you can't find the flaw?",
    "How would you design a job queue that never loses work when the machine crashes mid-task?",
    "What's the first thing you check when a Python service gets slower every day?",
]


def golden_prompts(store: Store) -> list[str]:
    """Return the owner's golden prompts when the eval store has them, else the default list."""
    try:
        evals = store.evals
    except ImportError:  # the eval store is optional for the arena
        return list(DEFAULT_PROMPTS)
    for attr in ("golden_prompts", "list_golden", "golden"):
        fn = getattr(evals, attr, None)
        if callable(fn):
            rows = fn()
            prompts = [getattr(r, "prompt", r) for r in rows]
            prompts = [p for p in prompts if isinstance(p, str) and p.strip()]
            if prompts:
                return prompts
    return list(DEFAULT_PROMPTS)


def read_validation_prompts(path: str | Path) -> list[str]:
    """User turns of a snapshot's validation.jsonl (`messages` rows or `prompt` rows).

    Raises:
        ConfigError: the file is missing or a line is not JSON (naming the line).

    """
    p = Path(path)
    if p.is_dir():
        p = p / "validation.jsonl"
    if not p.exists():
        raise ConfigError(f"{p}: no validation split here")
    out: list[str] = []
    for row in read_jsonl(p):
        prompt = row.get("prompt")
        if isinstance(prompt, list):  # conversational preference rows
            row = {"messages": prompt}
            prompt = None
        if not isinstance(prompt, str):
            users = [m.get("content", "") for m in row.get("messages", []) if m.get("role") == "user"]
            prompt = users[-1] if users else None
        if prompt and prompt.strip():
            out.append(prompt.strip())
    return out


def validation_prompts(store: Store) -> list[str]:
    """Held-out prompts from the newest snapshot's validation split ([] when there is none)."""
    try:
        snaps = store.snapshots
    except ImportError:
        return []
    latest = getattr(snaps, "latest", None)
    snap = latest() if callable(latest) else None
    if snap is None:
        return []
    try:
        return read_validation_prompts(snap.path)
    except ConfigError:
        return []
