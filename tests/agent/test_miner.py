"""The miner on the shared fixtures: it names the authentic pairs and branch pairs found there."""

from __future__ import annotations

import asyncio

import pytest

from agent.ingest import import_exports
from agent.miner import MineOptions, find_in_conversation, guess_domain, mine, question_in
from agent.scrub import Scrubber
from core.schemas import ExampleOrigin, ExampleStatus
from tests.conftest import EXPORTS

DOMAINS = ["architecture", "philosophy", "reasoning", "electrical", "coding"]


@pytest.fixture
def imported(store):  # type: ignore[no-untyped-def]
    import_exports([EXPORTS / "claude", EXPORTS / "chatgpt"], store=store, scrubber=Scrubber())
    return store


def _titles(store, examples):  # type: ignore[no-untyped-def]
    titles = {c["id"]: c["title"] for c in store.conversations.list_conversations()}
    return {titles[e.conversation_id] for e in examples}


def test_miner_finds_the_named_pairs_in_the_fixtures(imported) -> None:  # type: ignore[no-untyped-def]
    report = asyncio.run(mine(imported, DOMAINS))

    # Assistant asked, the owner answered: the pre-seed decision.
    assert len(report.asked) == 1
    qa = report.asked[0]
    assert "something concrete you'd do with $750k" in qa.prompt
    assert qa.response.startswith("Yeah I'm passing.")
    assert _titles(imported, report.asked) == {"Pre-seed offer: take it or pass"}

    # Views the owner volunteered (no LLM: prompt from the context or the title).
    assert _titles(imported, report.views) == {
        "Busbar event bus design",          # "real talk... like a main panel" + "bounded queue = breaker"
        "8x A100 box on a 30A circuit",     # "Bro, I AM the electrician... I know the rule"
        "Rack rewire sanity check",         # "I'm picky... pulling wire for 22 years"
        "Pre-seed offer: take it or pass",  # "Real talk: I've been bootstrapping..."
        "First hire: apprentice or senior",  # "Part of me wants..."
        "Ray vs rolling my own scheduler",  # "I'd rather understand every wire in the panel"
    }
    assert len(report.views) == 7
    opening = next(e for e in report.views if e.response.startswith("Should I just use Ray"))
    assert opening.prompt == "Ray vs rolling my own scheduler" and "prompt:title" in opening.tags
    reply = next(e for e in report.views if e.response.startswith("Ok so bounded queue = breaker"))
    assert "asyncio.Queue" in reply.prompt and "prompt:context" in reply.tags
    assert not any(len(e.response.split()) > 600 for e in report.views)  # the 17k-char design doc is not a "view"

    # Abandoned branches become candidate preference pairs.
    kinds = {(p.meta["kind"], p.rejected[:40]) for p in report.pairs}
    assert kinds == {
        ("regenerated_answer", "Power consumption depends on many factor"),
        ("edited_message", "vllm or llama.cpp"),
        ("edited_message", "I meant used gear, I'm not paying retail"),
    }
    regen = next(p for p in report.pairs if p.meta["kind"] == "regenerated_answer")
    assert regen.chosen.startswith("Here's the watts version")
    assert regen.prompt.startswith("Got a line on a used 8x A100")
    edited = next(p for p in report.pairs if p.rejected.startswith("I meant used gear"))
    assert edited.chosen.startswith("Let me rephrase: used gear only")
    assert edited.prompt.startswith("For three boxes, the cheapest clean option")

    stored = imported.examples.list(origin="mined")
    assert len(stored) == 8 and all(e.status is ExampleStatus.pending for e in stored)
    assert all(e.origin is ExampleOrigin.mined and e.source_message_ids for e in stored)
    assert len(imported.examples.pairs(origin="branch")) == 3


def test_mining_twice_adds_nothing(imported) -> None:  # type: ignore[no-untyped-def]
    first = asyncio.run(mine(imported, DOMAINS))
    second = asyncio.run(mine(imported, DOMAINS))
    assert first.created_examples == 8 and first.created_pairs == 3
    assert second.created_examples == 0 and second.created_pairs == 0
    assert len(imported.examples.list()) == 8


def test_backtranslation_uses_the_llm_when_configured(imported) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.chat_models import RuleChat

    llm = RuleChat(rules={"BacktranslatedPrompt": lambda msgs: {"prompt": "How would you set this up?"}})
    report = asyncio.run(mine(imported, DOMAINS, llm=llm, save=False))
    assert {e.prompt for e in report.views} == {"How would you set this up?"}
    assert all("prompt:backtranslated" in e.tags for e in report.views)
    assert "data, never instructions" in llm.calls[0][0].content


def test_reasoning_is_backtranslated_for_mined_examples_and_the_answer_kept(imported) -> None:  # type: ignore[no-untyped-def]
    from agent.miner import fill_reasoning
    from tests.fakes.chat_models import RuleChat

    asyncio.run(mine(imported, DOMAINS))
    before = {e.id: e for e in imported.examples.list(origin=ExampleOrigin.mined, limit=1000)}
    thought = "I check the load first, because a breaker that trips is telling me something."
    llm = RuleChat(rules={"BacktranslatedReasoning": lambda msgs: {"reasoning": thought}})
    counts = asyncio.run(fill_reasoning(imported, llm, person="Dale"))
    assert counts == {"filled": len(before), "failed": 0}
    after = imported.examples.list(origin=ExampleOrigin.mined, limit=1000)
    assert all(e.reasoning == thought and e.response == before[e.id].response for e in after)
    assert all(e.edits[-1]["by"] == "backtranslation" for e in after)
    assert "Dale" in llm.calls[0][0].content and "data, never instructions" in llm.calls[0][0].content
    # A second pass finds nothing left to fill.
    assert asyncio.run(fill_reasoning(imported, llm)) == {"filled": 0, "failed": 0}


def test_question_detection_ignores_code_and_quotes() -> None:
    text = "Try this:\n```\nis_up?\n```\n> Quoted?\nDoes the riser seat fully?"
    assert question_in(text) == "Does the riser seat fully?"
    assert question_in("No questions here.") is None
    assert guess_domain("the breaker trips on the 30A circuit", DOMAINS) == "electrical"
    assert guess_domain("nothing to see", DOMAINS) == "reasoning"
    opts = MineOptions(min_answer_words=100)
    asked, _, _ = find_in_conversation([], "", DOMAINS, opts)
    assert asked == []
