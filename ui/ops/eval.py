"""Evaluation operations: run one voice evaluation, summarise it, draft golden prompts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.errors import ConfigError


def summary_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per evaluated system: VGC, its components and the headline guards."""
    voice = result.get("voice") or {}
    rows = []
    for name, s in voice.get("systems", {}).items():
        rows.append({"model": name, "vgc": s["vgc"],
                     **{m.split("_")[0]: s["components"][m]["gap_closed"] for m in s["components"]},
                     "p_person": s["attribution"]["mean_p_person"],
                     "auc_vs_person": s["components"]["M4_c2st_auc"]["value"],
                     "copied": s["memorisation"], "phrase_ratio": s["phrases"]["ratio"],
                     # Beside VGC, not in it (runs stored before these metrics show n/a).
                     "M4m": (s.get("secondary") or {}).get("M4m_c2st_masked", {}).get("gap_closed"),
                     "confusion": (s.get("away_towards") or {}).get("confusion"),
                     "rouge_l": (s.get("rouge_l") or {}).get("mean"),
                     "checks": f"{sum(bool(c['ok']) for c in s['checks'])}/{len(s['checks'])}"})
    return rows


def run_evaluation(sv: Any, models: list[str], *, judge: bool,
                   progress: Callable[[str, int, int], None] | None = None, **options: Any) -> dict[str, Any]:
    """Build the clients from Services and run one evaluation; `progress(stage, done, total)` follows it."""
    from eval.judges import ChatModelJudge
    from eval.runner import EvalOptions, run_eval

    judge_model = None
    if judge:
        chat = sv.judge
        if chat is None:
            raise ConfigError("--judge needs a judge model: set judge_provider (anthropic or openai) and judge_model")
        judge_model = ChatModelJudge(chat, name=sv.settings.judge_model or sv.settings.llm_model)
    client_for = getattr(sv, "generation_client_for", None)
    if client_for is None:
        from core.generate import GenerationClient

        client_for = GenerationClient
    return run_eval(sv.store, sv.settings, models, client_for=client_for, judge=judge_model,
                    opts=EvalOptions(**options), progress=progress)


def draft_golden_prompts(sv: Any, n: int, *, use_llm: bool) -> dict[str, Any]:
    """Draft golden prompts from the person's topics (with the configured LLM when asked and there is one)."""
    from eval.golden_drafts import draft_golden

    llm = sv.llm if use_llm and sv.settings.llm_provider != "none" else None
    return draft_golden(sv.store, n=n, domains=list(sv.settings.domains), keywords=dict(sv.settings.domain_keywords),
                        llm=llm, person=sv.settings.person_name)
