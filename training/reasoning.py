r"""Render an example's reasoning and response in a target model family's convention, and parse it back.

An example stores `reasoning` and `response` apart; export renders them into the assistant turn
the target model was trained to produce:

- ``qwen3`` and ``deepseek-r1``: ``<think>\n{reasoning}\n</think>\n\n{response}``
- ``apriel-1.5``: ``Here are my reasoning steps:\n{reasoning}\n[BEGIN FINAL RESPONSE]\n{response}``
  ``\n[END FINAL RESPONSE]``
- ``minimax-m2``: ``<think>\n{reasoning}\n</think>\n\n{response}`` (no block when there is no reasoning)
- ``none``: the response alone; reasoning is not trained.

Each family's chat template ships in ``training/templates/<family>.jinja`` (written from the
real templates; sources in their header comments), with ``{% generation %}`` markers so TRL's
assistant-only loss covers exactly the assistant turn.

Escaping rule (why: a response that *talks about* ``</think>`` must not end the reasoning
block, and text must never smuggle in a turn delimiter). For every reserved marker of the
family (its reasoning delimiters and its chat-template control strings), an occurrence of the
marker's first character followed by k >= 0 backslashes and the rest of the marker gets one
more backslash: ``</think>`` -> ``<\/think>``, ``<\/think>`` -> ``<\\/think>``. Unescaping
removes one backslash from every such run of k >= 1. The escaped text never contains a marker,
the rule is exactly reversible, and it is applied to reasoning and response separately.
Texts are whitespace-stripped first: every real template strips the newlines around the
reasoning, so only stripped text can survive the round trip unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from core.thinking import APRIEL_BEGIN, APRIEL_END, APRIEL_HEAD, THINK_CLOSE, THINK_OPEN

TEMPLATES_DIR = Path(__file__).parent / "templates"



@dataclass(frozen=True)
class Family:
    """One target-model convention: how the assistant turn looks and how to find it again."""

    name: str
    markers: tuple[str, ...]
    assistant_open: str  # what the chat template writes before an assistant turn's content
    assistant_close: str  # what it writes right after the content
    trains_reasoning: bool = True

    @property
    def template_path(self) -> Path:
        return TEMPLATES_DIR / f"{self.name}.jinja"


_CHATML = ("<|im_start|>", "<|im_end|>")
FAMILIES: dict[str, Family] = {
    "qwen3": Family("qwen3", (THINK_OPEN, THINK_CLOSE, *_CHATML),
                    "<|im_start|>assistant\n", "<|im_end|>"),
    "deepseek-r1": Family("deepseek-r1", (THINK_OPEN, THINK_CLOSE, "<｜User｜>", "<｜Assistant｜>",
                                          "<｜end▁of▁sentence｜>", "<｜begin▁of▁sentence｜>"),
                          "<｜Assistant｜>", "<｜end▁of▁sentence｜>"),
    "apriel-1.5": Family("apriel-1.5", (APRIEL_HEAD, APRIEL_BEGIN, APRIEL_END, "<|end|>",
                                        "<|user|>", "<|assistant|>", "<|system|>"),
                         "<|assistant|>\n", "\n<|end|>\n"),
    "minimax-m2": Family("minimax-m2", (THINK_OPEN, THINK_CLOSE, "]~!b[", "]~b]", "[e~["),
                         "]~b]ai\n", "[e~["),
    "none": Family("none", _CHATML, "<|im_start|>assistant\n", "<|im_end|>", trains_reasoning=False),
}

# Other names for the families (older presets and registry records, vLLM's parser names).
ALIASES = {"apriel": "apriel-1.5", "generic": "none", "llama": "none", "deepseek_r1": "deepseek-r1",
           "minimax": "minimax-m2"}

# Substrings of base-model names that identify a family (checked in this order).
_NAME_HINTS = (
    ("apriel", "apriel-1.5"),
    ("minimax", "minimax-m2"),
    ("deepseek-r1", "deepseek-r1"),
    ("r1-distill", "deepseek-r1"),
    ("qwen3", "qwen3"),
)


def family_for(name: str) -> Family:
    """Find the family for a family name or a base-model name (``Qwen/Qwen3-8B`` -> qwen3).

    Raises:
        ValueError: when nothing matches; the message lists the known families.

    """
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key in FAMILIES:
        return FAMILIES[key]
    for hint, fam in _NAME_HINTS:
        if hint in key:
            return FAMILIES[fam]
    raise ValueError(f"unknown target model {name!r}; known families: {', '.join(FAMILIES)}")


def canonical_family(name: str) -> str:
    """Return the family's canonical name (aliases and model names resolved); unknown names as given."""
    try:
        return family_for(name).name
    except ValueError:
        return name


