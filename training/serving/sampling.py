"""Per-request sampling for the CPU server: the OpenAI/vLLM parameters, applied to one row's logits.

Each row of a batch carries its own parameters and random generator, so two arena answers
decoded together are each exactly what they would be alone with the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class SamplingParams:
    """The sampling fields of a chat request (OpenAI's, plus vLLM's extras)."""

    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0  # 0 or -1: off
    seed: int | None = None
    repetition_penalty: float = 1.0  # vLLM: > 1 discourages any token already in prompt or output
    frequency_penalty: float = 0.0  # OpenAI: by how often a token already appeared in the output
    presence_penalty: float = 0.0  # OpenAI: once a token appeared in the output
    ignore_eos: bool = False  # vLLM: keep going past the end token (benchmarks, fixed-length runs)

    @classmethod
    def from_body(cls, body: dict[str, Any], defaults: dict[str, Any], room: int | None = None,
                  guided: bool = False) -> SamplingParams:
        """Read a request body; fields it leaves out come from the model's generation defaults.

        Without `max_tokens` the answer may use what the context leaves (`room`), as vLLM does.
        Free text is also held to the server's default cap (a CPU server must not spend minutes
        on one runaway answer); a guided reply is not, since its grammar bounds it and a cut
        reply is invalid JSON.

        Raises:
            ValueError: a field of the wrong type or out of range (HTTP 400).

        """
        def get(name: str, kind: type, *alts: str) -> Any:
            for key in (name, *alts):
                if body.get(key) is not None:
                    try:
                        return kind(body[key])
                    except (TypeError, ValueError):
                        raise ValueError(f"{key} must be a {kind.__name__}, got {body[key]!r}") from None
            return kind(defaults[name]) if defaults.get(name) is not None else getattr(cls, name)

        asked = body.get("max_tokens") is not None or body.get("max_completion_tokens") is not None
        budget = get("max_tokens", int, "max_completion_tokens")
        if not asked and room is not None:
            budget = max(1, room if guided else min(budget, room))
        p = cls(max_tokens=budget, temperature=get("temperature", float),
                top_p=get("top_p", float), top_k=get("top_k", int), seed=body.get("seed"),
                repetition_penalty=get("repetition_penalty", float),
                frequency_penalty=get("frequency_penalty", float), presence_penalty=get("presence_penalty", float),
                ignore_eos=bool(body.get("ignore_eos", False)))
        if p.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {p.max_tokens}")
        if p.temperature < 0 or not 0 < p.top_p <= 1 or p.repetition_penalty <= 0:
            raise ValueError("temperature must be >= 0, top_p in (0, 1], repetition_penalty > 0")
        if p.seed is not None and not isinstance(p.seed, int):
            raise ValueError(f"seed must be an integer, got {p.seed!r}")
        return p


def penalise(logits: torch.Tensor, p: SamplingParams, seen: torch.Tensor, n_out: int,
             exempt: torch.Tensor | None) -> torch.Tensor:
    """Apply the repetition, frequency and presence penalties to one row's logits (a copy)."""
    logits = logits.clone()
    if p.repetition_penalty != 1.0:
        ids = torch.unique(seen)
        if exempt is not None:  # end tokens fill every prompt; penalising them would stop nothing
            ids = ids[~torch.isin(ids, exempt)]
        vals = logits[ids]
        logits[ids] = torch.where(vals > 0, vals / p.repetition_penalty, vals * p.repetition_penalty)
    if (p.frequency_penalty or p.presence_penalty) and n_out:
        counts = torch.bincount(seen[-n_out:], minlength=logits.shape[0])[: logits.shape[0]].to(logits.dtype)
        logits -= p.frequency_penalty * counts + p.presence_penalty * (counts > 0).to(logits.dtype)
    return logits


def pick_token(logits: torch.Tensor, p: SamplingParams, seen: torch.Tensor, n_out: int,
               allowed: torch.Tensor | None, generator: torch.Generator | None,
               exempt: torch.Tensor | None = None) -> int:
    """Choose the next token for one row: penalties, grammar mask, then greedy or top-k/top-p sampling."""
    logits = penalise(logits.float(), p, seen, n_out, exempt)
    if allowed is not None:
        logits = logits.masked_fill(~allowed[: logits.shape[0]].to(logits.device), float("-inf"))
    if p.temperature == 0:
        return int(torch.argmax(logits))
    logits = logits / p.temperature
    if p.top_k and p.top_k > 0:
        kth = torch.topk(logits, min(p.top_k, logits.shape[0])).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if p.top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_p, dim=-1) - sorted_p < p.top_p  # always keeps the most likely token
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))
