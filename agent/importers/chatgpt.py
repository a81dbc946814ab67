"""ChatGPT export conversations: a message tree per conversation; the shown branch is current_node's ancestry."""

from __future__ import annotations

from typing import Any

from agent.importers.common import Tally, as_dict, as_id, as_list, as_size, as_text, parse_time
from agent.importers.text import normalize, split_own_words
from core.schemas import Attachment, Conversation, Message, Role

TEXT_TYPES = {"text", "multimodal_text"}


def _parts_text(content: dict[str, Any]) -> tuple[str, bool]:
    """Text from str parts and voice transcriptions; whether any non-text part was present (G10)."""
    texts: list[str] = []
    non_text = False
    for part in as_list(content.get("parts")):
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            if part.get("content_type") == "audio_transcription" and as_text(part.get("text")):
                texts.append(part["text"])
            else:
                non_text = True
    return normalize("\n".join(t for t in texts if t)), non_text


def _parent(mapping: dict[str, Any], node_id: str) -> str | None:
    parent = as_id(as_dict(mapping.get(node_id)).get("parent"))
    return parent or None


def _ancestry(mapping: dict[str, Any], leaf: str) -> list[str]:
    path: list[str] = []
    seen: set[str] = set()
    node_id: str | None = leaf
    while node_id and node_id in mapping and node_id not in seen:  # visited set: G14 cycles
        seen.add(node_id)
        path.append(node_id)
        node_id = _parent(mapping, node_id)
    return path[::-1]


def _depths(mapping: dict[str, Any]) -> dict[str, int]:
    """Depth of every node (root 0), each computed once: a long chain must not cost n² walks."""
    depth: dict[str, int] = {}
    for start in mapping:
        chain: list[str] = []
        on_chain: set[str] = set()
        node_id: str | None = start
        while node_id and node_id in mapping and node_id not in depth and node_id not in on_chain:
            chain.append(node_id)
            on_chain.add(node_id)
            node_id = _parent(mapping, node_id)
        # Above the chain: a node already known, or nothing (root, dangling parent, a cycle).
        d = depth[node_id] + 1 if node_id in depth else 0
        for nid in reversed(chain):
            depth[nid] = d
            d += 1
    return depth


def _is_leaf(mapping: dict[str, Any], node: dict[str, Any]) -> bool:
    """Tell whether a node has no child present in `mapping` (children it lists may be missing: G3)."""
    return not any(as_id(c) in mapping for c in as_list(node.get("children")))


def _newest_leaf(mapping: dict[str, Any], depth: dict[str, int]) -> str | None:
    """G3 fallback: the leaf with the newest create_time, ties to the deepest."""
    best: tuple[float, int, str] | None = None
    for nid, raw in mapping.items():
        node = as_dict(raw)
        if not _is_leaf(mapping, node):
            continue
        t = as_dict(node.get("message")).get("create_time")
        key = (float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else 0.0, depth.get(nid, 0), nid)
        if best is None or key > best:
            best = key
    return best[2] if best else None


