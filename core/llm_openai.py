"""Any OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server) as a LangChain chat model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal

import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

from core.llm import (
    LLMBadReply,
    LLMError,
    LLMRateLimited,
    LLMRequestTooLong,
    LLMTimeout,
    LLMUnreachable,
    cost_usd,
)


def map_error(e: Exception, base_url: str, *, timeout: float | None = None, retries: int | None = None) -> LLMError:
    """One clear domain error for an SDK failure."""
    if isinstance(e, openai.RateLimitError):
        return LLMRateLimited(f"rate limit at {base_url} (429) after retries; lower llm_concurrency")
    if isinstance(e, openai.AuthenticationError):
        return LLMError(f"{base_url} rejected the API key (401); check IDIOLECT_OPENAI_API_KEY")
    if isinstance(e, openai.APITimeoutError):  # before APIConnectionError, its parent
        return LLMTimeout(timeout_message(base_url, timeout, retries))
    if isinstance(e, openai.APIConnectionError):
        return LLMUnreachable(f"cannot reach the OpenAI-compatible endpoint {base_url}: is the server running?")
    if isinstance(e, openai.APIStatusError):
        return LLMError(f"error {e.status_code} from {base_url}: {e.message}")
    return LLMError(f"call to {base_url} failed: {e}")


def timeout_message(base_url: str, timeout: float | None, retries: int | None) -> str:
    """Say that a call timed out, and which settings decide how long it may take."""
    limit = f"{timeout:g} s" if timeout is not None else "the time limit"
    tries = f" on each of {retries + 1} attempts" if retries else ""
    return (f"{base_url} did not answer within {limit}{tries} (llm_timeout_s, llm_max_retries); the server is "
            "reachable but slow: raise IDIOLECT_LLM_TIMEOUT_S for a big local model, or check its load")


def bad_reply(base_url: str, detail: str) -> LLMBadReply:
    """Build the error for a reply that is not the API's JSON."""
    return LLMBadReply(f"{base_url} answered, but not with the API's JSON ({detail}); is a proxy or another "
                       "server listening there?")


def check_request_size(params: dict[str, Any], limit: int) -> None:
    """Refuse a prompt longer than `limit` characters before anything is sent."""
    n = len(json.dumps(params.get("messages", []), ensure_ascii=False)) + len(json.dumps(
        params.get("system", ""), ensure_ascii=False))
    if n > limit:
        raise LLMRequestTooLong(f"the request is {n:,} characters, over llm_max_request_chars={limit:,}; "
                                "shorten it, or raise IDIOLECT_LLM_MAX_REQUEST_CHARS if the model's context allows")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content or [])


