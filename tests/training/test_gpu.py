"""On a CUDA GPU: the Qwen3 presets' exact path, SFT then DPO, and serving base + adapter on the GPU.

The model is a tiny random Qwen3 carrying Qwen3's own chat template, so everything a real
Qwen3-8B run meets is here except the weights: bf16, SDPA attention, gradient checkpointing,
pure LoRA on all linear layers (what vLLM serves), TRL's patched template for the
assistant-only loss, DPO against the SFT adapter, and the OpenAI-compatible server on CUDA.
Skipped where no GPU is visible (CI); run with `pytest -m gpu` on a GPU host.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from training.recipe import resolve_config
from training.rundata import read_progress

pytestmark = pytest.mark.gpu

REPO = Path(__file__).resolve().parents[2]


def qwen3_cfg(model: Path, snapshot: Path, out: Path, method: str, **kw: object):
    """The qwen3-8b preset as shipped, with only the run's size and pace shrunk for a tiny model."""
    over = dict(base_model=str(model), snapshot=str(snapshot), output_dir=str(out), max_length=256,
                per_device_train_batch_size=4, per_device_eval_batch_size=4, gradient_accumulation_steps=1,
                learning_rate=2e-3, warmup_ratio=0.0, logging_steps=2, eval_steps=6, save_steps=6,
                progress_file=str(out / "progress.jsonl"))
    over.update(kw)
    return resolve_config("qwen3-8b", over, method=method)


def lora_weights(adapter_dir: Path) -> dict:
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(adapter_dir / "adapter_model.safetensors")).items() if "lora_" in k}


