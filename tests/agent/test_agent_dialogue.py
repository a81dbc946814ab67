"""The real drafting graph driven by a scripted chat model: a whole dialogue, and a restart."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent import prompts
from agent.graph import build_graph, open_graph, send
from agent.index import MessageIndex
from agent.ingest import import_exports
from agent.scrub import Scrubber
from core.schemas import ExampleOrigin, ExampleStatus
from tests.agent.dialogue import context_for, script
from tests.conftest import EXPORTS, REPO
from tests.fakes.chat_models import Invalid, ScriptedChat, tool_reply

THREAD = "thread-self-host"


@pytest.fixture
def indexed(services):  # type: ignore[no-untyped-def]
    index = MessageIndex(services.store, services.index, services.embedder)
    import_exports([EXPORTS / "claude", EXPORTS / "chatgpt"], store=services.store, scrubber=Scrubber(), index=index)
    return services.store, index


def test_whole_dialogue_saves_exactly_the_approved_examples_and_resumes_in_a_new_process(
        indexed, settings, no_network) -> None:  # type: ignore[no-untyped-def]
    store, index = indexed
    llm = ScriptedChat(script=script()[:3])

    async def start() -> dict:
        async with open_graph(settings.checkpoints_path) as graph:
            return await send(graph, THREAD, context_for(store, llm, index),
                              message="draft 3 examples on why I self-host, with my usual analogies")

    first = asyncio.run(start())
    review = first["review"]
    assert review["numbers"] == [1, 2, 3] and len(review["drafts"]) == 3
    card = review["drafts"][0]
    assert card["scores"]["voice"] == 8 and card["scores"]["overall"] == 8.0
    assert card["checks"]["reasoning_present"] and card["checks"]["analogy"] and not card["checks"]["assistant_isms"]
    assert len(card["sources"]) == 2 and all(s["text"] for s in card["sources"])  # sources one click away
    assert store.examples.list() == []  # nothing is saved before the owner decides
    # The retrieved messages went to the model as delimited data.
    assert re.search(r'<source-[0-9a-f]+ id="', llm.calls[1][-1].content)

    # A brand-new process picks the thread up from the SQLite checkpoint and continues it.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "agent" / "dialogue.py"), str(settings.home), THREAD, "3",
         "approve 1 and 3, make 2 more casual"],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    resumed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert resumed["found_pending"] == [1, 2, 3] and resumed["llm_calls"] == 2
    second = resumed["turns"][0]
    assert second["review"]["numbers"] == [2]
    revised = second["review"]["drafts"][0]
    assert revised["version"] == 2 and revised["prompt"] == "yo, why bother running your own boxes?"
    assert len(second["saved"]) == 2

    async def finish() -> dict:
        async with open_graph(settings.checkpoints_path) as graph:
            return await send(graph, THREAD, context_for(store, ScriptedChat(script=[])), resume="approve")

    done = asyncio.run(finish())
    assert done["review"] is None and "Saved 3 of 3" in done["reply"]

    saved = store.examples.list()
    assert len(saved) == 3 and len(done["saved"]) == 3
    assert {e.prompt for e in saved} == {"Why do you self-host, take 1?", "Why do you self-host, take 3?",
                                         "yo, why bother running your own boxes?"}
    for e in saved:
        assert e.status is ExampleStatus.approved and e.origin is ExampleOrigin.drafted
        assert e.model == "claude-sonnet-4-6" and e.prompt_version == prompts.PROMPT_VERSION and e.run_id == THREAD
        assert e.scores.voice == 8 and e.scores.checks["reasoning_present"]
        assert e.source_message_ids and all(store.conversations.message(m) for m in e.source_message_ids)
        assert e.conversation_id
    casual = next(e for e in saved if e.prompt.startswith("yo"))
    assert casual.edits[0]["kind"] == "revision" and casual.edits[0]["request"] == "make 2 more casual"
    assert casual.edits[0]["before"]["prompt"] == "Why do you self-host, take 2?"


def _graph():  # type: ignore[no-untyped-def]
    return build_graph().compile(checkpointer=InMemorySaver())


def test_edit_reject_and_unclear_replies(store) -> None:  # type: ignore[no-untyped-def]
    llm = ScriptedChat(script=script()[:3] + [tool_reply("Decision", {})])
    graph = _graph()
    ctx = context_for(store, llm)

    async def run() -> list[dict]:
        outs = [await send(graph, "t", ctx, message="three on self-hosting")]
        outs.append(await send(graph, "t", ctx, resume="hmm not sure"))  # nothing decided: asked again
        outs.append(await send(graph, "t", ctx, resume="approve 7"))  # no such draft: asked again
        outs.append(await send(graph, "t", ctx, resume="edit 2 response: Short and blunt, like me."))
        outs.append(await send(graph, "t", ctx, resume="approve 2, reject 1 and 3"))
        return outs

    outs = asyncio.run(run())
    assert "couldn't tell" in outs[1]["review"]["notice"]
    assert "no open draft 7" in outs[2]["review"]["notice"]
    assert outs[3]["review"]["drafts"][1]["response"] == "Short and blunt, like me."
    assert outs[4]["review"] is None
    [only] = store.examples.list()
    assert only.response == "Short and blunt, like me." and only.status is ExampleStatus.approved
    assert only.edits[0] == {**only.edits[0], "kind": "edit", "field": "response", "after": "Short and blunt, like me."}
    assert only.edits[0]["before"].startswith("I self-host because")
    # The free-form reply was interpreted from the owner's words alone: no draft or source text.
    interpret_prompt = llm.calls[3][-1].content
    assert "hmm not sure" in interpret_prompt and "self-host" not in interpret_prompt


def test_unusable_model_output_is_counted_not_raised(store) -> None:  # type: ignore[no-untyped-def]
    bad = tool_reply("DraftBatch", Invalid({"examples": []}))  # unusable on purpose
    llm = ScriptedChat(script=[script()[0], bad, bad])
    out = asyncio.run(send(_graph(), "t", context_for(store, llm), message="three on self-hosting"))
    assert out["review"] is None and "could not produce usable drafts" in out["reply"]
    assert store.examples.list() == []
