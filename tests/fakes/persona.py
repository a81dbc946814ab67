"""A deterministic "model" for the agent's schemas, served through the fake wire-format servers."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.llm_servers import Ask

SOURCE = re.compile(r'<source-[0-9a-f]+ id="([^"]+)"')
DOMAIN = re.compile(r"^Domain: (\S+)", re.MULTILINE)
COUNT = re.compile(r"Draft (\d+) example")
NUMBER = re.compile(r'<draft-[0-9a-f]+ number="(\d+)"')


def persona_responder(ask: Ask) -> dict[str, Any] | str:
    """Answer DraftBatch / RubricBatch / Request calls the way a cooperative model would."""
    if ask.tool == "DraftBatch":
        m = DOMAIN.search(ask.user)
        domain = m.group(1) if m else "reasoning"
        n = int(COUNT.search(ask.user).group(1)) if COUNT.search(ask.user) else 1
        ids = SOURCE.findall(ask.user)
        tag = abs(hash(ask.user)) % 10_000
        return {"examples": [{
            "prompt": f"How would you approach {domain} problem #{tag}-{k}?",
            "reasoning": f"I look at where it fails first, like checking the neutral before anything else. "
                         f"Then I decide if it's worth owning, case {tag}-{k}.",
            "response": f"Start with the boring layer. It's like a panel schedule: label it before it "
                        f"bites you at 2am. That's how I'd run {domain} #{tag}-{k}.",
            "domain": domain, "tags": [domain], "source_ids": ids[:2]} for k in range(n)]}
    if ask.tool == "RubricBatch":
        nums = [int(x) for x in NUMBER.findall(ask.user)] or [1]
        return {"scores": [{"number": x, "voice": 7, "reasoning_style": 7, "technical_accuracy": 8,
                            "analogy_use": 6, "note": "ok"} for x in nums]}
    if ask.tool == "Request":
        return {"topic": ask.user[-80:], "count": 2, "domain": None, "constraints": [], "query": ask.user[-80:]}
    return "ok"
