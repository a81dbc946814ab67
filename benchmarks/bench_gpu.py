"""Benchmark on one CUDA GPU: the Qwen3 presets' LoRA training and adapter generation, side by side.

    python benchmarks/bench_gpu.py [--shapes qwen3-0.6b,qwen3-8b] [--out benchmarks/results/gpu.md]

No weights can be downloaded where this runs, so each model is the real architecture at its
real size (Qwen3Config with the published dimensions) with random bf16 weights: speed and
memory depend on the shapes, not on the values. Training goes through the project's own
recipe (`resolve_config` of the shipped preset, `lora_config`, `trainer_kwargs`) and TRL's
SFTTrainer, so the figures are those of `idiolect train --preset qwen3-8b` on this GPU.
Compared in one run, as ratios: gradient checkpointing on vs off (speed and peak memory),
packing vs padding on variable-length examples, and generation with an unmerged LoRA
adapter vs the bare base.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import core  # noqa: E402,F401  (telemetry off first)

# Published dimensions (config.json of Qwen/Qwen3-0.6B and Qwen/Qwen3-8B).
SHAPES = {
    "qwen3-0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True,
                       preset="qwen3-8b"),
    "qwen3-8b": dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32,
                     num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=False,
                     preset="qwen3-8b"),
    "qwen3-14b": dict(hidden_size=5120, intermediate_size=17408, num_hidden_layers=40, num_attention_heads=40,
                      num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=False,
                      preset="qwen3-14b"),
}


def build_model(shape: dict, tok) -> object:  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    dims = {k: v for k, v in shape.items() if k != "preset"}
    cfg = Qwen3Config(max_position_embeddings=40960, rope_theta=1e6, rms_norm_eps=1e-6,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, attn_implementation="sdpa", **dims)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    return model


def make_rows(tok, words: list[str], n: int, lengths: tuple[int, int], seed: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """Chat rows whose answers run `lengths` tokens (about; BPE on the fixture vocabulary)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        target = rng.randint(*lengths)
        text = " ".join(rng.choice(words) for _ in range(target))
        ids = tok(text, add_special_tokens=False)["input_ids"][:target]
        rows.append({"messages": [{"role": "system", "content": "You are Dale."},
                                  {"role": "user", "content": f"Question {i}: why would you do it that way?"},
                                  {"role": "assistant", "content": tok.decode(ids)}]})
    return rows


