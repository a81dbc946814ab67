"""Regenerate the bundled sample exports (Rosa Ibarra, a fictional persona) in both vendor formats.

Usage: python -m ui.sample.make_sample [OUT_DIR]   (default: next to this file)

Deterministic: one seeded RNG drives every choice, ids and timestamps included, and the zip
entries carry a fixed date, so two runs give identical bytes. Her words come from
`persona.txt`; the assistant's from `assistant.py`; the vendor shapes from `formats.py`.
"""

from __future__ import annotations

import io
import json
import random
import re
import sys
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from ui.sample import assistant
from ui.sample.formats import Conversation, Node, to_chatgpt, to_claude
from ui.sample.persona import MARK, Line, Material, Topic, load

HERE = Path(__file__).parent
SEED = 1873  # the year the oldest barn in (fictional) Alder Fork was raised
START = datetime(2024, 3, 4, 8, 0, tzinfo=UTC).timestamp()
SPAN_DAYS = 545  # about 18 months of conversations
ZIP_DATE = (2025, 9, 1, 12, 0, 0)
PROFILE = ("Timber-frame builder, two-person shop in Alder Fork. I self-host the shop's files.",
           "Be brief. Plain words. No bullet points.")
PROFILE_FROM = datetime(2024, 7, 1, tzinfo=UTC).timestamp()  # she set custom instructions that summer
MAX_SHARED_5GRAMS = 0.6  # no two of her messages may share more of their word 5-grams than this
_WORD = re.compile(r"[a-z0-9']+")
_HAS_ANALOGY = re.compile(r"\b(like a|like an|it's like|is like|think of)\b", re.I)


def five_grams(text: str) -> set[tuple[str, ...]]:
    w = _WORD.findall(text.lower())
    return {tuple(w[i : i + 5]) for i in range(len(w) - 4)}


