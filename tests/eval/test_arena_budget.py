"""Arena token budgets against the vLLM stand-in: a thinking model's answer is not cut off by its
own reasoning, the budget stays inside the context window, and a too-long request is refitted."""

from __future__ import annotations

import pytest

from core.errors import LLMError
from core.schemas import ModelKind, ModelRecord
from eval import arena_budget
from eval.arena import Arena, Contestant, OpenAIStreams, contestants_from_registry
from eval.arena_budget import THINKING_TOKENS, estimate_prompt_tokens, fitting_budget, thinking_family
from tests.fakes.vllm import FakeVLLM

LONG_THINKING = " ".join(f"step{i}" for i in range(900))  # ~900 tokens of reasoning before the answer
ANSWER = "Own the box, rent nothing you can plug in yourself: " + " ".join(f"w{i}" for i in range(60))
MSGS = [{"role": "user", "content": "Rent or own the GPU?"}]


def contestant(url: str, name: str = "voice-v1", **kw: object) -> Contestant:
    fields = {"kind": "adapter", "base_model": "Qwen/Qwen3-8B", "endpoint": f"{url}/v1", "served_name": name, **kw}
    return Contestant(name=name, **fields)  # type: ignore[arg-type]


def test_a_thinking_models_answer_is_not_cut_off_by_its_reasoning(no_network):
    with FakeVLLM("Qwen/Qwen3-8B", max_model_len=40960) as srv:
        srv.replies["Qwen/Qwen3-8B"] = (LONG_THINKING, ANSWER)
        qwen = contestant(srv.url, "Qwen/Qwen3-8B", kind="base")
        streams = OpenAIStreams()
        assert "".join(streams(qwen, MSGS)) == ANSWER
        assert srv.requests[-1]["body"]["max_tokens"] == 512 + THINKING_TOKENS["qwen3"]
        # What a flat 512-token cap did: the thinking ate it all and raters saw nothing.
        assert "".join(OpenAIStreams(thinking_tokens={})(qwen, MSGS)) == ""


def test_the_budget_stays_inside_the_context_window(no_network):
    with FakeVLLM("Qwen/Qwen3-8B", max_model_len=2048) as srv:
        srv.replies["Qwen/Qwen3-8B"] = (LONG_THINKING, ANSWER)
        qwen = contestant(srv.url, "Qwen/Qwen3-8B", kind="base")
        streams = OpenAIStreams()
        budget = streams.budget(qwen, MSGS)
        assert budget == 2048 - estimate_prompt_tokens(MSGS) < 512 + THINKING_TOKENS["qwen3"]
        assert "".join(streams(qwen, MSGS)) == ANSWER  # no 400, and 900 + 61 tokens still fit
        assert streams.context_window(qwen) == 2048


def test_an_adapter_gets_its_bases_window_and_family_from_the_registry(store, tmp_path, no_network):
    adapter = tmp_path / "voice-v1"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"r": 32}')
    with FakeVLLM("Qwen/Qwen3-8B", loras={"voice-v1": str(adapter)}, max_lora_rank=32, max_model_len=3000) as srv:
        srv.replies["voice-v1"] = srv.replies["Qwen/Qwen3-8B"] = (LONG_THINKING, ANSWER)
        url = f"{srv.url}/v1"
        store.registry.upsert_model(ModelRecord(name="qwen3-8b", kind=ModelKind.base, base_model="Qwen/Qwen3-8B",
                                                endpoint=url, served_name="Qwen/Qwen3-8B", config={"family": "qwen3"}))
        # A retrained adapter's record carries no family: the base model's name tells it.
        store.registry.upsert_model(ModelRecord(name="voice-v1", kind=ModelKind.adapter, path=str(adapter),
                                                base_model="Qwen/Qwen3-8B", endpoint=url, served_name="voice-v1"))
        found = {c.name: c for c in contestants_from_registry(store)}
        assert found["qwen3-8b"].family == "qwen3" and found["prompting-baseline"].family == "qwen3"
        assert found["voice-v1"].family is None
        streams = OpenAIStreams()
        assert streams.context_window(found["voice-v1"]) == 3000  # the LoRA card has none: its parent's
        assert "".join(streams(found["voice-v1"], MSGS)) == ANSWER
        arena = Arena(store, streams, seed=0)  # a whole battle, both sides thinking first
        battle = arena.new_battle(prompt="Rent or own the GPU?")
        assert list(arena.stream_answers(battle.id))[-1] == (ANSWER, ANSWER)


def test_a_request_vllm_finds_too_long_is_refitted_once(monkeypatch, no_network):
    # A tokenizer denser than the estimate (CJK text, say): vLLM answers 400 with the numbers.
    monkeypatch.setattr("eval.arena_contestants.estimate_prompt_tokens", lambda messages: 0)
    with FakeVLLM("Qwen/Qwen3-8B", max_model_len=1200) as srv:
        srv.replies["Qwen/Qwen3-8B"] = (" ".join(f"s{i}" for i in range(300)), ANSWER)
        qwen = contestant(srv.url, "Qwen/Qwen3-8B", kind="base")
        prompt = [{"role": "user", "content": " ".join(["x"] * 500)}]
        assert "".join(OpenAIStreams()(qwen, prompt)) == ANSWER
        sent = [r["body"]["max_tokens"] for r in srv.requests if r["path"] == "/v1/chat/completions"]
        assert sent == [1200, 1200 - 503 - 8]  # refused first, then exactly the room it named
    with FakeVLLM("Qwen/Qwen3-8B") as srv, pytest.raises(LLMError, match="does not exist"):
        list(OpenAIStreams()(contestant(srv.url, "voice-v9"), MSGS))  # other errors are not retried


def test_family_names_match_the_renderers():
    from training.reasoning import FAMILIES, family_for

    assert set(THINKING_TOKENS) == {name for name, fam in FAMILIES.items() if fam.trains_reasoning}
    for model in ("Qwen/Qwen3-8B", "ServiceNow-AI/Apriel-1.5-15b-Thinker", "MiniMaxAI/MiniMax-M2",
                  "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "meta-llama/Llama-3.1-8B", "/models/tiny-llama"):
        try:
            expected = family_for(model).name
        except ValueError:
            expected = "none"
        assert thinking_family(None, model) == expected, model
    assert thinking_family("apriel", "x") == "apriel-1.5" and thinking_family("none", "Qwen/Qwen3-8B") == "qwen3"
    assert fitting_budget("This model's maximum context length is 4096 tokens. However, you requested 900 output "
                          "tokens and your prompt contains at least 3500 input tokens, for a total of at least "
                          "4400 tokens.") == 588
    assert fitting_budget("maximum context length is 4096 tokens. However, you requested 5000 tokens "
                          "(4000 in the messages, 1000 in the completion)") == 88
    assert fitting_budget("The model `x` does not exist.") is None
    assert arena_budget.ANSWER_TOKENS == OpenAIStreams().max_tokens


def test_the_window_is_learned_once_the_server_answers(no_network):
    with FakeVLLM("Qwen/Qwen3-8B", max_model_len=2048, loading=True) as srv:  # engine loading: refused
        qwen = contestant(srv.url, "Qwen/Qwen3-8B", kind="base")
        streams = OpenAIStreams()
        assert streams.context_window(qwen) is None
        assert streams.budget(qwen, MSGS) == 512 + THINKING_TOKENS["qwen3"]
        srv.finish_loading()
        assert streams.context_window(qwen) == 2048
