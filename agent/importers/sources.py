"""Find export files in a zip, folder or single file, and stream their JSON items safely."""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from core.errors import ImportFailed

# Zip bombs: no member may expand past this ratio or size, and the whole archive past the
# total. JSON compresses about 10:1; 200:1 is far past anything a real export does.
MAX_RATIO = 200
MAX_MEMBER_BYTES = 16 << 30
MAX_TOTAL_BYTES = 64 << 30

_SHARD = re.compile(r"^conversations(-\d+)?\.json$")
_GENERIC = re.compile(r"\.(jsonl|md|markdown)$", re.I)


@dataclass(frozen=True)
class SourceFile:
    """One readable file inside an export: `label` names it for errors ("x.zip!conversations.json")."""

    label: str
    container: Path
    member: str | None  # None: a plain file on disk
    size: int

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        if self.member is None:
            with open(self.container, "rb") as f:
                yield f
        else:
            with zipfile.ZipFile(self.container) as zf:
                info = zf.getinfo(self.member)
                with zf.open(info) as raw:
                    yield _Limited(raw, info.file_size, self.label)


class _Limited(io.RawIOBase):
    """Refuses to inflate past the size the zip header declared (headers can lie)."""

    def __init__(self, raw: IO[bytes], declared: int, label: str) -> None:
        self._raw, self._left, self._label = raw, declared, label

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._raw.read(len(b))
        self._left -= len(data)
        if self._left < 0:
            raise ImportFailed(self._label, "member inflates past its declared size (possible zip bomb)")
        b[: len(data)] = data
        return len(data)


def _check_zip(path: Path, zf: zipfile.ZipFile) -> None:
    total = 0
    for info in zf.infolist():
        name = info.filename
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", name):
            raise ImportFailed(str(path), f"unsafe member path {name!r} (absolute or '..'); refusing the archive")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise ImportFailed(str(path), f"member {name!r} is a symbolic link; refusing the archive")
        total += info.file_size
        if info.file_size > MAX_MEMBER_BYTES or (
            info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1 << 20
        ):
            raise ImportFailed(
                str(path),
                f"member {name!r} expands to {info.file_size:,} bytes from {info.compress_size:,} "
                f"(ratio limit {MAX_RATIO}:1, size limit {MAX_MEMBER_BYTES:,}); possible zip bomb",
            )
    if total > MAX_TOTAL_BYTES:
        raise ImportFailed(str(path), f"archive expands to {total:,} bytes, over the {MAX_TOTAL_BYTES:,} limit")


def _pick(names: list[str]) -> list[str]:
    """Conversation files to read from a listing of base names (shards in order, html last resort)."""
    shards = sorted(n for n in names if _SHARD.match(PurePosixPath(n).name))
    if shards:
        return shards
    html = [n for n in names if PurePosixPath(n).name == "chat.html"]
    if html:
        return html
    return sorted(n for n in names if _GENERIC.search(n))


def discover(path: Path) -> list[SourceFile]:
    """Find the conversation files of an export at `path` (zip, folder, or single file)."""
    if not path.exists():
        raise ImportFailed(str(path), "no such file or directory")
    if path.is_dir():
        files = [p for p in sorted(path.rglob("*")) if p.is_file()]
        rel = {str(p.relative_to(path)): p for p in files}
        picked = _pick(list(rel))
        zips = [p for p in files if p.suffix.lower() == ".zip"] if not picked else []
        out = [SourceFile(str(rel[n]), rel[n], None, rel[n].stat().st_size) for n in picked]
        for z in zips:
            out.extend(discover(z))
        if not out:
            raise ImportFailed(
                str(path),
                "no export found: expected conversations.json, conversations-NNN.json, chat.html, "
                "a .zip export, or .jsonl/.md transcripts",
            )
        return out
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as e:
            raise ImportFailed(str(path), f"not a readable zip archive ({e})") from e
        with zf:
            _check_zip(path, zf)
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
            sizes = {i.filename: i.file_size for i in zf.infolist()}
        picked = _pick(names)
        if not picked:
            raise ImportFailed(str(path), "zip holds no conversations.json, conversations-NNN.json or chat.html")
        return [SourceFile(f"{path}!{n}", path, n, sizes[n]) for n in picked]
    if path.stat().st_size == 0:
        raise ImportFailed(str(path), "the file is empty")
    return [SourceFile(str(path), path, None, path.stat().st_size)]


class Utf8Checked(io.RawIOBase):
    """Passes bytes through, validating UTF-8 incrementally so errors carry a byte offset.

    A leading BOM is dropped (exports saved by some editors carry one).
    """

    def __init__(self, raw: IO[bytes], label: str) -> None:
        self._raw = raw
        self._label = label
        self._dec = codecs.getincrementaldecoder("utf-8")("strict")
        self.offset = 0
        self._first = True

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._raw.read(len(b))
        if self._first:
            self._first = False
            if data.startswith(codecs.BOM_UTF8):
                data = data[3:]
                self.offset += 3
        try:
            self._dec.decode(data, final=not data)
        except UnicodeDecodeError as e:
            raise ImportFailed(self._label, f"invalid UTF-8 ({e.reason})", f"byte {self.offset + e.start}") from e
        self.offset += len(data)
        b[: len(data)] = data
        return len(data)


def peek_json_shape(stream: IO[bytes]) -> str:
    """'array', 'object' or 'empty' from the first non-space byte (stream is buffered)."""
    buf = stream.peek(64) if hasattr(stream, "peek") else b""
    s = buf.lstrip(codecs.BOM_UTF8).lstrip()
    if not s:
        return "empty"
    return {ord("["): "array", ord("{"): "object"}.get(s[0], "other")
