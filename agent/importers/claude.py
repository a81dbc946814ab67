"""Claude.ai export conversations: a flat list that is really a tree when parent_message_uuid is set."""

from __future__ import annotations

from typing import Any

from agent.importers.common import Tally, as_dict, as_id, as_list, as_size, as_text, parse_time
from agent.importers.text import normalize, split_own_words
from core.schemas import Attachment, Conversation, Message, Role

ROOT_SENTINEL = "00000000-0000-4000-8000-000000000000"


def _visible_text(msg: dict[str, Any]) -> str:
    """Text blocks of content[]; the flattened `text` only when content is missing (C3/C4)."""
    blocks = as_list(msg.get("content"))
    if blocks:
        return normalize("\n\n".join(as_text(b.get("text")) for b in map(as_dict, blocks)
                                      if b.get("type") == "text").strip())
    return normalize(as_text(msg.get("text"))).strip()


def _side_meta(msg: dict[str, Any]) -> dict[str, Any]:
    """Thinking and tool blocks, kept as metadata (C5/C6)."""
    meta: dict[str, Any] = {}
    for b in map(as_dict, as_list(msg.get("content"))):
        t = b.get("type")
        if t == "thinking":
            meta.setdefault("thinking", []).append(normalize(as_text(b.get("thinking"))))
        elif t in ("tool_use", "tool_result"):
            body = b.get("input") if t == "tool_use" else b.get("content")
            meta.setdefault("tools", []).append({
                "type": t, "name": as_text(b.get("name")) or None, "is_error": b.get("is_error") is True,
                "text": normalize(str(body))[:4000],
            })
    return meta


def _shown_path(msgs: list[dict[str, Any]], leaf_hint: str | None) -> list[str]:
    by_id = {as_id(m.get("uuid")): m for m in msgs if as_id(m.get("uuid"))}
    parents = {as_id(m.get("parent_message_uuid")) for m in msgs}
    leaf = leaf_hint if leaf_hint in by_id else None
    if leaf is None:  # C1: no current_leaf in official exports → newest leaf
        leaves = [(i, m) for i, m in enumerate(msgs) if as_id(m.get("uuid")) and as_id(m.get("uuid")) not in parents]
        if not leaves:
            return []
        leaf = as_id(max(leaves, key=lambda im: (as_text(im[1].get("created_at")), im[0]))[1].get("uuid"))
    path: list[str] = []
    seen: set[str] = set()
    cur: str | None = leaf
    while cur and cur in by_id and cur not in seen:
        seen.add(cur)
        path.append(cur)
        cur = as_id(by_id[cur].get("parent_message_uuid"))
    return path[::-1]


def parse(item: dict[str, Any], tally: Tally) -> Conversation | None:
    """One conversation, or None (counted) when it has no uuid."""
    cid = as_id(item.get("uuid"))
    if not cid:
        tally.skip("conversation without uuid")
        tally.warn(f"skipped a Claude conversation with no uuid ({as_text(item.get('name'))[:80]!r})")
        return None
    summary = normalize(as_text(item.get("summary")))
    conv = Conversation(
        id=f"claude:{cid}", vendor="claude", external_id=cid, title=normalize(as_text(item.get("name"))),
        created_at=parse_time(item.get("created_at")), updated_at=parse_time(item.get("updated_at")),
        meta={"summary": summary} if summary else {},
    )
    msgs = [m for m in as_list(item.get("chat_messages")) if isinstance(m, dict)]
    tree = any("parent_message_uuid" in m for m in msgs)
    if tree:
        shown = _shown_path(msgs, as_id(item.get("current_leaf_message_uuid")) or None)
        pos = {u: i for i, u in enumerate(shown)}
    else:  # C2: legacy linear export
        pos = {as_id(m.get("uuid")) or str(i): i for i, m in enumerate(msgs)}
    last_time = conv.created_at
    for i, m in enumerate(msgs):
        uid = as_id(m.get("uuid")) or str(i)
        sender = m.get("sender")
        on_shown = uid in pos
        position = pos.get(uid, 10_000 + i)
        parent = as_id(m.get("parent_message_uuid") if tree else (msgs[i - 1].get("uuid") if i else None))
        parent_id = f"{conv.id}/{parent}" if parent and parent != ROOT_SENTINEL else None
        created = parse_time(m.get("created_at")) or last_time
        last_time = created or last_time
        text = _visible_text(m)
        meta = _side_meta(m)
        if sender == "human":
            attachments = [
                Attachment(name=normalize(as_text(a.get("file_name"))), kind=normalize(as_text(a.get("file_type"))),
                           size=as_size(a.get("file_size")),
                           text=normalize(as_text(a.get("extracted_content"))) or None)
                for a in map(as_dict, as_list(m.get("attachments")))
            ] + [Attachment(name=normalize(as_text(f.get("file_name"))), kind="file")
                 for f in map(as_dict, as_list(m.get("files")))]
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
            shown_sender = repr(sender)[:40]
            tally.skip(f"unknown sender {shown_sender}")
            tally.warn(f"{conv.id}: message {uid[:80]} has unknown sender {shown_sender}; skipped")
    return conv
