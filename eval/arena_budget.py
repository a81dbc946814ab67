"""Token budgets for arena answers: room for a thinking model to finish thinking and still answer.

vLLM's `max_tokens` caps every generated token, the reasoning included: the reasoning parser
only splits the output afterwards. Qwen3 thinks for hundreds to thousands of tokens before
its answer, so a flat 512 leaves a thinking model with no answer at all (streamed: reasoning
deltas only, finish_reason "length"; non-streamed with Qwen3's parser: the unfinished
`<think>…` block comes back as the content). Each thinking family therefore gets a thinking
budget on top of the answer's.

Family names are those of training/reasoning.py (eval does not import training; a test keeps
the two in step). A prompt plus max_tokens beyond the model's max_model_len is a 400 in vLLM
("This model's maximum context length is N tokens. However, you requested M output tokens
and your prompt contains at least P input tokens…"), so budgets are also kept inside the
window; `fitting_budget` reads the room back out of that error for one retry.
"""

from __future__ import annotations

import math
import re

ANSWER_TOKENS = 512
# Thinking before the answer, per reasoning family. 4,096 covers Qwen3's usual thinking on a
# conversational prompt; the window clamp keeps it valid on short --max-model-len servers.
THINKING_TOKENS = {"qwen3": 4096, "deepseek-r1": 4096, "apriel-1.5": 4096, "minimax-m2": 4096}
ALIASES = {"apriel": "apriel-1.5", "deepseek_r1": "deepseek-r1", "minimax": "minimax-m2"}
# Substrings of base-model names that identify a family, checked in this order (as training.reasoning).
NAME_HINTS = (("apriel", "apriel-1.5"), ("minimax", "minimax-m2"), ("deepseek-r1", "deepseek-r1"),
              ("r1-distill", "deepseek-r1"), ("qwen3", "qwen3"))

_CONTEXT = re.compile(r"maximum context length is (\d+) tokens.*?(?:contains at least (\d+) input tokens"
                      r"|\((\d+) in the messages)", re.S)


def thinking_family(family: str | None, base_model: str) -> str:
    """Return the reasoning family of a model: its recorded family, else one its base's name implies."""
    if family and family != "none":
        key = family.strip().lower()
        return ALIASES.get(key, key)
    name = base_model.lower()
    return next((fam for hint, fam in NAME_HINTS if hint in name), "none")


def estimate_prompt_tokens(messages: list[dict[str, str]]) -> int:
    """Return an upper estimate of a chat prompt's tokens without its tokenizer.

    Two characters a token (real tokenizers average three to four on English) plus the chat
    template's per-turn markers: generous, so the budget stays inside the window.
    """
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    return math.ceil(chars / 2) + 8 * len(messages) + 16


def fitting_budget(error: str) -> int | None:
    """Return the max_tokens that fits, read from vLLM's context-length error (None if it is not one)."""
    m = _CONTEXT.search(error)
    if not m:
        return None
    room = int(m.group(1)) - int(m.group(2) or m.group(3)) - 8  # a few tokens of slack for the recount
    return room if room > 0 else None
