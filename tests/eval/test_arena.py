"""Battles against a fake OpenAI-compatible server: pairing, sides, parallel streams, flags, votes, reveal."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from core.errors import ConfigError, IdiolectError, NotFound
from core.schemas import Battle, ModelKind, ModelRecord, Vote, VoteChoice, utcnow
from core.store.arena import AlreadyVoted, ArenaStore
from eval.arena import (
    Arena,
    Contestant,
    OpenAIStreams,
    contestants_from_registry,
    mask_identities,
    names_itself,
    pick_pair,
    read_validation_prompts,
)
from tests.fakes.openai_chat import fake_openai

# The store, arena and load tests run on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends


def register(store, url: str, names=("tiny-base", "voice-v1", "voice-v2")) -> None:
    t0 = utcnow()
    for k, n in enumerate(names):
        kind = ModelKind.base if k == 0 else ModelKind.adapter
        store.registry.upsert_model(ModelRecord(name=n, kind=kind, base_model="/models/tiny-llama",
                                                endpoint=url, served_name=n, created_at=t0 + timedelta(seconds=k)))


def baseline_messages(prompt: str, *, style_card: str, examples: list[str]) -> list[dict[str, str]]:
    system = "Write like this person.\n" + style_card + "\nExamples:\n" + "\n".join(examples)
    return [{"role": "system", "content": system}, {"role": "user", "content": prompt}]


def test_store_votes_are_append_only_and_counted(store) -> None:
    arena: ArenaStore = store.arena
    b = arena.create_battle(Battle(id="", prompt="p", left_model="a", right_model="b"))
    v = arena.add_vote(Vote(battle_id=b.id, rater="ann", choice=VoteChoice.left, left_model="x",
                            right_model="y", latency_ms=120))
    # The models come from the battle row, never from the caller.
    assert (v.left_model, v.right_model, v.prompt) == ("a", "b", "p")
    with pytest.raises(AlreadyVoted):
        arena.add_vote(Vote(battle_id=b.id, rater="ann", choice=VoteChoice.right, left_model="a", right_model="b"))
    arena.add_vote(Vote(battle_id=b.id, rater="bob", choice=VoteChoice.tie, left_model="a", right_model="b"))
    with pytest.raises(NotFound):
        arena.add_vote(Vote(battle_id="nope", choice=VoteChoice.tie, left_model="a", right_model="b"))
    assert [x.rater for x in arena.votes()] == ["ann", "bob"]
    assert arena.pair_counts() == {("a", "b"): 2}
    assert arena.count_votes() == 2
    assert not any(hasattr(arena, m) for m in ("update_vote", "delete_vote", "set_vote"))
    with pytest.raises(ValueError, match="two different models"):
        arena.create_battle(Battle(id="", prompt="p", left_model="a", right_model="a"))


def contestant(name: str, kind: str, sec: int) -> Contestant:
    return Contestant(name=name, kind=kind, base_model="m", created_at=utcnow() + timedelta(seconds=sec))


def test_pairing_favours_champion_vs_newest_then_fewest_votes() -> None:
    cs = [contestant("base", "base", 0), contestant("voice-v1", "adapter", 1),
          contestant("voice-v2", "adapter", 2), contestant("prompting-baseline", "baseline", 3)]
    rng = random.Random(0)
    picks = Counter(pick_pair(cs, {}, "voice-v1", rng) for _ in range(400))
    assert 0.42 < picks[("voice-v1", "voice-v2")] / 400 < 0.65  # half forced, plus its share of the rest
    counts = {("base", "voice-v1"): 3, ("base", "voice-v2"): 3, ("base", "prompting-baseline"): 0,
              ("voice-v1", "voice-v2"): 9, ("prompting-baseline", "voice-v1"): 2, ("prompting-baseline", "voice-v2"): 1}
    rest = Counter(pick_pair(cs, counts, "voice-v1", random.Random(1), champion_share=0.0) for _ in range(20))
    assert set(rest) == {("base", "prompting-baseline")}
    # No champion yet: the base model is the one to beat, against the newest adapter.
    assert pick_pair(cs, {}, None, random.Random(2), champion_share=1.0) == ("base", "voice-v2")
    with pytest.raises(ConfigError, match="at least two served models"):
        pick_pair(cs[:1], {}, None, rng)


def test_identity_masking_and_self_naming_flags() -> None:
    c = Contestant(name="voice-v2", kind="adapter", base_model="Qwen/Qwen3-8B", served_name="voice-v2")
    base = Contestant(name="base", kind="base", base_model="Qwen/Qwen3-8B")
    assert names_itself("As Voice-V2, I think so.", c)
    assert not names_itself("The voice version 2 of this is fine; base camp.", c)
    assert not names_itself("the base of the tower", base)  # plain words are not identities
    text = mask_identities("I am voice-v2 built on Qwen3-8B (Qwen/Qwen3-8B).", [c, base])
    assert "voice-v2" not in text.lower() and "qwen" not in text.lower()
    assert text.count("[model]") == 3


def test_battle_streams_both_sides_in_parallel_and_reveals_after_vote(store) -> None:
    answers = {"tiny-base": "Certainly! Here is a comprehensive overview of the topic at hand today.",
               "voice-v1": "Think of it like a river: everything downstream drinks from it, honestly.",
               "voice-v2": "I am voice-v2 and I say measure twice, pull wire once, every single time."}
    with fake_openai(answers, chunk_delay=0.01) as srv:
        register(store, srv.url)
        arena = Arena(store, OpenAIStreams(), champion=lambda: "voice-v1", seed=4, champion_share=1.0)
        battle = arena.new_battle(rater="ann", source="golden")
        assert {battle.left_model, battle.right_model} == {"voice-v1", "voice-v2"}
        frames = list(arena.stream_answers(battle.id))
        # Parallel: some frame shows both answers partly written before either one is complete.
        final_l, final_r = frames[-1]
        assert any(0 < len(lft) < len(final_l) and 0 < len(rgt) < len(final_r) for lft, rgt in frames)
        # voice-v2 named itself: masked on screen, flagged on the battle.
        assert all("voice-v2" not in lft + rgt for lft, rgt in frames)
        stored = store.arena.battle(battle.id)
        side = "left" if stored.left_model == "voice-v2" else "right"
        assert stored.flags == [f"names_own_model:{side}"]
        assert "I am voice-v2" in (stored.left_answer if side == "left" else stored.right_answer)
        public = arena.public_battle(battle.id)
        assert "voice-v" not in json.dumps(public)
        reveal = arena.vote(battle.id, "left", rater="ann", latency_ms=900)
        assert (reveal.left_model, reveal.right_model) == (stored.left_model, stored.right_model)
        assert reveal.winner == stored.left_model
        assert stored.left_model in reveal.describe() and "Flagged" in reveal.describe()
        vote = store.arena.votes()[0]
        assert (vote.rater, vote.latency_ms, vote.choice) == ("ann", 900, VoteChoice.left)
        with pytest.raises(ConfigError, match="not one of"):
            arena.vote(battle.id, "sideways", rater="bob")


def test_sides_are_randomised_and_pairs_spread(store) -> None:
    with fake_openai() as srv:
        register(store, srv.url)
        arena = Arena(store, OpenAIStreams(), champion=lambda: "voice-v1", seed=9)
        battles = [arena.new_battle(source="typed", prompt=f"question {i}") for i in range(200)]
    left = Counter(b.left_model for b in battles)
    pairs = Counter(tuple(sorted((b.left_model, b.right_model))) for b in battles)
    v1_left = sum(1 for b in battles if b.left_model == "voice-v1")
    v1_total = sum(1 for b in battles if "voice-v1" in (b.left_model, b.right_model))
    assert 0.35 < v1_left / v1_total < 0.65
    assert len(pairs) >= 3 and len(left) == 4  # every contestant, the derived baseline included
    assert all(b.prompt_source == "typed" for b in battles)


def test_baseline_gets_style_card_and_retrieved_examples(store) -> None:
    with fake_openai() as srv:
        register(store, srv.url, names=("tiny-base", "voice-v1"))
        cs = contestants_from_registry(store)
        assert [c.name for c in cs][-1] == "prompting-baseline"
        seen: list[str] = []

        def retrieve(q: str) -> list[str]:
            seen.append(q)
            return ["Measure twice, pull wire once."]

        arena = Arena(store, OpenAIStreams(), style_card=lambda: "Blunt. Analogies.", retrieve=retrieve,
                      baseline_messages=baseline_messages,
                      contestants=lambda: [c for c in cs if c.name != "voice-v1"], seed=1)
        b = arena.new_battle(source="typed", prompt="why self-host?")
        list(arena.stream_answers(b.id))
        sys_msgs = [r["messages"][0]["content"] for r in srv.requests if r["messages"][0]["role"] == "system"]
        assert seen == ["why self-host?"]
        assert sys_msgs and "Blunt. Analogies." in sys_msgs[0] and "pull wire" in sys_msgs[0]
        # The baseline is the base model underneath: same served name, different prompt.
        assert {r["model"] for r in srv.requests} == {"tiny-base"}


def test_generation_failure_and_typed_prompt_errors_are_clear(store) -> None:
    with fake_openai(models=["tiny-base"]) as srv:  # voice-v1 is registered but not served
        register(store, srv.url, names=("tiny-base", "voice-v1"))
        arena = Arena(store, OpenAIStreams(), seed=0,
                      contestants=lambda: [c for c in contestants_from_registry(store) if c.kind != "baseline"])
        with pytest.raises(ConfigError, match="type a prompt"):
            arena.new_battle(source="typed", prompt="  ")
        b = arena.new_battle(source="typed", prompt="hello")
        with pytest.raises(IdiolectError, match="model failed"):
            list(arena.stream_answers(b.id))


def test_validation_prompts_from_a_snapshot_file(tmp_path: Path) -> None:
    f = tmp_path / "validation.jsonl"
    rows = [{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Why fuses?"},
                          {"role": "assistant", "content": "..."}]},
            {"prompt": [{"role": "user", "content": "Queue design?"}], "chosen": [], "rejected": []},
            {"prompt": "Plain prompt"}]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert read_validation_prompts(tmp_path) == ["Why fuses?", "Queue design?", "Plain prompt"]
    f.write_text('{"prompt": "ok"}\nnot json\n')
    with pytest.raises(ConfigError, match=r"validation.jsonl:2: not valid JSON"):
        read_validation_prompts(f)


def test_vote_latency_is_small_without_generation(store) -> None:
    """Smoke check of the vote path cost (the benchmark measures it properly)."""
    pair = [contestant("a", "base", 0), contestant("b", "adapter", 1)]
    arena = Arena(store, OpenAIStreams(), contestants=lambda: pair)
    ids = [arena.new_battle(source="typed", prompt=f"p{i}").id for i in range(20)]
    t = time.perf_counter()
    for i in ids:
        arena.vote(i, "right")
    assert store.arena.count_votes() == 20
    assert time.perf_counter() - t < 20  # generous: this box is shared; the number lives in the benchmark
