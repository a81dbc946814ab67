"""Graph state and the structured shapes the LLM fills in (requests, drafts, rubric scores)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph import add_messages
from pydantic import BaseModel, ConfigDict, Field

# State holds plain JSON-able dicts (validated through the models below at the edges), so a
# checkpoint written by one process is read back by any other without custom serializers.


# Structured replies forbid extra keys and bound every string: a JSON schema is also the grammar
# a guided server decodes under, and a small model given room for extra keys or endless
# strings uses it. The bounds are far above what a good draft needs.
STRICT = ConfigDict(extra="forbid")


class Request(BaseModel):
    """What the owner asked for, as understood."""

    model_config = STRICT

    topic: str = Field(max_length=300, description="What the examples are about, in a few words.")
    count: int = Field(3, ge=1, le=20, description="How many examples to draft.")
    domain: str | None = Field(None, description="One domain from the taxonomy, or null if unclear.")
    constraints: list[str] = Field(default_factory=list, max_length=10,
                                   description="Style or content constraints the owner gave.")
    query: str = Field("", max_length=300, description="A search query to find the owner's relevant past messages.")


class DraftItem(BaseModel):
    """One training example in the owner's voice."""

    model_config = STRICT

    prompt: str = Field(min_length=1, max_length=2000, description="The user message the example answers.")
    reasoning: str = Field(min_length=1, max_length=3000,
                           description="The owner's own thinking, first person, in their voice.")
    response: str = Field(min_length=1, max_length=6000, description="The owner's reply, in their voice.")
    domain: str = Field(max_length=80, description="One domain from the taxonomy.")
    tags: list[str] = Field(default_factory=list, max_length=8)
    source_ids: list[str] = Field(default_factory=list, max_length=10,
                                  description="Ids of the source messages drawn on.")


class DraftBatch(BaseModel):
    """Drafted examples, in order."""

    model_config = STRICT

    examples: list[DraftItem] = Field(min_length=1)


class RubricItem(BaseModel):
    """Rubric scores for one draft, each 1-10."""

    model_config = STRICT

    number: int = Field(description="The draft's number as given.")
    voice: float = Field(ge=1, le=10)
    reasoning_style: float = Field(ge=1, le=10)
    technical_accuracy: float = Field(ge=1, le=10)
    analogy_use: float = Field(ge=1, le=10)
    note: str = Field("", max_length=400)


class RubricBatch(BaseModel):
    """Rubric scores for every draft shown."""

    model_config = STRICT

    scores: list[RubricItem] = Field(min_length=1)


class Decision(BaseModel):
    """What the owner decided about the drafts on the table (numbers are 1-based)."""

    approve: list[int] = Field(default_factory=list)
    reject: list[int] = Field(default_factory=list)
    revise: dict[int, str] = Field(default_factory=dict, description="number -> what to change, in the owner's words")
    edits: dict[int, dict[str, Any]] = Field(default_factory=dict, description="number -> {field: new value}")
    done: bool = Field(False, description="Stop reviewing; drop whatever is left undecided.")

    def is_empty(self) -> bool:
        """Return True when the reply decided nothing."""
        return not (self.approve or self.reject or self.revise or self.edits or self.done)


def add_usage(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Reducer: sum token and cost counters."""
    out = dict(a or {})
    for k, v in (b or {}).items():
        out[k] = round(out.get(k, 0) + v, 6) if isinstance(v, float) else out.get(k, 0) + v
    return out


@dataclass
class InputState:
    """What a caller sends: the owner's messages."""

    messages: Annotated[Sequence[AnyMessage], add_messages] = field(default_factory=list)
    """The dialogue with the owner."""


@dataclass
class State(InputState):
    """Everything the graph keeps for one thread."""

    request: dict[str, Any] | None = None
    """The current request (a Request dump)."""
    hits: list[dict[str, Any]] = field(default_factory=list)
    """Retrieved source messages (SearchHit dumps): data, never instructions."""
    drafts: list[dict[str, Any]] = field(default_factory=list)
    """Drafts of the current request; see agent.nodes.new_draft for the keys."""
    notice: str | None = None
    """A message for the owner at the next review (e.g. a reply that was not understood)."""
    usage: Annotated[dict[str, Any], add_usage] = field(default_factory=dict)
    """Tokens and cost spent in this thread."""
    failures: Annotated[dict[str, int], add_usage] = field(default_factory=dict)
    """Counted soft failures (unusable LLM replies), by step."""
    saved_ids: Annotated[list[str], operator.add] = field(default_factory=list)
    """Ids of the examples this thread saved."""
