"""LLM failures (issue 14, finding 5): clear errors, honest run state, exit codes, drafts kept, usage kept."""

from __future__ import annotations

import asyncio
import json

import pytest
import typer
from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from typer.testing import CliRunner

from agent.bulk import BulkSpec, run_bulk
from agent.context import Context
from agent.graph import build_graph, pending_review, send
from core.config import Settings
from core.errors import LLMError
from core.llm import LLMUnreachable, make_chat_model
from tests.agent.dialogue import _item, _rubric
from tests.fakes.chat_models import RuleChat, ScriptedChat, tool_reply
from tests.fakes.llm_servers import Ask, FakeAnthropic, FakeOpenAI, Raw
from tests.fakes.persona import persona_responder
from ui.cli import _Group
from ui.commands.agent import register
from ui.services import Services


def _openai(settings: Settings, url: str, **kw: object) -> Settings:
    return Settings(home=settings.home, llm_provider="openai", llm_base_url=f"{url}/v1", llm_model="local-8b",
                    openai_api_key="test-key",
                    **kw)


def _anthropic(settings: Settings, url: str, **kw: object) -> Settings:
    return Settings(home=settings.home, llm_provider="anthropic", anthropic_api_key="test-key", llm_base_url=url,
                    llm_model="claude-sonnet-4-6", **kw)


# --------------------------------------------------------------------------- the adapters


@pytest.mark.parametrize("content_type", ["application/json", "text/html"])
def test_a_200_reply_that_is_not_json_is_a_clear_domain_error(settings: Settings, content_type: str) -> None:
    body = Raw("<html><h1>502 Bad Gateway</h1></html>", content_type=content_type)
    with FakeOpenAI(lambda ask: body) as srv:
        with pytest.raises(LLMError, match=f"{srv.url}/v1 answered, but not with the API's JSON.*Bad Gateway") as e:
            make_chat_model(_openai(settings, srv.url), max_retries=0).invoke("hi")
    assert type(e.value).__name__ == "LLMBadReply"
    with FakeAnthropic(lambda ask: body) as srv:
        with pytest.raises(LLMError, match="not with the API's JSON"):
            make_chat_model(_anthropic(settings, srv.url), max_retries=0).invoke("hi")
    with FakeOpenAI(lambda ask: Raw('{"id": "x", "choices": []}')) as srv:
        with pytest.raises(LLMError, match="without a chat completion's fields"):
            make_chat_model(_openai(settings, srv.url), max_retries=0).invoke("hi")


def test_a_slow_endpoint_is_a_timeout_naming_the_setting_not_unreachable(settings: Settings) -> None:
    with FakeOpenAI(persona_responder, latency=1.5) as srv:
        llm = make_chat_model(_openai(settings, srv.url, llm_timeout_s=0.3, llm_max_retries=0))
        assert llm.timeout == 0.3 and llm.max_retries == 0  # the settings reach the client
        with pytest.raises(LLMError, match="llm_timeout_s") as caught:
            llm.invoke("hi")
    assert not isinstance(caught.value, LLMUnreachable) and "did not answer within 0.3 s" in str(caught.value)
    assert type(caught.value).__name__ == "LLMTimeout"
    with FakeAnthropic(persona_responder, latency=1.5) as srv:
        with pytest.raises(LLMError, match="IDIOLECT_LLM_TIMEOUT_S"):
            make_chat_model(_anthropic(settings, srv.url, llm_timeout_s=0.3, llm_max_retries=0)).invoke("hi")


def test_an_over_long_request_is_refused_before_it_is_sent(settings: Settings) -> None:
    huge = "word " * 20_000  # 100,000 characters
    with FakeOpenAI(persona_responder) as srv:
        llm = make_chat_model(_openai(settings, srv.url), max_retries=0)
        with pytest.raises(LLMError, match="100,0.. characters, over llm_max_request_chars=60,000"):
            llm.invoke(huge)
        assert srv.requests == []
        assert llm.invoke("short").content  # an ordinary request still goes through
    with FakeAnthropic(persona_responder) as srv:
        with pytest.raises(LLMError, match="llm_max_request_chars"):
            make_chat_model(_anthropic(settings, srv.url), max_retries=0).invoke(huge)
        assert srv.requests == []


