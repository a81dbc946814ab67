"""LLM judges on deepeval: a G-Eval "sounds like the owner" score and both-order pairwise judging.

Any judge works through `ChatModelJudge`, a `DeepEvalBaseLLM` around a LangChain chat model
(Claude or a local OpenAI-compatible server, from core.llm). The judge only needs
`generate(prompt) -> str`: deepeval parses JSON or fenced JSON from plain text
(stack-notes §4). A reply that cannot be parsed is a counted "no verdict", never a crash.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from deepeval.models import DeepEvalBaseLLM
from pydantic import BaseModel, Field

from eval.ratings import wilson

REFERENCE_CHARS = 600  # per reference message: enough to show the voice, cheap to send
MAX_REFERENCES = 5


class ChatModelJudge(DeepEvalBaseLLM):
    """A LangChain chat model as a deepeval judge model (text in, text out)."""

    def __init__(self, chat_model: Any, name: str | None = None) -> None:
        self.chat = chat_model
        self._name = name or str(getattr(chat_model, "model", None) or getattr(chat_model, "model_name", None)
                                 or type(chat_model).__name__)
        super().__init__(self._name)

    def load_model(self) -> Any:
        return self.chat

    # With a `schema`, the verdict is asked for as that schema through the chat model's
    # structured call: a server with guided decoding (vLLM, ours) then returns it valid even
    # from a small local model. A reply that still does not validate falls back to text,
    # which deepeval parses (and counts as no verdict when it cannot).
    def generate(self, prompt: str, schema: type[BaseModel] | None = None) -> Any:
        if schema is not None and (value := asyncio.run(self._structured(prompt, schema))) is not None:
            return value
        return _text(self.chat.invoke(prompt))

    async def a_generate(self, prompt: str, schema: type[BaseModel] | None = None) -> Any:
        if schema is not None and (value := await self._structured(prompt, schema)) is not None:
            return value
        return _text(await self.chat.ainvoke(prompt))

    async def _structured(self, prompt: str, schema: type[BaseModel]) -> BaseModel | None:
        from langchain_core.messages import HumanMessage

        from core.llm import ainvoke_structured

        try:
            out = await ainvoke_structured(self.chat, [HumanMessage(prompt)], schema, retries=0)
        except NotImplementedError:  # a chat model without tool binding: text it is
            return None
        return out.value

    def get_model_name(self) -> str:
        return self._name


def _text(reply: Any) -> str:
    content = getattr(reply, "content", reply)
    if isinstance(content, list):  # Anthropic-style content blocks
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)


def clean_references(references: Sequence[str], held_out: Sequence[str]) -> list[str]:
    """Pick reference messages for the judge, never one of the test items (nor containing one)."""
    norm = lambda s: " ".join(s.lower().split())  # noqa: E731
    held = [norm(h) for h in held_out if h.strip()]
    out = []
    for r in references:
        n = norm(r)
        if n and not any(n == h or (len(h) > 40 and (h in n or n in h)) for h in held):
            out.append(r.strip()[:REFERENCE_CHARS])
        if len(out) >= MAX_REFERENCES:
            break
    return out


def voice_steps(*, person: str, style_card: str, references: Sequence[str]) -> list[str]:
    """G-Eval evaluation steps built from the style card and real (non-test) messages."""
    refs = "\n".join(f"  [{i}] {r}" for i, r in enumerate(references, 1)) or "  (none available)"
    card = style_card.strip() or "(no style card yet)"
    return [
        f"Learn how {person} writes from these real messages by {person}:\n{refs}",
        f"Read {person}'s style card:\n{card}",
        f"Compare the Actual Output with {person}'s messages on wording, sentence length, punctuation, "
        "casing, formatting (bullets, headers, bold, code) and tone.",
        f"Check the reasoning style: does it reason, push back and use analogies the way {person} does?",
        f"Penalise generic assistant phrasing, over-formatting and hedging that {person} does not use.",
        f"Ignore whether the answer is correct or helpful; judge only how likely it is that {person} "
        "wrote it in reply to the Input.",
    ]


@dataclass
class VoiceScores:
    """G-Eval voice scores on a 0-10 scale; `no_verdict` counts replies the judge garbled."""

    scores: list[float | None] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def no_verdict(self) -> int:
        return sum(1 for s in self.scores if s is None)

    @property
    def mean(self) -> float | None:
        got = [s for s in self.scores if s is not None]
        return sum(got) / len(got) if got else None

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "n": len(self.scores), "no_verdict": self.no_verdict, "scores": self.scores}


def score_voice(judge: DeepEvalBaseLLM, items: Sequence[tuple[str, str]], *, person: str, style_card: str,
                references: Sequence[str]) -> VoiceScores:
    """G-Eval "sounds like <person>" for each (prompt, answer).

    Args:
        judge: the judge model (a `ChatModelJudge`).
        items: (prompt, answer) pairs.
        person: the owner's name as the judge should read it.
        style_card: the owner's style card text.
        references: real messages by the owner, already free of test items (`clean_references`).

    """
    from deepeval.metrics import GEval
    from deepeval.test_case import LLMTestCase, SingleTurnParams

    steps = voice_steps(person=person, style_card=style_card, references=references)
    out = VoiceScores()
    for prompt, answer in items:
        metric = GEval(name=f"Sounds like {person}", evaluation_steps=steps, model=judge, async_mode=False,
                       evaluation_params=[SingleTurnParams.INPUT, SingleTurnParams.ACTUAL_OUTPUT])
        try:
            score = metric.measure(LLMTestCase(input=prompt, actual_output=answer), _show_indicator=False)
        except (ValueError, KeyError, TypeError) as e:  # deepeval's "invalid JSON" / missing "score"
            out.scores.append(None)
            out.reasons.append(f"no verdict: {e}")
            continue
        out.scores.append(round(10.0 * float(score), 3))
        out.reasons.append(str(metric.reason or ""))
    return out


# --------------------------------------------------------------------------- pairwise

PAIRWISE_PROMPT = """You are an authorship judge. Decide which reply was more likely written by {person}.
Not which reply is better, more correct or more helpful: only which one sounds like {person}.

