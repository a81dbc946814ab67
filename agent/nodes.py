"""Graph nodes: understand the request, retrieve, draft, score, review (interrupt), save approved.

The drafting and scoring steps are plain functions too (`draft_examples`, `score_drafts`) so
bulk generation runs exactly the same code without the review pause.
"""

from __future__ import annotations

import asyncio
import uuid
from statistics import mean
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent import compact, prompts
from agent.checks import check_draft, planted_instructions
from agent.context import Context
from agent.decisions import parse_reply, validate
from agent.state import Decision, DraftBatch, Request, RubricBatch, State
from core.errors import LLMError
from core.llm import Usage, ainvoke_structured, model_name_of
from core.schemas import Example, ExampleOrigin, ExampleStatus, Scores, utcnow

HINT = "approve 1 and 3 · reject 2 · make 2 blunter · edit 2 response: … · approve all · done"
CONTENT = ("prompt", "reasoning", "response", "domain", "tags")


# --------------------------------------------------------------------------- shared steps


def new_draft(item: dict[str, Any], number: int, ctx: Context, hits: list[dict[str, Any]],
              fallback_domain: str | None) -> dict[str, Any]:
    """Build a draft record from one validated DraftItem dump."""
    allowed = {h["message_id"] for h in hits}
    domain = item["domain"] if item["domain"] in ctx.domains else (fallback_domain or _default_domain(ctx))
    # Every source the model was shown is untrusted: a draft repeating what was planted there is flagged.
    injection = planted_instructions([f"{h.get('context') or ''}\n{h['text']}" for h in hits], item)
    return {
        "number": number, "uid": uuid.uuid4().hex[:12], "version": 1,
        "prompt": item["prompt"], "reasoning": item["reasoning"], "response": item["response"],
        "domain": domain, "tags": [t.lower() for t in item.get("tags") or []][:8],
        # Provenance is only what was actually retrieved: a model cannot cite ids it was not shown.
        "source_ids": [s for s in item.get("source_ids") or [] if s in allowed],
        "status": "pending", "scores": None, "checks": {}, "revision": None, "edits": [], "saved_id": None,
        "model": ctx.model_name or model_name_of(ctx.llm), "prompt_version": prompts.PROMPT_VERSION,
        **({"injection": injection} if injection else {}),
    }


def _default_domain(ctx: Context) -> str:
    return "reasoning" if "reasoning" in ctx.domains else ctx.domains[0]


async def draft_examples(ctx: Context, request: dict[str, Any], hits: list[dict[str, Any]], count: int,
                         first_number: int = 1) -> tuple[list[dict[str, Any]], Usage, str | None]:
    """Draft `count` new examples; ([], usage, why) when the model's replies were unusable."""
    if ctx.compact:
        items, usage, error = await compact.draft(ctx, request, hits, count)
        return ([new_draft(it, first_number + n, ctx, hits, request.get("domain")) for n, it in enumerate(items)],
                usage, error)
    msgs = [SystemMessage(prompts.draft_system(ctx.card(), ctx.domains, ctx.person_name)),
            HumanMessage(prompts.draft_request(request, hits, count))]
    out = await ainvoke_structured(ctx.llm, msgs, DraftBatch, retries=ctx.retries, model=ctx.model_name or None)
    if out.value is None:
        return [], out.usage, out.error
    items = [i.model_dump() for i in out.value.examples[:count]]
    return ([new_draft(it, first_number + n, ctx, hits, request.get("domain")) for n, it in enumerate(items)],
            out.usage, None)


async def revise_drafts(ctx: Context, drafts: list[dict[str, Any]],
                        hits: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Usage, str | None]:
    """Rewrite `drafts` as their `revision` asks; unchanged list and why on failure."""
    if ctx.compact:
        items, usage, error = await compact.revise(ctx, drafts, hits)
        return _revised(ctx, drafts, items, hits) if items is not None else drafts, usage, error
    msgs = [SystemMessage(prompts.draft_system(ctx.card(), ctx.domains, ctx.person_name)),
            HumanMessage(prompts.revise_request(drafts, hits))]
    out = await ainvoke_structured(ctx.llm, msgs, DraftBatch, retries=ctx.retries, model=ctx.model_name or None)
    if out.value is None or len(out.value.examples) != len(drafts):
        return drafts, out.usage, out.error or f"expected {len(drafts)} revised drafts, got {len(out.value.examples)}"  # type: ignore[union-attr]
    return _revised(ctx, drafts, [i.model_dump() for i in out.value.examples], hits), out.usage, None


