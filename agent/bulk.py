"""Bulk generation: the draft and score steps without the review pause, concurrent and resumable.

A run is a fixed list of slots (domain by the requested mix, a deterministic key each).
Every finished slot is stored at once under its key, so a crash loses at most the slots in
flight and a restart does only the slots whose key is missing: exactly N, never a duplicate.
The run record keeps the token usage of every call as it lands (a restart adds to it), and
ends "done", "incomplete" (some slots failed: run again), or "failed" (nothing got done, or
an unexpected error stopped it; the error is in the record): never left "running".
`--batch` sends the same requests through Anthropic Message Batches (agent/bulk_batch.py); the
batch ids live in the run record so a restart polls the batch it already paid for.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from agent.context import Context
from agent.nodes import draft_examples, score_drafts, to_example
from core.errors import ConfigError, LLMError
from core.llm import Usage
from core.schemas import ExampleOrigin, ExampleStatus

SOURCES_PER_SLOT = 3
SOURCE_CHARS = 600
# progress(done, total, usage, failures)
Progress = Callable[[int, int, dict[str, Any], int], None]


@dataclass
class BulkSpec:
    """What to generate. Identical specs share a run id, which is what makes restarts resume."""

    n: int
    mix: dict[str, float]
    batch: bool = False
    generation: int = 0  # bumped by `--new` to start another run with the same mix

    def run_id(self) -> str:
        """Return a stable id for this spec."""
        raw = json.dumps({"n": self.n, "mix": self.mix, "batch": self.batch, "g": self.generation}, sort_keys=True)
        return "bulk-" + hashlib.sha256(raw.encode()).hexdigest()[:10]


@dataclass
class BulkReport:
    """The outcome of one `run_bulk` call."""

    run_id: str
    total: int
    done: int
    created: int
    failed: int
    status: str
    usage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for `--json`."""
        return asdict(self)


def parse_mix(text: str | None, domains: dict[str, float] | list[str]) -> dict[str, float]:
    """'architecture=30,coding=10' -> weights; unknown domains and bad numbers are named."""
    known = list(domains)
    if not text:
        if isinstance(domains, dict):
            return {d: float(w) for d, w in domains.items() if w > 0}
        return {d: 1.0 for d in known}
    mix: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, weight = part.partition("=")
        name = name.strip()
        if name not in known:
            raise ConfigError(f"--mix: unknown domain {name!r}; the taxonomy is {', '.join(known)}")
        try:
            w = float(weight) if sep else 1.0
        except ValueError:
            raise ConfigError(f"--mix: {part!r} needs a number after '=' (e.g. {name}=30)") from None
        if w < 0:
            raise ConfigError(f"--mix: weight of {name} must not be negative")
        mix[name] = w
    if not any(mix.values()):
        raise ConfigError("--mix: at least one domain needs a positive weight")
    return mix


def allocate(n: int, mix: dict[str, float]) -> list[str]:
    """Return the domain of each of n slots: largest remainder, interleaved so any prefix is balanced."""
    total = sum(mix.values())
    quotas = {d: n * w / total for d, w in mix.items()}
    counts = {d: int(q) for d, q in quotas.items()}
    for d in sorted(quotas, key=lambda d: (-(quotas[d] - counts[d]), d))[: n - sum(counts.values())]:
        counts[d] += 1
    # Interleave by "how far behind its share" each domain is, deterministically.
    out: list[str] = []
    given = dict.fromkeys(counts, 0)
    for i in range(n):
        d = max((d for d in counts if given[d] < counts[d]),
                key=lambda d: (counts[d] * (i + 1) / n - given[d], -list(counts).index(d)))
        given[d] += 1
        out.append(d)
    return out


def slot_key(run_id: str, i: int) -> str:
    """Return the idempotency key of slot i."""
    return f"{run_id}:{i:06d}"


class SourcePicker:
    """Deterministic, varied grounding for each slot: a seed message of the owner, plus neighbours."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        msgs = ctx.store.conversations.messages(role="person")
        self.seeds = [m for m in msgs if len(m.own_text.split()) >= 8 and m.pasted_share < 0.5]

    def pick(self, key: str, domain: str) -> list[dict[str, Any]]:
        if not self.seeds:
            return []
        h = int(hashlib.sha256(key.encode()).hexdigest(), 16)
        seed = self.seeds[h % len(self.seeds)]
        hits: list[dict[str, Any]] = []
        if self.ctx.index is not None:
            found = self.ctx.index.search(f"{domain}: {seed.own_text[:300]}", SOURCES_PER_SLOT, diverse=True)
            hits = [x.model_dump(mode="json") for x in found]
        if not any(x["message_id"] == seed.id for x in hits):
            hits = [{"message_id": seed.id, "conversation_id": seed.conversation_id, "conversation_title": "",
                     "text": seed.own_text, "context": ""}, *hits][:SOURCES_PER_SLOT]
        return [{**x, "text": x["text"][:SOURCE_CHARS], "context": (x.get("context") or "")[:200]} for x in hits]


# Slots of one domain would otherwise share one prompt; a per-slot shape keeps the set varied.
PROMPT_SHAPES = ["a short, casual question", "a request for a decision between two options",
                 "a request to review or critique something", "a detailed question with context",
                 "a 'why do you…' question about a habit or opinion", "a request to explain something to a newcomer",
                 "a troubleshooting question", "a skeptical challenge to one of their views"]


def _request(domain: str, key: str) -> dict[str, Any]:
    shape = PROMPT_SHAPES[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(PROMPT_SHAPES)]
    return {"topic": f"something the owner would plausibly be asked about {domain}, grounded in the sources",
            "count": 1, "domain": domain, "constraints": [f"the prompt is {shape}", f"slot {key}"], "query": ""}


def _conversation(hits: list[dict[str, Any]], source_ids: list[str]) -> str | None:
    conv = {h["message_id"]: h["conversation_id"] for h in hits}
    return next((conv[s] for s in source_ids if s in conv), None)


def _open_run(ctx: Context, spec: BulkSpec, run_id: str) -> tuple[list[str], set[str], Usage]:
    """Mark the run running; return its slots' domains, the keys already stored, and the usage so far."""
    store = ctx.store.examples
    rec = store.bulk_run(run_id)
    if rec is None:
        store.put_bulk_run(run_id, spec=asdict(spec), status="running", counts={"done": 0, "failed": 0})
    else:
        store.put_bulk_run(run_id, status="running")
    prior = Usage().merge(dict(((rec or {}).get("counts") or {}).get("usage") or {}))
    return allocate(spec.n, spec.mix), store.keys_for_run(run_id), prior


