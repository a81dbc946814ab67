"""The voice suite's names, 'clearly worked' targets, pass/fail checks and small-sample caveats.

Kept apart from eval/voice.py (which computes the numbers) so the thresholds and their wording
can be read and changed in one place; the reports and the release gate show these lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.voice import SystemResult, VoiceReport

METRICS = ("M1_spd", "M2_cosine_delta", "M3_not_person", "M4_c2st_auc")
METRIC_LABELS = {
    "M1_spd": "M1 style-profile distance",
    "M2_cosine_delta": "M2 Cosine Delta (pooled chunks)",
    "M3_not_person": "M3 1 - P(person)",
    "M4_c2st_auc": "M4 two-sample AUC vs held-out person",
}
# Reported with the same floor and ceiling but left out of VGC (the spec's VGC is M1-M4 only).
SECONDARY = ("M4m_c2st_masked",)
SECONDARY_LABELS = {"M4m_c2st_masked": "M4 on content-masked text (function words, punctuation, word shapes)"}
MIN_STABLE_TEST = 150  # held-out person messages for AUC SE ~0.03-0.04 (voice-metrics §1)
EDER_CHUNK_WORDS = 2500  # Delta needs 2,500-5,000-word samples (Eder 2015)


@dataclass(frozen=True)
class Targets:
    """'Clearly worked' thresholds from voice-metrics.md (proposals; calibrate on real users)."""

    vgc: float = 0.6
    min_component: float = 0.3
    max_c2st_auc: float = 0.70
    min_mean_p_person: float = 0.5
    min_attributed_share: float = 0.6
    max_memorisation: float = 0.02
    phrase_ratio: tuple[float, float] = (0.5, 1.5)
    phrase_red_flag: float = 2.0
    distinct_tolerance: float = 0.2
    feature_d: float = 0.8
    min_sanity_auc: float = 0.9
    min_confusion: float = 0.7
    min_towards: float = 0.0


def run_checks(res: SystemResult, t: Targets) -> list[dict[str, Any]]:
    """Turn the voice-metrics 'clearly worked' targets into pass/fail lines (None = not measurable)."""
    gaps = {m: b.gap_closed for m, b in res.components.items()}
    defined = [g for g in gaps.values() if g is not None]
    ratio = res.phrases.get("ratio")
    d1 = res.diversity.get("distinct_1_ratio")
    big = [f["feature"] for f in res.features if abs(float(f["d"])) > t.feature_d]
    atc = res.away_towards
    checks = [
        ("voice_gap_closed", res.vgc is not None and res.vgc >= t.vgc, f"VGC {_fmt(res.vgc)} (target >= {t.vgc})"),
        ("no_weak_component", bool(defined) and min(defined) >= t.min_component,
         f"weakest component {_fmt(min(defined) if defined else None)} (target >= {t.min_component})"),
        ("c2st_auc", res.components["M4_c2st_auc"].value <= t.max_c2st_auc,
         f"AUC vs held-out person {res.components['M4_c2st_auc'].value:.2f} (target <= {t.max_c2st_auc})"),
        ("attribution", res.attribution["mean_p_person"] >= t.min_mean_p_person
         and res.attribution["attributed_share"] >= t.min_attributed_share,
         f"mean P(person) {res.attribution['mean_p_person']:.2f}, attributed "
         f"{res.attribution['attributed_share']:.0%} (targets >= {t.min_mean_p_person}, "
         f">= {t.min_attributed_share:.0%})"),
        ("memorisation", res.memorisation < t.max_memorisation,
         f"{res.memorisation:.1%} of answers copy 10+ words from training (target < {t.max_memorisation:.0%})"),
        ("signature_phrases", None if ratio is None else t.phrase_ratio[0] <= ratio <= t.phrase_ratio[1],
         f"phrase usage ratio {_fmt(ratio)} (target {t.phrase_ratio[0]}-{t.phrase_ratio[1]}; "
         f"> {t.phrase_red_flag} is caricature)"),
        ("diversity", None if d1 is None else abs(d1 - 1) <= t.distinct_tolerance,
         f"distinct-1 ratio {_fmt(d1)} (target within ±{t.distinct_tolerance:.0%} of the person)"),
        ("style_features", not big, f"features with |d| > {t.feature_d}: {', '.join(big) or 'none'}"),
        ("away_towards", atc["confusion"] >= t.min_confusion and atc["towards"] > t.min_towards,
         f"M5 confusion {atc['confusion']:.2f}, towards {atc['towards']:.2f}, away {atc['away']:.2f} "
         f"(targets confusion >= {t.min_confusion}, towards > {t.min_towards:g})"),
    ]
    return [{"check": c, "ok": ok, "detail": d} for c, ok, d in checks]


def small_sample_warnings(report: VoiceReport, t: Targets) -> list[str]:
    """Plain-language caveats when the data is too small or the metric is uninformative."""
    s = report.settings
    out: list[str] = []
    if s["n_person_test"] < MIN_STABLE_TEST:
        out.append(f"Only {s['n_person_test']} held-out person messages (>= {MIN_STABLE_TEST} keeps AUCs "
                   "stable); floors come from split halves of them, so read small differences as noise "
                   "and look at each component's sd.")
    if s["chunk_words"] < EDER_CHUNK_WORDS:
        out.append(f"Delta bags hold {s['chunk_words']} words (Eder 2015 wants >= {EDER_CHUNK_WORDS}); "
                   "M2 is noisy at this size.")
    if report.sanity_auc < t.min_sanity_auc:
        out.append(f"Sanity check failed: the person-vs-not classifier separates held-out person text from "
                   f"base answers with AUC {report.sanity_auc:.2f} (< {t.min_sanity_auc}), so M3 is uninformative.")
    labels = {**METRIC_LABELS, **SECONDARY_LABELS}
    for m in (*METRICS, *SECONDARY):
        if m in report.ceiling and report.ceiling[m] - report.floor[m] <= 1e-6:
            left_out = " and is left out of VGC" if m in METRICS else ""
            out.append(f"{labels[m]}: the base model is already at the person's own floor, so this "
                       f"component has no gap to close{left_out}.")
    if report.base_rouge_l.get("n", 0) == 0:
        out.append("M8 reference overlap not measured: no answer was aligned with a real person reply.")
    return out


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"
