"""The voice profile: statistics of how the person writes, and a style card they can edit."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np

from agent.topics import find_topics, talks_about
from core.schemas import Role, StoredMessage, utcnow
from core.store import Store

ANALOGY_CUES = re.compile(
    r"\b(?:like a|like an|think of it as|it'?s like|kind of like|the same way|imagine|same as a|as if)\b", re.I)
PROFANITY = re.compile(r"\b(?:damn|hell|shit|crap|fuck\w*|ass|bullshit|piss\w*|bastard)\b", re.I)
BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.M)
HEADER = re.compile(r"^\s*#{1,6}\s", re.M)
BOLD = re.compile(r"\*\*[^*]+\*\*")
EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")
WORD = re.compile(r"[A-Za-z']+")
STOP = set("""a an the and or but if then so to of in on at for with from by as is are was were be been being it
its it's this that these those i me my we our you your he she they them their not no do does did have has had
will would can could should just what which who how why when where there here about into than too very also""".split())


def _ngrams(words: list[str], n: int) -> list[str]:
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def signature_phrases(person: list[str], others: list[str], top: int = 25) -> list[dict[str, Any]]:
    """Phrases the person uses far more than the assistants they talk to (weighted log-odds, Monroe 2008)."""
    def counts(texts: list[str]) -> Counter[str]:
        c: Counter[str] = Counter()
        for t in texts:
            w = [x.lower() for x in WORD.findall(t)]
            for n in (1, 2, 3):
                c.update(g for g in _ngrams(w, n) if not all(x in STOP for x in g.split()))
        return c

    cp, co = counts(person), counts(others)
    prior = cp + co
    a0 = sum(prior.values()) or 1
    np_, no = sum(cp.values()) or 1, sum(co.values()) or 1
    out = []
    for g, yp in cp.items():
        if yp < 2:
            continue
        a = prior[g] * 0.01 + 0.01
        yo = co.get(g, 0)
        d = math.log((yp + a) / (np_ + a0 * 0.01 - yp - a)) - math.log((yo + a) / (no + a0 * 0.01 - yo - a))
        z = d / math.sqrt(1 / (yp + a) + 1 / (yo + a))
        out.append({"phrase": g, "z": round(z, 2), "count": yp})
    return sorted(out, key=lambda r: -r["z"])[:top]


def distinct(sentences: list[str], *, overlap: float = 0.7) -> list[str]:
    """`sentences` without repeats: the same analogy reused, re-worded by a word or two, is kept once."""
    kept: list[tuple[str, set[str]]] = []
    for s in sentences:
        words = {w.lower() for w in WORD.findall(s)}
        if not words:
            continue
        if any(len(words & seen) / len(words | seen) >= overlap for _, seen in kept):
            continue
        kept.append((s, words))
    return [s for s, _ in kept]


def compute_profile(person: list[StoredMessage], assistant: list[StoredMessage],
                    titles: dict[str, str] | None = None) -> dict[str, Any]:
    """Statistics of the person's own words (pasted material excluded) and the topics they talk about."""
    texts = [m.own_text for m in person if m.own_text.strip()]
    if not texts:
        return {"messages": 0}
    chars = np.array([len(t) for t in texts])
    words = np.array([len(WORD.findall(t)) for t in texts])
    sentences = [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if s.strip()]
    joined = "\n".join(texts)
    total_words = max(1, int(words.sum()))
    per_msg = lambda rx: round(sum(bool(rx.search(t)) for t in texts) / len(texts), 3)  # noqa: E731
    topics = find_topics(person, assistant, titles or {})
    return {
        "messages": len(texts),
        "words": total_words,
        "chars": {"mean": round(float(chars.mean()), 1), "median": float(np.median(chars)),
                  "p10": float(np.percentile(chars, 10)), "p90": float(np.percentile(chars, 90))},
        "words_per_message": {"mean": round(float(words.mean()), 1), "median": float(np.median(words))},
        "length_histogram": np.histogram(np.log10(chars + 1), bins=10)[0].tolist(),
        "sentence_words_mean": round(float(np.mean([len(WORD.findall(s)) for s in sentences])), 1),
        "question_rate": per_msg(re.compile(r"\?")),
        "analogy_rate": per_msg(ANALOGY_CUES),
        "profanity_per_1k_words": round(len(PROFANITY.findall(joined)) * 1000 / total_words, 2),
        "markdown": {"bullets": per_msg(BULLET), "headers": per_msg(HEADER), "bold": per_msg(BOLD)},
        "lowercase_start_rate": round(sum(s[:1].islower() for s in sentences) / max(1, len(sentences)), 3),
        "exclamation_per_1k_words": round(joined.count("!") * 1000 / total_words, 2),
        "emoji_per_1k_words": round(len(EMOJI.findall(joined)) * 1000 / total_words, 2),
        "first_person_per_1k_words": round(
            len(re.findall(r"\b(?:I|I'm|I've|I'd|me|my)\b", joined)) * 1000 / total_words, 1),
        "contractions_per_1k_words": round(
            len(re.findall(r"\b\w+'(?:s|re|ve|d|ll|t|m)\b", joined)) * 1000 / total_words, 1),
        "signature_phrases": signature_phrases(texts, [m.text for m in assistant]),
        "topics": talks_about(topics, 20),
        "topic_clusters": [t.as_dict() for t in topics],
        "analogy_examples": distinct([s.strip()[:200] for s in sentences if ANALOGY_CUES.search(s)])[:8],
    }


