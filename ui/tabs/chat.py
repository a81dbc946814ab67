"""Chat tab: the conversation with the drafting agent on the left, draft cards to decide on the right."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

LABEL = "Chat"


def cards_markdown(review: dict[str, Any] | None) -> str:
    """Render the open drafts as markdown cards, each with its scores, checks and sources."""
    if not review:
        return "_No drafts waiting. Ask for some on the left, e.g. “draft 3 examples on why I self-host”._"
    parts = [f"> {review['notice']}\n"] if review.get("notice") else []
    for d in review["drafts"]:
        s = d.get("scores") or {}
        c = d.get("checks") or {}
        flags = []
        if c.get("assistant_isms"):
            flags.append("assistant-isms: " + ", ".join(c["assistant_isms"]))
        if not c.get("reasoning_present", True):
            flags.append("reasoning missing" if not d.get("reasoning", "").strip() else "reasoning too short")
        sources = "\n".join(f"  - `{x['id']}` *{x['title']}*: {x['text'][:300]}" for x in d.get("sources", []))
        parts.append(
            f"### Draft {d['number']} (v{d['version']}) · {d['domain']}\n**Prompt** {d['prompt']}\n\n"
            f"**Reasoning** {d['reasoning']}\n\n**Response** {d['response']}\n\n"
            + score_line(s, c) + (f" · ⚠ {'; '.join(flags)}" if flags else "")
            + (f"\n\n<details><summary>sources ({len(d.get('sources', []))})</summary>\n\n{sources}\n\n</details>"
               if sources else ""))
    return "\n\n---\n\n".join(parts)


def describe_decision(reply: Any) -> str:
    """Say in words what the owner chose on the cards (it becomes their line in the chat)."""
    if not isinstance(reply, dict):
        return "(decision from the cards)"
    parts = [f"{verb} {', '.join(str(n) for n in reply.get(key) or [])}"
             for key, verb in (("approve", "approve"), ("reject", "reject")) if reply.get(key)]
    parts += [f"edit {n} ({', '.join(fields)})" for n, fields in (reply.get("edits") or {}).items()]
    parts += [f"change {n}: {why}" for n, why in (reply.get("revise") or {}).items()]
    return " · ".join(parts) or "(decision from the cards)"


def score_line(s: dict[str, Any], c: dict[str, Any]) -> str:
    """Return the rubric scores, or in words why there are none (skipped, failed, flagged)."""
    if s.get("overall") is None:
        if c.get("injection"):
            return "**not scored**: echoes instructions planted in a source"
        if c.get("judge_skipped"):
            return f"_not scored: {c['judge_skipped']}_"
        return "_not scored: the judge's reply was unusable_"
    return (f"voice {s.get('voice')} · reasoning {s.get('reasoning_style')} · accuracy {s.get('technical_accuracy')}"
            f" · analogy {s.get('analogy_use')} · **overall {s.get('overall')}**")


def decision_from_form(review: dict[str, Any] | None, approve: list[str], reject: list[str], edit_number: str | None,
                       edit_field: str | None, edit_text: str, revise: str) -> dict[str, Any] | str:
    """Build the review reply from the form: a structured decision, or the owner's words."""
    if revise.strip() and not (approve or reject or edit_text.strip()):
        return revise.strip()
    decision: dict[str, Any] = {"approve": [int(x) for x in approve], "reject": [int(x) for x in reject]}
    if edit_number and edit_field and edit_text.strip():
        decision["edits"] = {int(edit_number): {edit_field: edit_text.strip()}}
    if revise.strip():
        open_ = [n for n in (review or {}).get("numbers", []) if str(n) not in approve + reject]
        decision["revise"] = {n: revise.strip() for n in open_}
    return decision


STAGES = {"understand_request": "Reading your request", "draft": "Drafting", "score": "Scoring the drafts",
          "review": "Reading your decision"}
FRAME_S = 0.25  # at most four screen updates a second while tokens stream


