"""Export a snapshot for a trainer and a target model family.

Formats (each writes into one output folder):
- ``messages``: ``{"messages": [...]}`` JSONL, read by TRL SFTTrainer, Axolotl
  (``type: chat_template``), Unsloth and OpenAI fine-tuning; plus preferences.jsonl in TRL's
  conversational ``prompt`` / ``chosen`` / ``rejected`` form, and the family's chat template.
- ``sharegpt``: ``{"conversations": [{"from", "value"}]}`` JSONL.
- ``hf`` (training/dataset/hf_export.py): a Hugging Face ``datasets`` folder (``save_to_disk``).
- ``axolotl``: the messages files plus a ready-to-paste ``axolotl.yaml``.
- ``llamafactory``: ShareGPT-style files plus ``dataset_info.json`` for LLaMA-Factory.

The assistant turn is rendered by training/reasoning.py for the target family.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError
from core.schemas import Example, PreferencePair
from training.dataset.snapshots import load_snapshot
from training.reasoning import Family, family_for, render, to_messages

# `hf` is separate: it needs `datasets`, which the app process must never import, so it lives in
# training/dataset/hf_export.py and the UI runs it as a subprocess.
FORMATS = ("messages", "sharegpt", "axolotl", "llamafactory")
ALL_FORMATS = (*FORMATS, "hf")
_SHAREGPT_ROLE = {"system": "system", "user": "human", "assistant": "gpt"}


def sft_row(ex: Example, fam: Family) -> dict[str, Any]:
    """One SFT line: the conversation with the assistant turn rendered for `fam`."""
    return {"messages": to_messages(ex.prompt, ex.reasoning, ex.response, fam, system=ex.system)}


def preference_row(p: PreferencePair, fam: Family) -> dict[str, Any]:
    """One conversational DPO line (TRL's format: prompt turns, then one assistant turn each)."""
    prompt = to_messages(p.prompt, "", "-", fam, system=p.system)[:-1]
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": render(p.chosen_reasoning, p.chosen, fam)}],
        "rejected": [{"role": "assistant", "content": render(p.rejected_reasoning, p.rejected, fam)}],
    }


def sharegpt_row(ex: Example, fam: Family) -> dict[str, Any]:
    """One ShareGPT line."""
    msgs = sft_row(ex, fam)["messages"]
    return {"conversations": [{"from": _SHAREGPT_ROLE[m["role"]], "value": m["content"]} for m in msgs]}


def llamafactory_pair(p: PreferencePair, fam: Family) -> dict[str, Any]:
    """One LLaMA-Factory ranking line (ShareGPT style: conversations + chosen/rejected turns)."""
    row = preference_row(p, fam)
    return {
        "conversations": [{"from": _SHAREGPT_ROLE[m["role"]], "value": m["content"]} for m in row["prompt"]],
        "chosen": {"from": "gpt", "value": row["chosen"][0]["content"]},
        "rejected": {"from": "gpt", "value": row["rejected"][0]["content"]},
    }


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    return path


def _write_messages(snap: dict[str, Any], out: Path, fam: Family) -> list[Path]:
    files = [
        _write_jsonl(out / "train.jsonl", [sft_row(e, fam) for e in snap["train"]]),
        _write_jsonl(out / "validation.jsonl", [sft_row(e, fam) for e in snap["validation"]]),
    ]
    if snap["preferences"]:
        files.append(_write_jsonl(out / "preferences.jsonl",
                                  [preference_row(p, fam) for p in snap["preferences"]]))
    tmpl = out / "chat_template.jinja"
    shutil.copyfile(fam.template_path, tmpl)
    files.append(tmpl)
    return files


def axolotl_yaml(out: Path, fam: Family, has_validation: bool) -> str:
    """Build an Axolotl config fragment for the exported messages files (paste into your config)."""
    ds = {"path": str(out / "train.jsonl"), "ds_type": "json", "type": "chat_template",
          "field_messages": "messages", "message_property_mappings": {"role": "role", "content": "content"},
          "roles_to_train": ["assistant"], "train_on_eos": "turn"}
    cfg: dict[str, Any] = {
        "chat_template": "jinja",
        "chat_template_jinja": fam.template_path.read_text("utf-8"),
        "datasets": [ds],
    }
    if has_validation:
        cfg["test_datasets"] = [{**ds, "path": str(out / "validation.jsonl"), "split": "train"}]
    header = (f"# Axolotl dataset section for an idiolect export (target family: {fam.name}).\n"
              f"# Merge into your Axolotl config (base_model, adapter, lr…), then: axolotl train config.yaml\n")
    return header + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=120)


