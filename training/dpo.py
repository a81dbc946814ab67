"""LoRA DPO on a snapshot's preference pairs (TRL DPOTrainer + PEFT).

    python -m training.dpo --preset tiny-cpu --snapshot SNAPSHOT_DIR --output-dir RUN_DIR \
        --parent-adapter ~/.idiolect/adapters/voice-v1 --parent-name voice-v1

The reference model is the previous adapter when `--parent-adapter` is given (TRL loads a
frozen copy of it as the "ref" adapter and trains the other copy), else the base model (a
fresh adapter, disabled for the reference pass). Either way the result is one adapter on
the base model, so vLLM serves it like any other. Pairs: `<snapshot>/preferences.jsonl`;
`eval_fraction` of them are held out for the evaluation loss.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

from training.recipe import TrainConfig, progress_writer
from training.recipe import make_parser as _make_parser
from training.rundata import load_preference_rows, snapshot_identity


def make_parser() -> Any:
    """Return the command-line parser (one flag per TrainConfig field)."""
    return _make_parser("dpo")


def split_pairs(rows: list[dict[str, Any]], fraction: float, seed: int) -> tuple[list, list]:
    """Hold out `fraction` of the pairs for evaluation (none when fewer than 10 pairs)."""
    if fraction <= 0 or len(rows) < 10:
        return rows, []
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    n_eval = max(1, int(len(rows) * fraction))
    return shuffled[n_eval:], shuffled[:n_eval]


def main(cfg: TrainConfig) -> dict[str, Any]:
    """Train, save the adapter and its card; returns the training result dict."""
    writer = progress_writer(cfg)
    if not cfg.snapshot:
        raise SystemExit("error: --snapshot is required (a directory with preferences.jsonl)")
    snapshot = Path(cfg.snapshot).expanduser()
    rows = load_preference_rows(snapshot)
    if cfg.max_examples:
        rows = rows[: cfg.max_examples]
    if cfg.parent_adapter and not (Path(cfg.parent_adapter) / "adapter_config.json").exists():
        raise SystemExit(f"error: --parent-adapter {cfg.parent_adapter}: no adapter_config.json there")
    train_rows, eval_rows = split_pairs(rows, cfg.eval_fraction, cfg.seed)
    identity = snapshot_identity(snapshot, ["preferences.jsonl"])

    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from training.card import write_adapter_card
    from training.lora import (
        AdaptiveThreads,
        ProgressCallback,
        evaluate_once,
        final_metrics,
        load_tokenizer,
        model_to_train,
        resume_checkpoint,
        run_dirs,
        save_adapter,
        trainer_kwargs,
    )

    run, checkpoints, adapter_dir = run_dirs(cfg)
    tok = load_tokenizer(cfg)
    strip = lambda r: {k: r[k] for k in ("prompt", "chosen", "rejected")}  # noqa: E731
    # The config before the model: with DeepSpeed ZeRO-3 it makes from_pretrained load sharded.
    args = DPOConfig(**trainer_kwargs(cfg, checkpoints, bool(eval_rows)),
                     beta=cfg.beta, loss_type=[cfg.dpo_loss_type])
    model, peft_config = model_to_train(cfg)
    callback = ProgressCallback(writer)
    trainer = DPOTrainer(
        model=model, ref_model=None, args=args, processing_class=tok, peft_config=peft_config,
        train_dataset=Dataset.from_list([strip(r) for r in train_rows]),
        eval_dataset=Dataset.from_list([strip(r) for r in eval_rows]) if eval_rows else None,
        callbacks=[callback, AdaptiveThreads(writer)],
    )
    resume = resume_checkpoint(cfg, checkpoints)
    if resume:
        writer.emit("resume", checkpoint=resume)
    out = trainer.train(resume_from_checkpoint=resume)
    if callback.stop_requested:
        writer.emit("interrupted", step=trainer.state.global_step)
        return {"interrupted": True, "step": trainer.state.global_step}
    eval_metrics = evaluate_once(trainer)
    metrics = final_metrics(out, eval_metrics)
    # Only the trained adapter: the frozen "ref" copy is a training device, not a deliverable.
    is_main = save_adapter(trainer, tok, adapter_dir, adapter="default")
    result = {
        "base_model": cfg.base_model, "method": "dpo", **identity,
        "snapshot_id": cfg.snapshot_id or identity["snapshot_id"],
        "parent_adapter": cfg.parent_adapter, "parent_name": cfg.parent_name,
        "reference": cfg.parent_name or cfg.parent_adapter or "base",
        "preference_ids": [r["id"] for r in rows], "resumed_from": resume, "metrics": metrics,
        "n_train": len(train_rows), "n_validation": len(eval_rows), "config": cfg.to_dict(),
    }
    if is_main:  # one card, one "done": the other ranks of a multi-process run only trained
        write_adapter_card(adapter_dir, result)
    writer.emit("done", output=str(adapter_dir.resolve()), metrics=metrics, step=out.global_step)
    return result


if __name__ == "__main__":
    from training.recipe import run_script

    run_script("dpo", main, sys.argv[1:])
