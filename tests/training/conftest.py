"""Training-test fixtures: the persona's (prompt, answer) pairs from the shared exports, and snapshots."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# tests/ on the path so `from fakes.vllm import FakeVLLM` works however pytest is invoked.
TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

EXPORTS = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "exports"

SYSTEM = "You are Dale."


def persona_pairs(max_chars: int = 400) -> list[tuple[str, str]]:
    """(what the assistant said, what the person answered) on each export's shown branch.

    The person's own words are the voice; the preceding assistant turn (or the title, for an
    opening message) is the prompt. Long pastes are cut: the tiny model has a short context.
    """
    pairs: list[tuple[str, str]] = []
    for conv in json.loads((EXPORTS / "claude" / "conversations.json").read_text("utf-8")):
        prev = conv.get("name") or "Hi"
        for m in conv.get("chat_messages", []):
            text = " ".join(b.get("text", "") for b in m.get("content") or [] if b.get("type") == "text")
            text = text.strip() or m.get("text", "").strip()
            if not text:
                continue
            if m.get("sender") == "human":
                pairs.append((prev[:max_chars], text[:max_chars]))
            prev = text
    for conv in json.loads((EXPORTS / "chatgpt" / "conversations.json").read_text("utf-8")):
        mapping = conv.get("mapping") or {}
        node_id = conv.get("current_node")
        chain = []
        while node_id:  # walk the shown branch from the leaf up
            node = mapping.get(node_id) or {}
            chain.append(node)
            node_id = node.get("parent")
        prev = conv.get("title") or "Hi"
        for node in reversed(chain):
            msg = node.get("message") or {}
            role = (msg.get("author") or {}).get("role")
            parts = [p for p in (msg.get("content") or {}).get("parts") or [] if isinstance(p, str)]
            text = " ".join(parts).strip()
            hidden = (msg.get("metadata") or {}).get("is_visually_hidden_from_conversation")
            if not text or role not in ("user", "assistant") or hidden:
                continue
            if role == "user":
                pairs.append((prev[:max_chars], text[:max_chars]))
            prev = text
    return pairs


def sft_rows(pairs: list[tuple[str, str]]) -> list[dict]:
    return [{"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": p},
                          {"role": "assistant", "content": a}]} for p, a in pairs]


def preference_rows(pairs: list[tuple[str, str]]) -> list[dict]:
    """Chosen = the person's answer; rejected = a generic assistant-style reply."""
    generic = "As an AI language model, I can certainly help with that. Here is a comprehensive overview."
    return [{"id": f"pref-{i}", "prompt": p, "system": SYSTEM, "chosen": a, "rejected": generic}
            for i, (p, a) in enumerate(pairs)]


def write_snapshot(root: Path, pairs: list[tuple[str, str]], *, n_val: int = 6) -> Path:
    """A snapshot directory in the dataset engineer's format."""
    root.mkdir(parents=True, exist_ok=True)
    rows = sft_rows(pairs)
    for name, part in (("train", rows[n_val:]), ("validation", rows[:n_val])):
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part), "utf-8")
    (root / "preferences.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in preference_rows(pairs)), "utf-8")
    (root / "manifest.json").write_text(json.dumps({"id": "snap-test-1", "version": 1}), "utf-8")
    return root


@pytest.fixture(scope="session")
def pairs() -> list[tuple[str, str]]:
    return persona_pairs()


@pytest.fixture(scope="session")
def snapshot_dir(tmp_path_factory: pytest.TempPathFactory, pairs: list[tuple[str, str]]) -> Path:
    return write_snapshot(tmp_path_factory.mktemp("snap") / "snapshot", pairs)
