"""`idiolect serve`: start an OpenAI-compatible server for a base model and its adapters.

Torch-free: this module only builds command lines and talks HTTP.

- GPU host: vLLM (`vllm serve BASE --enable-lora --lora-modules name=path … --max-lora-rank R
  --max-loras N --max-cpu-loras C [--reasoning-parser P]`, started with
  VLLM_ALLOW_RUNTIME_LORA_UPDATING=True so new adapters load at runtime through POST
  /v1/load_lora_adapter). vLLM lives in its own environment (it pins a different torch, pillow
  and fastapi), so `vllm_bin` is a path. vLLM refuses an adapter whose rank exceeds
  --max-lora-rank (default 16) at start-up and at runtime loading, so R covers the adapters
  served now and every shipped preset for this base (an adapter trained next must load too).
  --max-loras is how many adapters one batch may mix (more wait for a slot, they are not
  refused); --max-cpu-loras is the LRU cache behind it (evicted adapters are re-read from disk).
  While the engine loads, its port refuses connections; everything here waits on /health.
- No GPU: `training.serving.cpu_server`, a small FastAPI server over transformers + PEFT that speaks
  the same endpoints as vLLM (/health, /v1/models, /v1/chat/completions with streaming and
  `reasoning`, /v1/load_lora_adapter, /v1/unload_lora_adapter). Chosen over
  `transformers serve` because that one cannot load adapter directories (each adapter would
  need a merged full copy of the weights), has no runtime adapter loading, names models by
  absolute path and 500s on /v1/models without an HF cache: the arena and the hot-load path
  would then differ between CPU and GPU. With the same contract they do not.

    python -m training.serving.serve --config SPEC.json        (what `JobRunner.start("serve", …)` runs)
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from core.errors import ConfigError, JobError
from training.serving.vllm_cli import (  # noqa: F401  (re-exported: the serve API in one place)
    REASONING_PARSERS,
    RUNTIME_LORA_ENV,
    VLLM_LORA_RANKS,
    adapter_rank,
    lora_rank_for,
    lora_slots,
    preset_ranks,
    vllm_command,
    vllm_refusal,
)

if TYPE_CHECKING:
    from core.store import Store


@dataclass(kw_only=True)
class ServeSpec:
    """What to serve and how. Every field is also a key of a `serve` job's config."""

    base_model: str
    adapters: dict[str, str] = field(default_factory=dict)  # served name -> adapter dir
    base_name: str | None = None  # registry name of the base model (default: derived)
    served_name: str | None = None  # the `model` clients send for the base (default: base_model)
    family: str = "none"
    backend: str = "auto"  # vllm | cpu | auto
    host: str = "127.0.0.1"
    port: int = 8000
    max_lora_rank: int | None = None  # default: the largest adapter/preset rank, rounded up for vLLM
    max_loras: int | None = None  # adapters in one batch (default: adapters + 1, between 2 and 8)
    max_cpu_loras: int | None = None  # adapters cached on the host (default: adapters + 4)
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    vllm_bin: str = "vllm"
    extra_args: list[str] = field(default_factory=list)
    register: bool = True
    health_timeout: float = 900.0
    progress_file: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServeSpec:
        """Build from a job config, rejecting unknown keys by name."""
        known = {f.name for f in fields(cls)}
        bad = sorted(set(data) - known - {"_runtime"})
        if bad:
            raise ConfigError(f"serve config: unknown keys {bad}; valid: {sorted(known)}")
        spec = cls(**{k: v for k, v in data.items() if k in known})
        if not spec.base_model:
            raise ConfigError("serve config: base_model is required")
        if spec.backend not in ("vllm", "cpu", "auto"):
            raise ConfigError(f"serve config: backend {spec.backend!r} must be vllm, cpu or auto")
        return spec

    @property
    def url(self) -> str:
        """The server root (health lives here)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL (what GenerationClient and the registry use)."""
        return f"{self.url}/v1"


def cpu_command(spec: ServeSpec, python: str | None = None) -> list[str]:
    """Return the CPU server command line (same endpoints as vLLM)."""
    cmd = [python or sys.executable, "-m", "training.serving.cpu_server", "--base-model", spec.base_model,
           "--host", spec.host, "--port", str(spec.port), "--family", spec.family]
    if spec.served_name:
        cmd += ["--served-name", spec.served_name]
    for name, path in spec.adapters.items():
        cmd += ["--adapter", f"{name}={Path(path).resolve()}"]
    return cmd


def has_gpu() -> bool:
    """Return True when an NVIDIA GPU is visible (device node or nvidia-smi)."""
    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None


def pick_backend(spec: ServeSpec) -> str:
    """"vllm" when asked or (auto) when vLLM and a GPU are present, else "cpu"."""
    if spec.backend != "auto":
        return spec.backend
    return "vllm" if shutil.which(spec.vllm_bin) and has_gpu() else "cpu"


def command_for(spec: ServeSpec) -> list[str]:
    """Return the server command line for the chosen backend."""
    return vllm_command(spec) if pick_backend(spec) == "vllm" else cpu_command(spec)


# ---------------------------------------------------------------------- HTTP


def _root(url: str) -> str:
    return url.rstrip("/").removesuffix("/v1")


