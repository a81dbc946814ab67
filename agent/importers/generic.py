"""Other sources: JSONL of {role, content} messages and Markdown transcripts."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import IO, Any

from agent.importers.common import Tally, parse_time
from agent.importers.text import normalize, split_own_words
from core.errors import ImportFailed
from core.schemas import Conversation, Message, Role

ROLE_ALIASES = {
    "user": Role.person, "human": Role.person, "person": Role.person, "me": Role.person,
    "assistant": Role.assistant, "ai": Role.assistant, "bot": Role.assistant, "model": Role.assistant,
    "claude": Role.assistant, "chatgpt": Role.assistant, "gpt": Role.assistant,
    "system": Role.system, "tool": Role.tool, "function": Role.tool,
}
_MD_TURN = re.compile(
    r"^(?:#{1,6}\s*|\*\*)?(?P<role>user|human|me|you|assistant|ai|claude|chatgpt|model|system)(?:\*\*)?\s*:?\s*(?:\*\*)?\s*$"
    r"|^\*\*(?P<role2>user|human|me|you|assistant|ai|claude|chatgpt|model|system):\*\*\s?(?P<rest>.*)$",
    re.I,
)


def _message(conv: Conversation, idx: int, role: Role, text: str, created: Any = None) -> Message:
    text = normalize(text).strip()
    own, share = split_own_words(text) if role is Role.person else ("", 0.0)
    return Message(
        id=f"{conv.id}/{idx}", parent_id=f"{conv.id}/{idx - 1}" if idx else None, role=role, text=text,
        own_text=own, pasted_share=share, created_at=parse_time(created), position=idx,
    )


# Lines of one conversation may be far apart, so a JSONL file is held whole; past this size
# (or a Markdown transcript past its own) the file is refused rather than memory exhausted.
MAX_JSONL_BYTES = 256 << 20
MAX_MARKDOWN_BYTES = 64 << 20


def read_jsonl(stream: IO[bytes], label: str, tally: Tally, *, max_line: int = 64 << 20) -> Iterator[Conversation]:
    """Lines of {role, content[, conversation_id, created_at, title]}; grouped by conversation_id."""
    convs: dict[str, Conversation] = {}
    digest = hashlib.sha256(label.encode()).hexdigest()[:16]
    total = 0
    for n, raw in enumerate(iter(lambda: stream.readline(max_line + 1), b""), 1):
        total += len(raw)
        if len(raw) > max_line:
            raise ImportFailed(label, f"a line longer than {max_line:,} bytes", f"line {n}")
        if total > MAX_JSONL_BYTES:
            raise ImportFailed(label, f"a JSONL file larger than {MAX_JSONL_BYTES:,} bytes; split it", f"line {n}")
        line = raw.decode("utf-8").strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ImportFailed(label, f"invalid JSON ({e.msg})", f"line {n}, column {e.colno}") from e
        if not isinstance(rec, dict) or "role" not in rec or "content" not in rec:
            raise ImportFailed(label, "each line must be an object with 'role' and 'content'", f"line {n}")
        role = ROLE_ALIASES.get(str(rec["role"]).lower())
        if role is None:
            tally.skip(f"unknown role {rec['role']!r}")
            continue
        cid = str(rec.get("conversation_id") or digest)
        conv = convs.get(cid)
        if conv is None:
            conv = convs[cid] = Conversation(id=f"generic:{cid}", vendor="generic", external_id=cid,
                                             title=str(rec.get("title") or ""))
        content = rec["content"]
        if isinstance(content, list):  # OpenAI-style content parts
            content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if role in (Role.person, Role.assistant) and not str(content).strip():
            tally.skip("empty message")
            continue
        conv.messages.append(_message(conv, len(conv.messages), role, str(content), rec.get("created_at")))
    yield from convs.values()


def read_markdown(stream: IO[bytes], label: str, tally: Tally) -> Iterator[Conversation]:
    """Read a transcript with '## User' / '## Assistant' headings or '**User:**' prefixes."""
    raw = stream.read(MAX_MARKDOWN_BYTES + 1)
    if len(raw) > MAX_MARKDOWN_BYTES:
        raise ImportFailed(label, f"a Markdown transcript larger than {MAX_MARKDOWN_BYTES:,} bytes; split it")
    text = normalize(raw.decode("utf-8"))
    cid = hashlib.sha256(label.encode()).hexdigest()[:16]
    title_m = re.match(r"\s*#\s+(.+)", text)
    conv = Conversation(id=f"generic:{cid}", vendor="generic", external_id=cid,
                        title=title_m.group(1).strip() if title_m else label.rsplit("/", 1)[-1])
    role: Role | None = None
    buf: list[str] = []

    def flush() -> None:
        if role is not None and "\n".join(buf).strip():
            conv.messages.append(_message(conv, len(conv.messages), role, "\n".join(buf)))

    for line in text.split("\n"):
        m = _MD_TURN.match(line.strip())
        if m:
            flush()
            name = (m.group("role") or m.group("role2")).lower()
            role = Role.person if name == "you" else ROLE_ALIASES[name]
            buf = [m.group("rest")] if m.group("rest") else []
        elif role is not None:
            buf.append(line)
    flush()
    if not conv.messages:
        raise ImportFailed(label, "no turns found: expected '## User' / '## Assistant' headings or '**User:**' lines")
    yield conv
