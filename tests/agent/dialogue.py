"""The scripted drafting dialogue, shared by the in-process test and the resume-in-a-new-process run.

Run as a script, it resumes an existing thread in a fresh process:
    python tests/agent/dialogue.py HOME THREAD_ID FIRST_TURN "owner reply" ...
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script in a fresh process
    sys.path.insert(0, str(REPO))

from tests.fakes.chat_models import ScriptedChat, tool_reply  # noqa: E402

SOURCE_ID = re.compile(r'<source-[0-9a-f]+ id="([^"]+)"')


def _sources(msgs: list[BaseMessage]) -> list[str]:
    return SOURCE_ID.findall(str(msgs[-1].content))


def _item(n: int, ids: list[str], casual: bool = False) -> dict[str, Any]:
    if casual:
        return {"prompt": "yo, why bother running your own boxes?",
                "reasoning": "I keep it short with a friend. Same as I'd tell a guy on the job site: "
                             "own the panel, own the outage. My iron, my data, my call.",
                "response": "Because when it breaks at 2am I want to know every wire in it. Renting is "
                            "like working out of someone else's panel: fine till you need to open it.",
                "domain": "architecture", "tags": ["self-hosting", "casual"], "source_ids": ids[:1]}
    return {"prompt": f"Why do you self-host, take {n}?",
            "reasoning": f"I start from the failure mode, like I would on a panel: who can fix it at 2am. "
                         f"Take {n}: my customers' data stays on their iron, so mine should too.",
            "response": f"I self-host because I'd rather understand every wire in the panel (take {n}). "
                        "Renting a cluster is like a landlord's breaker box: you can't see what's on it.",
            "domain": "architecture", "tags": ["self-hosting"], "source_ids": ids[:2]}


def _rubric(numbers: list[int]) -> AIMessage:
    return tool_reply("RubricBatch", {"scores": [
        {"number": n, "voice": 8, "reasoning_style": 7, "technical_accuracy": 9, "analogy_use": 8,
         "note": "sounds like him"} for n in numbers]})


def script() -> list[Any]:
    """Every LLM turn of the dialogue, in order."""
    return [
        # 1. understand the request
        tool_reply("Request", {"topic": "why I self-host", "count": 3, "domain": "architecture",
                               "constraints": ["use my usual analogies"], "query": "self-host own hardware iron"}),
        # 2. draft three, citing what was retrieved
        lambda msgs: tool_reply("DraftBatch", {"examples": [_item(n, _sources(msgs)) for n in (1, 2, 3)]}),
        # 3. score them
        _rubric([1, 2, 3]),
        # -- owner: "approve 1 and 3, make 2 more casual"
        # 4. revise draft 2
        lambda msgs: tool_reply("DraftBatch", {"examples": [_item(2, _sources(msgs), casual=True)]}),
        # 5. score the revision
        _rubric([2]),
        # -- owner: "approve"  (no LLM call: the reply is read deterministically)
    ]


def context_for(store: Any, llm: Any, index: Any = None) -> Any:
    from agent.context import Context

    return Context(llm=llm, store=store, index=index, model_name="claude-sonnet-4-6",
                   style_card="Blunt, practical, electrician analogies.")


async def _resume(home: str, thread: str, first_turn: int, replies: list[str]) -> dict[str, Any]:
    from agent.graph import open_graph, pending_review, send
    from core.config import Settings
    from core.store import Store

    settings = Settings(home=home)
    store = Store.open(settings.db_url)
    llm = ScriptedChat(script=script()[first_turn:])
    out: dict[str, Any] = {}
    async with open_graph(settings.checkpoints_path) as graph:
        waiting = await pending_review(graph, thread)
        out["found_pending"] = waiting is not None and waiting["numbers"]
        for r in replies:
            res = await send(graph, thread, context_for(store, llm), resume=r)
            out.setdefault("turns", []).append({"review": res["review"], "reply": res["reply"], "saved": res["saved"]})
    out["llm_calls"] = len(llm.calls)
    store.close()
    return out


if __name__ == "__main__":
    home, thread, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(_resume(home, thread, first, sys.argv[4:])), default=str))