@cache
def load_template(family: str) -> str:
    """Read the shipped chat template (Jinja source) of `family`."""
    return family_for(family).template_path.read_text(encoding="utf-8")


@cache
def _patterns(markers: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    # Lookahead keeps matches one character wide, so overlapping markers ("[e~[e~[") are all
    # escaped; a single alternation applies every marker in one left-to-right pass.
    for m in markers:
        if "\\" in m or len(m) < 2:
            raise ValueError(f"marker {m!r} must be 2+ characters without backslashes")
    alts = "|".join(f"{re.escape(m[0])}(?=\\\\*{re.escape(m[1:])})" for m in markers)
    unalts = "|".join(f"{re.escape(m[0])}\\\\(?=\\\\*{re.escape(m[1:])})" for m in markers)
    return re.compile(alts), re.compile(unalts)


def escape(text: str, markers: tuple[str, ...]) -> str:
    """Make `text` free of every marker, reversibly (see the module docstring)."""
    esc, _ = _patterns(markers)
    return esc.sub(lambda m: m.group(0) + "\\", text)


def unescape(text: str, markers: tuple[str, ...]) -> str:
    """Invert `escape`."""
    _, unesc = _patterns(markers)
    return unesc.sub(lambda m: m.group(0)[0], text)


def render(reasoning: str, response: str, family: str | Family) -> str:
    """Render the assistant turn's content for `family`, markers in the texts escaped."""
    fam = family if isinstance(family, Family) else family_for(family)
    r = escape(reasoning.strip(), fam.markers)
    a = escape(response.strip(), fam.markers)
    if fam.name in ("qwen3", "deepseek-r1"):
        return f"{THINK_OPEN}\n{r}\n{THINK_CLOSE}\n\n{a}"
    if fam.name == "minimax-m2":
        return f"{THINK_OPEN}\n{r}\n{THINK_CLOSE}\n\n{a}" if r else a
    if fam.name == "apriel-1.5":
        return f"{APRIEL_HEAD}\n{r}\n{APRIEL_BEGIN}\n{a}\n{APRIEL_END}"
    return a


_THINK_RE = re.compile(r"\A<think>\n(.*?)\n?</think>\n\n(.*)\Z", re.DOTALL)
_APRIEL_RE = re.compile(
    r"\A" + re.escape(APRIEL_HEAD) + r"\n(.*?)\n?" + re.escape(APRIEL_BEGIN) + r"\n(.*)\n"
    + re.escape(APRIEL_END) + r"\Z", re.DOTALL)


def parse(content: str, family: str | Family) -> tuple[str, str]:
    """(reasoning, response) from an assistant turn rendered for `family`.

    Raises:
        ValueError: when `content` is not in the family's format.

    """
    fam = family if isinstance(family, Family) else family_for(family)
    if fam.name in ("qwen3", "deepseek-r1", "minimax-m2"):
        m = _THINK_RE.match(content)
        if m is None:
            if fam.name == "minimax-m2" and THINK_CLOSE not in content:
                return "", unescape(content, fam.markers)
            raise ValueError(f"{fam.name}: assistant turn has no well-formed <think> block: {content[:80]!r}")
        return unescape(m.group(1), fam.markers), unescape(m.group(2), fam.markers)
    if fam.name == "apriel-1.5":
        m = _APRIEL_RE.match(content)
        if m is None:
            raise ValueError(f"apriel-1.5: assistant turn lacks the reasoning/final-response markers: "
                             f"{content[:80]!r}")
        return unescape(m.group(1), fam.markers), unescape(m.group(2), fam.markers)
    return "", unescape(content, fam.markers)


def last_assistant_turn(templated: str, family: str | Family) -> str:
    """Extract the content of the last assistant turn in a conversation rendered by the family's template.

    Raises:
        ValueError: when the text has no complete assistant turn.

    """
    fam = family if isinstance(family, Family) else family_for(family)
    start = templated.rfind(fam.assistant_open)
    if start < 0:
        raise ValueError(f"{fam.name}: no assistant turn in the rendered conversation")
    start += len(fam.assistant_open)
    end = templated.find(fam.assistant_close, start)
    if end < 0:
        raise ValueError(f"{fam.name}: the last assistant turn is not closed")
    return templated[start:end]


def to_messages(prompt: str, reasoning: str, response: str, family: str | Family,
                system: str | None = None) -> list[dict[str, str]]:
    """Build a chat `messages` list (system?, user, assistant) with the assistant turn rendered."""
    fam = family if isinstance(family, Family) else family_for(family)
    msgs: list[dict[str, str]] = []
    if system:
        msgs.append({"role": "system", "content": escape(system.strip(), fam.markers)})
    msgs.append({"role": "user", "content": escape(prompt.strip(), fam.markers)})
    msgs.append({"role": "assistant", "content": render(reasoning, response, fam)})
    return msgs
