"""Compact drafting (a small local model): rule-read requests, one short guided call per example."""

from __future__ import annotations

import asyncio

import pytest

from agent.compact import JUDGE_SKIPPED, plain_request
from agent.graph import open_graph, send
from agent.index import MessageIndex
from agent.ingest import import_exports
from agent.scrub import Scrubber
from core.schemas import ExampleStatus
from tests.conftest import EXPORTS

DOMAINS = ["reasoning", "coding", "homelab", "writing"]


@pytest.mark.parametrize(("text", "count", "topic", "domain"), [
    ("draft 3 examples on why I self-host, with my usual analogies", 3, "why I self-host, with my usual analogies",
     None),
    ("Write two short examples about homelab backups", 2, "homelab backups", "homelab"),
    ("give me 40 drafts about coding reviews", 10, "coding reviews", "coding"),  # capped at max_drafts
    ("how do I price a job?", 3, "how do I price a job", None),
])
def test_plain_request_reads_count_topic_and_domain_without_a_model(text, count, topic, domain) -> None:
    req = plain_request(text, DOMAINS, 10)
    assert (req.count, req.topic, req.domain) == (count, topic, domain)
    assert req.query == req.topic


def test_plain_request_labels_the_domain_by_the_owners_keywords() -> None:
    req = plain_request("draft 2 examples on pricing a dovetail job", ["joinery", "business"], 10,
                        {"joinery": ["dovetail"], "business": ["invoice"]})
    assert req.domain == "joinery"


def test_compact_dialogue_on_a_local_server_drafts_valid_examples_and_saves_the_approved(
        settings, embedder, tiny_model, no_network) -> None:  # type: ignore[no-untyped-def]
    from ui.ops.context import make_context
    from ui.services import Services

    local = settings.model_copy(update={"llm_provider": "local", "base_model": str(tiny_model),
                                        "draft_mode": "compact"})
    sv = Services(local, embedder=embedder)
    try:
        index = MessageIndex(sv.store, sv.index, sv.embedder)
        import_exports([EXPORTS / "claude"], store=sv.store, scrubber=Scrubber(), index=index)
        ctx = make_context(sv)
        assert ctx.compact and ctx.judge is None  # the drafting model does not judge itself

        async def turn(**kw):  # type: ignore[no-untyped-def]
            async with open_graph(local.checkpoints_path) as graph:
                return await send(graph, "compact", ctx, **kw)

        first = asyncio.run(turn(message="draft 2 examples about self-hosting"))
        review = first["review"]
        assert review is not None, first
        assert review["numbers"] == [1, 2], review.get("notice")
        for card in review["drafts"]:
            # Schema-valid through the server's grammar, even from a random-weight model.
            assert 8 <= len(card["prompt"]) <= 240 and 8 <= len(card["response"]) <= 800
            assert card["domain"] in local.domains
            assert card["scores"]["overall"] is None and card["checks"]["judge_skipped"] == JUDGE_SKIPPED
            assert len(card["sources"]) == 1  # each example was seeded with one of the owner's answers
        assert sv.store.examples.list() == []
        done = asyncio.run(turn(resume="approve 1, reject 2"))
        assert len(done["saved"]) == 1
        saved = sv.store.examples.get(done["saved"][0])
        assert saved.status == ExampleStatus.approved and saved.source_message_ids
        assert saved.prompt == review["drafts"][0]["prompt"]
    finally:
        sv.close()


def test_the_token_budget_lets_the_grammar_close_every_reply() -> None:
    from agent.compact import MAX_TOKENS, CompactItem

    props = CompactItem.model_json_schema()["properties"]
    # A token carries at least one character: the longest schema-valid reply fits the budget.
    longest = sum(p["maxLength"] for p in props.values()) + len('{"prompt":"","reasoning":"","response":""}')
    assert longest <= MAX_TOKENS


def test_a_reply_with_raw_newlines_in_a_string_is_read() -> None:
    from langchain_core.messages import AIMessage

    from core.llm import tool_args

    # llguidance's JSON grammar admits a raw newline inside a string; json.loads refuses it by default.
    reply = AIMessage('{"prompt":"How do you price it?","reasoning":"Timber first.\n\nThen hours.","response":"Bill."}')
    assert tool_args(reply, "CompactItem") == {"prompt": "How do you price it?",
                                                "reasoning": "Timber first.\n\nThen hours.", "response": "Bill."}
