"""Structural limits on JSON, checked on the raw bytes while they stream, before any parser sees them.

ijson's item builder keeps the full prefix string ("item.item.item…") of every open level,
so memory grows with the square of the nesting depth: a 200 KB file of nested brackets took
more than 8 GB (measured). One conversation is also built whole in memory, where each
one-letter key costs ~150 bytes of Python objects. So before a byte reaches the parser this
reader checks, outside string literals: nesting depth, the bytes and the number of values
(commas and colons) inside one conversation, and the length of any one string. It scans in
C (regex, bytes.translate, numpy), not per byte in Python. Sizes are checked where a read
chunk ends (64 KB with the importer's buffers), so they hold to within one chunk.
"""

from __future__ import annotations

import io
import re
from typing import IO, Any

import numpy as np

from core.errors import ImportFailed

MAX_DEPTH = 100  # real exports nest about 15 deep (tool inputs a little more)
MAX_ITEM_BYTES = 128 << 20  # one conversation (the largest real ones are a few MB)
MAX_ITEM_VALUES = 1_000_000  # one conversation: a long real one has tens of thousands
MAX_STRING_BYTES = 32 << 20  # one string (a pasted log, an attachment's text)
MAX_PREAMBLE_BYTES = 16 << 20  # chat.html before `var jsonData =`