def wait_healthy(url: str, *, timeout: float = 900.0, proc: subprocess.Popen[Any] | None = None,
                 client: httpx.Client | None = None) -> None:
    """Block until GET <root>/health answers 200; JobError if the process dies or time runs out."""
    http = client or httpx.Client(timeout=5.0)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise JobError(f"server exited with code {proc.returncode} before becoming healthy")
            try:
                if http.get(f"{_root(url)}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
    finally:
        if client is None:
            http.close()
    raise JobError(f"server at {url} not healthy after {timeout:.0f}s")


def served_models(url: str, *, client: httpx.Client | None = None) -> list[str]:
    """Model ids the server lists at /v1/models."""
    http = client or httpx.Client(timeout=10.0)
    try:
        r = http.get(f"{_root(url)}/v1/models")
        r.raise_for_status()
        return [m["id"] for m in r.json().get("data", [])]
    finally:
        if client is None:
            http.close()


def load_adapter(url: str, name: str, path: str | Path, *, client: httpx.Client | None = None,
                 ready_timeout: float = 600.0) -> None:
    """Load an adapter into a running server (vLLM's POST /v1/load_lora_adapter).

    Waits up to `ready_timeout` s for /health first: a server still loading its engine
    refuses connections, and the adapter would otherwise be lost with a connection error.
    """
    http = client or httpx.Client(timeout=300.0)
    try:
        wait_healthy(url, timeout=ready_timeout, client=http)
        r = http.post(f"{_root(url)}/v1/load_lora_adapter",
                      json={"lora_name": name, "lora_path": str(Path(path).resolve())})
    finally:
        if client is None:
            http.close()
    if r.status_code != 200:
        raise JobError(f"loading adapter {name!r} into {url} failed ({r.status_code}): {r.text[:500]}")


def unload_adapter(url: str, name: str, *, client: httpx.Client | None = None) -> None:
    """Unload an adapter from a running server (POST /v1/unload_lora_adapter)."""
    http = client or httpx.Client(timeout=60.0)
    try:
        r = http.post(f"{_root(url)}/v1/unload_lora_adapter", json={"lora_name": name})
    finally:
        if client is None:
            http.close()
    if r.status_code != 200:
        raise JobError(f"unloading adapter {name!r} from {url} failed ({r.status_code}): {r.text[:500]}")


# ---------------------------------------------------------------------- registry


def default_base_name(base_model: str) -> str:
    """Registry name for a base model: the last path part, lower-case ("Qwen/Qwen3-8B" -> qwen3-8b)."""
    return Path(base_model.rstrip("/")).name.lower() or base_model


def register_endpoints(store: Store, spec: ServeSpec) -> list[str]:
    """Record the base model and each served adapter's endpoint in the registry; returns names."""
    from training.runs.registry import register_base, set_endpoint

    base = register_base(store, spec.base_name or default_base_name(spec.base_model), spec.base_model,
                         endpoint=spec.api_base, served_name=spec.served_name or spec.base_model,
                         config={"family": spec.family, "backend": pick_backend(spec)})
    names = [base.name]
    for name in spec.adapters:
        if store.registry.get_model(name) is not None:
            set_endpoint(store, name, spec.api_base, name)
            names.append(name)
    return names


def hot_load(store: Store, name: str, url: str, *, client: httpx.Client | None = None) -> None:
    """Load a registered adapter into a running server and record its endpoint (for the arena)."""
    from training.runs.registry import set_endpoint

    rec = store.registry.require_model(name)
    if not rec.path:
        raise ConfigError(f"adapter {name!r} has no path in the registry")
    load_adapter(url, name, rec.path, client=client)
    set_endpoint(store, name, f"{_root(url)}/v1", name)


# ---------------------------------------------------------------------- entry point


def run(spec: ServeSpec) -> int:
    """Start the server, wait for health, register endpoints, then supervise until stopped."""
    from core.config import Settings
    from core.store import Store
    from training.rundata import ProgressWriter

    writer = ProgressWriter(spec.progress_file)
    cmd = command_for(spec)
    writer.emit("start", command=cmd, backend=pick_backend(spec))
    proc = subprocess.Popen(cmd, cwd=str(Path(__file__).resolve().parents[2]))

    def _stop(signum: int, frame: Any) -> None:
        proc.terminate()

    signal.signal(signal.SIGTERM, _stop)
    wait_healthy(spec.url, timeout=spec.health_timeout, proc=proc)
    if spec.register:
        store = Store.open(Settings().db_url)
        try:
            register_endpoints(store, spec)
        finally:
            store.close()
    writer.emit("ready", url=spec.api_base, models=served_models(spec.url))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait()


def make_parser() -> argparse.ArgumentParser:
    """`--config SPEC.json` or the common fields as flags."""
    p = argparse.ArgumentParser(prog="python -m training.serving.serve", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="JSON file of ServeSpec fields")
    p.add_argument("--base-model")
    p.add_argument("--adapter", action="append", default=[], help="NAME=PATH (repeatable)")
    p.add_argument("--backend", choices=["auto", "vllm", "cpu"])
    p.add_argument("--port", type=int)
    p.add_argument("--family")
    p.add_argument("--print-command", action="store_true", help="print the server command and exit")
    return p


def spec_from_args(argv: list[str] | None = None) -> tuple[ServeSpec, bool]:
    """Parse the command line into a ServeSpec (and whether to only print the command)."""
    args = make_parser().parse_args(argv)
    data: dict[str, Any] = json.loads(Path(args.config).read_text("utf-8")) if args.config else {}
    for key in ("base_model", "backend", "port", "family"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    for item in args.adapter:
        name, sep, path = item.partition("=")
        if not sep:
            raise ConfigError(f"--adapter {item!r}: expected NAME=PATH")
        data.setdefault("adapters", {})[name] = path
    return ServeSpec.from_dict(data), args.print_command


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    spec, print_only = spec_from_args(argv)
    if print_only:
        print(" ".join(command_for(spec)))
        return 0
    return run(spec)


def spec_dict(spec: ServeSpec) -> dict[str, Any]:
    """Return A ServeSpec as a job config dict."""
    return asdict(spec)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (ConfigError, JobError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
