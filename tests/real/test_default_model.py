"""Real by default: the bundled SmolLM2 as a Hugging Face folder, trained on the sample, closer to the person.

Slow on purpose (the CI budget holds it): one session runs the starter loop on the default
model (tests/real/conftest.py) and these tests check what a person would get from `./start`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.arena import Arena, OpenAIStreams
from ui.ops.starter import STEPS

pytestmark = pytest.mark.slow

MODEL = "SmolLM2-135M-Instruct"
UPSTREAM_PROMPT = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                   "<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_the_folder_is_the_gguf_model_with_the_right_end_token(models_dir: Path) -> None:
    import gguf
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer

    from training.base_model import BUNDLED, gguf_path

    folder = models_dir / MODEL
    tok = AutoTokenizer.from_pretrained(folder)
    assert (tok.eos_token, tok.eos_token_id, tok.pad_token_id) == ("<|im_end|>", 2, 2)
    assert json.loads((folder / "generation_config.json").read_text())["eos_token_id"] == 2
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["eos_token_id"] == 2
    # Renders exactly as the upstream template, with TRL's generation markers added.
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                   add_generation_prompt=True) == UPSTREAM_PROMPT
    assert "{% generation %}" in tok.chat_template
    # The weights are the file's, dequantised exactly: checked against gguf's own dequantiser.
    reader = gguf.GGUFReader(gguf_path(BUNDLED[MODEL]))
    tensors = {t.name: t for t in reader.tensors}
    weights = load_file(folder / "model.safetensors")
    for gguf_name, hf_name in (("token_embd.weight", "model.embed_tokens.weight"),
                               ("blk.7.ffn_down.weight", "model.layers.7.mlp.down_proj.weight")):
        t = tensors[gguf_name]
        ref = gguf.quants.dequantize(t.data, t.tensor_type).reshape(weights[hf_name].shape)
        assert np.array_equal(ref.astype(np.float32), weights[hf_name]), hf_name


def test_the_starter_loop_runs_every_step_on_the_default_model(sample_run) -> None:
    _, starter = sample_run
    state = starter.state()
    assert [s.key for s in STEPS if state[s.key]["status"] != "done"] == [], state
    assert "voice-v1" in state["train"]["detail"] and "voice-v1" in state["arena"]["detail"]


def test_voice_v1_sounds_more_like_the_person_than_the_base(sample_run) -> None:
    from eval.runner import latest_report

    sv, _ = sample_run
    result, _ = latest_report(sv.store)
    report = result["voice"]
    # The metric itself works on this data: the person's held-out messages and the negatives
    # (assistant turns, base answers) are told apart.
    assert report["sanity_auc"] >= 0.9, report["sanity_auc"]
    voice, baseline = report["systems"]["voice-v1"], report["systems"]["prompting-baseline"]
    # Measured here (2026-12-02, the sample; benchmarks/results/real.md): at 40 steps (the preset,
    # and what CI trains) voice-v1 closed 0.94 of the gap between the base (0 by definition) and
    # the person, P(person) 0.95 against the prompting baseline's 0.26 (VGC -0.02); at 60 steps
    # 0.82 and 0.98 in two runs. The bar sits well under every measured value so sampling noise
    # on a busy machine cannot flip it, and still far above 0.
    assert voice["vgc"] is not None and voice["vgc"] >= 0.3, voice["vgc"]
    assert voice["attribution"]["mean_p_person"] > baseline["attribution"]["mean_p_person"] + 0.2


def test_the_arena_shows_two_real_answers(sample_run) -> None:
    sv, _ = sample_run
    streams = OpenAIStreams(max_tokens=120)
    arena = Arena(sv.store, streams, seed=3,
                  contestants=lambda: [c for c in Arena(sv.store, streams).contestants()
                                       if c.kind in ("base", "adapter")])
    battle = arena.new_battle(source="golden")
    *_, (left, right) = arena.stream_answers(battle.id)
    for text in (left, right):
        assert len(text.split()) >= 5, text
        assert "\ufffd" not in text and "<|im_" not in text and "<|endoftext|>" not in text
    assert {battle.left_model, battle.right_model} == {"smollm2-135m-instruct", "voice-v1"}
    streams.close()
