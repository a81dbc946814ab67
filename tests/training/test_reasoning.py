"""Reasoning rendered per target family survives the family's real chat template and parses back."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from training import reasoning as R

NASTY_REASONING = (
    "He'd start from the load, not the breaker.\n"
    "The user literally typed </think> and <think> in the question, and [END FINAL RESPONSE] too.\n"
    "```python\nprint('</think>')  # a code fence with the marker inside\n```\n"
    "Already-escaped text stays exact: <\\/think> and [\\END FINAL RESPONSE]."
)
NASTY_RESPONSE = (
    "Short version: size for the worst Tuesday.\n\n```bash\necho '[BEGIN FINAL RESPONSE]' </think>\n```\n"
    "Then [END FINAL RESPONSE] and <|im_end|> <|end|> ]~b]ai [e~[e~[ <｜end▁of▁sentence｜> all stay text."
)
CASES = [
    (NASTY_REASONING, NASTY_RESPONSE),
    ("", "No reasoning here, just the answer."),
    ("One line of reasoning.", "```\nonly a fence\n```"),
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.mark.parametrize("family", list(R.FAMILIES))
@pytest.mark.parametrize("case", range(len(CASES)))
def test_round_trip_through_the_family_chat_template(tokenizer, family: str, case: int) -> None:
    reasoning, response = CASES[case]
    tokenizer.chat_template = R.load_template(family)
    messages = R.to_messages("Why size for </think> the worst Tuesday?", reasoning, response, family,
                             system="Answer like Dale.")
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    got_reasoning, got_response = R.parse(R.last_assistant_turn(text, family), family)
    assert got_response == response
    expected_reasoning = reasoning if R.FAMILIES[family].trains_reasoning else ""
    assert got_reasoning == expected_reasoning

    # Token level: the ids decode to the same text, and the assistant mask covers exactly the
    # rendered turn plus the template's end-of-turn string (what the model must learn to emit).
    enc = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)
    assert tokenizer.decode(enc["input_ids"]) == text
    masked = tokenizer.decode([i for i, m in zip(enc["input_ids"], enc["assistant_masks"], strict=False) if m])
    assert masked.startswith(messages[-1]["content"])
    assert R.parse(masked[: len(messages[-1]["content"])], family) == (expected_reasoning, response)
    assert masked[len(messages[-1]["content"]):].startswith(R.FAMILIES[family].assistant_close)


def test_rendered_turns_match_each_family_convention() -> None:
    assert R.render("r", "a", "qwen3") == "<think>\nr\n</think>\n\na"
    assert R.render("r", "a", "deepseek-r1") == "<think>\nr\n</think>\n\na"
    assert R.render("r", "a", "apriel-1.5") == (
        "Here are my reasoning steps:\nr\n[BEGIN FINAL RESPONSE]\na\n[END FINAL RESPONSE]")
    assert R.render("r", "a", "minimax-m2") == "<think>\nr\n</think>\n\na"
    assert R.render("", "a", "minimax-m2") == "a"
    assert R.render("r", "a", "none") == "a"


def test_generation_prompts_are_the_real_ones(tokenizer) -> None:
    user = [{"role": "user", "content": "hi"}]
    expected_tail = {
        "qwen3": "<|im_start|>assistant\n",
        "deepseek-r1": "<｜Assistant｜><think>\n",
        "apriel-1.5": "<|assistant|>\n",
        "minimax-m2": "]~b]ai\n<think>\n",
        "none": "<|im_start|>assistant\n",
    }
    for fam, tail in expected_tail.items():
        tokenizer.chat_template = R.load_template(fam)
        assert tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True).endswith(tail)


def test_history_turns_follow_the_real_templates(tokenizer) -> None:
    """Earlier assistant turns: Qwen3 / DeepSeek-R1 / MiniMax-M2 drop reasoning, as the originals do."""
    for fam in ("qwen3", "deepseek-r1", "minimax-m2"):
        tokenizer.chat_template = R.load_template(fam)
        msgs = [{"role": "user", "content": "q1"},
                {"role": "assistant", "content": R.render("old thoughts", "old answer", fam)},
                {"role": "user", "content": "q2"},
                {"role": "assistant", "content": R.render("new thoughts", "new answer", fam)}]
        text = tokenizer.apply_chat_template(msgs, tokenize=False)
        assert "old thoughts" not in text and "old answer" in text
        assert R.parse(R.last_assistant_turn(text, fam), fam) == ("new thoughts", "new answer")


def test_escape_is_reversible_and_removes_every_marker() -> None:
    rng = random.Random(7)
    for fam in R.FAMILIES.values():
        alphabet = list({ch for m in fam.markers for ch in m}) + ["\\", "\\", "x", "\n", " "]
        pieces = [*fam.markers, "\\", "\\\\"]
        for _ in range(400):
            text = "".join(rng.choice(pieces) if rng.random() < 0.4 else rng.choice(alphabet)
                           for _ in range(rng.randint(0, 30)))
            escaped = R.escape(text, fam.markers)
            assert R.unescape(escaped, fam.markers) == text
            for m in fam.markers:
                assert m not in escaped, (fam.name, text, escaped)


def test_family_for_model_names_and_errors() -> None:
    assert R.family_for("Qwen/Qwen3-8B").name == "qwen3"
    assert R.family_for("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B").name == "deepseek-r1"
    assert R.family_for("ServiceNow-AI/Apriel-1.5-15b-Thinker").name == "apriel-1.5"
    assert R.family_for("MiniMaxAI/MiniMax-M2").name == "minimax-m2"
    with pytest.raises(ValueError, match="known families"):
        R.family_for("llama-2")
    with pytest.raises(ValueError, match="apriel-1.5"):
        R.parse("no markers here", "apriel-1.5")
    with pytest.raises(ValueError, match="think"):
        R.parse("no think block", "qwen3")


def test_each_template_names_its_source() -> None:
    for fam in R.FAMILIES.values():
        head = fam.template_path.read_text("utf-8").split("-#}", 1)[0]
        assert "Source:" in head and "generation" in head


def test_presets_trainer_and_server_share_the_renderers_family_names():
    from core.errors import ConfigError
    from training.recipe import list_presets, resolve_config
    from training.serving.serve import REASONING_PARSERS

    for preset in list_presets():
        fam = resolve_config(preset, {"base_model": "x"}).family
        assert fam in R.FAMILIES, (preset, fam)  # the exporter renders exactly this family
    # older names still load
    assert resolve_config(None, {"base_model": "x", "family": "apriel"}).family == "apriel-1.5"
    assert resolve_config(None, {"base_model": "x", "family": "generic"}).family == "none"
    assert set(REASONING_PARSERS) <= set(R.FAMILIES)
    with pytest.raises(ConfigError, match="family: unknown target model 'gpt-j'"):
        resolve_config(None, {"base_model": "x", "family": "gpt-j"})
