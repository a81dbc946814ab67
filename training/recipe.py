# ruff: noqa: E501  (the field table reads best one field per line)
"""Training run configuration: the `TrainConfig` dataclass, YAML presets and CLI overrides.

Torch-free: the CLI and the job runner resolve configs without loading any training library.
A preset is a YAML file in training/configs/ whose keys are `TrainConfig` fields; an `sft:`
or `dpo:` section overrides the top level for that method. Precedence, highest first:
explicit overrides (CLI flags, job config) > method section > preset > dataclass defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError
from training.reasoning import family_for

CONFIGS_DIR = Path(__file__).parent / "configs"
ACCELERATE_DIR = CONFIGS_DIR / "accelerate"
METHODS = ("sft", "dpo")


@dataclass(kw_only=True)
class TrainConfig:
    """One SFT or DPO run. Every field is a `--flag` of `python -m training.sft` / `training.dpo`."""

    base_model: str = field(default="", metadata={"help": "Hugging Face id or local path of the base model."})
    family: str = field(default="none", metadata={
        "help": "Model family: qwen3, deepseek-r1, apriel-1.5, minimax-m2 or none (reasoning format, vLLM parser)."})
    method: str = field(default="sft", metadata={"help": "sft or dpo."})
    snapshot: str | None = field(default=None, metadata={"help": "Snapshot directory: train.jsonl, validation.jsonl, preferences.jsonl."})
    snapshot_id: str | None = field(default=None, metadata={"help": "Snapshot id for lineage; read from the snapshot's manifest when omitted."})
    output_dir: str | None = field(default=None, metadata={"help": "Run directory: checkpoints/ and the final adapter/."})
    parent_adapter: str | None = field(default=None, metadata={"help": "Adapter to start from. DPO: also the frozen reference (base when unset)."})
    parent_name: str | None = field(default=None, metadata={"help": "Registry name of parent_adapter, recorded for lineage."})
    model_class: str = field(default="causal-lm", metadata={"help": "causal-lm or image-text-to-text (multimodal bases such as Apriel)."})
    load_in_4bit: bool = field(default=False, metadata={"help": "QLoRA: load the base in 4-bit NF4 (needs bitsandbytes and a GPU)."})
    dequantize_fp8: bool = field(default=False, metadata={"help": "Load an FP8 checkpoint (MiniMax-M2 ships one) dequantized to bf16, so LoRA and ZeRO/FSDP sharding see plain weights."})
    torch_dtype: str = field(default="auto", metadata={"help": "auto, bfloat16, float16 or float32."})
    attn_implementation: str | None = field(default=None, metadata={"help": "sdpa, flash_attention_2, eager (None: library default)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (vLLM needs --max-lora-rank >= this)."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    target_modules: Any = field(default="all-linear", metadata={"help": "PEFT target modules: all-linear, a list, or a regex."})
    modules_to_save: Any = field(default=None, metadata={"help": "Extra modules trained in full and saved with the adapter (e.g. [norm]); vLLM serves only LoRA weights, so keep None for GPU presets."})
    max_length: int = field(default=2048, metadata={"help": "Maximum tokens per example (longer are truncated)."})
    packing: bool = field(default=False, metadata={"help": "SFT: pack several examples per sequence."})
    assistant_only_loss: bool = field(default=True, metadata={"help": "SFT: loss on the assistant's tokens only."})
    per_device_train_batch_size: int = field(default=1, metadata={"help": "Micro-batch size."})
    per_device_eval_batch_size: int = field(default=1, metadata={"help": "Evaluation batch size."})
    gradient_accumulation_steps: int = field(default=8, metadata={"help": "Micro-batches per optimizer step."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak learning rate."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Scheduler (cosine, linear, constant)."})
    warmup_ratio: float = field(default=0.03, metadata={"help": "Warm-up share of the steps."})
    num_train_epochs: float = field(default=2.0, metadata={"help": "Epochs (ignored when max_steps > 0)."})
    max_steps: int = field(default=-1, metadata={"help": "Optimizer steps; -1 means use epochs."})
    beta: float = field(default=0.1, metadata={"help": "DPO: KL strength against the reference."})
    dpo_loss_type: str = field(default="sigmoid", metadata={"help": "DPO loss (sigmoid, ipo, …)."})
    eval_fraction: float = field(default=0.1, metadata={"help": "DPO: share of preference pairs held out for eval loss."})
    bf16: bool = field(default=True, metadata={"help": "bfloat16 mixed precision (GPU)."})
    gradient_checkpointing: bool = field(default=True, metadata={"help": "Trade compute for memory."})
    use_cpu: bool = field(default=False, metadata={"help": "Train on CPU (tests, demos)."})
    logging_steps: int = field(default=5, metadata={"help": "Log loss every N steps."})
    eval_steps: int = field(default=50, metadata={"help": "Evaluation loss every N steps (0: only at the end)."})
    save_steps: int = field(default=50, metadata={"help": "Checkpoint every N steps."})
    save_total_limit: int = field(default=2, metadata={"help": "Checkpoints kept."})
    resume: bool = field(default=True, metadata={"help": "Resume from the newest checkpoint in output_dir."})
    seed: int = field(default=42, metadata={"help": "Random seed."})
    max_examples: int | None = field(default=None, metadata={"help": "Use at most N training rows (smoke runs)."})
    progress_file: str | None = field(default=None, metadata={"help": "JSON-lines progress file (the job runner reads it)."})
    preset: str | None = field(default=None, metadata={"help": "Name of the preset this config came from."})
    accelerate_config: str | None = field(default=None, metadata={"help": "Launch through `accelerate launch` with this config (a name in training/configs/accelerate/ or a YAML path): DDP, FSDP or DeepSpeed over several processes. The job runner reads it; the script itself runs as one rank."})
    num_processes: int | None = field(default=None, metadata={"help": "Processes (GPUs) for accelerate launch; default: the accelerate config's num_processes."})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON/YAML-safe) of every field."""
        return dataclasses.asdict(self)


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(TrainConfig))
_FIELD_TYPES = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}


