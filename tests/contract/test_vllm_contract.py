"""The vLLM contract idiolect relies on, checked against the stand-in in CI and, unchanged, against a
real `vllm serve` on a GPU host (see tests/contract/vllm_server.py for the environment variables).

Where vLLM versions differ, both answers are accepted and named: an engine refusal of an adapter
is 400 BadRequestError in the versions that map add_lora errors to 400 and 500 in those that
map them to InternalServerError; the error body is `{"error": {...}}` (flat in old versions);
the reasoning field is `reasoning` (`reasoning_content` before late 2025).
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import httpx
import pytest

from tests.contract.vllm_server import (
    REAL_URL,
    Server,
    adapter_config_only,
    error_of,
    lora_for,
    real_launcher,
    stand_in_launcher,
    stop,
)
from tests.fakes.vllm import FakeVLLM

ENGINE_REFUSAL = (400, 500)
RANK_REFUSED = re.compile(r"LoRA rank (\d+) is greater than max_lora_rank (\d+)\.")
COUNT_PROMPT = [{"role": "user", "content": "Count from 1 to 200, one number per line, then explain why."}]


@pytest.fixture(scope="module", params=["stand-in", "vllm"])
def server(request, tiny_model):
    if request.param == "vllm":
        if not REAL_URL:
            pytest.skip("no real vLLM: set IDIOLECT_VLLM_URL to a `vllm serve` started with "
                        "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True --enable-lora to run this contract against it")
        yield Server.at(REAL_URL)
        return
    fake = FakeVLLM(str(tiny_model), max_model_len=2048).start()  # vLLM's defaults: rank 16, one LoRA slot
    yield Server.at(fake.url)
    fake.stop()


@pytest.fixture
def adapters(server, tmp_path):
    """Build valid LoRA adapters for the served base model; unloads every name it handed out."""
    model_dir = server.model_dir()
    if model_dir is None:
        pytest.skip(f"the base model's config.json ({server.root}) is not on this machine to build adapters for it")
    names: list[str] = []

    def make(name: str, rank: int = 8) -> tuple[str, Path]:
        names.append(name)
        return name, lora_for(model_dir, tmp_path / name, rank)

    yield make
    for name in names:
        httpx.post(f"{server.url}/v1/unload_lora_adapter", json={"lora_name": name}, timeout=60)


def load(server: Server, name: str, path: Path, **extra: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/load_lora_adapter",
                      json={"lora_name": name, "lora_path": str(path), **extra}, timeout=600)


def chat(server: Server, model: str, **body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/chat/completions",
                      json={"model": model, "messages": COUNT_PROMPT, "temperature": 0, **body}, timeout=600)


def models(server: Server) -> dict[str, dict]:
    return {c["id"]: c for c in httpx.get(f"{server.url}/v1/models", timeout=30).json()["data"]}


def test_health_and_the_models_listing(server):
    r = httpx.get(f"{server.url}/health", timeout=30)
    assert r.status_code == 200 and r.content == b""
    listing = httpx.get(f"{server.url}/v1/models", timeout=30).json()
    assert listing["object"] == "list"
    base = listing["data"][0]
    assert (base["object"], base["owned_by"], base["parent"]) == ("model", "vllm", None)
    assert base["id"] == server.base and isinstance(base["root"], str) and base["max_model_len"] > 0


def test_runtime_adapter_load_list_answer_reload_unload(server, adapters):
    name, path = adapters("contract-v1")
    r = load(server, name, path)
    assert (r.status_code, r.text) == (200, f"Success: LoRA adapter '{name}' added successfully.")
    card = models(server)[name]
    assert (card["parent"], card["root"]) == (server.base, str(path))  # the adapter's path, under its base
    assert chat(server, name, max_tokens=4).status_code == 200
    again = load(server, name, path)
    assert again.status_code == 400
    kind, msg = error_of(again)
    assert kind == "InvalidUserInput" and f"The lora adapter '{name}' has already been loaded" in msg
    assert load(server, name, path, load_inplace=True).status_code == 200  # replacing in place is allowed
    r = httpx.post(f"{server.url}/v1/unload_lora_adapter", json={"lora_name": name}, timeout=60)
    assert (r.status_code, r.text) == (200, f"Success: LoRA adapter '{name}' removed successfully.")
    assert name not in models(server)
    gone = httpx.post(f"{server.url}/v1/unload_lora_adapter", json={"lora_name": name}, timeout=60)
    assert gone.status_code == 404
    assert error_of(gone) == ("NotFoundError", f"The lora adapter '{name}' cannot be found.")


def test_a_rank_above_max_lora_rank_is_refused(server, tmp_path):
    # vLLM validates adapter_config.json before it reads any weight, so a config alone shows it.
    r = load(server, "contract-r1024", adapter_config_only(tmp_path / "r1024", 1024))
    assert r.status_code in ENGINE_REFUSAL
    refused = RANK_REFUSED.search(error_of(r)[1])
    assert refused and refused.group(1) == "1024"
    max_rank = int(refused.group(2))
    if max_rank < 512:  # the next size vLLM knows: just above this server's limit
        above = {1: 8, 8: 16, 16: 32, 32: 64, 64: 128, 128: 256, 256: 320, 320: 512}[max_rank]
        r = load(server, "contract-above", adapter_config_only(tmp_path / "above", above))
        assert r.status_code in ENGINE_REFUSAL
        assert f"LoRA rank {above} is greater than max_lora_rank {max_rank}." in error_of(r)[1]
    assert "contract-r1024" not in models(server) and "contract-above" not in models(server)


def test_modules_trained_in_full_are_refused(server, tmp_path):
    r = load(server, "contract-mts", adapter_config_only(tmp_path / "mts", 8, modules_to_save=["lm_head"]))
    assert r.status_code in ENGINE_REFUSAL and "modules_to_save" in error_of(r)[1]


def test_bad_load_requests(server, tmp_path):
    r = httpx.post(f"{server.url}/v1/load_lora_adapter", json={"lora_name": "x"}, timeout=60)
    assert r.status_code == 400 and error_of(r) == ("InvalidUserInput",
                                                    "Both 'lora_name' and 'lora_path' must be provided.")
    r = load(server, "contract-nowhere", tmp_path / "nowhere")
    assert r.status_code == 404 and error_of(r)[0] == "NotFoundError" and "No adapter found" in error_of(r)[1]


def test_more_adapters_than_max_loras_all_load_and_answer(server, adapters):
    # --max-loras (default 1) is adapters per batch, not adapters loaded: a third loads and answers.
    loaded = [adapters(f"contract-many-{i}") for i in range(3)]
    for name, path in loaded:
        assert load(server, name, path).status_code == 200
    answers: dict[str, int] = {}

    def ask(name: str) -> None:
        answers[name] = chat(server, name, max_tokens=8).status_code

    threads = [threading.Thread(target=ask, args=(n,)) for n, _ in loaded]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert answers == {n: 200 for n, _ in loaded}


def test_unknown_model_is_404(server):
    r = chat(server, "no-such-adapter", max_tokens=4)
    assert r.status_code == 404 and error_of(r) == ("NotFoundError", "The model `no-such-adapter` does not exist.")


def test_max_tokens_caps_every_generated_token_thinking_included(server):
    r = chat(server, server.base, max_tokens=12)
    assert r.status_code == 200
    body = r.json()
    choice, usage = body["choices"][0], body["usage"]
    assert choice["finish_reason"] == "length" and usage["completion_tokens"] == 12
    msg = choice["message"]
    reasoning = msg.get("reasoning") or msg.get("reasoning_content")
    if reasoning:  # the thinking came out of the same 12 tokens: what is left for the answer is less
        assert len((msg.get("content") or "").split()) < 12


def test_a_prompt_plus_max_tokens_beyond_the_window_is_400(server):
    r = chat(server, server.base, max_tokens=server.max_model_len)
    assert r.status_code == 400
    kind, msg = error_of(r)
    assert kind == "BadRequestError" and f"maximum context length is {server.max_model_len} tokens" in msg


def test_streaming_shape(server):
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", timeout=600,
                      json={"model": server.base, "messages": COUNT_PROMPT, "max_tokens": 6, "stream": True,
                            "stream_options": {"include_usage": True}}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 6


# ---------------------------------------------------------------------- start-up (servers launched here)


@pytest.fixture(params=["stand-in", "vllm"])
def launcher(request, tiny_model):
    if request.param == "vllm":
        real = real_launcher()
        if real is None:
            pytest.skip("no real vLLM to launch: set IDIOLECT_VLLM_BIN and IDIOLECT_VLLM_MODEL "
                        "(and IDIOLECT_VLLM_ARGS for flags such as --max-model-len)")
        return real
    return stand_in_launcher(tiny_model)


def test_the_port_refuses_connections_until_the_engine_is_up(launcher, tmp_path):
    # Not 503: vLLM binds the port before building the engine and listens only afterwards.
    proc, url = launcher.start(tmp_path / "log.txt")
    try:
        seen = launcher.probe_until_up(proc, url)
    finally:
        log = stop(proc, tmp_path / "log.txt")
    assert seen and seen[-1] == "200", log[-2000:]
    assert "refused" in seen and set(seen) <= {"refused", "200"}, seen


def test_a_static_adapter_above_the_max_rank_stops_start_up(launcher, tmp_path):
    adapter = adapter_config_only(tmp_path / "r32", 32)
    proc, url = launcher.start(tmp_path / "log.txt", "--enable-lora", "--lora-modules", f"voice={adapter}")
    try:
        proc.wait(launcher.timeout)
    finally:
        log = stop(proc, tmp_path / "log.txt")
    assert proc.returncode != 0 and "LoRA rank 32 is greater than max_lora_rank 16." in log


def test_runtime_loading_needs_the_env_flag(launcher, tmp_path):
    proc, url = launcher.start(tmp_path / "log.txt", "--enable-lora", runtime_lora=False)
    try:
        assert launcher.probe_until_up(proc, url)[-1] == "200"
        r = httpx.post(f"{url}/v1/load_lora_adapter",
                       json={"lora_name": "x", "lora_path": str(adapter_config_only(tmp_path / "a", 8))}, timeout=60)
        assert r.status_code == 404
    finally:
        stop(proc, tmp_path / "log.txt")
