"""Text normalisation and the split between the person's own words and what they pasted."""

from __future__ import annotations

import re
import unicodedata

CLAUDE_PLACEHOLDER = "```\nThis block is not supported on your current device yet.\n```"
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\x00"), None)
# ChatGPT citation markers: private-use \ue200…\ue201 entities and legacy 【11†source】.
_CITATION = re.compile(r"\ue200[^\ue201]*\ue201|【[^】]{0,40}†[^】]{0,40}】")
_FENCE = re.compile(r"(^|\n)(```|~~~)[^\n]*\n.*?(\n\2[ \t]*(?=\n|$)|$)", re.S)
# A line that looks machine-made: log timestamps, tracebacks, key: value config, shell prompts.
_LOGLIKE = re.compile(
    r"""^\s*(
        \d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}        # timestamps
      | \[?\d{2}:\d{2}:\d{2}
      | (Traceback|File\ "|\s+at\ |Exception|Error:|WARNING|INFO|DEBUG|ERROR)\b
      | [\w.\-]+:(\s+\S.*)?$(?<!\.)               # yaml-ish key: value without a closing period
      | [\w.\-]+=\S*$                             # KEY=value
      | [$#>]\s+\S                                # shell prompt
      | [|+][-=+|]{3,}                            # table rules / nvidia-smi boxes
      | [{}\[\]]\s*,?$
    )""",
    re.X,
)


def normalize(text: str) -> str:
    """NFC, LF line ends, no zero-width characters or citation markers."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = text.replace(CLAUDE_PLACEHOLDER, "")
    text = _CITATION.sub("", text.translate(_ZERO_WIDTH))
    return unicodedata.normalize("NFC", text)


def split_own_words(text: str) -> tuple[str, float]:
    """Split out the person's own words (fenced code and log/config blocks removed) and the pasted share.

    Runs of three or more machine-looking lines count as pasted: one `key: value` in prose
    is the person talking, a block of them is a config file.
    """
    if not text:
        return "", 0.0
    own = _FENCE.sub("\n", text)
    lines = own.split("\n")
    keep = [True] * len(lines)
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and lines[j].strip() and _LOGLIKE.match(lines[j]):
            j += 1
        if j - i >= 3:
            for k in range(i, j):
                keep[k] = False
        i = max(j, i + 1)
    own = "\n".join(line for line, k in zip(lines, keep, strict=True) if k)
    own = re.sub(r"\n{3,}", "\n\n", own).strip()
    share = 1.0 - (len(own) / len(text.strip())) if text.strip() else 0.0
    return own, round(max(0.0, min(1.0, share)), 4)
