"""An OpenAI-compatible transformers server for a base model and LoRA adapters, speaking vLLM's endpoints.

    python -m training.cpu_server --base-model PATH [--adapter voice-v1=DIR ...] [--port 8000] [--device auto]

It runs on the CPU, or on one GPU when there is one but no vLLM (`--device auto`, the default,
picks CUDA in bf16 when available, else the CPU in float32).

Endpoints (the vLLM subset idiolect uses): GET /health, GET /v1/models,
POST /v1/chat/completions (streaming SSE or not; `<think>` reasoning returned in the
`reasoning` field), POST /v1/load_lora_adapter, POST /v1/unload_lora_adapter.
Adapters stay unmerged on one copy of the base (PEFT multi-adapter); requests run one at a
time because the active adapter is model-wide state. See training/serve.py for why this
exists next to vLLM.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from peft import PeftModel
from starlette.concurrency import run_in_threadpool
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from training.reasoning import canonical_family

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def _error(status: int, message: str, kind: str = "BadRequestError") -> JSONResponse:
    # vLLM's error body shape, so clients handle both servers alike.
    return JSONResponse({"object": "error", "message": message, "type": kind, "param": None, "code": status},
                        status_code=status)


class _Cancel(StoppingCriteria):
    """Stops generation when the client goes away."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> bool:
        return self.event.is_set()


class _CountingStreamer(TextIteratorStreamer):
    """A TextIteratorStreamer that also counts generated tokens (for `usage`)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.n_tokens = 0
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if self._prompt_seen:
            self.n_tokens += int(value.numel())
        self._prompt_seen = True  # generate() first puts the prompt, which is not output
        super().put(value)


class ReasoningSplitter:
    """Splits streamed text into (reasoning, content) around <think> … </think>, like vLLM's parser."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.buf = ""
        self.state = "start" if enabled else "content"

    def feed(self, text: str) -> list[tuple[str, str]]:
        """Pieces as ("reasoning" | "content", text)."""
        out: list[tuple[str, str]] = []
        self.buf += text
        while self.buf:
            if self.state == "start":
                stripped = self.buf.lstrip()
                if len(stripped) < len(THINK_OPEN) and THINK_OPEN.startswith(stripped):
                    return out  # maybe the start of <think>: wait for more
                if stripped.startswith(THINK_OPEN):
                    self.buf = stripped[len(THINK_OPEN):]
                    self.state = "reasoning"
                else:
                    self.state = "content"
            elif self.state == "reasoning":
                idx = self.buf.find(THINK_CLOSE)
                if idx >= 0:
                    if idx:
                        out.append(("reasoning", self.buf[:idx]))
                    self.buf = self.buf[idx + len(THINK_CLOSE):].lstrip("\n")
                    self.state = "content"
                    continue
                keep = max(0, len(self.buf) - len(THINK_CLOSE) + 1)  # a closing tag may be split
                if keep:
                    out.append(("reasoning", self.buf[:keep]))
                self.buf = self.buf[keep:]
                return out
            else:
                out.append(("content", self.buf))
                self.buf = ""
        return out

    def flush(self) -> list[tuple[str, str]]:
        """Whatever is left at the end."""
        rest, self.buf = self.buf, ""
        if not rest:
            return []
        return [("reasoning" if self.state == "reasoning" else "content", rest)]


