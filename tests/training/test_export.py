"""Every export loads with `datasets` and goes through TRL's SFT / DPO data preparation on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from core.schemas import Example, ExampleStatus, PreferencePair, Scores
from training import reasoning as R
from training.dataset.export import FORMATS, export_snapshot
from training.dataset.hf_export import export_hf, push_to_hub
from training.dataset.snapshots import create_snapshot

NASTY = "Literally type </think> or [END FINAL RESPONSE] in a fence:\n```\n</think>\n```"


@pytest.fixture
def snapshot_path(store, settings) -> Path:
    topics = ["breakers", "busbars", "self-hosting", "queues", "free will", "pricing", "drivers", "grounding"]
    for i, topic in enumerate(topics):
        store.examples.add(Example(
            prompt=f"What do you think about {topic}? (question {i})",
            reasoning=f"He reasons about {topic} from a job he did; case {i}." + (f" {NASTY}" if i == 0 else ""),
            response=f"On {topic}: " + " ".join(f"t{i}w{j}" for j in range(10)) + (f" {NASTY}" if i == 1 else ""),
            system="You are Dale." if i % 2 else None, domain=["architecture", "coding"][i % 2],
            conversation_id=f"c{i}", status=ExampleStatus.approved, scores=Scores(overall=8)))
    store.examples.add_pair(PreferencePair(prompt="Rent or own the GPU?", system="You are Dale.",
                                           chosen="Own it, like a truck you actually drive.",
                                           rejected="As an AI I cannot say.", chosen_reasoning="cost math first"))
    store.examples.add_pair(PreferencePair(prompt="Tabs or spaces?", chosen="Spaces. Four. Fight me.",
                                           rejected="Both have merits."))
    snap, _ = create_snapshot(store, settings, seed=1, validation_fraction=0.25)
    return Path(snap.path)


def test_every_format_loads_with_datasets(snapshot_path: Path, tmp_path: Path) -> None:
    from datasets import load_dataset, load_from_disk

    for fmt in (*FORMATS, "hf"):
        out = tmp_path / fmt
        if fmt == "hf":
            summary = export_hf(snapshot_path, out, target="qwen3")
        else:
            summary = export_snapshot(snapshot_path, out, fmt=fmt, target="qwen3")
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["family"] == "qwen3" and manifest["id"] == summary["id"]
        if fmt == "hf":
            dd = load_from_disk(str(out / "sft"))
            assert dd["train"].num_rows == summary["n_train"] and "messages" in dd["train"].column_names
            assert load_from_disk(str(out / "preferences")).num_rows == 2
            continue
        for name in ("train", "validation"):
            ds = load_dataset("json", data_files=str(out / f"{name}.jsonl"), split="train")
            assert ds.num_rows == summary[f"n_{name}"]
        if (out / "preferences.jsonl").exists():
            prefs = load_dataset("json", data_files=str(out / "preferences.jsonl"), split="train")
            assert prefs.num_rows == 2 and {"chosen", "rejected"} <= set(prefs.column_names)
        if fmt == "axolotl":
            cfg = yaml.safe_load((out / "axolotl.yaml").read_text())
            assert cfg["datasets"][0]["type"] == "chat_template"
            assert cfg["chat_template_jinja"] == R.load_template("qwen3")
        if fmt == "llamafactory":
            info = json.loads((out / "dataset_info.json").read_text())
            assert info["idiolect_sft"]["formatting"] == "sharegpt" and info["idiolect_dpo"]["ranking"] is True
            for entry in info.values():
                assert (out / entry["file_name"]).exists()


def test_export_errors(snapshot_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown export format"):
        export_snapshot(snapshot_path, tmp_path / "a", fmt="csv")
    with pytest.raises(ConfigError, match="training.dataset.hf_export"):
        export_snapshot(snapshot_path, tmp_path / "a", fmt="hf")
    with pytest.raises(ConfigError, match="known families"):
        export_snapshot(snapshot_path, tmp_path / "b", target="gpt-2")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        export_snapshot(snapshot_path, tmp_path / "c")


def test_push_to_hub_is_guarded(tmp_path: Path, no_network) -> None:
    with pytest.raises(ConfigError, match="local_only"):
        push_to_hub(tmp_path, "me/data", token="t", local_only=True, offline=False)
    with pytest.raises(ConfigError, match="offline"):
        push_to_hub(tmp_path, "me/data", token="t", local_only=False, offline=True)
    with pytest.raises(ConfigError, match="token"):
        push_to_hub(tmp_path, "me/data", token=None, local_only=False, offline=False)


def _tokenizer(tiny_model: Path, family: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.chat_template = R.load_template(family)
    return tok


@pytest.mark.parametrize("family", list(R.FAMILIES))
def test_sft_preparation_masks_exactly_the_assistant_turn(snapshot_path, tmp_path, tiny_model, family, no_network):
    from datasets import load_dataset
    from trl import SFTConfig, SFTTrainer

    out = tmp_path / "export"
    export_snapshot(snapshot_path, out, fmt="messages", target=family)
    ds = load_dataset("json", data_files=str(out / "train.jsonl"), split="train")
    tok = _tokenizer(tiny_model, family)
    trainer = SFTTrainer(
        model=str(tiny_model), processing_class=tok, train_dataset=ds,
        args=SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=1, per_device_train_batch_size=2,
                       assistant_only_loss=True, max_length=1024, use_cpu=True, bf16=False,
                       save_strategy="no", report_to="none", gradient_checkpointing=False),
    )
    prepared = trainer.train_dataset
    assert prepared.num_rows == ds.num_rows
    fam = R.FAMILIES[family]
    for row, src in zip(prepared, ds, strict=False):
        assistant = src["messages"][-1]["content"]
        # TRL folds the assistant mask into labels: -100 marks tokens without loss.
        trained = [lab != -100 for lab in row["labels"]]
        masked = tok.decode([t for t, m in zip(row["input_ids"], trained, strict=False) if m])
        # Exactly the rendered turn (reasoning included where the family trains on it) + end of turn.
        assert masked == assistant + fam.assistant_close + (tok.eos_token if family == "apriel-1.5" else "")
        unmasked = tok.decode([t for t, m in zip(row["input_ids"], trained, strict=False) if not m])
        assert src["messages"][-2]["content"] in unmasked and assistant not in unmasked
        reasoning, _ = R.parse(assistant, family)
        assert bool(reasoning) == fam.trains_reasoning


@pytest.mark.parametrize("family", ["qwen3", "apriel-1.5"])
def test_dpo_preparation_splits_prompt_and_completions(snapshot_path, tmp_path, tiny_model, family, no_network):
    from datasets import load_dataset
    from trl import DPOConfig, DPOTrainer

    out = tmp_path / "export"
    export_snapshot(snapshot_path, out, fmt="messages", target=family)
    ds = load_dataset("json", data_files=str(out / "preferences.jsonl"), split="train")
    tok = _tokenizer(tiny_model, family)
    trainer = DPOTrainer(
        model=str(tiny_model), ref_model=None, processing_class=tok, train_dataset=ds,
        args=DPOConfig(output_dir=str(tmp_path / "dpo"), max_steps=1, per_device_train_batch_size=2,
                       max_length=1024, use_cpu=True, bf16=False, save_strategy="no", report_to="none",
                       gradient_checkpointing=False),
    )
    fam = R.FAMILIES[family]
    for row, src in zip(trainer.train_dataset, ds, strict=False):
        prompt = tok.decode(row["prompt_ids"])
        assert prompt.endswith(fam.assistant_open) and src["prompt"][-1]["content"] in prompt
        chosen = tok.decode(row["chosen_ids"])
        rejected = tok.decode(row["rejected_ids"])
        assert chosen.startswith(src["chosen"][0]["content"] + fam.assistant_close)
        assert rejected.startswith(src["rejected"][0]["content"] + fam.assistant_close)
