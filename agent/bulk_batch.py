"""Bulk generation through Anthropic Message Batches: the same slots as agent.bulk, at half price.

The open batch's id lives in the run record, so calling this again after a restart polls the
batch already paid for instead of submitting a second one.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from agent.bulk import (
    BulkReport,
    BulkSpec,
    Progress,
    SourcePicker,
    _close_run,
    _conversation,
    _open_run,
    _record_usage,
    _request,
    slot_key,
)
from agent.context import Context
from agent.nodes import new_draft, to_example, unscored
from agent.state import DraftBatch, RubricBatch
from core.errors import ConfigError
from core.llm import Usage, tool_args
from core.schemas import ExampleOrigin, ExampleStatus, Scores

if TYPE_CHECKING:
    from core.llm_anthropic import AnthropicBatches

async def run_bulk_batch(ctx: Context, spec: BulkSpec, batches: AnthropicBatches, *, poll_seconds: float = 30.0,
                         max_polls: int | None = None, progress: Progress | None = None,
                         run_id: str | None = None) -> BulkReport:
    """Run the same slots through Message Batches (half price).

    Survives restarts: the open batch's id is in the run record, so calling this again polls that
    batch rather than resubmitting.
    Returns with status "waiting" when `max_polls` ran out before the batch ended.
    """
    from core.llm_anthropic import AnthropicChat

    if not isinstance(ctx.llm, AnthropicChat):
        raise ConfigError("--batch needs the Anthropic provider (Message Batches); set llm_provider=anthropic")
    run_id = run_id or spec.run_id()
    started = time.perf_counter()
    domains, have, prior = _open_run(ctx, spec, run_id)
    record = ctx.store.examples.bulk_run(run_id) or {}
    state: dict[str, Any] = dict((record.get("counts") or {}).get("batch") or {})
    usage = Usage()
    report = BulkReport(run_id, spec.n, len(have), 0, 0, "running")
    picker = SourcePicker(ctx)
    llm = ctx.llm

    def persist() -> None:
        prev = (ctx.store.examples.bulk_run(run_id) or {}).get("counts") or {}
        ctx.store.examples.put_bulk_run(run_id, counts={**prev, "batch": state})
        _record_usage(ctx, run_id, prior, usage)  # results already read stay counted on the next call

    def waiting() -> BulkReport:
        report.status = "waiting"
        ctx.store.examples.put_bulk_run(run_id, status="waiting")
        return report

    async def wait(batch_id: str) -> bool:
        polls = 0
        while True:
            st = await asyncio.to_thread(batches.status, batch_id)
            if st["status"] == "ended":
                return True
            polls += 1
            if max_polls is not None and polls >= max_polls:
                return False
            await asyncio.sleep(poll_seconds)

    # Phase 1: drafts.
    if not state.get("draft_id"):
        todo = [i for i in range(spec.n) if slot_key(run_id, i) not in have]
        if todo:
            from langchain_core.messages import HumanMessage, SystemMessage

            from agent import prompts

            kwargs = llm.bind_tools([DraftBatch], tool_choice="DraftBatch").kwargs  # type: ignore[attr-defined]
            system = SystemMessage(prompts.draft_system(ctx.card(), ctx.domains, ctx.person_name))
            reqs, slot_hits = {}, {}
            for i in todo:
                hits = picker.pick(slot_key(run_id, i), domains[i])
                slot_hits[str(i)] = hits
                msgs = [system, HumanMessage(prompts.draft_request(_request(domains[i], slot_key(run_id, i)), hits, 1))]
                reqs[f"s{i}"] = llm.request_params(msgs, **kwargs)  # type: ignore[attr-defined]
            state = {"draft_id": await asyncio.to_thread(batches.submit, reqs), "hits": slot_hits}
            persist()
    if state.get("draft_id"):
        if not await wait(state["draft_id"]):
            return waiting()
        results = await asyncio.to_thread(batches.results, state["draft_id"])
        new_examples = []
        for cid, msg in results.items():
            i = int(cid[1:])
            hits = state["hits"].get(str(i), [])
            args = tool_args(msg, "DraftBatch") if not isinstance(msg, str) else None
            if not isinstance(msg, str):
                usage.add_message(msg, llm.model, batch=True)  # type: ignore[attr-defined]
            try:
                item = DraftBatch.model_validate(args).examples[0].model_dump() if args is not None else None
            except ValueError:
                item = None
            if item is None:
                report.failed += 1
                continue
            d = new_draft(item, 1, ctx, hits, domains[i])
            if d.get("injection"):  # flagged now, so the scoring batch leaves it out
                d = unscored(d, judge_skipped="echoes instructions planted in a source")
            ex = to_example(d, status=ExampleStatus.pending, origin=ExampleOrigin.bulk, run_id=run_id,
                            key=slot_key(run_id, i), conversation_id=_conversation(hits, d["source_ids"]))
            stored, created = ctx.store.examples.add_keyed(ex)
            report.created += created
            if created:
                new_examples.append(stored)
        await asyncio.to_thread(ctx.notify_saved, new_examples)
        state = {"score_id": None}
        persist()
    # Phase 2: scores for this run's unscored examples.
    to_score = [e for e in ctx.store.examples.list(run_id=run_id) if e.scores.overall is None
                and not e.scores.checks.get("judge_failed") and not e.scores.checks.get("injection")]
    if to_score and not state.get("score_id"):
        from langchain_core.messages import HumanMessage, SystemMessage

        from agent import prompts

        judge = ctx.judge if isinstance(ctx.judge, AnthropicChat) else llm
        kwargs = judge.bind_tools([RubricBatch], tool_choice="RubricBatch").kwargs  # type: ignore[attr-defined]
        system = SystemMessage(prompts.judge_system(ctx.card(), ctx.domains, ctx.person_name))
        reqs = {f"e{n}": judge.request_params(  # type: ignore[attr-defined]
            [system, HumanMessage(prompts.judge_request([{**e.model_dump(), "number": 1}]))], **kwargs)
            for n, e in enumerate(to_score)}
        state = {"score_id": await asyncio.to_thread(batches.submit, reqs), "ids": [e.id for e in to_score]}
        persist()
    if state.get("score_id"):
        if not await wait(state["score_id"]):
            return waiting()
        results = await asyncio.to_thread(batches.results, state["score_id"])
        from agent.checks import check_draft

        for cid, msg in results.items():
            ex = ctx.store.examples.get(state["ids"][int(cid[1:])])
            checks = check_draft(ex.model_dump())
            try:
                s = (RubricBatch.model_validate(tool_args(msg, "RubricBatch")).scores[0]
                     if not isinstance(msg, str) else None)
            except ValueError:
                s = None
            if not isinstance(msg, str):
                usage.add_message(msg, llm.model, batch=True)  # type: ignore[attr-defined]
            if s is None:
                scores = Scores(checks={**checks, "judge_failed": True})
            else:
                dims = [s.voice, s.reasoning_style, s.technical_accuracy, s.analogy_use]
                scores = Scores(voice=s.voice, reasoning_style=s.reasoning_style,
                                technical_accuracy=s.technical_accuracy, analogy_use=s.analogy_use,
                                overall=round(sum(dims) / 4, 2), checks=checks)
            ctx.store.examples.update(ex.id, editor="judge", scores=scores)
        state = {}
        persist()
    report.done = len(ctx.store.examples.keys_for_run(run_id))
    report.usage = usage.as_dict()
    report.seconds = round(time.perf_counter() - started, 3)
    if progress:
        progress(report.done, report.total, report.usage, report.failed)
    return _close_run(ctx, report, prior, {"batch": state})
