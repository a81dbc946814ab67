"""What the person talks about: topics clustered from their own history, labelled with their own words.

Each conversation is one document (its title and the person's own words; pasted material is
excluded), because single chat messages are too short to cluster. Documents are TF-IDF
vectors over content words (general-English words removed, light stemming so "price",
"prices" and "pricing" count together) grouped with KMeans. A cluster is labelled with the
terms that set it apart from the assistant's text and from the person's other clusters
(weighted log-odds with a Dirichlet prior, Monroe et al. 2008), so a label is what this
person's conversations are about, never "every, like, don't".
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from core.schemas import StoredMessage

TOKEN = re.compile(r"[a-z][a-z'-]*[a-z]")
# General English: function words plus the commonest verbs, adverbs, adjectives and nouns of
# conversation. Topic words (timber, pricing, kubernetes) are never this common.
COMMON = set("""
a about above across actually after again against ago ahead all almost alone along already also although always am
among an and another any anybody anyone anything anyway anywhere are around as ask asked asking asks at away back bad
basically be became because become becomes been before began begin behind being believe below best better between
big bit both bring brings brought but by call called calls came can cannot can't care case cases certain certainly
change changed clear clearly come comes coming could couldn't course day days decide decided did didn't different do
does doesn't doing done don't down during each easy either else end enough even ever every everybody everyone
everything exactly example fact fair far feel feels felt few fine first for found four from full gave get gets getting
give given gives giving go goes going gone good got great had hadn't half happen happened happens hard has hasn't have
haven't having he he'd he'll he's hear heard help helps her here here's hers herself high him himself his hit hold
holds honest honestly how however i i'd i'll i'm i've idea if important in instead into is isn't it it'd it'll it's
its itself just keep keeps kept kind knew know knows last later least leave left less let let's like liked likes
little long look looked looking looks lot lots made main make makes making many maybe me mean means meant might mind
mine minute more most mostly much must my myself need needed needs never new next nice no nobody none nor not nothing
now of off often oh ok okay old on once one ones only or other others otherwise our ours ourselves out over own part
people perhaps place point pretty probably put quite rather re read real really reason right said same saw say saying
says second see seem seemed seems seen set several shall she she'd she'll she's short should shouldn't show side
simple since small so some somebody someone something sometimes somewhere soon sort start started stay still stop
stuff such sure take taken takes taking talk tell tells than thank thanks that that's the their theirs them themselves
then there there's these they they'd they'll they're they've thing things think thinking thinks third this those
though thought three through time times to today together told too took top toward true try trying turn turned two
under understand until up upon us use used uses using usually very want wanted wants was wasn't way ways we we'd we'll
we're we've week weeks well went were weren't what what's whatever when where whether which while who whole whom
whose why will with within without won't wonder word words work worked working works worth would wouldn't wrong yeah
year years yes yet you you'd you'll you're you've your yours yourself
five six seven eight nine ten eleven twelve twenty hundred thousand million once twice love loves loved pick picked
drive notice noticed sound sounds person guy guys folks anyway hey hello hi please sorry glad hope hoping wish
""".split())
MIN_DOCS = 6


def stem(word: str) -> str:
    """Strip one inflection (plural, -ing, -ed, final e) so a stem is also a word prefix."""
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    """Lowercase content words of `text` (no general-English words, no contractions, at least 3 letters)."""
    return [w for w in TOKEN.findall(text.lower()) if len(w) >= 3 and "'" not in w and w not in COMMON]


@dataclass
class Topic:
    """One cluster of the person's conversations."""

    name: str  # a domain-style name: the cluster's most distinctive word
    terms: list[str]  # distinctive words, most distinctive first (surface forms)
    keywords: list[str]  # the same as stems: word prefixes for `domain_keywords`
    share: float  # share of the person's messages in these conversations
    messages: int
    conversations: list[str] = field(default_factory=list)  # titles, largest first

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _log_odds(target: Counter[str], background: Counter[str], *, min_count: int = 2) -> dict[str, float]:
    """z-scores of the weighted log-odds ratio of each term in `target` against `background`."""
    n1, n2 = sum(target.values()) or 1, sum(background.values()) or 1
    prior = target + background
    a0 = sum(prior.values()) or 1
    scale = 500.0 / a0  # a prior worth 500 tokens keeps rare terms from dominating
    out = {}
    for w, y1 in target.items():
        if y1 < min_count:
            continue
        a = prior[w] * scale + 0.01
        y2 = background.get(w, 0)
        d = (math.log((y1 + a) / (n1 + a0 * scale - y1 - a))
             - math.log((y2 + a) / (n2 + a0 * scale - y2 - a)))
        out[w] = d / math.sqrt(1 / (y1 + a) + 1 / (y2 + a))
    return out


def _stems(texts: Sequence[str]) -> tuple[Counter[str], dict[str, Counter[str]], Counter[str]]:
    """(stem counts, surface forms per stem, document frequency per stem)."""
    counts: Counter[str] = Counter()
    surface: dict[str, Counter[str]] = defaultdict(Counter)
    df: Counter[str] = Counter()
    for t in texts:
        seen = set()
        for w in content_words(t):
            s = stem(w)
            counts[s] += 1
            surface[s][w] += 1
            seen.add(s)
        df.update(seen)
    return counts, surface, df


