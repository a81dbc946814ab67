"""The chunks of the person's messages: the lexical (full-text) index and the dense index's ledger.

A chunk row is written in the same transaction as its conversation, so an import is
searchable by words the moment its file commits. The database keeps the full-text index
(SQLite FTS5 through triggers, PostgreSQL a generated tsvector column with a GIN index;
migration 0003). Embedding into Chroma happens later, in batches: `pending` hands out
rows the dense index lacks, `mark_embedded` and `forget` record what reached it, so a fill
that dies resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from core.db import ChunkRow, ConversationRow
from core.schemas import content_hash
from core.store import fulltext

if TYPE_CHECKING:
    from core.store import Store

_T = ChunkRow.__table__
_IN = 500  # ids per IN (...) list

# Words too common to say anything about a match (FTS5 has no stop list of its own;
# PostgreSQL's english configuration drops these too).
STOPWORDS = frozenset(
    "a about above after again against all am an and any are as at be because been before being below "
    "between both but by can could did do does doing down during each few for from further had has have "
    "having he her here hers herself him himself his how i if in into is it its itself just me more most "
    "my myself no nor not now of off on once only or other our ours ourselves out over own same she "
    "should so some such than that the their theirs them themselves then there these they this those "
    "through to too under until up very was we were what when where which while who whom why will with "
    "would you your yours yourself yourselves".split())


def fts_id(chunk_id: str) -> int:
    """Stable 63-bit integer key of a chunk id (SQLite FTS5 rowid)."""
    return int.from_bytes(hashlib.blake2b(chunk_id.encode("utf-8"), digest_size=8).digest(), "big") >> 1


def query_terms(query: str, limit: int = 32) -> list[str]:
    """Return the words of a free-text query worth matching: lower-cased, no stop words, no syntax."""
    seen: dict[str, None] = {}
    for w in re.findall(r"\w+", query.lower()):
        if w not in STOPWORDS and (len(w) > 1 or w.isdigit()):
            seen.setdefault(w, None)
    return list(seen)[:limit]


@dataclass
class PendingChunk:
    """A row the dense index is behind on: embed it, or (removed) delete its vector."""

    id: str
    text: str
    text_hash: str
    removed: bool
    conversation_id: str
    message_id: str
    position: int
    shown: bool
    created_at: datetime | None


def chunk_row(conversation_id: str, c: Mapping[str, Any], *, new: bool = True) -> dict[str, Any]:
    """Return the table row of one chunk (`new`: not yet in the dense index)."""
    row = {
        "id": c["id"], "message_id": c["message_id"], "conversation_id": conversation_id,
        "text_hash": content_hash(c["text"]), "fts_id": fts_id(c["id"]), "text": c["text"],
        "context": c.get("context", ""), "position": int(c.get("position", 0)), "shown": bool(c.get("shown", True)),
        "pasted_share": float(c.get("pasted_share", 0.0)), "created_at": c.get("created_at"),
    }
    return {**row, "embedded": False, "dirty": True, "removed": False} if new else row


def write_conversation_chunks(s: Session, conversation_id: str, chunks: Sequence[Mapping[str, Any]]) -> int:
    """Make the conversation's chunk rows exactly `chunks` (inside the caller's transaction).

    New and changed texts become pending for the dense index; a vanished chunk whose
    vector is in Chroma stays as a tombstone until the fill deletes that vector. Returns
    how many chunks are new or changed.
    """
    existing = {r.id: r for r in s.execute(
        select(ChunkRow.id, ChunkRow.text_hash, ChunkRow.embedded, ChunkRow.removed)
        .where(ChunkRow.conversation_id == conversation_id))}
    want = {c["id"]: chunk_row(conversation_id, c, new=False) for c in chunks}
    gone = [i for i in existing if i not in want]
    drop = [i for i in gone if not existing[i].embedded]
    tomb = [i for i in gone if existing[i].embedded and not existing[i].removed]
    if drop:
        s.execute(delete(ChunkRow).where(ChunkRow.id.in_(drop)))
    if tomb:
        s.execute(update(ChunkRow).where(ChunkRow.id.in_(tomb))
                  .values(removed=True, dirty=True, text="", context=""))
    new = [r for i, r in want.items() if i not in existing]
    if new:
        s.execute(insert(_T), [{**r, "embedded": False, "dirty": True, "removed": False} for r in new])
    changed = 0
    rows = []
    for i, r in want.items():
        old = existing.get(i)
        if old is None:
            continue
        # A revived tombstone is always re-embedded: the fill may be deleting its vector right now.
        stale = old.text_hash != r["text_hash"] or old.removed
        changed += stale
        rows.append({**{f"b_{k}": v for k, v in r.items()}, "b_stale": stale})
    if rows:
        fields = ("text_hash", "text", "context", "position", "shown", "pasted_share", "created_at", "message_id")
        s.execute(update(_T).where(_T.c.id == bindparam("b_id"))
                  .values(**{f: bindparam(f"b_{f}") for f in fields}, removed=False,
                          dirty=_T.c.dirty | bindparam("b_stale", type_=Boolean)), rows)
    return len(new) + changed


class ChunkStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    # ------------------------------------------------------------------ writes
    def replace(self, conversation_id: str, chunks: Sequence[Mapping[str, Any]]) -> int:
        """Make one conversation's chunks exactly `chunks` in a transaction of its own."""
        with self._store.session() as s:
            return write_conversation_chunks(s, conversation_id, chunks)

    def pending(self, limit: int = 256) -> list[PendingChunk]:
        """Up to `limit` rows the dense index lacks (new or changed text, or tombstones)."""
        cols = (ChunkRow.id, ChunkRow.text, ChunkRow.text_hash, ChunkRow.removed, ChunkRow.conversation_id,
                ChunkRow.message_id, ChunkRow.position, ChunkRow.shown, ChunkRow.created_at)
        with self._store.session() as s:
            rows = s.execute(select(*cols).where(ChunkRow.dirty.is_(True)).order_by(ChunkRow.id).limit(limit))
            return [PendingChunk(*r) for r in rows]

    def mark_embedded(self, done: Iterable[tuple[str, str]]) -> None:
        """Record that these (id, text_hash) vectors are in Chroma; a row changed since stays pending."""
        rows = [{"b_id": i, "b_hash": h} for i, h in done]
        if rows:
            with self._store.session() as s:
                s.execute(update(_T).where(_T.c.id == bindparam("b_id"), _T.c.text_hash == bindparam("b_hash"),
                                           _T.c.removed.is_(False)).values(embedded=True, dirty=False), rows)

    def forget(self, ids: Sequence[str]) -> None:
        """Drop tombstones whose vectors were deleted from Chroma (a revived row is kept)."""
        with self._store.session() as s:
            for i in range(0, len(ids), _IN):
                s.execute(delete(ChunkRow).where(ChunkRow.id.in_(ids[i:i + _IN]), ChunkRow.removed.is_(True)))

    def reset_dense(self) -> None:
        """Make every chunk pending again (the dense index changed: another embedder or collection)."""
        with self._store.session() as s:
            s.execute(delete(ChunkRow).where(ChunkRow.removed.is_(True)))
            s.execute(update(ChunkRow).values(embedded=False, dirty=True))

    # ------------------------------------------------------------------ reads
    def counts(self) -> dict[str, int]:
        """Searchable chunks, how many of them the dense index holds, and tombstones left to delete."""
        with self._store.session() as s:
            q = select(ChunkRow.removed, ChunkRow.dirty, func.count()).group_by(ChunkRow.removed, ChunkRow.dirty)
            by = {(bool(r), bool(d)): int(n) for r, d, n in s.execute(q)}
        total = by.get((False, False), 0) + by.get((False, True), 0)
        return {"chunks": total, "embedded": by.get((False, False), 0), "pending": by.get((False, True), 0),
                "tombstones": by.get((True, True), 0) + by.get((True, False), 0)}

    def legacy_conversations(self, *, unchunked: bool = True) -> list[str]:
        """Return conversations whose chunk rows predate the lexical index (rows without text).

        With `unchunked`, also those with person messages but no chunk rows at all (imported
        before chunks were kept).
        """
        with self._store.session() as s:
            no_text = select(ChunkRow.conversation_id).where(ChunkRow.text == "", ChunkRow.removed.is_(False))
            found = set(s.scalars(no_text.distinct()))
            if unchunked:
                found |= set(s.scalars(select(ConversationRow.id).where(
                    ConversationRow.n_person > 0,
                    ~select(ChunkRow.id).where(ChunkRow.conversation_id == ConversationRow.id).exists())))
            return sorted(found)

    def lexical(self, query: str, limit: int = 32, *, shown_only: bool = False,
                conversation_ids: Sequence[str] | None = None, vendor: str | None = None) -> list[tuple[str, float]]:
        """Full-text search: (chunk id, relevance) best first; any query word may match, rarer words weigh more."""
        terms = query_terms(query)
        if not terms:
            return []
        with self._store.session() as s:
            return fulltext.search(s, self._store.dialect, terms, limit, shown_only=shown_only,
                                   conversation_ids=conversation_ids, vendor=vendor)

    def rows(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Return the live rows among `ids`, with their conversation's title (for showing hits)."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, dict[str, Any]] = {}
        cols = (ChunkRow.id, ChunkRow.message_id, ChunkRow.conversation_id, ChunkRow.text, ChunkRow.context,
                ChunkRow.position, ChunkRow.shown, ChunkRow.pasted_share, ChunkRow.created_at, ChunkRow.embedded,
                ConversationRow.title)
        with self._store.session() as s:
            for i in range(0, len(wanted), _IN):
                q = (select(*cols).join(ConversationRow, ConversationRow.id == ChunkRow.conversation_id, isouter=True)
                     .where(ChunkRow.id.in_(wanted[i:i + _IN]), ChunkRow.removed.is_(False)))
                for r in s.execute(q):
                    out[r.id] = dict(r._mapping)
        return out

    def hashes(self, conversation_ids: Iterable[str]) -> dict[str, str]:
        """Live chunk id -> text hash for these conversations."""
        ids = list(conversation_ids)
        out: dict[str, str] = {}
        with self._store.session() as s:
            for i in range(0, len(ids), _IN):
                out.update(s.execute(select(ChunkRow.id, ChunkRow.text_hash).where(
                    ChunkRow.conversation_id.in_(ids[i:i + _IN]), ChunkRow.removed.is_(False))).all())
        return out