def list_presets() -> list[str]:
    """Names of the YAML presets shipped in training/configs/."""
    return sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml"))


def preset_path(name_or_path: str) -> Path:
    """Return A preset name ("qwen3-8b") or a YAML path -> the YAML file; clear error otherwise."""
    p = Path(name_or_path).expanduser()
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    cand = CONFIGS_DIR / f"{name_or_path}.yaml"
    if cand.exists():
        return cand
    raise ConfigError(f"unknown preset {name_or_path!r}; available: {', '.join(list_presets())}")


def list_accelerate_configs() -> list[str]:
    """Names of the accelerate launch configs shipped in training/configs/accelerate/."""
    return sorted(p.stem for p in ACCELERATE_DIR.glob("*.yaml"))


def accelerate_config_path(name_or_path: str) -> Path:
    """Return an accelerate config name ("fsdp") or YAML path -> the file; clear error otherwise."""
    p = Path(name_or_path).expanduser()
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p.resolve()
    cand = ACCELERATE_DIR / f"{name_or_path}.yaml"
    if cand.exists():
        return cand
    raise ConfigError(f"unknown accelerate config {name_or_path!r}; available: "
                      f"{', '.join(list_accelerate_configs())} (or a YAML path)")


def launch_settings(config: dict[str, Any], method: str) -> tuple[Path | None, int | None]:
    """(accelerate config file, process count) a training job launches with; (None, None) for one process.

    Reads only the two launch keys, from the job config over the preset's method section over
    the preset, so the torch-free job runner decides how to start a run without validating it
    (the script does that, and reports bad input in the job's log).
    """
    layers: list[dict[str, Any]] = []
    if config.get("preset"):
        data = read_preset(str(config["preset"]))
        section = data.get(method) if isinstance(data.get(method), dict) else {}
        layers = [data, section]
    layers.append(config)
    name: Any = None
    procs: Any = None
    for layer in layers:
        name = layer.get("accelerate_config", name)
        procs = layer.get("num_processes", procs)
    if not name:
        return None, None
    n = _coerce("num_processes", procs) if procs not in (None, "") else None
    if n is not None and n < 1:
        raise ConfigError(f"num_processes must be >= 1, got {n}")
    return accelerate_config_path(str(name)), n