def parse(item: dict[str, Any], tally: Tally) -> Conversation | None:
    """One conversation object, or None (counted) when it cannot be read (G12)."""
    cid = as_id(item.get("conversation_id")) or as_id(item.get("id"))
    mapping = item.get("mapping")
    if not cid or not isinstance(mapping, dict):
        tally.skip("conversation without id or mapping")
        tally.warn(f"skipped a ChatGPT conversation with no {'id' if not cid else 'mapping'} "
                   f"({as_text(item.get('title'))[:80]!r})")
        return None
    conv = Conversation(
        id=f"chatgpt:{cid}", vendor="chatgpt", external_id=cid, title=normalize(as_text(item.get("title"))),
        created_at=parse_time(item.get("create_time")), updated_at=parse_time(item.get("update_time")),
        meta={"model": as_text(item.get("default_model_slug")) or None,
              "gizmo_id": as_text(item.get("gizmo_id")) or None},
    )
    depth = _depths(mapping)
    leaf = as_id(item.get("current_node"))
    if not leaf or leaf not in mapping:
        leaf = _newest_leaf(mapping, depth) or ""
        if mapping and any(as_dict(n).get("message") for n in mapping.values()):
            tally.warn(f"{conv.id}: current_node missing or dangling; using the newest leaf")
    shown = _ancestry(mapping, leaf) if leaf else []
    shown_pos = {nid: i for i, nid in enumerate(shown)}
    pending_meta: dict[str, list[Any]] = {"thinking": [], "tools": []}
    last_time = conv.created_at
    # Shown branch first, in tree order, then abandoned nodes by depth: tool and thinking
    # nodes are folded into the next real turn of the same walk.
    order = shown + sorted((n for n in mapping if n not in shown_pos), key=lambda n: (depth.get(n, 0), n))
    for nid in order:
        node = as_dict(mapping[nid])
        msg = as_dict(node.get("message"))
        if not msg:
            continue  # G4: null root
        on_shown = nid in shown_pos
        author = as_dict(msg.get("author"))
        role = author.get("role")
        content = as_dict(msg.get("content"))
        ctype = as_text(content.get("content_type"))
        meta = as_dict(msg.get("metadata"))
        hidden = bool(meta.get("is_visually_hidden_from_conversation"))
        created = parse_time(msg.get("create_time")) or last_time  # G13
        last_time = created or last_time
        position = shown_pos[nid] if on_shown else 10_000 + depth.get(nid, 0)
        parent = _parent(mapping, nid)
        if ctype == "user_editable_context":  # G6: custom instructions, a profile not a turn
            conv.meta["custom_instructions"] = normalize(
                "\n".join(as_text(content.get(k)) for k in ("user_profile", "user_instructions")).strip()
            )
            continue
        if ctype in ("thoughts", "reasoning_recap"):  # G8: model reasoning, never voice
            for th in map(as_dict, as_list(content.get("thoughts"))):
                pending_meta["thinking"].append(normalize(as_text(th.get("content")) or as_text(th.get("summary"))))
            continue
        if role == "system" or hidden and role != "user":
            continue
        if role == "user":
            if hidden or ctype not in TEXT_TYPES:
                tally.skip("hidden or non-text user node")
                continue
            text, non_text = _parts_text(content)
            attachments = [
                Attachment(name=normalize(as_text(a.get("name"))), kind=normalize(as_text(a.get("mime_type"))),
                           size=as_size(a.get("size")))
                for a in map(as_dict, as_list(meta.get("attachments")))
            ]
            if not text.strip() and not non_text and not attachments:
                tally.skip("empty user message")
                continue
            own, share = split_own_words(text)
            conv.messages.append(Message(
                id=f"{conv.id}/{nid}", parent_id=f"{conv.id}/{parent}" if parent else None, role=Role.person,
                text=text, own_text=own, pasted_share=share, created_at=created, on_shown_branch=on_shown,
                position=position, has_non_text=non_text or bool(attachments), attachments=attachments,
            ))
            continue
        if role == "assistant" and msg.get("recipient") in ("all", None) and ctype in TEXT_TYPES:
            text, _ = _parts_text(content)
            if not text.strip():
                continue
            m_meta: dict[str, Any] = {"model": as_text(meta.get("model_slug")) or None}
            if as_dict(meta.get("finish_details")).get("type") == "max_tokens":
                m_meta["continued"] = True  # G9: merged into one turn when pairs are built
            for k, v in pending_meta.items():
                if v:
                    m_meta[k] = v
            pending_meta = {"thinking": [], "tools": []}
            conv.messages.append(Message(
                id=f"{conv.id}/{nid}", parent_id=f"{conv.id}/{parent}" if parent else None,
                role=Role.assistant, text=text, own_text="", created_at=created, on_shown_branch=on_shown,
                position=position, meta=m_meta,
            ))
            continue
        # G7/G15: tool calls, tool output, canvas and DALL-E traffic: metadata, not turns.
        tool_text = as_text(content.get("text")) or (_parts_text(content)[0] if ctype in TEXT_TYPES else "")
        pending_meta["tools"].append({
            "role": as_text(role), "recipient": as_text(msg.get("recipient")), "name": as_text(author.get("name")),
            "content_type": as_text(ctype), "text": normalize(tool_text)[:4000],
        })
    return conv
