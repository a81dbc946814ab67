"""Deterministic checks on a draft: reasoning present, length, assistant-isms, analogies, planted instructions."""

from __future__ import annotations

import re
from typing import Any

ASSISTANT_ISMS = [
    r"\bas an ai\b", r"\bas a language model\b", r"\bi'?d be (happy|glad) to\b", r"\bgreat question\b",
    r"\bi hope this helps\b", r"\blet me know if you have any (other|more|further) questions\b",
    r"\bit'?s important to note\b", r"\bcertainly!", r"\babsolutely!", r"\bdelve\b",
    r"\bi (don't|do not) have personal (opinions|experiences)\b", r"\bfeel free to\b",
]
_ISMS = [re.compile(p, re.IGNORECASE) for p in ASSISTANT_ISMS]
ANALOGY = re.compile(
    r"\b(like an? |it'?s like|basically an? |think of it as|same as an? |the way an? |as if|akin to|"
    r"analogous to|equivalent of an?|is an? [a-z]+ for)", re.IGNORECASE)
FIRST_PERSON = re.compile(r"\b(I|I'm|I'd|I've|my|me)\b")

MIN_REASONING_WORDS = 12
RESPONSE_WORDS = (15, 900)

# Instructions planted in imported text: the prompt's own tag names, and the usual phrases.
_PLANTED_TAGS = r"</?\s*(?:sources?|owner_request|owner_reply|drafts?|style_card|brief)\b[^>\n]{0,200}>"
_PLANTED_PHRASES = (r"\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+|your\s+)?(?:previous|prior|above|"
                    r"earlier|preceding)\s+(?:instructions|rules|prompts?|messages?)\b|\byou\s+are\s+now\b|"
                    r"\bnew\s+(?:system\s+)?instructions\b|\bsystem\s+prompt\b")
_PLANTED = re.compile(f"{_PLANTED_TAGS}|{_PLANTED_PHRASES}", re.IGNORECASE)
# In a draft itself: not <source> or <draft> (HTML and code use them), only the prompt's own tags.
_IN_DRAFT = re.compile(r"</?\s*(?:sources|owner_request|owner_reply|style_card|brief)\b[^>\n]{0,200}>|"
                       + _PLANTED_PHRASES, re.IGNORECASE)
PLANTED_SPAN = 600  # characters after a planted marker taken as the injected payload
ECHO_WORDS = 6  # a shared run of this many words is an echo, not a coincidence


def check_draft(draft: dict[str, Any]) -> dict[str, Any]:
    """Run the deterministic checks for one draft, with `passed` when none failed."""
    reasoning = draft.get("reasoning") or ""
    response = draft.get("response") or ""
    words = len(response.split())
    isms = sorted({m.group(0).lower() for rx in _ISMS for m in rx.finditer(f"{reasoning}\n{response}")})
    out: dict[str, Any] = {
        "reasoning_present": len(reasoning.split()) >= MIN_REASONING_WORDS,
        "reasoning_first_person": bool(FIRST_PERSON.search(reasoning)),
        "response_words": words,
        "length_ok": RESPONSE_WORDS[0] <= words <= RESPONSE_WORDS[1],
        "assistant_isms": isms,
        "analogy": bool(ANALOGY.search(response) or ANALOGY.search(reasoning)),
    }
    if draft.get("injection"):  # set when the draft was made (agent.nodes.new_draft), from its sources
        out["injection"] = list(draft["injection"])
    out["passed"] = out["reasoning_present"] and out["length_ok"] and not isms and not out.get("injection")
    return out


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + ECHO_WORDS]) for i in range(len(words) - ECHO_WORDS + 1)}


def planted_instructions(sources: list[str], draft: dict[str, Any] | None = None) -> list[str]:
    """Find instructions planted in `sources`; with `draft`, only those the draft echoes.

    Without a draft: the planted passages (a forged tag or an "ignore previous instructions"
    phrase and what follows it). With one: a note for each passage the draft repeats (a shared
    run of ECHO_WORDS words), and for any planted marker inside the draft itself.
    """
    planted = [text[m.start():m.start() + PLANTED_SPAN] for text in sources for m in _PLANTED.finditer(text)]
    if draft is None:
        return planted
    body = "\n".join(str(draft.get(k) or "") for k in ("prompt", "reasoning", "response"))
    mine = _shingles(body)
    found = []
    for passage in planted:
        common = _shingles(_PLANTED.sub(" ", passage)) & mine
        if common:
            found.append(f"repeats a planted instruction: {' '.join(min(common))!r}")
    found += [f"contains {m.group(0)[:60]!r}" for m in _IN_DRAFT.finditer(body)]
    return sorted(set(found))
