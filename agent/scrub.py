"""Scrub secrets and personal data into typed placeholders, logging kind and place (never the value).

Precise patterns catch the formats we know (vendor keys, emails, phones…); detect-secrets
adds its maintained detectors on lines that look like they could hold a credential.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from core.schemas import Redaction

Validator = Callable[[str], bool]


@dataclass(frozen=True)
class Pattern:
    kind: str
    regex: re.Pattern[str]
    group: int = 0
    validate: Validator | None = None


def _luhn(s: str) -> bool:
    digits = [int(c) for c in s if c.isdigit()]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _ipv4(s: str) -> bool:
    parts = s.split(".")
    if any(len(p) > 1 and p.startswith("0") for p in parts) or any(int(p) > 255 for p in parts):
        return False
    # Loopback, "any" and netmasks describe no one; everything else can locate a person or host.
    return not (s.startswith("127.") or s == "0.0.0.0" or parts[0] == "255")


def _ipv6(s: str) -> bool:
    import ipaddress

    try:
        ip = ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return not ip.is_loopback and not ip.is_unspecified


def _phone(s: str) -> bool:
    digits = re.sub(r"\D", "", s)
    return 10 <= len(digits) <= 15


def _env_value(s: str) -> bool:
    low = s.lower()
    return not s.startswith("[") and not s.startswith("$") and low not in {
        "true", "false", "none", "null", "yes", "no", "changeme", "xxx", "xxxx", "<redacted>", "bearer", "basic",
        "token", "required", "optional",
    }


# Words that follow "password is" in prose without being a password ("my password is wrong").
_PROSE_NOT_PASSWORDS = {
    "correct", "wrong", "incorrect", "expired", "required", "reset", "changed", "fine", "weak", "strong", "long",
    "short", "the", "not", "still", "also",
}

P = re.compile
SECRET_PATTERNS: list[Pattern] = [
    Pattern("private_key", P(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
                             r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.S)),
    Pattern("anthropic_key", P(r"\bsk-ant-(?:api|admin|sid)\d{2}-[A-Za-z0-9_\-]{20,}")),
    Pattern("openai_key", P(r"\bsk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,}"
                            r"|\bsk-[A-Za-z0-9]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}"
                            r"|\bsk-[A-Za-z0-9]{40,}\b")),
    Pattern("huggingface_token", P(r"\bhf_[A-Za-z0-9]{30,}\b")),
    Pattern("aws_access_key", P(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b")),
    Pattern("aws_secret_key", P(r"(?i)aws.{0,20}?(?:secret|private).{0,20}?[=:]\s*[\"']?([A-Za-z0-9/+=]{40})\b"), 1),
    Pattern("github_token", P(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{50,}")),
    Pattern("slack_token", P(r"\bxox[abposre]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+")),
    Pattern("stripe_key", P(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b|\bwhsec_[A-Za-z0-9]{24,}\b")),
    Pattern("google_api_key", P(r"\bAIza[0-9A-Za-z\-_]{35}\b")),
    Pattern("jwt", P(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    Pattern("bearer_token", P(r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{16,}=*)"), 1),
    Pattern("url_password", P(r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]+:([^/\s@]+)@"), 1),
    Pattern(
        "env_secret",
        P(r"(?im)^[ \t]*(?:export[ \t]+)?"
          r"[A-Z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|CREDENTIALS?|AUTH)[A-Z0-9_]*"
          r"[ \t]*[=:][ \t]*[\"']?([^\s\"'#]{4,})"),
        1,
        _env_value,
    ),
    Pattern("password", P(r"(?i)\b(?:password|passwd|pwd)\s*[:=]\s*[\"']?([^\s\"',;]{4,})"), 1, _env_value),
    # Prose: "my password is hunter2", "the admin password was x" (trailing punctuation kept out).
    Pattern("password", P(r"(?i)\b(?:password|passphrase|passcode|pin)\s+(?:is|was|=)\s+"
                          r"[\"'`]?([^\s\"'`]*[^\s\"'`.,;:!?)])"), 1,
            lambda v: len(v) >= 4 and _env_value(v) and v.lower() not in _PROSE_NOT_PASSWORDS),
]
PII_PATTERNS: list[Pattern] = [
    Pattern("email", P(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b")),
    Pattern("card_number", P(r"\b(?:\d[ -]?){12,18}\d\b"), 0, _luhn),
    Pattern("ssn", P(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")),
    Pattern(
        "phone",
        P(r"(?<![\w.])(?:\+?1[ \-.]?)?\(?[2-9]\d{2}\)?[ \-.]\d{3}[ \-.]\d{4}(?![\w])"
          r"|(?<![\w+])\+\d{10,14}\b"
          r"|(?<![\w])\+\d{1,3}[ \-.]\d{2,4}[ \-.]\d{3,4}[ \-.]\d{3,4}\b"),
        0,
        _phone,
    ),
    Pattern("ip_address", P(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"), 0, _ipv4),
    Pattern("ip_address", P(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])"), 0,
            lambda v: len(v) >= 6 and _ipv6(v)),
]

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
        self._deny = P("|".join(re.escape(d) for d in deny_terms), re.I) if deny_terms else None
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
        spans: list[tuple[int, int, str]] = []
        for pat in (*SECRET_PATTERNS, *PII_PATTERNS):
            for m in pat.regex.finditer(text):
                s, e = m.span(pat.group)
                if s < 0 or e <= s:
                    continue
                value = text[s:e]
                if pat.validate and not pat.validate(value):
                    continue
                spans.append((s, e, pat.kind))
        for m in _TOKEN.finditer(text):
            if _high_entropy(m.group()):
                spans.append((m.start(), m.end(), "high_entropy"))
        if self._deny is not None:
            spans.extend((m.start(), m.end(), "deny") for m in self._deny.finditer(text))
        if self.use_detect_secrets:
            spans.extend(self._detect_secrets(text))
        spans = [sp for sp in spans if text[sp[0]:sp[1]].lower() not in self.allow]
        return _merge(spans)

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


def _merge(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Resolve overlaps: the earliest span wins, and a longer one absorbs those inside it."""
    # Precise kinds beat the generic ones when two detectors claim the same span.
    precise = {p.kind for p in (*SECRET_PATTERNS, *PII_PATTERNS)}
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0]), s[2] not in precise))
    out: list[tuple[int, int, str]] = []
    for s, e, k in spans:
        if out and s < out[-1][1]:
            ps, pe, pk = out[-1]
            out[-1] = (ps, max(pe, e), pk)
            continue
        out.append((s, e, k))
    return out
