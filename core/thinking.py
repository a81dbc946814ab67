"""Split a model's reasoning from its answer: the one implementation, streamed or whole.

The CPU server splits its token stream with `ReasoningSplitter` (as vLLM's reasoning parser
does); the generation client splits whole answers a server left unsplit with
`split_reasoning`, which runs the same splitter (plus Apriel's markers, which only ever arrive
whole). training.reasoning renders and parses the exact training formats with these markers.
"""

from __future__ import annotations

import re

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
APRIEL_HEAD = "Here are my reasoning steps:"
APRIEL_BEGIN = "[BEGIN FINAL RESPONSE]"
APRIEL_END = "[END FINAL RESPONSE]"

_APRIEL = re.compile(r"^\s*(?:" + re.escape(APRIEL_HEAD) + r"\s*)?(?P<r>.*?)\s*" + re.escape(APRIEL_BEGIN)
                     + r"(?P<c>.*?)(?:" + re.escape(APRIEL_END) + r"|$)", re.S)


class ReasoningSplitter:
    """Splits streamed text into (reasoning, content) around <think> … </think>, like vLLM's parser."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.buf = ""
        self.state = "start" if enabled else "content"

    def feed(self, text: str) -> list[tuple[str, str]]:
        """Pieces as ("reasoning" | "content", text)."""
        out: list[tuple[str, str]] = []
        self.buf += text
        while self.buf:
            if self.state == "start":
                stripped = self.buf.lstrip()
                if len(stripped) < len(THINK_OPEN) and THINK_OPEN.startswith(stripped):
                    return out  # maybe the start of <think>: wait for more
                if stripped.startswith(THINK_OPEN):
                    self.buf = stripped[len(THINK_OPEN):]
                    self.state = "reasoning"
                else:
                    self.state = "content"
            elif self.state == "reasoning":
                idx = self.buf.find(THINK_CLOSE)
                if idx >= 0:
                    if idx:
                        out.append(("reasoning", self.buf[:idx]))
                    self.buf = self.buf[idx + len(THINK_CLOSE):].lstrip("\n")
                    self.state = "content"
                    continue
                keep = max(0, len(self.buf) - len(THINK_CLOSE) + 1)  # a closing tag may be split
                if keep:
                    out.append(("reasoning", self.buf[:keep]))
                self.buf = self.buf[keep:]
                return out
            else:
                out.append(("content", self.buf))
                self.buf = ""
        return out

    def flush(self) -> list[tuple[str, str]]:
        """Whatever is left at the end."""
        rest, self.buf = self.buf, ""
        if not rest:
            return []
        return [("reasoning" if self.state == "reasoning" else "content", rest)]


def split_reasoning(text: str) -> tuple[str, str]:
    """(reasoning, answer) from raw text with `<think>…</think>` or Apriel's markers; ("", text) otherwise."""
    split = ReasoningSplitter(enabled=True)
    parts: dict[str, list[str]] = {"reasoning": [], "content": []}
    for part, piece in (*split.feed(text), *split.flush()):
        parts[part].append(piece)
    # A <think> never closed (the answer was cut off) is left as text, as it always was here.
    if split.state == "content" and text.lstrip().startswith(THINK_OPEN):
        return "".join(parts["reasoning"]).strip(), "".join(parts["content"]).strip()
    m = _APRIEL.match(text)
    if m:
        return m.group("r").strip(), m.group("c").strip()
    return "", text
