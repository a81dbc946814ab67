"""Read ChatGPT, Claude and generic exports into Conversation records, streaming one at a time."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import IO, Any

import ijson

from agent.importers import chatgpt, claude, generic
from agent.importers.common import Tally
from agent.importers.limits import MAX_PREAMBLE_BYTES, MAX_STRING_BYTES, JsonLimits
from agent.importers.sources import SourceFile, Utf8Checked, discover, peek_json_shape
from core.errors import ImportFailed
from core.schemas import Conversation

__all__ = ["SourceFile", "Tally", "discover", "read_source"]


def _dispatch(item: Any, label: str, index: int, tally: Tally) -> Conversation | None:
    try:
        if isinstance(item, dict) and "mapping" in item:
            return chatgpt.parse(item, tally)
        if isinstance(item, dict) and "chat_messages" in item:
            return claude.parse(item, tally)
    except (TypeError, AttributeError, ValueError, KeyError, IndexError) as e:
        # The parsers read every field defensively; a shape they still trip on is named, not raised raw.
        raise ImportFailed(label, f"conversation {index} has an unexpected shape ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0][:160] if str(e) else 'no detail'})", f"item {index}") from e
    if index == 0:
        keys = sorted(map(str, item))[:8] if isinstance(item, dict) else type(item).__name__
        raise ImportFailed(
            label,
            f"neither a ChatGPT nor a Claude export: the first conversation has no 'mapping' or "
            f"'chat_messages' (found {keys})",
            "item 0",
        )
    tally.skip("item in neither format")
    tally.warn(f"{label}: item {index} is neither a ChatGPT nor a Claude conversation; skipped")
    return None


def _why(e: Exception) -> str:
    """First line of a parser error, readable (yajl reports bytes, with the offending input)."""
    if isinstance(e, UnicodeDecodeError):
        return "a string holds bytes that are not UTF-8, e.g. an unpaired \\ud800-style surrogate escape"
    arg = e.args[0] if e.args else ""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return (text.strip().splitlines() or [type(e).__name__])[0][:120]


def _items_from_json(stream: io.BufferedReader, checked: Utf8Checked, label: str) -> Iterator[Any]:
    shape = peek_json_shape(stream)
    if shape == "empty":
        raise ImportFailed(label, "the file is empty")
    if shape == "other":
        raise ImportFailed(label, "not JSON: expected an array of conversations", "byte 0")
    prefix = "item" if shape == "array" else "conversations.item"
    n = 0
    try:
        # use_float: epoch seconds as float, not Decimal; one conversation in memory at a time.
        for item in ijson.items(stream, prefix, use_float=True):
            yield item
            n += 1
    except (ijson.JSONError, ValueError) as e:  # ValueError: undecodable text or a number too long
        raise ImportFailed(
            label, f"invalid or truncated JSON after {n} complete conversation(s) ({_why(e)})",
            f"near byte {checked.offset}",
        ) from e
    if n == 0 and shape == "object":
        raise ImportFailed(label, "a JSON object with no 'conversations' array: not an export")


class _Rest(io.RawIOBase):
    """Bytes already read, then the rest of the stream (chat.html after `var jsonData =`)."""

    def __init__(self, head: bytes, tail: IO[bytes]) -> None:
        self._head, self._tail = head, tail

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._tail.read(len(b))
        b[: len(data)] = data
        return len(data)


_JSONDATA = re.compile(rb"var\s+jsonData\s*=\s*")


def _items_from_html(stream: io.BufferedReader, checked: Utf8Checked, label: str) -> Iterator[Any]:
    """chat.html embeds the data as `var jsonData = [...]`; the last-resort source, streamed like JSON."""
    buf = b""
    while (m := _JSONDATA.search(buf, max(0, len(buf) - (1 << 16) - 64))) is None:
        block = stream.read(1 << 16) if len(buf) <= MAX_PREAMBLE_BYTES else b""
        if not block:
            raise ImportFailed(label, "chat.html without a 'var jsonData = [...]' block")
        buf += block
    data = io.BufferedReader(JsonLimits(_Rest(buf[m.end():], stream), label, stop_at_root_end=True), 1 << 16)
    if peek_json_shape(data) != "array":
        raise ImportFailed(label, "chat.html's jsonData is not an array of conversations")
    yield from _items_from_json(data, checked, label)


def read_source(source: SourceFile, tally: Tally) -> Iterator[Conversation]:
    """Conversations of one export file, streamed; raises ImportFailed with the file and position."""
    name = PurePosixPath(source.member or source.container.name).name.lower()
    with source.open() as raw:
        checked = Utf8Checked(raw, source.label)
        tally.bytes_read = checked
        if name.endswith((".md", ".markdown")):
            yield from generic.read_markdown(io.BufferedReader(checked, buffer_size=1 << 16), source.label, tally)
            return
        if name.endswith(".html"):
            items = _items_from_html(io.BufferedReader(checked, buffer_size=1 << 16), checked, source.label)
        else:
            # Every byte of JSON passes the structural limits before the parser sees it (limits.py).
            stream = io.BufferedReader(JsonLimits(checked, source.label), buffer_size=1 << 16)
            if name.endswith(".jsonl"):
                yield from generic.read_jsonl(stream, source.label, tally, max_line=MAX_STRING_BYTES)
                return
            items = _items_from_json(stream, checked, source.label)
        for i, item in enumerate(items):
            conv = _dispatch(item, source.label, i, tally)
            if conv is not None:
                yield conv
