"""The vLLM command line idiolect starts: ranks, adapter slots, reasoning parser, refusals.

Torch-free. vLLM refuses, at start-up (--lora-modules) and at runtime loading alike, an adapter
whose LoRA rank exceeds --max-lora-rank ("LoRA rank R is greater than max_lora_rank M.",
vllm/lora/peft_helper.py) and one with `modules_to_save` (it serves LoRA weights only); it
accepts only the ranks in VLLM_LORA_RANKS (vllm/config/lora.py). Everything it would refuse is
refused here first, with what to do instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from training.reasoning import canonical_family

if TYPE_CHECKING:
    from training.serving.serve import ServeSpec

# vLLM's --reasoning-parser per model family (none for families vLLM has no parser for: the
# client splits those answers itself, see core.generate.split_reasoning).
# Keyed by the families of `training.reasoning` (the names presets and exports use).
REASONING_PARSERS = {"qwen3": "qwen3", "deepseek-r1": "deepseek_r1", "minimax-m2": "minimax_m2"}
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
RUNTIME_LORA_ENV = "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"


def adapter_config(path: str | Path) -> dict[str, Any]:
    """Return an adapter's adapter_config.json."""
    cfg = Path(path) / "adapter_config.json"
    if not cfg.exists():
        raise ConfigError(f"{path}: not an adapter directory (no adapter_config.json)")
    return json.loads(cfg.read_text("utf-8"))


def adapter_rank(path: str | Path) -> int:
    """Return an adapter's LoRA rank as vLLM checks it: `r`, or the largest of `rank_pattern`."""
    cfg = adapter_config(path)
    return max([int(cfg.get("r", 8)), *(int(v) for v in (cfg.get("rank_pattern") or {}).values())])


def preset_ranks(base_model: str) -> list[int]:
    """LoRA ranks of the shipped presets that train `base_model` (SFT and DPO sections)."""
    from training.recipe import list_presets, read_preset

    ranks = []
    for name in list_presets():
        data = read_preset(name)
        if data.get("base_model") == base_model:
            for layer in (data, data.get("sft") or {}, data.get("dpo") or {}):
                if isinstance(layer, dict) and layer.get("lora_r"):
                    ranks.append(int(layer["lora_r"]))
    return ranks


def lora_rank_for(spec: ServeSpec) -> int:
    """Return --max-lora-rank, rounded up to a size vLLM accepts.

    The given one, else the largest rank of the served adapters, of the presets for this base
    (an adapter trained from them must hot-load later) and of the default lora_r (16).
    """
    from training.recipe import TrainConfig

    if spec.max_lora_rank:
        if spec.max_lora_rank not in VLLM_LORA_RANKS:
            raise ConfigError(f"max_lora_rank {spec.max_lora_rank}: vLLM accepts {list(VLLM_LORA_RANKS)}")
        return spec.max_lora_rank
    need = max([TrainConfig().lora_r, *preset_ranks(spec.base_model),
                *(adapter_rank(p) for p in spec.adapters.values())])
    if need > VLLM_LORA_RANKS[-1]:
        raise ConfigError(f"LoRA rank {need} is above vLLM's largest --max-lora-rank "
                          f"({VLLM_LORA_RANKS[-1]}); retrain with a lower lora_r or serve with --backend cpu")
    return next(r for r in VLLM_LORA_RANKS if r >= need)


def lora_slots(spec: ServeSpec) -> tuple[int, int]:
    """(--max-loras, --max-cpu-loras) for the adapters being served.

    vLLM's defaults (1 and 1) would make the arena's two adapters take turns and re-read
    adapters from disk on every switch. One batch slot per adapter plus one for the next
    hot-loaded challenger (2 to 8; each slot reserves GPU memory at max rank), and a host
    cache with room for four hot-loads.
    """
    n = len(spec.adapters)
    slots = spec.max_loras or min(max(n + 1, 2), 8)
    cached = spec.max_cpu_loras or max(slots, n + 4)
    if cached < slots:
        raise ConfigError(f"max_cpu_loras ({cached}) must be >= max_loras ({slots}), as vLLM requires")
    return slots, cached


def vllm_refusal(name: str, path: str | Path) -> str | None:
    """Why vLLM would refuse to serve this adapter (None when it would load it)."""
    extra = [m for m in adapter_config(path).get("modules_to_save") or [] if m not in ("classifier", "score")]
    if extra:
        return (f"adapter {name!r} ({path}) also trains {extra} in full (modules_to_save) and vLLM serves LoRA "
                "weights only: serve it with --backend cpu, or train it with a GPU preset")
    return None


def vllm_command(spec: ServeSpec) -> list[str]:
    """Return the vLLM command line (prefixed by `env` to allow runtime LoRA updates).

    `env NAME=VALUE` sets the variable for the child only, and keeps it visible in the job's
    recorded command.
    """
    refused = [why for n, p in spec.adapters.items() if (why := vllm_refusal(n, p))]
    if refused:
        raise ConfigError("; ".join(refused))
    slots, cached = lora_slots(spec)
    cmd = ["env", RUNTIME_LORA_ENV, spec.vllm_bin, "serve", spec.base_model,
           "--host", spec.host, "--port", str(spec.port),
           "--enable-lora", "--max-lora-rank", str(lora_rank_for(spec)),
           "--max-loras", str(slots), "--max-cpu-loras", str(cached),
           "--gpu-memory-utilization", str(spec.gpu_memory_utilization)]
    if spec.served_name:
        cmd += ["--served-model-name", spec.served_name]
    if spec.adapters:
        cmd += ["--lora-modules", *(f"{n}={Path(p).resolve()}" for n, p in spec.adapters.items())]
    parser = REASONING_PARSERS.get(canonical_family(spec.family))
    if parser:
        cmd += ["--reasoning-parser", parser]
    if spec.max_model_len:
        cmd += ["--max-model-len", str(spec.max_model_len)]
    return cmd + list(spec.extra_args)
