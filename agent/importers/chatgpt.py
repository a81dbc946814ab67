"""ChatGPT export conversations: a message tree per conversation; the shown branch is current_node's ancestry."""

from __future__ import annotations

from typing import Any

from agent.importers.common import Tally, parse_time
from agent.importers.text import normalize, split_own_words
from core.schemas import Attachment, Conversation, Message, Role

TEXT_TYPES = {"text", "multimodal_text"}


def _parts_text(content: dict[str, Any]) -> tuple[str, bool]:
    """Text from str parts and voice transcriptions; whether any non-text part was present (G10)."""
    texts: list[str] = []
    non_text = False
    for part in content.get("parts") or []:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            if part.get("content_type") == "audio_transcription" and part.get("text"):
                texts.append(str(part["text"]))
            else:
                non_text = True
    return normalize("\n".join(t for t in texts if t)), non_text


def _ancestry(mapping: dict[str, Any], leaf: str) -> list[str]:
    path: list[str] = []
    seen: set[str] = set()
    node_id: str | None = leaf
    while node_id and node_id in mapping and node_id not in seen:  # visited set: G14 cycles
        seen.add(node_id)
        path.append(node_id)
        node_id = mapping[node_id].get("parent")
    return path[::-1]


def _newest_leaf(mapping: dict[str, Any]) -> str | None:
    """G3 fallback: the leaf with the newest create_time, ties to the deepest."""
    best: tuple[float, int, str] | None = None
    for nid, node in mapping.items():
        if node.get("children"):
            continue
        t = ((node.get("message") or {}).get("create_time")) or 0.0
        key = (float(t), len(_ancestry(mapping, nid)), nid)
        if best is None or key > best:
            best = key
    return best[2] if best else None


def _depths(mapping: dict[str, Any]) -> dict[str, int]:
    depth: dict[str, int] = {}
    for nid in mapping:
        depth[nid] = len(_ancestry(mapping, nid)) - 1
    return depth


def parse(item: dict[str, Any], tally: Tally) -> Conversation | None:
    """One conversation object, or None (counted) when it cannot be read (G12)."""
    cid = str(item.get("conversation_id") or item.get("id") or "")
    mapping = item.get("mapping")
    if not cid or not isinstance(mapping, dict):
        tally.skip("conversation without id or mapping")
        tally.warn(f"skipped a ChatGPT conversation with no {'id' if not cid else 'mapping'} ({item.get('title')!r})")
        return None
    conv = Conversation(
        id=f"chatgpt:{cid}", vendor="chatgpt", external_id=cid, title=normalize(item.get("title") or ""),
        created_at=parse_time(item.get("create_time")), updated_at=parse_time(item.get("update_time")),
        meta={"model": item.get("default_model_slug"), "gizmo_id": item.get("gizmo_id")},
    )
    leaf = item.get("current_node")
    if not leaf or leaf not in mapping:
        leaf = _newest_leaf(mapping)
        if mapping and any(n.get("message") for n in mapping.values()):
            tally.warn(f"{conv.id}: current_node missing or dangling; using the newest leaf")
    shown = _ancestry(mapping, leaf) if leaf else []
    shown_pos = {nid: i for i, nid in enumerate(shown)}
    depth = _depths(mapping) if len(shown) < len(mapping) else {}
    pending_meta: dict[str, list[Any]] = {"thinking": [], "tools": []}
    last_time = conv.created_at
    # Shown branch first, in tree order, then abandoned nodes by depth: tool and thinking
    # nodes are folded into the next real turn of the same walk.
    order = shown + sorted((n for n in mapping if n not in shown_pos), key=lambda n: (depth.get(n, 0), n))
    for nid in order:
        node = mapping[nid]
        msg = node.get("message")
        if not msg:
            continue  # G4: null root
        on_shown = nid in shown_pos
        author = msg.get("author") or {}
        role = author.get("role")
        content = msg.get("content") or {}
        ctype = content.get("content_type")
        meta = msg.get("metadata") or {}
        hidden = bool(meta.get("is_visually_hidden_from_conversation"))
        created = parse_time(msg.get("create_time")) or last_time  # G13
        last_time = created or last_time
        position = shown_pos[nid] if on_shown else 10_000 + depth.get(nid, 0)
        parent = node.get("parent")
        if ctype == "user_editable_context":  # G6: custom instructions, a profile not a turn
            conv.meta["custom_instructions"] = normalize(
                "\n".join(str(content.get(k) or "") for k in ("user_profile", "user_instructions")).strip()
            )
            continue
        if ctype in ("thoughts", "reasoning_recap"):  # G8: model reasoning, never voice
            for th in content.get("thoughts") or []:
                pending_meta["thinking"].append(normalize(str(th.get("content") or th.get("summary") or "")))
            continue
        if role == "system" or hidden and role != "user":
            continue
        if role == "user":
            if hidden or ctype not in TEXT_TYPES:
                tally.skip("hidden or non-text user node")
                continue
            text, non_text = _parts_text(content)
            attachments = [
                Attachment(name=str(a.get("name") or ""), kind=str(a.get("mime_type") or ""), size=a.get("size"))
                for a in meta.get("attachments") or []
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
            m_meta: dict[str, Any] = {"model": meta.get("model_slug")}
            if meta.get("finish_details", {}).get("type") == "max_tokens":
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
        tool_text = content.get("text") or (_parts_text(content)[0] if ctype in TEXT_TYPES else "")
        pending_meta["tools"].append({
            "role": role, "recipient": msg.get("recipient"), "name": author.get("name"),
            "content_type": ctype, "text": normalize(str(tool_text or ""))[:4000],
        })
    return conv
