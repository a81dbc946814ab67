"""Arena votes to training data: DPO preference pairs and gold SFT examples, scrubbed, deduplicated, linked.

Torch-free: the app and the CLI call it in process.

How each vote becomes data (the choices, stated once):
- left / right: the winner's answer is chosen, the loser's rejected (origin "vote").
- a written answer: chosen against BOTH shown answers (origin "written"), whatever the vote
  was, and also stored as an approved gold SFT example (origin gold): the rater wrote what
  the person would have said, which is the best target there is.
- tie: no pair. A tie says neither answer is preferred; DPO needs a strict preference, and
  forcing one would teach noise.
- both bad: no pair between the two answers (neither may be pushed up); only a written
  answer, if given, becomes a pair against each.
- raters who disagree on one battle (one says left, another right) cancel out: no pair from
  those decisive votes, so DPO never sees the same pair both ways.
- a chosen answer that named its own model (flagged by the arena) is not used as chosen:
  training on it would teach the model to announce itself.
Converting is idempotent: pairs dedup by content fingerprint and gold examples carry a key
per vote, so running it again after new votes only adds what is new.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.schemas import (
    Battle,
    Example,
    ExampleOrigin,
    ExampleStatus,
    PreferencePair,
    Vote,
    VoteChoice,
)

if TYPE_CHECKING:
    from core.store import Store

ScrubFn = Callable[[str], tuple[str, list[Any]]]


@dataclass
class ConversionReport:
    """What converting votes produced and what it skipped, by reason."""

    votes: int = 0
    pairs_created: int = 0
    pairs_existing: int = 0
    gold_created: int = 0
    gold_existing: int = 0
    redactions: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    pair_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["skipped"] = dict(self.skipped)
        return d


def _flagged(battle: Battle, side: str) -> bool:
    return f"names_own_model:{side}" in battle.flags


def pairs_from_vote(vote: Vote, battle: Battle, *,
                    allow_decisive: bool = True) -> tuple[list[PreferencePair], list[str]]:
    """List the unscrubbed pairs one vote implies, and the reasons anything was skipped."""
    pairs: list[PreferencePair] = []
    skipped: list[str] = []
    answers = {"left": battle.left_answer.strip(), "right": battle.right_answer.strip()}
    models = {"left": battle.left_model, "right": battle.right_model}
    meta_base = {"vote_id": vote.id, "rater": vote.rater, "left_model": battle.left_model,
                 "right_model": battle.right_model, "choice": vote.choice.value,
                 "prompt_source": battle.prompt_source}

    def pair(chosen: str, rejected: str, origin: str, chosen_model: str | None, rejected_side: str) -> None:
        if not rejected:
            skipped.append("empty answer")
            return
        if chosen.strip() == rejected:
            skipped.append("identical answers")
            return
        pairs.append(PreferencePair(
            prompt=battle.prompt, chosen=chosen.strip(), rejected=rejected, origin=origin,  # type: ignore[arg-type]
            battle_id=battle.id,
            meta={**meta_base, "chosen_model": chosen_model, "rejected_model": models[rejected_side]},
        ))

    c = vote.choice
    if c in (VoteChoice.left, VoteChoice.right):
        win, lose = (("left", "right") if c == VoteChoice.left else ("right", "left"))
        if not allow_decisive:
            skipped.append("raters disagree")
        elif _flagged(battle, win):
            skipped.append("winner named its own model")
        elif not answers[win]:
            skipped.append("empty answer")
        else:
            pair(answers[win], answers[lose], "vote", models[win], lose)
    elif c == VoteChoice.tie and not vote.written_answer:
        skipped.append("tie")
    elif c == VoteChoice.both_bad and not vote.written_answer:
        skipped.append("both bad, nothing written")
    if vote.written_answer and vote.written_answer.strip():
        for side in ("left", "right"):
            pair(vote.written_answer, answers[side], "written", None, side)
    return pairs, skipped


def _scrub_pair(p: PreferencePair, scrub: ScrubFn) -> tuple[PreferencePair, int]:
    n = 0
    fields: dict[str, str] = {}
    for name in ("prompt", "chosen", "rejected"):
        clean, found = scrub(getattr(p, name))
        fields[name] = clean
        n += len(found)
    return p.model_copy(update=fields), n


def convert_votes(store: Store, scrub: ScrubFn, *, votes: Iterable[Vote] | None = None,
                  gold_domain: str = "reasoning") -> ConversionReport:
    """Turn votes (default: all of them) into stored preference pairs and gold examples.

    Args:
        store: the open Store.
        scrub: `scrub(text) -> (clean_text, redactions)`; the app passes
            `agent.scrub.Scrubber(allow=..., deny=...).scrub` (training may not import agent).
        votes: the votes to convert; default every vote in the arena.
        gold_domain: domain given to gold examples (the arena does not know the topic).

    Returns:
        Counts of what was created, what already existed and what was skipped, by reason.

    """
    report = ConversionReport()
    vote_list = list(store.arena.votes() if votes is None else votes)
    report.votes = len(vote_list)
    decisive: dict[str, set[str]] = defaultdict(set)
    for v in vote_list:
        if v.choice in (VoteChoice.left, VoteChoice.right):
            decisive[v.battle_id].add(v.choice.value)
    battles: dict[str, Battle] = {}
    for v in vote_list:
        battle = battles.get(v.battle_id) or store.arena.battle(v.battle_id)
        battles[v.battle_id] = battle
        pairs, skipped = pairs_from_vote(v, battle, allow_decisive=len(decisive[v.battle_id]) < 2)
        report.skipped.update(skipped)
        for p in pairs:
            clean, n = _scrub_pair(p, scrub)
            report.redactions += n
            stored, created = store.examples.add_pair(clean)
            if created:
                report.pairs_created += 1
                report.pair_ids.append(stored.id or "")
            else:
                report.pairs_existing += 1
        if v.written_answer and v.written_answer.strip():
            prompt, n1 = scrub(battle.prompt)
            response, n2 = scrub(v.written_answer.strip())
            report.redactions += len(n1) + len(n2)
            ex = Example(prompt=prompt, response=response, domain=gold_domain, tags=["arena"],
                         status=ExampleStatus.approved, origin=ExampleOrigin.gold, model=None,
                         run_id=battle.id, key=f"arena-gold:{v.id}",
                         edits=[{"by": v.rater, "at": v.created_at.isoformat(),
                                 "changes": {"written_in_arena": {"battle": battle.id}}}])
            _, created = store.examples.add_keyed(ex)
            if created:
                report.gold_created += 1
            else:
                report.gold_existing += 1
    return report


def dpo_rows(pairs: Iterable[PreferencePair]) -> list[dict[str, Any]]:
    """TRL's conversational preference format: prompt / chosen / rejected message lists."""
    rows = []
    for p in pairs:
        prompt = ([{"role": "system", "content": p.system}] if p.system else []) + [
            {"role": "user", "content": p.prompt}]
        rows.append({"prompt": prompt, "chosen": [{"role": "assistant", "content": p.chosen}],
                     "rejected": [{"role": "assistant", "content": p.rejected}], "id": p.id,
                     "battle_id": p.battle_id})
    return rows


def arena_pairs(store: Store) -> list[PreferencePair]:
    """Every preference pair that came from the arena (votes and written answers)."""
    return [p for p in store.examples.pairs() if p.origin in ("vote", "written")]
