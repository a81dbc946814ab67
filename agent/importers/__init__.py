"""Read ChatGPT, Claude and generic exports into Conversation records, streaming one at a time."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import ijson

from agent.importers import chatgpt, claude, generic
from agent.importers.common import Tally
from agent.importers.sources import SourceFile, Utf8Checked, discover, peek_json_shape
from core.errors import ImportFailed
from core.schemas import Conversation

__all__ = ["SourceFile", "Tally", "discover", "read_source"]


def _dispatch(item: Any, label: str, index: int, tally: Tally) -> Conversation | None:
    if isinstance(item, dict) and "mapping" in item:
        return chatgpt.parse(item, tally)
    if isinstance(item, dict) and "chat_messages" in item:
        return claude.parse(item, tally)
    if index == 0:
        keys = sorted(item)[:8] if isinstance(item, dict) else type(item).__name__
        raise ImportFailed(
            label,
            f"neither a ChatGPT nor a Claude export: the first conversation has no 'mapping' or "
            f"'chat_messages' (found {keys})",
            "item 0",
        )
    tally.skip("item in neither format")
    tally.warn(f"{label}: item {index} is neither a ChatGPT nor a Claude conversation; skipped")
    return None


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
    except ijson.JSONError as e:
        raise ImportFailed(
            label,
            f"invalid or truncated JSON after {n} complete conversation(s) ({str(e).splitlines()[0][:120]})",
            f"near byte {checked.offset}",
        ) from e
    if n == 0 and shape == "object":
        raise ImportFailed(label, "a JSON object with no 'conversations' array: not an export")


def _items_from_html(stream: io.BufferedReader, label: str) -> Iterator[Any]:
    """chat.html embeds the data as `var jsonData = [...]`; the last-resort source."""
    text = stream.read().decode("utf-8")
    m = re.search(r"var\s+jsonData\s*=\s*", text)
    if not m:
        raise ImportFailed(label, "chat.html without a 'var jsonData = [...]' block")
    try:
        data, _ = json.JSONDecoder().raw_decode(text, m.end())
    except json.JSONDecodeError as e:
        raise ImportFailed(label, f"broken jsonData in chat.html ({e.msg})", f"char {e.pos}") from e
    yield from data


def read_source(source: SourceFile, tally: Tally) -> Iterator[Conversation]:
    """Conversations of one export file, streamed; raises ImportFailed with the file and position."""
    name = PurePosixPath(source.member or source.container.name).name.lower()
    with source.open() as raw:
        checked = Utf8Checked(raw, source.label)
        tally.bytes_read = checked
        stream = io.BufferedReader(checked, buffer_size=1 << 16)
        if name.endswith(".jsonl"):
            yield from generic.read_jsonl(stream, source.label, tally)
            return
        if name.endswith((".md", ".markdown")):
            yield from generic.read_markdown(stream, source.label, tally)
            return
        items = _items_from_html(stream, source.label) if name.endswith(".html") else _items_from_json(
            stream, checked, source.label
        )
        for i, item in enumerate(items):
            conv = _dispatch(item, source.label, i, tally)
            if conv is not None:
                yield conv