def resolve_device(device: str) -> str:
    """Return the torch device to serve on: `auto` means CUDA when present, else the CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device is visible to this process")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda[:N], got {device!r}")
    return device


class ModelHost:
    """The base model, its adapters, and a lock: one generation at a time."""

    def __init__(self, base_model: str, served_name: str | None = None, family: str = "none",
                 device: str = "auto") -> None:
        self.base_path = base_model
        self.base_name = served_name or base_model
        self.family = family
        self.device = resolve_device(device)
        # bf16 halves GPU memory at no cost in quality for inference; CPUs lack fast bf16 kernels.
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(base_model)
        self.base = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype).to(self.device)
        self.base.eval()
        self.model: Any = self.base
        self.adapters: dict[str, str] = {}
        self.lock = threading.Lock()

    def load_adapter(self, name: str, path: str) -> None:
        """Add an adapter under `name` (a name in use is an error, as in vLLM)."""
        if name in self.adapters or name == self.base_name:
            raise ValueError(f"The lora adapter '{name}' has already been loaded.")
        if not (Path(path) / "adapter_config.json").exists():
            raise FileNotFoundError(f"No adapter found at {path}")
        with self.lock:
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(path, adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.base, path, adapter_name=name)
            self.model.eval()
            self.adapters[name] = path

    def unload_adapter(self, name: str) -> None:
        """Remove an adapter."""
        if name not in self.adapters:
            raise KeyError(f"The lora adapter '{name}' cannot be found.")
        with self.lock:
            self.model.delete_adapter(name)
            del self.adapters[name]

    def models(self) -> list[dict[str, Any]]:
        """Return the /v1/models entries (base, then adapters with the base as parent)."""
        now = int(time.time())
        out = [{"id": self.base_name, "object": "model", "created": now, "owned_by": "idiolect",
                "root": self.base_path, "parent": None}]
        out += [{"id": n, "object": "model", "created": now, "owned_by": "idiolect", "root": p,
                 "parent": self.base_name} for n, p in self.adapters.items()]
        return out

    def stream(self, model: str, messages: list[dict[str, Any]], *, max_tokens: int, temperature: float,
               top_p: float, seed: int | None, stop: threading.Event) -> Iterator[tuple[str, int, int]]:
        """Yield (text piece, prompt tokens, completion tokens so far) while generating."""
        enc = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                 return_dict=True).to(self.device)
        n_prompt = int(enc["input_ids"].shape[1])
        streamer = _CountingStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=False)
        kwargs: dict[str, Any] = dict(**enc, max_new_tokens=max_tokens, streamer=streamer,
                                      stopping_criteria=StoppingCriteriaList([_Cancel(stop)]),
                                      pad_token_id=self.tokenizer.pad_token_id)
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
        else:
            kwargs.update(do_sample=False)
        eos = self.tokenizer.eos_token or ""
        with self.lock:
            if seed is not None:
                torch.manual_seed(seed)
            errors: list[BaseException] = []

            def _generate() -> None:
                try:
                    with torch.no_grad():
                        if model == self.base_name:
                            if isinstance(self.model, PeftModel):
                                with self.model.disable_adapter():
                                    self.model.generate(**kwargs)
                            else:
                                self.model.generate(**kwargs)
                        else:
                            self.model.set_adapter(model)
                            self.model.generate(**kwargs)
                except BaseException as e:  # surfaced to the request below, not swallowed
                    errors.append(e)
                    streamer.end()

            worker = threading.Thread(target=_generate, daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    n_out = streamer.n_tokens
                    if eos and eos in piece:
                        piece = piece.split(eos)[0]
                        if piece:
                            yield piece, n_prompt, n_out
                        break
                    if piece:
                        yield piece, n_prompt, n_out
            finally:
                stop.set()
                worker.join()
            if errors:
                raise errors[0]
            yield "", n_prompt, streamer.n_tokens


def build_app(host: ModelHost) -> FastAPI:
    """Return the FastAPI app for one ModelHost."""
    app = FastAPI(title="idiolect CPU server", docs_url=None, redoc_url=None)
    # Families whose answers open with <think>; "none" too, since a model of no known
    # convention may still think aloud, and the split only acts on a leading <think>.
    think = canonical_family(host.family) in ("qwen3", "deepseek-r1", "minimax-m2", "none")

    @app.get("/health")
    def health() -> PlainTextResponse:
        return PlainTextResponse("")

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": host.models()}

    @app.post("/v1/load_lora_adapter")
    async def load(request: Request) -> Any:
        body = await request.json()
        name, path = body.get("lora_name"), body.get("lora_path")
        if not name or not path:
            return _error(400, "Both 'lora_name' and 'lora_path' must be provided.")
        try:
            host.load_adapter(name, path)
        except ValueError as e:
            return _error(400, str(e))
        except FileNotFoundError as e:
            return _error(404, str(e), "NotFoundError")
        return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

    @app.post("/v1/unload_lora_adapter")
    async def unload(request: Request) -> Any:
        body = await request.json()
        try:
            host.unload_adapter(body.get("lora_name", ""))
        except KeyError as e:
            return _error(404, str(e.args[0]), "NotFoundError")
        return PlainTextResponse(f"Success: LoRA adapter '{body['lora_name']}' removed successfully.")

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        model = body.get("model")
        if model != host.base_name and model not in host.adapters:
            return _error(404, f"The model `{model}` does not exist.", "NotFoundError")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty list")
        params = dict(max_tokens=int(body.get("max_tokens") or body.get("max_completion_tokens") or 256),
                      temperature=float(body.get("temperature", 0.7)), top_p=float(body.get("top_p", 1.0)),
                      seed=body.get("seed"))
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        stop = threading.Event()

        def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> str:
            obj = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if usage is not None:
                obj["usage"] = usage
            return f"data: {json.dumps(obj)}\n\n"

        if body.get("stream"):
            def events() -> Iterator[str]:
                split = ReasoningSplitter(think)
                n_p = n_o = 0
                yield chunk({"role": "assistant", "content": ""})
                try:
                    for piece, n_p, n_o in host.stream(model, messages, stop=stop, **params):  # noqa: B007 (totals used after)
                        for kind, text in split.feed(piece):
                            yield chunk({kind: text})
                    for kind, text in split.flush():
                        yield chunk({kind: text})
                    finish = "length" if n_o >= params["max_tokens"] else "stop"
                    yield chunk({}, finish, {"prompt_tokens": n_p, "completion_tokens": n_o,
                                             "total_tokens": n_p + n_o})
                    yield "data: [DONE]\n\n"
                finally:
                    stop.set()  # client gone or done: stop generating

            return StreamingResponse(events(), media_type="text/event-stream")

        def complete() -> dict[str, Any]:
            split = ReasoningSplitter(think)
            parts: dict[str, list[str]] = {"reasoning": [], "content": []}
            n_p = n_o = 0
            for piece, n_p, n_o in host.stream(model, messages, stop=stop, **params):  # noqa: B007 (totals used after)
                for kind, text in split.feed(piece):
                    parts[kind].append(text)
            for kind, text in split.flush():
                parts[kind].append(text)
            message = {"role": "assistant", "content": "".join(parts["content"]),
                       "reasoning": "".join(parts["reasoning"]) or None}
            return {"id": rid, "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "message": message,
                                 "finish_reason": "length" if n_o >= params["max_tokens"] else "stop"}],
                    "usage": {"prompt_tokens": n_p, "completion_tokens": n_o, "total_tokens": n_p + n_o}}

        # Generation blocks: run it off the event loop so /health stays responsive meanwhile.
        return await run_in_threadpool(complete)

    return app


def make_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    p = argparse.ArgumentParser(prog="python -m training.cpu_server", description=__doc__.splitlines()[0])
    p.add_argument("--base-model", required=True)
    p.add_argument("--served-name", default=None, help="model id of the base (default: the path given)")
    p.add_argument("--adapter", action="append", default=[], help="NAME=PATH (repeatable)")
    p.add_argument("--family", default="none", help="reasoning family (training.reasoning names)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, or cuda[:N]")
    return p


def main(argv: list[str] | None = None) -> None:
    """Load the model and adapters, then serve until stopped."""
    args = make_parser().parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    try:
        host = ModelHost(args.base_model, args.served_name, args.family, device=args.device)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    for item in args.adapter:
        name, _, path = item.partition("=")
        host.load_adapter(name, path)
    uvicorn.run(build_app(host), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
