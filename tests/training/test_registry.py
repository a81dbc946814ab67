"""The registry: versioned adapter names never reused, lineage, champion, endpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ConfigError, NotFound
from core.schemas import ModelKind
from training.card import write_adapter_card
from training.runs.registry import (
    champion,
    delete_adapter,
    lineage,
    next_adapter_name,
    read_training_result,
    register_adapter,
    register_base,
    set_champion,
    set_endpoint,
)


def fake_adapter(root: Path, **result: object) -> Path:
    """An adapter directory as the training scripts leave it (config + card + result)."""
    root.mkdir(parents=True)
    (root / "adapter_config.json").write_text(json.dumps({"r": 8, "peft_type": "LORA"}))
    write_adapter_card(root, {"base_model": "tiny", "method": "sft", "metrics": {"eval_loss": 1.5},
                              "config": {"lora_r": 8}, **result})
    return root


def test_names_are_versioned_and_never_reused(store, tmp_path):
    assert next_adapter_name(store) == "voice-v1"
    v2 = register_adapter(store, path=fake_adapter(tmp_path / "a"))
    assert v2.name == "voice-v2"  # v1 was issued (reserved) even though nothing registered it
    delete_adapter(store, "voice-v2")
    assert store.registry.get_model("voice-v2") is None
    assert next_adapter_name(store) == "voice-v3"  # a deleted name stays burnt
    assert next_adapter_name(store, prefix="dale") == "dale-v1"  # prefixes count separately
    with pytest.raises(ConfigError, match="lower-case"):
        next_adapter_name(store, prefix="Voice V")


def test_register_reads_training_result_and_records_lineage(store, tmp_path):
    register_base(store, "tiny", "tiny", endpoint="http://127.0.0.1:1/v1", served_name="tiny")
    sft = register_adapter(store, path=fake_adapter(tmp_path / "sft", snapshot_id="snap-1"))
    dpo = register_adapter(store, path=fake_adapter(tmp_path / "dpo", method="dpo", parent_name=sft.name,
                                                    snapshot_id="snap-2", preference_ids=["p1", "p2"]))
    assert (sft.kind, sft.method, sft.snapshot_id) == (ModelKind.adapter, "sft", "snap-1")
    assert sft.metrics["eval_loss"] == 1.5
    assert (dpo.parent, dpo.method, dpo.preference_ids) == (sft.name, "dpo", ["p1", "p2"])
    assert [m.name for m in lineage(store, dpo.name)] == [dpo.name, sft.name]
    assert read_training_result(dpo.path)["parent_name"] == sft.name
    assert "snap-2" in (Path(dpo.path) / "README.md").read_text()


def test_register_rejects_bad_input(store, tmp_path):
    with pytest.raises(ConfigError, match="adapter_config.json"):
        register_adapter(store, path=tmp_path)
    with pytest.raises(NotFound, match="parent adapter 'voice-v9'"):
        register_adapter(store, path=fake_adapter(tmp_path / "x"), parent="voice-v9")
    rec = register_adapter(store, path=fake_adapter(tmp_path / "y"))
    with pytest.raises(ConfigError, match="already registered"):
        register_adapter(store, path=tmp_path / "y", name=rec.name)


def test_champion_and_endpoints(store, tmp_path):
    assert champion(store) is None
    a = register_adapter(store, path=fake_adapter(tmp_path / "a"))
    b = register_adapter(store, path=fake_adapter(tmp_path / "b"), parent=a.name)
    set_champion(store, a.name)
    set_champion(store, b.name)
    assert champion(store).name == b.name
    assert store.kv.get("champion") == {"name": b.name, "previous": a.name}
    set_endpoint(store, b.name, "http://127.0.0.1:8000/v1", b.name)
    assert store.registry.require_model(b.name).endpoint == "http://127.0.0.1:8000/v1"
    delete_adapter(store, b.name)
    assert champion(store) is None
    with pytest.raises(NotFound):
        set_champion(store, "voice-v99")
