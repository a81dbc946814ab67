"""The adapter's model card (README.md) and machine-readable training_result.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from training.runs.registry import RESULT_FILE


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def write_adapter_card(adapter_dir: str | Path, result: dict[str, Any]) -> Path:
    """Write README.md (Hugging Face model-card style) and training_result.json into `adapter_dir`.

    Args:
        adapter_dir: the final adapter directory.
        result: base_model, method, snapshot_id, snapshot_sha256, parent_adapter, parent_name,
            preference_ids, metrics, config (the resolved TrainConfig dict).

    Returns:
        The README path.

    """
    out = Path(adapter_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULT_FILE).write_text(json.dumps(result, indent=2, default=str), "utf-8")
    front = {
        "base_model": result.get("base_model"),
        "library_name": "peft",
        "tags": ["idiolect", "lora", result.get("method") or "sft", "trl"],
    }
    metrics = result.get("metrics") or {}
    cfg = result.get("config") or {}
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
        f"# {result.get('name') or out.name}", "",
        f"A LoRA adapter in one person's voice, trained by idiolect with TRL "
        f"({(result.get('method') or 'sft').upper()}).", "",
        "| | |", "|---|---|",
        f"| base model | `{result.get('base_model')}` |",
        f"| method | {result.get('method')} |",
        f"| snapshot id | `{result.get('snapshot_id') or 'n/a'}` |",
        f"| snapshot sha256 | `{result.get('snapshot_sha256') or 'n/a'}` |",
        f"| parent adapter | {result.get('parent_name') or result.get('parent_adapter') or 'none (base)'} |",
        f"| preference pairs | {len(result.get('preference_ids') or [])} |",
        f"| LoRA | r={cfg.get('lora_r')}, alpha={cfg.get('lora_alpha')}, targets={cfg.get('target_modules')} |",
        "", "## Metrics", "",
    ]
    lines += [f"- {k}: {_fmt(v)}" for k, v in sorted(metrics.items())] or ["- (none recorded)"]
    lines += [
        "", "## Use", "",
        "```bash",
        f"vllm serve {result.get('base_model')} --enable-lora --max-lora-rank {cfg.get('lora_r')} \\",
        f"  --lora-modules {result.get('name') or out.name}={out.resolve()}",
        "```", "",
        "## Training config", "", "```yaml", yaml.safe_dump(cfg, sort_keys=True).strip(), "```", "",
    ]
    readme = out / "README.md"
    readme.write_text("\n".join(lines), "utf-8")
    return readme
