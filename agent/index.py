"""The person's messages in the vector index: one chunk per message (long ones split), with context."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import numpy as np

from core.embed import Embedder
from core.schemas import Role, SearchHit, StoredMessage, content_hash
from core.store import Store
from core.vectors import VectorIndex

Progress = Callable[[int, int], None]
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


def _context_for(msgs: list[StoredMessage]) -> dict[str, str]:
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


def _epoch(dt: datetime | None) -> float:
    return dt.timestamp() if dt else 0.0


class MessageIndex:
    """Keeps Chroma in step with the store (incrementally) and answers searches."""

    def __init__(self, store: Store, vectors: VectorIndex, embedder: Embedder, *, chunk_chars: int = 1200) -> None:
        self.store = store
        self.vectors = vectors
        self.embedder = embedder
        self.chunk_chars = chunk_chars

    def desired_chunks(self, conversation_ids: Iterable[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Map chunk id -> (text, metadata) for the person messages of these conversations."""
        ids = list(conversation_ids)
        titles = self.store.conversations.conversation_titles(ids)
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        by_conv: dict[str, list[StoredMessage]] = {}
        for m in self.store.conversations.messages(shown_only=False, conversation_ids=ids):
            by_conv.setdefault(m.conversation_id, []).append(m)
        for cid, msgs in by_conv.items():
            ctx = _context_for(msgs)
            for m in msgs:
                if m.role is not Role.person or not m.own_text.strip():
                    continue
                for i, chunk in enumerate(split_chunks(m.own_text, self.chunk_chars)):
                    out[f"{m.id}#{i}"] = (chunk, {
                        "conversation_id": cid, "message_id": m.id, "title": titles.get(cid, ""),
                        "vendor": cid.split(":", 1)[0], "shown": m.on_shown_branch, "chunk": i,
                        "created": _epoch(m.created_at),
                        "created_at": m.created_at.isoformat() if m.created_at else "",
                        "pasted_share": m.pasted_share, "context": ctx.get(m.id, ""),
                    })
        return out

    def sync(self, conversation_ids: Iterable[str], *, progress: Progress | None = None,
             batch: int = 256) -> int:
        """Index new and changed chunks of these conversations, drop stale ones; returns chunks embedded."""
        ids = list(conversation_ids)
        if not ids:
            return 0
        want = self.desired_chunks(ids)
        have = self.store.conversations.chunk_hashes(ids)
        stale = [c for c in have if c not in want]
        todo = [c for c, (text, _) in want.items() if have.get(c) != content_hash(text)]
        self.vectors.delete(stale)
        self.store.conversations.drop_chunks(stale)
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            texts = [want[c][0] for c in part]
            self.vectors.upsert(part, texts, [want[c][1] for c in part], self.embedder.encode(texts))
            self.store.conversations.put_chunks([
                {"id": c, "message_id": want[c][1]["message_id"], "conversation_id": want[c][1]["conversation_id"],
                 "text_hash": content_hash(want[c][0])} for c in part])
            if progress:
                progress(min(start + batch, len(todo)), len(todo))
        return len(todo)

    def search(self, query: str, k: int = 8, *, diverse: bool = True, where: dict[str, Any] | None = None,
               shown_only: bool = False) -> list[SearchHit]:
        """Return the person's most relevant messages; `diverse` trades a little relevance for variety (MMR)."""
        if not query.strip():
            return []
        if shown_only:
            where = {"$and": [where, {"shown": True}]} if where else {"shown": True}
        q = self.embedder.encode([query])[0]
        hits = self.vectors.query_vector(q, max(k * 4, 24) if diverse else k * 2, where, with_vectors=diverse)
        best: dict[str, Any] = {}
        for h in hits:  # one hit per message: its best chunk
            mid = h.metadata.get("message_id", h.id)
            if mid not in best or h.score > best[mid].score:
                best[mid] = h
        cands = sorted(best.values(), key=lambda h: -h.score)
        chosen = _mmr(q, cands, k) if diverse else cands[:k]
        return [
            SearchHit(
                chunk_id=h.id, message_id=h.metadata.get("message_id", ""),
                conversation_id=h.metadata.get("conversation_id", ""),
                conversation_title=h.metadata.get("title", ""), text=h.document,
                context=h.metadata.get("context", ""), score=round(h.score, 4),
                created_at=datetime.fromisoformat(h.metadata["created_at"]) if h.metadata.get("created_at") else None,
                meta={"shown": h.metadata.get("shown"), "pasted_share": h.metadata.get("pasted_share")},
            )
            for h in chosen
        ]


def _mmr(q: np.ndarray, cands: list[Any], k: int, lam: float = 0.7) -> list[Any]:
    """Maximal marginal relevance: relevant, but not five near-copies of one message."""
    if len(cands) <= 1 or cands[0].vector is None:
        return cands[:k]
    V = np.stack([c.vector for c in cands])
    rel = V @ q
    picked: list[int] = []
    left = list(range(len(cands)))
    while left and len(picked) < k:
        if picked:
            red = (V[left] @ V[picked].T).max(axis=1)
            scores = lam * rel[left] - (1 - lam) * red
        else:
            scores = rel[left]
        i = left[int(np.argmax(scores))]
        picked.append(i)
        left.remove(i)
    return [cands[i] for i in picked]