def read_preset(name_or_path: str) -> dict[str, Any]:
    """Return the raw mapping of a preset file."""
    path = preset_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({e})") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset must be a mapping of TrainConfig fields")
    return data


def preset_family(name_or_path: str) -> str:
    """Return the reasoning family a preset trains ("none" when it names none)."""
    try:
        return family_for(str(read_preset(name_or_path).get("family") or "none")).name
    except ValueError as e:
        raise ConfigError(f"{preset_path(name_or_path)}: family: {e}") from None


def _check_keys(data: dict[str, Any], where: str) -> None:
    bad = sorted(set(data) - set(FIELD_NAMES) - set(METHODS))
    if bad:
        raise ConfigError(f"{where}: unknown keys {bad}; valid keys are TrainConfig fields: {', '.join(FIELD_NAMES)}")


def _coerce(name: str, value: Any) -> Any:
    """Values typed by their field, so "2e-2" from a command line (or YAML 1.1) is a float."""
    kind = _FIELD_TYPES[name]
    if value is None:
        return None
    try:
        if kind.startswith("bool"):
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("true", "false", "yes", "no", "1", "0"):
                    raise ValueError(value)
                return low in ("true", "yes", "1")
            return bool(value)
        if kind.startswith("int"):
            return int(float(value)) if isinstance(value, str) else int(value)
        if kind.startswith("float"):
            return float(value)
        if kind == "Any":  # target_modules: a list or a string
            return yaml.safe_load(value) if isinstance(value, str) and value.startswith("[") else value
        return str(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{name}: cannot read {value!r} as {kind}") from e


def resolve_config(preset: str | None = None, overrides: dict[str, Any] | None = None,
                   *, method: str | None = None) -> TrainConfig:
    """Build the TrainConfig for a run.

    Args:
        preset: preset name or YAML path (None: defaults only).
        overrides: field values that win over the preset (None values are ignored).
        method: "sft" or "dpo"; picks the preset's method section (default: overrides or preset).

    Returns:
        The validated TrainConfig.

    """
    data: dict[str, Any] = {}
    where = "config"
    if preset:
        data = read_preset(preset)
        where = str(preset_path(preset))
        _check_keys(data, where)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_keys(given, "overrides")
    chosen = method or given.get("method") or data.get("method") or "sft"
    if chosen not in METHODS:
        raise ConfigError(f"method {chosen!r} is not one of {METHODS}")
    merged = {k: v for k, v in data.items() if k not in METHODS}
    section = data.get(chosen) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: the {chosen!r} section must be a mapping")
    _check_keys(section, f"{where} [{chosen}]")
    merged.update(section)
    merged.update({k: v for k, v in given.items() if k not in METHODS})
    merged["method"] = chosen
    if preset and not merged.get("preset"):
        merged["preset"] = preset_path(preset).stem
    cfg = TrainConfig(**{k: _coerce(k, v) for k, v in merged.items()})
    validate(cfg)
    # One set of family names across dataset export, training and serving: the renderer's.
    try:
        cfg.family = family_for(cfg.family).name
    except ValueError as e:
        raise ConfigError(f"{where}: family: {e}") from None
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Reject configs that cannot run, naming the field."""
    if not cfg.base_model:
        raise ConfigError("base_model is required: the preset names none",
                          hint="set base_model in the preset, or pass --base-model")
    if cfg.method not in METHODS:
        raise ConfigError(f"method {cfg.method!r} is not one of {METHODS}")
    if cfg.model_class not in ("causal-lm", "image-text-to-text"):
        raise ConfigError(f"model_class {cfg.model_class!r} must be causal-lm or image-text-to-text")
    for name in ("lora_r", "lora_alpha", "max_length", "per_device_train_batch_size",
                 "gradient_accumulation_steps", "logging_steps", "save_steps"):
        if int(getattr(cfg, name)) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(cfg, name)!r}")
    if cfg.max_steps <= 0 and cfg.num_train_epochs <= 0:
        raise ConfigError("set max_steps > 0 or num_train_epochs > 0")
    if not 0 <= cfg.eval_fraction < 1:
        raise ConfigError(f"eval_fraction must be in [0, 1), got {cfg.eval_fraction}")
    if cfg.dequantize_fp8 and cfg.load_in_4bit:
        raise ConfigError("dequantize_fp8 and load_in_4bit exclude each other: pick one quantization")
    if cfg.use_cpu and (cfg.bf16 or cfg.load_in_4bit):
        raise ConfigError("use_cpu needs bf16: false and load_in_4bit: false (CPUs train in float32)")
    if cfg.accelerate_config:
        accelerate_config_path(cfg.accelerate_config)
    if cfg.num_processes is not None and cfg.num_processes < 1:
        raise ConfigError(f"num_processes must be >= 1, got {cfg.num_processes}")


def make_parser(method: str) -> argparse.ArgumentParser:
    """`--config/--preset` plus one `--flag` per TrainConfig field (TRL-script style)."""
    p = argparse.ArgumentParser(
        prog=f"python -m training.{method}",
        description=f"LoRA {method.upper()} on a snapshot. Values: preset < --config file < flags.",
    )
    p.add_argument("--preset", help=f"preset name or YAML path ({', '.join(list_presets())})")
    p.add_argument("--config", help="JSON or YAML file of TrainConfig fields (the job runner writes one)")
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("method", "preset"):
            continue
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=None,
                       help=f.metadata.get("help", ""))
    return p


def config_from_args(method: str, argv: list[str] | None = None) -> TrainConfig:
    """Parse a training script's command line into a TrainConfig."""
    args = make_parser(method).parse_args(argv)
    overrides: dict[str, Any] = {}
    preset = args.preset
    if args.config:
        path = Path(args.config)
        if not path.exists():
            raise ConfigError(f"--config {path}: no such file")
        text = path.read_text("utf-8")
        loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        if not isinstance(loaded, dict):
            raise ConfigError(f"--config {path}: must be a mapping")
        preset = preset or loaded.pop("preset", None)
        overrides.update(loaded)
    overrides.update({k: v for k, v in vars(args).items()
                      if k in FIELD_NAMES and v is not None})
    overrides.pop("method", None)
    return resolve_config(preset, overrides, method=method)


def is_main_rank() -> bool:
    """Tell whether this process is rank 0 (always, outside a multi-process launch).

    torchrun, accelerate and deepspeed set RANK in every process they start; progress and
    the job log's progress lines come from rank 0 only, so a 2-process run reports once.
    """
    import os

    return os.environ.get("RANK", "0") == "0"


def progress_writer(cfg: TrainConfig) -> Any:
    """Return the run's ProgressWriter: rank 0 writes the progress file and echoes; other ranks are silent."""
    import sys

    from training.rundata import ProgressWriter

    main = is_main_rank()
    return ProgressWriter(cfg.progress_file if main else None, echo=sys.stdout if main else None)


def run_script(method: str, main: Any, argv: list[str]) -> None:
    """Entry point shared by `python -m training.sft|dpo`: exit 2 on bad input, 143 when interrupted."""
    import sys

    from core.errors import IdiolectError

    try:
        result = main(config_from_args(method, argv))
    except IdiolectError as e:  # bad input: one clear line, non-zero exit
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    sys.exit(143 if result.get("interrupted") else 0)
