"""core.generate against a fake vLLM over real HTTP: streaming, reasoning fields, retries, cancel."""

from __future__ import annotations

import asyncio
import re
import threading

import httpx
import pytest
from fakes.vllm import FakeVLLM

from core.errors import LLMError
from core.generate import GenerationClient, baseline_messages, messages_for, split_reasoning
from core.schemas import ModelKind, ModelRecord

MSGS = [{"role": "user", "content": "Why self-host?"}]


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content", "both"])
def test_chat_and_stream_read_either_reasoning_field(field, no_network, tmp_path):
    adapter = tmp_path / "voice-v1"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    with FakeVLLM("qwen", loras={"voice-v1": str(adapter)}, reasoning_field=field) as srv:
        client = GenerationClient(f"{srv.url}/v1")
        done = client.chat("voice-v1", MSGS, max_tokens=64)
        assert done.text == "Answer from voice-v1: keep the bus boring and the circuits separate."
        assert done.reasoning.strip() == "Thinking as voice-v1."
        # max_tokens counts the thinking too: <think> + 3 words + </think> + 11 answer words
        assert done.usage["completion_tokens"] == 16 and done.finish_reason == "stop"
        deltas = list(client.stream("qwen", MSGS, max_tokens=8))
        assert "".join(d.text for d in deltas) == "Answer from qwen:"  # 5 tokens of thinking, 3 of answer
        assert any(d.reasoning for d in deltas) and deltas[-1].finish_reason == "length"
        sent = srv.requests[-1]["body"]
        assert (sent["model"], sent["max_tokens"], sent["stream"]) == ("qwen", 8, True)
        cut = client.chat("qwen", MSGS, max_tokens=3)  # all spent thinking: no answer at all
        assert (cut.text, cut.reasoning.strip(), cut.finish_reason) == ("", "Thinking as", "length")


def test_reasoning_left_in_text_is_split_by_the_client():
    with FakeVLLM("apriel", reasoning_parser=None) as srv:  # no parser: <think> stays in the text
        done = GenerationClient(f"{srv.url}/v1").chat("apriel", MSGS)
        assert done.reasoning == "Thinking as apriel." and done.text.startswith("Answer from apriel")
    apriel = "Here are my reasoning steps:\nwire it twice\n[BEGIN FINAL RESPONSE]\nDo it.\n[END FINAL RESPONSE]"
    assert split_reasoning(apriel) == ("wire it twice", "Do it.")
    assert split_reasoning("plain") == ("", "plain")


def test_retries_transient_errors_but_not_client_errors():
    with FakeVLLM("qwen", fail_first=2) as srv:
        client = GenerationClient(f"{srv.url}/v1", max_retries=2)
        client._backoff = lambda attempt: 0.0  # no sleeping in tests
        assert client.chat("qwen", MSGS).text.startswith("Answer from qwen")
        assert len([r for r in srv.requests if r["path"] == "/v1/chat/completions"]) == 3
        srv.fail_first = 3
        with pytest.raises(LLMError, match="503|failed"):
            client.chat("qwen", MSGS)
        with pytest.raises(LLMError, match="404.*does not exist"):
            client.chat("voice-v7", MSGS)


def test_timeouts_are_retried_then_reported():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    client = GenerationClient("http://127.0.0.1:9/v1", max_retries=1,
                              http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    client._backoff = lambda attempt: 0.0
    with pytest.raises(LLMError, match="ReadTimeout"):
        client.chat("m", MSGS)
    assert len(calls) == 2


def test_cancel_stops_a_stream_midway():
    with FakeVLLM("qwen", chunk_delay=0.05) as srv:
        client = GenerationClient(f"{srv.url}/v1")
        cancel = threading.Event()
        got = []
        for d in client.stream("qwen", MSGS, cancel=cancel):
            got.append(d)
            if len(got) == 2:
                cancel.set()
        assert len(got) == 2  # stopped quietly, nothing after the cancel
        cancel2 = threading.Event()
        cancel2.set()
        assert list(client.stream("qwen", MSGS, cancel=cancel2)) == []


def test_async_chat_and_stream():
    async def go(url: str) -> tuple[str, str]:
        client = GenerationClient(f"{url}/v1")
        done = await client.achat("qwen", MSGS)
        text = "".join([d.text async for d in client.astream("qwen", MSGS, max_tokens=7)])
        await client.ahttp.aclose()
        return done.text, text

    with FakeVLLM("qwen") as srv:
        full, short = asyncio.run(go(srv.url))
    assert full.startswith("Answer from qwen") and short == "Answer from"


def test_prompt_builders():
    msgs = baseline_messages("Why self-host?", style_card="Blunt. Electrical analogies.",
                             examples=["Own your iron.", "  "], system="Be brief.")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"].startswith("Be brief.")
    assert "Blunt. Electrical analogies." in msgs[0]["content"]
    assert re.search(r"<example-([0-9a-f]{12})>\nOwn your iron.\n</example-\1>", msgs[0]["content"])
    assert len(re.findall(r"<example-[0-9a-f]{12}>", msgs[0]["content"])) == 1
    base = ModelRecord(name="qwen3-8b", kind=ModelKind.base, base_model="Qwen/Qwen3-8B")
    baseline = base.model_copy(update={"name": "baseline", "kind": ModelKind.baseline})
    assert messages_for(base, "hi") == [{"role": "user", "content": "hi"}]
    assert messages_for(base, "hi", system="s")[0] == {"role": "system", "content": "s"}
    assert "Own your iron." in messages_for(baseline, "hi", style_card="c", examples=["Own your iron."])[0]["content"]
