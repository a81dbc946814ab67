"""The CPU server's generation engine: one worker thread owns the model and decodes a running batch.

Continuous batching, as vLLM does it: a request that arrives while others are being decoded
is prefilled and joins the running batch at the next step, and a row that finishes leaves at
once, so an arena answer never waits for a long guided draft to end. Every row has its own
adapter (PEFT mixed-adapter batches), sampling parameters, seed, token budget and JSON grammar;
the batch shares one KV cache, left-padded so every row's next token sits in the last column.

Only the worker touches the model, so nothing an HTTP handler does can hold it: adapter
loads are queued as commands and run between steps, a client that goes away sets its row's
`cancel` and that row stops at the next token, and `close()` stops the worker within one
step. (The earlier design held a lock inside a streaming generator: a client that
disconnected mid-stream kept the lock forever.)
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
import torch.nn.functional as F  # noqa: N812
from transformers import DynamicCache

from training.serving.guided import Matcher
from training.serving.sampling import SamplingParams, pick_token

UNLOAD = "unload"  # a command that must wait until no row uses the adapter it removes


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
    sent: int = 0
    finish: str | None = None
    generator: torch.Generator | None = None


@dataclass
class _Batch:
    """The rows being decoded together, their shared KV cache and attention mask."""

    rows: list[GenRequest]
    cache: DynamicCache
    mask: torch.Tensor  # (rows, cached length): 1 where a real token is
    last: torch.Tensor  # (rows,): each row's newest token, the next step's input


class Engine:
    """Owns the model (base + PEFT adapters) and the worker thread that decodes."""

    def __init__(self, base: Any, tokenizer: Any, device: str, *, max_batch: int = 8) -> None:
        self.base = base
        self.model: Any = base
        self.tok = tokenizer
        self.device = device
        self.max_batch = max_batch
        self.adapters: dict[str, str] = {}
        self.base_name: str | None = None  # the served id of the base model (ModelHost sets it)
        self.eos_ids = _eos_ids(base, tokenizer)
        self.exempt = torch.tensor(sorted(self.eos_ids), dtype=torch.long)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._waiting: list[GenRequest] = []
        self._commands: list[tuple[Callable[[], Any], Future[Any], str | None]] = []
        self._closed = threading.Event()
        self._batch: _Batch | None = None
        self.stats = {"steps": 0, "rows": 0, "tokens": 0, "busy_s": 0.0, "most_rows": 0}
        self._thread = threading.Thread(target=self._loop, name="engine", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ API (any thread)
    def submit(self, req: GenRequest) -> None:
        """Queue a request; its results arrive through `req.emit`."""
        if self._closed.is_set():
            raise RuntimeError("the engine is shut down")
        self._queue.put(req)

    def run(self, fn: Callable[[], Any], *, unloads: str | None = None) -> Future[Any]:
        """Run `fn` on the worker between steps (adapter loads); returns its future.

        With `unloads`, it waits until no row in flight uses that adapter.
        """
        fut: Future[Any] = Future()
        self._queue.put((fn, fut, unloads))
        return fut

    def close(self) -> None:
        """Stop the worker: rows in flight end at the next token, queued ones are refused."""
        self._closed.set()
        self._queue.put(None)
        self._thread.join(timeout=30)

    # ------------------------------------------------------------------ worker
    def _loop(self) -> None:
        while not self._closed.is_set():
            if self._batch is None and not self._waiting and not self._commands:
                self._take(self._queue.get())  # idle: sleep until something arrives
            while True:
                try:
                    self._take(self._queue.get_nowait())
                except queue.Empty:
                    break
            if self._closed.is_set():
                break
            self._run_commands()
            self._admit()
            if self._batch is not None:
                self._step()
        self._shutdown()

    def _take(self, item: Any) -> None:
        if item is None:
            self._closed.set()
        elif isinstance(item, GenRequest):
            self._waiting.append(item)
        else:
            self._commands.append(item)

    def _run_commands(self) -> None:
        in_use = {r.model for r in (self._batch.rows if self._batch else [])} | {r.model for r in self._waiting}
        keep = []
        for fn, fut, unloads in self._commands:
            if unloads is not None and unloads in in_use:
                keep.append((fn, fut, unloads))  # its rows finish first; new ones for it are refused
                continue
            try:
                fut.set_result(fn())
            except BaseException as e:  # handed to the caller through the future
                fut.set_exception(e)
        self._commands = keep

    def _admit(self) -> None:
        running = len(self._batch.rows) if self._batch else 0
        room = self.max_batch - running
        if room <= 0 or not self._waiting:
            return
        new = []
        for r in self._waiting[:room]:
            if r.cancel.is_set():
                r.emit("done", ("abort", 0))
            elif r.model != self.base_name and r.model not in self.adapters:  # unloaded since it was accepted
                r.emit("error", LookupError(f"The model `{r.model}` does not exist."))
            else:
                new.append(r)
        del self._waiting[:room]
        if not new:
            return
        try:
            added = self._prefill(new)
        except Exception as e:  # noqa: BLE001  (the new rows' callers get it; the running batch goes on)
            for r in new:
                r.emit("error", e)
            return
        self._batch = added if self._batch is None else _merge(self._batch, added)
        self._finish_rows()

    def _adapter_kwargs(self, rows: list[GenRequest]) -> dict[str, Any]:
        if not self.adapters:
            return {}
        return {"adapter_names": [r.model if r.model in self.adapters else "__base__" for r in rows]}

    def _prefill(self, rows: list[GenRequest]) -> _Batch:
        width = max(len(r.input_ids) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):  # left padding: every row's next token is at the end
            ids[i, width - len(r.input_ids):] = torch.tensor(r.input_ids)
            mask[i, width - len(r.input_ids):] = 1
            r.generator = torch.Generator().manual_seed(
                r.params.seed if r.params.seed is not None else int(torch.randint(0, 2**31, (1,))))
        started = time.monotonic()
        with torch.no_grad():
            out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                             position_ids=(mask.cumsum(-1) - 1).clamp(min=0).to(self.device),
                             past_key_values=DynamicCache(), use_cache=True, **self._adapter_kwargs(rows))
        self.stats["busy_s"] += time.monotonic() - started
        self.stats["rows"] += len(rows)
        last = self._pick(rows, out.logits[:, -1, :])
        return _Batch(rows, out.past_key_values, mask, last)

    def _step(self) -> None:
        b = self._batch
        assert b is not None
        mask = torch.cat([b.mask, torch.ones((len(b.rows), 1), dtype=torch.long)], dim=1)
        started = time.monotonic()
        try:
            with torch.no_grad():
                out = self.model(input_ids=b.last[:, None].to(self.device), attention_mask=mask.to(self.device),
                                 position_ids=(mask.sum(-1, keepdim=True) - 1).to(self.device),
                                 past_key_values=b.cache, use_cache=True, **self._adapter_kwargs(b.rows))
        except Exception as e:  # noqa: BLE001  (every row in the batch gets the error; the worker lives on)
            for r in b.rows:
                r.finish = "error"
                r.emit("error", e)
            self._batch = None
            return
        self.stats["busy_s"] += time.monotonic() - started
        self.stats["steps"] += 1
        self.stats["most_rows"] = max(self.stats["most_rows"], len(b.rows))
        b.mask, b.cache = mask, out.past_key_values
        b.last = self._pick(b.rows, out.logits[:, -1, :])
        self._finish_rows()

    def _pick(self, rows: list[GenRequest], logits: torch.Tensor) -> torch.Tensor:
        """Choose each row's next token, then stream its text and decide whether it is done."""
        chosen = torch.full((len(rows),), self.pad_id, dtype=torch.long)
        for i, row in enumerate(rows):
            if row.finish is not None:
                continue
            self.stats["tokens"] += 1
            allowed = row.matcher.allowed() if row.matcher is not None else None
            if allowed is not None and not bool(allowed.any()):  # the grammar is in an error state
                token = min(self.eos_ids)
            else:
                seen = torch.tensor(row.input_ids + row.tokens, dtype=torch.long)
                token = pick_token(logits[i].cpu(), row.params, seen, len(row.tokens), allowed, row.generator,
                                   self.exempt)
            if row.matcher is not None and token not in self.eos_ids:
                row.matcher.consume(token)
            row.tokens.append(token)
            chosen[i] = token
            self._advance(row)
        return chosen

    def _advance(self, row: GenRequest) -> None:
        last = row.tokens[-1]
        if row.cancel.is_set() or self._closed.is_set():
            row.finish = "abort"
        elif last in self.eos_ids and not row.params.ignore_eos:
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
        if row.finish is not None:
            row.emit("done", (row.finish, len(row.tokens)))

    def _finish_rows(self) -> None:
        """Drop finished rows from the batch (and the padding nobody needs any more)."""
        b = self._batch
        if b is None:
            return
        keep = [i for i, r in enumerate(b.rows) if r.finish is None]
        if len(keep) == len(b.rows):
            return
        if not keep:
            self._batch = None
            return
        idx = torch.tensor(keep, dtype=torch.long)
        b.cache.batch_select_indices(idx.to(self.device))
        b.rows, b.mask, b.last = [b.rows[i] for i in keep], b.mask[idx], b.last[idx]
        unused = int((b.mask.sum(0) == 0).long().cumprod(0).sum())  # leading all-padding columns
        if unused:
            b.mask = b.mask[:, unused:]
            for layer in b.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, unused:], layer.values[:, :, unused:]

    def _shutdown(self) -> None:
        for r in (self._batch.rows if self._batch else []):
            if r.finish is None:
                r.finish = "abort"
                r.emit("done", ("abort", len(r.tokens)))
        self._batch = None
        while True:
            try:
                self._take(self._queue.get_nowait())
            except queue.Empty:
                break
        for r in self._waiting:
            r.emit("error", RuntimeError("the server is shutting down"))
        for _, fut, _ in self._commands:
            fut.set_exception(RuntimeError("the server is shutting down"))


def _merge(a: _Batch, b: _Batch) -> _Batch:
    """One batch of both: the shorter cache is left-padded (masked) to the longer one's length."""
    la, lb = a.mask.shape[1], b.mask.shape[1]
    width = max(la, lb)
    for x, length in ((a, la), (b, lb)):
        if length < width:
            x.mask = F.pad(x.mask, (width - length, 0))
            for layer in x.cache.layers:
                layer.keys = F.pad(layer.keys, (0, 0, width - length, 0))
                layer.values = F.pad(layer.values, (0, 0, width - length, 0))
    for la_, lb_ in zip(a.cache.layers, b.cache.layers, strict=True):
        la_.keys = torch.cat([la_.keys, lb_.keys], dim=0)
        la_.values = torch.cat([la_.values, lb_.values], dim=0)
    return _Batch(a.rows + b.rows, a.cache, torch.cat([a.mask, b.mask], dim=0), torch.cat([a.last, b.last]))


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """End-of-turn tokens: the generation config's, plus the tokenizer's end token."""
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    out = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        out.add(int(tokenizer.eos_token_id))
    return out
