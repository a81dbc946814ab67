"""Dataset quality control: a chain of generator filters, every drop counted by reason (datatrove style).

Steps run cheapest first: normalise -> secrets -> length -> reasoning -> assistant-isms ->
score -> exact dedup -> near-dup (MinHash LSH on character shingles) -> semantic dup
(embedding cosine). Examples are sorted best-first (score, then age) before dedup, so of
two duplicates the better one survives. Nothing here imports agent: the scrubber and the
embedder arrive as callables, and the scrubber's own pattern table (core.secrets) runs as a
backstop whether or not a scrubber is given, so nothing secret is exported either way.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.embedcache import EMBED_CHARS
from core.schemas import Example
from core.secrets import find_secrets
from training.dataset.dedup import Signer, hash_shingles, step_semantic_dedup

Embed = Callable[[list[str]], np.ndarray]
Scrub = Callable[[str], tuple[str, list[Any]]]

# Phrases that mark a generic assistant, not the person. Lower-case, matched on word edges.
ASSISTANT_ISMS = (
    "as an ai", "as a language model", "as a large language model", "i'm just an ai",
    "i hope this helps", "great question", "i'd be happy to help", "i would be happy to help",
    "feel free to ask", "let me know if you have any other questions", "it's important to note",
    "it is important to note", "i apologize for the confusion", "certainly! here", "delve into",
    "in conclusion, ", "i don't have personal opinions", "as of my last update",
    "as of my knowledge cutoff",
)
_ASSISTANTISM_RE = re.compile(r"(?<![\w])(?:" + "|".join(re.escape(p) for p in ASSISTANT_ISMS) + r")")

# Leftover format markers inside reasoning mean a draft was parsed badly.
_MALFORMED_REASONING = re.compile(r"</?think>|\[(?:BEGIN|END) FINAL RESPONSE\]|<\|im_(?:start|end)\|>")

_PUNCT = str.maketrans("", "", string.punctuation + "“”‘’—–…")
_WS = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower-case, punctuation removed, whitespace collapsed: the dedup view of a text."""
    return _WS.sub(" ", text.lower().translate(_PUNCT)).strip()


@dataclass
class QCConfig:
    """Thresholds for one QC run (saved into each snapshot's qc_report.json)."""

    min_prompt_chars: int = field(default=8, metadata={"help": "Shorter prompts are dropped."})
    min_response_chars: int = field(default=40, metadata={"help": "Shorter responses are dropped."})
    max_response_chars: int = field(default=12000, metadata={"help": "Longer responses are dropped."})
    require_reasoning: bool = field(default=True, metadata={"help": "Drop examples without reasoning."})
    min_reasoning_chars: int = field(default=20, metadata={"help": "Shorter reasoning is malformed."})
    min_score: float | None = field(default=6.0, metadata={"help": "Drop scored examples below this; unscored pass."})
    near_dup_threshold: float = field(default=0.7, metadata={"help": "MinHash Jaccard on 5-char shingles."})
    semantic_threshold: float = field(default=0.95, metadata={"help": "Embedding cosine for semantic duplicates."})
    shingle_size: int = 5
    num_perm: int = 128
    embed_chars: int = field(default=EMBED_CHARS, metadata={"help": "Characters of prompt+response embedded (speed)."})


def qc_config(settings: Any) -> QCConfig:
    """QC thresholds for the owner's training target.

    Reasoning is required only when the preset's model family trains it: a model with no
    reasoning format (the default SmolLM2) learns answers alone, and dropping every example
    without reasoning would leave it nothing to learn from.
    """
    from training.reasoning import family_for
    from training.recipe import preset_family

    return QCConfig(require_reasoning=family_for(preset_family(settings.train_preset)).trains_reasoning)


@dataclass
class Drop:
    """One dropped example: which, why, and (for duplicates) which kept example it duplicates."""

    id: str | None
    reason: str
    detail: str = ""
    duplicate_of: str | None = None


@dataclass
class QCReport:
    """What QC did: counts in and out, drops by reason, and every drop listed."""

    total: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    drops: list[Drop] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    semantic_checked: bool = False
    scrubber: str = "built-in patterns"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Counter:
    """Drop bookkeeping shared by the steps (datatrove's stat_update)."""

    def __init__(self, report: QCReport) -> None:
        self.report = report
        self.counts: Counter[str] = Counter()

    def drop(self, ex: Example, reason: str, detail: str = "", duplicate_of: str | None = None) -> None:
        self.counts[reason] += 1
        self.report.drops.append(Drop(ex.id, reason, detail, duplicate_of))


def _text_of(ex: Example) -> str:
    return "\n".join(t for t in (ex.system or "", ex.prompt, ex.reasoning, ex.response) if t)


# --------------------------------------------------------------------------- steps


def step_normalise(data: Iterable[Example]) -> Iterator[Example]:
    """Strip surrounding whitespace (templates strip it anyway; dedup and length need it gone)."""
    for ex in data:
        yield ex.model_copy(update={"prompt": ex.prompt.strip(), "reasoning": ex.reasoning.strip(),
                                    "response": ex.response.strip(),
                                    "system": ex.system.strip() if ex.system else ex.system})


def step_secrets(data: Iterable[Example], c: _Counter, scrub: Scrub | None) -> Iterator[Example]:
    """Drop any example in which the scrubber (or the built-in patterns) still finds something."""
    for ex in data:
        text = _text_of(ex)
        kinds = find_secrets(text)
        if scrub is not None and not kinds:
            _clean, redactions = scrub(text)
            kinds = sorted({getattr(r, "kind", str(r)) for r in redactions})
        if kinds:
            c.drop(ex, "secret", ",".join(kinds))  # kinds only: the value never enters a report
            continue
        yield ex