def to_openai(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """LangChain messages as chat-completions messages."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if isinstance(m, SystemMessage):
            out.append({"role": "system", "content": _text(m.content)})
        elif isinstance(m, AIMessage):
            d: dict[str, Any] = {"role": "assistant", "content": _text(m.content) or None}
            if m.tool_calls:
                d["tool_calls"] = [{"id": c["id"], "type": "function",
                                    "function": {"name": c["name"], "arguments": json.dumps(c["args"])}}
                                   for c in m.tool_calls]
            out.append(d)
        elif isinstance(m, ToolMessage):
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": _text(m.content)})
        elif isinstance(m, HumanMessage):
            out.append({"role": "user", "content": _text(m.content)})
        else:
            out.append({"role": "user", "content": _text(m.content)})
    return out


def usage_metadata(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """LangChain usage from the API's usage block (prefix-cache hits where the server reports them)."""
    if not usage:
        return None
    cached = int(((usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0)
    p, c = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {"input_tokens": p, "output_tokens": c, "total_tokens": p + c,
            "input_token_details": {"cache_read": cached}}


class OpenAICompatChat(BaseChatModel):
    """An OpenAI-compatible chat endpoint by base URL and model name.

    `structured="json_schema"` (the default) turns a forced single tool into
    `response_format={"type": "json_schema"}`: vLLM, Ollama and llama.cpp all enforce a JSON
    schema with guided decoding out of the box, while tool calling on vLLM needs extra
    server flags (`--enable-auto-tool-choice --tool-call-parser`). "tools" sends real tools.
    """

    model: str
    base_url: str
    api_key: str = "not-needed"
    max_tokens: int | None = 4096  # None: the server's default (vLLM and ours: what the context leaves)
    temperature: float | None = None
    max_retries: int = 2
    timeout: float = 120.0
    max_request_chars: int = 60_000
    structured: Literal["json_schema", "tools"] = "json_schema"
    _sync: openai.OpenAI | None = PrivateAttr(default=None)
    _async: tuple[Any, openai.AsyncOpenAI] | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "idiolect-openai-compatible"

    def client(self) -> openai.OpenAI:
        """Return the sync SDK client (built once)."""
        if self._sync is None:
            self._sync = openai.OpenAI(base_url=self.base_url, api_key=self.api_key,
                                       max_retries=self.max_retries, timeout=self.timeout)
        return self._sync

    def aclient(self) -> openai.AsyncOpenAI:
        """Return the async SDK client (built once)."""
        # An async client is bound to the event loop it first ran on; the CLI runs one loop
        # per turn, so keep one client per loop.
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            self._async = (loop, openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key,
                                                    max_retries=self.max_retries, timeout=self.timeout))
        return self._async[1]

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any) -> Any:
        """Bind tools; `tool_choice` names one tool to force it ("auto"/"required" also accepted)."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _forced_schema(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """Return the single forced tool to send as a JSON schema instead, if that mode applies."""
        tools, choice = kwargs.get("tools") or [], kwargs.get("tool_choice")
        if self.structured != "json_schema" or not choice or choice in ("auto", "required", "none"):
            return None
        return next((t["function"] for t in tools if t["function"]["name"] == choice), None)

    def request_params(self, messages: Sequence[BaseMessage], stop: list[str] | None = None,
                       **kwargs: Any) -> dict[str, Any]:
        """Return the exact `chat.completions.create` parameters."""
        params: dict[str, Any] = {"model": self.model, "messages": to_openai(messages)}
        if kwargs.get("max_tokens", self.max_tokens) is not None:
            params["max_tokens"] = kwargs.get("max_tokens", self.max_tokens)
        check_request_size(params, self.max_request_chars)
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if stop:
            params["stop"] = stop
        forced = self._forced_schema(kwargs)
        if forced is not None:
            params["response_format"] = {"type": "json_schema", "json_schema": {
                "name": forced["name"], "schema": forced["parameters"]}}
        elif kwargs.get("tools"):
            params["tools"] = kwargs["tools"]
            choice = kwargs.get("tool_choice")
            if choice in ("auto", "required", "none"):
                params["tool_choice"] = choice
            elif choice:
                params["tool_choice"] = {"type": "function", "function": {"name": choice}}
        return params

    def _to_message(self, data: dict[str, Any], kwargs: dict[str, Any]) -> AIMessage:
        choice = data["choices"][0]["message"]
        content = choice.get("content") or ""
        calls = []
        for c in choice.get("tool_calls") or []:
            try:
                args = json.loads(c["function"]["arguments"] or "{}", strict=False)
            except ValueError:
                args = {"__unparsed__": c["function"]["arguments"]}
            calls.append({"name": c["function"]["name"], "args": args, "id": c["id"], "type": "tool_call"})
        forced = self._forced_schema(kwargs)
        if forced is not None and not calls:
            # JSON-schema mode: present the JSON body as the forced tool's call, so callers
            # see one shape whichever mechanism the server used.
            try:
                args = json.loads(content, strict=False)  # raw newlines in strings: see core.llm.tool_args
                calls.append({"name": forced["name"], "args": args if isinstance(args, dict) else {},
                              "id": data.get("id") or "json", "type": "tool_call"})
            except ValueError:
                pass
        usage = usage_metadata(data.get("usage"))
        return AIMessage(content=content, tool_calls=calls, usage_metadata=usage,  # type: ignore[arg-type]
                         response_metadata={"model": data.get("model"),
                                            "finish_reason": data["choices"][0].get("finish_reason"),
                                            "cost_usd": cost_usd(self.model, usage)})

    def _error(self, e: Exception) -> LLMError:
        if isinstance(e, openai.OpenAIError):
            return map_error(e, self.base_url, timeout=self.timeout, retries=self.max_retries)
        return bad_reply(self.base_url, f"{type(e).__name__}: {getattr(e, 'doc', str(e))[:120]!r}")

    def _result(self, resp: Any, kwargs: dict[str, Any]) -> ChatResult:
        """Turn the SDK's reply into a ChatResult; a body that is not a chat completion is a clear error."""
        if not hasattr(resp, "model_dump"):  # a non-JSON content type: the SDK hands back the text
            raise bad_reply(self.base_url, f"a {type(resp).__name__} body: {str(resp)[:120]!r}")
        try:
            return ChatResult(generations=[ChatGeneration(message=self._to_message(resp.model_dump(), kwargs))])
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            raise bad_reply(self.base_url, f"JSON without a chat completion's fields: {e!r}") from e

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        params = self.request_params(messages, stop, **kwargs)
        try:
            resp = self.client().chat.completions.create(**params)
        except (openai.OpenAIError, ValueError) as e:  # ValueError: a 200 whose body is not JSON
            raise self._error(e) from e
        return self._result(resp, kwargs)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        params = self.request_params(messages, stop, **kwargs)
        try:
            resp = await self.aclient().chat.completions.create(**params)
        except (openai.OpenAIError, ValueError) as e:
            raise self._error(e) from e
        return self._result(resp, kwargs)

    def _chunk(self, data: dict[str, Any]) -> ChatGenerationChunk | None:
        usage = usage_metadata(data.get("usage"))
        if not data.get("choices"):
            if usage is None:
                return None
            return ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))  # type: ignore[arg-type]
        delta = data["choices"][0].get("delta") or {}
        chunks = [{"name": (c.get("function") or {}).get("name"), "args": (c.get("function") or {}).get("arguments"),
                   "id": c.get("id"), "index": c.get("index", 0), "type": "tool_call_chunk"}
                  for c in delta.get("tool_calls") or []]
        return ChatGenerationChunk(message=AIMessageChunk(content=delta.get("content") or "",
                                                          tool_call_chunks=chunks))

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        params = {**self.request_params(messages, stop, **kwargs), "stream": True,
                  "stream_options": {"include_usage": True}}
        try:
            for ev in self.client().chat.completions.create(**params):
                chunk = self._chunk(ev.model_dump())
                if chunk is not None:
                    yield chunk
        except (openai.OpenAIError, ValueError) as e:
            raise self._error(e) from e

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        params = {**self.request_params(messages, stop, **kwargs), "stream": True,
                  "stream_options": {"include_usage": True}}
        try:
            async for ev in await self.aclient().chat.completions.create(**params):
                chunk = self._chunk(ev.model_dump())
                if chunk is not None:
                    yield chunk
        except (openai.OpenAIError, ValueError) as e:
            raise self._error(e) from e
