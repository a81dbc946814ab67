"""Guided decoding for the CPU server: JSON schemas (response_format, forced tools) through llguidance.

vLLM constrains `response_format` and forced tool calls with a grammar engine; so does our
server, so a 135M model returns schema-valid JSON every time. llguidance was chosen over
xgrammar, outlines and lm-format-enforcer: it has no dependencies (xgrammar pulls triton,
outlines a model zoo), compiles a schema in milliseconds, and computes a token mask for a
49k vocabulary in well under a millisecond (benchmarks/bench_guided.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# Compact JSON: a small model given free whitespace can pad forever inside the object.
JSON_OPTIONS = {"whitespace_flexible": False}


class GuidedError(ValueError):
    """A request's schema or tool choice cannot be turned into a grammar (HTTP 400)."""


@dataclass(frozen=True)
class Guide:
    """What one request's output must match, and how to present it."""

    schema: dict[str, Any]
    tool_name: str | None = None  # set when the JSON is a forced tool call's arguments
    any_tool: bool = False  # tool_choice "required": {"name": …, "arguments": …}


def guide_for(body: dict[str, Any]) -> Guide | None:
    """Return the constraint an OpenAI chat request asks for, or None for free text.

    Raises:
        GuidedError: a malformed response_format, or a tool_choice naming no given tool.

    """
    fmt = body.get("response_format") or {}
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise GuidedError("response_format.json_schema.schema must be a JSON object")
        return Guide(schema)
    if kind == "json_object":
        return Guide({"type": "object"})
    if kind not in (None, "text"):
        raise GuidedError(f"response_format.type {kind!r} is not supported (json_schema, json_object, text)")
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    by_name = {t["function"]["name"]: t["function"] for t in tools if isinstance(t, dict) and t.get("function")}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name not in by_name:
            raise GuidedError(f"tool_choice names {name!r}, which is not among the tools given")
        return Guide(by_name[name].get("parameters") or {"type": "object"}, tool_name=name)
    if choice == "required":
        if not by_name:
            raise GuidedError("tool_choice 'required' needs at least one tool")
        options = [{"type": "object", "properties": {"name": {"const": n},
                                                     "arguments": f.get("parameters") or {"type": "object"}},
                    "required": ["name", "arguments"], "additionalProperties": False} for n, f in by_name.items()]
        return Guide({"anyOf": options}, any_tool=True)
    return None  # "auto", "none" or no tools: free text, as vLLM does without a tool parser


def tool_call(guide: Guide, text: str, call_id: str) -> dict[str, Any] | None:
    """Return the OpenAI tool call for a finished guided output, or None when it is not one."""
    if guide.tool_name is not None:
        return {"id": call_id, "type": "function", "function": {"name": guide.tool_name, "arguments": text}}
    if guide.any_tool:
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return {"id": call_id, "type": "function",
                "function": {"name": data.get("name"), "arguments": json.dumps(data.get("arguments") or {})}}
    return None


class GrammarFactory:
    """Builds per-request matchers for one tokenizer (the tokenizer conversion is done once)."""

    def __init__(self, hf_tokenizer: Any, vocab_size: int) -> None:
        import llguidance.hf

        self._ll = llguidance.hf.from_tokenizer(hf_tokenizer, n_vocab=vocab_size)
        self.vocab_size = vocab_size

    def matcher(self, guide: Guide) -> Matcher:
        """Compile `guide` into a fresh matcher; GuidedError when the schema is not usable."""
        import llguidance

        try:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(guide.schema, overrides=JSON_OPTIONS)
        except ValueError as e:
            raise GuidedError(f"invalid JSON schema: {e}") from None
        error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, self._ll)
        if error:
            raise GuidedError(f"JSON schema not supported for guided decoding: {'; '.join(messages)}")
        return Matcher(llguidance.LLMatcher(self._ll, grammar, log_level=0), self.vocab_size)


class Matcher:
    """One request's grammar state: the mask of allowed next tokens, advanced token by token."""

    def __init__(self, ll_matcher: Any, vocab_size: int) -> None:
        self._m = ll_matcher
        self.vocab_size = vocab_size
        self._words = (vocab_size + 31) // 32

    def allowed(self) -> torch.Tensor:
        """Boolean mask over the vocabulary: which tokens may come next."""
        raw = np.frombuffer(self._m.compute_bitmask(), dtype=np.uint8)
        bits = np.unpackbits(raw[: self._words * 4], bitorder="little")[: self.vocab_size]
        return torch.from_numpy(bits.astype(bool))

    def consume(self, token: int) -> None:
        """Advance past a sampled token (it was drawn from the mask, so it is accepted)."""
        self._m.consume_token(token)

    @property
    def finished(self) -> bool:
        """Return True once the grammar admits nothing but the end."""
        return bool(self._m.is_stopped())

    @property
    def error(self) -> str | None:
        """The matcher's error, if it entered its error state."""
        return self._m.get_error() if self._m.is_error() else None