def shared_share(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    """Return the share of the smaller message's 5-grams that the other one also has."""
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


class Ids:
    """Vendor-shaped ids from the seeded RNG (ChatGPT: UUIDv4; Claude messages: time-ordered, v7-like)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def v4(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def v7(self, t: float) -> str:
        ms = int(t * 1000) & ((1 << 48) - 1)
        n = ms << 80 | 0x7 << 76 | self.rng.getrandbits(12) << 64 | 0b10 << 62 | self.rng.getrandbits(62)
        return str(uuid.UUID(int=n))


class Composer:
    """Turns topics into conversation trees: her lines, light decoration, one-liners, the assistant."""

    def __init__(self, material: Material, rng: random.Random) -> None:
        self.m, self.rng, self.ids = material, rng, Ids(rng)
        self.used: dict[str, int] = {}
        self.seen: list[set[tuple[str, ...]]] = []

    def _fits(self, text: str) -> bool:
        g = five_grams(text)
        return all(shared_share(g, s) <= MAX_SHARED_5GRAMS for s in self.seen)

    def _extra(self, pool: str, cap: int) -> str | None:
        free = [s for s in self.m.pools.get(pool, []) if self.used.get(s, 0) < cap]
        return self.rng.choice(free) if free else None

    def decorate(self, line: Line, domain: str, opening: bool) -> str:
        """Her line, sometimes with one of her stock analogies or a dry aside appended.

        Only statements get one: an opening message or a question stays as written.
        """
        text, extra = line.text, None
        long_enough = (len(line.own.split()) >= 10 and line.paste is None and line.attach is None and not opening
                       and not line.own.endswith("?"))
        if long_enough and not _HAS_ANALOGY.search(text) and self.rng.random() < 0.3:
            extra = self._extra(f"analogy:{domain}", 1)
        elif long_enough and self.rng.random() < 0.07:
            extra = self._extra("aside", 1)
        if extra is not None and self._fits(f"{line.own} {extra}"):
            self.used[extra] = self.used.get(extra, 0) + 1
            return f"{text} {extra}"
        if not self._fits(line.own):
            raise ValueError(f"persona.txt: {line.own[:80]!r} shares over {MAX_SHARED_5GRAMS:.0%} of its word "
                             "5-grams with an earlier message; reword one of them")
        return text

    def _typing(self, text: str) -> float:
        pause = self.rng.uniform(20, 240) + 2.5 * len(text.split())
        return pause + (self.rng.uniform(3, 20) * 3600 if self.rng.random() < 0.06 else 0.0)

    def _with_oneliners(self, topic: Topic, oneliners: list[str]) -> tuple[list[Line], set[int]]:
        """Her lines with the one-liners slotted in, never between a question and its answer."""
        lines, inserted = list(topic.lines), set()
        for text in oneliners:
            extra = Line(text=text)
            free = [i for i in range(1, len(lines) + 1)
                    if lines[i - 1].reply is None and (i == len(lines) or lines[i].asked is None)]
            inserted.add(id(extra))
            lines.insert(self.rng.choice(free), extra)
        return lines, inserted

    def conversation(self, topic: Topic, start: float, vendor: str, oneliners: list[str]) -> Conversation:
        lines, inserted = self._with_oneliners(topic, oneliners)
        nid = self.ids.v4 if vendor == "chatgpt" else None
        t, parent, nodes = start, None, []

        def node(role: str, text: str, par: str | None, **kw: object) -> Node:
            n = Node(nid() if nid else self.ids.v7(t), par, role, text, t, **kw)  # type: ignore[arg-type]
            nodes.append(n)
            return n

        def answer(her: str, par: str, given: str | None = None, ask: str | None = None) -> Node:
            nonlocal t
            t += self.rng.uniform(6, 30)
            think = (assistant.thinking(topic.points, self.rng)
                     if vendor == "claude" and self.rng.random() < 0.2 else None)
            text = "\n\n".join(x for x in (given, ask) if x) if given else assistant.reply(
                her, topic.points, self.rng, ask)
            return node("assistant", text, par, thinking=think)

        for i, line in enumerate(lines):
            ask = lines[i + 1].asked if i + 1 < len(lines) else None
            decorated = line.text if id(line) in inserted else self.decorate(line, topic.domain, i == 0)
            if line.abandoned is not None:  # an edit: the first wording and its answer stay as a dead branch
                first = node("user", line.abandoned, parent)
                answer(line.abandoned, first.id)
                t += self._typing(line.text)
            paste = self.m.pastes[line.paste] if line.paste else None
            attach = self.m.pastes[line.attach] if line.attach else None
            her = node("user", decorated, parent, paste=paste, attach=attach)
            self.seen.append(five_grams(decorated.replace(MARK, " ")))
            if line.regenerated:  # a regenerate: the first answer is a sibling nobody kept
                answer(line.own, her.id)
            parent = answer(line.own, her.id, line.reply, ask).id
            t += self._typing(line.text)
        profile = PROFILE if vendor == "chatgpt" and start >= PROFILE_FROM else None
        return Conversation(self.ids.v4(), topic.title, nodes, parent or nodes[-1].id, profile)


def compose(material: Material, seed: int = SEED) -> dict[str, list[Conversation]]:
    """All conversations, by vendor, in date order."""
    rng = random.Random(seed)
    topics = list(material.topics)
    rng.shuffle(topics)
    starts = sorted(START + rng.uniform(0, SPAN_DAYS) * 86_400 for _ in topics)
    pool = list(material.pools.get("oneliner", []))
    rng.shuffle(pool)
    composer = Composer(material, rng)
    account = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    out: dict[str, list[Conversation]] = {"chatgpt": [], "claude": []}
    for i, (topic, start) in enumerate(zip(topics, starts, strict=True)):
        # She started on ChatGPT and drifted to Claude: the later the chat, the likelier Claude.
        vendor = topic.vendor or ("claude" if rng.random() < 0.15 + 0.7 * i / (len(topics) - 1) else "chatgpt")
        k = min(len(pool), rng.choice((0, 1, 1, 1, 2)))
        oneliners, pool = pool[:k], pool[k:]
        conv = composer.conversation(topic, start, vendor, oneliners)
        if vendor == "claude":
            conv.account = account
        out[vendor].append(conv)
    return out


def _zip(name: str, data: object) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        zf.writestr(info, json.dumps(data, ensure_ascii=False, indent=None))
    return buf.getvalue()


def build(material: Material | None = None, seed: int = SEED) -> dict[str, bytes]:
    """Return the two sample zips, by file name, as bytes."""
    convs = compose(material or load(), seed)
    ids = Ids(random.Random(seed + 1))
    # ChatGPT lists the newest conversation first; Claude's list is in creation order.
    chatgpt = [to_chatgpt(c, ids.v4(), ids.v4()) for c in reversed(convs["chatgpt"])]
    claude = [to_claude(c) for c in convs["claude"]]
    return {"chatgpt-sample.zip": _zip("conversations.json", chatgpt),
            "claude-sample.zip": _zip("conversations.json", claude)}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else HERE
    out.mkdir(parents=True, exist_ok=True)
    zips = build()
    for name, data in zips.items():
        (out / name).write_bytes(data)
    print("wrote", ", ".join(str(out / n) for n in sorted(zips)))


if __name__ == "__main__":
    main()
