"""Golden prompts drafted from the person's own topics, for the owner to edit.

The topics are the clustered topics the voice profile stores (`voice_profile.topic_clusters`,
written by agent.profile). With an LLM the drafts are written by it (one structured call);
without one, or when its reply is unusable, they come from templates over each topic's words.
Drafts are stored with source "drafted"; an edited draft becomes the owner's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.errors import NotFound
from core.schemas import GoldenPrompt

if TYPE_CHECKING:
    from core.store import Store

TEMPLATES = (
    "Someone new to it asks you about {a}. How do you explain {a}, and what do most people get wrong?",
    "Walk me through how you decide between options when {a} and {b} pull in different directions.",
    "What's a mistake you've made or seen with {a}, and what would you do differently now?",
    "Explain {a} to a friend who has never had to think about {b}, the way you'd actually tell it.",
    "Someone tells you {a} doesn't really matter. What do you say back?",
    "What's your rule of thumb for {a}, and where does it break down?",
)


class DraftedPrompt(BaseModel):
    """One golden prompt: a question the person would plausibly be asked, in one of their domains."""

    domain: str = Field(description="One of the listed domains.")
    prompt: str = Field(min_length=15, description="The question, as someone would ask it. No answer.")


class DraftedPrompts(BaseModel):
    """Golden prompts that test whether a model answers in the person's voice on their own topics."""

    prompts: list[DraftedPrompt] = Field(min_length=1)


def stored_topics(store: Store) -> list[dict[str, Any]]:
    """Return the profile's topic clusters, largest first.

    Raises:
        NotFound: no profile with topics yet.

    """
    topics = (store.kv.get("voice_profile") or {}).get("topic_clusters") or []
    if not topics:
        raise NotFound("no topics to draft from: the voice profile has none yet",
                       hint="import your history first (`idiolect import PATH`); it finds your topics")
    return topics


def domain_for(terms: Sequence[str], domains: Sequence[str], keywords: dict[str, list[str]],
               fallback: str) -> str:
    """Return the owner's domain whose keyword prefixes match the topic's words most, else `fallback`."""
    text = " ".join(terms).lower()
    hits = {d: sum(len(re.findall(r"\b" + re.escape(k.lower()), text)) for k in keywords.get(d, []))
            for d in domains}
    best = max(domains, key=lambda d: hits[d], default=None)
    if best is not None and hits[best] > 0:
        return best
    return fallback if fallback in domains or not domains else domains[0]


def template_drafts(topics: Sequence[dict[str, Any]], n: int, *, domains: Sequence[str],
                    keywords: dict[str, list[str]]) -> list[GoldenPrompt]:
    """`n` prompts from templates, going round the topics (largest first) and round the templates."""
    out: list[GoldenPrompt] = []
    usable = [t for t in topics if t.get("terms")]
    for i in range(n if usable else 0):
        t = usable[i % len(usable)]
        terms = t["terms"]
        turn = i // len(usable)
        a = terms[turn % len(terms)]
        b = next((w for w in terms if w != a), a)
        text = TEMPLATES[i % len(TEMPLATES)].format(a=a, b=b)
        out.append(GoldenPrompt(prompt=text, source="drafted",
                                domain=domain_for(terms, domains, keywords, t.get("name") or "reasoning")))
    return out


def _llm_messages(topics: Sequence[dict[str, Any]], n: int, domains: Sequence[str], person: str) -> list[Any]:
    from langchain_core.messages import HumanMessage, SystemMessage

    lines = [f"- {t['name']} ({t.get('share', 0):.0%} of their messages): {', '.join(t['terms'][:8])}"
             + (f"; e.g. conversations titled {', '.join(repr(c) for c in t.get('conversations', [])[:2])}"
                if t.get("conversations") else "") for t in topics[:8]]
    return [
        SystemMessage("You write evaluation prompts for a model fine-tuned to answer in one person's voice. "
                      "Each prompt is a question someone might really put to this person about their own topics: "
                      "specific, open-ended, answerable in a paragraph, never about the person's private details."),
        HumanMessage(f"Person: {person}\nTheir topics, from their own chat history:\n" + "\n".join(lines)
                     + f"\nTheir domains: {', '.join(domains)}.\nWrite {n} prompts spread across the topics; "
                     "give each the domain it belongs to."),
    ]


def llm_drafts(llm: Any, topics: Sequence[dict[str, Any]], n: int, *, domains: Sequence[str],
               keywords: dict[str, list[str]], person: str) -> tuple[list[GoldenPrompt], str | None]:
    """(prompts, problem): the LLM's drafts, or none and why its reply was unusable."""
    import asyncio

    from core.llm import ainvoke_structured

    res = asyncio.run(ainvoke_structured(llm, _llm_messages(topics, n, domains, person), DraftedPrompts))
    if res.value is None:
        return [], res.error
    fallback = topics[0].get("name") or "reasoning"
    out = []
    for d in res.value.prompts[:n]:
        dom = d.domain.strip() if d.domain.strip() in domains else domain_for([d.prompt], domains, keywords, fallback)
        out.append(GoldenPrompt(prompt=d.prompt.strip(), domain=dom, source="drafted"))
    return out, None


def draft_golden(store: Store, *, n: int = 5, domains: Sequence[str], keywords: dict[str, list[str]],
                 llm: Any | None = None, person: str | None = None) -> dict[str, Any]:
    """Draft `n` golden prompts from the stored topics and add the new ones (source "drafted").

    Returns `{"added": [GoldenPrompt], "how": "llm" | "templates", "note": str | None}`. An LLM
    whose reply does not validate falls back to templates (the note says so); a provider error
    (unreachable, no key) propagates.

    Raises:
        NotFound: there are no topics yet.

    """
    topics = stored_topics(store)
    note = None
    drafts: list[GoldenPrompt] = []
    how = "templates"
    if llm is not None:
        drafts, problem = llm_drafts(llm, topics, n, domains=domains, keywords=keywords,
                                     person=person or "the owner")
        how = "llm"
        if problem:
            note = f"the LLM's reply was unusable ({problem[:200]}); drafted from templates instead"
            how = "templates"
    have = {" ".join(p.prompt.lower().split()) for p in store.evals.golden_prompts()}
    if not drafts:  # more candidates than asked: the ones already in the set are skipped
        drafts = template_drafts(topics, n + len(have) + len(TEMPLATES), domains=domains, keywords=keywords)
    fresh = []
    for d in drafts:
        key = " ".join(d.prompt.lower().split())
        if key not in have and len(fresh) < n:
            have.add(key)
            fresh.append(d)
    added = store.evals.add_golden_many(fresh) if fresh else []
    return {"added": added, "how": how, "note": note}
