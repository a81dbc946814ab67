"""A fake OpenAI-compatible chat server on 127.0.0.1: the HTTP contract vLLM speaks, scripted answers.

Streams `data:` SSE chunks like vLLM, lists served models, and accepts runtime LoRA loads
(`POST /v1/load_lora_adapter`), so arena and retrain code run against real HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AnswerFn = Callable[[str, list[dict[str, Any]]], str]


def default_answer(model: str, messages: list[dict[str, Any]]) -> str:
    """A deterministic answer that differs per model but never contains the model's name."""
    prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    flavour = sum(map(ord, model)) % 5
    openers = ["Honestly, think of it like a river.", "Short version: measure twice.",
               "Here's the thing, plainly.", "Picture a busbar feeding a panel.", "Start from first principles."]
    return f"{openers[flavour]} On '{prompt[:40]}': it depends, and here is why, step by step."


class FakeOpenAIServer:
    """Scripted OpenAI-compatible server. `answers` maps served model name to text or a function."""

    def __init__(self, answers: dict[str, str | AnswerFn] | None = None, *, chunk_delay: float = 0.0,
                 models: list[str] | None = None) -> None:
        self.answers: dict[str, str | AnswerFn] = dict(answers or {})
        self.chunk_delay = chunk_delay
        self.models = set(models or []) | set(self.answers)
        self.requests: list[dict[str, Any]] = []
        self.loaded: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def answer(self, model: str, messages: list[dict[str, Any]]) -> str:
        a = self.answers.get(model)
        if a is None:
            return default_answer(model, messages)
        return a(model, messages) if callable(a) else a

    def start(self) -> FakeOpenAIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:  # keep test output quiet
                pass

            def _json(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    self._json(200, {"object": "list", "data": [
                        {"id": m, "object": "model", "owned_by": "fake"} for m in sorted(server.models)]})
                elif self.path in ("/health", "/v1/health"):
                    self._json(200, {"status": "ok"})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path.endswith("/load_lora_adapter"):
                    with server._lock:
                        server.loaded.append(body)
                        server.models.add(body.get("lora_name", ""))
                    self.send_response(200)
                    msg = f"Success: LoRA adapter '{body.get('lora_name')}' added successfully.".encode()
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                if not self.path.endswith("/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                model = body.get("model", "")
                with server._lock:
                    server.requests.append(body)
                if server.models and model not in server.models:
                    self._json(404, {"error": {"message": f"The model `{model}` does not exist."}})
                    return
                text = server.answer(model, body.get("messages", []))
                cid = f"chatcmpl-{len(server.requests)}"
                if not body.get("stream"):
                    self._json(200, {"id": cid, "object": "chat.completion", "model": model, "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": len(text.split()), "total_tokens": 1}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def send(obj: Any) -> None:
                    data = f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()

                words = text.split(" ")
                for i, w in enumerate(words):
                    piece = w if i == 0 else " " + w
                    send({"id": cid, "object": "chat.completion.chunk", "model": model,
                          "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                    if server.chunk_delay:
                        time.sleep(server.chunk_delay)
                send({"id": cid, "object": "chat.completion.chunk", "model": model,
                      "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                send("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client hanging up mid-stream (a cancelled battle) is not a server fault

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


@contextmanager
def fake_openai(answers: dict[str, str | AnswerFn] | None = None, **kw: Any) -> Iterator[FakeOpenAIServer]:
    """Run a FakeOpenAIServer for the duration of a `with` block."""
    srv = FakeOpenAIServer(answers, **kw).start()
    try:
        yield srv
    finally:
        srv.stop()
