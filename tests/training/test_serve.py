"""Serving: the vLLM command line, a serve job against a stand-in `vllm`, runtime adapter loading."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fakes.vllm import FakeVLLM

from core.errors import ConfigError, JobError
from core.generate import GenerationClient
from core.schemas import JobStatus
from training.jobs import JobRunner
from training.registry import register_adapter
from training.serve import (
    ServeSpec,
    command_for,
    cpu_command,
    hot_load,
    load_adapter,
    served_models,
    unload_adapter,
    vllm_command,
)

FAKE_VLLM = Path(__file__).resolve().parents[1] / "fakes" / "vllm.py"


def adapter_dir(root: Path, rank: int = 16) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_config.json").write_text(json.dumps({"r": rank, "peft_type": "LORA"}))
    (root / "training_result.json").write_text(json.dumps({"base_model": "Qwen/Qwen3-8B", "method": "sft"}))
    return root


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_vllm_command_line(tmp_path):
    a, b = adapter_dir(tmp_path / "v1", rank=16), adapter_dir(tmp_path / "v2", rank=24)
    spec = ServeSpec(base_model="Qwen/Qwen3-8B", adapters={"voice-v1": str(a), "voice-v2": str(b)},
                     family="qwen3", port=8011, backend="vllm")
    cmd = vllm_command(spec)
    assert cmd[:5] == ["env", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True", "vllm", "serve", "Qwen/Qwen3-8B"]
    assert cmd[cmd.index("--max-lora-rank") + 1] == "32"  # 24 rounded up to a size vLLM accepts
    assert cmd[cmd.index("--max-loras") + 1] == "4" and "--enable-lora" in cmd
    i = cmd.index("--lora-modules")
    assert cmd[i + 1:i + 3] == [f"voice-v1={a.resolve()}", f"voice-v2={b.resolve()}"]
    assert cmd[cmd.index("--reasoning-parser") + 1] == "qwen3"
    apriel = vllm_command(ServeSpec(base_model="ServiceNow-AI/Apriel-1.5-15b-Thinker", family="apriel"))
    assert "--reasoning-parser" not in apriel and "--lora-modules" not in apriel
    assert command_for(ServeSpec(base_model="m", backend="cpu"))[1:3] == ["-m", "training.cpu_server"]
    assert cpu_command(ServeSpec(base_model="m", adapters={"voice-v1": str(a)}))[-1] == f"voice-v1={a.resolve()}"
    with pytest.raises(ConfigError, match="unknown keys \\['gpus'\\]"):
        ServeSpec.from_dict({"base_model": "m", "gpus": 2})
    with pytest.raises(ConfigError, match="not an adapter directory"):
        vllm_command(ServeSpec(base_model="m", adapters={"x": str(tmp_path)}))


def test_serve_job_starts_vllm_registers_and_hot_loads(store, settings, tmp_path, no_network):
    # A stand-in `vllm` executable: same flags, same endpoints, and runtime LoRA loading only
    # when VLLM_ALLOW_RUNTIME_LORA_UPDATING reached it, as in vLLM.
    vllm_bin = tmp_path / "vllm"
    vllm_bin.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE_VLLM} \"$@\"\n")
    vllm_bin.chmod(0o755)
    v1 = register_adapter(store, path=adapter_dir(tmp_path / "voice-v1"))
    port = free_port()
    runner = JobRunner(store, settings)
    job = runner.start("serve", {"base_model": "Qwen/Qwen3-8B", "base_name": "qwen3-8b", "family": "qwen3",
                                 "adapters": {v1.name: v1.path}, "backend": "vllm", "port": port,
                                 "vllm_bin": str(vllm_bin), "health_timeout": 60})
    try:
        ready = runner.wait(job.id, timeout=90)
        assert ready.status == JobStatus.running and ready.output == f"http://127.0.0.1:{port}/v1", ready.error
        log = Path(ready.log_path).read_text()
        assert '"runtime_lora": true' in log and "--reasoning-parser" in log
        base = store.registry.require_model("qwen3-8b")
        assert (base.endpoint, base.served_name) == (ready.output, "Qwen/Qwen3-8B")
        assert store.registry.require_model(v1.name).endpoint == ready.output
        assert served_models(ready.output) == ["Qwen/Qwen3-8B", v1.name]

        v2 = register_adapter(store, path=adapter_dir(tmp_path / "voice-v2"), parent=v1.name)
        hot_load(store, v2.name, ready.output)
        assert v2.name in served_models(ready.output)
        assert store.registry.require_model(v2.name).served_name == v2.name
        answer = GenerationClient(ready.output).chat(v2.name, [{"role": "user", "content": "hi"}])
        assert answer.text.startswith(f"Answer from {v2.name}") and answer.reasoning
        with pytest.raises(JobError, match="already been loaded"):
            load_adapter(ready.output, v2.name, v2.path)
        unload_adapter(ready.output, v2.name)
        assert v2.name not in served_models(ready.output)
        with pytest.raises(JobError, match="cannot be found"):
            unload_adapter(ready.output, v2.name)
    finally:
        stopped = runner.cancel(job.id, grace=10)
    assert stopped.status == JobStatus.cancelled


def test_runtime_loading_refused_without_the_env_flag(tmp_path):
    with FakeVLLM("base", runtime_lora=False) as srv:
        with pytest.raises(JobError, match="404"):
            load_adapter(srv.url, "voice-v1", adapter_dir(tmp_path / "a"))
