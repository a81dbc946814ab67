"""What the vLLM contract tests need from a server: where it is, what it serves, valid adapters for it.

The same helpers drive the stand-in (tests/fakes/vllm.py) and a real `vllm serve`:

- IDIOLECT_VLLM_URL: a running server to test, e.g. http://127.0.0.1:8000, started with
  VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora (any --max-lora-rank / --max-loras).
- IDIOLECT_VLLM_BIN + IDIOLECT_VLLM_MODEL (+ optional IDIOLECT_VLLM_ARGS): a `vllm` executable
  and a model (a local folder is best) for the start-up contracts, which launch servers
  themselves. IDIOLECT_VLLM_START_TIMEOUT bounds each start (default 900 s).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

FAKE_VLLM = Path(__file__).resolve().parents[1] / "fakes" / "vllm.py"
REAL_URL = os.environ.get("IDIOLECT_VLLM_URL", "").rstrip("/")
REAL_BIN = os.environ.get("IDIOLECT_VLLM_BIN", "")
REAL_MODEL = os.environ.get("IDIOLECT_VLLM_MODEL", "")
REAL_ARGS = shlex.split(os.environ.get("IDIOLECT_VLLM_ARGS", ""))
START_TIMEOUT = float(os.environ.get("IDIOLECT_VLLM_START_TIMEOUT", "900"))


@dataclass
class Server:
    """A running OpenAI-compatible vLLM server and what its /v1/models says about the base model."""

    url: str
    base: str  # the served name of the base model
    root: str  # the model path it was started with
    max_model_len: int

    @classmethod
    def at(cls, url: str) -> Server:
        card = httpx.get(f"{url}/v1/models", timeout=30).json()["data"][0]
        return cls(url=url, base=card["id"], root=card["root"], max_model_len=int(card["max_model_len"]))

    def model_dir(self) -> Path | None:
        """The base model's folder (for building adapters that fit it), if it is on this machine."""
        root = Path(self.root).expanduser()
        if (root / "config.json").is_file():
            return root
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(self.root, "config.json")
        except Exception:  # noqa: BLE001  (no hub cache: the caller skips, saying why)
            found = None
        return Path(found).parent if isinstance(found, str) else None


def error_of(r: httpx.Response) -> tuple[str, str]:
    """(type, message) of a vLLM error body: `{"error": {...}}`, or the flat form older versions sent."""
    body = r.json()
    err = body.get("error", body) if isinstance(body, dict) else {}
    return str(err.get("type", "")), str(err.get("message", err.get("detail", "")))


def adapter_config_only(out: Path, rank: int, **extra: Any) -> Path:
    """An adapter folder with only adapter_config.json: vLLM validates it before reading weights."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = {"r": rank, "lora_alpha": 2 * rank, "target_modules": ["q_proj", "v_proj"], "peft_type": "LORA",
           "task_type": "CAUSAL_LM", "bias": "none", "lora_dropout": 0.0, **extra}
    (out / "adapter_config.json").write_text(json.dumps(cfg), "utf-8")
    return out


def lora_for(model_dir: Path, out: Path, rank: int) -> Path:
    """A real (no-op) PEFT LoRA on q_proj/v_proj for the model in `model_dir`: B is zero, A small."""
    import torch
    from safetensors.torch import save_file

    cfg = json.loads((model_dir / "config.json").read_text("utf-8"))
    text = cfg.get("text_config") or cfg
    hidden, heads = int(text["hidden_size"]), int(text["num_attention_heads"])
    head_dim = int(text.get("head_dim") or hidden // heads)
    kv = int(text.get("num_key_value_heads") or heads)
    shapes = {"q_proj": (hidden, heads * head_dim), "v_proj": (hidden, kv * head_dim)}
    gen = torch.Generator().manual_seed(rank)
    tensors = {}
    for i in range(int(text["num_hidden_layers"])):
        for mod, (fan_in, fan_out) in shapes.items():
            key = f"base_model.model.model.layers.{i}.self_attn.{mod}"
            tensors[f"{key}.lora_A.weight"] = torch.randn(rank, fan_in, generator=gen) * 0.01
            tensors[f"{key}.lora_B.weight"] = torch.zeros(fan_out, rank)
    adapter_config_only(out, rank, base_model_name_or_path=str(model_dir))
    save_file({k: v.to(torch.float16).contiguous() for k, v in tensors.items()},
              str(out / "adapter_model.safetensors"))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Launcher:
    """Starts a server the way idiolect does: `<vllm> serve MODEL --port P [flags]`."""

    prefix: list[str]
    model: str
    env: dict[str, str]
    extra: list[str]
    timeout: float

    def start(self, log: Path, *flags: str, runtime_lora: bool = True) -> tuple[subprocess.Popen[bytes], str]:
        """Launch; output goes to `log` (a pipe would fill up and stall a chatty real server)."""
        port = free_port()
        env = {**os.environ, **self.env}
        if runtime_lora:
            env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
        else:
            env.pop("VLLM_ALLOW_RUNTIME_LORA_UPDATING", None)
        cmd = [*self.prefix, "serve", self.model, "--host", "127.0.0.1", "--port", str(port), *self.extra, *flags]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        return proc, f"http://127.0.0.1:{port}"

    def probe_until_up(self, proc: subprocess.Popen[bytes], url: str) -> list[str]:
        """Poll GET /health until it answers 200; returns every outcome seen ("refused", "200", "503" …)."""
        seen: list[str] = []
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                seen.append(str(httpx.get(f"{url}/health", timeout=5).status_code))
            except httpx.ConnectError:
                seen.append("refused")
            except httpx.TransportError:
                seen.append("transport-error")
            if seen[-1] == "200":
                return seen
            time.sleep(0.05)
        return seen


def stand_in_launcher(model_dir: Path, load_seconds: float = 1.0) -> Launcher:
    return Launcher(prefix=[sys.executable, str(FAKE_VLLM)], model=str(model_dir),
                    env={"FAKE_VLLM_LOAD_SECONDS": str(load_seconds)}, extra=[], timeout=60)


def real_launcher() -> Launcher | None:
    if not (REAL_BIN and REAL_MODEL):
        return None
    return Launcher(prefix=[REAL_BIN], model=REAL_MODEL, env={}, extra=REAL_ARGS, timeout=START_TIMEOUT)


def stop(proc: subprocess.Popen[bytes], log: Path) -> str:
    """Stop a launched server (if still running); returns everything it printed."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return log.read_text("utf-8", errors="replace")
