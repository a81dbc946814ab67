"""A fake vLLM OpenAI-compatible server on 127.0.0.1, speaking the endpoints idiolect uses.

vLLM needs a GPU, so tests talk to this instead, over real HTTP:
GET /health, GET /v1/models, POST /v1/chat/completions (stream or not; reasoning under
`reasoning` or the older `reasoning_content`), POST /v1/load_lora_adapter and
/v1/unload_lora_adapter (only when VLLM_ALLOW_RUNTIME_LORA_UPDATING is true, as in vLLM).

In-process: `with FakeVLLM(base="Qwen/Qwen3-8B") as srv: srv.url ...`.
As a stand-in `vllm` executable: `python tests/fakes/vllm.py serve MODEL --port P --enable-lora
--lora-modules name=path ... [--reasoning-parser qwen3]` (argument names as in vLLM).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class FakeVLLM:
    """The server state plus a thread serving it."""

    def __init__(self, base: str = "base-model", *, loras: dict[str, str] | None = None,
                 reasoning_parser: str | None = "qwen3", reasoning_field: str = "reasoning",
                 runtime_lora: bool = True, max_loras: int = 4, port: int = 0, host: str = "127.0.0.1",
                 fail_first: int = 0, chunk_delay: float = 0.0, served_name: str | None = None) -> None:
        self.base = served_name or base
        self.loras: dict[str, str] = dict(loras or {})
        self.reasoning_parser = reasoning_parser
        self.reasoning_field = reasoning_field
        self.runtime_lora = runtime_lora
        self.max_loras = max_loras
        self.fail_first = fail_first  # answer 503 to this many chat requests first (retry tests)
        self.chunk_delay = chunk_delay
        self.requests: list[dict[str, Any]] = []
        self.replies: dict[str, tuple[str, str]] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.thread: threading.Thread | None = None

    # ---------------------------------------------------------------- life cycle
    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeVLLM:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeVLLM:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---------------------------------------------------------------- behaviour
    def reply_for(self, model: str) -> tuple[str, str]:
        """(reasoning, answer) the model gives; scripted per model or derived from its name."""
        if model in self.replies:
            return self.replies[model]
        return (f"Thinking as {model}.", f"Answer from {model}: keep the bus boring and the circuits separate.")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: Any, ctype: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else (
                    json.dumps(body).encode() if ctype == "application/json" else str(body).encode())
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, kind: str) -> None:
                self._send(status, {"object": "error", "message": message, "type": kind, "param": None,
                                    "code": status})

            def _json(self) -> dict[str, Any]:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}")

            def do_GET(self) -> None:
                if self.path == "/health":
                    return self._send(200, b"", "text/plain")
                if self.path == "/v1/models":
                    now = int(time.time())
                    data = [{"id": fake.base, "object": "model", "created": now, "owned_by": "vllm",
                             "root": fake.base, "parent": None, "max_model_len": 4096}]
                    data += [{"id": n, "object": "model", "created": now, "owned_by": "vllm", "root": p,
                              "parent": fake.base} for n, p in fake.loras.items()]
                    return self._send(200, {"object": "list", "data": data})
                self._error(404, "Not Found", "NotFoundError")

            def do_POST(self) -> None:
                body = self._json()
                with fake.lock:
                    fake.requests.append({"path": self.path, "body": body})
                if self.path in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter") and not fake.runtime_lora:
                    return self._error(404, "Not Found", "NotFoundError")  # vLLM only mounts them when allowed
                if self.path == "/v1/load_lora_adapter":
                    name, path = body.get("lora_name"), body.get("lora_path")
                    if not name or not path:
                        return self._error(400, "Both 'lora_name' and 'lora_path' must be provided.", "BadRequestError")
                    if name in fake.loras:
                        return self._error(400, f"The lora adapter '{name}' has already been loaded.",
                                           "InvalidUserInput")
                    if not (Path(path) / "adapter_config.json").exists():
                        return self._error(404, f"No adapter found at {path}", "NotFoundError")
                    fake.loras[name] = path
                    return self._send(200, f"Success: LoRA adapter '{name}' added successfully.", "text/plain")
                if self.path == "/v1/unload_lora_adapter":
                    name = body.get("lora_name")
                    if name not in fake.loras:
                        return self._error(404, f"The lora adapter '{name}' cannot be found.", "NotFoundError")
                    del fake.loras[name]
                    return self._send(200, f"Success: LoRA adapter '{name}' removed successfully.", "text/plain")
                if self.path == "/v1/chat/completions":
                    return self._chat(body)
                self._error(404, "Not Found", "NotFoundError")

            def _chat(self, body: dict[str, Any]) -> None:
                with fake.lock:
                    if fake.fail_first > 0:
                        fake.fail_first -= 1
                        return self._error(503, "Service Unavailable", "ServiceUnavailableError")
                model = body.get("model")
                if model != fake.base and model not in fake.loras:
                    return self._error(404, f"The model `{model}` does not exist.", "NotFoundError")
                reasoning, answer = fake.reply_for(model)
                if not fake.reasoning_parser:  # no parser: the thinking stays in the text
                    answer, reasoning = f"<think>{reasoning}</think>{answer}", ""
                words = answer.split(" ")[: int(body.get("max_tokens") or 10**6)]
                answer = " ".join(words)
                usage = {"prompt_tokens": 12, "completion_tokens": len(words), "total_tokens": 12 + len(words)}
                if not body.get("stream"):
                    msg = {"role": "assistant", "content": answer, fake.reasoning_field: reasoning or None}
                    return self._send(200, {"id": "chatcmpl-fake", "object": "chat.completion", "model": model,
                                            "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
                                            "usage": usage})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                pieces = [{"role": "assistant", "content": ""}]
                pieces += [{fake.reasoning_field: w + " "} for w in reasoning.split(" ") if reasoning]
                pieces += [{"content": (" " if i else "") + w} for i, w in enumerate(words)]
                try:
                    for delta in pieces:
                        self._event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                                     "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                        if fake.chunk_delay:
                            time.sleep(fake.chunk_delay)
                    self._event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                                 "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                    if (body.get("stream_options") or {}).get("include_usage"):
                        self._event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                                     "choices": [], "usage": usage})
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client cancelled
                self.close_connection = True

            def _event(self, obj: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(obj)}\n\n".encode())
                self.wfile.flush()

        return Handler


def main(argv: list[str] | None = None) -> None:
    """Stand-in for the `vllm` executable: `serve MODEL` with vLLM's flag names."""
    p = argparse.ArgumentParser(prog="vllm")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("model")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--enable-lora", action="store_true")
    s.add_argument("--lora-modules", nargs="+", default=[])
    s.add_argument("--max-lora-rank", type=int, default=16)
    s.add_argument("--max-loras", type=int, default=1)
    s.add_argument("--reasoning-parser", default=None)
    s.add_argument("--served-model-name", default=None)
    s.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    s.add_argument("--max-model-len", type=int, default=None)
    args = p.parse_args(argv)
    if args.lora_modules and not args.enable_lora:
        p.error("--lora-modules needs --enable-lora")
    loras = {}
    for item in args.lora_modules:
        name, sep, path = item.partition("=")
        if not sep:
            p.error(f"--lora-modules {item!r}: expected name=path")
        loras[name] = path
    runtime = os.environ.get("VLLM_ALLOW_RUNTIME_LORA_UPDATING", "").lower() in ("1", "true")
    fake = FakeVLLM(args.model, loras=loras, reasoning_parser=args.reasoning_parser,
                    runtime_lora=runtime, max_loras=args.max_loras, port=args.port, host=args.host,
                    served_name=args.served_model_name)
    print(json.dumps({"argv": sys.argv[1:], "runtime_lora": runtime}), flush=True)
    fake.server.serve_forever()


if __name__ == "__main__":
    main()
