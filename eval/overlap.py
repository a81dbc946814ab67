"""M8 reference overlap: ROUGE-L of a generated answer against the person's real reply.

Our own LCS (bit-parallel, Allison & Dix 1986 / Hyyrö 2004) over lower-cased word tokens, so
no package and no download. Kept over the rouge-score package: identical scores (cross-checked
in tests/eval/test_voice_secondary.py) but its O(n*m) table is 9-150x slower on 50-800-word
answers (benchmarks/results/libraries.md). The number is secondary and relative only: the fine-tune should
beat the prompting baseline, which should beat the base model (voice-metrics.md, M8).
"""

from __future__ import annotations

from collections.abc import Sequence

from eval.stylometry import words


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences.

    Bit-parallel: each token of `a` owns a bit mask of its positions, and one pass over `b`
    updates a row of len(a) bits with two integer operations per token; Python's big ints
    make that O(len(b) * len(a) / 64) instead of the O(len(a) * len(b)) DP table.
    """
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, tok in enumerate(a):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for tok in b:
        u = v & masks.get(tok, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(candidate: str, reference: str, *, beta: float = 1.0) -> float:
    """ROUGE-L F-measure of `candidate` against `reference` (0 when either has no words).

    Args:
        candidate: the generated answer.
        reference: the person's real reply to the same context.
        beta: recall weight (1.0 = F1, as rouge-score reports it).

    """
    c, r = words(candidate), words(reference)
    lcs = lcs_length(r, c)
    if lcs == 0:
        return 0.0
    prec, rec = lcs / len(c), lcs / len(r)
    return (1 + beta**2) * prec * rec / (rec + beta**2 * prec)


def mean_rouge_l(candidates: Sequence[str], references: Sequence[str | None]) -> tuple[float | None, int]:
    """Mean ROUGE-L over aligned pairs that have a reference; (None, 0) when none has one.

    Raises:
        ValueError: the two lists are not aligned (different lengths).

    """
    if len(candidates) != len(references):
        raise ValueError(f"ROUGE-L needs one reference slot per answer; got {len(candidates)} answers and "
                         f"{len(references)} references")
    scores = [rouge_l(c, r) for c, r in zip(candidates, references, strict=True) if r is not None and r.strip()]
    return (sum(scores) / len(scores) if scores else None), len(scores)
