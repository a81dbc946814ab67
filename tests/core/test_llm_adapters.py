"""The Anthropic and OpenAI-compatible adapters against local servers speaking the real wire formats."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from core.config import Settings
from core.errors import ConfigError, EgressRefused, LLMError
from core.llm import LLMRateLimited, LLMUnreachable, ainvoke_structured, cost_usd, make_chat_model
from core.llm_anthropic import AnthropicBatches
from tests.fakes.llm_servers import Ask, Fail, FakeAnthropic, FakeOpenAI

LONG_PREFIX = "You draft training examples in the owner's voice. " * 120  # > 1024 tokens


class Verdict(BaseModel):
    """A tiny structured reply."""

    score: int = Field(ge=1, le=10)
    why: str


def anthropic_settings(settings: Settings, url: str, **kw: object) -> Settings:
    return Settings(**{"home": settings.home, "llm_provider": "anthropic", "llm_base_url": url,
                       "anthropic_api_key": "test-key", "llm_model": "claude-sonnet-4-6", **kw})


def openai_settings(settings: Settings, url: str, **kw: object) -> Settings:
    return Settings(**{"home": settings.home, "llm_provider": "openai", "llm_base_url": url + "/v1",
                       "openai_api_key": "test-key", "llm_model": "qwen3-8b", **kw})


def answer(ask: Ask) -> str | dict:
    if ask.tool == "Verdict":
        return {"score": 8, "why": "sounds like him"}
    return "Same bus, separate breakers."


# --------------------------------------------------------------------------- Anthropic


def test_anthropic_caches_stable_prefix_and_costs_from_usage(settings: Settings, no_network: list) -> None:
    with FakeAnthropic(answer) as srv:
        llm = make_chat_model(anthropic_settings(settings, srv.url), "draft", max_retries=0)
        msgs = [SystemMessage(LONG_PREFIX), HumanMessage("Draft one example about lanes.")]
        first = llm.invoke(msgs)
        second = llm.invoke(msgs)
    body = srv.requests[0]
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first.content == "Same bus, separate breakers."
    d1, d2 = first.usage_metadata["input_token_details"], second.usage_metadata["input_token_details"]
    assert d1["cache_creation"] > 1024 and d1["cache_read"] == 0
    assert d2["cache_read"] == d1["cache_creation"] and d2["cache_creation"] == 0
    # Cost: cached reads at 0.1x input price make the second call much cheaper than the first.
    c1, c2 = first.response_metadata["cost_usd"], second.response_metadata["cost_usd"]
    assert c2 < c1 / 3
    fresh = second.usage_metadata["input_tokens"] - d2["cache_read"]
    expected = (fresh * 3 + d2["cache_read"] * 0.3 + second.usage_metadata["output_tokens"] * 15) / 1e6
    assert c2 == pytest.approx(expected)


def test_anthropic_structured_output_through_tool_use(settings: Settings) -> None:
    with FakeAnthropic(answer) as srv:
        llm = make_chat_model(anthropic_settings(settings, srv.url), max_retries=0)
        out = asyncio.run(ainvoke_structured(llm, [HumanMessage("rate it")], Verdict))
    assert out.value == Verdict(score=8, why="sounds like him") and out.attempts == 1
    body = srv.requests[0]
    assert body["tool_choice"] == {"type": "tool", "name": "Verdict"}
    assert body["tools"][0]["input_schema"]["properties"]["score"]["type"] == "integer"
    assert out.usage.calls == 1 and out.usage.input_tokens > 0 and out.usage.cost_usd > 0


def test_anthropic_invalid_reply_is_retried_then_counted_not_raised(settings: Settings) -> None:
    replies = iter([{"score": 99, "why": "x"}, {"score": 7, "why": "fixed"}])
    with FakeAnthropic(lambda ask: next(replies)) as srv:
        llm = make_chat_model(anthropic_settings(settings, srv.url), max_retries=0)
        fixed = asyncio.run(ainvoke_structured(llm, [HumanMessage("rate")], Verdict))
    assert fixed.value is not None and fixed.value.why == "fixed" and fixed.attempts == 2
    assert "did not validate" in srv.requests[1]["messages"][-1]["content"][-1]["text"]

    with FakeAnthropic(lambda ask: {"score": "loud"}) as srv:
        llm = make_chat_model(anthropic_settings(settings, srv.url), max_retries=0)
        failed = asyncio.run(ainvoke_structured(llm, [HumanMessage("rate")], Verdict, retries=2))
    assert failed.value is None and failed.attempts == 3 and "did not validate" in failed.error
    assert len(srv.requests) == 3


def test_anthropic_streams_text_and_tool_calls(settings: Settings) -> None:
    with FakeAnthropic(answer) as srv:
        llm = make_chat_model(anthropic_settings(settings, srv.url), max_retries=0)

        async def run() -> tuple[list[str], object]:
            pieces = [c.content async for c in llm.astream([HumanMessage("hi")])]
            full = None
            async for c in llm.bind_tools([Verdict], tool_choice="Verdict").astream([HumanMessage("rate")]):
                full = c if full is None else full + c
            return pieces, full

        pieces, full = asyncio.run(run())
    assert len([p for p in pieces if p]) > 2 and "".join(pieces) == "Same bus, separate breakers."
    assert srv.requests[0]["stream"] is True
    assert full.tool_calls[0]["name"] == "Verdict"
    assert full.tool_calls[0]["args"] == {"score": 8, "why": "sounds like him"}
    assert full.usage_metadata["output_tokens"] > 0


def test_anthropic_batches_create_poll_results(settings: Settings) -> None:
    with FakeAnthropic(answer, batch_polls=2) as srv:
        llm = make_chat_model(anthropic_settings(settings, srv.url), max_retries=0)
        batches = AnthropicBatches(llm)
        bound_kwargs = llm.bind_tools([Verdict], tool_choice="Verdict").kwargs
        reqs = {f"slot-{i}": llm.request_params([SystemMessage(LONG_PREFIX), HumanMessage(f"item {i}")], **bound_kwargs)
                for i in range(3)}
        bid = batches.submit(reqs)
        assert batches.status(bid)["status"] == "in_progress"
        assert batches.status(bid)["status"] == "ended"
        results = batches.results(bid)
    assert set(results) == {"slot-0", "slot-1", "slot-2"}
    msg = results["slot-1"]
    assert msg.tool_calls[0]["args"]["score"] == 8
    full_price = cost_usd("claude-sonnet-4-6", msg.usage_metadata)
    assert msg.response_metadata["cost_usd"] == pytest.approx(full_price / 2)  # batches are half price


def test_anthropic_missing_key_is_a_clear_error(settings: Settings) -> None:
    s = Settings(home=settings.home, llm_provider="anthropic", anthropic_api_key=None)
    with pytest.raises(LLMError, match="IDIOLECT_ANTHROPIC_API_KEY"):
        make_chat_model(s)


def test_anthropic_rejected_key_rate_limit_and_unreachable(settings: Settings) -> None:
    with FakeAnthropic(answer, api_key="other") as srv:
        llm = make_chat_model(anthropic_settings(settings, srv.url), max_retries=0)
        with pytest.raises(LLMError, match="rejected the API key"):
            llm.invoke("hi")
    with FakeAnthropic(lambda ask: Fail(429, "slow down")) as srv:
        llm = make_chat_model(anthropic_settings(settings, srv.url), max_retries=1)
        with pytest.raises(LLMRateLimited, match="rate limit"):
            llm.invoke("hi")
        assert len(srv.requests) == 2  # the SDK retried once, then we gave a clear error
    dead = FakeAnthropic(answer)
    url = dead.url
    dead.httpd.server_close()
    llm = make_chat_model(anthropic_settings(settings, url), max_retries=0)
    with pytest.raises(LLMUnreachable, match="cannot reach"):
        llm.invoke("hi")


def test_local_only_refuses_hosted_endpoints(settings: Settings) -> None:
    s = Settings(home=settings.home, llm_provider="anthropic", anthropic_api_key="k", local_only=True)
    with pytest.raises(EgressRefused, match="api.anthropic.com"):
        make_chat_model(s)
    ok = openai_settings(settings, "http://127.0.0.1:9", local_only=True)
    assert make_chat_model(ok) is not None
    with pytest.raises(ConfigError, match="llm_base_url"):
        make_chat_model(Settings(home=settings.home, llm_provider="openai"))
    assert make_chat_model(settings) is None  # provider "none"


def test_judge_role_uses_judge_settings(settings: Settings) -> None:
    s = openai_settings(settings, "http://127.0.0.1:9", judge_provider="openai", judge_model="judge-7b")
    assert make_chat_model(s, "judge").model == "judge-7b"
    assert make_chat_model(s, "draft").model == "qwen3-8b"


# --------------------------------------------------------------------------- OpenAI-compatible


def test_openai_json_schema_structured_output(settings: Settings, no_network: list) -> None:
    with FakeOpenAI(answer) as srv:
        llm = make_chat_model(openai_settings(settings, srv.url), max_retries=0)
        out = asyncio.run(ainvoke_structured(llm, [SystemMessage("judge"), HumanMessage("rate it")], Verdict))
    assert out.value == Verdict(score=8, why="sounds like him")
    body = srv.requests[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "Verdict"
    assert "tools" not in body


def test_openai_tool_calls_mode_and_prefix_cache_usage(settings: Settings) -> None:
    with FakeOpenAI(answer) as srv:
        llm = make_chat_model(openai_settings(settings, srv.url), max_retries=0)
        llm.structured = "tools"
        msgs = [SystemMessage(LONG_PREFIX), HumanMessage("rate it")]
        a = asyncio.run(ainvoke_structured(llm, msgs, Verdict))
        b = asyncio.run(ainvoke_structured(llm, msgs, Verdict))
    assert srv.requests[0]["tool_choice"] == {"type": "function", "function": {"name": "Verdict"}}
    assert a.value.score == 8 and b.value.score == 8
    assert a.usage.cache_read == 0 and b.usage.cache_read > 1024
    assert a.usage.cost_usd == 0.0  # a local model has no price


def test_openai_streaming_text_tool_calls_and_usage(settings: Settings) -> None:
    with FakeOpenAI(answer) as srv:
        llm = make_chat_model(openai_settings(settings, srv.url), max_retries=0)
        llm.structured = "tools"
        pieces = list(llm.stream("hi"))
        full = None
        for c in llm.bind_tools([Verdict], tool_choice="Verdict").stream("rate"):
            full = c if full is None else full + c
    text = "".join(p.content for p in pieces)
    assert text == "Same bus, separate breakers." and len(pieces) > 3
    assert srv.requests[0]["stream_options"] == {"include_usage": True}
    assert sum((p.usage_metadata or {}).get("output_tokens", 0) for p in pieces) > 0
    assert full.tool_calls[0]["args"] == {"score": 8, "why": "sounds like him"}


def test_openai_errors_are_clear(settings: Settings) -> None:
    with FakeOpenAI(lambda ask: Fail(429, "busy")) as srv:
        llm = make_chat_model(openai_settings(settings, srv.url), max_retries=0)
        with pytest.raises(LLMRateLimited):
            llm.invoke("hi")
    with FakeOpenAI(answer, api_key="other") as srv:
        llm = make_chat_model(openai_settings(settings, srv.url), max_retries=0)
        with pytest.raises(LLMError, match="rejected the API key"):
            llm.invoke("hi")
    llm = make_chat_model(openai_settings(settings, "http://127.0.0.1:9"), max_retries=0)
    with pytest.raises(LLMUnreachable, match="is the server running"):
        llm.invoke("hi")
