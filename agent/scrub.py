"""Scrub secrets and personal data into typed placeholders, logging kind and place (never the value).

Precise patterns (core.secrets, shared with dataset QC) catch the formats we know; detect-secrets
adds its maintained detectors on lines that look like they could hold a credential.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import cached_property
from typing import Any

from core.schemas import Redaction
from core.secrets import merge_spans, pattern_spans

PLACEHOLDER = {
    "email": "[EMAIL]", "phone": "[PHONE]", "ip_address": "[IP]", "card_number": "[CARD]",
    "ssn": "[SSN]", "deny": "[REDACTED]",
}

# A line is only shown to detect-secrets when it could plausibly hold a credential: its
# detectors are thorough but slow, and prose lines almost never match this.
_SUSPICIOUS = re.compile(
    r"(?i)(?:pass(?:word|wd)?|secret|token|api[_-]?key|auth|credential|private)|[A-Za-z0-9+/_\-=]{24,}"
)
_TOKEN = re.compile(r"[A-Za-z0-9+/_\-]{32,}={0,2}")


def placeholder(kind: str) -> str:
    """Return the typed placeholder that replaces a value of `kind`."""
    return PLACEHOLDER.get(kind, f"[SECRET:{kind}]")


def _entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _high_entropy(token: str) -> bool:
    """Tell whether a token is long, mixed-case alphanumeric and high-entropy: a key we have no pattern for."""
    t = token.strip("=")
    return (
        len(t) >= 32
        and any(c.isdigit() for c in t)
        and any(c.islower() for c in t)
        and any(c.isupper() for c in t)
        and _entropy(t) >= 4.2
        and not t.startswith("[")
    )


class Scrubber:
    """Replaces secrets and personal data with placeholders. Stateless apart from its lists."""

    def __init__(self, allow: Iterable[str] = (), deny: Iterable[str] = (), *, use_detect_secrets: bool = True) -> None:
        self.allow = {a.lower() for a in allow if a}
        deny_terms = sorted({d for d in deny if d}, key=len, reverse=True)
        self._deny = re.compile("|".join(re.escape(d) for d in deny_terms), re.I) if deny_terms else None
        self.use_detect_secrets = use_detect_secrets

    @cached_property
    def _ds_plugins(self) -> list[Any]:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

        skip = {"IPPublicDetector", "Base64HighEntropyString", "HexHighEntropyString"}  # ours are stricter
        return [cls() for cls in get_mapping_from_secret_type_to_class().values() if cls.__name__ not in skip]

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Spans (start, end, kind) to redact, non-overlapping, in order."""
        if not text:
            return []
        spans = pattern_spans(text)
        for m in _TOKEN.finditer(text):
            if _high_entropy(m.group()):
                spans.append((m.start(), m.end(), "high_entropy"))
        if self._deny is not None:
            spans.extend((m.start(), m.end(), "deny") for m in self._deny.finditer(text))
        if self.use_detect_secrets:
            spans.extend(self._detect_secrets(text))
        spans = [sp for sp in spans if text[sp[0]:sp[1]].lower() not in self.allow]
        return merge_spans(spans)

    def _detect_secrets(self, text: str) -> list[tuple[int, int, str]]:
        out: list[tuple[int, int, str]] = []
        offset = 0
        for line in text.split("\n"):
            if _SUSPICIOUS.search(line):
                for plugin in self._ds_plugins:
                    for found in plugin.analyze_line(filename="scrub.env", line=line, line_number=0):
                        value = found.secret_value
                        if not value or value.startswith("[") or len(value) < 6:
                            continue
                        i = line.find(value)
                        if i >= 0:
                            kind = re.sub(r"[^a-z0-9]+", "_", found.type.lower()).strip("_")
                            out.append((offset + i, offset + i + len(value), kind))
            offset += len(line) + 1
        return out

    def scrub(self, text: str, **where: Any) -> tuple[str, list[Redaction]]:
        """Return scrubbed text and one Redaction per replaced span (`where` fills in the place)."""
        spans = self.find(text)
        if not spans:
            return text, []
        parts: list[str] = []
        log: list[Redaction] = []
        last = 0
        for s, e, kind in spans:
            parts.append(text[last:s])
            parts.append(placeholder(kind))
            log.append(Redaction(kind=kind, start=s, length=e - s, **where))
            last = e
        parts.append(text[last:])
        return "".join(parts), log

