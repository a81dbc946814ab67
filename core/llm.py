"""Chat-model factory (Anthropic, OpenAI-compatible), structured output with retries, and cost.

Every chat model idiolect uses is a LangChain `BaseChatModel`, so the agent's nodes run the
same with a real provider or a scripted fake. The provider adapters live in
core/llm_anthropic.py and core/llm_openai.py; this module is what the rest of the code imports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ValidationError

from core.errors import ConfigError, LLMError
from core.privacy import check_endpoint

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from core.config import Settings

ANTHROPIC_URL = "https://api.anthropic.com"
OPENAI_URL = "https://api.openai.com/v1"

T = TypeVar("T", bound=BaseModel)


class LLMRateLimited(LLMError):
    """The provider kept answering 429 after the SDK's own retries."""


class LLMUnreachable(LLMError):
    """The endpoint could not be reached (DNS, refused connection)."""


class LLMTimeout(LLMError):
    """The endpoint took longer than `llm_timeout_s` (after the retries)."""


class LLMBadReply(LLMError):
    """The endpoint answered, but not with the API's JSON (a proxy's HTML page, a truncated body)."""


class LLMRequestTooLong(LLMError):
    """A prompt longer than `llm_max_request_chars`; refused before it is sent."""


# --------------------------------------------------------------------------- prices

# USD per million tokens: (input, output). Cache writes cost 1.25x input, cache reads 0.1x
# input, and the Message Batches API halves everything (Anthropic pricing page, 2026).
# Matched by longest prefix; models not listed (local ones) cost nothing.
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4-7": (5.0, 25.0),
    "claude-opus-4-8": (5.0, 25.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4o": (2.5, 10.0),
}
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1
BATCH_FACTOR = 0.5


def price_of(model: str, prices: dict[str, tuple[float, float]] | None = None) -> tuple[float, float] | None:
    """(input, output) USD per million tokens for `model`, or None when it is not priced."""
    table = {**PRICES, **(prices or {})}
    best = max((p for p in table if model.startswith(p)), key=len, default=None)
    return table[best] if best else None


def cost_usd(
    model: str,
    usage: dict[str, Any] | None,
    *,
    batch: bool = False,
    prices: dict[str, tuple[float, float]] | None = None,
) -> float:
    """Dollar cost of one call from its LangChain `usage_metadata` (0.0 for unpriced models)."""
    price = price_of(model, prices)
    if not usage or price is None:
        return 0.0
    details = usage.get("input_token_details") or {}
    read = int(details.get("cache_read") or 0)
    write = int(details.get("cache_creation") or 0)
    fresh = max(int(usage.get("input_tokens") or 0) - read - write, 0)
    p_in, p_out = price
    dollars = (fresh * p_in + write * p_in * CACHE_WRITE_FACTOR + read * p_in * CACHE_READ_FACTOR
               + int(usage.get("output_tokens") or 0) * p_out) / 1e6
    return dollars * (BATCH_FACTOR if batch else 1.0)