def draft_style_card(p: dict[str, Any], name: str | None = None) -> str:
    """Draft a plain-language card from the statistics, for the owner to edit."""
    if not p.get("messages"):
        return "No messages imported yet."
    who = name or "The owner"
    length = "short, to the point" if p["chars"]["median"] < 200 else "long, worked-through"
    lines = [
        f"# How {who} writes",
        (f"- Messages are {length} (median {p['chars']['median']:.0f} characters, "
         f"{p['words_per_message']['median']:.0f} words)."),
        f"- Sentences average {p['sentence_words_mean']} words.",
        (f"- Asks questions in {p['question_rate']:.0%} of messages; "
         f"reaches for an analogy in {p['analogy_rate']:.0%}."),
        (f"- Markdown: bullets in {p['markdown']['bullets']:.0%} of messages, "
         f"headers in {p['markdown']['headers']:.0%}."),
        (f"- Profanity: {p['profanity_per_1k_words']} per 1,000 words; "
         f"exclamation marks: {p['exclamation_per_1k_words']}."),
        (f"- First person: {p['first_person_per_1k_words']} per 1,000 words; "
         f"contractions: {p['contractions_per_1k_words']}."),
        "- Signature phrases: " + ", ".join(f"\"{s['phrase']}\"" for s in p["signature_phrases"][:12]),
    ]
    if p.get("topics"):
        lines.append("- Talks about: " + ", ".join(p["topics"][:12]))
    for t in p.get("topic_clusters", [])[:8]:
        lines.append(f"  - {t['name']} ({t['share']:.0%} of messages): {', '.join(t['terms'][:6])}")
    if p.get("analogy_examples"):
        lines.append("- Typical analogies: " + " | ".join(p["analogy_examples"][:3]))
    return "\n".join(lines)


PROFILE_MESSAGES = 20_000  # per side; a 200 MB export has ~150,000 of each


def refresh_profile(store: Store, *, name: str | None = None, force_card: bool = False) -> dict[str, Any]:
    """Recompute the statistics; regenerate the style card unless the owner has edited it.

    The statistics read the newest PROFILE_MESSAGES messages of each side: plenty for stable
    rates and phrases, and memory stays bounded however long the history is.
    """
    person = store.conversations.messages(role=Role.person.value, newest=PROFILE_MESSAGES)
    assistant = store.conversations.messages(role=Role.assistant.value, newest=PROFILE_MESSAGES)
    titles = {c["id"]: c["title"] or "" for c in store.conversations.list_conversations()}
    profile = compute_profile(person, assistant, titles)
    profile["updated_at"] = utcnow().isoformat()
    store.kv.put("voice_profile", profile)
    card = store.kv.get("style_card") or {}
    if force_card or not card.get("edited"):
        store.kv.put("style_card", {"text": draft_style_card(profile, name), "edited": False,
                                    "generated_at": profile["updated_at"]})
    return profile


def save_style_card(store: Store, text: str) -> None:
    """Store the owner's edited card; later refreshes keep it."""
    store.kv.put("style_card", {"text": text, "edited": True, "edited_at": utcnow().isoformat()})