def llamafactory_info(snap: dict[str, Any], prefix: str = "idiolect") -> dict[str, Any]:
    """LLaMA-Factory `dataset_info.json` entries for the ShareGPT-style files."""
    tags = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
            "system_tag": "system"}
    info: dict[str, Any] = {
        f"{prefix}_sft": {"file_name": "train.jsonl", "formatting": "sharegpt",
                          "columns": {"messages": "conversations"}, "tags": tags},
        f"{prefix}_val": {"file_name": "validation.jsonl", "formatting": "sharegpt",
                          "columns": {"messages": "conversations"}, "tags": tags},
    }
    if snap["preferences"]:
        info[f"{prefix}_dpo"] = {"file_name": "preferences.jsonl", "formatting": "sharegpt", "ranking": True,
                                 "columns": {"messages": "conversations", "chosen": "chosen",
                                             "rejected": "rejected"}, "tags": tags}
    return info


def export_snapshot(snapshot_dir: str | Path, out_dir: str | Path, *, fmt: str = "messages",
                    target: str = "qwen3") -> dict[str, Any]:
    """Write the snapshot in `fmt` for the `target` family into `out_dir`; returns a summary.

    Raises:
        ConfigError: for an unknown format or target, or an out_dir that is not empty.

    """
    if fmt == "hf":
        raise ConfigError("the hf format is written by `python -m training.dataset.hf_export` (needs `datasets`)")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(ALL_FORMATS)}")
    try:
        fam = family_for(target)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    snap = load_snapshot(snapshot_dir)
    out = prepare_out(out_dir)
    files: list[Path] = []
    if fmt in ("messages", "axolotl"):
        files = _write_messages(snap, out, fam)
        if fmt == "axolotl":
            y = out / "axolotl.yaml"
            y.write_text(axolotl_yaml(out, fam, bool(snap["validation"])), encoding="utf-8")
            files.append(y)
    elif fmt == "sharegpt":
        files = [_write_jsonl(out / "train.jsonl", [sharegpt_row(e, fam) for e in snap["train"]]),
                 _write_jsonl(out / "validation.jsonl", [sharegpt_row(e, fam) for e in snap["validation"]])]
    else:  # llamafactory
        files = [_write_jsonl(out / "train.jsonl", [sharegpt_row(e, fam) for e in snap["train"]]),
                 _write_jsonl(out / "validation.jsonl", [sharegpt_row(e, fam) for e in snap["validation"]])]
        if snap["preferences"]:
            files.append(_write_jsonl(out / "preferences.jsonl",
                                      [llamafactory_pair(p, fam) for p in snap["preferences"]]))
        info = out / "dataset_info.json"
        info.write_text(json.dumps(llamafactory_info(snap), indent=2), encoding="utf-8")
        files.append(info)
    return write_manifest(out, snap, snapshot_dir, fmt, fam, files)


def write_manifest(out: Path, snap: dict[str, Any], snapshot_dir: str | Path, fmt: str, fam: Family,
                   files: list[Path]) -> dict[str, Any]:
    """Write `out/manifest.json` (snapshot id, format, family, counts, files); returns it with the path."""
    manifest = {
        "id": snap["manifest"].get("id"), "snapshot_version": snap["manifest"].get("version"),
        "snapshot_path": str(Path(snapshot_dir).resolve()), "format": fmt, "family": fam.name,
        "trains_reasoning": fam.trains_reasoning, "n_train": len(snap["train"]),
        "n_validation": len(snap["validation"]), "n_preferences": len(snap["preferences"]),
        "files": sorted(str(f.relative_to(out)) for f in files),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return {**manifest, "path": str(out)}


def prepare_out(out_dir: str | Path) -> Path:
    """Resolve and create the export folder, which must be new or empty.

    Raises:
        ConfigError: when it exists and is not empty (exports are never overwritten).

    """
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: export folder is not empty; choose a new one")
    out.mkdir(parents=True, exist_ok=True)
    return out