def step_length(data: Iterable[Example], c: _Counter, cfg: QCConfig) -> Iterator[Example]:
    for ex in data:
        if len(ex.prompt) < cfg.min_prompt_chars:
            c.drop(ex, "prompt_too_short", f"{len(ex.prompt)} chars")
        elif len(ex.response) < cfg.min_response_chars:
            c.drop(ex, "response_too_short", f"{len(ex.response)} chars")
        elif len(ex.response) > cfg.max_response_chars:
            c.drop(ex, "response_too_long", f"{len(ex.response)} chars")
        else:
            yield ex


def step_reasoning(data: Iterable[Example], c: _Counter, cfg: QCConfig) -> Iterator[Example]:
    """Reasoning present (when required) and well-formed: no format markers, not the response again."""
    for ex in data:
        r = ex.reasoning
        if not r:
            if cfg.require_reasoning:
                c.drop(ex, "no_reasoning")
                continue
        elif len(r) < cfg.min_reasoning_chars:
            c.drop(ex, "malformed_reasoning", f"only {len(r)} chars")
            continue
        elif _MALFORMED_REASONING.search(r):
            c.drop(ex, "malformed_reasoning", "contains format markers")
            continue
        elif normalise(r) == normalise(ex.response):
            c.drop(ex, "malformed_reasoning", "reasoning repeats the response")
            continue
        yield ex


def step_assistantisms(data: Iterable[Example], c: _Counter) -> Iterator[Example]:
    for ex in data:
        m = _ASSISTANTISM_RE.search(ex.response.lower())
        if m:
            c.drop(ex, "assistantism", m.group(0))
        else:
            yield ex


def step_score(data: Iterable[Example], c: _Counter, cfg: QCConfig) -> Iterator[Example]:
    for ex in data:
        s = ex.scores.overall
        if cfg.min_score is not None and s is not None and s < cfg.min_score:
            c.drop(ex, "low_score", f"{s:g} < {cfg.min_score:g}")
        else:
            yield ex


def step_exact_dedup(data: Iterable[Example], c: _Counter) -> Iterator[Example]:
    """Drop the same prompt and response after normalisation (case, whitespace, punctuation)."""
    seen: dict[str, str | None] = {}
    for ex in data:
        key = normalise(ex.prompt) + "\x00" + normalise(ex.response)
        if key in seen:
            c.drop(ex, "exact_duplicate", duplicate_of=seen[key])
            continue
        seen[key] = ex.id
        yield ex


def shingle_hashes(text: str, k: int) -> np.ndarray:
    """Distinct 32-bit hashes of the k-character shingles of the normalised text (see dedup.py)."""
    return hash_shingles(normalise(text), k)


def step_near_dedup(data: Iterable[Example], c: _Counter, cfg: QCConfig) -> Iterator[Example]:
    """MinHash LSH over character shingles of prompt + response; candidates re-checked on Jaccard."""
    from datasketch import MinHashLSH

    signer = Signer(cfg.num_perm)
    lsh = MinHashLSH(threshold=cfg.near_dup_threshold, num_perm=cfg.num_perm)
    kept: dict[str, tuple[Any, str | None]] = {}
    for i, ex in enumerate(data):
        mh = signer.sign(shingle_hashes(ex.prompt + " \n " + ex.response, cfg.shingle_size))
        dup = None
        for key in lsh.query(mh):
            other, other_id = kept[key]
            if mh.jaccard(other) >= cfg.near_dup_threshold:
                dup = other_id
                break
        if dup is not None:
            c.drop(ex, "near_duplicate", duplicate_of=dup)
            continue
        key = f"k{i}"
        lsh.insert(key, mh)
        kept[key] = (mh, ex.id)
        yield ex


# --------------------------------------------------------------------------- the chain


def _best_first(examples: Iterable[Example]) -> list[Example]:
    # Stable and deterministic: higher score first, then older, then id.
    return sorted(examples, key=lambda e: (-(e.scores.overall if e.scores.overall is not None else -1.0),
                                           e.created_at, e.id or ""))


def run_qc(
    examples: Iterable[Example],
    config: QCConfig | None = None,
    *,
    embed: Embed | None = None,
    scrub: Scrub | None = None,
    scrubber_name: str | None = None,
) -> tuple[list[Example], QCReport]:
    """Run every QC step; returns (kept examples, best first, and the report).

    Args:
        examples: candidate examples (normally the approved ones).
        config: thresholds; defaults to `QCConfig()`.
        embed: `embed(texts) -> (n, d)` L2-normalised rows; without it the semantic step is
            skipped and the report says so.
        scrub: `scrub(text) -> (clean, redactions)`, e.g. `agent.scrub.Scrubber().scrub`;
            the built-in secret patterns run whether or not it is given.
        scrubber_name: how the report names the scrubber.

    """
    cfg = config or QCConfig()
    items = _best_first(examples)
    report = QCReport(total=len(items), config=asdict(cfg), semantic_checked=embed is not None,
                      scrubber=scrubber_name or ("injected scrubber + built-in patterns" if scrub
                                                 else "built-in patterns"))
    c = _Counter(report)
    chain: Iterable[Example] = step_normalise(items)
    chain = step_secrets(chain, c, scrub)
    chain = step_length(chain, c, cfg)
    chain = step_reasoning(chain, c, cfg)
    chain = step_assistantisms(chain, c)
    chain = step_score(chain, c, cfg)
    chain = step_exact_dedup(chain, c)
    chain = step_near_dedup(chain, c, cfg)
    if embed is not None:
        chain = step_semantic_dedup(chain, c, cfg, embed)
    kept = list(chain)
    report.kept = len(kept)
    report.dropped = dict(sorted(c.counts.items()))
    return kept, report
