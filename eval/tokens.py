"""Words, sentences and sentence-aligned segments: the tokenisation every voice metric shares."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_SENT_SPLIT_RE = re.compile(r"(?<=[.!?…])\s+|\n+")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (apostrophes kept inside words, curly ones normalised)."""
    return [w.replace("’", "'") for w in WORD_RE.findall(text.lower())]


def sentences(text: str) -> list[str]:
    """Sentences, split at end punctuation and at line breaks (lists count line by line)."""
    return [s.strip() for s in _SENT_SPLIT_RE.split(text) if s and s.strip()]


def segment(texts: Sequence[str], *, max_words: int = 60, max_per_text: int = 6) -> tuple[list[str], list[int]]:
    """Cut texts into sentence-aligned segments of about `max_words` words.

    Per-message classifiers need many items, and a few very long messages (a pasted design
    doc) must not swamp the rest, so each text gives at most `max_per_text` segments, taken
    evenly across it.

    Returns:
        (segments, owner) where owner[i] is the index of the text segment i came from.

    """
    segs: list[str] = []
    owner: list[int] = []
    for i, text in enumerate(texts):
        pieces: list[str] = []
        cur: list[str] = []
        n = 0
        for s in sentences(text):
            k = len(s.split())
            if cur and n + k > max_words:
                pieces.append(" ".join(cur))
                cur, n = [], 0
            cur.append(s)
            n += k
        if cur:
            pieces.append(" ".join(cur))
        if not pieces:
            continue
        if len(pieces) > max_per_text:
            idx = np.linspace(0, len(pieces) - 1, max_per_text).round().astype(int)
            pieces = [pieces[j] for j in idx]
        segs.extend(pieces)
        owner.extend([i] * len(pieces))
    return segs, owner