Real messages written by {person}:
{references}

{person}'s style card:
{style_card}

Context the reply answers:
{prompt}

Reply A:
{a}

Reply B:
{b}

Answer with JSON only, no other text: {{"winner": "A" or "B" or "tie", "reason": "<one sentence>"}}"""

Choice = Literal["A", "B", "tie"]
_JSON_RE = re.compile(r"\{.*\}", re.DOTALL)


class PairChoice(BaseModel):
    """A pairwise verdict: which reply sounds more like the person."""

    winner: Choice
    reason: str = Field("", max_length=400)


def parse_choice(reply: Any) -> Choice | None:
    """Read the winner of a judge reply ('A', 'B', 'tie'); None when it cannot be read."""
    if isinstance(reply, PairChoice):
        return reply.winner
    m = _JSON_RE.search(reply if isinstance(reply, str) else "")
    if not m:
        return None
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError:
        return None
    winner = str(data.get("winner", "")).strip().strip("\"'").lower() if isinstance(data, dict) else ""
    return {"a": "A", "reply a": "A", "b": "B", "reply b": "B", "tie": "tie"}.get(winner)  # type: ignore[return-value]


@dataclass
class PairVerdict:
    """One item judged in both orders. outcome: 'x', 'y', 'tie' or 'no_verdict'."""

    first: Choice | None  # x shown as A
    second: Choice | None  # y shown as A
    outcome: str
    consistent: bool | None


def combine_orders(first: Choice | None, second: Choice | None) -> PairVerdict:
    """Both-order rule (MT-Bench): a win only when both orders agree; disagreement is a tie."""
    if first is None or second is None:
        return PairVerdict(first, second, "no_verdict", None)
    as_x = {"A": "x", "B": "y", "tie": "tie"}[first]
    as_y = {"A": "y", "B": "x", "tie": "tie"}[second]  # second order shows y as A
    if as_x == as_y:
        return PairVerdict(first, second, as_x, True)
    return PairVerdict(first, second, "tie", False)


@dataclass
class PairwiseResult:
    x: str
    y: str
    verdicts: list[PairVerdict]

    def to_dict(self) -> dict[str, Any]:
        wins = sum(v.outcome == "x" for v in self.verdicts)
        losses = sum(v.outcome == "y" for v in self.verdicts)
        ties = sum(v.outcome == "tie" for v in self.verdicts)
        judged = [v for v in self.verdicts if v.consistent is not None]
        rate = lo = hi = None
        if wins + losses:
            rate, lo, hi = wilson(wins, wins + losses)
        return {
            "x": self.x, "y": self.y, "n": len(self.verdicts), "wins": wins, "losses": losses, "ties": ties,
            "no_verdict": sum(v.outcome == "no_verdict" for v in self.verdicts),
            "inconsistent": sum(v.consistent is False for v in self.verdicts),
            "position_consistency": (sum(bool(v.consistent) for v in judged) / len(judged)) if judged else None,
            "win_rate": rate, "win_rate_low": lo, "win_rate_high": hi,
            "verdicts": [asdict(v) for v in self.verdicts],
        }


def judge_pairs(judge: DeepEvalBaseLLM, items: Sequence[tuple[str, str, str]], *, x: str, y: str, person: str,
                style_card: str, references: Sequence[str]) -> PairwiseResult:
    """Judge each (prompt, answer_x, answer_y) twice, x first then y first.

    Args:
        judge: the judge model.
        items: (prompt, answer of system x, answer of system y).
        x: name of system x (for the report).
        y: name of system y.
        person: the owner's name.
        style_card: style card text.
        references: real messages by the owner, free of test items.

    """
    refs = "\n".join(f"[{i}] {r}" for i, r in enumerate(references, 1)) or "(none available)"
    card = style_card.strip() or "(no style card yet)"
    verdicts = []
    for prompt, ax, ay in items:
        first = parse_choice(judge.generate_with_schema(PAIRWISE_PROMPT.format(
            person=person, references=refs, style_card=card, prompt=prompt, a=ax, b=ay), schema=PairChoice))
        second = parse_choice(judge.generate_with_schema(PAIRWISE_PROMPT.format(
            person=person, references=refs, style_card=card, prompt=prompt, a=ay, b=ax), schema=PairChoice))
        verdicts.append(combine_orders(first, second))
    return PairwiseResult(x=x, y=y, verdicts=verdicts)
