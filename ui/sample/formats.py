"""Write a conversation tree in the two vendors' export shapes (shared/docs/export-formats.md §1, §2).

A conversation arrives as nodes in creation order, each with its parent, plus the leaf of the
branch the person kept. ChatGPT gets its `mapping` tree (root, hidden system node, optional
custom-instructions node) and `current_node`; Claude gets the flat `chat_messages` list with
`parent_message_uuid` and no leaf pointer (the importer picks the newest leaf, C1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ui.sample.persona import MARK

CLAUDE_ROOT = "00000000-0000-4000-8000-000000000000"
MODEL = "gpt-4o"


@dataclass
class Node:
    """One message in a conversation tree."""

    id: str
    parent: str | None
    role: str  # "user" | "assistant"
    text: str  # may hold persona.MARK where a pasted block goes
    time: float  # epoch seconds
    paste: str | None = None  # pasted block (not her words), shown inline
    attach: str | None = None  # Claude only: text sent as an attachment with an empty file name
    thinking: str | None = None  # Claude only: a reasoning block before the answer


@dataclass
class Conversation:
    id: str
    title: str
    nodes: list[Node]
    leaf: str  # the kept branch's last node
    profile: tuple[str, str] | None = None  # ChatGPT custom instructions (about you, how to answer)
    account: str | None = None


def _render(node: Node, *, fence: bool) -> str:
    """Her text with the pasted block in place: quotes stay quotes, anything else is fenced."""
    block = ""
    if node.paste is not None:
        quoted = all(line.startswith(">") for line in node.paste.splitlines())
        block = node.paste if quoted or not fence else f"```\n{node.paste}\n```"
    text = node.text.replace(MARK, block)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _chatgpt_message(nid: str, role: str, t: float | None, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    msg = {"id": nid, "author": {"role": role, "name": None, "metadata": {}}, "create_time": t, "update_time": None,
           "content": content, "status": "finished_successfully", "end_turn": True if role == "assistant" else None,
           "weight": 1.0, "metadata": {}, "recipient": "all", "channel": None}
    msg.update(extra)
    return msg


def to_chatgpt(conv: Conversation, system_id: str, profile_id: str) -> dict[str, Any]:
    """One `conversations.json` item (mapping tree)."""
    root = "client-created-root"
    mapping: dict[str, dict[str, Any]] = {root: {"id": root, "message": None, "parent": None, "children": []}}

    def add(nid: str, parent: str, message: dict[str, Any]) -> None:
        mapping[nid] = {"id": nid, "message": message, "parent": parent, "children": []}
        mapping[parent]["children"].append(nid)

    # G5: a hidden, empty system message under the root.
    add(system_id, root, _chatgpt_message(system_id, "system", None, {"content_type": "text", "parts": [""]},
                                          weight=0.0, metadata={"is_visually_hidden_from_conversation": True}))
    top = system_id
    if conv.profile is not None:  # G6: custom instructions ride along as a hidden role=user node
        about, how = conv.profile
        add(profile_id, system_id, _chatgpt_message(
            profile_id, "user", None,
            {"content_type": "user_editable_context",
             "user_profile": "The user provided the following information about themselves.\n"
                             f"User profile:\n```{about}```",
             "user_instructions": f"The user provided the additional info about how they would like you to respond:\n"
                                  f"```{how}```"},
            metadata={"is_visually_hidden_from_conversation": True, "is_user_system_message": True,
                      "user_context_message_data": {"about_user_message": about, "about_model_message": how}}))
        top = profile_id
    for n in conv.nodes:
        meta: dict[str, Any] = {}
        if n.role == "assistant":
            meta = {"finish_details": {"type": "stop", "stop_tokens": [200002]}, "is_complete": True,
                    "citations": [], "content_references": [], "model_slug": MODEL, "default_model_slug": MODEL,
                    "parent_id": n.parent}
        text = _render(n, fence=True)
        if n.attach is not None:
            raise ValueError(f"{conv.title!r}: attachments are written for Claude only")
        add(n.id, n.parent or top, _chatgpt_message(n.id, n.role, round(n.time, 3),
                                                    {"content_type": "text", "parts": [text]}, metadata=meta))
    times = [n.time for n in conv.nodes]
    return {"title": conv.title, "create_time": round(min(times) - 2.5, 3), "update_time": round(max(times), 3),
            "mapping": mapping, "moderation_results": [], "current_node": conv.leaf, "plugin_ids": None,
            "conversation_id": conv.id, "conversation_template_id": None, "gizmo_id": None, "gizmo_type": None,
            "is_archived": False, "is_starred": None, "safe_urls": [], "blocked_urls": [],
            "default_model_slug": MODEL, "conversation_origin": None, "voice": None, "async_status": None,
            "disabled_tool_ids": [], "is_do_not_remember": False, "memory_scope": "global_enabled",
            "id": conv.id}


def _claude_block(kind: str, body: str, t: float) -> dict[str, Any]:
    block: dict[str, Any] = {"start_timestamp": _iso(t - 1.5), "stop_timestamp": _iso(t), "flags": None, "type": kind}
    if kind == "thinking":
        block.update({"thinking": body, "summaries": [{"summary": "Thinking about the question."}],
                      "cut_off": False, "alternative_display_type": None})
    else:
        block.update({"text": body, "citations": []})
    return block


def to_claude(conv: Conversation) -> dict[str, Any]:
    """One `conversations.json` item (flat chat_messages with parent links, chronological)."""
    msgs = []
    for n in sorted(conv.nodes, key=lambda n: n.time):
        text = _render(n, fence=False)
        content = [_claude_block("text", text, n.time)]
        if n.thinking:
            content.insert(0, _claude_block("thinking", n.thinking, n.time - 2.0))
        attachments = []
        if n.attach is not None:  # C7: a big paste becomes a txt attachment with an empty file name
            attachments.append({"file_name": "", "file_size": len(n.attach.encode("utf-8")), "file_type": "txt",
                                "extracted_content": n.attach})
        msgs.append({"uuid": n.id, "text": text, "content": content,
                     "sender": "human" if n.role == "user" else "assistant",
                     "created_at": _iso(n.time), "updated_at": _iso(n.time), "attachments": attachments,
                     "files": [], "parent_message_uuid": n.parent or CLAUDE_ROOT})
    out = {"uuid": conv.id, "name": conv.title, "summary": "", "created_at": _iso(min(n.time for n in conv.nodes) - 1),
           "updated_at": _iso(max(n.time for n in conv.nodes)), "chat_messages": msgs}
    if conv.account:
        out["account"] = {"uuid": conv.account}
    return out