def partial_json(text: str) -> Any:
    """Parse JSON that is still being written: close what is open, trimming a dangling tail."""
    for cut in range(min(len(text), 40) + 1):
        head = text[: len(text) - cut] if cut else text
        stack, in_str, esc = [], False, False
        for ch in head:
            if in_str:
                esc = (ch == "\\") and not esc
                if ch == '"' and not esc:
                    in_str = False
            elif ch == '"':
                in_str, esc = True, False
            elif ch in "{[":
                stack.append("}" if ch == "{" else "]")
            elif ch in "}]" and stack:
                stack.pop()
        tail = ('"' if in_str else "") + "".join(reversed(stack))
        try:
            return json.loads(head + tail)
        except ValueError:
            continue
    return None


def live_text(node: str, text: str) -> str:
    """Render a node's streaming LLM output readably for the chat (a preview, not raw JSON)."""
    stage = STAGES.get(node, "Working")
    data = partial_json(text)
    if node == "draft" and isinstance(data, dict) and (data.get("examples") or data.get("prompt")):
        # A batch ({"examples": [...]}) or, from a small local model, one example per call.
        items = [e for e in data.get("examples") or [data] if isinstance(e, dict)]
        last = items[-1]
        lines = [f"*{stage} example {len(items)}…*" if data.get("examples") else f"*{stage}…*"]
        for field in ("prompt", "reasoning", "response"):
            if last.get(field):
                lines.append(f"**{field.capitalize()}** {last[field]}")
        return "\n\n".join(lines)
    return f"*{stage}… ({len(text)} characters so far)*"


async def stream_turn_ui(services: Any, thread_id: str, history: list[dict[str, str]],
                         review: dict[str, Any] | None, text: str | None = None,
                         reply: Any = None) -> AsyncIterator[tuple[list[dict[str, str]], dict[str, Any] | None]]:
    """One turn through the graph, yielding (history, review) as it goes; the last pair is final."""
    from agent.graph import open_graph, stream_turn
    from ui.ops.context import make_context

    said = text if text is not None else (reply if isinstance(reply, str) else describe_decision(reply))
    history = [*history, {"role": "user", "content": said},
               {"role": "assistant", "content": "*Getting the model ready…*"}]
    yield history, review
    ctx = await asyncio.to_thread(make_context, services)  # may start the local model server
    res: dict[str, Any] = {}
    streamed: dict[str, str] = {}
    last_frame = 0.0
    async with open_graph(services.settings.checkpoints_path) as graph:
        turn = (stream_turn(graph, thread_id, ctx, resume=reply) if review
                else stream_turn(graph, thread_id, ctx, message=text))
        async for kind, value in turn:
            if kind == "result":
                res = value
                continue
            node, piece = value
            streamed[node] = streamed.get(node, "") + piece
            now = time.monotonic()
            if now - last_frame >= FRAME_S:
                last_frame = now
                history[-1] = {"role": "assistant", "content": live_text(node, streamed[node])}
                yield history, review
    new_review = res.get("review")
    if new_review:
        note = new_review.get("notice") or f"{len(new_review['drafts'])} draft(s) ready on the right."
        if res.get("saved_now"):  # the owner approved some and kept reviewing the rest: say so
            note = f"Saved {len(res['saved_now'])} approved example(s). {note}"
        history[-1] = {"role": "assistant", "content": note}
    elif res.get("reply"):
        history[-1] = {"role": "assistant", "content": res["reply"]}
    else:
        history.pop()
    yield history, new_review


async def send_turn(services: Any, thread_id: str, history: list[dict[str, str]], review: dict[str, Any] | None,
                    text: str | None = None, reply: Any = None) -> tuple[list[dict[str, str]], dict[str, Any] | None]:
    """One whole turn (no streaming); returns the new chat history and the review now waiting."""
    frames = [frame async for frame in stream_turn_ui(services, thread_id, history, review, text=text, reply=reply)]
    return frames[-1]


