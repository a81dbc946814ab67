"""The model a CPU server serves: base weights, PEFT adapters, the batching engine, grammars."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from training.serving.engine import Engine
from training.serving.guided import GrammarFactory

SAMPLING_DEFAULTS = ("temperature", "top_p", "top_k", "repetition_penalty")
SMALL_MODEL_PARAMS = 1_000_000_000  # below this, decoding on the CPU uses one intra-op thread


def cpu_threads(n_params: int, cores: int, requested: int = 0) -> int:
    """Intra-op threads for decoding on the CPU: `requested` if set, else one for a small model.

    Decoding a small model is a stream of tiny matrix products, so a second thread buys little
    (SmolLM2-135M on 2 idle cores: 12.7 against 12.3 tokens/s). When another process is busy
    on the machine, every product waits at a barrier for a descheduled thread: with one busy
    loop beside it, 2 threads fell to 4.2 tokens/s while 1 kept 11.8 (benchmarks/results/real.md).
    A big model's products are large enough for every core to pay off.
    """
    if requested > 0:
        return requested
    return 1 if n_params < SMALL_MODEL_PARAMS else max(1, cores)


def resolve_device(device: str) -> str:
    """Return the torch device to serve on: `auto` means CUDA when present, else the CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device is visible to this process")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda[:N], got {device!r}")
    return device


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def chat_messages(messages: list[Any]) -> list[dict[str, str]]:
    """Messages as plain {role, content} strings for any chat template (tool traffic as text)."""
    out = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ValueError("each message must be an object with a string 'role'")
        text = _text(m.get("content"))
        if m.get("tool_calls") and not text:
            text = json.dumps([c.get("function") for c in m["tool_calls"]], ensure_ascii=False)
        out.append({"role": m["role"], "content": text})
    return out


class ModelHost:
    """The base model, its adapters and the engine that generates with them."""

    def __init__(self, base_model: str, served_name: str | None = None, family: str = "none",
                 device: str = "auto", max_batch: int = 8, default_max_tokens: int = 1024,
                 threads: int = 0) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

        from training.base_model import resolve_base_model

        self.base_path = resolve_base_model(base_model)
        self.base_name = served_name or base_model
        self.family = family
        self.device = resolve_device(device)
        # bf16 halves GPU memory at no cost in quality for inference; CPUs lack fast bf16 kernels.
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(self.base_path)
        base = AutoModelForCausalLM.from_pretrained(self.base_path, dtype=dtype).to(self.device)
        base.eval()
        # OMP_NUM_THREADS, when the owner set it, wins over the automatic choice.
        if self.device == "cpu" and (threads > 0 or not os.environ.get("OMP_NUM_THREADS")):
            torch.set_num_threads(cpu_threads(base.num_parameters(), os.cpu_count() or 1, threads))
        # The model's own sampling defaults apply to requests that leave a field out (as vLLM's
        # --generation-config auto does); the engine then decodes with a neutral config.
        gc = base.generation_config
        self.defaults: dict[str, Any] = {k: getattr(gc, k, None) for k in SAMPLING_DEFAULTS}
        self.defaults["max_tokens"] = default_max_tokens
        if not gc.do_sample:
            self.defaults["temperature"] = None
        base.generation_config = GenerationConfig(bos_token_id=gc.bos_token_id, eos_token_id=gc.eos_token_id,
                                                  pad_token_id=gc.pad_token_id)
        self.max_len = int(getattr(base.config, "max_position_embeddings", 4096) or 4096)
        self.engine = Engine(base, self.tokenizer, self.device, max_batch=max_batch)
        self.engine.base_name = self.base_name
        self._grammars: GrammarFactory | None = None

    @property
    def adapters(self) -> dict[str, str]:
        return self.engine.adapters

    def grammars(self) -> GrammarFactory:
        """Return the grammar factory (built on the first guided request: about a second)."""
        if self._grammars is None:
            vocab = int(self.engine.base.get_output_embeddings().weight.shape[0])
            self._grammars = GrammarFactory(self.tokenizer, vocab)
        return self._grammars

    def load_adapter(self, name: str, path: str) -> None:
        """Add an adapter under `name` (on the engine's thread; a name in use is an error, as in vLLM)."""
        from peft import PeftModel

        if name in self.adapters or name == self.base_name:
            raise ValueError(f"The lora adapter '{name}' has already been loaded.")
        if not (Path(path) / "adapter_config.json").exists():
            raise FileNotFoundError(f"No adapter found at {path}")
        eng = self.engine
        if isinstance(eng.model, PeftModel):
            eng.model.load_adapter(path, adapter_name=name)
        else:
            eng.model = PeftModel.from_pretrained(eng.base, path, adapter_name=name)
        eng.model.eval()
        eng.adapters[name] = path

    def unload_adapter(self, name: str) -> None:
        """Remove an adapter (on the engine's thread)."""
        if name not in self.adapters:
            raise KeyError(f"The lora adapter '{name}' cannot be found.")
        self.engine.model.delete_adapter(name)
        del self.engine.adapters[name]

    def models(self) -> list[dict[str, Any]]:
        """Return the /v1/models entries (base, then adapters with the base as parent)."""
        now = int(time.time())
        out = [{"id": self.base_name, "object": "model", "created": now, "owned_by": "idiolect",
                "root": self.base_path, "parent": None, "max_model_len": self.max_len}]
        out += [{"id": n, "object": "model", "created": now, "owned_by": "idiolect", "root": p,
                 "parent": self.base_name} for n, p in self.adapters.items()]
        return out

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of the chat-templated prompt."""
        out = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                 return_dict=True)
        return list(out["input_ids"])
