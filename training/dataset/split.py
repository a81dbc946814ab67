"""Train/validation split: stratified by domain, grouped by source conversation, deterministic for a seed.

Examples drafted from the same conversation share phrasing, so a conversation that fed both
sides would leak into validation. Groups (a conversation, or a lone example without one) are
assigned whole; within each domain, groups are ordered by a seeded sha256 (not Python's
`hash`, which changes per process) and moved to validation until the domain's share is met.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable

from core.schemas import Example


def group_key(ex: Example) -> str:
    """Return the leakage unit: the source conversation, else the example itself."""
    if ex.conversation_id:
        return f"conversation:{ex.conversation_id}"
    return f"example:{ex.id or ex.fingerprint()}"


def _order(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()


# Not sklearn StratifiedGroupKFold: 1/k shares only; small sets raise or lose domains (benchmarks/results/libraries.md)
def split_examples(
    examples: Iterable[Example], *, validation_fraction: float = 0.1, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """Split into (train, validation); both sorted by id so files are byte-stable.

    A group's domain is its most common one (ties broken by name). Each domain with at least
    two groups sends round(fraction x examples) of its examples, and at least one group, to
    validation; a domain with a single group stays in train, since one conversation cannot be
    on both sides.

    Raises:
        ValueError: when `validation_fraction` is outside [0, 1).

    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    groups: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        groups[group_key(ex)].append(ex)

    by_domain: dict[str, list[str]] = defaultdict(list)
    for key, members in groups.items():
        counts = Counter(e.domain for e in members)
        domain = min(counts, key=lambda d: (-counts[d], d))
        by_domain[domain].append(key)

    validation_keys: set[str] = set()
    if validation_fraction > 0:
        for domain in sorted(by_domain):
            keys = sorted(by_domain[domain], key=lambda k: _order(seed, k))
            if len(keys) < 2:
                continue
            total = sum(len(groups[k]) for k in keys)
            want = max(1, round(validation_fraction * total))
            taken = 0
            for k in keys[:-1]:  # never empty a domain's train side
                if taken >= want:
                    break
                # Skip a group that would overshoot by more than it helps.
                size = len(groups[k])
                if taken and abs(taken + size - want) > abs(taken - want):
                    continue
                validation_keys.add(k)
                taken += size

    train = [e for k, g in groups.items() if k not in validation_keys for e in g]
    validation = [e for k in validation_keys for e in groups[k]]

    def sort_key(e: Example) -> tuple[str, str]:
        return (e.id or "", e.fingerprint())

    return sorted(train, key=sort_key), sorted(validation, key=sort_key)
