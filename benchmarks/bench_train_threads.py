"""Training threads on a shared machine: torch's default against the adaptive choice, side by side.

    .venv/bin/python benchmarks/bench_train_threads.py [--steps 6] [--busy 0 1]

The default model (SmolLM2-135M-Instruct, the smollm2-135m-cpu preset's LoRA: all-linear,
r 16) trains on one fixed batch of the preset's shape (4 x 384 tokens). For each load (0: no
extra process, 1: one `while True: pass` beside it) steps alternate between torch's default
thread count and what training/cpu_share.py picks from a fresh reading, so both see the same
machine. Prints the median seconds per step of each and their ratio, as Markdown.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import core  # noqa: E402,F401  (telemetry off)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=6, help="steps of each kind per load")
    p.add_argument("--busy", type=int, nargs="+", default=[0, 1], help="busy loops beside the run")
    a = p.parse_args()

    import os

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from core.config import BUNDLED_LLM
    from training.base_model import resolve_base_model
    from training.cpu_share import CpuShare, allowed_cores, first_reading, threads_for

    models = Path(tempfile.mkdtemp(prefix="idiolect-models-"))
    folder = resolve_base_model(BUNDLED_LLM, models)
    model = AutoModelForCausalLM.from_pretrained(str(folder), torch_dtype=torch.float32)
    shutil.rmtree(models)  # the weights are in memory now
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-4)
    batch = torch.randint(0, model.config.vocab_size, (4, 384), generator=torch.Generator().manual_seed(0))
    default = torch.get_num_threads()
    cores = allowed_cores()

    def step(threads: int) -> float:
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        model(input_ids=batch, labels=batch).loss.backward()
        opt.step()
        opt.zero_grad()
        return time.perf_counter() - t0

    step(default)  # warm-up: allocations and first-call costs out of the timings
    print(f"Machine: {os.cpu_count()} cores, torch default {default} threads; {time.strftime('%Y-%m-%d')}; "
          f"load average at start {os.getloadavg()[0]:.1f}.\n")
    print("| busy loops beside | torch default: threads, s/step | adaptive: threads chosen, s/step "
          "| default / adaptive |")
    print("|---|---|---|---|")
    for n in a.busy:
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
        try:
            time.sleep(1.0)
            fixed, adaptive, chosen = [], [], []
            for _ in range(a.steps):
                fixed.append(step(default))
                # As the trainer does: a short idle reading of the rest of the machine before choosing.
                want = threads_for(cores, first_reading(CpuShare(cores), 0.5), default)
                chosen.append(want)
                adaptive.append(step(want))
        finally:
            for h in hogs:
                h.kill()
        f, ad = statistics.median(fixed), statistics.median(adaptive)
        picked = "/".join(str(c) for c in sorted(set(chosen)))
        print(f"| {n} | {default}, {f:.2f} | {picked}, {ad:.2f} | **{f / ad:.2f}x** |", flush=True)
    torch.set_num_threads(default)


if __name__ == "__main__":
    main()
