"""Claude.ai export conversations: a flat list that is really a tree when parent_message_uuid is set."""

from __future__ import annotations

from typing import Any

from agent.importers.common import Tally, parse_time
from agent.importers.text import normalize, split_own_words
from core.schemas import Attachment, Conversation, Message, Role

ROOT_SENTINEL = "00000000-0000-4000-8000-000000000000"


def _visible_text(msg: dict[str, Any]) -> str:
    """Text blocks of content[]; the flattened `text` only when content is missing (C3/C4)."""
    blocks = msg.get("content")
    if isinstance(blocks, list) and blocks:
        return normalize("\n\n".join(str(b.get("text") or "") for b in blocks if b.get("type") == "text").strip())
    return normalize(str(msg.get("text") or "")).strip()


def _side_meta(msg: dict[str, Any]) -> dict[str, Any]:
    """Thinking and tool blocks, kept as metadata (C5/C6)."""
    meta: dict[str, Any] = {}
    for b in msg.get("content") or []:
        t = b.get("type")
        if t == "thinking":
            meta.setdefault("thinking", []).append(normalize(str(b.get("thinking") or "")))
        elif t in ("tool_use", "tool_result"):
            body = b.get("input") if t == "tool_use" else b.get("content")
            meta.setdefault("tools", []).append({
                "type": t, "name": b.get("name"), "is_error": b.get("is_error"),
                "text": normalize(str(body))[:4000],
            })
    return meta


def _shown_path(msgs: list[dict[str, Any]], leaf_hint: str | None) -> list[str]:
    by_id = {m["uuid"]: m for m in msgs if m.get("uuid")}
    parents = {m.get("parent_message_uuid") for m in msgs}
    leaf = leaf_hint if leaf_hint in by_id else None
    if leaf is None:  # C1: no current_leaf in official exports → newest leaf
        leaves = [m for m in msgs if m.get("uuid") and m["uuid"] not in parents]
        if not leaves:
            return []
        leaf = max(leaves, key=lambda m: (str(m.get("created_at") or ""), msgs.index(m)))["uuid"]
    path: list[str] = []
    seen: set[str] = set()
    cur: str | None = leaf
    while cur and cur in by_id and cur not in seen:
        seen.add(cur)
        path.append(cur)
        cur = by_id[cur].get("parent_message_uuid")
    return path[::-1]


def parse(item: dict[str, Any], tally: Tally) -> Conversation | None:
    """One conversation, or None (counted) when it has no uuid."""
    cid = str(item.get("uuid") or "")
    if not cid:
        tally.skip("conversation without uuid")
        tally.warn(f"skipped a Claude conversation with no uuid ({item.get('name')!r})")
        return None
    conv = Conversation(
        id=f"claude:{cid}", vendor="claude", external_id=cid, title=normalize(item.get("name") or ""),
        created_at=parse_time(item.get("created_at")), updated_at=parse_time(item.get("updated_at")),
        meta={"summary": normalize(item.get("summary") or "")} if item.get("summary") else {},
    )
    msgs = [m for m in item.get("chat_messages") or [] if isinstance(m, dict)]
    tree = any("parent_message_uuid" in m for m in msgs)
    if tree:
        shown = _shown_path(msgs, item.get("current_leaf_message_uuid"))
        pos = {u: i for i, u in enumerate(shown)}
    else:  # C2: legacy linear export
        pos = {str(m.get("uuid") or i): i for i, m in enumerate(msgs)}
    last_time = conv.created_at
    for i, m in enumerate(msgs):
        uid = str(m.get("uuid") or i)
        sender = m.get("sender")
        on_shown = uid in pos
        position = pos.get(uid, 10_000 + i)
        parent = m.get("parent_message_uuid") if tree else (msgs[i - 1].get("uuid") if i else None)
        parent_id = f"{conv.id}/{parent}" if parent and parent != ROOT_SENTINEL else None
        created = parse_time(m.get("created_at")) or last_time
        last_time = created or last_time
        text = _visible_text(m)
        meta = _side_meta(m)
        if sender == "human":
            attachments = [
                Attachment(name=str(a.get("file_name") or ""), kind=str(a.get("file_type") or ""),
                           size=a.get("file_size"), text=normalize(str(a.get("extracted_content") or "")) or None)
                for a in m.get("attachments") or []
            ] + [Attachment(name=str(f.get("file_name") or ""), kind="file") for f in m.get("files") or []]
            if not text and not attachments:
                tally.skip("empty human message")  # C9
                continue
            own, share = split_own_words(text)
            conv.messages.append(Message(
                id=f"{conv.id}/{uid}", parent_id=parent_id, role=Role.person, text=text, own_text=own,
                pasted_share=share, created_at=created, on_shown_branch=on_shown, position=position,
                has_non_text=bool(attachments), attachments=attachments, meta=meta,
            ))
        elif sender == "assistant":
            if not text:
                tally.skip("assistant message without visible text")  # C5: cut-off thinking only
                continue
            conv.messages.append(Message(
                id=f"{conv.id}/{uid}", parent_id=parent_id, role=Role.assistant, text=text,
                created_at=created, on_shown_branch=on_shown, position=position, meta=meta,
            ))
        else:  # C10: never guess a role
            tally.skip(f"unknown sender {sender!r}")
            tally.warn(f"{conv.id}: message {uid} has unknown sender {sender!r}; skipped")
    return conv
