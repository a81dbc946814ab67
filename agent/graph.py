"""The drafting graph: understand -> retrieve -> draft -> score -> review (interrupt) -> save, looping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from agent.context import Context
from agent.nodes import draft, retrieve, review, save_approved, score, understand_request
from agent.state import InputState, State


def after_draft(state: State) -> Literal["score", "review", "__end__"]:
    """Score fresh drafts; with none at all (the model failed) tell the owner and stop."""
    if any(d["status"] == "pending" and d["scores"] is None for d in state.drafts):
        return "score"
    if any(d["status"] == "pending" for d in state.drafts):
        return "review"
    return "__end__"


def after_review(state: State) -> Literal["review", "save_approved"]:
    """Ask again when the reply could not be applied."""
    return "review" if state.notice else "save_approved"


def after_save(state: State) -> Literal["draft", "review", "__end__"]:
    """Revise what the owner asked to change, show what is still open, else finish."""
    if any(d["status"] == "revise" for d in state.drafts):
        return "draft"
    if any(d["status"] == "pending" for d in state.drafts):
        return "review"
    return "__end__"


def build_graph() -> StateGraph:
    """Build the uncompiled graph (tests compile it with their own checkpointer)."""
    g = StateGraph(State, input_schema=InputState, context_schema=Context)
    g.add_node("understand_request", understand_request)
    g.add_node("retrieve", retrieve)
    g.add_node("draft", draft)
    g.add_node("score", score)
    g.add_node("review", review)
    g.add_node("save_approved", save_approved)
    g.add_edge(START, "understand_request")
    g.add_edge("understand_request", "retrieve")
    g.add_edge("retrieve", "draft")
    g.add_conditional_edges("draft", after_draft)
    g.add_edge("score", "review")
    g.add_conditional_edges("review", after_review)
    g.add_conditional_edges("save_approved", after_save)
    return g


@asynccontextmanager
async def open_graph(checkpoints_path: Path | str) -> AsyncIterator[CompiledStateGraph]:
    """Open the compiled graph with threads persisted in SQLite, so they survive restarts."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    Path(checkpoints_path).parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(checkpoints_path)) as saver:
        yield build_graph().compile(checkpointer=saver)


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


async def send(graph: CompiledStateGraph, thread_id: str, context: Context, *,
               message: str | None = None, resume: Any = None) -> dict[str, Any]:
    """One turn: a new owner message, or the owner's answer to a pending review.

    Returns {"review": payload or None, "reply": the agent's last words or None, "saved": ids}.
    """
    if (message is None) == (resume is None):
        raise ValueError("send() takes exactly one of message= or resume=")
    inp: Any = Command(resume=resume) if resume is not None else {"messages": [HumanMessage(message)]}
    out = await graph.ainvoke(inp, _config(thread_id), context=context)
    interrupts = out.get("__interrupt__") or []
    msgs = out.get("messages") or []
    last = msgs[-1] if msgs else None
    return {"review": interrupts[0].value if interrupts else None,
            "reply": last.content if isinstance(last, AIMessage) else None,
            "saved": list(out.get("saved_ids") or []), "usage": dict(out.get("usage") or {})}


async def stream_turn(graph: CompiledStateGraph, thread_id: str, context: Context, *,
                      message: str | None = None, resume: Any = None) -> AsyncIterator[tuple[str, Any]]:
    """Run one turn as it happens, yielding what a chat screen shows.

    Yields ("token", (node, text)) for each piece an LLM call streams, then ("result", the
    dict `send` returns) once the graph pauses for review or ends.
    """
    if (message is None) == (resume is None):
        raise ValueError("stream_turn() takes exactly one of message= or resume=")
    inp: Any = Command(resume=resume) if resume is not None else {"messages": [HumanMessage(message)]}
    config = _config(thread_id)
    before = set((await graph.aget_state(config)).values.get("saved_ids") or [])
    async for chunk, meta in graph.astream(inp, config, context=context, stream_mode="messages"):
        text = chunk.content if isinstance(chunk.content, str) else ""
        if text and isinstance(chunk, AIMessageChunk):
            yield "token", (str(meta.get("langgraph_node", "")), text)
    snap = await graph.aget_state(config)
    msgs = snap.values.get("messages") or []
    last = msgs[-1] if msgs else None
    yield "result", {"review": snap.interrupts[0].value if snap.interrupts else None,
                     "reply": last.content if isinstance(last, AIMessage) else None,
                     "saved": list(snap.values.get("saved_ids") or []), "usage": dict(snap.values.get("usage") or {}),
                     "saved_now": [i for i in snap.values.get("saved_ids") or [] if i not in before]}


async def pending_review(graph: CompiledStateGraph, thread_id: str) -> dict[str, Any] | None:
    """Return the review a thread is waiting on (e.g. after a restart), or None."""
    snap = await graph.aget_state(_config(thread_id))
    return snap.interrupts[0].value if snap.interrupts else None
