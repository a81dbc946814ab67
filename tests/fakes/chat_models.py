"""LangChain fake chat models with `bind_tools`: scripted turns, or answers by requested schema.

Both record what was bound and check every tool call they reply with against the bound
tool's schema, as a provider's function calling would: a tool that was not bound, or
arguments the schema rejects, fail the test loudly. A test that means to send unusable
output (to exercise retries) wraps the arguments in `Invalid`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field, ValidationError

INVALID_MARK = "fake_invalid_on_purpose"


class Invalid(dict):
    """Tool arguments a test sends on purpose although the schema rejects them."""


def tool_reply(name: str, args: dict[str, Any]) -> AIMessage:
    """An AIMessage that calls `name` with `args`, as a provider would return it (`Invalid` args are marked)."""
    msg = AIMessage(content="", tool_calls=[{"name": name, "args": dict(args),
                                             "id": f"call_{uuid.uuid4().hex[:8]}", "type": "tool_call"}])
    if isinstance(args, Invalid):
        msg.additional_kwargs[INVALID_MARK] = True
    return msg


def tool_name(tool: Any) -> str:
    """The name a provider would know `tool` by."""
    return str(convert_to_openai_tool(tool)["function"]["name"])


def check_tool_calls(msg: AIMessage, tools: Sequence[Any]) -> None:
    """Fail loudly when `msg` calls a tool that is not bound or with arguments its schema rejects."""
    if not msg.tool_calls:
        return
    by_name = {tool_name(t): t for t in tools}
    for call in msg.tool_calls:
        if call["name"] not in by_name:
            raise AssertionError(f"the fake replied with tool {call['name']!r}, but only {sorted(by_name)} "
                                 f"were bound")
        tool = by_name[call["name"]]
        if msg.additional_kwargs.get(INVALID_MARK):
            continue
        if isinstance(tool, type) and issubclass(tool, BaseModel):
            try:
                tool.model_validate(call["args"])
            except ValidationError as e:
                raise AssertionError(f"scripted {call['name']} arguments do not fit the bound schema "
                                     f"(wrap them in Invalid if that is the point): {e}") from e
        else:
            params = convert_to_openai_tool(tool)["function"].get("parameters", {})
            missing = set(params.get("required", ())) - set(call["args"])
            unknown = set(call["args"]) - set(params.get("properties", {}))
            if missing or unknown:
                raise AssertionError(f"scripted {call['name']} arguments: missing {sorted(missing)}, "
                                     f"unknown {sorted(unknown)}")


Turn = AIMessage | Callable[[list[BaseMessage]], AIMessage]


class ScriptedChat(BaseChatModel):
    """Replies with the scripted turns in order (a turn may be a function of the prompt);
    records every prompt it was sent. Running past the script is a test failure."""

    script: list[Any]
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    bound: list[list[Any]] = Field(default_factory=list)  # the tools of every bind_tools call
    model: str = "scripted-fake"

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kw: Any) -> Any:
        self.bound.append(list(tools))
        if tool_choice and tool_choice not in ("auto", "required", "none"):
            assert tool_choice in {tool_name(t) for t in tools}, f"tool_choice {tool_choice!r} is not bound"
        return self.bind(fake_tools=tuple(tools))

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if len(self.calls) >= len(self.script):
            raise AssertionError(f"the script has only {len(self.script)} turns; call {len(self.calls) + 1} was "
                                 f"{str(messages[-1].content)[:200]!r}")
        turn = self.script[len(self.calls)]
        self.calls.append(list(messages))
        msg = turn(list(messages)) if callable(turn) else turn
        if msg.tool_calls:
            tools = kwargs.get("fake_tools")
            assert tools is not None, f"the script replied with tool calls {msg.tool_calls} but no tools were bound"
            check_tool_calls(msg, tools)
        return ChatResult(generations=[ChatGeneration(message=msg)])


Rule = Callable[[list[BaseMessage]], dict[str, Any]]


class RuleChat(BaseChatModel):
    """Answers a forced tool call with `rules[tool](messages)`; optional fixed latency."""

    rules: dict[str, Rule]
    latency: float = 0.0
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    bound: list[list[Any]] = Field(default_factory=list)  # the tools of every bind_tools call
    model: str = "rule-fake"

    @property
    def _llm_type(self) -> str:
        return "rule-fake"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kw: Any) -> Any:
        self.bound.append(list(tools))
        return self.bind(tool_choice=tool_choice, fake_tools=tuple(tools))

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> ChatResult:
        self.calls.append(list(messages))
        name = kwargs.get("tool_choice")
        msg = tool_reply(name, self.rules[name](messages)) if name in self.rules else AIMessage(content="ok")
        if msg.tool_calls:
            check_tool_calls(msg, kwargs.get("fake_tools") or ())
        msg.usage_metadata = {"input_tokens": sum(len(str(m.content)) for m in messages) // 4,
                              "output_tokens": 50, "total_tokens": 0}
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self.latency:
            time.sleep(self.latency)
        return self._reply(messages, kwargs)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._reply(messages, kwargs)
