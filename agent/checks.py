"""Deterministic checks on a draft: reasoning present, length, assistant-isms, analogies."""

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
    out["passed"] = out["reasoning_present"] and out["length_ok"] and not isms
    return out
