"""The split keeps conversations whole, follows domain shares, and is deterministic for a seed."""

from __future__ import annotations

from collections import Counter

import pytest

from core.schemas import Example
from training.dataset.split import split_examples

DOMAINS = {"architecture": 30, "philosophy": 20, "reasoning": 30, "electrical": 10, "coding": 10}


def make_examples(n_conversations: int = 60) -> list[Example]:
    out = []
    i = 0
    for c in range(n_conversations):
        domain = list(DOMAINS)[c % len(DOMAINS)]
        for _ in range(1 + c % 4):  # 1-4 examples per conversation
            out.append(Example(id=f"ex-{i:04d}", prompt=f"q{i}", response=f"a{i}", reasoning="r",
                               domain=domain, conversation_id=f"conv-{c}"))
            i += 1
    for j in range(10):  # loose examples without a conversation
        out.append(Example(id=f"loose-{j}", prompt=f"lq{j}", response=f"la{j}", domain="coding"))
    return out


def test_no_conversation_on_both_sides() -> None:
    train, val = split_examples(make_examples(), validation_fraction=0.2, seed=3)
    train_convs = {e.conversation_id for e in train if e.conversation_id}
    val_convs = {e.conversation_id for e in val if e.conversation_id}
    assert train_convs and val_convs
    assert train_convs.isdisjoint(val_convs)
    assert len(train) + len(val) == len(make_examples())


def test_stratified_by_domain() -> None:
    exs = make_examples()
    train, val = split_examples(exs, validation_fraction=0.2, seed=1)
    totals = Counter(e.domain for e in exs)
    got = Counter(e.domain for e in val)
    for domain, total in totals.items():
        assert got[domain] >= 1, domain
        assert abs(got[domain] - 0.2 * total) <= 4, (domain, got[domain], total)  # whole conversations of <= 4


def test_same_seed_same_split_and_different_seed_differs() -> None:
    exs = make_examples()
    a = split_examples(exs, seed=5)
    b = split_examples(list(reversed(exs)), seed=5)  # input order must not matter
    assert [e.id for e in a[1]] == [e.id for e in b[1]]
    assert [e.id for e in a[0]] == [e.id for e in b[0]]
    c = split_examples(exs, seed=6)
    assert [e.id for e in a[1]] != [e.id for e in c[1]]


def test_edge_cases() -> None:
    one = [Example(id="x", prompt="p", response="r", conversation_id="c")]
    assert split_examples(one, validation_fraction=0.5) == (one, [])
    assert split_examples([], validation_fraction=0.1) == ([], [])
    train, val = split_examples(make_examples(), validation_fraction=0.0)
    assert val == []
    with pytest.raises(ValueError, match="validation_fraction"):
        split_examples(one, validation_fraction=1.0)
