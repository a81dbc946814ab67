"""Search tab: find your own past messages by meaning, with the turn they answered."""

from __future__ import annotations

import html

import gradio as gr

from ui.services import Services


def search_markdown(services: Services, query: str, k: int = 8) -> str:
    if not query.strip():
        return "Type what you're looking for: a topic, an opinion, a phrase you use."
    hits = services.message_index.search(query, k=int(k))
    if not hits:
        return "No matches. Import an export first (Import tab)."
    parts = []
    for i, h in enumerate(hits, 1):
        when = h.created_at.date().isoformat() if h.created_at else ""
        ctx = (f"<details><summary>what you were answering</summary>\n\n> "
               f"{html.escape(h.context[-600:]).replace(chr(10), chr(10) + '> ')}\n</details>") if h.context else ""
        parts.append(f"**{i}. {html.escape(h.conversation_title or h.conversation_id)}** · {when} · "
                     f"score {h.score:.2f}\n\n{html.escape(h.text[:1200])}\n\n{ctx}")
    return "\n\n---\n\n".join(parts)


def build(services: Services) -> None:
    with gr.Row():
        q = gr.Textbox(label="Search your messages", placeholder="why I self-host", scale=5, elem_id="search-q")
        k = gr.Slider(1, 30, value=8, step=1, label="Results", scale=1)
    out = gr.Markdown(elem_id="search-out")
    q.submit(lambda query, n: search_markdown(services, query, n), inputs=[q, k], outputs=out)