def _revised(ctx: Context, drafts: list[dict[str, Any]], items: list[dict[str, Any]],
             hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the new versions of `drafts`, each keeping its uid and logging the revision."""
    revised = []
    for old, item in zip(drafts, items, strict=True):  # the callers check the lengths
        fresh = new_draft(item, old["number"], ctx, hits, old["domain"])
        log = {"by": "owner", "kind": "revision", "request": old["revision"], "at": utcnow().isoformat(),
               "before": {k: old[k] for k in CONTENT}}
        revised.append({**fresh, "uid": old["uid"], "version": old["version"] + 1, "edits": [*old["edits"], log]})
    return revised


async def score_drafts(ctx: Context, drafts: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Usage, str | None]:
    """Deterministic checks plus the LLM rubric; rubric fields stay None if the judge fails.

    A draft that echoes instructions planted in its sources is flagged and never judged: a
    high score must not carry a poisoned example toward the dataset.
    """
    flagged = {d["uid"]: unscored(d, judge_skipped="echoes instructions planted in a source")
               for d in drafts if d.get("injection")}
    todo = [d for d in drafts if d["uid"] not in flagged]
    if ctx.compact and ctx.judge is None:
        skipped = [flagged.get(d["uid"]) or unscored(d, judge_skipped=compact.JUDGE_SKIPPED) for d in drafts]
        return skipped, Usage(), None
    if not todo:
        return [flagged[d["uid"]] for d in drafts], Usage(), None
    judge = ctx.judge or ctx.llm
    msgs = [SystemMessage(prompts.judge_system(ctx.card(), ctx.domains, ctx.person_name)),
            HumanMessage(prompts.judge_request(todo))]
    out = await ainvoke_structured(judge, msgs, RubricBatch, retries=ctx.retries)
    by_number = {s.number: s for s in out.value.scores} if out.value else {}
    scored = []
    for d in drafts:
        if d["uid"] in flagged:
            scored.append(flagged[d["uid"]])
            continue
        checks = check_draft(d)
        s = by_number.get(d["number"])
        if s is None:
            scores = Scores(checks={**checks, "judge_failed": True}).model_dump()
        else:
            dims = [s.voice, s.reasoning_style, s.technical_accuracy, s.analogy_use]
            scores = Scores(voice=s.voice, reasoning_style=s.reasoning_style,
                            technical_accuracy=s.technical_accuracy, analogy_use=s.analogy_use,
                            overall=round(mean(dims), 2), checks={**checks, "note": s.note}).model_dump()
        scored.append({**d, "scores": scores, "checks": checks})
    return scored, out.usage, out.error if not by_number else None


def to_example(d: dict[str, Any], *, status: ExampleStatus, origin: ExampleOrigin, run_id: str | None,
               key: str | None, conversation_id: str | None) -> Example:
    """Build the stored example for a draft, with its provenance."""
    return Example(
        prompt=d["prompt"], reasoning=d["reasoning"], response=d["response"], domain=d["domain"],
        tags=list(d["tags"]), status=status, origin=origin, source_message_ids=list(d["source_ids"]),
        conversation_id=conversation_id, model=d.get("model"), prompt_version=d.get("prompt_version"),
        scores=Scores(**(d.get("scores") or {})), edits=list(d.get("edits") or []), run_id=run_id, key=key,
    )


def _spent(usage: Usage, step: str, error: str | None) -> dict[str, Any]:
    return {"usage": usage.as_dict(), "failures": {step: 1} if error else {}}


def _thread_id() -> str:
    return str(get_config().get("configurable", {}).get("thread_id", "default"))


# --------------------------------------------------------------------------- nodes


async def understand_request(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Turn the owner's latest message into a Request (topic, count, domain, constraints, query)."""
    ctx = runtime.context
    text = next((str(m.content) for m in reversed(state.messages) if isinstance(m, HumanMessage)), "")
    if ctx.compact:
        req = compact.plain_request(text, ctx.domains, ctx.max_drafts, ctx.domain_keywords)
        return {"request": req.model_dump(), "drafts": [], "hits": [], "notice": None}
    out = await ainvoke_structured(
        ctx.llm, [SystemMessage(prompts.understand_system(ctx.domains, ctx.max_drafts)),
                  HumanMessage(f"<owner_request>\n{text}\n</owner_request>")],
        Request, retries=ctx.retries)
    req = out.value or Request(topic=text[:200], count=3, query=text[:300])
    req.count = max(1, min(req.count, ctx.max_drafts))
    if req.domain not in ctx.domains:
        req.domain = None
    if not req.query.strip():
        req.query = req.topic
    return {"request": req.model_dump(), "drafts": [], "hits": [], "notice": None,
            **_spent(out.usage, "understand", out.error)}


async def retrieve(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Find the owner's relevant past messages, diverse rather than near-copies (read-only)."""
    ctx = runtime.context
    if ctx.index is None or state.request is None:
        return {"hits": []}
    k = max(ctx.k, min(2 * int(state.request["count"]), 20))
    # Embedding the query is CPU work in a sync client; keep the event loop free for the UI.
    hits = await asyncio.to_thread(ctx.index.search, state.request["query"], k, diverse=True)
    return {"hits": [h.model_dump(mode="json") for h in hits]}


async def draft(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Draft the requested examples, or revise the ones the owner asked to change."""
    ctx = runtime.context
    todo = [d for d in state.drafts if d["status"] == "revise"]
    if todo:
        try:
            revised, usage, error = await revise_drafts(ctx, todo, state.hits)
        except LLMError as e:  # the owner's drafts must survive a failing model
            revised, usage, error = todo, Usage(), str(e)
        by_uid = {d["uid"]: d for d in revised}
        drafts = [by_uid.get(d["uid"], d) for d in state.drafts]
        if error:  # keep the old text, put it back in front of the owner with the reason
            drafts = [{**d, "status": "pending"} if d["status"] == "revise" else d for d in drafts]
        return {"drafts": drafts, "notice": f"The revision failed ({error}); here are the drafts as they were."
                if error else None, **_spent(usage, "revise", error)}
    assert state.request is not None, "draft needs a request"
    try:
        new, usage, error = await draft_examples(ctx, state.request, state.hits, int(state.request["count"]))
    except LLMError as e:
        new, usage, error = [], Usage(), str(e)
    if error and new:  # some drafts came back: show them, and say what happened to the rest
        return {"drafts": new, "notice": error, **_spent(usage, "draft", error)}
    if error:
        why = f"I could not produce usable drafts ({error}). Try rephrasing the request."
        return {"drafts": [], "notice": None, "messages": [AIMessage(why)], **_spent(usage, "draft", error)}
    return {"drafts": new, "notice": None, **_spent(usage, "draft", error)}


async def score(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Score every unscored draft: rubric from the judge plus deterministic checks."""
    todo = [d for d in state.drafts if d["status"] == "pending" and d["scores"] is None]
    if not todo:
        return {}
    notice = None
    try:
        scored, usage, error = await score_drafts(runtime.context, todo)
    except LLMError as e:  # the judge is down: show the drafts unscored rather than lose them
        scored, usage, error = [unscored(d) for d in todo], Usage(), str(e)
        notice = f"The judge failed ({e}); the drafts are shown unscored."
    by_uid = {d["uid"]: d for d in scored}
    return {"drafts": [by_uid.get(d["uid"], d) for d in state.drafts], "notice": notice,
            **_spent(usage, "score", error)}


def unscored(d: dict[str, Any], **flags: Any) -> dict[str, Any]:
    """Return a draft with its deterministic checks and no rubric scores (judge failed or skipped)."""
    checks = {**check_draft(d), **flags}
    return {**d, "scores": Scores(checks={**checks, "judge_failed": not flags}).model_dump(), "checks": checks}


def card(d: dict[str, Any], hits: list[dict[str, Any]]) -> dict[str, Any]:
    """Return what the owner sees of a draft: content, scores, checks and its sources."""
    by_id = {h["message_id"]: h for h in hits}
    return {**{k: d[k] for k in ("number", "version", *CONTENT, "scores", "checks", "status")},
            "sources": [{"id": s, "title": by_id[s].get("conversation_title", ""), "text": by_id[s]["text"]}
                        for s in d["source_ids"] if s in by_id]}


async def review(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pause for the owner; read their decision. Only the owner's reply can approve anything."""
    open_ = [d for d in state.drafts if d["status"] == "pending"]
    numbers = [d["number"] for d in open_]
    reply = interrupt({"kind": "review", "notice": state.notice, "numbers": numbers, "hint": HINT,
                       "drafts": [card(d, state.hits) for d in open_]})
    said = reply if isinstance(reply, str) else f"[review] {reply}"
    decision = parse_reply(reply, numbers)
    if decision.is_empty() and isinstance(reply, str) and not runtime.context.compact:
        try:
            decision = await _interpret(runtime.context, reply, numbers)
        except LLMError as e:  # keep the drafts in front of the owner; the plain commands need no LLM
            return {"notice": f"I could not read that reply ({e}). Try: {HINT}", "messages": [HumanMessage(said)]}
    problem = validate(decision, numbers) or (
        "I couldn't tell what to do with the drafts." if decision.is_empty() else None)
    if problem:
        return {"notice": f"{problem} Try: {HINT}", "messages": [HumanMessage(said)]}
    return {"drafts": apply_decision(state.drafts, decision), "notice": None, "messages": [HumanMessage(said)]}


async def _interpret(ctx: Context, reply: str, numbers: list[int]) -> Decision:
    """Let the LLM read a free-form reply.

    It sees only the owner's words and the open numbers, never retrieved text or draft content,
    so nothing planted in a source can steer it.
    """
    msgs = [SystemMessage("Read the owner's reply about numbered drafts into a Decision. Approve or reject "
                          "only what the owner explicitly approves or rejects; anything they want changed "
                          "goes in `revise` with their words."),
            HumanMessage(f"Open drafts: {numbers}\n<owner_reply>\n{reply}\n</owner_reply>")]
    out = await ainvoke_structured(ctx.llm, msgs, Decision, retries=0)
    return out.value or Decision()


def apply_decision(drafts: list[dict[str, Any]], decision: Decision) -> list[dict[str, Any]]:
    """Drafts with the owner's decision applied (edits logged before -> after)."""
    out = []
    for d in drafts:
        n, d = d["number"], dict(d)
        if d["status"] != "pending":
            out.append(d)
            continue
        for field_name, value in decision.edits.get(n, {}).items():
            if field_name in CONTENT and d[field_name] != value:
                d["edits"] = [*d["edits"], {"by": "owner", "kind": "edit", "field": field_name,
                                            "before": d[field_name], "after": value, "at": utcnow().isoformat()}]
                d[field_name] = value
                d["checks"] = check_draft(d)
                if d["scores"]:
                    d["scores"] = {**d["scores"], "checks": {**d["checks"], "edited_after_scoring": True}}
        if n in decision.approve:
            d["status"] = "approved"
        elif n in decision.reject:
            d["status"] = "rejected"
        elif n in decision.revise:
            d["status"], d["revision"] = "revise", decision.revise[n]
        elif decision.done:
            d["status"] = "rejected"
        out.append(d)
    return out


async def save_approved(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Store the drafts the owner approved, with provenance; the only node that writes."""
    ctx = runtime.context
    thread = _thread_id()
    conv_of = {h["message_id"]: h["conversation_id"] for h in state.hits}
    drafts, saved, stored_examples = [], [], []
    for d in state.drafts:
        if d["status"] == "approved":
            ex = to_example(d, status=ExampleStatus.approved, origin=ExampleOrigin.drafted, run_id=thread,
                            key=f"chat:{thread}:{d['uid']}",
                            conversation_id=next((conv_of[s] for s in d["source_ids"] if s in conv_of), None))
            stored, _ = ctx.store.examples.add_keyed(ex)  # keyed: a replayed node cannot save twice
            d = {**d, "status": "saved", "saved_id": stored.id}
            saved.append(stored.id)
            stored_examples.append(stored)
        drafts.append(d)
    ctx.notify_saved(stored_examples)
    update: dict[str, Any] = {"drafts": drafts, "saved_ids": saved}
    if not any(d["status"] in ("pending", "revise") for d in drafts):
        total = sum(1 for d in drafts if d["status"] == "saved")
        update["messages"] = [AIMessage(f"Saved {total} of {len(drafts)} draft{'s' if len(drafts) != 1 else ''} "
                                        "as approved examples. Ask for more whenever you like.")]
    return update
