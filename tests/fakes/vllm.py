"""A stand-in for vLLM's OpenAI-compatible server on 127.0.0.1: the endpoints idiolect uses, and
what vLLM refuses, refused the same way (status, error type, message).

vLLM needs a GPU, so tests talk to this over real HTTP. Each behaviour below was read in vLLM's
source (vllm-project/vllm; see also tests/contract/test_vllm_contract.py, which runs unchanged
against a real `vllm serve`):

- Start-up (vllm/config/lora.py, LoRAConfig): --max-lora-rank must be one of 1, 8, 16, 32, 64,
  128, 256, 320, 512 (default 16); --max-loras >= 1 (default 1); --max-cpu-loras defaults to
  --max-loras and may not be smaller ("max_cpu_loras (A) must be >= max_loras (B)").
  A --lora-modules adapter that vLLM refuses stops the server before it ever listens
  (OpenAIServingModels.init_static_loras raises).
- While the engine loads the port is bound but not listening (api_server.setup_server binds the
  socket "before the engine is set up"; uvicorn listens only afterwards): connections are
  refused, /health included. Afterwards GET /health is 200 with an empty body (503 once the
  engine is dead).
- Adapters (vllm/lora/peft_helper.py, PEFTHelper.validate_legal): a rank (`r`, or the largest of
  `rank_pattern`) above --max-lora-rank is refused with "LoRA rank R is greater than
  max_lora_rank M."; `modules_to_save` other than classifier/score is refused too.
  POST /v1/load_lora_adapter (mounted only with VLLM_ALLOW_RUNTIME_LORA_UPDATING) answers
  400 InvalidUserInput for a missing name/path or a name already loaded (unless load_inplace),
  404 NotFoundError when the folder holds no adapter, 400 BadRequestError when the engine
  refuses it (entrypoints/openai/models/serving.py), else 200 with a plain-text "Success: …".
- More adapters than --max-loras are NOT refused: --max-loras is the number of adapters in one
  batch (the scheduler holds back a request whose adapter would exceed it until a slot frees),
  and --max-cpu-loras is an LRU cache that evicts the oldest adapter and reloads it from disk
  when asked again (lora/worker_manager.py, LRUCacheWorkerLoRAManager). Counted here as
  `peak_active_loras` and `disk_loads`.
- Errors are `{"error": {"message", "type", "param", "code"}}` (ErrorResponse/ErrorInfo).
- GET /v1/models: the base card (`root` = the model path, `parent` null, `max_model_len`), then
  one card per adapter (`root` = its path, `parent` = the served base name).
- Chat: an unknown model is 404 "The model `X` does not exist."; max_tokens counts every
  generated token, thinking included (the reasoning parser only splits them afterwards); a
  prompt plus max_tokens beyond max_model_len is a 400. With the qwen3 parser an answer cut
  off inside <think> comes back whole in `content` (non-streaming) or as reasoning deltas only
  (streaming), finish_reason "length". The reasoning field is `reasoning` (vLLM since PR
  #27752, Nov 2025; `reasoning_content` before, both in between).

Tokens here are words: "<think>", each word, "</think>" each count one.

In-process: `with FakeVLLM("Qwen/Qwen3-8B", max_lora_rank=32) as srv: srv.url ...`.
As a stand-in `vllm` executable: `python tests/fakes/vllm.py serve MODEL --port P --enable-lora
--lora-modules name=path ... [--max-lora-rank 32 --max-loras 4 --reasoning-parser qwen3]`.
FAKE_VLLM_LOAD_SECONDS=N keeps it "loading the engine" for N seconds first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
RUNTIME_ENV = "VLLM_ALLOW_RUNTIME_LORA_UPDATING"


def adapter_problem(path: str | Path, max_lora_rank: int) -> str | None:
    """What vLLM's engine says when refusing the adapter at `path` (None: it loads).

    Raises:
        FileNotFoundError: no adapter_config.json there (vLLM answers 404 for that).

    """
    cfg_file = Path(path) / "adapter_config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(cfg_file)
    cfg = json.loads(cfg_file.read_text("utf-8"))
    errors = []
    unsupported = [m for m in cfg.get("modules_to_save") or [] if m not in ("classifier", "score")]
    if unsupported:
        errors.append('vLLM only supports modules_to_save being either None or ["classifier", "score"] '
                      f"for classification models. Unsupported modules_to_save: {unsupported}")
    rank = max([int(cfg.get("r", 8)), *(int(v) for v in (cfg.get("rank_pattern") or {}).values())])
    if rank > max_lora_rank:
        errors.append(f"LoRA rank {rank} is greater than max_lora_rank {max_lora_rank}.")
    return " ".join(errors) or None


class FakeVLLM:
    """The server state plus a thread serving it."""

    def __init__(self, base: str = "base-model", *, loras: dict[str, str] | None = None,
                 served_name: str | None = None, max_lora_rank: int = 16, max_loras: int = 1,
                 max_cpu_loras: int | None = None, runtime_lora: bool = True,
                 reasoning_parser: str | None = "qwen3", reasoning_field: str = "reasoning",
                 max_model_len: int = 4096, loading: bool = False, port: int = 0, host: str = "127.0.0.1",
                 fail_first: int = 0, chunk_delay: float = 0.0) -> None:
        if max_lora_rank not in LORA_RANKS:
            raise ValueError(f"max_lora_rank: Input should be {', '.join(map(str, LORA_RANKS[:-1]))} or 512")
        if max_loras < 1:
            raise ValueError("max_loras: Input should be greater than or equal to 1")
        if max_cpu_loras is not None and max_cpu_loras < max_loras:
            raise ValueError(f"max_cpu_loras ({max_cpu_loras}) must be >= max_loras ({max_loras})")
        self.model_path = base
        self.base = served_name or base
        self.max_lora_rank, self.max_loras = max_lora_rank, max_loras
        self.max_cpu_loras = max_cpu_loras or max_loras
        self.runtime_lora = runtime_lora
        self.reasoning_parser, self.reasoning_field = reasoning_parser, reasoning_field
        self.max_model_len = max_model_len
        self.fail_first = fail_first  # answer 503 to this many chat requests first (retry tests)
        self.chunk_delay = chunk_delay
        self.engine_dead = False
        self.requests: list[dict[str, Any]] = []
        self.replies: dict[str, tuple[str, str]] = {}
        self.loras: dict[str, str] = {}
        self.cpu_cache: OrderedDict[str, None] = OrderedDict()
        self.disk_loads: dict[str, int] = {}
        self.active: dict[str, int] = {}  # adapter -> requests running with it (GPU slots in use)
        self.peak_active_loras = 0
        self.lock = threading.Condition()
        for name, path in (loras or {}).items():  # init_static_loras: any refusal stops start-up
            try:
                problem = adapter_problem(path, max_lora_rank)
            except FileNotFoundError:
                problem = f"Loading lora {name} failed: No adapter found for {path}"
            if problem:
                raise ValueError(problem)
            self._add_lora(name, path)
        self.server = ThreadingHTTPServer((host, port), self._handler(), bind_and_activate=False)
        self.server.server_bind()  # the port is taken now; connections are refused until listen()
        self.loading = loading
        self.thread: threading.Thread | None = None

    # ---------------------------------------------------------------- life cycle
    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeVLLM:
        if not self.loading:
            self._listen()
        return self

    def finish_loading(self) -> None:
        """The engine is up: start listening (what uvicorn does once vLLM's engine is built)."""
        self.loading = False
        self._listen()

    def _listen(self) -> None:
        if self.thread is None:
            self.server.server_activate()
            self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
            self.thread.start()

    def stop(self) -> None:
        if self.thread is not None:
            self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeVLLM:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---------------------------------------------------------------- engine
    def reply_for(self, model: str) -> tuple[str, str]:
        """(reasoning, answer) the model gives; scripted per model or derived from its name."""
        if model in self.replies:
            return self.replies[model]
        return (f"Thinking as {model}.", f"Answer from {model}: keep the bus boring and the circuits separate.")

    def _add_lora(self, name: str, path: str) -> None:
        self.loras[name] = path
        self._touch(name)

    def _touch(self, name: str) -> None:
        """Use an adapter: LRU order in the CPU cache, loaded from disk when it was evicted."""
        if name in self.cpu_cache:
            self.cpu_cache.move_to_end(name)
            return
        self.disk_loads[name] = self.disk_loads.get(name, 0) + 1
        self.cpu_cache[name] = None
        while len(self.cpu_cache) > self.max_cpu_loras:
            self.cpu_cache.popitem(last=False)

    def acquire_slot(self, name: str) -> None:
        """Wait for one of the --max-loras batch slots, as the scheduler holds back the request."""
        with self.lock:
            while name not in self.active and len(self.active) >= self.max_loras:
                self.lock.wait()
            self.active[name] = self.active.get(name, 0) + 1
            self.peak_active_loras = max(self.peak_active_loras, len(self.active))
            self._touch(name)

    def release_slot(self, name: str) -> None:
        with self.lock:
            self.active[name] -= 1
            if not self.active[name]:
                del self.active[name]
            self.lock.notify_all()

    def generate(self, model: str, max_tokens: int) -> tuple[list[str], bool]:
        """The generated tokens (thinking first, when the model thinks) and whether max_tokens cut them."""
        reasoning, answer = self.reply_for(model)
        tokens = [THINK_OPEN, *_pieces(reasoning), THINK_CLOSE] if reasoning else []
        tokens += _pieces(answer)
        return tokens[:max_tokens], len(tokens) > max_tokens

    def parse(self, text: str) -> tuple[str | None, str | None]:
        """(reasoning, content) of a whole answer, as the configured reasoning parser splits it."""
        if not self.reasoning_parser:
            return None, text
        if self.reasoning_parser == "qwen3" and not (THINK_OPEN in text and THINK_CLOSE in text):
            return None, text  # Qwen3ReasoningParser needs both tags, else it is all content
        rest = text.partition(THINK_OPEN)[2] if THINK_OPEN in text else text
        if THINK_CLOSE not in rest:
            return rest, None  # BaseThinkingReasoningParser: an unclosed block is all reasoning
        reasoning, _, content = rest.partition(THINK_CLOSE)
        return reasoning, content or None

    def stream_deltas(self, tokens: list[str]) -> list[dict[str, str]]:
        """One delta per generated token, as the parser's streaming path splits them."""
        if not self.reasoning_parser:
            return [{"content": t} for t in tokens]
        out, seen_open, seen_close = [], False, False
        for t in tokens:
            if t in (THINK_OPEN, THINK_CLOSE):  # single special tokens are skipped
                seen_open, seen_close = seen_open or t == THINK_OPEN, seen_close or t == THINK_CLOSE
                continue
            out.append(self._reasoning_keys(t) if seen_open and not seen_close else {"content": t})
        return out

    def _reasoning_keys(self, value: Any) -> dict[str, Any]:
        if self.reasoning_field == "both":
            return {"reasoning": value, "reasoning_content": value}
        return {self.reasoning_field: value}

    # ---------------------------------------------------------------- HTTP
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

            def _error(self, status: int, message: str, kind: str, param: str | None = None) -> None:
                self._send(status, {"error": {"message": message, "type": kind, "param": param, "code": status}})

            def _not_found(self) -> None:  # FastAPI's answer for a route that is not mounted
                self._send(404, {"detail": "Not Found"})

            def do_GET(self) -> None:
                if self.path == "/health":
                    return self._send(503 if fake.engine_dead else 200, b"", "text/plain")
                if self.path == "/v1/models":
                    now = int(time.time())
                    data = [{"id": fake.base, "object": "model", "created": now, "owned_by": "vllm",
                             "root": fake.model_path, "parent": None, "max_model_len": fake.max_model_len,
                             "permission": []}]
                    data += [{"id": n, "object": "model", "created": now, "owned_by": "vllm", "root": p,
                              "parent": fake.base, "max_model_len": None, "permission": []}
                             for n, p in fake.loras.items()]
                    return self._send(200, {"object": "list", "data": data})
                self._not_found()

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                with fake.lock:
                    fake.requests.append({"path": self.path, "body": body})
                if self.path in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter"):
                    if not fake.runtime_lora:
                        return self._not_found()  # vLLM mounts them only with VLLM_ALLOW_RUNTIME_LORA_UPDATING
                    return self._load(body) if self.path.startswith("/v1/load") else self._unload(body)
                if self.path == "/v1/chat/completions":
                    return self._chat(body)
                self._not_found()

            def _load(self, body: dict[str, Any]) -> None:
                name, path = body.get("lora_name"), body.get("lora_path")
                if not name or not path:
                    return self._error(400, "Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput")
                if name in fake.loras and not body.get("load_inplace"):
                    return self._error(400, f"The lora adapter '{name}' has already been loaded. If you want to "
                                            "load the adapter in place, set 'load_inplace' to True.",
                                       "InvalidUserInput")
                try:
                    problem = adapter_problem(path, fake.max_lora_rank)
                except FileNotFoundError:
                    return self._error(404, f"Loading lora {name} failed: No adapter found for {path}",
                                       "NotFoundError")
                if problem:
                    return self._error(400, problem, "BadRequestError")
                with fake.lock:
                    fake._add_lora(name, path)
                self._send(200, f"Success: LoRA adapter '{name}' added successfully.", "text/plain")

            def _unload(self, body: dict[str, Any]) -> None:
                name = body.get("lora_name")
                if not name:
                    return self._error(400, "'lora_name' needs to be provided to unload a LoRA adapter.",
                                       "InvalidUserInput")
                if name not in fake.loras:
                    return self._error(404, f"The lora adapter '{name}' cannot be found.", "NotFoundError")
                with fake.lock:
                    del fake.loras[name]
                    fake.cpu_cache.pop(name, None)
                self._send(200, f"Success: LoRA adapter '{name}' removed successfully.", "text/plain")

            def _chat(self, body: dict[str, Any]) -> None:
                with fake.lock:
                    if fake.fail_first > 0:
                        fake.fail_first -= 1
                        return self._error(503, "Service Unavailable", "ServiceUnavailableError")
                model = body.get("model")
                if model != fake.base and model not in fake.loras:
                    return self._error(404, f"The model `{model}` does not exist.", "NotFoundError", "model")
                prompt = sum(len(str(m.get("content", "")).split()) + 3 for m in body.get("messages") or [])
                asked = body.get("max_completion_tokens") or body.get("max_tokens")
                if asked is not None and prompt + int(asked) > fake.max_model_len:
                    return self._error(
                        400, f"This model's maximum context length is {fake.max_model_len} tokens. However, you "
                             f"requested {asked} output tokens and your prompt contains at least {prompt} input "
                             f"tokens, for a total of at least {prompt + int(asked)} tokens. Please reduce the "
                             "length of the input prompt or the number of requested output tokens. "
                             f"(parameter=input_tokens, value={prompt})", "BadRequestError", "input_tokens")
                adapter = model if model in fake.loras else None
                if adapter:
                    fake.acquire_slot(adapter)
                try:
                    tokens, cut = fake.generate(model, int(asked) if asked is not None else fake.max_model_len - prompt)
                    usage = {"prompt_tokens": prompt, "completion_tokens": len(tokens),
                             "total_tokens": prompt + len(tokens)}
                    finish = "length" if cut else "stop"
                    if body.get("stream"):
                        self._stream(model, tokens, finish, usage, body)
                    else:
                        reasoning, content = fake.parse("".join(tokens))
                        msg = {"role": "assistant", "content": content, **fake._reasoning_keys(reasoning)}
                        self._send(200, {"id": "chatcmpl-fake", "object": "chat.completion", "model": model,
                                         "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
                                         "usage": usage})
                finally:
                    if adapter:
                        fake.release_slot(adapter)

            def _stream(self, model: str, tokens: list[str], finish: str, usage: dict[str, int],
                        body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model}
                deltas = [{"role": "assistant", "content": ""}, *fake.stream_deltas(tokens)]
                try:
                    for delta in deltas:
                        self._event({**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                        if fake.chunk_delay:
                            time.sleep(fake.chunk_delay)
                    self._event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                    if (body.get("stream_options") or {}).get("include_usage"):
                        self._event({**chunk, "choices": [], "usage": usage})
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client cancelled
                self.close_connection = True

            def _event(self, obj: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(obj)}\n\n".encode())
                self.wfile.flush()

        return Handler


def _pieces(text: str) -> list[str]:
    """Word tokens that join back into `text` (the separating space travels with the next word)."""
    words = text.split(" ") if text else []
    return [w if i == 0 else f" {w}" for i, w in enumerate(words)]


def _lora_module(item: str) -> tuple[str, str]:
    """`name=path` or vLLM's JSON form `{"name": ..., "path": ...}`."""
    if item.lstrip().startswith("{"):
        obj = json.loads(item)
        return obj["name"], obj["path"]
    name, sep, path = item.partition("=")
    if not sep:
        raise ValueError(f"--lora-modules {item!r}: expected name=path")
    return name, path


def main(argv: list[str] | None = None) -> int:
    """Stand-in for the `vllm` executable: `serve MODEL` with vLLM's flag names and defaults."""
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
    s.add_argument("--max-cpu-loras", type=int, default=None)
    s.add_argument("--reasoning-parser", default=None)
    s.add_argument("--served-model-name", default=None)
    s.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    s.add_argument("--max-model-len", type=int, default=4096)
    args = p.parse_args(argv)
    runtime = os.environ.get(RUNTIME_ENV, "").lower() in ("1", "true")
    print(json.dumps({"argv": sys.argv[1:], "runtime_lora": runtime}), flush=True)
    try:
        if args.lora_modules and not args.enable_lora:
            raise ValueError("--lora-modules needs --enable-lora")
        loras = dict(_lora_module(m) for m in args.lora_modules)
        fake = FakeVLLM(args.model, loras=loras, served_name=args.served_model_name,
                        max_lora_rank=args.max_lora_rank, max_loras=args.max_loras,
                        max_cpu_loras=args.max_cpu_loras, runtime_lora=runtime and args.enable_lora,
                        reasoning_parser=args.reasoning_parser, max_model_len=args.max_model_len,
                        port=args.port, host=args.host, loading=True)
    except ValueError as e:  # vLLM dies at start-up with the engine's error
        print(f"ValueError: {e}", file=sys.stderr, flush=True)
        return 1
    time.sleep(float(os.environ.get("FAKE_VLLM_LOAD_SECONDS", "0")))  # bound, not listening: refused
    fake.finish_loading()
    fake.thread.join()  # type: ignore[union-attr]
    return 0


if __name__ == "__main__":
    sys.exit(main())
