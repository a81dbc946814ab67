"""Function words and content masking: the topic-free view of a text for M3 features and masked M4.

Classifiers over character and word n-grams can learn what a person talks about rather than
how they write (voice-metrics.md, Caveats: topic leakage). Function words, punctuation and
the shape of the remaining words carry the style without the topic, so M3 gets a
function-word block and M4 is repeated on content-masked text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Closed-class English words (pronouns, determiners, prepositions, conjunctions, auxiliaries
# with their contractions) plus the discourse markers that stylometry treats alike (Mosteller
# & Wallace's "marker" words): frequent everywhere, chosen by habit rather than by topic.
FUNCTION_WORDS: frozenset[str] = frozenset("""
a about above after again against all am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
either every few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's
hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it'd it'll it's its itself
just let's me more most much must mustn't my myself neither no nor not now of off on once one only or other
ought our ours ourselves out over own same shall shan't she she'd she'll she's should shouldn't so some such
than that that'd that'll that's the their theirs them themselves then there there'd there'll there's these they
they'd they'll they're they've this those though through to too under until up upon us very was wasn't we we'd
we'll we're we've were weren't what what'd what'll what's when when's where where's whether which while who
who'd who'll who's whom whose why why's will with within without won't would wouldn't yet you you'd you'll
you're you've your yours yourself yourselves
also actually really basically maybe perhaps still even anyway however well oh ok okay yeah yes yep nope
like just gonna wanna gotta kinda sorta lol honestly certainly definitely absolutely great sure please thanks
""".split())

_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


def is_function_word(token: str) -> bool:
    """Return True for a closed-class/marker word (case-insensitive, curly apostrophes allowed)."""
    return token.lower().replace("’", "'") in FUNCTION_WORDS


def word_shape(token: str) -> str:
    """Return a content word's shape: "0" digits, "XX" all-caps, "Xx" capitalised, "x" otherwise.

    Casing habits (lower-case sentence starts, shouting) are style, so the shape keeps them
    while the word itself, which carries the topic, is dropped.
    """
    if any(ch.isdigit() for ch in token):
        return "0"
    if len(token) > 1 and token.isupper():
        return "XX"
    return "Xx" if token[:1].isupper() else "x"


def mask_content(text: str) -> str:
    """Replace every non-function word by its shape, keeping all else verbatim.

    Punctuation, emoji, line breaks and markdown survive, and each word stays one token, so
    the masked text segments into the same pieces as the original.
    """
    return _WORD_RE.sub(lambda m: m.group(0) if is_function_word(m.group(0)) else word_shape(m.group(0)), text)


def mask_all(texts: Sequence[str]) -> list[str]:
    """`mask_content` over a list."""
    return [mask_content(t) for t in texts]
