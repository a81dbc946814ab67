"""Training beyond one process: accelerate launch from a config, rank-0 progress, one adapter that
matches a one-process run, and the MiniMax-M2 preset (its plan, targets and reasoning format)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.schemas import Example, ExampleStatus, JobStatus, Scores
from tests.training.conftest import persona_pairs, write_snapshot
from training import reasoning as R
from training.rundata import read_progress
from training.runs.jobs import JobRunner

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


def test_launch_settings_come_from_the_job_then_the_preset(tmp_path):
    from training.recipe import accelerate_config_path, launch_settings, list_accelerate_configs

    assert {"cpu-ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"} <= set(list_accelerate_configs())
    assert launch_settings({"preset": "tiny-cpu"}, "sft") == (None, None)
    zero3 = CONFIGS / "accelerate" / "deepspeed-zero3.yaml"
    assert launch_settings({"preset": "minimax-m2"}, "sft") == (zero3, 8)
    assert launch_settings({"preset": "minimax-m2", "num_processes": "16"}, "dpo") == (zero3, 16)
    assert launch_settings({"preset": "qwen3-8b", "accelerate_config": "fsdp"}, "sft")[0].name == "fsdp.yaml"
    own = tmp_path / "mine.yaml"
    own.write_text("distributed_type: MULTI_GPU\n")
    assert accelerate_config_path(str(own)) == own.resolve()
    with pytest.raises(ConfigError, match="unknown accelerate config 'zero9'; available: cpu-ddp"):
        launch_settings({"accelerate_config": "zero9"}, "sft")
    with pytest.raises(ConfigError, match="num_processes must be >= 1"):
        launch_settings({"accelerate_config": "fsdp", "num_processes": 0}, "sft")


def test_the_runner_wraps_a_run_in_accelerate_launch(store, settings, tmp_path):
    runner = JobRunner(store, settings, python="/venv/bin/python")
    conf = tmp_path / "config.json"
    plain = runner._command("sft", "training.sft", {"preset": "tiny-cpu"}, conf)
    assert plain == ["/venv/bin/python", "-m", "training.sft", "--config", str(conf)]
    cmd = runner._command("dpo", "training.dpo", {"preset": "tiny-cpu", "accelerate_config": "cpu-ddp",
                                                  "num_processes": 2}, conf)
    assert cmd[:5] == ["/venv/bin/python", "-m", "accelerate.commands.launch", "--config_file",
                       str(CONFIGS / "accelerate" / "cpu-ddp.yaml")]
    assert cmd[cmd.index("--num_processes") + 1] == "2" and int(cmd[cmd.index("--main_process_port") + 1]) > 0
    assert cmd[-4:] == ["-m", "training.dpo", "--config", str(conf)]
    assert runner._command("serve", "training.serving.serve", {"accelerate_config": "fsdp"}, conf)[1:3] == \
        ["-m", "training.serving.serve"]


def test_minimax_m2_preset_loads_with_its_plan_and_the_exports_render_its_reasoning(store, settings, tmp_path):
    from training.dataset.export import export_snapshot
    from training.dataset.snapshots import create_snapshot
    from training.recipe import launch_settings, resolve_config

    cfg = resolve_config("minimax-m2")
    assert (cfg.base_model, cfg.family, cfg.accelerate_config, cfg.num_processes) == (
        "MiniMaxAI/MiniMax-M2", "minimax-m2", "deepspeed-zero3", 8)
    assert cfg.dequantize_fp8 and cfg.bf16 and cfg.gradient_checkpointing and not cfg.load_in_4bit
    assert resolve_config("minimax-m2", method="dpo").learning_rate == 5e-6
    assert launch_settings({"preset": "minimax-m2"}, "dpo")[1] == 8
    plan = (CONFIGS / "minimax-m2.yaml").read_text()
    for figure in ("228.69B", "457.4 GB / N", "~86 GB per GPU", "8 GPUs of >= 96 GB", "26.4M"):
        assert figure in plan, figure

    for i, topic in enumerate(["GPUs", "breakers", "busbars", "queues", "pricing", "drivers"]):
        store.examples.add(Example(
            prompt=f"Rent or own the {topic}? (question {i})", reasoning=f"Cost math first, case {i}.",
            response=f"Own it, like a truck you drive: {topic} " + " ".join(f"t{i}w{j}" for j in range(10)),
            conversation_id=f"c{i}", status=ExampleStatus.approved, scores=Scores(overall=8)))
    snap, _ = create_snapshot(store, settings, seed=1, validation_fraction=0.25)
    export_snapshot(snap.path, tmp_path / "out", fmt="messages", target=cfg.family)
    rows = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert rows
    for row in rows:
        turn = row["messages"][-1]["content"]
        assert turn.startswith("<think>\nCost math first, case ") and "</think>\n\nOwn it" in turn
        reasoning, response = R.parse(turn, "minimax-m2")
        assert reasoning.startswith("Cost math first") and response.startswith("Own it")


def test_minimax_m2_preset_targets_exist_in_the_real_architecture():
    # The preset's LoRA targets against transformers' own MiniMax-M2 (a tiny random one: same
    # module names, experts as 3-D parameters), and its parameter count against the YAML's plan.
    import torch
    from peft import get_peft_model
    from transformers import MiniMaxM2Config, MiniMaxM2ForCausalLM

    from training.lora import lora_config
    from training.recipe import resolve_config

    cfg = resolve_config("minimax-m2")
    with torch.device("meta"):
        full = sum(p.numel() for p in MiniMaxM2ForCausalLM(MiniMaxM2Config()).parameters())
    assert f"{full / 1e9:.2f}B parameters" in (CONFIGS / "minimax-m2.yaml").read_text()
    small = MiniMaxM2Config(vocab_size=256, hidden_size=64, intermediate_size=32, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_local_experts=4,
                            num_experts_per_tok=2)
    model = get_peft_model(MiniMaxM2ForCausalLM(small), lora_config(cfg))
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trained and all(re.search(r"self_attn\.[qkvo]_proj\.lora_[AB]", n) for n in trained)
    assert len(trained) == 2 * 4 * small.num_hidden_layers  # A and B on q, k, v, o of every layer


def _final_lora(adapter: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(adapter / "adapter_model.safetensors"))


@pytest.mark.slow  # two training runs in subprocesses (one of them two processes): ~40 s alone
def test_two_process_ddp_run_matches_one_process(store, settings, tiny_model, tmp_path):
    import torch

    # 16 short rows: every row survives truncation and the effective batch (8) divides them, so
    # both runs see the same 8 examples at every step (same seed, same shuffle).
    snap = write_snapshot(tmp_path / "snap", persona_pairs(max_chars=120)[:22], n_val=6)
    assert len((snap / "train.jsonl").read_text().splitlines()) == 16
    common = {"preset": "tiny-cpu", "base_model": str(tiny_model), "snapshot": str(snap), "max_steps": 6,
              "logging_steps": 1, "eval_steps": 0, "save_steps": 1000, "max_length": 256}
    runner = JobRunner(store, settings, python=sys.executable)
    one = runner.wait(runner.start("sft", {**common, "per_device_train_batch_size": 8}).id, timeout=600)
    two_job = runner.start("sft", {**common, "per_device_train_batch_size": 4, "accelerate_config": "cpu-ddp",
                                   "num_processes": 2})
    assert "accelerate.commands.launch" in two_job.config["_runtime"]["command"]
    two = runner.wait(two_job.id, timeout=600)
    assert one.status == two.status == JobStatus.succeeded, (one.error, two.error)

    events = read_progress(two.config["progress_file"])  # rank 0 alone reports
    assert [e["event"] for e in events].count("done") == 1 and [e["event"] for e in events].count("start") == 1
    assert [e["step"] for e in events if e["event"] == "log"] == [1, 2, 3, 4, 5, 6]
    assert Path(two.log_path).read_text().count('[progress] {"event": "done"') == 1
    adapter = Path(two.output)
    assert sorted(p.name for p in adapter.iterdir() if p.suffix in (".json", ".safetensors")).count(
        "adapter_model.safetensors") == 1 and (adapter / "training_result.json").exists()

    a, b = _final_lora(Path(one.output)), _final_lora(adapter)
    assert sorted(a) == sorted(b) and any("lora_A" in k for k in a)
    initial = {k: v for k, v in a.items() if "lora_B" in k}  # LoRA B starts at zero: training moved it
    assert max(float(v.abs().max()) for v in initial.values()) > 1e-3
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-4, rtol=1e-3, msg=lambda m, k=k: f"{k}: {m}")
