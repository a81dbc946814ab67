"""The CPU server as a client meets it: batching, guided JSON, forced tools, disconnects, shutdown.

Runs the real server process on the tiny random model (fast); the default model's behaviour
is covered by the slow end-to-end test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from training.serving.serve import wait_healthy

REPO = Path(__file__).resolve().parents[2]

SCHEMA = {"type": "object", "properties": {
    "mood": {"enum": ["calm", "blunt", "dry"]},
    "line": {"type": "string", "minLength": 3, "maxLength": 40},
    "count": {"type": "integer", "minimum": 1, "maximum": 9}},
    "required": ["mood", "line", "count"], "additionalProperties": False}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def random_adapter(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter with random (non-zero) weights: it changes the answers without training."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                           LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    out = tmp_path_factory.mktemp("adapter") / "voice-x"
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def server(tiny_model: Path, random_adapter: Path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "training.serving.cpu_server", "--base-model", str(tiny_model),
                             "--served-name", "base", "--adapter", f"voice-x={random_adapter}",
                             "--port", str(port)], cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=120, proc=proc)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def chat(url: str, **body) -> dict:
    body = {"model": "base", "messages": [{"role": "user", "content": "Tell me about joinery."}], **body}
    r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def test_concurrent_requests_share_a_batch_and_keep_their_own_adapter_and_seed(server) -> None:
    url, _ = server
    solo = {m: chat(url, model=m, max_tokens=12, temperature=0.9, seed=7)["choices"][0]["message"]["content"]
            for m in ("base", "voice-x")}
    out: dict[str, str] = {}

    def ask(m: str) -> None:
        out[m] = chat(url, model=m, max_tokens=12, temperature=0.9, seed=7)["choices"][0]["message"]["content"]

    threads = [threading.Thread(target=ask, args=(m,)) for m in ("base", "voice-x")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out["base"] != out["voice-x"], "each row must decode with its own adapter"
    # Same seed, same adapter: the same tokens whether decoded alone or beside another row.
    assert out == solo


def test_a_short_request_joins_the_running_batch_instead_of_waiting_for_a_long_one(server) -> None:
    """Continuous batching: an arena answer must not queue behind a long guided draft."""
    url, _ = server
    long_started, long_done = threading.Event(), threading.Event()

    def long_stream() -> None:
        with httpx.stream("POST", f"{url}/v1/chat/completions", timeout=300, json={
                "model": "base", "messages": [{"role": "user", "content": "go on"}], "max_tokens": 300,
                "ignore_eos": True, "stream": True}) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    long_started.set()
        long_done.set()

    t = threading.Thread(target=long_stream)
    t.start()
    assert long_started.wait(120)
    short = chat(url, model="voice-x", max_tokens=5, ignore_eos=True)
    assert short["usage"]["completion_tokens"] == 5
    assert not long_done.is_set(), "the short request waited for the long one to finish"
    t.join(timeout=300)
    assert long_done.is_set()


def test_response_format_json_schema_is_always_valid(server) -> None:
    url, _ = server
    for seed in range(5):
        body = chat(url, max_tokens=60, temperature=1.0, seed=seed,
                    response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}})
        data = json.loads(body["choices"][0]["message"]["content"])
        assert set(data) == {"mood", "line", "count"} and data["mood"] in SCHEMA["properties"]["mood"]["enum"]
        assert 3 <= len(data["line"]) <= 40 and 1 <= data["count"] <= 9


def test_forced_tool_returns_a_tool_call_streamed_or_not(server) -> None:
    url, _ = server
    tools = [{"type": "function", "function": {"name": "note", "parameters": SCHEMA}}]
    body = chat(url, max_tokens=60, seed=1, tools=tools, tool_choice={"type": "function", "function": {"name": "note"}})
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "note"
    assert set(json.loads(call["function"]["arguments"])) == set(SCHEMA["required"])
    args = []
    with httpx.stream("POST", f"{url}/v1/chat/completions", timeout=120, json={
            "model": "base", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 60, "seed": 1,
            "stream": True, "tools": tools, "tool_choice": {"type": "function", "function": {"name": "note"}}}) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                for c in json.loads(line[6:])["choices"][0]["delta"].get("tool_calls") or []:
                    args.append(c["function"].get("arguments") or "")
    assert json.loads("".join(args)) == json.loads(call["function"]["arguments"])


def test_bad_requests_get_vllm_style_errors(server) -> None:
    url, _ = server
    cases = [({"model": "nope"}, 404), ({"max_tokens": 0}, 400), ({"max_tokens": 10**6}, 400),
             ({"tool_choice": {"type": "function", "function": {"name": "missing"}}, "tools": []}, 400),
             ({"response_format": {"type": "json_schema", "json_schema": {"schema": "not a schema"}}}, 400)]
    for extra, status in cases:
        body = {"model": "base", "messages": [{"role": "user", "content": "hi"}], **extra}
        r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)
        assert r.status_code == status, (extra, r.text)
        assert r.json()["object"] == "error" and r.json()["message"]


def test_a_client_that_leaves_mid_stream_frees_the_server(server, random_adapter: Path) -> None:
    """Finding 1 of the hardening issue: an abandoned stream used to keep the model lock forever."""
    url, _ = server
    with httpx.stream("POST", f"{url}/v1/chat/completions", timeout=60, json={
            "model": "base", "messages": [{"role": "user", "content": "go on"}], "max_tokens": 400,
            "stream": True, "temperature": 1.0}) as r:
        lines = r.iter_lines()
        for _ in range(3):
            next(lines)
    # The client is gone. Loading an adapter must go through, and health must answer meanwhile.
    health = httpx.get(f"{url}/health", timeout=10)
    assert health.status_code == 200
    r = httpx.post(f"{url}/v1/load_lora_adapter", json={"lora_name": "voice-y", "lora_path": str(random_adapter)},
                   timeout=60)
    assert r.status_code == 200, r.text
    assert "voice-y" in [m["id"] for m in httpx.get(f"{url}/v1/models", timeout=10).json()["data"]]
    assert chat(url, model="voice-y", max_tokens=4)["choices"][0]["finish_reason"] in ("stop", "length")
    r = httpx.post(f"{url}/v1/unload_lora_adapter", json={"lora_name": "voice-y"}, timeout=60)
    assert r.status_code == 200


def test_sigterm_stops_the_server_while_it_streams(tiny_model: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "training.serving.cpu_server", "--base-model", str(tiny_model),
                             "--served-name", "base", "--port", str(port)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=120, proc=proc)
        client = httpx.Client(timeout=60)
        stream = client.stream("POST", f"{url}/v1/chat/completions", json={
            "model": "base", "messages": [{"role": "user", "content": "go"}], "max_tokens": 400,
            "stream": True})
        r = stream.__enter__()
        next(r.iter_lines())  # generating now, and the client never reads the rest
        proc.send_signal(signal.SIGTERM)
        # Liveness, not speed: a server stuck on a held lock never exits at all.
        assert proc.wait(timeout=60) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_small_model_decodes_on_one_thread_unless_told_otherwise(tiny_model: Path, monkeypatch) -> None:
    """One intra-op thread for a small model: with another busy process, two threads were 3x slower."""
    import torch

    from training.serving.model_host import ModelHost, cpu_threads

    assert cpu_threads(135_000_000, 2) == 1
    assert cpu_threads(8_000_000_000, 16) == 16
    assert cpu_threads(135_000_000, 16, requested=4) == 4
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        ModelHost(str(tiny_model), device="cpu").engine.close()
        assert torch.get_num_threads() == 1
        ModelHost(str(tiny_model), device="cpu", threads=2).engine.close()
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the owner's own setting is left alone
        torch.set_num_threads(3)
        ModelHost(str(tiny_model), device="cpu").engine.close()
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