def train_once(model, tok, rows, preset: str, out: Path, **over) -> dict:  # type: ignore[no-untyped-def]
    """Train a fresh LoRA for a few steps with the preset's settings; tokens/s after warm-up, peak memory."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from training.lora import lora_config, trainer_kwargs
    from training.recipe import resolve_config

    cfg = resolve_config(preset, dict(base_model="(in memory)", output_dir=str(out), logging_steps=1,
                                      save_steps=10_000, eval_steps=0, **over), method="sft")
    stamps: list[tuple[float, float]] = []

    class Clock(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):  # type: ignore[no-untyped-def]
            if logs and "num_tokens" in logs:
                torch.cuda.synchronize()
                stamps.append((time.perf_counter(), float(logs["num_tokens"])))

    kwargs = {**trainer_kwargs(cfg, out / "checkpoints", False), "save_strategy": "no"}
    args = SFTConfig(**kwargs, packing=cfg.packing, assistant_only_loss=False)
    # The trainer switches checkpointing on when asked but never off; reset it for each configuration.
    model.gradient_checkpointing_disable()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    trainer = SFTTrainer(model=model, args=args, processing_class=tok, peft_config=lora_config(cfg),
                         train_dataset=Dataset.from_list(rows), callbacks=[Clock()])
    trainer.train()
    peak = torch.cuda.max_memory_allocated() / 2**30
    (t0, n0), (t1, n1) = stamps[2], stamps[-1]  # the first steps carry compilation and allocator warm-up
    trainer.model.unload()  # hand the bare base back for the next configuration
    del trainer
    return {"tokens_per_s": (n1 - n0) / (t1 - t0), "peak_gib": peak, "steps": len(stamps),
            "max_length": cfg.max_length, "lora_r": cfg.lora_r, "batch": cfg.per_device_train_batch_size,
            "grad_accum": cfg.gradient_accumulation_steps}


def generate_rate(model, tok, adapter_dir: Path | None, new_tokens: int, batch: int) -> float:  # type: ignore[no-untyped-def]
    """Greedy decode tokens/s (batch × new tokens / time), bare base or with an unmerged adapter."""
    import torch
    from peft import PeftModel

    m = PeftModel.from_pretrained(model, str(adapter_dir)) if adapter_dir else model
    m.eval()
    prompt = tok.apply_chat_template([{"role": "user", "content": "Why self-host the model at all?"}],
                                     add_generation_prompt=True, return_tensors="pt", return_dict=True)
    ids = {k: v.repeat(batch, 1).to("cuda") for k, v in prompt.items()}
    kw = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    with torch.no_grad():
        m.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)  # warm-up
        torch.cuda.synchronize()
        t = time.perf_counter()
        m.generate(**ids, **kw)
        torch.cuda.synchronize()
        rate = batch * new_tokens / (time.perf_counter() - t)
    if adapter_dir:
        m.unload()
    return rate


def bench_shape(name: str, tok, words: list[str], work: Path) -> list[dict]:  # type: ignore[no-untyped-def]
    import torch

    shape = SHAPES[name]
    preset = shape["preset"]
    t = time.perf_counter()
    model = build_model(shape, tok)
    params = sum(p.numel() for p in model.parameters()) / 1e9
    results = [{"shape": name, "what": "build random bf16 model", "params_b": params,
                "seconds": time.perf_counter() - t}]
    fixed = make_rows(tok, words, 64, (2000, 2048), seed=1)
    varied = make_rows(tok, words, 96, (200, 2048), seed=2)
    common = dict(max_length=2048, per_device_train_batch_size=1, gradient_accumulation_steps=2, max_steps=10)
    for label, rows, over in [
        ("SFT LoRA, preset (grad. checkpointing on), 2k-token examples", fixed, {}),
        ("SFT LoRA, grad. checkpointing off, 2k-token examples", fixed, {"gradient_checkpointing": False}),
        ("SFT LoRA, padding, 200-2k-token examples", varied, {"per_device_train_batch_size": 4}),
        ("SFT LoRA, packing, 200-2k-token examples", varied, {"packing": True}),
    ]:
        r = train_once(model, tok, rows, preset, work / f"{name}-{len(results)}", **{**common, **over})
        results.append({"shape": name, "what": label, **r})
        print(json.dumps(results[-1]), flush=True)

    # An adapter to generate with: one short real training run, saved the way sft.py saves it.
    adapter = work / f"{name}-adapter"
    from peft import get_peft_model

    from training.lora import lora_config
    from training.recipe import resolve_config

    peft_model = get_peft_model(model, lora_config(resolve_config(preset, {"base_model": "x"}, method="sft")))
    with torch.no_grad():  # non-zero B so the adapter really computes something
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 1e-3)
    peft_model.save_pretrained(str(adapter))
    model = peft_model.unload()
    for batch in (1, 8):
        base_rate = generate_rate(model, tok, None, 128, batch)
        lora_rate = generate_rate(model, tok, adapter, 128, batch)
        results.append({"shape": name, "what": f"generate, batch {batch}, 128 new tokens",
                        "base_tokens_per_s": base_rate, "adapter_tokens_per_s": lora_rate,
                        "adapter_vs_base": lora_rate / base_rate})
        print(json.dumps(results[-1]), flush=True)
    del model
    torch.cuda.empty_cache()
    return results


def preset_memory(name: str, tok, words: list[str], work: Path) -> dict:  # type: ignore[no-untyped-def]
    """Peak memory and speed of the shape's preset exactly as shipped (batch, max_length 4096, LoRA rank,
    checkpointing), on full-length examples; only the step count is cut (and accumulation, which
    does not change the peak)."""
    import torch

    shape = SHAPES[name]
    model = build_model(shape, tok)
    rows = make_rows(tok, words, 48, (4000, 4096), seed=3)
    r = train_once(model, tok, rows, shape["preset"], work / f"{name}-preset", gradient_accumulation_steps=1,
                   max_steps=6)
    del model
    torch.cuda.empty_cache()
    return {"shape": name, "preset": shape["preset"], **r}


def presets_markdown(results: list[dict], device: str) -> str:
    lines = ["### The GPU presets as shipped: peak memory at their max_length", "",
             f"Machine: {device}; date {datetime.now(UTC).strftime('%Y-%m-%d')}. "
             "`python benchmarks/bench_gpu.py --presets`. Full-length (about 4,000-token) examples.", "",
             "| preset | batch | max_length | LoRA r | tokens/s | peak GiB |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['preset']} | {r['batch']} | {r['max_length']} | {r['lora_r']} | "
                     f"{r['tokens_per_s']:,.0f} | {r['peak_gib']:.1f} |")
    return "\n".join(lines) + "\n"


def to_markdown(results: list[dict], device: str) -> str:
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = ["## GPU training and generation (issue 5 presets on real shapes)", "",
             f"Machine: {device}; date {date}. `python benchmarks/bench_gpu.py`. Random bf16 weights in the "
             "published Qwen3 shapes (nothing can be downloaded there); training through the shipped "
             "`qwen3-8b` preset via `training.recipe` + TRL SFTTrainer; LoRA r=32 on all linear layers, SDPA.", "",
             "| model shape | run | tokens/s | peak GiB | notes |", "|---|---|---|---|---|"]
    by = {}
    for r in results:
        by.setdefault(r["shape"], []).append(r)
        if "tokens_per_s" in r:
            lines.append(f"| {r['shape']} | {r['what']} | {r['tokens_per_s']:,.0f} | {r['peak_gib']:.1f} | "
                         f"batch {r['batch']} × accum {r['grad_accum']}, max_length {r['max_length']} |")
        elif "params_b" in r:
            lines.append(f"| {r['shape']} | {r['what']} | | | {r['params_b']:.2f} B parameters, "
                         f"{r['seconds']:.0f} s |")
        else:
            lines.append(f"| {r['shape']} | {r['what']} | base {r['base_tokens_per_s']:,.0f} / adapter "
                         f"{r['adapter_tokens_per_s']:,.0f} | | adapter/base {r['adapter_vs_base']:.2f}x "
                         "(transformers generate, unmerged LoRA) |")
    lines.append("")
    for shape, rs in by.items():
        train = {r["what"]: r for r in rs if "tokens_per_s" in r}
        on = next((r for w, r in train.items() if "checkpointing on" in w), None)
        off = next((r for w, r in train.items() if "checkpointing off" in w), None)
        pad = next((r for w, r in train.items() if w.startswith("SFT LoRA, padding")), None)
        pack = next((r for w, r in train.items() if w.startswith("SFT LoRA, packing")), None)
        if on and off:
            lines.append(f"- {shape}: checkpointing off runs {off['tokens_per_s'] / on['tokens_per_s']:.2f}x the "
                         f"speed of the preset's checkpointing on, at {off['peak_gib'] / on['peak_gib']:.2f}x its "
                         "peak memory.")
        if pad and pack:
            lines.append(f"- {shape}: packing trains {pack['tokens_per_s'] / pad['tokens_per_s']:.2f}x the tokens/s "
                         "of padded batches on variable-length examples.")
    lines.append("- vLLM is not installed on that host (no registry there), so serving speed is transformers' "
                 "`generate`, the fallback server's engine; vLLM's own figures are not measured.")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="qwen3-0.6b,qwen3-8b")
    p.add_argument("--out", default="benchmarks/results/gpu.md")
    p.add_argument("--json", default=None, help="also write the raw results here")
    p.add_argument("--presets", action="store_true",
                   help="instead: peak memory of the qwen3-8b and qwen3-14b presets as shipped")
    args = p.parse_args()
    import torch
    from transformers import AutoTokenizer

    from training.tiny import build_tiny_model

    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu needs a CUDA GPU")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import fixture_texts  # the fixture exports' text trains the tokenizer

    texts = fixture_texts()
    words = sorted({w for t in texts for w in t.split() if w.isalpha()})
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tok = AutoTokenizer.from_pretrained(build_tiny_model(work / "tok", texts, arch="qwen3", vocab_size=4096))
        if args.presets:
            for name in ("qwen3-8b", "qwen3-14b"):
                results.append(preset_memory(name, tok, words, work))
                print(json.dumps(results[-1]), flush=True)
        else:
            for name in args.shapes.split(","):
                results += bench_shape(name, tok, words, work)
    gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    device = f"one {torch.cuda.get_device_name(0)} ({gib:.0f} GiB), torch {torch.__version__}"
    render = presets_markdown if args.presets else to_markdown
    Path(args.out).write_text(render(results, device), "utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), "utf-8")
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
