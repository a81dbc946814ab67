"""The owner's review reply, read into a Decision. Conservative: approval is never guessed."""

from __future__ import annotations

import re
from typing import Any

from agent.state import Decision

EDIT = re.compile(r"^\s*edit\s+#?(\d+)\s+(prompt|reasoning|response|domain|tags)\s*[:=]\s*(.+)$",
                  re.IGNORECASE | re.DOTALL)
# "and" splits clauses unless it joins numbers ("approve 1 and 3").
CLAUSES = re.compile(r"[,;\n]|\bthen\b|\band\b(?!\s*#?\d)", re.IGNORECASE)
NUM = re.compile(r"#?(\d+)")
APPROVE_ALL = re.compile(r"^(approve|accept|save|ok|okay|yes|lgtm|ship it|looks good|all good)"
                         r"(\s+(all|them|everything|the rest|both|all of them))?[.!]*$", re.IGNORECASE)
APPROVE_SOME = re.compile(r"^(approve|accept|keep|save|ok|okay|yes)\b", re.IGNORECASE)
REJECT = re.compile(r"^(reject|drop|discard|delete|skip|remove|no to)\b", re.IGNORECASE)
REJECT_ALL = re.compile(r"^(reject|drop|discard|skip)\s+(all|them|everything|the rest|both)[.!]*$", re.IGNORECASE)
REVISE_VERB = re.compile(r"^(make|rewrite|change|fix|add|remove|drop|cut|use|avoid|less|more|shorten|shorter|"
                         r"longer|simplify|expand|mention|swap|replace|turn|tone|lose|no more)\b", re.IGNORECASE)
DONE = re.compile(r"^(done|stop|cancel|quit|that'?s all|enough)[.!]*$", re.IGNORECASE)


def parse_reply(reply: str | dict[str, Any], numbers: list[int]) -> Decision:
    """Read the owner's reply about drafts `numbers` (the ones still open).

    Structured replies (from the app's buttons) are validated as they are. Words follow a
    small grammar: "approve 1 and 3, make 2 more casual", "reject 2", "approve all",
    "edit 2 response: ...", "done". Anything unrecognised yields an empty Decision.
    """
    if isinstance(reply, dict):
        return Decision.model_validate(reply)
    text = reply.strip()
    m = EDIT.match(text)
    if m:
        field_name, value = m.group(2).lower(), m.group(3).strip()
        val: Any = [t.strip() for t in value.split(",") if t.strip()] if field_name == "tags" else value
        return Decision(edits={int(m.group(1)): {field_name: val}})
    d = Decision()
    last_revised: list[int] = []
    for clause in (c.strip() for c in CLAUSES.split(text)):
        if not clause:
            continue
        nums = [int(n) for n in NUM.findall(clause)]
        if DONE.match(clause):
            d.done = True
        elif APPROVE_ALL.match(clause):
            d.approve.extend(numbers)
        elif REJECT_ALL.match(clause):
            d.reject.extend(numbers)
        elif nums and APPROVE_SOME.match(clause):
            d.approve.extend(nums)
        elif nums and REJECT.match(clause):
            d.reject.extend(nums)
        elif nums:
            for n in nums:
                d.revise[n] = _join(d.revise.get(n), clause)
            last_revised = nums
        elif last_revised or REVISE_VERB.match(clause):
            # An instruction without numbers: it continues the previous revision, or applies
            # to every open draft ("make them shorter"). Other free text is left to the LLM.
            for n in last_revised or numbers:
                d.revise[n] = _join(d.revise.get(n), clause)
    return d


def _join(a: str | None, b: str) -> str:
    return f"{a}; {b}" if a else b


def validate(decision: Decision, numbers: list[int]) -> str | None:
    """Why the decision cannot be applied to the open drafts `numbers`, or None if it can."""
    named = set(decision.approve) | set(decision.reject) | set(decision.revise) | set(decision.edits)
    unknown = sorted(n for n in named if n not in numbers)
    if unknown:
        return f"there is no open draft {', '.join(map(str, unknown))} (open: {', '.join(map(str, numbers))})"
    both = set(decision.approve) & set(decision.reject)
    if both:
        return f"draft {', '.join(map(str, sorted(both)))} is both approved and rejected"
    return None