# --------------------------------------------------------------------------- bulk runs and `generate`


def _rules() -> dict:
    def draft(msgs: list[BaseMessage]) -> dict:
        return persona_responder(Ask(str(msgs[0].content), str(msgs[-1].content), "DraftBatch", None, {}))

    def rubric(msgs: list[BaseMessage]) -> dict:
        return persona_responder(Ask("", str(msgs[-1].content), "RubricBatch", None, {}))

    return {"DraftBatch": draft, "RubricBatch": rubric}


def test_bulk_run_against_a_non_json_endpoint_ends_failed_with_the_reason(settings: Settings, store) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAI(lambda ask: Raw("<html>oops</html>")) as srv:
        ctx = Context(llm=make_chat_model(_openai(settings, srv.url), max_retries=0), store=store,
                      domains=["coding"], style_card="Blunt.", retries=0)
        spec = BulkSpec(n=3, mix={"coding": 1})
        report = asyncio.run(run_bulk(ctx, spec, concurrency=2))
    rec = store.examples.bulk_run(spec.run_id())
    assert report.failed == 3 and report.status == rec["status"] == "failed"
    assert "not with the API's JSON" in report.errors[0]


class _Crash(Exception):
    """Not an LLMError: a bug or an interruption the run did not expect."""


def test_bulk_run_hit_by_an_unexpected_error_is_marked_failed_not_running(store) -> None:  # type: ignore[no-untyped-def]
    rules = _rules()
    calls = {"n": 0}

    def draft(msgs: list[BaseMessage]) -> dict:
        calls["n"] += 1
        if calls["n"] == 3:
            raise _Crash("boom")
        return rules["DraftBatch"](msgs)

    ctx = Context(llm=RuleChat(rules={**rules, "DraftBatch": draft}), store=store, domains=["coding"],
                  style_card="Blunt.", retries=0)
    spec = BulkSpec(n=5, mix={"coding": 1})
    with pytest.raises(_Crash):
        asyncio.run(run_bulk(ctx, spec, concurrency=1))
    rec = store.examples.bulk_run(spec.run_id())
    assert rec["status"] == "failed" and "boom" in rec["counts"]["error"]


def test_a_resumed_bulk_run_keeps_the_usage_of_calls_before_the_crash(store) -> None:  # type: ignore[no-untyped-def]
    rules = _rules()
    state = {"calls": 0, "crash_at": 5}

    def counted(name: str):  # type: ignore[no-untyped-def]
        def rule(msgs: list[BaseMessage]) -> dict:
            state["calls"] += 1
            if state["calls"] == state["crash_at"]:
                raise _Crash("power cut")
            return rules[name](msgs)
        return rule

    llm = RuleChat(rules={"DraftBatch": counted("DraftBatch"), "RubricBatch": counted("RubricBatch")})
    ctx = Context(llm=llm, store=store, domains=["coding"], style_card="Blunt.", retries=0)
    spec = BulkSpec(n=4, mix={"coding": 1})
    with pytest.raises(_Crash):
        asyncio.run(run_bulk(ctx, spec, concurrency=1))
    replied_before = state["calls"] - 1  # the crashing call never replied
    state["crash_at"] = -1
    report = asyncio.run(run_bulk(ctx, spec, concurrency=1))
    rec = store.examples.bulk_run(spec.run_id())
    assert report.status == rec["status"] == "done"
    assert rec["counts"]["usage"]["calls"] == state["calls"] - 1 == replied_before + report.usage["calls"]
    assert rec["counts"]["usage"]["input_tokens"] > report.usage["input_tokens"]


def _cli() -> typer.Typer:
    app = typer.Typer(cls=_Group)
    register(app)
    return app


