"""The CPU server's generation engine: one worker thread owns the model and runs batches.

Requests queue up; the worker takes every request waiting (up to `max_batch`) and decodes
them together in one `generate` call, each row with its own adapter (PEFT mixed-adapter
batches), sampling parameters, seed, token budget and JSON grammar. Batching is what makes
the arena affordable on two cores: both answers of a battle cost about one answer's time.

Only the worker touches the model, so nothing an HTTP handler does can hold it: adapter
loads are queued as commands and run between batches, a client that goes away sets its
row's `cancel` and that row stops at the next token, and `close()` stops the worker within
one decoding step. (The earlier design held a lock inside a streaming generator: a client
that disconnected mid-stream kept the lock forever.)
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from training.guided import Matcher
from training.sampling import SamplingParams, pick_token

BATCH_WINDOW_S = 0.03  # wait this long for a battle's second request, so both share one batch


@dataclass(eq=False)
class GenRequest:
    """One chat completion to generate; results arrive through `emit` (called on the worker)."""

    model: str
    input_ids: list[int]
    params: SamplingParams
    emit: Callable[[str, Any], None]  # ("text", str) … then ("done", (finish_reason, n_out)) or ("error", exc)
    matcher: Matcher | None = None
    stop: tuple[str, ...] = ()
    cancel: threading.Event = field(default_factory=threading.Event)
    # Worker-side state.
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    sent: int = 0
    finish: str | None = None
    generator: torch.Generator | None = None


class _Picker(LogitsProcessor):
    """Per-row sampling: each row's choice becomes its only finite logit, so generate's argmax takes it."""

    def __init__(self, rows: list[GenRequest], eos_ids: set[int]) -> None:
        self.rows, self.eos_ids = rows, eos_ids
        self.exempt = torch.tensor(sorted(eos_ids), dtype=torch.long)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(scores, float("-inf"))
        for i, row in enumerate(self.rows):
            if row.finish is not None:
                out[i, 0] = 0.0  # finished rows get padding anyway
                continue
            allowed = row.matcher.allowed() if row.matcher is not None else None
            if allowed is not None and not bool(allowed.any()):  # the grammar is in an error state
                token = min(self.eos_ids)
            else:
                token = pick_token(scores[i], row.params, input_ids[i].cpu(), len(row.tokens), allowed,
                                   row.generator, self.exempt)
            if row.matcher is not None and token not in self.eos_ids:
                row.matcher.consume(token)
            row.tokens.append(token)
            out[i, token] = 0.0
        return out


class _Stopper(StoppingCriteria):
    """Per-row stopping (end token, budget, grammar done, stop string, cancel) and streaming of new text."""

    def __init__(self, rows: list[GenRequest], tokenizer: Any, eos_ids: set[int]) -> None:
        self.rows, self.tok, self.eos_ids = rows, tokenizer, eos_ids

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kw: Any) -> torch.Tensor:  # type: ignore[override]
        done = torch.zeros(len(self.rows), dtype=torch.bool)
        for i, row in enumerate(self.rows):
            if row.finish is None:
                self._advance(row)
            done[i] = row.finish is not None
        return done

    def _advance(self, row: GenRequest) -> None:
        last = row.tokens[-1] if row.tokens else None
        if row.cancel.is_set():
            row.finish = "abort"
        elif last in self.eos_ids:
            row.tokens.pop()
            row.finish = "stop"
        elif row.matcher is not None and row.matcher.finished:
            row.finish = "stop"
        elif len(row.tokens) >= row.params.max_tokens:
            row.finish = "length"
        text = self.tok.decode(row.tokens, skip_special_tokens=True)
        if row.finish is None and text.endswith("\ufffd"):
            return  # half a UTF-8 character: wait for the rest
        for s in row.stop:
            at = text.find(s, max(0, row.sent - len(s)))
            if at >= 0:
                text, row.finish = text[:at], "stop"
        if len(text) > row.sent:
            row.emit("text", text[row.sent:])
            row.sent = len(text)
        row.text = text
        if row.finish is not None:
            row.emit("done", (row.finish, len(row.tokens)))


class Engine:
    """Owns the model (base + PEFT adapters) and the worker thread that decodes batches."""

    def __init__(self, base: Any, tokenizer: Any, device: str, *, max_batch: int = 8) -> None:
        self.base = base
        self.model: Any = base
        self.tok = tokenizer
        self.tok.padding_side = "left"
        self.device = device
        self.max_batch = max_batch
        self.adapters: dict[str, str] = {}
        self.eos_ids = _eos_ids(base, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._closed = threading.Event()
        self._active: list[GenRequest] = []
        self.stats = {"batches": 0, "rows": 0, "tokens": 0, "busy_s": 0.0}
        self._thread = threading.Thread(target=self._loop, name="engine", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ API (any thread)
    def submit(self, req: GenRequest) -> None:
        """Queue a request; its results arrive through `req.emit`."""
        if self._closed.is_set():
            raise RuntimeError("the engine is shut down")
        self._queue.put(req)

    def run(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run `fn` on the worker between batches (adapter loads); returns its future."""
        fut: Future[Any] = Future()
        self._queue.put((fn, fut))
        return fut

    def close(self) -> None:
        """Stop the worker: rows in flight end at the next token, queued ones are refused."""
        self._closed.set()
        for row in list(self._active):
            row.cancel.set()
        self._queue.put(None)
        self._thread.join(timeout=30)

    # ------------------------------------------------------------------ worker
    def _loop(self) -> None:
        while not self._closed.is_set():
            item = self._queue.get()
            if item is None:
                break
            if isinstance(item, tuple):
                self._command(*item)
                continue
            batch, deferred = [item], []
            deadline = time.monotonic() + BATCH_WINDOW_S
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if isinstance(nxt, GenRequest):
                    batch.append(nxt)
                else:
                    deferred.append(nxt)
            self._generate([r for r in batch if not r.cancel.is_set()])
            for r in batch:
                if r.cancel.is_set() and r.finish is None:
                    r.finish = "abort"
                    r.emit("done", ("abort", len(r.tokens)))
            for d in deferred:
                if d is None:
                    return
                self._command(*d)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, GenRequest):
                item.emit("error", RuntimeError("the server is shutting down"))
            elif isinstance(item, tuple):
                item[1].set_exception(RuntimeError("the server is shutting down"))

    @staticmethod
    def _command(fn: Callable[[], Any], fut: Future[Any]) -> None:
        try:
            fut.set_result(fn())
        except BaseException as e:  # handed to the caller through the future
            fut.set_exception(e)

    def _generate(self, rows: list[GenRequest]) -> None:
        if not rows:
            return
        self._active = rows
        started = time.monotonic()
        try:
            width = max(len(r.input_ids) for r in rows)
            ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for i, r in enumerate(rows):  # left padding: every row's next token is at the end
                ids[i, width - len(r.input_ids):] = torch.tensor(r.input_ids)
                mask[i, width - len(r.input_ids):] = 1
                r.generator = torch.Generator().manual_seed(
                    r.params.seed if r.params.seed is not None else int(torch.randint(0, 2**31, (1,))))
            kwargs: dict[str, Any] = {}
            if self.adapters:
                kwargs["adapter_names"] = [r.model if r.model in self.adapters else "__base__" for r in rows]
            # A neutral config: every sampling choice is the rows' own (_Picker), none the model's defaults.
            config = GenerationConfig(max_new_tokens=max(r.params.max_tokens for r in rows) + 1, do_sample=False,
                                      pad_token_id=self.pad_id, eos_token_id=sorted(self.eos_ids))
            with torch.no_grad():
                self.model.generate(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device), generation_config=config,
                    logits_processor=LogitsProcessorList([_Picker(rows, self.eos_ids)]),
                    stopping_criteria=StoppingCriteriaList([_Stopper(rows, self.tok, self.eos_ids)]), **kwargs)
            for r in rows:  # generate can end before a row's own stop fired (its budget was the max)
                if r.finish is None:
                    r.finish = "length"
                    r.emit("done", ("length", len(r.tokens)))
            self.stats["tokens"] += sum(len(r.tokens) for r in rows)
        except Exception as e:  # the rows' callers get the error; the worker lives on
            for r in rows:
                if r.finish is None:
                    r.finish = "error"
                    r.emit("error", e)
        finally:
            self._active = []
            self.stats["batches"] += 1
            self.stats["rows"] += len(rows)
            self.stats["busy_s"] += time.monotonic() - started


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """End-of-turn tokens: the generation config's, plus the tokenizer's end token."""
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    out = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        out.add(int(tokenizer.eos_token_id))
    return out
