"""Anthropic Messages API as a LangChain chat model: prompt caching, streaming, Message Batches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import anthropic
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr, SecretStr

from core.llm import LLMError, LLMRateLimited, LLMUnreachable, cost_usd

EPHEMERAL = {"type": "ephemeral"}


def map_error(e: Exception, base_url: str) -> LLMError:
    """One clear domain error for an SDK failure."""
    if isinstance(e, anthropic.RateLimitError):
        return LLMRateLimited(f"Anthropic rate limit at {base_url} (429) after retries; "
                              "lower llm_concurrency or try again later")
    if isinstance(e, anthropic.AuthenticationError):
        return LLMError(f"Anthropic rejected the API key (401) at {base_url}; check IDIOLECT_ANTHROPIC_API_KEY")
    if isinstance(e, anthropic.APITimeoutError):  # it answered too slowly, it is not down: say so
        return LLMUnreachable(f"the Anthropic endpoint {base_url} timed out (no reply within the client's timeout)",
                              hint="try again, or lower llm_concurrency if many requests run at once")
    if isinstance(e, anthropic.APIConnectionError):
        return LLMUnreachable(f"cannot reach the Anthropic endpoint {base_url}: {e}")
    if isinstance(e, anthropic.APIStatusError):
        return LLMError(f"Anthropic error {e.status_code} at {base_url}: {e.message}")
    return LLMError(f"Anthropic call failed at {base_url}: {e}")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content or [])


def to_anthropic(messages: Sequence[BaseMessage], *,
                 cache: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, messages) in the API's shape.

    System messages are the stable prefix (instructions, style card, rubric): the last
    system block carries `cache_control`, so every call that shares that prefix reads it
    from the cache instead of paying for it again.
    """
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []

    def push(role: str, blocks: list[dict[str, Any]]) -> None:
        if out and out[-1]["role"] == role:  # the API wants alternating roles
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for m in messages:
        if isinstance(m, SystemMessage):
            system.append({"type": "text", "text": _text_of(m.content)})
        elif isinstance(m, AIMessage):
            blocks: list[dict[str, Any]] = []
            if _text_of(m.content):
                blocks.append({"type": "text", "text": _text_of(m.content)})
            for c in m.tool_calls:
                blocks.append({"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["args"]})
            push("assistant", blocks or [{"type": "text", "text": ""}])
        elif isinstance(m, ToolMessage):
            push("user", [{"type": "tool_result", "tool_use_id": m.tool_call_id,
                           "content": _text_of(m.content)}])
        else:
            push("user", [{"type": "text", "text": _text_of(m.content)}])
    if cache and system:
        system[-1]["cache_control"] = dict(EPHEMERAL)
    return system, out


def to_tool(tool: Any) -> dict[str, Any]:
    """Convert a pydantic class, function or dict to an Anthropic tool definition."""
    if isinstance(tool, dict) and "input_schema" in tool:
        return tool
    fn = convert_to_openai_tool(tool)["function"]
    return {"name": fn["name"], "description": fn.get("description", ""), "input_schema": fn["parameters"]}


def usage_metadata(usage: dict[str, Any]) -> dict[str, Any]:
    """LangChain usage (input tokens include cached ones) from the API's usage block."""
    read = int(usage.get("cache_read_input_tokens") or 0)
    write = int(usage.get("cache_creation_input_tokens") or 0)
    fresh = int(usage.get("input_tokens") or 0)
    out = int(usage.get("output_tokens") or 0)
    return {"input_tokens": fresh + read + write, "output_tokens": out,
            "total_tokens": fresh + read + write + out,
            "input_token_details": {"cache_read": read, "cache_creation": write}}


def message_from_api(data: dict[str, Any], *, batch: bool = False) -> AIMessage:
    """Build an AIMessage (text, tool calls, usage, cost) from an API message object."""
    text = "".join(b.get("text", "") for b in data.get("content", []) if b.get("type") == "text")
    calls = [{"name": b["name"], "args": b.get("input") or {}, "id": b["id"], "type": "tool_call"}
             for b in data.get("content", []) if b.get("type") == "tool_use"]
    usage = usage_metadata(data.get("usage") or {})
    return AIMessage(
        content=text, tool_calls=calls, usage_metadata=usage,  # type: ignore[arg-type]
        response_metadata={"model": data.get("model"), "stop_reason": data.get("stop_reason"),
                           "id": data.get("id"),
                           "cost_usd": cost_usd(data.get("model") or "", usage, batch=batch)},
    )


class AnthropicChat(BaseChatModel):
    """Claude through the Messages API, with the stable system prefix cached."""

    model: str
    api_key: SecretStr
    base_url: str = "https://api.anthropic.com"
    max_tokens: int = 4096
    temperature: float | None = None
    max_retries: int = 2
    timeout: float = 120.0
    cache_prefix: bool = True
    _sync: anthropic.Anthropic | None = PrivateAttr(default=None)
    _async: tuple[Any, anthropic.AsyncAnthropic] | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "idiolect-anthropic"

    def client(self) -> anthropic.Anthropic:
        """Return the sync SDK client (built once, on first use)."""
        if self._sync is None:
            self._sync = anthropic.Anthropic(api_key=self.api_key.get_secret_value(), base_url=self.base_url,
                                             max_retries=self.max_retries, timeout=self.timeout)
        return self._sync

    def aclient(self) -> anthropic.AsyncAnthropic:
        """Return the async SDK client (built once, on first use)."""
        # An async client is bound to the event loop it first ran on; the CLI runs one loop
        # per turn, so keep one client per loop.
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            self._async = (loop, anthropic.AsyncAnthropic(api_key=self.api_key.get_secret_value(),
                                                          base_url=self.base_url, max_retries=self.max_retries,
                                                          timeout=self.timeout))
        return self._async[1]

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any) -> Any:
        """Bind tools; `tool_choice` names one tool to force it ("any"/"auto" also accepted)."""
        formatted = [to_tool(t) for t in tools]
        choice: dict[str, Any] | None = None
        if tool_choice in ("any", "auto"):
            choice = {"type": tool_choice}
        elif tool_choice:
            choice = {"type": "tool", "name": tool_choice}
        return self.bind(tools=formatted, tool_choice=choice, **kwargs)

    def request_params(self, messages: Sequence[BaseMessage], stop: list[str] | None = None,
                       **kwargs: Any) -> dict[str, Any]:
        """Return the exact `messages.create` parameters for these messages (also used for batches)."""
        system, msgs = to_anthropic(messages, cache=self.cache_prefix)
        params: dict[str, Any] = {"model": self.model, "max_tokens": kwargs.get("max_tokens", self.max_tokens),
                                  "messages": msgs}
        if system:
            params["system"] = system
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if stop:
            params["stop_sequences"] = stop
        if kwargs.get("tools"):
            params["tools"] = kwargs["tools"]
            if kwargs.get("tool_choice"):
                params["tool_choice"] = kwargs["tool_choice"]
        return params

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        try:
            resp = self.client().messages.create(**self.request_params(messages, stop, **kwargs))
        except anthropic.AnthropicError as e:
            raise map_error(e, self.base_url) from e
        return ChatResult(generations=[ChatGeneration(message=message_from_api(resp.model_dump()))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        try:
            resp = await self.aclient().messages.create(**self.request_params(messages, stop, **kwargs))
        except anthropic.AnthropicError as e:
            raise map_error(e, self.base_url) from e
        return ChatResult(generations=[ChatGeneration(message=message_from_api(resp.model_dump()))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        acc = _StreamState(self.model)
        try:
            for event in self.client().messages.create(**self.request_params(messages, stop, **kwargs),
                                                        stream=True):
                chunk = acc.feed(event.model_dump())
                if chunk is not None:
                    yield chunk
        except anthropic.AnthropicError as e:
            raise map_error(e, self.base_url) from e
        yield acc.final()

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        acc = _StreamState(self.model)
        try:
            stream = await self.aclient().messages.create(**self.request_params(messages, stop, **kwargs),
                                                          stream=True)
            async for event in stream:
                chunk = acc.feed(event.model_dump())
                if chunk is not None:
                    yield chunk
        except anthropic.AnthropicError as e:
            raise map_error(e, self.base_url) from e
        yield acc.final()


class _StreamState:
    """Folds server-sent events into text chunks plus one closing chunk (tool calls, usage)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.usage: dict[str, Any] = {}
        self.tools: dict[int, dict[str, Any]] = {}
        self.stop_reason: str | None = None

    def feed(self, ev: dict[str, Any]) -> ChatGenerationChunk | None:
        kind = ev.get("type")
        if kind == "message_start":
            self.usage.update(ev["message"].get("usage") or {})
            self.model = ev["message"].get("model") or self.model
        elif kind == "content_block_start" and ev["content_block"]["type"] == "tool_use":
            b = ev["content_block"]
            self.tools[ev["index"]] = {"id": b["id"], "name": b["name"], "json": ""}
        elif kind == "content_block_delta":
            d = ev["delta"]
            if d["type"] == "text_delta":
                return ChatGenerationChunk(message=AIMessageChunk(content=d["text"]))
            if d["type"] == "input_json_delta":
                self.tools[ev["index"]]["json"] += d["partial_json"]
        elif kind == "message_delta":
            self.usage.update({k: v for k, v in (ev.get("usage") or {}).items() if v is not None})
            self.stop_reason = (ev.get("delta") or {}).get("stop_reason")
        return None

    def final(self) -> ChatGenerationChunk:
        usage = usage_metadata(self.usage)
        chunks = [{"name": t["name"], "args": t["json"] or "{}", "id": t["id"], "index": i, "type": "tool_call_chunk"}
                  for i, t in sorted(self.tools.items())]
        msg = AIMessageChunk(content="", tool_call_chunks=chunks, usage_metadata=usage,  # type: ignore[arg-type]
                             response_metadata={"model": self.model, "stop_reason": self.stop_reason,
                                                "cost_usd": cost_usd(self.model, usage)})
        return ChatGenerationChunk(message=msg)


# --------------------------------------------------------------------------- batches


class AnthropicBatches:
    """Message Batches: submit many requests at half price, poll, read results by custom id."""

    def __init__(self, chat: AnthropicChat) -> None:
        self.chat = chat

    def submit(self, requests: dict[str, dict[str, Any]]) -> str:
        """Create a batch from {custom_id: messages.create params}; returns the batch id."""
        try:
            batch = self.chat.client().messages.batches.create(
                requests=[{"custom_id": cid, "params": p} for cid, p in requests.items()])
        except anthropic.AnthropicError as e:
            raise map_error(e, self.chat.base_url) from e
        return batch.id

    def status(self, batch_id: str) -> dict[str, Any]:
        """Return the batch's processing status and request counts."""
        try:
            b = self.chat.client().messages.batches.retrieve(batch_id)
        except anthropic.AnthropicError as e:
            raise map_error(e, self.chat.base_url) from e
        return {"id": b.id, "status": b.processing_status, "counts": b.request_counts.model_dump()}

    def results(self, batch_id: str) -> dict[str, AIMessage | str]:
        """{custom_id: AIMessage} for successes, {custom_id: "errored: …"} for the rest."""
        out: dict[str, AIMessage | str] = {}
        try:
            for line in self.chat.client().messages.batches.results(batch_id):
                r = line.result
                if r.type == "succeeded":
                    out[line.custom_id] = message_from_api(r.message.model_dump(), batch=True)
                else:
                    detail = json.dumps(r.model_dump(), default=str)[:300]
                    out[line.custom_id] = f"{r.type}: {detail}"
        except anthropic.AnthropicError as e:
            raise map_error(e, self.chat.base_url) from e
        return out
