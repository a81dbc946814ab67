"""The fake chat models hold scripted tool calls to the bound schema, as real function calling would."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import HumanMessage

from agent.state import DraftBatch, RubricBatch
from core.llm import ainvoke_structured
from tests.fakes.chat_models import Invalid, RuleChat, ScriptedChat, tool_reply

GOOD = {"examples": [{"prompt": "Why self-host?", "reasoning": "He weighs control first.",
                      "response": "Because the landlord lives in the basement.", "domain": "coding"}]}


def _ask(llm, schema=DraftBatch):  # type: ignore[no-untyped-def]
    return asyncio.run(ainvoke_structured(llm, [HumanMessage("draft one")], schema, retries=0))


def test_bound_tools_are_recorded_and_a_fitting_reply_passes() -> None:
    llm = ScriptedChat(script=[tool_reply("DraftBatch", GOOD)])
    out = _ask(llm)
    assert out.value is not None and out.value.examples[0].prompt == "Why self-host?"
    assert llm.bound == [[DraftBatch]]


def test_a_reply_the_schema_rejects_fails_loudly() -> None:
    with pytest.raises(AssertionError, match="do not fit the bound schema"):
        _ask(ScriptedChat(script=[tool_reply("DraftBatch", {"examples": []})]))
    with pytest.raises(AssertionError, match="only \\['RubricBatch'\\] were bound"):
        _ask(ScriptedChat(script=[tool_reply("DraftBatch", GOOD)]), RubricBatch)
    with pytest.raises(AssertionError, match="do not fit the bound schema"):
        _ask(RuleChat(rules={"DraftBatch": lambda msgs: {"examples": [{"prompt": 3}]}}))


def test_invalid_on_purpose_reaches_the_code_under_test() -> None:
    out = _ask(ScriptedChat(script=[tool_reply("DraftBatch", Invalid({"examples": []}))]))
    assert out.value is None and "did not validate" in (out.error or "")
