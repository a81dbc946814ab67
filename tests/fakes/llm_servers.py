"""Local HTTP servers speaking the real Anthropic and OpenAI wire formats, for adapter tests.

They answer on 127.0.0.1 with the same JSON and server-sent events the hosted APIs send
(Anthropic /v1/messages incl. streaming, tool_use, prompt-cache usage, /v1/messages/batches;
OpenAI /v1/chat/completions incl. streaming, tool calls and json_schema response formats).
What they *say* comes from a `responder(ask) -> str | dict | Fail` the test supplies.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MIN_CACHEABLE_TOKENS = 1024  # Anthropic's minimum cacheable prefix for Sonnet/Opus


@dataclass
class Ask:
    """A request, normalised across both wire formats."""

    system: str
    user: str
    tool: str | None  # the forced tool / json-schema name, if any
    schema: dict[str, Any] | None
    body: dict[str, Any]


@dataclass
class Fail:
    """Make the server answer with an HTTP error."""

    status: int
    message: str = "fail"
    kind: str = "api_error"


@dataclass
class Raw:
    """Make the server answer with exactly this body (a proxy's HTML page, a cut-off reply)."""

    body: str
    status: int = 200
    content_type: str = "application/json"


Responder = Callable[[Ask], "str | dict[str, Any] | Fail | Raw"]


def tokens(text: str) -> int:
    """A stable token estimate (about 4 characters per token)."""
    return max(1, math.ceil(len(text) / 4))


@dataclass
class _Common:
    responder: Responder
    latency: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    cache: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server:
    """Runs a handler class on 127.0.0.1:<free port> in a daemon thread."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self, responder: Responder, *, latency: float = 0.0, api_key: str | None = "test-key",
                 batch_polls: int = 1) -> None:
        self.state = _Common(responder, latency)
        self.api_key = api_key
        self.batch_polls = batch_polls
        self.batches: dict[str, dict[str, Any]] = {}
        outer = self

        class H(self.handler):  # type: ignore[misc, valid-type]
            server_ref = outer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # clients killed mid-request are expected
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Base(BaseHTTPRequestHandler):
    server_ref: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _raw(self, r: Raw) -> None:
        raw = r.body.encode()
        self.send_response(r.status)
        self.send_header("content-type", r.content_type)
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _sse_start(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")


# --------------------------------------------------------------------------- Anthropic


def _anthropic_ask(body: dict[str, Any]) -> Ask:
    system = body.get("system") or ""
    sys_text = system if isinstance(system, str) else "".join(b.get("text", "") for b in system)
    user = []
    for m in body.get("messages", []):
        c = m["content"]
        user.append(c if isinstance(c, str) else "".join(b.get("text", "") for b in c if b.get("type") == "text"))
    choice = body.get("tool_choice") or {}
    tool = choice.get("name") if choice.get("type") == "tool" else None
    schema = next((t["input_schema"] for t in body.get("tools", []) if t["name"] == tool), None)
    return Ask(sys_text, "\n".join(user), tool, schema, body)


def anthropic_usage(body: dict[str, Any], cache: set[str], lock: threading.Lock) -> dict[str, int]:
    """Prompt-cache accounting the way the API does it: the prefix up to the last
    cache_control breakpoint (tools, then system, then messages) is written once and read after."""
    parts: list[str] = [json.dumps(t, sort_keys=True) for t in body.get("tools", [])]
    prefix_end = -1
    system = body.get("system") or []
    blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
    for b in blocks:
        parts.append(b.get("text", ""))
        if b.get("cache_control"):
            prefix_end = len(parts)
    for m in body.get("messages", []):
        c = m["content"]
        for b in [{"type": "text", "text": c}] if isinstance(c, str) else c:
            parts.append(json.dumps(b, sort_keys=True) if b.get("type") != "text" else b.get("text", ""))
            if b.get("cache_control"):
                prefix_end = len(parts)
    total = tokens("".join(parts))
    if prefix_end < 0:
        return {"input_tokens": total, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    prefix = "".join(parts[:prefix_end])
    n = tokens(prefix)
    if n < MIN_CACHEABLE_TOKENS:
        return {"input_tokens": total, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    key = hashlib.sha256((body.get("model", "") + prefix).encode()).hexdigest()
    with lock:
        hit = key in cache
        cache.add(key)
    return {"input_tokens": max(total - n, 0), "cache_creation_input_tokens": 0 if hit else n,
            "cache_read_input_tokens": n if hit else 0}


def anthropic_message(body: dict[str, Any], reply: str | dict[str, Any], usage: dict[str, int],
                      tool: str | None) -> dict[str, Any]:
    if isinstance(reply, dict):
        content = [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": tool or "tool",
                    "input": reply}]
        out_text, stop = json.dumps(reply), "tool_use"
    else:
        content = [{"type": "text", "text": reply}]
        out_text, stop = reply, "end_turn"
    return {"id": f"msg_{uuid.uuid4().hex[:20]}", "type": "message", "role": "assistant",
            "model": body.get("model"), "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {**usage, "output_tokens": tokens(out_text)}}


class _AnthropicHandler(_Base):
    def _auth(self) -> bool:
        want = self.server_ref.api_key
        # SDK 2.x sends the key as a bearer token; older clients and curl use x-api-key.
        sent = self.headers.get("x-api-key") or (self.headers.get("authorization") or "").removeprefix("Bearer ")
        if want is not None and sent != want:
            self._json(401, {"type": "error", "error": {"type": "authentication_error",
                                                        "message": "invalid x-api-key"}})
            return False
        return True

    def _answer(self, body: dict[str, Any]) -> tuple[dict[str, Any] | Fail, Ask]:
        st = self.server_ref.state
        ask = _anthropic_ask(body)
        with st.lock:
            st.requests.append(body)
        if st.latency:
            time.sleep(st.latency)
        reply = st.responder(ask)
        if isinstance(reply, (Fail, Raw)):
            return reply, ask
        return anthropic_message(body, reply, anthropic_usage(body, st.cache, st.lock), ask.tool), ask

    def do_POST(self) -> None:
        body = self._body()
        if not self._auth():
            return
        if self.path == "/v1/messages/batches":
            return self._batch_create(body)
        if self.path != "/v1/messages":
            return self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})
        msg, _ = self._answer(body)
        if isinstance(msg, Raw):
            return self._raw(msg)
        if isinstance(msg, Fail):
            headers = {"retry-after": "0"} if msg.status == 429 else None
            kind = "rate_limit_error" if msg.status == 429 else msg.kind
            return self._json(msg.status, {"type": "error", "error": {"type": kind, "message": msg.message}}, headers)
        if body.get("stream"):
            return self._stream(msg)
        self._json(200, msg)

    def _send_event(self, name: str, data: dict[str, Any]) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _stream(self, msg: dict[str, Any]) -> None:
        self._sse_start()
        usage = dict(msg["usage"])
        start = {**msg, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        self._send_event("message_start", {"type": "message_start", "message": start})
        self._send_event("ping", {"type": "ping"})
        for i, block in enumerate(msg["content"]):
            if block["type"] == "text":
                self._send_event("content_block_start", {"type": "content_block_start", "index": i,
                                                         "content_block": {"type": "text", "text": ""}})
                text = block["text"]
                for j in range(0, len(text), 7):
                    self._send_event("content_block_delta", {"type": "content_block_delta", "index": i,
                                                             "delta": {"type": "text_delta", "text": text[j:j + 7]}})
            else:
                self._send_event("content_block_start", {"type": "content_block_start", "index": i,
                                                         "content_block": {**block, "input": {}}})
                raw = json.dumps(block["input"])
                for j in range(0, len(raw), 11):
                    self._send_event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                        "type": "input_json_delta", "partial_json": raw[j:j + 11]}})
            self._send_event("content_block_stop", {"type": "content_block_stop", "index": i})
        self._send_event("message_delta", {
            "type": "message_delta", "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]}})
        self._send_event("message_stop", {"type": "message_stop"})

    # ---- batches
    def _batch_obj(self, bid: str) -> dict[str, Any]:
        b = self.server_ref.batches[bid]
        done = b["polls"] >= self.server_ref.batch_polls
        n = len(b["requests"])
        ok = sum(1 for r in b.get("results", []) if r["result"]["type"] == "succeeded")
        return {"id": bid, "type": "message_batch", "processing_status": "ended" if done else "in_progress",
                "request_counts": {"processing": 0 if done else n, "succeeded": ok if done else 0,
                                   "errored": (n - ok) if done else 0, "canceled": 0, "expired": 0},
                "created_at": "2026-11-25T10:00:00Z", "expires_at": "2026-11-26T10:00:00Z",
                "ended_at": "2026-11-25T10:05:00Z" if done else None, "archived_at": None,
                "cancel_initiated_at": None,
                "results_url": f"{self.server_ref.url}/v1/messages/batches/{bid}/results" if done else None}

    def _batch_create(self, body: dict[str, Any]) -> None:
        bid = f"msgbatch_{uuid.uuid4().hex[:20]}"
        self.server_ref.batches[bid] = {"requests": body["requests"], "polls": 0}
        with self.server_ref.state.lock:
            self.server_ref.state.requests.append(body)
        self._json(200, self._batch_obj(bid))

    def do_GET(self) -> None:
        if not self._auth():
            return
        parts = self.path.strip("/").split("/")
        if parts[:3] != ["v1", "messages", "batches"] or len(parts) < 4 or parts[3] not in self.server_ref.batches:
            return self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})
        bid = parts[3]
        b = self.server_ref.batches[bid]
        if len(parts) == 4:
            b["polls"] += 1
            if b["polls"] >= self.server_ref.batch_polls and "results" not in b:
                b["results"] = []
                for r in b["requests"]:
                    msg, _ = self._answer(r["params"])
                    if isinstance(msg, Fail):
                        res = {"type": "errored", "error": {"type": "error", "error": {
                            "type": msg.kind, "message": msg.message}}}
                    else:
                        res = {"type": "succeeded", "message": msg}
                    b["results"].append({"custom_id": r["custom_id"], "result": res})
            return self._json(200, self._batch_obj(bid))
        raw = "".join(json.dumps(r) + "\n" for r in b.get("results", [])).encode()
        self.send_response(200)
        self.send_header("content-type", "application/binary")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class FakeAnthropic(_Server):
    """Anthropic Messages + Message Batches API on 127.0.0.1."""

    handler = _AnthropicHandler


# --------------------------------------------------------------------------- OpenAI


def _openai_ask(body: dict[str, Any]) -> Ask:
    system = "".join(m.get("content") or "" for m in body.get("messages", []) if m["role"] == "system")
    user = "\n".join(m.get("content") or "" for m in body.get("messages", []) if m["role"] != "system")
    tool, schema = None, None
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_schema":
        tool, schema = rf["json_schema"]["name"], rf["json_schema"]["schema"]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        tool = choice["function"]["name"]
        schema = next((t["function"]["parameters"] for t in body.get("tools", [])
                       if t["function"]["name"] == tool), None)
    return Ask(system, user, tool, schema, body)


class _OpenAIHandler(_Base):
    def do_POST(self) -> None:
        body = self._body()
        st = self.server_ref.state
        want = self.server_ref.api_key
        if want is not None and self.headers.get("authorization") != f"Bearer {want}":
            return self._json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                              "code": "invalid_api_key"}})
        if self.path != "/v1/chat/completions":
            return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        with st.lock:
            st.requests.append(body)
        if st.latency:
            time.sleep(st.latency)
        ask = _openai_ask(body)
        reply = st.responder(ask)
        if isinstance(reply, Raw):
            return self._raw(reply)
        if isinstance(reply, Fail):
            headers = {"retry-after": "0"} if reply.status == 429 else None
            return self._json(reply.status, {"error": {"message": reply.message, "type": reply.kind}}, headers)
        prompt = "".join(m.get("content") or "" for m in body["messages"])
        sys_text = "".join(m.get("content") or "" for m in body["messages"] if m["role"] == "system")
        cached = 0
        if tokens(sys_text) >= MIN_CACHEABLE_TOKENS:  # automatic prefix caching, as vLLM/OpenAI do
            key = hashlib.sha256(sys_text.encode()).hexdigest()
            with st.lock:
                cached = tokens(sys_text) if key in st.cache else 0
                st.cache.add(key)
        msg: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "stop"
        if isinstance(reply, dict) and body.get("response_format", {}).get("type") == "json_schema":
            msg["content"] = json.dumps(reply)
        elif isinstance(reply, dict):
            msg["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                                  "function": {"name": ask.tool or "tool", "arguments": json.dumps(reply)}}]
            finish = "tool_calls"
        else:
            msg["content"] = reply
        out_text = msg["content"] or json.dumps(reply)
        usage = {"prompt_tokens": tokens(prompt), "completion_tokens": tokens(out_text),
                 "total_tokens": tokens(prompt) + tokens(out_text),
                 "prompt_tokens_details": {"cached_tokens": cached}}
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
        if not body.get("stream"):
            return self._json(200, {"id": cid, "object": "chat.completion", "created": created,
                                    "model": body.get("model"), "choices": [
                                        {"index": 0, "message": msg, "finish_reason": finish, "logprobs": None}],
                                    "usage": usage})
        self._sse_start()

        def send(delta: dict[str, Any], fin: str | None = None) -> None:
            ev = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.get("model"),
                  "choices": [{"index": 0, "delta": delta, "finish_reason": fin, "logprobs": None}]}
            self.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
            self.wfile.flush()

        send({"role": "assistant", "content": ""})
        if msg.get("tool_calls"):
            call = msg["tool_calls"][0]
            send({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                  "function": {"name": call["function"]["name"], "arguments": ""}}]})
            args = call["function"]["arguments"]
            for j in range(0, len(args), 9):
                send({"tool_calls": [{"index": 0, "function": {"arguments": args[j:j + 9]}}]})
        else:
            text = msg["content"] or ""
            for j in range(0, len(text), 5):
                send({"content": text[j:j + 5]})
        send({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            ev = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.get("model"),
                  "choices": [], "usage": usage}
            self.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class FakeOpenAI(_Server):
    """An OpenAI-compatible /v1/chat/completions server (as vLLM, Ollama, llama.cpp expose)."""

    handler = _OpenAIHandler
