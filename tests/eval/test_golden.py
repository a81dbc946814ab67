"""Golden prompts (seeded, editable, stored) and held-out contexts from snapshots and the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ConfigError, NotFound
from core.schemas import GoldenPrompt, Role, StoredMessage
from eval.golden import (
    DEFAULT_PROMPTS,
    find_snapshot,
    golden_items,
    golden_prompts,
    split_conversations,
    training_targets,
    validation_items,
)


def test_defaults_cover_the_domains_once_and_are_editable(store) -> None:  # type: ignore[no-untyped-def]
    prompts = golden_prompts(store)
    domains = ["architecture", "philosophy", "reasoning", "electrical", "coding"]
    assert sorted(p.domain for p in prompts) == sorted(domains)
    assert len(golden_prompts(store)) == 5  # seeding happens only once
    first = prompts[0]
    edited = store.evals.update_golden(first.id, prompt="How would you wire a shop for three CNC machines?")
    assert edited.source == "owner" and edited.domain == first.domain
    store.evals.delete_golden(prompts[1].id)
    added = store.evals.add_golden(GoldenPrompt(prompt="Tabs or spaces, and why?", domain="coding", source="owner"))
    texts = [p.prompt for p in golden_prompts(store)]
    assert "How would you wire a shop for three CNC machines?" in texts and added.prompt in texts and len(texts) == 5
    assert golden_items(golden_prompts(store))[0].messages[0]["role"] == "user"
    with pytest.raises(ConfigError, match="needs text"):
        store.evals.add_golden(GoldenPrompt(prompt="  ", domain="coding"))
    with pytest.raises(NotFound):
        store.evals.delete_golden("nope")
    assert all(p.source == "default" for p in DEFAULT_PROMPTS)


def test_validation_items_from_the_newest_snapshot(settings) -> None:  # type: ignore[no-untyped-def]
    snap = settings.snapshots_dir / "v3"
    snap.mkdir(parents=True)
    rows = [{"messages": [{"role": "system", "content": "You are Dale."},
                          {"role": "user", "content": "GPU 3 at x8?"},
                          {"role": "assistant", "content": "Reseat the riser. Always the riser."}],
             "domain": "electrical"},
            {"prompt": "Ray or not?", "response": "Not yet. Postgres is the queue."}]
    (snap / "validation.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", "utf-8")
    (snap / "train.jsonl").write_text(json.dumps(rows[0]) + "\n", "utf-8")
    assert find_snapshot(settings.snapshots_dir) == snap
    items = validation_items(snap)
    assert [i.reference for i in items] == ["Reseat the riser. Always the riser.", "Not yet. Postgres is the queue."]
    assert items[0].messages[-1] == {"role": "user", "content": "GPU 3 at x8?"} and items[0].domain == "electrical"
    assert items[1].prompt == "Ray or not?"
    assert training_targets(snap) == ["Reseat the riser. Always the riser."]
    (snap / "validation.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n', "utf-8")
    with pytest.raises(ConfigError, match="validation.jsonl:1"):
        validation_items(snap)


def _msg(conv: str, i: int, when: datetime) -> StoredMessage:
    return StoredMessage(id=f"{conv}-{i}", conversation_id=conv, parent_id=None, role=Role.person, text="t",
                         own_text="t", pasted_share=0.0, created_at=when, on_shown_branch=True, position=i)


def test_split_holds_out_the_newest_conversations() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    msgs = [_msg(f"c{k}", i, t0 + timedelta(days=k)) for k in range(10) for i in range(3)]
    train, test = split_conversations(msgs, test_share=0.2, min_test=4)
    assert test == {"c9", "c8"} and train == {f"c{k}" for k in range(8)}
    with pytest.raises(ConfigError, match="2 conversations"):
        split_conversations(msgs[:3])