def _record_usage(ctx: Context, run_id: str, prior: Usage, usage: Usage, **counts: Any) -> None:
    """Store the run's usage so far (every call before a crash stays counted)."""
    prev = (ctx.store.examples.bulk_run(run_id) or {}).get("counts") or {}
    ctx.store.examples.put_bulk_run(run_id, counts={
        **prev, **counts, "usage": Usage().merge(prior).merge(usage).as_dict()})


def _close_run(ctx: Context, report: BulkReport, prior: Usage, extra: dict[str, Any] | None = None) -> BulkReport:
    if report.done >= report.total:
        report.status = "done"
    elif report.created == 0 and report.failed:
        report.status = "failed"  # nothing of this run got done: say so, with the reasons
    else:
        report.status = "incomplete"
    prev = (ctx.store.examples.bulk_run(report.run_id) or {}).get("counts") or {}
    total = Usage().merge(prior).merge(report.usage)
    ctx.store.examples.put_bulk_run(report.run_id, status=report.status, counts={
        **prev, "done": report.done, "failed": report.failed, "usage": total.as_dict(),
        "errors": report.errors, **(extra or {})})
    return report


def _abort_run(ctx: Context, run_id: str, prior: Usage, usage: Usage, error: BaseException) -> None:
    """Record the run as failed, with the usage so far: an unexpected error (a bug, Ctrl-C) stopped it."""
    why = f"{type(error).__name__}: {error}"[:500]
    prev = (ctx.store.examples.bulk_run(run_id) or {}).get("counts") or {}
    ctx.store.examples.put_bulk_run(run_id, status="failed", counts={
        **prev, "error": why, "usage": Usage().merge(prior).merge(usage).as_dict()})


async def run_bulk(ctx: Context, spec: BulkSpec, *, concurrency: int = 8, progress: Progress | None = None,
                   run_id: str | None = None) -> BulkReport:
    """Generate the run's missing slots concurrently; each lands as a pending example at once."""
    run_id = run_id or spec.run_id()
    started = time.perf_counter()
    domains, have, prior = _open_run(ctx, spec, run_id)
    todo = [i for i in range(spec.n) if slot_key(run_id, i) not in have]
    report = BulkReport(run_id, spec.n, len(have), 0, 0, "running")
    usage = Usage()
    picker = SourcePicker(ctx)
    gate = asyncio.Semaphore(max(1, concurrency))
    aborted: list[BaseException] = []

    async def one(i: int) -> None:
        async with gate:
            if aborted:  # an unexpected error stopped the run: no slot starts after it
                return
            try:
                await slot(i)
            except BaseException as e:
                aborted.append(e)
                raise

    async def slot(i: int) -> None:
        key = slot_key(run_id, i)
        # A real index embeds the query on the CPU; keep the loop free for the other slots.
        hits = (await asyncio.to_thread(picker.pick, key, domains[i]) if ctx.index is not None
                else picker.pick(key, domains[i]))
        try:
            drafts, u1, err = await draft_examples(ctx, _request(domains[i], key), hits, 1)
            usage.merge(u1)
            if err is None:
                drafts, u2, _ = await score_drafts(ctx, drafts)
                usage.merge(u2)
        except LLMError as e:  # the SDK already retried; leave the slot for the next run
            drafts, err = [], str(e)
        if err is not None or not drafts:
            report.failed += 1
            if len(report.errors) < 5:
                report.errors.append(f"slot {i}: {err}")
            _record_usage(ctx, run_id, prior, usage)
        else:
            ex = to_example(drafts[0], status=ExampleStatus.pending, origin=ExampleOrigin.bulk, run_id=run_id,
                            key=key, conversation_id=_conversation(hits, drafts[0]["source_ids"]))
            stored, created = ctx.store.examples.add_keyed(ex)
            report.done += 1
            report.created += created
            _record_usage(ctx, run_id, prior, usage)
            if created:  # embedding is CPU work: keep the event loop free for the other slots
                await asyncio.to_thread(ctx.notify_saved, [stored])
        if progress:
            progress(report.done, report.total, usage.as_dict(), report.failed)

    try:
        await asyncio.gather(*(one(i) for i in todo))
    except BaseException as e:  # a bug or an interruption, not an LLM failure: never leave it "running"
        _abort_run(ctx, run_id, prior, usage, e)
        raise
    report.usage = usage.as_dict()
    report.seconds = round(time.perf_counter() - started, 3)
    return _close_run(ctx, report, prior)


# The Message Batches variant lives in agent/bulk_batch.py (same slots, keys and run record).
from agent.bulk_batch import run_bulk_batch  # noqa: E402  (it imports this module's helpers)

__all__ = ["BulkReport", "BulkSpec", "allocate", "parse_mix", "run_bulk", "run_bulk_batch", "slot_key"]
