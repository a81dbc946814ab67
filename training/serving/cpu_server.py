"""An OpenAI-compatible transformers server for a base model and LoRA adapters, speaking vLLM's endpoints.

    python -m training.serving.cpu_server --base-model PATH|bundled:NAME [--adapter voice-v1=DIR ...] [--port 8000]

It runs on the CPU, or on one GPU when there is one but no vLLM (`--device auto` picks CUDA
in bf16 when available, else the CPU in float32).

Endpoints (the vLLM subset idiolect uses): GET /health, GET /v1/models,
POST /v1/chat/completions (streaming SSE or not; `<think>` reasoning returned in the
`reasoning` field; `response_format` and forced tools decoded under a JSON grammar, as vLLM
does), POST /v1/load_lora_adapter, POST /v1/unload_lora_adapter. Requests are batched by
training.serving.engine, each row with its own adapter. See training/serving/serve.py for why this exists
next to vLLM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from core.thinking import ReasoningSplitter
from training.reasoning import canonical_family
from training.serving.engine import GenRequest
from training.serving.guided import Guide, GuidedError, guide_for, tool_call
from training.serving.model_host import ModelHost, chat_messages
from training.serving.sampling import SamplingParams


def _error(status: int, message: str, kind: str = "BadRequestError") -> JSONResponse:
    # vLLM's error body shape, so clients handle both servers alike.
    return JSONResponse({"object": "error", "message": message, "type": kind, "param": None, "code": status},
                        status_code=status)


class _Pending:
    """Bridges one request's engine events (worker thread) to its HTTP handler (event loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def emit(self, kind: str, value: Any) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))

    async def pieces(self) -> AsyncIterator[tuple[str, Any]]:
        while True:
            kind, value = await self.events.get()
            if kind == "error":
                raise value
            yield kind, value
            if kind == "done":
                return


def build_app(host: ModelHost) -> FastAPI:
    """Return the FastAPI app for one ModelHost."""
    # Families whose answers open with <think>; "none" too, since a model of no known
    # convention may still think aloud, and the split only acts on a leading <think>.
    think = canonical_family(host.family) in ("qwen3", "deepseek-r1", "minimax-m2", "none")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(host.engine.close)  # shutdown: rows in flight stop at the next token

    app = FastAPI(title="idiolect CPU server", docs_url=None, redoc_url=None, lifespan=lifespan)

    @app.get("/health")
    async def health() -> PlainTextResponse:
        return PlainTextResponse("")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": host.models()}

    @app.post("/v1/load_lora_adapter")
    async def load(request: Request) -> Any:
        body = await request.json()
        name, path = body.get("lora_name"), body.get("lora_path")
        if not name or not path:
            return _error(400, "Both 'lora_name' and 'lora_path' must be provided.")
        try:
            await asyncio.wrap_future(host.engine.run(lambda: host.load_adapter(name, path)))
        except ValueError as e:
            return _error(400, str(e))
        except FileNotFoundError as e:
            return _error(404, str(e), "NotFoundError")
        return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

    @app.post("/v1/unload_lora_adapter")
    async def unload(request: Request) -> Any:
        body = await request.json()
        name = body.get("lora_name", "")
        try:
            await asyncio.wrap_future(host.engine.run(lambda: host.unload_adapter(name), unloads=name))
        except KeyError as e:
            return _error(404, str(e.args[0]), "NotFoundError")
        return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the request body is not valid JSON")
        model = body.get("model")
        if model != host.base_name and model not in host.adapters:
            return _error(404, f"The model `{model}` does not exist.", "NotFoundError")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(400, "'messages' must be a non-empty list")
        try:
            ids = host.prompt_ids(chat_messages(body["messages"]))
            guide = guide_for(body)
            params = SamplingParams.from_body(body, host.defaults, room=host.max_len - len(ids),
                                              guided=guide is not None)
            matcher = host.grammars().matcher(guide) if guide is not None else None
        except (ValueError, GuidedError) as e:
            return _error(400, str(e))
        if len(ids) + params.max_tokens > host.max_len:
            return _error(400, f"This model's maximum context length is {host.max_len} tokens. However, you "
                               f"requested {len(ids) + params.max_tokens} tokens ({len(ids)} in the messages, "
                               f"{params.max_tokens} in the completion). Please reduce the length of the "
                               "messages or completion.")
        stop = body.get("stop") or ()
        pending = _Pending(asyncio.get_running_loop())
        req = GenRequest(model=model, input_ids=ids, params=params, emit=pending.emit, matcher=matcher,
                         stop=(stop,) if isinstance(stop, str) else tuple(stop))
        host.engine.submit(req)
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        usage = lambda n_out: {"prompt_tokens": len(ids), "completion_tokens": n_out,  # noqa: E731
                               "total_tokens": len(ids) + n_out}
        if body.get("stream"):
            return StreamingResponse(_stream(pending, req, guide, think, rid, created, model, usage),
                                     media_type="text/event-stream")
        return await _complete(request, pending, req, guide, think, rid, created, model, usage)

    return app