@dataclass
class Usage:
    """Running token and cost totals across calls."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read: int = 0
    cache_creation: int = 0
    cost_usd: float = 0.0

    def add_message(self, msg: BaseMessage, model: str, *, batch: bool = False) -> None:
        """Count one reply's usage (replies without usage, e.g. from fakes, count as a call)."""
        usage = getattr(msg, "usage_metadata", None) or {}
        details = usage.get("input_token_details") or {}
        self.calls += 1
        self.input_tokens += int(usage.get("input_tokens") or 0)
        self.output_tokens += int(usage.get("output_tokens") or 0)
        self.cache_read += int(details.get("cache_read") or 0)
        self.cache_creation += int(details.get("cache_creation") or 0)
        self.cost_usd += cost_usd(model, dict(usage), batch=batch)

    def merge(self, other: Usage | dict[str, Any]) -> Usage:
        """Add another total into this one; returns self."""
        o = other if isinstance(other, Usage) else Usage(**other)
        self.calls += o.calls
        self.input_tokens += o.input_tokens
        self.output_tokens += o.output_tokens
        self.cache_read += o.cache_read
        self.cache_creation += o.cache_creation
        self.cost_usd += o.cost_usd
        return self

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for state, JSON and the store)."""
        return {"calls": self.calls, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "cache_read": self.cache_read,
                "cache_creation": self.cache_creation, "cost_usd": round(self.cost_usd, 6)}


# --------------------------------------------------------------------------- factory


def make_chat_model(
    settings: Settings,
    role: Literal["draft", "judge"] = "draft",
    *,
    max_retries: int | None = None,
    timeout: float | None = None,
    local: tuple[str, str] | None = None,
) -> BaseChatModel | None:
    """Build the configured chat model for `role`, or None when its provider is "none".

    `max_retries` and `timeout` default to the `llm_max_retries` and `llm_timeout_s` settings.
    `local` is (OpenAI base URL, served model id) of the local model server, which the caller
    (ui.services) finds or starts: the "local" provider needs it.

    Raises:
        LLMError: a key is missing.
        ConfigError: the provider needs a base URL that is not set.
        EgressRefused: `local_only` is set and the endpoint is not on the owner's machines.

    """
    if role not in ("draft", "judge"):
        raise ValueError(f"role must be 'draft' or 'judge', not {role!r}")
    provider = settings.llm_provider if role == "draft" else (settings.judge_provider or settings.llm_provider)
    model = settings.llm_model if role == "draft" else (settings.judge_model or settings.llm_model)
    if provider == "none":
        return None
    max_retries = settings.llm_max_retries if max_retries is None else max_retries
    timeout = settings.llm_timeout_s if timeout is None else timeout
    limits = {"max_request_chars": settings.llm_max_request_chars}
    if provider == "local":
        from core.llm_openai import OpenAICompatChat

        if local is None:
            raise ConfigError("the local provider needs its model server; start it through ui.services.Services")
        base, served = local
        check_endpoint(base, local_only=settings.local_only, allow=settings.local_allow)
        # The server bounds the answer by what its context leaves (as vLLM does when max_tokens
        # is omitted), and returns JSON through its grammar, never free-form tool calls.
        # A CPU server shares two cores between every row of its batch: a long draft can take
        # minutes there, so the local provider never times out sooner than 15 minutes.
        return OpenAICompatChat(model=served, base_url=base, max_retries=max_retries, timeout=max(timeout, 900.0),
                                max_tokens=None, structured="json_schema", **limits)
    if provider == "anthropic":
        from core.llm_anthropic import AnthropicChat

        key = settings.anthropic_api_key
        # The SDK only notices a missing key at call time, and then as a TypeError, not an
        # APIError (stack-notes §9), so check here and say which setting to fill in.
        if key is None or not key.get_secret_value().strip():
            raise LLMError("the Anthropic provider needs an API key: set IDIOLECT_ANTHROPIC_API_KEY "
                           "(or anthropic_api_key in idiolect.toml)")
        base = settings.llm_base_url or ANTHROPIC_URL
        check_endpoint(base, local_only=settings.local_only, allow=settings.local_allow)
        return AnthropicChat(model=model, api_key=key, base_url=base, max_retries=max_retries,
                             timeout=timeout, **limits)
    if provider == "openai":
        from core.llm_openai import OpenAICompatChat

        base = settings.llm_base_url or settings.vllm_url
        key = settings.openai_api_key
        if base is None:
            if key is None:
                raise ConfigError("the OpenAI-compatible provider needs llm_base_url (vLLM, Ollama, "
                                  "llama.cpp server) or an openai_api_key for api.openai.com")
            base = OPENAI_URL
        check_endpoint(base, local_only=settings.local_only, allow=settings.local_allow)
        return OpenAICompatChat(model=model, base_url=base,
                                api_key=key.get_secret_value() if key else "not-needed",
                                max_retries=max_retries, timeout=timeout, **limits)
    raise ConfigError(f"unknown LLM provider {provider!r}; use one of: local, none, anthropic, openai")


def model_name_of(llm: Any) -> str:
    """Return the model id a chat model reports (for provenance); 'unknown' for anonymous fakes."""
    for attr in ("model", "model_name"):
        v = getattr(llm, attr, None)
        if isinstance(v, str) and v:
            return v
    return type(llm).__name__


# --------------------------------------------------------------------------- structured output


@dataclass
class Structured(Generic[T]):
    """The outcome of one structured call: a validated value, or None and why."""

    value: T | None
    attempts: int
    error: str | None = None
    usage: Usage = field(default_factory=Usage)


def tool_args(msg: AIMessage, name: str) -> dict[str, Any] | None:
    """Return the arguments of the tool call named `name` in `msg` (JSON text content as a fallback)."""
    for call in msg.tool_calls or []:
        if call.get("name") == name:
            return dict(call.get("args") or {})
    if len(msg.tool_calls or []) == 1:
        return dict(msg.tool_calls[0].get("args") or {})
    text = msg.content if isinstance(msg.content, str) else ""
    try:
        # strict=False: raw newlines inside strings, which small models write and llguidance's
        # JSON grammar admits (1 in 24 guided drafts), are read rather than thrown away.
        data = json.loads(text, strict=False)
    except (TypeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


async def ainvoke_structured(
    llm: BaseChatModel,
    messages: list[BaseMessage],
    schema: type[T],
    *,
    retries: int = 1,
    model: str | None = None,
) -> Structured[T]:
    """Ask `llm` for one `schema` through native tool calling; retry bad replies, never raise.

    A reply that does not validate is retried `retries` times with the validation error
    appended; after that the call counts as a failure (value None). Provider errors
    (missing key, unreachable, rate limit) are not reply problems and do propagate.
    """
    name = schema.__name__
    bound = llm.bind_tools([schema], tool_choice=name)
    usage = Usage()
    error: str | None = None
    convo = list(messages)
    mname = model or model_name_of(llm)
    for attempt in range(1, retries + 2):
        reply = await bound.ainvoke(convo)
        usage.add_message(reply, mname)
        args = tool_args(reply, name) if isinstance(reply, AIMessage) else None
        if args is None:
            error = f"the reply did not call {name}"
        else:
            try:
                return Structured(schema.model_validate(args), attempt, None, usage)
            except ValidationError as e:
                error = f"{name} arguments did not validate: {e.errors(include_url=False)}"
        convo = [*messages, HumanMessage(f"Your last reply was unusable ({error}). "
                                         f"Call the {name} tool again with valid arguments.")]
    return Structured(None, retries + 1, error, usage)
