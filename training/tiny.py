"""Build a tiny random-weight Llama-style model and a BPE tokenizer trained on local text.

No weights can be downloaded on the machines this project is tested on, so every training,
serving and generation path is exercised on this model: real code on real tensors, just small.
`--arch qwen3` builds the Qwen3 architecture with Qwen3's own chat template (the one the
Qwen3 presets meet on a real checkpoint: no generation markers, so TRL patches it);
`--arch apriel` builds Apriel-1.5's (Llava: a Pixtral vision tower and a Mistral language
model) with the shipped Apriel template. Each runs its presets' exact code path without
their weights.

    python -m training.tiny OUT_DIR [--corpus FILE ...] [--arch llama|qwen3|apriel] [--hidden-size 64 --layers 2]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

# ChatML with `{% generation %}` markers so TRL's assistant_only_loss masks exactly the
# assistant span; <|im_end|> sits inside the span so the model learns to stop.
CHATML_TEMPLATE = (
    "{%- for message in messages %}{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}{% generation %}{{- message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{{- '\\n' }}"
    "{%- else %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

FALLBACK_CORPUS = [
    "Think of a busbar like a river: everything downstream drinks from it.",
    "Measure twice, pull wire once. That's the whole job, honestly.",
    "You don't size the breaker for the average load, you size it for the worst Tuesday.",
    "I'd rather run it on my own box than rent somebody else's opinion by the hour.",
]


def build_tiny_model(
    out_dir: str | Path,
    corpus: Iterable[str] = (),
    *,
    vocab_size: int = 1024,
    hidden_size: int = 64,
    layers: int = 2,
    seed: int = 0,
    arch: str = "llama",
) -> Path:
    """Write tokenizer + random-weight causal LM (`arch`: llama or qwen3) to `out_dir`; returns the path."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        GenerationConfig,
        PreTrainedTokenizerFast,
    )

    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {sorted(ARCHS)}, got {arch!r}")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    texts = [t for t in corpus if t and t.strip()] or FALLBACK_CORPUS
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS + (APRIEL_TOKENS if arch == "apriel" else []),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        model_max_length=1024,
    )
    hf_tok.chat_template = chat_template_for(arch)
    hf_tok.save_pretrained(out)

    torch.manual_seed(seed)
    cfg = model_config(arch, vocab_size=len(hf_tok), hidden_size=hidden_size, layers=layers,
                       bos=hf_tok.bos_token_id, eos=hf_tok.eos_token_id, pad=hf_tok.pad_token_id,
                       image_token=hf_tok.convert_tokens_to_ids("[IMG]") if arch == "apriel" else None)
    auto = AutoModelForImageTextToText if arch == "apriel" else AutoModelForCausalLM
    model = auto.from_config(cfg)
    model.generation_config = GenerationConfig(
        bos_token_id=hf_tok.bos_token_id, eos_token_id=hf_tok.eos_token_id,
        pad_token_id=hf_tok.pad_token_id,
    )
    model.save_pretrained(out)
    (out / "idiolect-tiny.json").write_text(json.dumps({"corpus_size": len(texts), "seed": seed}))
    return out


ARCHS = ("llama", "qwen3", "apriel")
# Apriel's turn markers, kept whole by the tokenizer as in the real one; the last is the
# image placeholder a Llava config needs (never used: the examples are text only).
APRIEL_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "[IMG]"]


def chat_template_for(arch: str) -> str:
    """ChatML with generation markers for llama; Qwen3's official template (TRL ships it) for qwen3."""
    if arch == "qwen3":
        from trl.chat_template_utils import qwen3_chat_template

        return qwen3_chat_template
    if arch == "apriel":
        from training.reasoning import load_template

        return load_template("apriel-1.5")
    return CHATML_TEMPLATE


def model_config(arch: str, *, vocab_size: int, hidden_size: int, layers: int, bos: int, eos: int,
                 pad: int, image_token: int | None = None) -> object:
    """Return the config of a small `arch` model (4 query heads sharing 2 key/value heads, as in GQA)."""
    from transformers import LlamaConfig, LlavaConfig, MistralConfig, PixtralVisionConfig, Qwen3Config

    common = dict(vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                  num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=1024, bos_token_id=bos, eos_token_id=eos, pad_token_id=pad,
                  tie_word_embeddings=True)
    if arch == "qwen3":
        return Qwen3Config(head_dim=hidden_size // 4, **common)
    if arch == "apriel":
        text = MistralConfig(head_dim=hidden_size // 4, **{**common, "tie_word_embeddings": False})
        vision = PixtralVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                     num_attention_heads=2, head_dim=16, image_size=64, patch_size=16)
        return LlavaConfig(text_config=text, vision_config=vision, image_token_index=image_token,
                           projector_hidden_act="gelu", vision_feature_layer=-1, tie_word_embeddings=False)
    return LlamaConfig(**common)


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir")
    p.add_argument("--corpus", nargs="*", default=[], help="text files, one document per line")
    p.add_argument("--arch", choices=ARCHS, default="llama")
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    return p


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    texts: list[str] = []
    for f in args.corpus:
        texts.extend(Path(f).read_text(encoding="utf-8").splitlines())
    print(build_tiny_model(args.out_dir, texts, arch=args.arch, hidden_size=args.hidden_size, layers=args.layers))


if __name__ == "__main__":
    main()
