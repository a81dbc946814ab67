"""The shipped GPU presets' code paths on CPU, on tiny models of their own architectures.

The Qwen3 and Apriel presets cannot run their real weights here, but everything between the
preset file and the saved adapter can: the model class (Apriel loads as image-text-to-text),
the LoRA target pattern, the chat template and its assistant mask, the family's rendering.
Only the hardware settings are swapped (CPU, float32, no 4-bit: bitsandbytes needs CUDA);
tests/training/test_gpu.py runs the rest on a GPU.
"""

from __future__ import annotations

import json
from pathlib import Path

from training.recipe import resolve_config
from training.rundata import read_progress

ON_CPU = dict(use_cpu=True, bf16=False, load_in_4bit=False, max_length=256, per_device_train_batch_size=4,
              per_device_eval_batch_size=4, gradient_accumulation_steps=1, learning_rate=2e-3, warmup_ratio=0.0,
              logging_steps=1, eval_steps=4, save_steps=4, max_steps=4)


def run_sft(preset: str, model: Path, snapshot: Path, out: Path) -> tuple[dict, list[dict], dict]:
    from training import sft

    cfg = resolve_config(preset, dict(base_model=str(model), snapshot=str(snapshot), output_dir=str(out),
                                      progress_file=str(out / "progress.jsonl"), **ON_CPU), method="sft")
    result = sft.main(cfg)
    conf = json.loads((out / "adapter" / "adapter_config.json").read_text())
    return result, read_progress(out / "progress.jsonl"), conf


def test_apriel_preset_trains_only_the_language_model(tiny_apriel, snapshot_dir, tmp_path):
    from safetensors.torch import load_file

    result, events, conf = run_sft("apriel-1.5-15b-thinker", tiny_apriel, snapshot_dir, tmp_path / "apriel")
    assert result["config"]["model_class"] == "image-text-to-text" and result["config"]["family"] == "apriel-1.5"
    # The shipped Apriel template has generation markers: no fallback to prompt/completion loss.
    assert not [e for e in events if e["event"] == "note"]
    losses = [e["loss"] for e in events if e["event"] == "log"]
    assert losses[-1] < losses[0], losses
    weights = load_file(str(tmp_path / "apriel" / "adapter" / "adapter_model.safetensors"))
    assert weights and all("language_model" in k for k in weights)  # the vision tower is never touched
    assert {k.split(".")[-3] for k in weights if "lora_A" in k} == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert not conf.get("modules_to_save")


def test_qwen3_preset_uses_trls_patched_template_for_the_assistant_mask(tiny_qwen3, snapshot_dir, tmp_path):
    result, events, conf = run_sft("qwen3-8b", tiny_qwen3, snapshot_dir, tmp_path / "qwen3")
    assert result["config"]["family"] == "qwen3" and result["config"]["gradient_checkpointing"]
    assert not [e for e in events if e["event"] == "note"]  # Qwen3's template got TRL's generation markers
    assert result["metrics"]["global_step"] == 4 and "eval_loss" in result["metrics"]
    assert not conf.get("modules_to_save")
