"""Judges with a scripted judge model: both-order logic, ties on disagreement, counted no-verdicts."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from eval.judges import (
    ChatModelJudge,
    clean_references,
    combine_orders,
    judge_pairs,
    parse_choice,
    score_voice,
    voice_steps,
)


class RecordingChat(FakeListChatModel):
    """Scripted replies in order; remembers every prompt it was sent."""

    prompts: list[str] = []

    def invoke(self, input, *a, **kw):  # type: ignore[no-untyped-def, override]
        self.prompts.append(str(input))
        return super().invoke(input, *a, **kw)


def _judge(*replies: str) -> tuple[ChatModelJudge, RecordingChat]:
    chat = RecordingChat(responses=list(replies), prompts=[])
    return ChatModelJudge(chat, name="scripted"), chat


def test_parse_choice_reads_json_and_rejects_garbage() -> None:
    assert parse_choice('{"winner": "A", "reason": "x"}') == "A"
    assert parse_choice('```json\n{"winner": "b"}\n```') == "B"
    assert parse_choice('Sure! {"winner": "tie"}') == "tie"
    assert parse_choice("Reply A, obviously") is None
    assert parse_choice('{"winner": "C"}') is None
    assert parse_choice('{"winner": ') is None


@pytest.mark.parametrize(("first", "second", "outcome", "consistent"), [
    ("A", "B", "x", True),      # x shown first wins, and wins again when shown second
    ("B", "A", "y", True),
    ("A", "A", "tie", False),   # always picks the first slot: position bias, not preference
    ("B", "B", "tie", False),
    ("tie", "tie", "tie", True),
    ("A", "tie", "tie", False),
    (None, "A", "no_verdict", None),
    ("B", None, "no_verdict", None),
])
def test_both_orders_agree_or_tie(first, second, outcome, consistent) -> None:  # type: ignore[no-untyped-def]
    v = combine_orders(first, second)
    assert (v.outcome, v.consistent) == (outcome, consistent)


def test_judge_pairs_runs_both_orders_and_counts() -> None:
    judge, chat = _judge(
        '{"winner": "A"}', '{"winner": "B"}',   # item 1: x wins in both orders
        '{"winner": "A"}', '{"winner": "A"}',   # item 2: position bias -> tie
        "I cannot decide", '{"winner": "B"}',   # item 3: unparseable -> no verdict
        '{"winner": "B"}', '{"winner": "A"}',   # item 4: y wins in both orders
    )
    items = [(f"prompt {i}", f"X answer {i}", f"Y answer {i}") for i in range(4)]
    res = judge_pairs(judge, items, x="voice-v1", y="base", person="Dale", style_card="short, blunt",
                      references=["Measure twice, pull wire once."]).to_dict()
    assert (res["wins"], res["losses"], res["ties"], res["no_verdict"], res["inconsistent"]) == (1, 1, 1, 1, 1)
    assert res["position_consistency"] == pytest.approx(2 / 3)
    assert res["win_rate"] == pytest.approx(0.5)
    # order 1 shows x as Reply A, order 2 shows y as Reply A
    assert chat.prompts[0].index("X answer 0") < chat.prompts[0].index("Y answer 0")
    assert chat.prompts[1].index("Y answer 0") < chat.prompts[1].index("X answer 0")
    assert "Measure twice" in chat.prompts[0] and "short, blunt" in chat.prompts[0]


def test_geval_voice_scores_and_counts_unparseable() -> None:
    judge, chat = _judge('{"score": 8, "reason": "blunt, analogies"}', "no idea, sorry",
                         '```json\n{"score": 3, "reason": "bullets everywhere"}\n```', '{"reason": "no score"}')
    items = [("q1", "a1"), ("q2", "a2"), ("q3", "a3"), ("q4", "a4")]
    res = score_voice(judge, items, person="Dale", style_card="Short sentences. Electrical analogies.",
                      references=["Like a GFCI: if it's leaking, kill it."])
    assert res.scores == [8.0, None, 3.0, None]
    assert res.no_verdict == 2
    assert res.mean == pytest.approx(5.5)
    assert "GFCI" in chat.prompts[0] and "Electrical analogies" in chat.prompts[0]


def test_references_never_include_test_items() -> None:
    held = ["Reseated the riser, back to x16. And yeah I'll rotate the keys, don't nag me"]
    refs = clean_references(
        ["Reseated the riser, back to x16. And yeah I'll rotate the keys, don't nag me",
         "Postgres as the job queue with SKIP LOCKED.", "x" * 2000], held)
    assert refs == ["Postgres as the job queue with SKIP LOCKED.", "x" * 600]
    steps = voice_steps(person="Dale", style_card="", references=refs)
    assert not any("Reseated" in s for s in steps)


def test_a_judge_with_structured_output_is_asked_for_the_verdict_schema() -> None:
    """A chat model that binds tools (any provider, or our server's guided decoding) returns the
    verdict as the schema itself, so even a small local judge never yields an unreadable reply."""
    from tests.fakes.chat_models import RuleChat

    chat = RuleChat(rules={"PairChoice": lambda msgs: {"winner": "A", "reason": "sounds like her"}})
    result = judge_pairs(ChatModelJudge(chat, name="local"), [("q", "mine", "theirs")], x="voice-v1", y="base",
                         person="Rosa", style_card="", references=[]).to_dict()
    assert result["no_verdict"] == 0 and result["ties"] == 1  # "A" both times: the orders disagree
    assert len(chat.calls) == 2
