"""Torch-side pieces shared by sft.py and dpo.py: loading, LoRA config, trainer arguments, progress.

Imported only from inside the scripts' `main()`, after the data has been validated.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback, set_seed
from transformers.trainer_utils import get_last_checkpoint

from training.base_model import resolve_base_model
from training.cpu_share import CpuShare, adaptive_threads_enabled, allowed_cores, first_reading, threads_for
from training.recipe import TrainConfig
from training.rundata import ProgressWriter

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def run_dirs(cfg: TrainConfig) -> tuple[Path, Path, Path]:
    """(run dir, checkpoints dir, final adapter dir) for a config with output_dir set."""
    if not cfg.output_dir:
        raise ValueError("output_dir is required")
    run = Path(cfg.output_dir).expanduser()
    return run, run / "checkpoints", run / "adapter"


def resume_checkpoint(cfg: TrainConfig, checkpoints: Path) -> str | None:
    """Return the newest checkpoint to resume from, when resuming is on and one exists."""
    if not cfg.resume or not checkpoints.is_dir():
        return None
    return get_last_checkpoint(str(checkpoints))


def load_tokenizer(cfg: TrainConfig) -> Any:
    """Return the base model's tokenizer, with a pad token (batches need one)."""
    tok = AutoTokenizer.from_pretrained(resolve_base_model(cfg.base_model))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(cfg: TrainConfig) -> Any:
    """Return the base model: full precision on CPU, bf16 on GPU, NF4 4-bit for QLoRA."""
    kwargs: dict[str, Any] = {}
    if cfg.use_cpu:
        kwargs["dtype"] = torch.float32
    elif cfg.torch_dtype != "auto":
        kwargs["dtype"] = DTYPES[cfg.torch_dtype]
    else:
        kwargs["dtype"] = torch.bfloat16 if cfg.bf16 else "auto"
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    if cfg.dequantize_fp8:
        from transformers import FineGrainedFP8Config

        kwargs["quantization_config"] = FineGrainedFP8Config(dequantize=True)
    if cfg.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        if torch.cuda.is_available():  # 4-bit weights must be placed at load time, one GPU per process
            kwargs["device_map"] = {"": torch.cuda.current_device()}
    if cfg.model_class == "image-text-to-text":
        from transformers import AutoModelForImageTextToText

        model = AutoModelForImageTextToText.from_pretrained(resolve_base_model(cfg.base_model), **kwargs)
    else:
        model = AutoModelForCausalLM.from_pretrained(resolve_base_model(cfg.base_model), **kwargs)
    if cfg.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    return model


def model_to_train(cfg: TrainConfig) -> tuple[Any, LoraConfig | None]:
    """Return (model, LoRA config for a fresh adapter, or None when continuing `cfg.parent_adapter`).

    A parent adapter is loaded trainable on the base: SFT continues it, and DPO (given no
    ref_model) copies it into a frozen "ref" adapter, so the reference is exactly the
    previous voice, not the base.
    """
    # Seed before the model and the fresh LoRA weights exist: SFTTrainer wraps the model in
    # PEFT before Trainer seeds, so without this the adapter's initial weights would differ
    # between runs (and between a one-process and a multi-process run of the same config).
    set_seed(cfg.seed)
    model = load_model(cfg)
    if cfg.parent_adapter:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, cfg.parent_adapter, is_trainable=True), None
    return model, lora_config(cfg)


def lora_config(cfg: TrainConfig) -> LoraConfig:
    """Return the LoRA adapter to train."""
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.target_modules, modules_to_save=cfg.modules_to_save,
                      task_type="CAUSAL_LM")


def trainer_kwargs(cfg: TrainConfig, checkpoints: Path, has_eval: bool) -> dict[str, Any]:
    """TrainingArguments fields common to SFTConfig and DPOConfig."""
    eval_every = cfg.eval_steps if has_eval and cfg.eval_steps > 0 else None
    return dict(
        output_dir=str(checkpoints),
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the total steps
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        bf16=cfg.bf16 and not cfg.use_cpu,
        use_cpu=cfg.use_cpu,
        gradient_checkpointing=cfg.gradient_checkpointing,
        logging_steps=cfg.logging_steps,
        eval_strategy="steps" if eval_every else "no",
        eval_steps=eval_every,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        seed=cfg.seed,
        report_to="none",
        # LoRA trains the same weights every step; DDP's unused-parameter search is wasted work
        # and breaks with gradient checkpointing.
        ddp_find_unused_parameters=False,
        max_length=cfg.max_length,
        disable_tqdm=True,  # progress goes to the progress file; tqdm only bloats the job log
    )


