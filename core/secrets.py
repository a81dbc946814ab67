"""The one table of secret and personal-data patterns, shared by the scrubber and dataset QC.

agent.scrub redacts what these find before anything is stored; training.dataset.qc re-checks every
exported example with the same table, so the two can never disagree on what a key looks like
or what it is called.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

Validator = Callable[[str], bool]
Span = tuple[int, int, str]


@dataclass(frozen=True)
class Pattern:
    """One detector: a regex, the group that holds the value, an optional validator.

    `gate`: literal substrings one of which every match contains (looked for in the lower-cased
    text when `lower`); `needs`: a cheap regex every match satisfies. Either lets a C-speed test
    skip the full regex on clean text (at 10k examples the regexes alone cost seconds otherwise).
    """

    kind: str
    regex: re.Pattern[str]
    group: int = 0
    validate: Validator | None = None
    gate: tuple[str, ...] = ()
    lower: bool = False
    needs: re.Pattern[str] | None = None


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
                             r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.S),
            gate=("PRIVATE KEY",)),
    Pattern("anthropic_key", P(r"\bsk-ant-(?:api|admin|sid)\d{2}-[A-Za-z0-9_\-]{20,}"), gate=("sk-ant-",)),
    Pattern("openai_key", P(r"\bsk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,}"
                            r"|\bsk-[A-Za-z0-9]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}"
                            r"|\bsk-[A-Za-z0-9]{40,}\b"), gate=("sk-",)),
    Pattern("huggingface_token", P(r"\bhf_[A-Za-z0-9]{30,}\b"), gate=("hf_",)),
    Pattern("aws_access_key", P(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
            gate=("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA")),
    Pattern("aws_secret_key", P(r"(?i)aws.{0,20}?(?:secret|private).{0,20}?[=:]\s*[\"']?([A-Za-z0-9/+=]{40})\b"), 1,
            gate=("aws",), lower=True),
    Pattern("github_token", P(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{50,}"),
            gate=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    Pattern("slack_token", P(r"\bxox[abposre]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+"),
            gate=("xox", "https://hooks.slack.com/")),
    Pattern("stripe_key", P(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b|\bwhsec_[A-Za-z0-9]{24,}\b"),
            gate=("_live_", "_test_", "whsec_")),
    Pattern("google_api_key", P(r"\bAIza[0-9A-Za-z\-_]{35}\b"), gate=("AIza",)),
    Pattern("jwt", P(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), gate=("eyJ",)),
    Pattern("bearer_token", P(r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{16,}=*)"), 1, gate=("bearer",), lower=True),
    Pattern("url_password", P(r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]+:([^/\s@]+)@"), 1, gate=("://",)),
    Pattern(
        "env_secret",
        P(r"(?im)^[ \t]*(?:export[ \t]+)?"
          r"[A-Z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|CREDENTIALS?|AUTH)[A-Z0-9_]*"
          r"[ \t]*[=:][ \t]*[\"']?([^\s\"'#]{4,})"),
        1,
        _env_value,
        gate=("key", "token", "secret", "passw", "pwd", "credential", "auth"),
        lower=True,
    ),
    Pattern("password", P(r"(?i)\b(?:password|passwd|pwd)\s*[:=]\s*[\"']?([^\s\"',;]{4,})"), 1, _env_value,
            gate=("passw", "pwd"), lower=True),
    # Prose: "my password is hunter2", "the admin password was x" (trailing punctuation kept out).
    Pattern("password", P(r"(?i)\b(?:password|passphrase|passcode|pin)\s+(?:is|was|=)\s+"
                          r"[\"'`]?([^\s\"'`]*[^\s\"'`.,;:!?)])"), 1,
            lambda v: len(v) >= 4 and _env_value(v) and v.lower() not in _PROSE_NOT_PASSWORDS,
            gate=("pass", "pin"), lower=True),
]
PII_PATTERNS: list[Pattern] = [
    Pattern("email", P(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b"), gate=("@",)),
    Pattern("card_number", P(r"\b(?:\d[ -]?){12,18}\d\b"), 0, _luhn, needs=P(r"\d[ -]?\d[ -]?\d[ -]?\d")),
    Pattern("ssn", P(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b"), gate=("-",)),
    Pattern(
        "phone",
        P(r"(?<![\w.])(?:\+?1[ \-.]?)?\(?[2-9]\d{2}\)?[ \-.]\d{3}[ \-.]\d{4}(?![\w])"
          r"|(?<![\w+])\+\d{10,14}\b"
          r"|(?<![\w])\+\d{1,3}[ \-.]\d{2,4}[ \-.]\d{3,4}[ \-.]\d{3,4}\b"),
        0,
        _phone,
        needs=P(r"\d{3}[ \-.]\d{4}|\+\d"),
    ),
    Pattern("ip_address", P(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"), 0, _ipv4, needs=P(r"\d\.\d{1,3}\.\d")),
    Pattern("ip_address", P(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])"), 0,
            lambda v: len(v) >= 6 and _ipv6(v), needs=P(r"::|[0-9A-Fa-f]:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")),
]
PATTERNS: tuple[Pattern, ...] = (*SECRET_PATTERNS, *PII_PATTERNS)
PRECISE_KINDS = frozenset(p.kind for p in PATTERNS)


def pattern_spans(text: str) -> list[Span]:
    """Every validated match of the table as (start, end, kind), unmerged and unordered."""
    spans: list[Span] = []
    low = text.lower()
    for pat in PATTERNS:
        if pat.gate and not any(g in (low if pat.lower else text) for g in pat.gate):
            continue
        if pat.needs is not None and pat.needs.search(text) is None:
            continue
        for m in pat.regex.finditer(text):
            s, e = m.span(pat.group)
            if s < 0 or e <= s:
                continue
            if pat.validate and not pat.validate(text[s:e]):
                continue
            spans.append((s, e, pat.kind))
    return spans


def merge_spans(spans: list[Span]) -> list[Span]:
    """Resolve overlaps: the earliest span wins, and a longer one absorbs those inside it."""
    # Precise kinds beat the generic ones when two detectors claim the same span.
    spans = sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]), s[2] not in PRECISE_KINDS))
    out: list[Span] = []
    for s, e, k in spans:
        if out and s < out[-1][1]:
            ps, pe, pk = out[-1]
            out[-1] = (ps, max(pe, e), pk)
            continue
        out.append((s, e, k))
    return out


def find_secrets(text: str) -> list[str]:
    """Kinds of secret or personal data the table finds in `text`, in order of appearance (empty when clean)."""
    if not text:
        return []
    return list(dict.fromkeys(k for _s, _e, k in merge_spans(pattern_spans(text))))