def _choices(review: dict[str, Any] | None) -> list[str]:
    return [str(n) for n in (review or {}).get("numbers", [])]


def build(services: Any) -> None:
    """Lay out the tab (called inside `with gr.Tab(LABEL):`)."""
    thread = gr.State(lambda: f"chat-{uuid.uuid4().hex[:8]}")
    review = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1):
            chat = gr.Chatbot(height=520, label="Agent")
            msg = gr.Textbox(placeholder="draft 3 examples on why I self-host, with my usual analogies",
                             label="Ask, or answer a review in words (“approve 1 and 3, make 2 blunter”)")
            send = gr.Button("Send")
        with gr.Column(scale=1):
            cards = gr.Markdown(cards_markdown(None))
            approve = gr.CheckboxGroup(label="Approve", choices=[], elem_id="chat-approve")
            reject = gr.CheckboxGroup(label="Reject", choices=[], elem_id="chat-reject")
            with gr.Row():
                edit_number = gr.Dropdown(label="Edit draft", choices=[])
                edit_field = gr.Dropdown(label="Field", choices=["prompt", "reasoning", "response", "domain"],
                                         value="response")
            edit_text = gr.Textbox(label="New text", lines=3)
            revise = gr.Textbox(label="Ask for changes to the rest (e.g. “blunter, no bullet points”)")
            decide = gr.Button("Send decision", variant="primary")

    def refresh(history: list[dict[str, str]], rv: dict[str, Any] | None) -> dict[Any, Any]:
        ch = _choices(rv)
        return {chat: history, review: rv, cards: cards_markdown(rv), msg: "", edit_text: "", revise: "",
                approve: gr.update(choices=ch, value=[]), reject: gr.update(choices=ch, value=[]),
                edit_number: gr.update(choices=ch, value=None)}

    async def run_turn(history: list[dict[str, str]], rv: dict[str, Any] | None, tid: str, *,
                       text: str | None = None, reply: Any = None) -> AsyncIterator[dict[Any, Any]]:
        from core.errors import IdiolectError

        frame: tuple[list[dict[str, str]], dict[str, Any] | None] = (history, rv)
        try:
            async for frame in stream_turn_ui(services, tid, history, rv, text=text, reply=reply):
                yield {chat: frame[0], msg: ""}
        except IdiolectError as e:  # the drafts on the table stay where they were: only this turn failed
            shown = [*frame[0][:-1], {"role": "assistant", "content": f"That did not work: {e}"}]
            yield {**refresh(shown, rv), msg: text or ""}
            return
        yield refresh(*frame)

    async def on_message(text: str, history: list[dict[str, str]], rv: dict[str, Any] | None,
                         tid: str) -> AsyncIterator[dict[Any, Any]]:
        if not text.strip():
            yield refresh(history, rv)
            return
        async for update in run_turn(history, rv, tid, text=None if rv else text, reply=text if rv else None):
            yield update

    async def on_decide(history: list[dict[str, str]], rv: dict[str, Any] | None, tid: str, a: list[str], r: list[str],
                        en: str | None, ef: str | None, et: str, rev: str) -> AsyncIterator[dict[Any, Any]]:
        if not rv:
            note = "\n\n**No drafts are waiting for a decision.**"
            yield {**refresh(history, rv), cards: cards_markdown(None) + note}
            return
        async for update in run_turn(history, rv, tid, reply=decision_from_form(rv, a, r, en, ef, et, rev)):
            yield update

    outputs = [chat, review, cards, msg, edit_text, revise, approve, reject, edit_number]
    msg.submit(on_message, [msg, chat, review, thread], outputs, show_progress_on=[chat])
    send.click(on_message, [msg, chat, review, thread], outputs, show_progress_on=[chat])
    decide.click(on_decide, [chat, review, thread, approve, reject, edit_number, edit_field, edit_text, revise],
                 outputs, show_progress_on=[chat])