class ProgressCallback(TrainerCallback):
    """Reports steps and losses to the job runner; on SIGTERM saves a checkpoint and stops.

    The graceful stop is what makes `JobRunner.cancel` resumable: the trainer writes a
    checkpoint at the next step boundary instead of dying mid-step.
    """

    def __init__(self, writer: ProgressWriter) -> None:
        self.writer = writer
        self.stop_requested = False
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.stop_requested = True

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.writer.emit("start", total_steps=state.max_steps, step=state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self._agreed_stop(args):
            control.should_save = True
            control.should_training_stop = True

    def _agreed_stop(self, args: Any) -> bool:
        """Tell whether any rank was asked to stop.

        Every rank must stop at the same step, or the ones still training would wait forever
        for the others in the next gradient all-reduce.
        """
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return self.stop_requested
        flag = torch.tensor([int(self.stop_requested)], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kw: Any) -> None:
        logs = logs or {}
        step = state.global_step
        if "eval_loss" in logs:
            self.writer.emit("eval", step=step, total_steps=state.max_steps,
                             eval_loss=float(logs["eval_loss"]))
        elif "loss" in logs:
            extra = {k: float(v) for k, v in logs.items()
                     if isinstance(v, (int, float)) and k not in ("loss", "step")}
            self.writer.emit("log", step=step, total_steps=state.max_steps,
                             loss=float(logs["loss"]), **extra)


def save_adapter(trainer: Any, tok: Any, adapter_dir: Path, *, adapter: str | None = None) -> bool:
    """Write the trained adapter (and tokenizer) once, from the main process; True there.

    Every rank joins the gather of the weights (FSDP and ZeRO-3 hold them in shards), only
    rank 0 writes, and all wait until the files exist. `adapter` picks one PEFT adapter (DPO
    keeps a frozen "ref" copy beside the trained "default").
    """
    acc = trainer.accelerator
    model = acc.unwrap_model(trainer.model)
    state = _zero3_adapter_state(acc, model)
    if state is None:
        state = acc.get_state_dict(trainer.model)
    if acc.is_main_process:
        extra = {"selected_adapters": [adapter]} if adapter else {}
        model.save_pretrained(str(adapter_dir), state_dict=state, **extra)
        tok.save_pretrained(str(adapter_dir))
    acc.wait_for_everyone()
    return bool(acc.is_main_process)


def _zero3_adapter_state(acc: Any, model: Any) -> dict[str, Any] | None:
    """Under DeepSpeed ZeRO-3, gather only the adapter's weights (None otherwise).

    accelerate's get_state_dict would gather the whole 16-bit model onto rank 0's host memory
    (457 GB for MiniMax-M2) to keep a few million LoRA weights.
    """
    plugin = getattr(acc.state, "deepspeed_plugin", None)
    if plugin is None or getattr(plugin, "zero_stage", None) != 3:
        return None
    import deepspeed

    wanted = {n: p for n, p in model.named_parameters() if "lora_" in n or "modules_to_save" in n}
    with deepspeed.zero.GatheredParameters(list(wanted.values()), modifier_rank=None):
        return {n: p.detach().to("cpu", copy=True) for n, p in wanted.items()} if acc.is_main_process else {}


def lora_state(model: Any) -> dict[str, Any]:
    """Return A detached copy of the trainable LoRA weights (to check training changed them)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def final_metrics(train_output: Any, eval_metrics: dict[str, Any] | None) -> dict[str, Any]:
    """Flat numeric metrics for the model card and the registry."""
    out = {k: float(v) for k, v in (train_output.metrics or {}).items() if isinstance(v, (int, float))}
    out["global_step"] = int(train_output.global_step)
    out["train_loss"] = float(train_output.training_loss)
    for k, v in (eval_metrics or {}).items():
        if isinstance(v, (int, float)):
            out[k] = float(v)
    return out


def evaluate_once(trainer: Any) -> dict[str, Any] | None:
    """Return the final eval metrics: reuse the eval logged at the last step, else run one."""
    if trainer.eval_dataset is None:
        return None
    for entry in reversed(trainer.state.log_history):
        if "eval_loss" in entry:
            if entry.get("step") == trainer.state.global_step:
                return dict(entry)
            break
    return trainer.evaluate()


class AdaptiveThreads(TrainerCallback):
    """On the CPU, sets torch's intra-op threads to the cores other processes leave free.

    Measured before the first step and again after every step (training/cpu_share.py says
    why); each change is a "threads" event in the job's progress. Off the CPU, or with the
    owner's OMP_NUM_THREADS set, it does nothing.
    """

    def __init__(self, writer: ProgressWriter, share: CpuShare | None = None) -> None:
        self.writer = writer
        self.share = share
        self.most = self.threads = torch.get_num_threads()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.share is None:
            if args.device.type != "cpu" or not adaptive_threads_enabled():
                return
            self.share = CpuShare(allowed_cores())
        self._apply(first_reading(self.share), state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.share is not None:
            self._apply(self.share.others(), state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.threads != self.most:  # a run called in-process leaves the process as it found it
            torch.set_num_threads(self.most)
            self.threads = self.most

    def _apply(self, others: float, step: int) -> None:
        assert self.share is not None
        want = threads_for(self.share.cores, others, self.most)
        if want != self.threads:
            torch.set_num_threads(want)
            self.threads = want
            # Its own event, not a "note": notes tell the owner something about the data.
            self.writer.emit("threads", step=step, threads=want, others=round(others, 2), cores=self.share.cores)
