"""Import exports end to end: discover, parse, scrub, store (one transaction per file), index.

Each conversation's chunks are stored with it, so its words are searchable as soon as its
file commits; embedding them (the slow part) is `MessageIndex.fill`, run here only when an
index is passed, otherwise later by a background worker (`idiolect index`).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent.chunking import conversation_chunks
from agent.importers import SourceFile, Tally, discover, read_source
from agent.importers.text import split_own_words
from agent.index import MessageIndex
from agent.scrub import Scrubber
from core.errors import ImportFailed
from core.schemas import Conversation, ImportSummary, Redaction, Role, content_hash
from core.store import Store

# progress(stage, done, total, label): stage is "parse" (bytes) or "index" (chunks embedded).
Progress = Callable[[str, int, int, str], None]


def _file_sha256(source: SourceFile) -> str:
    h = hashlib.sha256()
    with source.open() as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def conversation_hash(conv: Conversation) -> str:
    """Hash of everything we keep from a conversation, to skip unchanged ones cheaply."""
    parts = [conv.title, str(conv.updated_at), repr(sorted(conv.meta.items(), key=str))]
    for m in conv.messages:
        parts += [m.id, m.role.value, m.text, str(m.on_shown_branch), str(m.position),
                  repr([a.model_dump() for a in m.attachments]), repr(sorted(m.meta.items(), key=str))]
    return content_hash(*parts)


def _scrub_value(value: Any, scrub: Callable[[str, str], str], field: str) -> Any:
    if isinstance(value, str):
        return scrub(value, field)
    if isinstance(value, list):
        return [_scrub_value(v, scrub, field) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_value(v, scrub, f"{field}.{k}") for k, v in value.items()}
    return value


def scrub_conversation(conv: Conversation, scrubber: Scrubber) -> tuple[Conversation, list[Redaction]]:
    """Scrub every text a conversation carries: titles, messages, attachments, thinking, tool traffic."""
    log: list[Redaction] = []
    msg_id: str | None = None

    def scrub(text: str, field: str) -> str:
        clean, found = scrubber.scrub(text, conversation_id=conv.id, message_id=msg_id, field=field)
        log.extend(found)
        return clean

    conv.title = scrub(conv.title, "title")
    conv.meta = _scrub_value(conv.meta, scrub, "meta")
    for m in conv.messages:
        msg_id = m.id
        m.text = scrub(m.text, "text")
        if m.role is Role.person:
            # Re-derived from the scrubbed text, so own words can never hold what text lost.
            m.own_text, m.pasted_share = split_own_words(m.text)
        for a in m.attachments:
            a.name = scrub(a.name, "attachment.name")
            if a.text:
                a.text = scrub(a.text, f"attachment:{a.name or 'paste'}")
        m.meta = _scrub_value(m.meta, scrub, "meta")
    return conv, log


def _better(new: Conversation, new_n: int, old_updated: Any, old_n: int) -> bool:
    """G19: the newer update_time wins; on a tie, the richer copy."""
    if new.updated_at and old_updated:
        nu = new.updated_at.replace(tzinfo=None)
        ou = old_updated.replace(tzinfo=None)
        if nu != ou:
            return nu > ou
    return new_n >= old_n


def import_exports(
    paths: Sequence[str | Path],
    *,
    store: Store,
    scrubber: Scrubber,
    index: MessageIndex | None = None,
    progress: Progress | None = None,
    chunk_chars: int | None = None,
) -> ImportSummary:
    """Import every export under `paths`. Raises ImportFailed naming the file; that file stores nothing.

    The words are searchable when this returns. With `index`, every pending chunk is also
    embedded before it returns; without, the dense index is left to `MessageIndex.fill`.
    `chunk_chars` (default: the index's, else 1200) is the chunk size.
    """
    chunk_chars = chunk_chars or (index.chunk_chars if index is not None else 1200)
    started = time.perf_counter()
    sources: list[SourceFile] = []
    for p in paths:
        sources.extend(discover(Path(p).expanduser()))  # every path is checked before anything is written
    import_id = str(uuid.uuid4())
    summary = ImportSummary(sources=[s.label for s in sources])
    store.conversations.begin_import(import_id, summary.sources)
    redactions: Counter[str] = Counter()
    changed: list[str] = []
    files: dict[str, Any] = {}
    try:
        for source in sources:
            sha = _file_sha256(source)
            if store.conversations.source_hash(source.label) == sha:
                prev = _previous_file_counts(store, source.label)
                summary.conversations += prev.get("conversations", 0)
                summary.conversations_unchanged += prev.get("conversations", 0)
                summary.person_messages += prev.get("person_messages", 0)
                summary.assistant_messages += prev.get("assistant_messages", 0)
                files[source.label] = {**prev, "unchanged": True}
                if progress:
                    progress("parse", source.size, source.size, source.label)
                continue
            counts = _import_file(source, sha, import_id, store, scrubber, summary, redactions, changed, progress,
                                  chunk_chars)
            files[source.label] = counts
        if index is not None:
            report = index.fill(progress=(lambda d, t: progress("index", d, t, "embedding")) if progress else None,
                                wait=True)
            summary.chunks_embedded = report.embedded
    except ImportFailed:
        store.conversations.finish_import(import_id, "failed", {"files": files})
        raise
    summary.redactions = dict(redactions)
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.warnings = [scrubber.scrub(w)[0] for w in summary.warnings]
    store.conversations.finish_import(import_id, "done", {**summary.model_dump(), "files": files})
    return summary


def _previous_file_counts(store: Store, label: str) -> dict[str, Any]:
    for imp in store.conversations.imports(limit=200):
        counts = (imp.get("summary") or {}).get("files", {}).get(label)
        if counts and not counts.get("unchanged"):
            return dict(counts)
    return {}


def _import_file(
    source: SourceFile, sha: str, import_id: str, store: Store, scrubber: Scrubber, summary: ImportSummary,
    redactions: Counter[str], changed: list[str], progress: Progress | None, chunk_chars: int,
) -> dict[str, Any]:
    tally = Tally()
    counts = Counter[str]()
    file_changed: list[str] = []
    file_redactions: Counter[str] = Counter()
    last_report = 0.0
    with store.conversations.writer(import_id) as w:
        for conv in read_source(source, tally):
            counts["conversations"] += 1
            shown = [m for m in conv.messages if m.on_shown_branch]
            counts["person_messages"] += sum(m.role is Role.person for m in shown)
            counts["assistant_messages"] += sum(m.role is Role.assistant for m in shown)
            counts["abandoned_person_messages"] += sum(
                m.role is Role.person and not m.on_shown_branch for m in conv.messages)
            counts["abandoned_assistant_messages"] += sum(
                m.role is Role.assistant and not m.on_shown_branch for m in conv.messages)
            h = conversation_hash(conv)
            old = w.existing(conv.id)
            if old is not None and (old[0] == h or not _better(conv, len(conv.messages), old[1], old[2])):
                counts["unchanged"] += 1
            else:
                counts["updated" if old is not None else "new"] += 1
                conv, log = scrub_conversation(conv, scrubber)
                counts["chunks"] += w.put(conv, h, log, conversation_chunks(conv.messages, chunk_chars))
                file_redactions.update(r.kind for r in log)
                file_changed.append(conv.id)
            now = time.perf_counter()
            if progress and tally.bytes_read is not None and now - last_report > 0.1:
                last_report = now
                progress("parse", min(tally.bytes_read.offset, source.size), source.size, source.label)
        w.record_source(source.label, sha, source.size)
    # Only after the file's transaction committed does anything count.
    if progress:
        progress("parse", source.size, source.size, source.label)
    summary.conversations += counts["conversations"]
    summary.conversations_new += counts["new"]
    summary.conversations_updated += counts["updated"]
    summary.conversations_unchanged += counts["unchanged"]
    summary.person_messages += counts["person_messages"]
    summary.assistant_messages += counts["assistant_messages"]
    summary.abandoned_person_messages += counts["abandoned_person_messages"]
    summary.abandoned_assistant_messages += counts["abandoned_assistant_messages"]
    summary.chunks_indexed += counts["chunks"]
    for k, v in tally.skipped.items():
        summary.skipped[k] = summary.skipped.get(k, 0) + v
    summary.warnings.extend(tally.warnings)
    redactions.update(file_redactions)
    changed.extend(file_changed)
    return {**counts, "redactions": dict(file_redactions)}
