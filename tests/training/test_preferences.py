"""Votes become DPO pairs and gold examples: winners, written answers, ties, both-bad, conflicts, scrubbing, dedup."""

from __future__ import annotations

from core.schemas import Battle, ExampleOrigin, ExampleStatus, Vote, VoteChoice
from training.dataset.preferences import arena_pairs, convert_votes, dpo_rows

SECRET = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"


def scrub(text: str) -> tuple[str, list[str]]:
    """The real scrubber when the agent package is here, so the wiring the app uses is tested."""
    from agent.scrub import Scrubber

    return Scrubber(allow=[], deny=["Acme Corp"]).scrub(text)


def battle(store, prompt: str, left: str, right: str, flags: list[str] | None = None) -> Battle:
    b = store.arena.create_battle(Battle(id="", prompt=prompt, left_model="voice-v1", right_model="base"))
    return store.arena.set_answers(b.id, left, right, flags or [])


def vote(store, b: Battle, choice: str, rater: str = "owner", written: str | None = None) -> Vote:
    return store.arena.add_vote(Vote(battle_id=b.id, rater=rater, choice=VoteChoice(choice),
                                     left_model=b.left_model, right_model=b.right_model, written_answer=written))


def test_each_vote_kind_becomes_the_documented_data(store) -> None:
    b1 = battle(store, "why self-host?", "Think of it like owning your tools.", "Certainly! Self-hosting offers...")
    vote(store, b1, "left")
    b2 = battle(store, "fuses?", "A fuse is a sacrificial weak link.", "Fuses protect circuits.")
    vote(store, b2, "right", written="It's the weak link you choose on purpose, so nothing else burns.")
    b3 = battle(store, "tie?", "one", "two")
    vote(store, b3, "tie")
    b4 = battle(store, "bad?", "meh", "worse")
    vote(store, b4, "both_bad")
    b5 = battle(store, "both bad but fixed", "meh", "worse")
    vote(store, b5, "both_bad", written="Here's how I'd actually say it.")

    rep = convert_votes(store, scrub)
    assert rep.votes == 5
    assert rep.skipped == {"tie": 1, "both bad, nothing written": 1}
    pairs = arena_pairs(store)
    got = {(p.battle_id, p.origin, p.chosen, p.rejected) for p in pairs}
    assert (b1.id, "vote", b1.left_answer, b1.right_answer) in got
    # Written answer: chosen against both shown answers; the decisive vote still counts too.
    written = "It's the weak link you choose on purpose, so nothing else burns."
    assert (b2.id, "vote", b2.right_answer, b2.left_answer) in got
    assert {(b2.id, "written", written, b2.left_answer), (b2.id, "written", written, b2.right_answer)} <= got
    assert sum(1 for p in pairs if p.battle_id == b5.id and p.origin == "written") == 2
    assert not any(p.battle_id in (b3.id, b4.id) for p in pairs)
    assert len(pairs) == rep.pairs_created == 6
    p1 = next(p for p in pairs if p.battle_id == b1.id)
    assert p1.meta["chosen_model"] == "voice-v1" and p1.meta["rejected_model"] == "base"
    gold = store.examples.list(origin=ExampleOrigin.gold)
    assert {g.response for g in gold} == {written, "Here's how I'd actually say it."}
    assert all(g.status == ExampleStatus.approved and "arena" in g.tags for g in gold)
    assert rep.gold_created == 2


def test_conversion_is_idempotent_and_only_adds_new(store) -> None:
    b = battle(store, "q", "good answer", "bad answer")
    vote(store, b, "left", written="my own answer")
    first = convert_votes(store, scrub)
    again = convert_votes(store, scrub)
    assert (again.pairs_created, again.gold_created) == (0, 0)
    assert again.pairs_existing == first.pairs_created == 3
    assert again.gold_existing == 1
    b2 = battle(store, "q2", "x answer", "y answer")
    vote(store, b2, "right")
    third = convert_votes(store, scrub)
    assert third.pairs_created == 1 and len(arena_pairs(store)) == 4


def test_pairs_are_scrubbed_before_storage(store) -> None:
    b = battle(store, f"my key is {SECRET}, at Acme Corp", f"use {SECRET} here", "no idea")
    vote(store, b, "left", written="Rotate it. Acme Corp should never see it.")
    rep = convert_votes(store, scrub)
    assert rep.redactions >= 4
    for p in arena_pairs(store):
        blob = p.prompt + p.chosen + p.rejected
        assert SECRET not in blob and "Acme Corp" not in blob
    for g in store.examples.list(origin=ExampleOrigin.gold):
        assert "Acme Corp" not in g.prompt + g.response and SECRET not in g.prompt


def test_disagreeing_raters_and_self_naming_winners_make_no_pair(store) -> None:
    b = battle(store, "q", "left answer", "right answer")
    vote(store, b, "left", rater="ann")
    vote(store, b, "right", rater="bob")
    flagged = battle(store, "q2", "As voice-v1, I say yes.", "no", flags=["names_own_model:left"])
    vote(store, flagged, "left")
    empty = battle(store, "q3", "", "something")
    vote(store, empty, "right")
    rep = convert_votes(store, scrub)
    assert rep.skipped == {"raters disagree": 2, "winner named its own model": 1, "empty answer": 1}
    assert arena_pairs(store) == []


def test_dpo_rows_are_trl_conversational_preference_rows(store) -> None:
    b = battle(store, "q", "chosen text", "rejected text")
    vote(store, b, "left")
    convert_votes(store, scrub)
    rows = dpo_rows(arena_pairs(store))
    assert rows[0]["prompt"] == [{"role": "user", "content": "q"}]
    assert rows[0]["chosen"] == [{"role": "assistant", "content": "chosen text"}]
    assert rows[0]["rejected"] == [{"role": "assistant", "content": "rejected text"}]
    assert rows[0]["battle_id"] == b.id
