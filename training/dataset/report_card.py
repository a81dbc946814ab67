"""The dataset report card: metrics against the owner's targets (pass/fail each) and its plots.

Targets come from `settings.targets` and `settings.domains` (percent shares). Plots are
matplotlib figures (Agg backend; matplotlib is imported only when a plot is drawn), usable as
PNG bytes for the CLI or directly in a Gradio `gr.Plot`.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from core.schemas import Example

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from core.config import Settings

# Phrasings that introduce an analogy; used only when the example carries no explicit flag.
_ANALOGY_RE = re.compile(
    r"\b(?:is (?:just )?like|are (?:just )?like|it's (?:just )?like|think of (?:it|this|that|them) (?:as|like)"
    r"|imagine|the same way|as if|akin to|analogous|analogy|like a|like an|reminds me of|picture a)\b",
    re.IGNORECASE,
)


def has_analogy(ex: Example) -> bool:
    """Tell whether the example uses an analogy: an explicit check/tag/score first, else a phrase scan."""
    flag = ex.scores.checks.get("analogy", ex.scores.checks.get("has_analogy"))
    if isinstance(flag, bool):
        return flag
    if "analogy" in ex.tags:
        return True
    if ex.scores.analogy_use is not None:
        return ex.scores.analogy_use >= 5
    return bool(_ANALOGY_RE.search(ex.response))


@dataclass
class Check:
    """One target: its name, measured value, the goal, and whether it passes."""

    name: str
    value: float
    target: str
    passed: bool
    detail: str = ""


@dataclass
class ReportCard:
    n_examples: int
    mean_score: float | None
    analogy_share: float
    reasoning_share: float
    domain_share: dict[str, float]
    domain_target: dict[str, float]
    checks: list[Check] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("scores")
        d.pop("dates")
        d["passed"] = self.passed
        return d

    def to_markdown(self) -> str:
        """Format the card as a Markdown table (the tab and the CLI show this)."""
        lines = ["| target | value | goal | |", "|---|---|---|---|"]
        for c in self.checks:
            lines.append(f"| {c.name} | {c.detail or _fmt(c.value)} | {c.target} | {'PASS' if c.passed else 'FAIL'} |")
        verdict = "**All targets met.**" if self.passed else (
            f"**{sum(not c.passed for c in self.checks)} of {len(self.checks)} targets missed.**")
        return "\n".join(lines) + "\n\n" + verdict


def _fmt(v: float) -> str:
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def build_report(examples: Sequence[Example], settings: Settings, *, require_reasoning: bool = True) -> ReportCard:
    """Measure `examples` against the targets in `settings` (reasoning only where the target trains it)."""
    t = settings.targets
    n = len(examples)
    scored = [e.scores.overall for e in examples if e.scores.overall is not None]
    mean = sum(scored) / len(scored) if scored else None
    analogy = sum(has_analogy(e) for e in examples) / n if n else 0.0
    reasoning = sum(bool(e.reasoning.strip()) for e in examples) / n if n else 0.0
    counts = Counter(e.domain for e in examples)
    total_target = sum(settings.domains.values()) or 1.0
    target = {d: 100.0 * w / total_target for d, w in settings.domains.items()}
    share = {d: (100.0 * counts.get(d, 0) / n if n else 0.0) for d in sorted(set(target) | set(counts))}

    checks = [
        Check("examples", float(n), f">= {t.min_examples}", n >= t.min_examples, str(n)),
        Check("mean quality", mean if mean is not None else 0.0, f">= {t.min_mean_score:g}/10",
              mean is not None and mean >= t.min_mean_score,
              f"{mean:.2f}" if mean is not None else "no scores"),
        Check("with an analogy", analogy, f">= {t.min_analogy_share:.0%}", analogy >= t.min_analogy_share,
              f"{analogy:.1%}"),
        Check("with reasoning", reasoning, f">= {t.min_reasoning_share:.0%}",
              reasoning >= t.min_reasoning_share - 1e-9, f"{reasoning:.1%}") if require_reasoning else
        Check("with reasoning", reasoning, "not trained by this preset's model family", True,
              f"{reasoning:.1%} (optional)"),
    ]
    tol = t.domain_tolerance_points
    for d in sorted(share):
        goal = target.get(d, 0.0)
        off = share[d] - goal
        checks.append(Check(f"domain {d}", share[d], f"{goal:.0f}% ± {tol:g}", abs(off) <= tol,
                            f"{share[d]:.1f}% ({off:+.1f})"))
    dates = sorted(e.created_at.date().isoformat() for e in examples)
    return ReportCard(n, mean, analogy, reasoning, share, target, checks, [float(s) for s in scored], dates)


# --------------------------------------------------------------------------- plots


def _figure(width: float = 6.0, height: float = 3.2) -> Figure:
    from matplotlib.figure import Figure

    # Figure() (not pyplot) keeps no global state: safe across Gradio sessions and threads.
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def plot_domains(card: ReportCard) -> Figure:
    """Bars of each domain's share against its target, with the tolerance band."""
    fig = _figure()
    ax = fig.add_subplot()
    names = list(card.domain_share)
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [card.domain_share[d] for d in names], width=0.4, label="dataset")
    ax.bar([x + 0.2 for x in xs], [card.domain_target.get(d, 0.0) for d in names], width=0.4,
           label="target", alpha=0.6)
    ax.set_xticks(list(xs), names, rotation=20)
    ax.set_ylabel("% of examples")
    ax.set_title("Domain share vs target")
    ax.legend()
    return fig


def plot_scores(card: ReportCard) -> Figure:
    """Histogram of overall quality scores (1-10), with the target mean marked."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.hist(card.scores or [0], bins=[x / 2 for x in range(2, 22)], color="#4a7")
    ax.set_xlabel("overall score")
    ax.set_ylabel("examples")
    ax.set_title(f"Scores (mean {card.mean_score:.2f})" if card.mean_score is not None else "Scores (none)")
    return fig


def plot_growth(card: ReportCard) -> Figure:
    """Cumulative number of examples by creation date."""
    fig = _figure()
    ax = fig.add_subplot()
    per_day = Counter(card.dates)
    days = sorted(per_day)
    total, ys = 0, []
    for d in days:
        total += per_day[d]
        ys.append(total)
    ax.step(days or ["-"], ys or [0], where="post")
    ax.set_ylabel("examples")
    ax.set_title("Growth over time")
    ax.tick_params(axis="x", rotation=30)
    return fig


def figure_png(fig: Figure) -> bytes:
    """Encode a figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plots(card: ReportCard) -> dict[str, Figure]:
    """All three plots, by name."""
    return {"domains": plot_domains(card), "scores": plot_scores(card), "growth": plot_growth(card)}


def assess(examples: Sequence[Example], settings: Settings, *, embed: Any = None, scrub: Any = None,
           qc: Any = None) -> tuple[list[Example], dict[str, Any], ReportCard]:
    """QC the examples, then grade what survives: (kept, QC report dict, report card)."""
    from training.dataset.qc import qc_config, run_qc

    cfg = qc or qc_config(settings)
    kept, qc_report = run_qc(examples, cfg, embed=embed, scrub=scrub)
    return kept, qc_report.to_dict(), build_report(kept, settings, require_reasoning=cfg.require_reasoning)
