"""Training beyond one process: a one-process and a two-process (DDP over gloo) run of the tiny
preset side by side, and the MiniMax-M2 memory plan computed from its real architecture.

    python benchmarks/bench_multigpu.py [--steps 6] [--out benchmarks/results/multigpu.md]

Both runs go through `JobRunner` exactly as `idiolect train` starts them (the second with
`accelerate_config: cpu-ddp`), with the same seed, data and effective batch (8 = 8 x 1 process
= 4 x 2 processes). Reported: wall time of each job, the largest difference between the two
adapters' LoRA weights, and how many progress events each wrote. The memory plan counts the
parameters of transformers' MiniMaxM2 on the meta device (no weights needed) and applies the
plan in training/configs/minimax-m2.yaml for N GPUs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import core  # noqa: E402,F401  (telemetry off first)

GB = 1e9


def ddp_vs_one(steps: int) -> dict:
    """Run the tiny preset in one process and in two; compare time and final LoRA weights."""
    import torch
    from safetensors.torch import load_file

    from core.config import Settings
    from core.store import Store
    from tests.conftest import fixture_texts
    from tests.training.conftest import persona_pairs, write_snapshot
    from training.rundata import read_progress
    from training.runs.jobs import JobRunner
    from training.tiny import build_tiny_model

    tmp = Path(tempfile.mkdtemp(prefix="bench-multigpu-"))
    model = build_tiny_model(tmp / "tiny", fixture_texts())
    snap = write_snapshot(tmp / "snap", persona_pairs(max_chars=120)[:22], n_val=6)
    settings = Settings(home=tmp / "home")
    settings.ensure_dirs()
    store = Store.open(settings.db_url)
    runner = JobRunner(store, settings, python=sys.executable)
    common = {"preset": "tiny-cpu", "base_model": str(model), "snapshot": str(snap), "max_steps": steps,
              "logging_steps": 1, "eval_steps": 0, "save_steps": 1000, "max_length": 256}
    out = {}
    for label, extra in (("1 process, batch 8", {"per_device_train_batch_size": 8}),
                         ("2 processes (cpu-ddp), batch 4 each", {"per_device_train_batch_size": 4,
                                                                  "accelerate_config": "cpu-ddp"})):
        t0 = time.perf_counter()
        job = runner.wait(runner.start("sft", {**common, **extra}).id, timeout=1800)
        wall = time.perf_counter() - t0
        if job.output is None:
            raise SystemExit(f"{label}: job {job.id} {job.status.value}: {job.error}")
        events = read_progress(job.config["progress_file"])
        out[label] = {"wall_s": wall, "adapter": job.output, "events": len(events),
                      "done_events": sum(e["event"] == "done" for e in events),
                      "final_loss": job.loss[-1][1] if job.loss else None}
    (one, two) = out.values()
    a = load_file(f"{one['adapter']}/adapter_model.safetensors")
    b = load_file(f"{two['adapter']}/adapter_model.safetensors")
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    scale = max(float(v.abs().max()) for v in a.values())
    store.close()
    return {"runs": out, "max_abs_diff": diff, "max_abs_weight": scale, "tensors": len(a),
            "torch": torch.__version__}


def minimax_plan(gpus: list[int]) -> dict:
    """Per-GPU memory of the minimax-m2 preset (bf16 LoRA, ZeRO-3) for each GPU count."""
    import torch
    from transformers import MiniMaxM2Config, MiniMaxM2ForCausalLM

    from training.recipe import resolve_config

    cfg = resolve_config("minimax-m2")
    mc = MiniMaxM2Config()
    with torch.device("meta"):
        model = MiniMaxM2ForCausalLM(mc)
    params = sum(p.numel() for p in model.parameters())
    layer = sum(p.numel() for p in model.model.layers[0].parameters())
    lora = sum(cfg.lora_r * (m.in_features + m.out_features) for n, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in cfg.target_modules)
    seq = cfg.max_length
    weights = params * 2  # bf16
    gathered = 2 * layer * 2  # the layer ZeRO-3 gathers plus the prefetched next one
    trainable = lora * 16  # bf16 weight + fp32 master + Adam m, v + bf16 grad
    hidden_ckpt = mc.num_hidden_layers * seq * mc.hidden_size * 2
    logits = seq * mc.vocab_size * (2 + 4 + 2)  # bf16 logits, fp32 copy for the loss, bf16 grad
    recompute = 1.0 * GB  # one layer's attention and top-8 expert activations, recomputed in backward
    overhead = 5.0 * GB  # CUDA context, NCCL buffers, allocator slack
    activations = hidden_ckpt + logits + recompute
    rows = []
    for n in gpus:
        per_gpu = weights / n + gathered + trainable / n + activations + overhead
        rows.append({"gpus": n, "weights_gb": weights / n / GB, "per_gpu_gb": per_gpu / GB})
    return {"params": params, "layer_params": layer, "lora_params": lora, "weights_gb": weights / GB,
            "gathered_gb": gathered / GB, "trainable_gb": trainable / GB, "activations_gb": activations / GB,
            "hidden_ckpt_gb": hidden_ckpt / GB, "logits_gb": logits / GB, "overhead_gb": overhead / GB,
            "rows": rows, "seq": seq, "rank": cfg.lora_r}


def render(ddp: dict, plan: dict, steps: int, argv: list[str]) -> str:
    (l1, one), (l2, two) = ddp["runs"].items()
    lines = [
        "## Training beyond one GPU (issue 15)",
        "",
        f"Machine: {platform.machine()} CPU, {_cores()} cores (shared with other jobs), no GPU; torch {ddp['torch']}; "
        f"date {datetime.now(UTC).date()}. Command: `.venv/bin/python benchmarks/bench_multigpu.py"
        f"{''.join(' ' + a for a in argv)}`.",
        "",
        f"Tiny preset (`tiny-cpu`, random 2-layer Llama), {steps} optimizer steps, same seed, data (16 rows) and "
        "effective batch 8, both started by `JobRunner` as `idiolect train` does:",
        "",
        "| run | wall time (job start to done) | progress events | `done` events | last logged loss |",
        "|---|---|---|---|---|",
        f"| {l1} | {one['wall_s']:.1f} s | {one['events']} | {one['done_events']} | {one['final_loss']:.4f} |",
        f"| {l2} | {two['wall_s']:.1f} s ({two['wall_s'] / one['wall_s']:.2f}x) | {two['events']} | "
        f"{two['done_events']} | {two['final_loss']:.4f} |",
        "",
        f"LoRA weights of the two adapters ({ddp['tensors']} tensors): largest absolute difference "
        f"**{ddp['max_abs_diff']:.1e}** against a largest weight of {ddp['max_abs_weight']:.3f} "
        f"(**{ddp['max_abs_diff'] / ddp['max_abs_weight']:.1e}** relative). On two shared cores the wall times say "
        "little either way (most of each is interpreter and library start-up, and other jobs' load swings it); what "
        "the CPU run proves is the path: one adapter, progress from rank 0 only, weights equal to one process's.",
        "",
        f"MiniMax-M2 memory plan (preset `minimax-m2`: bf16 LoRA r={plan['rank']} on q/k/v/o, DeepSpeed ZeRO-3, "
        f"max_length {plan['seq']}, micro-batch 1, gradient checkpointing). Parameters counted on the meta "
        f"device from transformers' MiniMaxM2Config: **{plan['params'] / 1e9:.2f}B** "
        f"({plan['layer_params'] / 1e9:.2f}B per layer); trainable {plan['lora_params'] / 1e6:.1f}M.",
        "",
        "| per GPU | GB |",
        "|---|---|",
        f"| frozen weights, sharded | {plan['weights_gb']:.1f} / N |",
        f"| one layer gathered + the prefetched next | {plan['gathered_gb']:.1f} |",
        f"| LoRA weights, fp32 master, Adam m/v, grads (sharded) | {plan['trainable_gb']:.2f} / N |",
        f"| activations: checkpointed hidden states {plan['hidden_ckpt_gb']:.1f}, logits + loss copy + grad "
        f"{plan['logits_gb']:.1f}, one recomputed layer 1.0 | {plan['activations_gb']:.1f} |",
        f"| CUDA context, NCCL buffers, allocator slack | {plan['overhead_gb']:.1f} |",
        "",
        "| GPUs (N) | weights per GPU | total per GPU | fits |",
        "|---|---|---|---|",
    ]
    for r in plan["rows"]:
        fits = ", ".join(name for name, cap in (("80 GB", 80), ("96 GB", 96), ("141 GB (H200)", 141))
                         if r["per_gpu_gb"] <= cap * 0.97) or "none listed"
        lines.append(f"| {r['gpus']} | {r['weights_gb']:.1f} GB | {r['per_gpu_gb']:.1f} GB | {fits} |")
    lines += ["", "So the preset asks for 8 GPUs of at least 96 GB on one node (H200, B200, H20); 8 x 80 GB needs "
              "16 GPUs on two nodes or ZeRO-3 parameter offload to >= 512 GB of host RAM. Not run on a GPU here "
              "(no device was lent to this task); the FSDP and ZeRO configs run as they are when one is.", ""]
    return "\n".join(lines)


def _cores() -> int:
    import os

    return os.cpu_count() or 0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "multigpu.md")
    args = p.parse_args(argv)
    ddp = ddp_vs_one(args.steps)
    plan = minimax_plan([4, 8, 16])
    text = render(ddp, plan, args.steps, argv if argv is not None else sys.argv[1:])
    args.out.write_text(text, "utf-8")
    print(text)
    print(json.dumps({"max_abs_diff": ddp["max_abs_diff"]}))


if __name__ == "__main__":
    main()
