"""OpenAI-compatible chat client (vLLM, the CPU server, any compatible endpoint) plus prompt builders.

Streaming with timeouts, retries and cancellation; reads the reasoning under either field
name vLLM has used (`reasoning`, older `reasoning_content`). httpx only: no torch, no SDK
types, so the arena, the judges and the UI share it cheaply.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.errors import LLMError
from core.schemas import ModelKind, ModelRecord
from core.thinking import split_reasoning
from core.untrusted import block, data_rule, new_boundary

REASONING_KEYS = ("reasoning", "reasoning_content")
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass
class Delta:
    """One streamed piece: answer text and/or reasoning text."""

    text: str = ""
    reasoning: str = ""
    finish_reason: str | None = None


@dataclass
class Completion:
    """A whole answer."""

    text: str
    reasoning: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    finish_reason: str | None = None
    cancelled: bool = False


class Cancelled(LLMError):
    """The caller cancelled the request."""


def _reasoning_of(obj: dict[str, Any]) -> str:
    for key in REASONING_KEYS:
        value = obj.get(key)
        if value:
            return str(value)
    return ""


def _error_text(r: httpx.Response) -> str:
    try:
        body = r.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return r.text[:300]
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err)[:300]
        return str(err)[:300]
    return str(body)[:300]


class GenerationClient:
    """Chat completions against one OpenAI-compatible base URL (e.g. http://127.0.0.1:8000/v1).

    Args:
        base_url: the API base, including /v1.
        api_key: sent as a bearer token (vLLM ignores it unless started with --api-key).
        timeout: seconds to connect and between streamed bytes (not for the whole answer).
        max_retries: retries on connection errors, timeouts and 408/429/5xx, before the
            first byte of an answer; a stream that has started is never replayed.
        http_client: an httpx.Client to use (tests pass one with a MockTransport).
        async_http_client: an httpx.AsyncClient for `achat`/`astream`.

    """

    def __init__(self, base_url: str, *, api_key: str = "unused", timeout: float = 60,
                 max_retries: int = 2, http_client: httpx.Client | None = None,
                 async_http_client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.timeout = timeout
        self.max_retries = max_retries
        self._http = http_client
        self._ahttp = async_http_client

    # ------------------------------------------------------------------ plumbing
    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=httpx.Timeout(self.timeout))
        return self._http

    @property
    def ahttp(self) -> httpx.AsyncClient:
        if self._ahttp is None:
            self._ahttp = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout))
        return self._ahttp

    def close(self) -> None:
        """Close the HTTP clients this object created or was given."""
        if self._http is not None:
            self._http.close()

    def _body(self, model: str, messages: Sequence[dict[str, Any]], max_tokens: int,
              temperature: float, stream: bool, extra: dict[str, Any]) -> dict[str, Any]:
        body = {"model": model, "messages": list(messages), "max_tokens": max_tokens,
                "temperature": temperature, "stream": stream, **extra}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _backoff(self, attempt: int) -> float:
        return min(8.0, 0.5 * 2**attempt)

    def _raise_for(self, r: httpx.Response, model: str) -> None:
        raise LLMError(f"{self.base_url} answered {r.status_code} for model {model!r}: {_error_text(r)}")

    # ------------------------------------------------------------------ sync
    def chat(self, model: str, messages: Sequence[dict[str, Any]], *, max_tokens: int = 512,
             temperature: float = 0.7, cancel: threading.Event | None = None, **extra: Any) -> Completion:
        """One whole answer (streamed underneath, so `cancel` and the idle timeout apply).

        Raises:
            LLMError: the endpoint failed after retries, or answered an error.
            Cancelled: `cancel` was set.

        """
        text, reasoning, finish = [], [], None
        usage: dict[str, Any] = {}
        for d in self._stream(model, messages, max_tokens, temperature, cancel, extra, usage):
            text.append(d.text)
            reasoning.append(d.reasoning)
            finish = d.finish_reason or finish
        return self._complete(model, "".join(text), "".join(reasoning), usage, finish)

    def stream(self, model: str, messages: Sequence[dict[str, Any]], *, max_tokens: int = 512,
               temperature: float = 0.7, cancel: threading.Event | None = None, **extra: Any) -> Iterator[Delta]:
        """Yield Deltas as they arrive. Setting `cancel` ends the stream quietly (no exception)."""
        try:
            yield from self._stream(model, messages, max_tokens, temperature, cancel, extra, {})
        except Cancelled:
            return

    def _complete(self, model: str, text: str, reasoning: str, usage: dict[str, Any],
                  finish: str | None) -> Completion:
        if not reasoning:  # servers without a reasoning parser (Apriel on vLLM) leave it in the text
            reasoning, text = split_reasoning(text)
        return Completion(text=text, reasoning=reasoning, usage=usage, model=model, finish_reason=finish)

    def _stream(self, model: str, messages: Sequence[dict[str, Any]], max_tokens: int, temperature: float,
                cancel: threading.Event | None, extra: dict[str, Any], usage: dict[str, Any]) -> Iterator[Delta]:
        body = self._body(model, messages, max_tokens, temperature, True, extra)
        url = f"{self.base_url}/chat/completions"
        attempt = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled before the request was sent")
            started = False
            try:
                with self.http.stream("POST", url, json=body, headers=self.headers) as r:
                    if r.status_code != 200:
                        r.read()
                        if r.status_code in RETRY_STATUS and attempt < self.max_retries:
                            raise _Retry()
                        self._raise_for(r, model)
                    for line in r.iter_lines():
                        if cancel is not None and cancel.is_set():
                            raise Cancelled("cancelled while streaming")
                        delta = self._parse_line(line, usage)
                        if delta is _END:
                            return
                        if delta is not None:
                            started = True
                            yield delta
                    return
            except (_Retry, httpx.TransportError) as e:
                if started or attempt >= self.max_retries:
                    raise LLMError(f"{url} failed for model {model!r}: {e!r}") from e
                attempt += 1
                time.sleep(self._backoff(attempt))

    # ------------------------------------------------------------------ async
    async def achat(self, model: str, messages: Sequence[dict[str, Any]], *, max_tokens: int = 512,
                    temperature: float = 0.7, cancel: threading.Event | None = None, **extra: Any) -> Completion:
        """Async `chat`."""
        text, reasoning, finish = [], [], None
        usage: dict[str, Any] = {}
        async for d in self._astream(model, messages, max_tokens, temperature, cancel, extra, usage):
            text.append(d.text)
            reasoning.append(d.reasoning)
            finish = d.finish_reason or finish
        return self._complete(model, "".join(text), "".join(reasoning), usage, finish)

    async def astream(self, model: str, messages: Sequence[dict[str, Any]], *, max_tokens: int = 512,
                      temperature: float = 0.7, cancel: threading.Event | None = None,
                      **extra: Any) -> AsyncIterator[Delta]:
        """Async `stream`."""
        try:
            async for d in self._astream(model, messages, max_tokens, temperature, cancel, extra, {}):
                yield d
        except Cancelled:
            return

    async def _astream(self, model: str, messages: Sequence[dict[str, Any]], max_tokens: int,
                       temperature: float, cancel: threading.Event | None, extra: dict[str, Any],
                       usage: dict[str, Any]) -> AsyncIterator[Delta]:
        body = self._body(model, messages, max_tokens, temperature, True, extra)
        url = f"{self.base_url}/chat/completions"
        attempt = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled before the request was sent")
            started = False
            try:
                async with self.ahttp.stream("POST", url, json=body, headers=self.headers) as r:
                    if r.status_code != 200:
                        await r.aread()
                        if r.status_code in RETRY_STATUS and attempt < self.max_retries:
                            raise _Retry()
                        self._raise_for(r, model)
                    async for line in r.aiter_lines():
                        if cancel is not None and cancel.is_set():
                            raise Cancelled("cancelled while streaming")
                        delta = self._parse_line(line, usage)
                        if delta is _END:
                            return
                        if delta is not None:
                            started = True
                            yield delta
                    return
            except (_Retry, httpx.TransportError) as e:
                if started or attempt >= self.max_retries:
                    raise LLMError(f"{url} failed for model {model!r}: {e!r}") from e
                attempt += 1
                await asyncio.sleep(self._backoff(attempt))

    # ------------------------------------------------------------------ SSE
    @staticmethod
    def _parse_line(line: str, usage: dict[str, Any]) -> Any:
        """One SSE line -> a Delta, _END, or None (keep-alives, role-only chunks)."""
        line = line.strip()
        if not line.startswith("data:"):
            return None
        payload = line[5:].strip()
        if payload == "[DONE]":
            return _END
        try:
            obj = json.loads(payload)
        except json.JSONDecodeError:
            return None
        if isinstance(obj.get("error"), dict):  # vLLM reports mid-stream errors in-band
            raise LLMError(f"stream error: {obj['error'].get('message', obj['error'])}")
        if obj.get("usage"):
            usage.update(obj["usage"])
        choices = obj.get("choices") or []
        if not choices:
            return None
        ch = choices[0]
        d = ch.get("delta") or ch.get("message") or {}
        delta = Delta(text=d.get("content") or "", reasoning=_reasoning_of(d), finish_reason=ch.get("finish_reason"))
        if not (delta.text or delta.reasoning or delta.finish_reason):
            return None
        return delta


class _Retry(Exception):
    """Internal: a retryable HTTP status."""


_END = object()


# ---------------------------------------------------------------------- prompts


def baseline_messages(prompt: str, *, style_card: str, examples: list[str],
                      system: str | None = None) -> list[dict[str, str]]:
    """Return the prompting baseline: base model + style card + retrieved examples of the person's writing.

    Args:
        prompt: the user's question.
        style_card: the owner's editable description of their voice.
        examples: retrieved messages the person wrote (most relevant first).
        system: an extra system instruction placed first.

    Returns:
        OpenAI-style messages: one system message, then the user prompt.

    """
    parts = [system.strip()] if system and system.strip() else []
    parts.append("Answer as the person described below, in their voice: their words, rhythm, "
                 "analogies and opinions. Do not mention that you are imitating anyone.")
    if style_card.strip():
        parts.append(f"## Style card\n{style_card.strip()}")
    shown = [e.strip() for e in examples if e and e.strip()]
    if shown:  # retrieved text is untrusted: fenced so an excerpt cannot pose as instructions
        b = new_boundary()
        parts.append("## How they actually write (verbatim excerpts)\n" + data_rule(b, "example") + "\n\n"
                     + "\n\n".join(block("example", e, b) for e in shown))
    return [{"role": "system", "content": "\n\n".join(parts)}, {"role": "user", "content": prompt}]


def messages_for(model: ModelRecord, prompt: str, *, system: str | None = None, style_card: str = "",
                 examples: list[str] | None = None) -> list[dict[str, str]]:
    """Return the messages to send `prompt` to `model`: the baseline gets its card and examples, others don't.

    An adapter carries the voice in its weights, so it gets the plain prompt (plus `system`,
    as in training); the base model gets the same, which is what makes it the floor.
    """
    if model.kind == ModelKind.baseline:
        return baseline_messages(prompt, style_card=style_card, examples=list(examples or []), system=system)
    msgs = [{"role": "system", "content": system}] if system else []
    return [*msgs, {"role": "user", "content": prompt}]


def client_for(model: ModelRecord, **kwargs: Any) -> GenerationClient:
    """Return A GenerationClient for the endpoint serving `model`; LLMError when it is not served."""
    if not model.endpoint:
        raise LLMError(f"model {model.name!r} is not served anywhere yet (run `idiolect serve`)")
    return GenerationClient(model.endpoint, **kwargs)