def test_generate_exits_non_zero_when_slots_failed(settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAI(lambda ask: Raw("not json at all", content_type="text/plain")) as srv:
        sv = Services(_openai(settings, srv.url, llm_max_retries=0), embedder=embedder)
        r = CliRunner().invoke(_cli(), ["generate", "--n", "2", "--mix", "coding=1", "--json"], obj=sv)
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout[r.stdout.index("{"):])
    assert report["failed"] == 2 and report["status"] == "failed"
    with FakeOpenAI(persona_responder) as srv:
        sv2 = Services(_openai(settings, srv.url), embedder=embedder)
        r = CliRunner().invoke(_cli(), ["generate", "--n", "2", "--mix", "coding=1", "--json"], obj=sv2)
    assert r.exit_code == 0, r.output  # the same run resumes and finishes
    sv.close()
    sv2.close()


# --------------------------------------------------------------------------- chat keeps its drafts


def _down(msgs: list[BaseMessage]) -> None:
    raise LLMUnreachable("cannot reach the OpenAI-compatible endpoint http://127.0.0.1:9/v1: is the server running?")


def test_chat_keeps_drafts_awaiting_review_after_an_llm_error(store) -> None:  # type: ignore[no-untyped-def]
    llm = ScriptedChat(script=[
        tool_reply("Request", {"topic": "why I self-host", "count": 2, "query": "self-host"}),
        lambda msgs: tool_reply("DraftBatch", {"examples": [_item(1, []), _item(2, [])]}),
        _rubric([1, 2]),
        _down,  # the revision of draft 2 ("make 2 blunter") finds the server gone
        _down,  # so does reading a free-form reply
    ])
    ctx = Context(llm=llm, store=store, domains=["architecture"], style_card="Blunt.", retries=0)
    graph = build_graph().compile(checkpointer=InMemorySaver())
    first = asyncio.run(send(graph, "t", ctx, message="two examples on why I self-host"))
    assert [d["number"] for d in first["review"]["drafts"]] == [1, 2]

    after = asyncio.run(send(graph, "t", ctx, resume="make 2 blunter"))
    review = after["review"]
    assert review is not None and [d["number"] for d in review["drafts"]] == [1, 2]
    assert "is the server running" in review["notice"]
    assert review["drafts"][1]["response"] == _item(2, [])["response"]  # the text as it was
    resumed = asyncio.run(pending_review(graph, "t"))  # `chat --thread t` shows them again
    assert resumed is not None and [d["number"] for d in resumed["drafts"]] == [1, 2]

    again = asyncio.run(send(graph, "t", ctx, resume="hmm, not sure about these"))  # free text: LLM down
    assert again["review"] and "is the server running" in again["review"]["notice"]
    done = asyncio.run(send(graph, "t", ctx, resume="approve 1, reject 2"))
    assert done["review"] is None and len(done["saved"]) == 1
    assert isinstance(llm.calls[-1][-1], HumanMessage)


def test_chat_cli_reports_an_llm_error_and_resumes_the_thread(settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    """Through `idiolect chat`: the judge is down, the drafts still come back, and --thread shows them."""
    def responder(ask: Ask) -> object:
        if ask.tool == "RubricBatch":
            return Raw("<html>judge down</html>")
        return persona_responder(ask)

    with FakeOpenAI(responder) as srv:
        sv = Services(_openai(settings, srv.url, llm_max_retries=0), embedder=embedder)
        r = CliRunner().invoke(_cli(), ["chat", "--thread", "th1", "-m", "two examples about my event bus"],
                               obj=sv, input="/quit\n")
        assert r.exit_code == 0, r.output
        said = " ".join(r.output.split())
        assert "draft 1" in said and "draft 2" in said and "not with the API's JSON" in said
        r2 = CliRunner().invoke(_cli(), ["chat", "--thread", "th1"], obj=sv, input="/quit\n")
    assert r2.exit_code == 0 and "draft 1" in r2.output and "draft 2" in r2.output, r2.output
    sv.close()


def test_llm_errors_are_idiolect_errors() -> None:
    from core.llm import LLMBadReply, LLMRequestTooLong, LLMTimeout

    for cls in (LLMBadReply, LLMTimeout, LLMRequestTooLong, LLMUnreachable):
        assert issubclass(cls, LLMError)
