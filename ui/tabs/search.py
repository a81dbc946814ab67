"""Search tab: find your own past messages by words and meaning, with the turn they answered."""

from __future__ import annotations

import html

import gradio as gr

from ui.services import Services


def index_note(services: Services) -> str:
    """Return a line for above the results while the meaning index fills (empty once it is complete)."""
    from agent.index import dense_status
    from ui.ops.dense_fill import progress_line

    st = dense_status(services.store)
    return "" if st["embedded"] >= st["chunks"] else f"*{progress_line(st)}*\n\n"


def search_markdown(services: Services, query: str, k: int = 8) -> str:
    if not query.strip():
        return "Type what you're looking for: a topic, an opinion, a phrase you use."
    from ui.ops.search import search_for_person, why_nothing

    hits = search_for_person(services, query, k)
    note = index_note(services)
    if not hits:
        return note + html.escape(why_nothing(services, query, import_hint="Import tab"))
    parts = []
    for i, h in enumerate(hits, 1):
        when = h.created_at.date().isoformat() if h.created_at else ""
        ctx = (f"<details><summary>what you were answering</summary>\n\n> "
               f"{html.escape(h.context[-600:]).replace(chr(10), chr(10) + '> ')}\n</details>") if h.context else ""
        parts.append(f"**{i}. {html.escape(h.conversation_title or h.conversation_id)}** · {when} · "
                     f"score {h.score:.2f}\n\n{html.escape(h.text[:1200])}\n\n{ctx}")
    return note + "\n\n---\n\n".join(parts)


def build(services: Services) -> None:
    with gr.Row():
        q = gr.Textbox(label="Search your messages", placeholder="why I self-host", scale=5, elem_id="search-q")
        k = gr.Slider(1, 30, value=8, step=1, label="Results", scale=1)
        go = gr.Button("Search", variant="primary", scale=1, elem_id="search-go")
    out = gr.Markdown(elem_id="search-out")
    gr.on([q.submit, go.click], lambda query, n: search_markdown(services, query, n), inputs=[q, k], outputs=out)