# Outside a string: runs of non-quote bytes and whole string literals. Where this stops
# short of the end, an unterminated string starts.
_OUTSIDE = re.compile(rb'(?:[^"]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.S)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_STRING_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.S)  # stops at a closing quote or a lone final "\"
_KEEP = b"[]{},:"
_DROP = bytes(b for b in range(256) if b not in _KEEP)
_DELTA = np.zeros(256, dtype=np.int64)
_DELTA[list(b"[{")] = 1
_DELTA[list(b"]}")] = -1
_SEP = np.zeros(256, dtype=bool)
_SEP[list(b",:")] = True


class JsonLimits(io.RawIOBase):
    """Pass JSON bytes through, raising ImportFailed (naming the file) when a limit is crossed.

    The reader ends its stream where the root value closes (`stop_at_root_end`), which is
    how chat.html's `var jsonData = [...];` is read without the HTML after it.
    """

    def __init__(self, raw: IO[bytes], label: str, *, max_depth: int = MAX_DEPTH,
                 max_item_bytes: int = MAX_ITEM_BYTES, max_item_values: int = MAX_ITEM_VALUES,
                 max_string_bytes: int = MAX_STRING_BYTES, stop_at_root_end: bool = False) -> None:
        self._raw = raw
        self._label = label
        self.max_depth = max_depth
        self.max_item_bytes = max_item_bytes
        self.max_item_values = max_item_values
        self.max_string_bytes = max_string_bytes
        self._stop = stop_at_root_end
        self.offset = 0  # bytes passed on so far
        self._depth = 0
        self._item_depth: int | None = None  # depth of one conversation's container: 2 in [...], 3 in {"x": [...]}
        self._in_string = False
        self._escape = False
        self._string_since: int | None = None
        self._item_since: int | None = None
        self._item_values = 0
        self._done = False
        self._carry = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._done:
            return 0
        room = len(b)
        fresh = self._raw.read(room - len(self._carry)) if len(self._carry) < room else b""
        data = self._carry + fresh
        data, self._carry = data[:room], data[room:]
        if not data:
            return 0
        if fresh:  # an escape cut by the chunk boundary waits for its next bytes
            cut = _escape_start(data)
            if 0 < cut < len(data):
                data, self._carry = data[:cut], data[cut:]
        if b"\\u" in data:
            data = _LONE_SURROGATE.sub(_to_replacement_char, data)
        end = self._scan(data)
        if end is not None:
            data = data[:end]
            self._done = True
        b[: len(data)] = data
        self.offset += len(data)
        return len(data)

    # ------------------------------------------------------------------ scanning
    def _fail(self, what: str, at: int) -> None:
        raise ImportFailed(self._label, what, f"byte {at}")

    def _scan(self, data: bytes) -> int | None:
        """Check one chunk; return where the root value ends inside it (stop mode), else None."""
        i = 0
        if self._in_string:
            i = self._string_tail(data, 0)
            if self._in_string:
                return None
        while i < len(data):
            m = _OUTSIDE.match(data, i)
            stop = m.end() if m else i
            end = self._structure(data[i:stop], i)
            if end is not None:
                return end
            if stop >= len(data):
                return None
            # data[stop] is a quote opening a string that this chunk does not close.
            self._in_string, self._string_since = True, self.offset + stop
            i = self._string_tail(data, stop + 1)
        return None

    def _string_tail(self, data: bytes, i: int) -> int:
        """Continue a string from `i`; returns where scanning goes on (len(data) while still inside)."""
        if self._escape:
            self._escape, i = False, i + 1
        m = _STRING_BODY.match(data, i)
        stop = m.end() if m else i
        if stop < len(data) and data[stop:stop + 1] == b'"':
            self._in_string, self._string_since = False, None
            return stop + 1
        self._escape = stop < len(data)  # stopped on a lone final backslash
        if self._string_since is not None and self.offset + len(data) - self._string_since > self.max_string_bytes:
            self._fail(f"a string longer than {self.max_string_bytes:,} bytes (limit for one text)",
                       self._string_since)
        self._check_item_bytes(len(data))
        return len(data)

    def _structure(self, region: bytes, start: int) -> int | None:
        """Depth and per-conversation counts over a region with no open string."""
        self._check_item_bytes(start)  # the item open before this region is at least this long
        syms = _STRING.sub(b"", region).translate(None, _DROP)
        if not syms:
            self._check_item_bytes(start + len(region))
            return None
        codes = np.frombuffer(syms, dtype=np.uint8)
        if self._item_depth is None:
            self._item_depth = 2 if codes[0] == ord("[") else 3
        delta = _DELTA[codes]
        after = self._depth + np.cumsum(delta)
        deepest = int(after.max())
        if deepest > self.max_depth:
            self._fail(f"JSON nested deeper than {self.max_depth} levels (not an export)", self.offset + start)
        item = self._item_depth
        is_end = (delta < 0) & (after == item - 1)
        counted = _SEP[codes] & (after >= item)
        running = np.cumsum(counted)
        base = np.maximum.accumulate(np.where(is_end, running, 0))
        before_first_end = np.cumsum(is_end) == 0
        per_item = running - base + np.where(before_first_end, self._item_values, 0)
        if int(per_item.max()) > self.max_item_values:
            self._fail(f"one conversation holds more than {self.max_item_values:,} values", self.offset + start)
        self._item_values = int(per_item[-1]) if after[-1] >= item else 0
        if after[-1] < item:
            self._item_since = None
        elif self._item_since is None or is_end.any():
            self._item_since = self.offset + start  # an item opened in this region (a slight overestimate)
        self._depth = int(after[-1])
        self._check_item_bytes(start + len(region))
        if self._stop and (after == 0).any():
            # The root value closed: the bytes after it are not JSON (chat.html's script tail).
            closing = int(np.argmax(after == 0))
            return start + _nth_symbol_end(region, closing)
        return None

    def _check_item_bytes(self, upto: int) -> None:
        if self._item_since is not None and self.offset + upto - self._item_since > self.max_item_bytes:
            self._fail(f"one conversation is larger than {self.max_item_bytes:,} bytes", self._item_since)


# A \\udXXX escape without its pair: yajl turns it into bytes that are not UTF-8 and the whole
# file fails, yet exports hold them (a title cut mid-emoji). They become \\ufffd, same length.
_LONE_SURROGATE = re.compile(
    rb"(?<!\\)((?:\\\\)*)\\u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    rb"|(?<!\\)((?:\\\\)*)\\u([dD][c-fC-F][0-9a-fA-F]{2})")


def _to_replacement_char(m: re.Match[bytes]) -> bytes:
    if m.group(2) is not None:
        return m.group(0) if m.group(3) else m.group(1) + b"\\ufffd"
    return m.group(4) + b"\\ufffd"


def _escape_start(data: bytes) -> int:
    """Where a backslash run that may begin an unfinished escape starts (len(data) when none)."""
    k = data.rfind(b"\\", max(0, len(data) - 12))
    if k < 0:
        return len(data)
    while k > 0 and data[k - 1:k] == b"\\" and len(data) - k < 4096:
        k -= 1
    return k


def _nth_symbol_end(region: bytes, n: int) -> int:
    """Offset just past the n-th (0-based) structural symbol of `region`, strings skipped."""
    seen = -1
    i = 0
    while i < len(region):
        c = region[i:i + 1]
        if c == b'"':
            m = _STRING.match(region, i)
            i = m.end() if m else len(region)
            continue
        if c in (b"[", b"]", b"{", b"}", b",", b":"):
            seen += 1
            if seen == n:
                return i + 1
        i += 1
    return len(region)
