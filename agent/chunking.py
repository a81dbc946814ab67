"""The person's messages cut into searchable chunks, each with the assistant turn it answered.

Pure functions over messages (parsed `Message`s while importing, `StoredMessage`s when
rebuilding from the store): the same conversation always gives the same chunks and ids.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from core.schemas import Role

CONTEXT_CHARS = 800


def split_chunks(text: str, max_chars: int) -> list[str]:
    """Paragraphs packed up to `max_chars`; an overlong paragraph is cut at sentence ends."""
    text = text.strip()
    if len(text) <= max_chars:
        return [text] if text else []
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        while len(para) > max_chars:
            cut = max(para.rfind(". ", 0, max_chars), para.rfind("\n", 0, max_chars))
            cut = cut + 1 if cut > max_chars // 3 else max_chars
            pieces.append(para[:cut].strip())
            para = para[cut:].strip()
        if para:
            pieces.append(para)
    chunks: list[str] = []
    for p in pieces:
        if chunks and len(chunks[-1]) + 2 + len(p) <= max_chars:
            chunks[-1] = f"{chunks[-1]}\n\n{p}"
        else:
            chunks.append(p)
    return chunks


def context_for(msgs: Sequence[Any]) -> dict[str, str]:
    """Preceding assistant turn of each person message (its tree parent, else the last one before it)."""
    by_id = {m.id: m for m in msgs}
    out: dict[str, str] = {}
    last_assistant = ""
    for m in msgs:
        if m.role is Role.assistant and m.on_shown_branch:
            last_assistant = m.text
        elif m.role is Role.person:
            parent = by_id.get(m.parent_id or "")
            ctx = parent.text if parent is not None and parent.role is Role.assistant else last_assistant
            out[m.id] = ctx[-CONTEXT_CHARS:]
    return out


def conversation_chunks(messages: Sequence[Any], chunk_chars: int = 1200) -> list[dict[str, Any]]:
    """Chunk rows for one conversation's person messages (own words only; pasted material is not voice).

    `messages` are every message of the conversation, any branch, with `id, parent_id, role,
    text, own_text, pasted_share, created_at, on_shown_branch, position`.
    """
    msgs = sorted(messages, key=lambda m: (m.position, m.id))
    ctx = context_for(msgs)
    out: list[dict[str, Any]] = []
    for m in msgs:
        if m.role is not Role.person or not m.own_text.strip():
            continue
        for i, chunk in enumerate(split_chunks(m.own_text, chunk_chars)):
            out.append({"id": f"{m.id}#{i}", "message_id": m.id, "text": chunk, "context": ctx.get(m.id, ""),
                        "position": i, "shown": m.on_shown_branch, "pasted_share": m.pasted_share,
                        "created_at": m.created_at})
    return out
