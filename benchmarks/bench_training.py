"""Tiny-model LoRA SFT throughput on this CPU: tokens/s with and without packing, side by side.

    .venv/bin/python benchmarks/bench_training.py [--steps 20]

Builds the tiny model on the shared fixtures' text, trains the same snapshot (the persona's
answers from the fixtures) with packing off and on, and prints trained tokens per second
(TRL's `num_tokens` over the train runtime). No GPU here: these are CPU numbers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "training")]

import core  # noqa: E402,F401  (telemetry off)


def run(tiny: Path, snap: Path, out: Path, packing: bool, steps: int) -> dict:
    from training import sft
    from training.recipe import resolve_config

    cfg = resolve_config("tiny-cpu", dict(base_model=str(tiny), snapshot=str(snap), output_dir=str(out),
                                          max_steps=steps, packing=packing, eval_steps=0, save_steps=10_000,
                                          logging_steps=1, max_length=256))
    t = time.perf_counter()
    result = sft.main(cfg)
    wall = time.perf_counter() - t
    progress = out / "progress.jsonl"
    events = progress.read_text().splitlines() if progress.exists() else []
    m = result["metrics"]
    tokens = m.get("num_tokens") or _last_tokens(out)
    return {"packing": packing, "steps": m["global_step"], "train_s": m["train_runtime"], "wall_s": wall,
            "tokens": tokens, "tokens_per_s": tokens / m["train_runtime"], "train_loss": m["train_loss"],
            "events": len(events)}


def _last_tokens(out: Path) -> float:
    import json

    state = sorted((out / "checkpoints").glob("checkpoint-*/trainer_state.json"))
    if state:
        hist = json.loads(state[-1].read_text())["log_history"]
        return max(h.get("num_tokens", 0) for h in hist)
    return 0.0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    import importlib.util

    from conftest import fixture_texts  # tests/conftest.py

    from training.tiny import build_tiny_model
    spec = importlib.util.spec_from_file_location("tconf", ROOT / "tests" / "training" / "conftest.py")
    tconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tconf)

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        tiny = build_tiny_model(root / "tiny", fixture_texts())
        snap = tconf.write_snapshot(root / "snap", tconf.persona_pairs(max_chars=2000))
        rows = [run(tiny, snap, root / f"run-{pk}", pk, args.steps) for pk in (False, True)]
    print("\n| packing | steps | trained tokens | train s | tokens/s | train loss |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {'on' if r['packing'] else 'off'} | {r['steps']} | {r['tokens']:.0f} | {r['train_s']:.2f} | "
              f"{r['tokens_per_s']:.0f} | {r['train_loss']:.3f} |")
    print(f"\npacking speed-up (tokens/s): {rows[1]['tokens_per_s'] / rows[0]['tokens_per_s']:.2f}x")


if __name__ == "__main__":
    main()
