"""LoRA supervised fine-tuning on a snapshot's `messages` rows (TRL SFTTrainer + PEFT).

    python -m training.sft --preset tiny-cpu --snapshot SNAPSHOT_DIR --output-dir RUN_DIR
    python -m training.sft --preset qwen3-8b --snapshot ... --learning-rate 5e-5 --max-steps 400

Reads `<snapshot>/train.jsonl` (and `validation.jsonl` for the eval loss), trains with
loss on the assistant turns only, checkpoints every `save_steps` into RUN_DIR/checkpoints
(re-running the same command resumes from the newest one), and writes the final adapter
with a model card to RUN_DIR/adapter.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from training.recipe import TrainConfig, progress_writer
from training.recipe import make_parser as _make_parser
from training.rundata import load_sft_rows, snapshot_identity


def make_parser() -> Any:
    """Return the command-line parser (one flag per TrainConfig field)."""
    return _make_parser("sft")


def to_prompt_completion(row: dict[str, Any]) -> dict[str, Any]:
    """Split a conversation at its last assistant turn into prompt / completion.

    Used when the tokenizer's chat template has no `{% generation %}` markers and TRL has no
    patched template for it: TRL then masks the prompt itself (completion-only loss), which
    equals assistant-only loss for single-answer examples, whatever the template.
    """
    msgs = row["messages"]
    return {"prompt": msgs[:-1], "completion": msgs[-1:]}


def _assistant_mask_ready(tok: Any) -> bool:
    """Return True when TRL can build an assistant-token mask from this tokenizer's template."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tok.chat_template
    if isinstance(template, str) and has_generation_markers(template):
        return True
    try:
        return get_training_chat_template(tok) is not None
    except (ValueError, KeyError, TypeError):
        return False


def main(cfg: TrainConfig) -> dict[str, Any]:
    """Train, save the adapter and its card; returns the training result dict."""
    writer = progress_writer(cfg)
    if not cfg.snapshot:
        raise SystemExit("error: --snapshot is required (a directory with train.jsonl)")
    snapshot = Path(cfg.snapshot).expanduser()
    train_rows = load_sft_rows(snapshot, "train")
    if cfg.max_examples:
        train_rows = train_rows[: cfg.max_examples]
    val_rows = load_sft_rows(snapshot, "validation") if (snapshot / "validation.jsonl").exists() else []
    identity = snapshot_identity(snapshot, ["train.jsonl", "validation.jsonl"])

    # Heavy imports only now: a bad snapshot has already failed fast above.
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

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
    assistant_only = cfg.assistant_only_loss
    if assistant_only and not _assistant_mask_ready(tok):
        train_rows = [to_prompt_completion(r) for r in train_rows]
        val_rows = [to_prompt_completion(r) for r in val_rows]
        assistant_only = False
        writer.emit("note", message="chat template has no generation markers; using prompt/completion loss")
    # The config first: under `accelerate launch` with DeepSpeed ZeRO-3 it switches on sharded
    # loading (zero.Init), so each rank loads only its shard of a model no single GPU holds.
    args = SFTConfig(**trainer_kwargs(cfg, checkpoints, bool(val_rows)),
                     packing=cfg.packing, assistant_only_loss=assistant_only)
    model, peft_config = model_to_train(cfg)
    callback = ProgressCallback(writer)
    trainer = SFTTrainer(
        model=model, args=args, processing_class=tok, peft_config=peft_config,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
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
    is_main = save_adapter(trainer, tok, adapter_dir)
    result = {
        "base_model": cfg.base_model, "method": "sft", **identity,
        "snapshot_id": cfg.snapshot_id or identity["snapshot_id"],
        "parent_adapter": cfg.parent_adapter, "parent_name": cfg.parent_name,
        "preference_ids": [], "resumed_from": resume, "metrics": metrics,
        "n_train": len(train_rows), "n_validation": len(val_rows), "config": cfg.to_dict(),
    }
    if is_main:  # one card, one "done": the other ranks of a multi-process run only trained
        write_adapter_card(adapter_dir, result)
    writer.emit("done", output=str(adapter_dir.resolve()), metrics=metrics, step=out.global_step)
    return result


if __name__ == "__main__":
    from training.recipe import run_script

    run_script("sft", main, sys.argv[1:])