@pytest.fixture(scope="module")
def sft_run(tiny_qwen3: Path, snapshot_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    import torch

    from training import sft

    out = tmp_path_factory.mktemp("gpu") / "sft"
    cfg = qwen3_cfg(tiny_qwen3, snapshot_dir, out, "sft", max_steps=12)
    torch.cuda.reset_peak_memory_stats()
    result = sft.main(cfg)
    return {"cfg": cfg, "result": result, "out": out, "peak": torch.cuda.max_memory_allocated()}


def test_qwen3_preset_sft_trains_pure_lora_in_bf16_on_the_gpu(sft_run):
    cfg, result, out = sft_run["cfg"], sft_run["result"], sft_run["out"]
    # The preset itself, not a test variant: bf16 on the GPU, checkpointing, SDPA, pure LoRA.
    assert cfg.bf16 and cfg.gradient_checkpointing and not cfg.use_cpu and cfg.attn_implementation == "sdpa"
    assert cfg.target_modules == "all-linear" and not cfg.modules_to_save
    assert sft_run["peak"] > 0  # the trainer really placed the model on the GPU

    events = read_progress(out / "progress.jsonl")
    # Qwen3's template has no generation markers; TRL's patched copy must give the assistant
    # mask, so the prompt/completion fallback note never appears.
    assert not [e for e in events if e["event"] == "note"], events
    losses = [e["loss"] for e in events if e["event"] == "log"]
    assert len(losses) >= 3 and losses[-1] < losses[0], losses
    assert result["metrics"]["global_step"] == 12 and "eval_loss" in result["metrics"]

    adapter = out / "adapter"
    conf = json.loads((adapter / "adapter_config.json").read_text())
    assert not conf.get("modules_to_save")  # vLLM serves pure LoRA only
    # peft writes "all-linear" out as the modules it matched (full or short names by version).
    targets = {name.rsplit(".", 1)[-1] for name in conf["target_modules"]}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= targets
    assert any(v.abs().sum() > 0 for k, v in lora_weights(adapter).items() if "lora_B" in k)


def test_the_adapter_changes_the_models_output_on_the_gpu(sft_run, tiny_qwen3):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_qwen3))
    base = AutoModelForCausalLM.from_pretrained(str(tiny_qwen3), dtype=torch.bfloat16).to("cuda")
    ids = tok.apply_chat_template([{"role": "user", "content": "Why self-host?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True).to("cuda")
    with torch.no_grad():
        plain = base(**ids).logits.float()
        model = PeftModel.from_pretrained(base, str(sft_run["out"] / "adapter")).eval()
        tuned = model(**ids).logits.float()
        with model.disable_adapter():
            again = model(**ids).logits.float()
    assert torch.equal(plain, again)  # switching the adapter off gives the base back exactly
    assert (tuned - plain).abs().max().item() > 1e-3  # and on, it moves the next-token scores


def test_qwen3_preset_dpo_continues_the_sft_adapter_on_the_gpu(sft_run, tiny_qwen3, snapshot_dir, tmp_path):
    import torch

    from training import dpo

    sft_dir = sft_run["out"] / "adapter"
    cfg = qwen3_cfg(tiny_qwen3, snapshot_dir, tmp_path / "dpo", "dpo", max_steps=6, learning_rate=1e-3,
                    parent_adapter=str(sft_dir), parent_name="voice-v1")
    result = dpo.main(cfg)
    w_sft, w_dpo = lora_weights(sft_dir), lora_weights(tmp_path / "dpo" / "adapter")
    assert w_dpo.keys() == w_sft.keys()
    assert any(not torch.equal(w_sft[k], w_dpo[k]) for k in w_sft)
    assert result["reference"] == "voice-v1" and result["metrics"]["global_step"] == 6
    events = read_progress(tmp_path / "dpo" / "progress.jsonl")
    assert any("rewards/margins" in e for e in events if e["event"] == "log"), events


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_generates_from_base_and_adapter_on_the_gpu(sft_run, tiny_qwen3, tmp_path):
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "training.serving.cpu_server", "--base-model", str(tiny_qwen3), "--served-name", "base",
         "--family", "qwen3", "--device", "cuda", "--port", str(port)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.5)
        # Runtime loading, as the retrain loop does with a new adapter.
        r = httpx.post(f"{url}/v1/load_lora_adapter", json={"lora_name": "voice-v1",
                                                             "lora_path": str(sft_run["out"] / "adapter")})
        assert r.status_code == 200, r.text
        ids = [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]]
        assert ids == ["base", "voice-v1"]

        msgs = [{"role": "system", "content": "You are Dale."}, {"role": "user", "content": "Why self-host?"}]
        for model in ("base", "voice-v1"):
            body = httpx.post(f"{url}/v1/chat/completions", timeout=60, json={
                "model": model, "messages": msgs, "max_tokens": 24, "temperature": 1.0, "seed": 1}).json()
            assert body["model"] == model and body["usage"]["completion_tokens"] > 0, body
            assert body["choices"][0]["message"]["role"] == "assistant"

        with httpx.stream("POST", f"{url}/v1/chat/completions", timeout=60, json={
                "model": "voice-v1", "messages": msgs, "max_tokens": 16, "stream": True}) as r:
            chunks = [line for line in r.iter_lines() if line.startswith("data: ")]
        assert chunks[-1] == "data: [DONE]" and len(chunks) > 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_apriel_preset_qlora_trains_the_language_model_in_4bit_on_the_gpu(tiny_apriel, snapshot_dir, tmp_path):
    """The Apriel preset exactly as shipped for a 48 GB card: NF4 4-bit base, bf16 LoRA, checkpointing."""
    import torch
    from safetensors.torch import load_file

    from training import sft

    out = tmp_path / "apriel"
    cfg = resolve_config("apriel-1.5-15b-thinker", dict(
        base_model=str(tiny_apriel), snapshot=str(snapshot_dir), output_dir=str(out), max_length=256,
        per_device_train_batch_size=4, per_device_eval_batch_size=4, gradient_accumulation_steps=1,
        learning_rate=2e-3, warmup_ratio=0.0, logging_steps=1, eval_steps=6, save_steps=6, max_steps=6,
        progress_file=str(out / "progress.jsonl")), method="sft")
    assert cfg.load_in_4bit and cfg.bf16 and cfg.gradient_checkpointing and cfg.model_class == "image-text-to-text"
    torch.cuda.reset_peak_memory_stats()
    result = sft.main(cfg)
    assert torch.cuda.max_memory_allocated() > 0
    events = read_progress(out / "progress.jsonl")
    assert not [e for e in events if e["event"] == "note"]
    losses = [e["loss"] for e in events if e["event"] == "log"]
    assert losses[-1] < losses[0], losses
    assert result["metrics"]["global_step"] == 6
    weights = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert weights and all("language_model" in k for k in weights)
