"""Chat tab: the conversation with the drafting agent on the left, draft cards to decide on the right."""

from __future__ import annotations

import uuid
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
            flags.append("reasoning missing")
        sources = "\n".join(f"  - `{x['id']}` *{x['title']}*: {x['text'][:300]}" for x in d.get("sources", []))
        parts.append(
            f"### Draft {d['number']} (v{d['version']}) · {d['domain']}\n**Prompt** {d['prompt']}\n\n"
            f"**Reasoning** {d['reasoning']}\n\n**Response** {d['response']}\n\n"
            f"voice {s.get('voice')} · reasoning {s.get('reasoning_style')} · accuracy {s.get('technical_accuracy')}"
            f" · analogy {s.get('analogy_use')} · **overall {s.get('overall')}**"
            + (f" · ⚠ {'; '.join(flags)}" if flags else "")
            + (f"\n\n<details><summary>sources ({len(d.get('sources', []))})</summary>\n\n{sources}\n\n</details>"
               if sources else ""))
    return "\n\n---\n\n".join(parts)


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


async def send_turn(services: Any, thread_id: str, history: list[dict[str, str]], review: dict[str, Any] | None,
                    text: str | None = None, reply: Any = None) -> tuple[list[dict[str, str]], dict[str, Any] | None]:
    """One turn through the graph; returns the new chat history and the review now waiting."""
    from agent.graph import open_graph, send
    from ui.commands.agent import make_context

    ctx = make_context(services)
    said = text if text is not None else (reply if isinstance(reply, str) else "(decision from the cards)")
    history = [*history, {"role": "user", "content": said}]
    async with open_graph(services.settings.checkpoints_path) as graph:
        res = await (send(graph, thread_id, ctx, resume=reply) if review else send(graph, thread_id, ctx, message=text))
    new_review = res["review"]
    if new_review:
        note = new_review.get("notice") or f"{len(new_review['drafts'])} draft(s) ready on the right."
        history.append({"role": "assistant", "content": note})
    elif res["reply"]:
        history.append({"role": "assistant", "content": res["reply"]})
    return history, new_review


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
        with gr.Column(scale=1):
            cards = gr.Markdown(cards_markdown(None))
            approve = gr.CheckboxGroup(label="Approve", choices=[])
            reject = gr.CheckboxGroup(label="Reject", choices=[])
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

    async def on_message(text: str, history: list[dict[str, str]], rv: dict[str, Any] | None,
                         tid: str) -> dict[Any, Any]:
        if not text.strip():
            return refresh(history, rv)
        try:
            h, new = await send_turn(services, tid, history, rv, text=None if rv else text, reply=text if rv else None)
        except Exception as e:  # domain errors become one line in the UI
            from core.errors import IdiolectError

            if isinstance(e, IdiolectError):
                raise gr.Error(str(e)) from e
            raise
        return refresh(h, new)

    async def on_decide(history: list[dict[str, str]], rv: dict[str, Any] | None, tid: str, a: list[str], r: list[str],
                        en: str | None, ef: str | None, et: str, rev: str) -> dict[Any, Any]:
        if not rv:
            raise gr.Error("No drafts are waiting for a decision.")
        h, new = await send_turn(services, tid, history, rv, reply=decision_from_form(rv, a, r, en, ef, et, rev))
        return refresh(h, new)

    outputs = [chat, review, cards, msg, edit_text, revise, approve, reject, edit_number]
    msg.submit(on_message, [msg, chat, review, thread], outputs)
    decide.click(on_decide, [chat, review, thread, approve, reject, edit_number, edit_field, edit_text, revise],
                 outputs)
