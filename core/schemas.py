"""Pydantic records that cross package boundaries (agent, eval, training, ui all speak these)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def content_hash(*parts: str) -> str:
    """Stable sha256 of text parts; used for dedup and change detection."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


# --------------------------------------------------------------------------- import


class Role(StrEnum):
    person = "person"
    assistant = "assistant"
    system = "system"
    tool = "tool"


class Attachment(BaseModel):
    name: str = ""
    kind: str = ""
    size: int | None = None
    text: str | None = Field(None, description="Extracted text (scrubbed); context, never voice.")


class Message(BaseModel):
    """One message as parsed from an export (before scrubbing)."""

    id: str
    parent_id: str | None = None
    role: Role
    text: str = Field("", description="Visible text of the message.")
    own_text: str = Field("", description="The person's own words: text minus pasted material.")
    pasted_share: float = 0.0
    created_at: datetime | None = None
    on_shown_branch: bool = True
    position: int = 0
    has_non_text: bool = False
    attachments: list[Attachment] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict, description="thinking, tool blocks, model…")


class Conversation(BaseModel):
    """One conversation with every message of every branch."""

    id: str = Field(description="'<vendor>:<external id>'")
    vendor: Literal["chatgpt", "claude", "generic"]
    external_id: str
    title: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    messages: list[Message] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)

    def shown(self) -> list[Message]:
        return sorted((m for m in self.messages if m.on_shown_branch), key=lambda m: m.position)


class Redaction(BaseModel):
    """One scrubbed span: what kind and where. Never the value."""

    kind: str
    conversation_id: str | None = None
    message_id: str | None = None
    field: str = "text"
    start: int = 0
    length: int = 0


class ImportSummary(BaseModel):
    sources: list[str] = Field(default_factory=list)
    conversations: int = 0
    conversations_new: int = 0
    conversations_updated: int = 0
    conversations_unchanged: int = 0
    person_messages: int = 0
    assistant_messages: int = 0
    abandoned_person_messages: int = 0
    abandoned_assistant_messages: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    redactions: dict[str, int] = Field(default_factory=dict)
    chunks_indexed: int = Field(0, description="Chunks made searchable (new or changed) by this import.")
    chunks_embedded: int = Field(0, description="Chunks embedded into the dense index during the import.")
    seconds: float = 0.0


class SearchHit(BaseModel):
    chunk_id: str
    message_id: str
    conversation_id: str
    conversation_title: str = ""
    text: str
    context: str = Field("", description="The preceding assistant turn.")
    score: float = 0.0
    created_at: datetime | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class StoredMessage(BaseModel):
    """A scrubbed message as it lives in the store."""

    id: str
    conversation_id: str
    parent_id: str | None
    role: Role
    text: str
    own_text: str
    pasted_share: float
    created_at: datetime | None
    on_shown_branch: bool
    position: int
    meta: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- examples


class ExampleStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class ExampleOrigin(StrEnum):
    drafted = "drafted"  # chat with the agent
    bulk = "bulk"  # unattended generation
    mined = "mined"  # authentic pairs from imports
    gold = "gold"  # written in the arena
    manual = "manual"


class Scores(BaseModel):
    """LLM rubric (1–10 each) plus deterministic checks."""

    voice: float | None = None
    reasoning_style: float | None = None
    technical_accuracy: float | None = None
    analogy_use: float | None = None
    overall: float | None = None
    checks: dict[str, Any] = Field(default_factory=dict)


class Example(BaseModel):
    """A training example: the prompt, in-character reasoning and the response, with provenance."""

    id: str | None = None
    prompt: str
    reasoning: str = ""
    response: str
    system: str | None = None
    domain: str = "reasoning"
    tags: list[str] = Field(default_factory=list)
    status: ExampleStatus = ExampleStatus.pending
    origin: ExampleOrigin = ExampleOrigin.drafted
    source_message_ids: list[str] = Field(default_factory=list)
    conversation_id: str | None = Field(None, description="Grouping key for splits.")
    model: str | None = None
    prompt_version: str | None = None
    scores: Scores = Field(default_factory=Scores)
    edits: list[dict[str, Any]] = Field(default_factory=list)
    run_id: str | None = Field(None, description="Bulk run or agent thread that made it.")
    key: str | None = Field(None, description="Idempotency key (bulk slot); unique when set.")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def fingerprint(self) -> str:
        return content_hash(self.prompt, self.reasoning, self.response)


class PreferencePair(BaseModel):
    """A DPO pair. `prompt` is the user turn; chosen/rejected are assistant replies."""

    id: str | None = None
    prompt: str
    system: str | None = None
    chosen: str
    rejected: str
    chosen_reasoning: str = ""
    rejected_reasoning: str = ""
    origin: Literal["branch", "vote", "written", "manual"] = "vote"
    battle_id: str | None = None
    conversation_id: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)


# --------------------------------------------------------------------------- dataset


class Snapshot(BaseModel):
    id: str = Field(description="Content hash of the snapshot's examples and split.")
    version: int
    created_at: datetime = Field(default_factory=utcnow)
    seed: int = 0
    path: str
    n_train: int = 0
    n_validation: int = 0
    n_preferences: int = 0
    qc_report: dict[str, Any] = Field(default_factory=dict)
    note: str = ""


# --------------------------------------------------------------------------- training / serving


class ModelKind(StrEnum):
    base = "base"
    adapter = "adapter"
    baseline = "baseline"  # base model + style card + retrieved examples in the prompt


class ModelRecord(BaseModel):
    name: str
    kind: ModelKind
    base_model: str
    path: str | None = None
    parent: str | None = None
    snapshot_id: str | None = None
    preference_ids: list[str] = Field(default_factory=list)
    method: str | None = None
    status: str = "ready"
    endpoint: str | None = Field(None, description="OpenAI-compatible base URL serving it.")
    served_name: str | None = Field(None, description="The `model` field to send to the endpoint.")
    metrics: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class Job(BaseModel):
    id: str
    kind: str
    status: JobStatus = JobStatus.queued
    config: dict[str, Any] = Field(default_factory=dict)
    pid: int | None = None
    step: int = 0
    total_steps: int | None = None
    loss: list[tuple[int, float]] = Field(default_factory=list)
    eval_loss: list[tuple[int, float]] = Field(default_factory=list)
    log_path: str | None = None
    output: str | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


# --------------------------------------------------------------------------- arena


class VoteChoice(StrEnum):
    left = "left"
    right = "right"
    tie = "tie"
    both_bad = "both_bad"


class Battle(BaseModel):
    id: str
    prompt: str
    prompt_source: Literal["golden", "validation", "typed"] = "typed"
    left_model: str
    right_model: str
    left_answer: str = ""
    right_answer: str = ""
    rater: str = "owner"
    flags: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)


class Vote(BaseModel):
    id: str | None = None
    battle_id: str
    rater: str = "owner"
    choice: VoteChoice
    left_model: str
    right_model: str
    prompt: str = ""
    written_answer: str | None = None
    latency_ms: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


# --------------------------------------------------------------------------- eval


class EvalRun(BaseModel):
    id: str
    models: list[str]
    metrics: dict[str, Any] = Field(default_factory=dict)
    report_path: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class GoldenPrompt(BaseModel):
    id: str | None = None
    prompt: str
    domain: str = "reasoning"
    source: Literal["default", "owner", "validation", "drafted"] = "default"