def proper_nouns(texts: Sequence[str], *, share: float = 0.9) -> set[str]:
    """Lowercased words written capitalised at least `share` of the time (names: Teo, Haverly)."""
    cap: Counter[str] = Counter()
    allc: Counter[str] = Counter()
    for t in texts:
        for w in re.findall(r"[A-Za-z][a-z'-]*[a-z]", t):
            allc[w.lower()] += 1
            cap[w.lower()] += w[0].isupper()
    return {w for w, n in allc.items() if n >= 2 and cap[w] / n >= share}


def keyword(stem_: str, word: str) -> str:
    """Return a word prefix for `domain_keywords`: the stem, or the whole word when the stem is too short to be safe."""
    return stem_ if len(stem_) >= 4 else word


def _documents(person: Sequence[StoredMessage], titles: dict[str, str]) -> tuple[list[str], list[int], list[str]]:
    """(texts, person-message counts, titles): one per conversation, or one per message when too few."""
    by_conv: dict[str, list[str]] = defaultdict(list)
    for m in person:
        if (m.own_text or "").strip():
            by_conv[m.conversation_id].append(m.own_text)
    if len(by_conv) >= MIN_DOCS:
        ids = sorted(by_conv)
        return ([f"{titles.get(c, '')}\n" + "\n".join(by_conv[c]) for c in ids], [len(by_conv[c]) for c in ids],
                [titles.get(c, "") for c in ids])
    msgs = [m for m in person if (m.own_text or "").strip()]
    return [m.own_text for m in msgs], [1] * len(msgs), [titles.get(m.conversation_id, "") for m in msgs]


def default_k(n_docs: int) -> int:
    """Clusters for `n_docs` documents: about sqrt(2n/3), between 2 and 8."""
    return max(2, min(8, round(math.sqrt(n_docs * 2 / 3))))


def find_topics(person: Sequence[StoredMessage], assistant: Sequence[StoredMessage], titles: dict[str, str],
                *, k: int | None = None, n_terms: int = 8, seed: int = 0) -> list[Topic]:
    """Cluster the person's conversations and label each cluster; largest first ([] when too little text)."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs, weights, doc_titles = _documents(person, titles)
    if len(docs) < MIN_DOCS:
        return []
    analyzer = lambda t: [stem(w) for w in content_words(t)]  # noqa: E731
    try:
        X = TfidfVectorizer(analyzer=analyzer, min_df=2, max_df=0.6, sublinear_tf=True).fit_transform(docs)
    except ValueError:  # no term occurs in two documents
        return []
    k = min(k or default_k(len(docs)), len(docs) // 2)
    if k < 2 or X.shape[1] == 0:
        return []
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(X).labels_
    background = _stems([m.text for m in assistant])[0]
    names = proper_nouns(docs)
    total = sum(weights) or 1
    per_cluster = [_stems([docs[i] for i in np.where(labels == c)[0]]) for c in range(k)]
    topics = []
    for c in range(k):
        counts, surface, df = per_cluster[c]
        members = np.where(labels == c)[0]
        rest = sum((per_cluster[o][0] for o in range(k) if o != c), Counter())
        scores = _log_odds(counts, background + rest)
        # A label word recurs across the cluster's conversations, not in one of them only.
        min_df = 2 if len(members) >= 3 else 1
        best = [s for s in sorted(scores, key=lambda s: -scores[s]) if scores[s] > 0 and df[s] >= min_df][:n_terms]
        if not best:
            continue
        n_msgs = int(sum(weights[i] for i in members))
        named = sorted(members, key=lambda i: -weights[i])
        words = [surface[s].most_common(1)[0][0] for s in best]
        topics.append(Topic(name="", terms=words, keywords=[keyword(s, w) for s, w in zip(best, words, strict=True)],
                            share=round(n_msgs / total, 3), messages=n_msgs,
                            conversations=[doc_titles[i] for i in named if doc_titles[i]][:5]))
    topics.sort(key=lambda t: -t.messages)
    used: set[str] = set()
    for t in topics:  # named by its most distinctive word that is not a name and names no other topic
        t.name = next((w for w in t.terms if w not in used and w not in names), t.terms[0])
        used.add(t.name)
    return topics


def talks_about(topics: Sequence[Topic], n: int = 12) -> list[str]:
    """Return the headline content words across topics, biggest topics first, each topic's best words in turn."""
    out: list[str] = []
    for rank in range(max((len(t.terms) for t in topics), default=0)):
        for t in topics:
            if rank < len(t.terms) and t.terms[rank] not in out:
                out.append(t.terms[rank])
            if len(out) >= n:
                return out
    return out


def suggest_domains(topics: Sequence[Topic], *, n_keywords: int = 8) -> list[dict[str, Any]]:
    """Domains from topics: name, target share in percent (summing to 100) and keyword prefixes."""
    if not topics:
        return []
    total = sum(t.messages for t in topics) or 1
    raw = [t.messages * 100 / total for t in topics]
    shares = [math.floor(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: -(raw[i] - shares[i]))[: 100 - sum(shares)]:
        shares[i] += 1  # largest remainders: the shares add up to exactly 100
    # A keyword shared by two domains labels nothing: keep it where it ranks highest.
    best: dict[str, tuple[int, int]] = {}
    for i, t in enumerate(topics):
        for rank, kw in enumerate(t.keywords):
            if kw not in best or rank < best[kw][1]:
                best[kw] = (i, rank)
    out = []
    for i, t in enumerate(topics):
        pairs = [(kw, w) for kw, w in zip(t.keywords, t.terms, strict=True) if best[kw][0] == i][:n_keywords]
        out.append({"name": t.name, "share": shares[i], "keywords": [kw for kw, _ in pairs],
                    "terms": [w for _, w in pairs], "conversations": t.conversations[:3]})
    return out
