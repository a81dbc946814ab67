"""Evaluation prompts: the owner's editable golden set and held-out real contexts.

Golden prompts are five questions, seeded once (drafted from the person's topics when the
profile has them) and then the owner's to edit; more can be drafted (eval/golden_drafts.py).
Held-out contexts come from the newest snapshot's validation split when there is one, else from
the newest conversations in the store (split by conversation, time-ordered, so no
held-out conversation ever fed training; voice-metrics §1).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from core.jsonl import read_jsonl
from core.schemas import GoldenPrompt, StoredMessage

if TYPE_CHECKING:
    from core.store import Store

DEFAULT_PROMPTS: tuple[GoldenPrompt, ...] = (
    GoldenPrompt(domain="architecture", source="default", prompt=(
        "I need a job queue for a handful of GPU machines. Walk me through what you'd build, "
        "which pieces you'd pick, and what you'd refuse to add.")),
    GoldenPrompt(domain="philosophy", source="default", prompt=(
        "Is it better to own your tools or rent them? Make the case the way you'd explain it "
        "to a friend over a beer.")),
    GoldenPrompt(domain="reasoning", source="default", prompt=(
        "A test passes on your machine and fails in CI about one run in five. How do you "
        "narrow it down, step by step?")),
    GoldenPrompt(domain="electrical", source="default", prompt=(
        "Why does a breaker trip, and how would you explain the difference between an "
        "overload and a short to someone new to the trade?")),
    GoldenPrompt(domain="coding", source="default", prompt=(
        "Review this: a retry loop that catches every exception and sleeps one second before "
        "trying again, forever. What would you change and why?")),
)

CONTEXT_CHARS = 4000  # long assistant turns are cut: the tail is what the person answered


@dataclass(frozen=True)
class EvalItem:
    """One thing every model answers: chat messages plus, for real contexts, the person's reply."""

    messages: list[dict[str, str]]
    domain: str = "reasoning"
    source: str = "golden"
    reference: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The last user turn (what a rater or judge sees as the question)."""
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""


def golden_prompts(store: Store, *, seed_defaults: bool = True) -> list[GoldenPrompt]:
    """Return the owner's golden prompts, seeding five the first time.

    The seeds are drafted from the person's own topics when the voice profile has them (so a
    woodworker is not asked about GPU queues), else the five generic defaults.
    """
    if seed_defaults and store.evals.count_golden() == 0:
        from eval.golden_drafts import template_drafts

        topics = (store.kv.get("voice_profile") or {}).get("topic_clusters") or []
        seeds = template_drafts(topics, 5, domains=[], keywords={}) or [p.model_copy() for p in DEFAULT_PROMPTS]
        store.evals.add_golden_many(seeds)
    return store.evals.golden_prompts()


def golden_items(prompts: Sequence[GoldenPrompt]) -> list[EvalItem]:
    return [EvalItem(messages=[{"role": "user", "content": p.prompt}], domain=p.domain, source="golden",
                     meta={"golden_id": p.id}) for p in prompts]


def find_snapshot(snapshots_dir: Path) -> Path | None:
    """Return the newest snapshot directory under `snapshots_dir` that has a validation.jsonl."""
    if not snapshots_dir.exists():
        return None
    found = [p.parent for p in snapshots_dir.glob("*/validation.jsonl")]
    return max(found, key=lambda d: (d / "validation.jsonl").stat().st_mtime) if found else None


def _split_row(row: dict[str, Any], where: str) -> tuple[list[dict[str, str]], str]:
    """(context messages, reply) of a `messages` row or a `prompt`/`response` row."""
    if isinstance(row.get("messages"), list):
        msgs = [{"role": str(m.get("role")), "content": str(m.get("content", ""))} for m in row["messages"]]
        if not msgs or msgs[-1]["role"] != "assistant":
            raise ConfigError(f"{where}: the last message must be the assistant's (the person's reply)")
        return msgs[:-1], msgs[-1]["content"]
    if isinstance(row.get("prompt"), str) and isinstance(row.get("response"), str):
        msgs = ([{"role": "system", "content": row["system"]}] if row.get("system") else [])
        return msgs + [{"role": "user", "content": row["prompt"]}], row["response"]
    raise ConfigError(f"{where}: expected a 'messages' list or 'prompt' and 'response' strings")


def validation_items(snapshot: Path, *, limit: int | None = None) -> list[EvalItem]:
    """Held-out contexts and real replies from `<snapshot>/validation.jsonl`."""
    path = snapshot / "validation.jsonl"
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    items = []
    for i, row in enumerate(read_jsonl(path), 1):
        context, reply = _split_row(row, f"{path}:{i}")
        if not reply.strip():
            continue
        items.append(EvalItem(messages=context, domain=str(row.get("domain") or "reasoning"),
                              source="validation", reference=reply, meta={"line": i}))
    return items[:limit] if limit else items


def training_targets(snapshot: Path) -> list[str]:
    """Return the trained replies of `<snapshot>/train.jsonl` (for the memorisation guard)."""
    path = snapshot / "train.jsonl"
    if not path.exists():
        return []
    return [reply for i, row in enumerate(read_jsonl(path), 1) for _, reply in [_split_row(row, f"{path}:{i}")]]


def _when(msgs: list[StoredMessage]) -> datetime:
    times = [m.created_at for m in msgs if m.created_at is not None]
    if not times:
        return datetime.min.replace(tzinfo=UTC)
    return min(t if t.tzinfo else t.replace(tzinfo=UTC) for t in times)


def split_conversations(messages: Sequence[StoredMessage], *, test_share: float = 0.2,
                        min_test: int = 4) -> tuple[set[str], set[str]]:
    """(train, test) conversation ids: the newest conversations hold out >= `test_share` of person messages.

    Args:
        messages: the person's stored messages.
        test_share: share of person messages to hold out (voice-metrics: the newest 10-20%).
        min_test: hold out at least this many messages, when there are enough to keep some.

    """
    by_conv: dict[str, list[StoredMessage]] = defaultdict(list)
    for m in messages:
        by_conv[m.conversation_id].append(m)
    if len(by_conv) < 2:
        raise ConfigError("held-out evaluation needs person messages from at least 2 conversations")
    order = sorted(by_conv, key=lambda c: (_when(by_conv[c]), c), reverse=True)
    want = max(min_test, round(test_share * len(messages)))
    test: set[str] = set()
    held = 0
    for conv in order[:-1]:  # always keep one conversation for training
        if held >= want:
            break
        test.add(conv)
        held += len(by_conv[conv])
    return set(by_conv) - test, test


def store_items(store: Store, test_conversations: set[str]) -> list[EvalItem]:
    """Held-out contexts from the store: each person reply with the assistant turn before it."""
    items = []
    for conv in sorted(test_conversations):
        msgs = store.conversations.messages_of(conv)
        for prev, cur in zip(msgs, msgs[1:], strict=False):
            text = (cur.own_text or cur.text).strip()
            if cur.role.value == "person" and prev.role.value == "assistant" and text and prev.text.strip():
                items.append(EvalItem(messages=[{"role": "user", "content": prev.text[-CONTEXT_CHARS:]}],
                                      source="heldout", reference=text,
                                      meta={"conversation_id": conv, "message_id": cur.id}))
    return items
