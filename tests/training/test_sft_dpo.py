"""SFT then DPO on the tiny model change the LoRA weights; the adapters reload and generate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ConfigError
from training.recipe import config_from_args, list_presets, resolve_config
from training.rundata import read_progress
from training.runs.registry import lineage, register_adapter


def lora_weights(adapter_dir: Path) -> dict:
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(adapter_dir / "adapter_model.safetensors")).items() if "lora_" in k}


def tiny_cfg(tiny_model: Path, snapshot: Path, out: Path, method: str, **kw):
    over = dict(base_model=str(tiny_model), snapshot=str(snapshot), output_dir=str(out), max_length=128,
                max_examples=16, save_steps=4, eval_steps=4, logging_steps=2,
                progress_file=str(out / "progress.jsonl"))
    over.update(kw)
    return resolve_config("tiny-cpu", over, method=method)


def test_sft_then_dpo_change_lora_weights_and_reload(tiny_model, snapshot_dir, tmp_path, store):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training import dpo, sft

    sft_result = sft.main(tiny_cfg(tiny_model, snapshot_dir, tmp_path / "sft", "sft", max_steps=8))
    sft_dir = tmp_path / "sft" / "adapter"
    w_sft = lora_weights(sft_dir)
    # LoRA B starts at zero: any non-zero B means SFT moved the adapter.
    assert any(v.abs().sum() > 0 for k, v in w_sft.items() if "lora_B" in k)
    assert sft_result["metrics"]["global_step"] == 8 and "eval_loss" in sft_result["metrics"]
    events = read_progress(tmp_path / "sft" / "progress.jsonl")
    assert [e["event"] for e in events][0] == "start" and events[-1]["event"] == "done"
    assert any(e["event"] == "eval" for e in events) and any(e["event"] == "log" for e in events)
    card = (sft_dir / "README.md").read_text()
    assert str(tiny_model) in card and "snap-test-1" in card and "eval_loss" in card

    v1 = register_adapter(store, path=sft_dir)
    dpo_result = dpo.main(tiny_cfg(tiny_model, snapshot_dir, tmp_path / "dpo", "dpo", max_steps=3,
                                   parent_adapter=str(sft_dir), parent_name=v1.name))
    dpo_dir = tmp_path / "dpo" / "adapter"
    w_dpo = lora_weights(dpo_dir)
    assert w_dpo.keys() == w_sft.keys()  # one adapter on the base, same shape as its parent
    assert any(not torch.equal(w_sft[k], w_dpo[k]) for k in w_sft)
    assert dpo_result["reference"] == v1.name and len(dpo_result["preference_ids"]) == 16
    assert not (dpo_dir / "ref").exists()  # the frozen reference copy is not shipped

    v2 = register_adapter(store, path=dpo_dir)
    assert [m.name for m in lineage(store, v2.name)] == [v2.name, v1.name]
    assert v2.method == "dpo" and v2.preference_ids[:2] == ["pref-0", "pref-1"]

    tok = AutoTokenizer.from_pretrained(str(tiny_model))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model)), str(dpo_dir))
    ids = tok.apply_chat_template([{"role": "user", "content": "Why self-host?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_dpo_without_parent_uses_the_base_as_reference(tiny_model, snapshot_dir, tmp_path):
    from training import dpo

    result = dpo.main(tiny_cfg(tiny_model, snapshot_dir, tmp_path / "dpo0", "dpo", max_steps=2, max_examples=8))
    assert result["reference"] == "base" and result["parent_adapter"] is None
    assert any(v.abs().sum() > 0 for k, v in lora_weights(tmp_path / "dpo0" / "adapter").items() if "lora_B" in k)


def test_presets_resolve_and_overrides_win(tmp_path):
    assert {"apriel-1.5-15b-thinker", "qwen3-8b", "qwen3-14b", "tiny-cpu"} <= set(list_presets())
    q = resolve_config("qwen3-8b", {"learning_rate": "2e-5"})
    assert (q.base_model, q.family, q.learning_rate, q.bf16) == ("Qwen/Qwen3-8B", "qwen3", 2e-5, True)
    d = resolve_config("qwen3-8b", method="dpo")
    assert d.method == "dpo" and d.learning_rate == 5e-6  # the preset's dpo: section
    a = resolve_config("apriel-1.5-15b-thinker")
    assert a.load_in_4bit and a.model_class == "image-text-to-text"
    cfg = config_from_args("sft", ["--preset", "tiny-cpu", "--base-model", "x", "--max-steps", "3",
                                   "--packing", "true"])
    assert (cfg.max_steps, cfg.packing, cfg.use_cpu) == (3, True, True)
    with pytest.raises(ConfigError, match="unknown preset 'nope'.*tiny-cpu"):
        resolve_config("nope")
    with pytest.raises(ConfigError, match="unknown keys \\['lr'\\]"):
        resolve_config("tiny-cpu", {"lr": 1, "base_model": "x"})
    with pytest.raises(ConfigError, match="base_model is required"):
        resolve_config("tiny-cpu")
    with pytest.raises(ConfigError, match="max_steps: cannot read 'many'"):
        resolve_config("tiny-cpu", {"base_model": "x", "max_steps": "many"})


def test_bad_snapshot_fails_fast_naming_file_and_line(tmp_path):
    from training import sft

    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "train.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    cfg = resolve_config("tiny-cpu", {"base_model": "x", "snapshot": str(snap), "output_dir": str(tmp_path / "o")})
    with pytest.raises(ConfigError, match=r"train.jsonl:1: the last message must be the assistant's"):
        sft.main(cfg)
