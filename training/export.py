"""Export a snapshot for a trainer and a target model family.

Formats (each writes into one output folder):
- ``messages``: ``{"messages": [...]}`` JSONL, read by TRL SFTTrainer, Axolotl
  (``type: chat_template``), Unsloth and OpenAI fine-tuning; plus preferences.jsonl in TRL's
  conversational ``prompt`` / ``chosen`` / ``rejected`` form, and the family's chat template.
- ``sharegpt``: ``{"conversations": [{"from", "value"}]}`` JSONL.
- ``hf``: a Hugging Face ``datasets`` folder (``DatasetDict.save_to_disk``); optionally pushed
  to the Hub, only when explicitly asked and the machine is allowed online.
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
from training.reasoning import Family, family_for, render, to_messages
from training.snapshots import load_snapshot

FORMATS = ("messages", "sharegpt", "hf", "axolotl", "llamafactory")
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
    """An Axolotl config fragment for the exported messages files (paste into your config)."""
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
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    try:
        fam = family_for(target)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    snap = load_snapshot(snapshot_dir)
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: export folder is not empty; choose a new one")
    out.mkdir(parents=True, exist_ok=True)
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
    elif fmt == "llamafactory":
        files = [_write_jsonl(out / "train.jsonl", [sharegpt_row(e, fam) for e in snap["train"]]),
                 _write_jsonl(out / "validation.jsonl", [sharegpt_row(e, fam) for e in snap["validation"]])]
        if snap["preferences"]:
            files.append(_write_jsonl(out / "preferences.jsonl",
                                      [llamafactory_pair(p, fam) for p in snap["preferences"]]))
        info = out / "dataset_info.json"
        info.write_text(json.dumps(llamafactory_info(snap), indent=2), encoding="utf-8")
        files.append(info)
    else:
        files = save_hf_dataset(snap, out, fam)
    manifest = {
        "id": snap["manifest"].get("id"), "snapshot_version": snap["manifest"].get("version"),
        "snapshot_path": str(Path(snapshot_dir).resolve()), "format": fmt, "family": fam.name,
        "trains_reasoning": fam.trains_reasoning, "n_train": len(snap["train"]),
        "n_validation": len(snap["validation"]), "n_preferences": len(snap["preferences"]),
        "files": sorted(str(f.relative_to(out)) for f in files),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return {**manifest, "path": str(out)}


def save_hf_dataset(snap: dict[str, Any], out: Path, fam: Family) -> list[Path]:
    """`DatasetDict(train, validation)` saved to `out/sft` (and `out/preferences` when there are pairs)."""
    from datasets import Dataset, DatasetDict  # only this format needs `datasets`

    splits = {"train": Dataset.from_list([sft_row(e, fam) for e in snap["train"]])}
    if snap["validation"]:
        splits["validation"] = Dataset.from_list([sft_row(e, fam) for e in snap["validation"]])
    DatasetDict(splits).save_to_disk(str(out / "sft"))
    files = [out / "sft"]
    if snap["preferences"]:
        Dataset.from_list([preference_row(p, fam) for p in snap["preferences"]]).save_to_disk(
            str(out / "preferences"))
        files.append(out / "preferences")
    return files


def push_to_hub(export_dir: str | Path, repo_id: str, *, token: str | None, local_only: bool,
                offline: bool, private: bool = True) -> str:
    """Push an `hf` export to the Hugging Face Hub (private by default); returns the repo URL.

    Guarded: refused when the owner set `local_only`, when the hub is offline
    (HF_HUB_OFFLINE, the default here), or without a token. Only called on explicit request.

    Raises:
        ConfigError: when any guard refuses.
    """
    if local_only:
        raise ConfigError("push to the Hub refused: local_only is set")
    if offline:
        raise ConfigError("push to the Hub refused: the Hugging Face Hub is offline (HF_HUB_OFFLINE)")
    if not token:
        raise ConfigError("push to the Hub needs a Hugging Face token (--hf-token)")
    sft = Path(export_dir) / "sft"
    if not sft.exists():
        raise ConfigError(f"{export_dir}: not an hf export (no sft/ folder)")
    from datasets import load_from_disk

    load_from_disk(str(sft)).push_to_hub(repo_id, token=token, private=private)
    return f"https://huggingface.co/datasets/{repo_id}"