def _finish_reason(reason: str, call: dict[str, Any] | None) -> str:
    return "tool_calls" if call is not None and reason == "stop" else ("length" if reason == "length" else "stop")


async def _complete(request: Request, pending: _Pending, req: GenRequest, guide: Guide | None, think: bool,
                    rid: str, created: int, model: str, usage: Any) -> Any:
    """Wait for the whole answer (cancelling it if the client goes away meanwhile)."""
    async def watch() -> None:
        while not req.cancel.is_set():
            if await request.is_disconnected():
                req.cancel.set()
                return
            await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch())
    split, parts = ReasoningSplitter(think and guide is None), {"reasoning": [], "content": []}
    reason, n_out = "stop", 0
    try:
        async for kind, value in pending.pieces():
            if kind == "text":
                for part, text in split.feed(value):
                    parts[part].append(text)
            else:
                reason, n_out = value
    except Exception as e:  # noqa: BLE001  (the engine's error, reported as vLLM reports one)
        return _error(500, f"generation failed: {e}", "InternalServerError")
    finally:
        watcher.cancel()
    for part, text in split.flush():
        parts[part].append(text)
    content = "".join(parts["content"])
    call = tool_call(guide, content, f"call_{uuid.uuid4().hex[:24]}") if guide is not None else None
    message = {"role": "assistant", "content": None if call else content,
               "reasoning": "".join(parts["reasoning"]) or None, "tool_calls": [call] if call else []}
    return {"id": rid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(reason, call)}],
            "usage": usage(n_out)}


async def _stream(pending: _Pending, req: GenRequest, guide: Guide | None, think: bool, rid: str, created: int,
                  model: str, usage: Any) -> AsyncIterator[str]:
    """Server-sent events, one chunk per decoded piece; a disconnect cancels the row."""
    def chunk(delta: dict[str, Any], finish: str | None = None, use: Any = None) -> str:
        obj: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if use is not None:
            obj["usage"] = use
        return f"data: {json.dumps(obj)}\n\n"

    split = ReasoningSplitter(think and guide is None)
    named = guide.tool_name if guide is not None else None
    call_id, buffered = f"call_{uuid.uuid4().hex[:24]}", []
    try:
        yield chunk({"role": "assistant", "content": ""})
        if named:
            yield chunk({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                         "function": {"name": named, "arguments": ""}}]})
        reason, n_out = "stop", 0
        try:
            async for kind, value in pending.pieces():
                if kind == "done":
                    reason, n_out = value
                elif named:
                    yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": value}}]})
                elif guide is not None and guide.any_tool:
                    buffered.append(value)  # the tool's name is known only once the JSON is whole
                else:
                    for part, text in split.feed(value):
                        yield chunk({part: text})
        except Exception as e:  # noqa: BLE001  (sent as an SSE error event, as vLLM does mid-stream)
            yield f"data: {json.dumps({'error': {'message': f'generation failed: {e}', 'code': 500}})}\n\n"
            return
        for part, text in split.flush():
            yield chunk({part: text})
        call = tool_call(guide, "".join(buffered), call_id) if guide is not None and guide.any_tool else None
        if call is not None:
            yield chunk({"tool_calls": [{"index": 0, **call}]})
        finish = "tool_calls" if named or call else ("length" if reason == "length" else "stop")
        yield chunk({}, finish, usage(n_out))
        yield "data: [DONE]\n\n"
    finally:
        req.cancel.set()  # client gone or done: stop generating this row


def make_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    p = argparse.ArgumentParser(prog="python -m training.serving.cpu_server", description=__doc__.splitlines()[0])
    p.add_argument("--base-model", required=True, help="folder, hub id, or bundled:NAME (made into a folder once)")
    p.add_argument("--served-name", default=None, help="model id of the base (default: the name given)")
    p.add_argument("--adapter", action="append", default=[], help="NAME=PATH (repeatable)")
    p.add_argument("--family", default="none", help="reasoning family (training.reasoning names)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, or cuda[:N]")
    p.add_argument("--max-batch", type=int, default=8, help="requests decoded together at most")
    p.add_argument("--default-max-tokens", type=int, default=1024,
                   help="answer budget when a request sets no max_tokens (capped by what the context leaves)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads per matrix product (default: 1 for a model under 1B parameters, else every "
                        "core; OMP_NUM_THREADS, when set, is the default instead)")
    return p


def main(argv: list[str] | None = None) -> None:
    """Load the model and adapters, then serve until stopped (SIGTERM stops it within seconds)."""
    args = make_parser().parse_args(argv)
    try:
        host = ModelHost(args.base_model, args.served_name, args.family, device=args.device,
                         max_batch=args.max_batch, default_max_tokens=args.default_max_tokens,
                         threads=args.threads)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    for item in args.adapter:
        name, _, path = item.partition("=")
        host.engine.run(lambda n=name, p=path: host.load_adapter(n, p)).result()
    config = uvicorn.Config(build_app(host), host=args.host, port=args.port, log_level="warning",
                            timeout_graceful_shutdown=3)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
