"""The sample persona's text material, parsed from `persona.txt` (format described at its top).

Kept as plain text so the material reads like what it is (her words) and can be edited without
touching code. Everything here is invented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

MATERIAL = Path(__file__).with_name("persona.txt")
PARAGRAPH = " // "
VENDORS = ("chatgpt", "claude")
_TOKEN = re.compile(r"\{(paste|attach):([\w-]+)\}")
MARK = "\ue000"  # where a pasted block sits inside her text; the writers replace it


class MaterialError(ValueError):
    """The persona file is malformed; the message names the line."""


@dataclass
class Line:
    """One of her messages: text with paragraph breaks, plus what the importer must cope with."""

    text: str
    abandoned: str | None = None  # her first wording, replaced by an edit (a branch)
    regenerated: bool = False  # the assistant's first answer to it was regenerated (a branch)
    paste: str | None = None  # name of a pasted block (not her words) inside the message
    attach: str | None = None  # name of a block sent as a Claude attachment (not her words)
    reply: str | None = None  # the assistant's answer, where the story needs a specific one
    asked: str | None = None  # the question the assistant ended on just before this line

    @property
    def own(self) -> str:
        """Her words only (the paste mark removed)."""
        return re.sub(r"\n{3,}", "\n\n", self.text.replace(MARK, "")).strip()


@dataclass
class Topic:
    """One conversation's material: where it belongs, what the assistant talks about, her lines."""

    domain: str
    title: str
    points: list[str]
    vendor: str | None
    lines: list[Line] = field(default_factory=list)


@dataclass
class Material:
    topics: list[Topic]
    pools: dict[str, list[str]]
    pastes: dict[str, str]


def _paragraphs(text: str) -> str:
    return "\n\n".join(p.strip() for p in text.split(PARAGRAPH))


def _line(raw: str, abandoned: str | None, where: str) -> Line:
    line = Line(text="", abandoned=abandoned)
    if raw.endswith("{regen}"):
        line.regenerated, raw = True, raw[: -len("{regen}")].rstrip()
    for kind, name in _TOKEN.findall(raw):
        if getattr(line, kind) is not None:
            raise MaterialError(f"{where}: one {kind} per message")
        setattr(line, kind, name)
    text = _paragraphs(_TOKEN.sub(MARK, raw).strip()).replace(MARK, f"\n\n{MARK}\n\n")
    line.text = re.sub(r"\s*\n\n\s*", "\n\n", text).strip()
    if not line.own:
        raise MaterialError(f"{where}: a message needs some words of her own")
    return line


def _topic(header: str, where: str) -> Topic:
    parts = [p.strip() for p in header.split("|")]
    if len(parts) not in (3, 4):
        raise MaterialError(f"{where}: a topic is [topic DOMAIN | TITLE | points | vendor?]")
    vendor = parts[3] if len(parts) == 4 else None
    if vendor is not None and vendor not in VENDORS:
        raise MaterialError(f"{where}: unknown vendor {vendor!r}")
    return Topic(parts[0], parts[1], [p.strip() for p in parts[2].split(";") if p.strip()], vendor)


def parse(text: str) -> Material:
    """Parse the material; raise MaterialError naming the line on anything malformed."""
    topics: list[Topic] = []
    pools: dict[str, list[str]] = {}
    pastes: dict[str, str] = {}
    topic: Topic | None = None
    pool: list[str] | None = None
    paste: tuple[str, list[str]] | None = None
    abandoned: str | None = None
    asked: str | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        where = f"{MATERIAL.name}:{n}"
        if paste is not None:
            if raw.strip() == "[end]":
                pastes[paste[0]] = "\n".join(paste[1])
                paste = None
            else:
                paste[1].append(raw.rstrip())
            continue
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("[") and s.endswith("]") and not s.startswith("[end"):
            kind, _, rest = s[1:-1].partition(" ")
            topic = pool = None
            if kind == "topic":
                topic = _topic(rest, where)
                topics.append(topic)
            elif kind == "pool":
                pool = pools.setdefault(rest.strip(), [])
            elif kind == "paste":
                paste = (rest.strip(), [])
            else:
                raise MaterialError(f"{where}: unknown section {kind!r}")
            continue
        if pool is not None:
            pool.append(s)
        elif topic is not None:
            if s.startswith("~ "):
                abandoned = _paragraphs(s[2:])
                continue
            if s.startswith("? "):
                asked = s[2:].strip()
                continue
            if s.startswith("= "):
                if not topic.lines or topic.lines[-1].reply is not None:
                    raise MaterialError(f"{where}: an assistant answer (=) must follow one of her lines")
                topic.lines[-1].reply = _paragraphs(s[2:])
                continue
            topic.lines.append(_line(s, abandoned, where))
            topic.lines[-1].asked = asked
            abandoned = asked = None
        else:
            raise MaterialError(f"{where}: text outside any section")
    if paste is not None:
        raise MaterialError(f"{MATERIAL.name}: paste {paste[0]!r} has no [end]")
    for t in topics:
        for ln in t.lines:
            for name in (ln.paste, ln.attach):
                if name is not None and name not in pastes:
                    raise MaterialError(f"{MATERIAL.name}: {t.title!r} uses unknown paste {name!r}")
    return Material(topics, pools, pastes)


def load(path: Path = MATERIAL) -> Material:
    return parse(path.read_text(encoding="utf-8"))
