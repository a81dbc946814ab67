"""Imports, conversations, messages and redactions (their chunks: core/store/chunks.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from core.db import ChunkRow, ConversationRow, ImportRow, MessageRow, RedactionRow, SourceFileRow
from core.errors import NotFound
from core.schemas import Conversation, Redaction, Role, StoredMessage, utcnow
from core.store.chunks import chunk_row, write_conversation_chunks

if TYPE_CHECKING:
    from core.store import Store

_CONV = ConversationRow.__table__


def _stored(r: MessageRow) -> StoredMessage:
    return StoredMessage(
        id=r.id, conversation_id=r.conversation_id, parent_id=r.parent_id, role=Role(r.role), text=r.text,
        own_text=r.own_text, pasted_share=r.pasted_share, created_at=r.created_at,
        on_shown_branch=r.on_shown_branch, position=r.position, meta=dict(r.meta or {}),
    )


class ImportWriter:
    """Writes one export file inside one transaction: all of it lands, or none of it.

    Conversations new to the store are buffered and written many at a time (Core
    executemany; a 200 MB export is tens of thousands of them), replacements at once.
    """

    FLUSH_ROWS = 2000  # buffered message rows before a write

    def __init__(self, session: Session, import_id: str) -> None:
        self._s = session
        self._c = session.connection()  # Core statements on the session's transaction, without ORM overhead
        self.import_id = import_id
        self._absent: set[str] = set()  # looked up and not stored: the next put() is an insert
        self._buffered: set[str] = set()
        self._rows: dict[str, list[dict[str, Any]]] = {"conversations": [], "messages": [], "redactions": [],
                                                       "chunks": []}

    def existing(self, conversation_id: str) -> tuple[str, Any, int] | None:
        """(content_hash, updated_at, message count) of a stored conversation."""
        if conversation_id in self._buffered:  # the same conversation twice in one file
            self.flush()
        row = self._c.execute(select(ConversationRow.content_hash, ConversationRow.updated_at).where(
            ConversationRow.id == conversation_id)).first()
        if row is None:
            self._absent.add(conversation_id)
            return None
        n = self._c.scalar(select(func.count()).select_from(MessageRow).where(
            MessageRow.conversation_id == conversation_id))
        return row.content_hash, row.updated_at, int(n or 0)

    def put(self, conv: Conversation, content_hash: str, redactions: list[Redaction],
            chunks: Sequence[Mapping[str, Any]] | None = None) -> int:
        """Insert or replace a (scrubbed) conversation with all its messages; returns chunks new or changed.

        `chunks` (from agent.chunking.conversation_chunks) become the conversation's searchable
        rows in this same transaction: the words are searchable once the file commits.
        """
        shown = [m for m in conv.messages if m.on_shown_branch]
        values = dict(
            vendor=conv.vendor, external_id=conv.external_id, title=conv.title, created_at=conv.created_at,
            updated_at=conv.updated_at, content_hash=content_hash, import_id=self.import_id,
            n_person=sum(m.role is Role.person for m in shown),
            n_assistant=sum(m.role is Role.assistant for m in shown),
            n_abandoned=len(conv.messages) - len(shown), meta=conv.meta,
        )
        messages = [
            dict(id=m.id, conversation_id=conv.id, parent_id=m.parent_id, role=m.role.value, text=m.text,
                 own_text=m.own_text, pasted_share=m.pasted_share, created_at=m.created_at,
                 on_shown_branch=m.on_shown_branch, position=m.position,
                 meta={**m.meta,
                       **({"attachments": [a.model_dump() for a in m.attachments]} if m.attachments else {}),
                       **({"has_non_text": True} if m.has_non_text else {})})
            for m in conv.messages
        ]
        reds = [dict(import_id=self.import_id, conversation_id=r.conversation_id, message_id=r.message_id,
                     kind=r.kind, field=r.field, start=r.start, length=r.length) for r in redactions]
        if conv.id in self._absent:
            self._absent.discard(conv.id)
            self._buffered.add(conv.id)
            self._rows["conversations"].append({"id": conv.id, **values})
            self._rows["messages"] += messages
            self._rows["redactions"] += reds
            self._rows["chunks"] += [chunk_row(conv.id, c) for c in chunks or ()]
            if len(self._rows["messages"]) >= self.FLUSH_ROWS:
                self.flush()
            return len(chunks or ())
        self.flush()
        self._c.execute(delete(MessageRow).where(MessageRow.conversation_id == conv.id))
        self._c.execute(delete(RedactionRow).where(RedactionRow.conversation_id == conv.id))
        if self._c.execute(update(_CONV).where(_CONV.c.id == conv.id).values(**values)).rowcount == 0:
            self._c.execute(insert(_CONV), [{"id": conv.id, **values}])
        if messages:
            self._c.execute(insert(MessageRow.__table__), messages)
        if reds:
            self._c.execute(insert(RedactionRow.__table__), reds)
        return write_conversation_chunks(self._s, conv.id, chunks) if chunks is not None else 0

    def flush(self) -> None:
        """Write the buffered new conversations (Core executemany: the session never grows)."""
        for name, table in (("conversations", _CONV), ("messages", MessageRow.__table__),
                            ("redactions", RedactionRow.__table__), ("chunks", ChunkRow.__table__)):
            if self._rows[name]:
                self._c.execute(insert(table), self._rows[name])
                self._rows[name] = []
        self._buffered.clear()

    def record_source(self, label: str, sha256: str, size: int) -> None:
        row = self._s.get(SourceFileRow, label)
        if row is None:
            self._s.add(SourceFileRow(path=label, sha256=sha256, size=size, import_id=self.import_id))
        else:
            row.sha256, row.size, row.import_id, row.imported_at = sha256, size, self.import_id, utcnow()


class ConversationStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    # ---- imports
    def begin_import(self, import_id: str, sources: list[str]) -> None:
        with self._store.session() as s:
            s.add(ImportRow(id=import_id, sources=sources, status="running"))

    def finish_import(self, import_id: str, status: str, summary: dict[str, Any]) -> None:
        with self._store.session() as s:
            row = s.get(ImportRow, import_id)
            if row is not None:
                row.status, row.summary, row.finished_at = status, summary, utcnow()

    def imports(self, limit: int = 20) -> list[dict[str, Any]]:
        with self._store.session() as s:
            rows = s.scalars(select(ImportRow).order_by(ImportRow.started_at.desc()).limit(limit))
            return [dict(id=r.id, started_at=r.started_at, finished_at=r.finished_at, status=r.status,
                         sources=r.sources, summary=r.summary) for r in rows]

    def source_hash(self, label: str) -> str | None:
        with self._store.session() as s:
            row = s.get(SourceFileRow, label)
            return row.sha256 if row else None

    @contextmanager
    def writer(self, import_id: str) -> Iterator[ImportWriter]:
        """One transaction for one file: rolled back whole if anything in it fails."""
        with self._store.session() as s:
            w = ImportWriter(s, import_id)
            yield w
            w.flush()

    # ---- reads
    def conversation(self, conversation_id: str) -> dict[str, Any]:
        with self._store.session() as s:
            row = s.get(ConversationRow, conversation_id)
            if row is None:
                raise NotFound(f"no conversation {conversation_id!r}")
            return dict(id=row.id, vendor=row.vendor, title=row.title, created_at=row.created_at,
                        updated_at=row.updated_at, n_person=row.n_person, n_assistant=row.n_assistant,
                        n_abandoned=row.n_abandoned, meta=row.meta)

    def list_conversations(self) -> list[dict[str, Any]]:
        with self._store.session() as s:
            rows = s.scalars(select(ConversationRow).order_by(ConversationRow.created_at, ConversationRow.id))
            return [dict(id=r.id, vendor=r.vendor, title=r.title, created_at=r.created_at,
                         n_person=r.n_person, n_assistant=r.n_assistant, n_abandoned=r.n_abandoned) for r in rows]

    def messages_of(self, conversation_id: str, *, shown_only: bool = True) -> list[StoredMessage]:
        """Return a conversation's messages: shown branch in order, then abandoned ones."""
        stmt = select(MessageRow).where(MessageRow.conversation_id == conversation_id)
        if shown_only:
            stmt = stmt.where(MessageRow.on_shown_branch.is_(True))
        with self._store.session() as s:
            return [_stored(r) for r in s.scalars(stmt.order_by(MessageRow.position, MessageRow.id))]

    def messages(self, *, role: str | None = None, shown_only: bool = True,
                 conversation_ids: Iterable[str] | None = None, newest: int | None = None) -> list[StoredMessage]:
        """Return messages in conversation order; with `newest`, only that many of the most recent ones.

        `newest` bounds memory for whole-history statistics (the voice profile): a heavy
        user's history is hundreds of thousands of messages.
        """
        stmt = select(MessageRow)
        if role:
            stmt = stmt.where(MessageRow.role == Role(role).value)
        if shown_only:
            stmt = stmt.where(MessageRow.on_shown_branch.is_(True))
        if conversation_ids is not None:
            stmt = stmt.where(MessageRow.conversation_id.in_(list(conversation_ids)))
        if newest is not None:
            recent = stmt.order_by(MessageRow.created_at.desc().nulls_last(), MessageRow.id).limit(newest).subquery()
            stmt = select(MessageRow).join(recent, recent.c.id == MessageRow.id)
        with self._store.session() as s:
            return [_stored(r) for r in s.scalars(
                stmt.order_by(MessageRow.conversation_id, MessageRow.position, MessageRow.id))]

    def message(self, message_id: str) -> StoredMessage:
        with self._store.session() as s:
            row = s.get(MessageRow, message_id)
            if row is None:
                raise NotFound(f"no message {message_id!r}")
            return _stored(row)

    def totals(self) -> dict[str, Any]:
        """Return the counts for `status`: conversations, shown-branch person/assistant, abandoned, redactions."""
        with self._store.session() as s:
            convs = s.scalar(select(func.count()).select_from(ConversationRow)) or 0
            by_role = dict(s.execute(
                select(MessageRow.role, func.count()).where(MessageRow.on_shown_branch.is_(True))
                .group_by(MessageRow.role)).all())
            abandoned = dict(s.execute(
                select(MessageRow.role, func.count()).where(MessageRow.on_shown_branch.is_(False))
                .group_by(MessageRow.role)).all())
        chunks = self._store.chunks.counts()
        return dict(conversations=convs, person_messages=by_role.get("person", 0),
                    assistant_messages=by_role.get("assistant", 0),
                    abandoned_person_messages=abandoned.get("person", 0),
                    abandoned_assistant_messages=abandoned.get("assistant", 0),
                    redactions=self.redaction_counts(), chunks_indexed=chunks["chunks"],
                    chunks_embedded=chunks["embedded"], chunks_pending_embedding=chunks["pending"])

    def redaction_counts(self) -> dict[str, int]:
        with self._store.session() as s:
            return dict(s.execute(select(RedactionRow.kind, func.count()).group_by(RedactionRow.kind)).all())

    def redactions(self, *, limit: int = 500) -> list[dict[str, Any]]:
        """Return the redaction log: kind and place, never the value."""
        with self._store.session() as s:
            rows = s.execute(
                select(RedactionRow, ConversationRow.title)
                .join(ConversationRow, ConversationRow.id == RedactionRow.conversation_id, isouter=True)
                .order_by(RedactionRow.id).limit(limit)).all()
            return [dict(kind=r.kind, conversation=title or r.conversation_id, message_id=r.message_id,
                         field=r.field, start=r.start, length=r.length) for r, title in rows]

    def conversation_titles(self, ids: Iterable[str]) -> dict[str, str]:
        with self._store.session() as s:
            return dict(s.execute(select(ConversationRow.id, ConversationRow.title).where(
                ConversationRow.id.in_(list(ids)))).all())
