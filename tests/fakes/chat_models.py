"""LangChain fake chat models with `bind_tools`: scripted turns, or answers by requested schema."""

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
from pydantic import Field


def tool_reply(name: str, args: dict[str, Any]) -> AIMessage:
    """An AIMessage that calls `name` with `args`, as a provider would return it."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:8]}",
                                              "type": "tool_call"}])


Turn = AIMessage | Callable[[list[BaseMessage]], AIMessage]


class ScriptedChat(BaseChatModel):
    """Replies with the scripted turns in order (a turn may be a function of the prompt);
    records every prompt it was sent. Running past the script is a test failure."""

    script: list[Any]
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    model: str = "scripted-fake"

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kw: Any) -> Any:
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if len(self.calls) >= len(self.script):
            raise AssertionError(f"the script has only {len(self.script)} turns; call {len(self.calls) + 1} was "
                                 f"{str(messages[-1].content)[:200]!r}")
        turn = self.script[len(self.calls)]
        self.calls.append(list(messages))
        msg = turn(list(messages)) if callable(turn) else turn
        return ChatResult(generations=[ChatGeneration(message=msg)])


Rule = Callable[[list[BaseMessage]], dict[str, Any]]


class RuleChat(BaseChatModel):
    """Answers a forced tool call with `rules[tool](messages)`; optional fixed latency."""

    rules: dict[str, Rule]
    latency: float = 0.0
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    model: str = "rule-fake"

    @property
    def _llm_type(self) -> str:
        return "rule-fake"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kw: Any) -> Any:
        return self.bind(tool_choice=tool_choice)

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> ChatResult:
        self.calls.append(list(messages))
        name = kwargs.get("tool_choice")
        msg = tool_reply(name, self.rules[name](messages)) if name in self.rules else AIMessage(content="ok")
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
