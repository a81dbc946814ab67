"""Offline voice metrics on fixture-derived text: sanity AUC, floor/ceiling anchoring, guards, no network."""

from __future__ import annotations

import numpy as np
import pytest

from eval import stylometry as st
from eval.attribution import AttributionModel, c2st_auc
from eval.voice import METRICS, Band, VoiceData, evaluate_voice, gap_closed, voice_gap_closed


def _data(fx) -> VoiceData:  # type: ignore[no-untyped-def]
    """Disjoint conversation groups: person 0+1 train, 2 held out; assistant turns stand in for base."""
    p, a = fx.person, fx.assistant
    return VoiceData(person_train=p[0] + p[1], person_test=p[2], base=a[2] + a[3], negatives=a[0] + a[1])


@pytest.fixture(scope="module")
def report(voice_fixture):  # type: ignore[no-untyped-def]
    p, a = voice_fixture.person, voice_fixture.assistant
    systems = {
        "person_holdout": p[3],             # the owner's own text from other conversations
        "base_like": a[3],                  # more assistant-style text, not the ceiling sample itself
        "mix": p[3][::2] + a[3][1::2],      # half person, half assistant: must land in between
    }
    return evaluate_voice(_data(voice_fixture), systems, seed=0)


def test_classifier_separates_person_from_assistant_text(report) -> None:  # type: ignore[no-untyped-def]
    # The metric's own sanity check, reported next to it: person held-out vs base answers.
    assert report.sanity_auc >= 0.8
    p_person = {k: s.attribution["mean_p_person"] for k, s in report.systems.items()}
    assert p_person["person_holdout"] > p_person["base_like"]


def test_vgc_is_about_one_for_person_text_and_about_zero_for_base_text(report) -> None:  # type: ignore[no-untyped-def]
    # Two-sided: the floor and ceiling anchor the scale, so overshooting either end is a bug too
    # (measured 1.08 and -0.11 on this fixture, seed 0).
    vgc = {k: s.vgc for k, s in report.systems.items()}
    assert vgc["person_holdout"] == pytest.approx(1.0, abs=0.25)
    assert vgc["base_like"] == pytest.approx(0.0, abs=0.25)
    assert vgc["base_like"] < vgc["mix"] < vgc["person_holdout"]
    for s in report.systems.values():  # VGC never comes without its components
        assert set(s.components) == set(METRICS)
    for m in METRICS:
        assert report.floor[m] < report.ceiling[m], m


def test_small_data_is_flagged_and_repeats_raised(report) -> None:  # type: ignore[no-untyped-def]
    assert report.settings["repeats"] >= 60
    assert any("held-out person messages" in w for w in report.warnings)
    assert any("Delta bags" in w for w in report.warnings)


def test_report_carries_guards_and_checks(report) -> None:  # type: ignore[no-untyped-def]
    s = report.systems["base_like"]
    assert {c["check"] for c in s.checks} >= {"voice_gap_closed", "memorisation", "signature_phrases", "diversity"}
    assert next(c for c in s.checks if c["check"] == "voice_gap_closed")["ok"] is False
    assert {"distinct_1", "person_distinct_1", "distinct_2_ratio"} <= set(s.diversity)
    assert len(s.features) == len(st.FEATURES)
    assert report.signature_phrases and report.to_dict()["systems"]["mix"]["components"]["M1_spd"]["floor"] > 0


def test_offline_metrics_make_no_network_calls(voice_fixture, no_network) -> None:  # type: ignore[no-untyped-def]
    rep = evaluate_voice(_data(voice_fixture), {"p": voice_fixture.person[3]}, repeats=5, c2st_repeats=2)
    assert rep.systems["p"].vgc is not None
    assert not no_network


def test_gap_closed_math() -> None:
    assert gap_closed(0.5, floor=0.0, ceiling=1.0) == pytest.approx(0.5)
    assert gap_closed(1.2, floor=0.2, ceiling=1.0) == pytest.approx(-0.25)
    assert gap_closed(0.3, floor=0.5, ceiling=0.5) is None  # base already at the floor
    gaps = [0.2, 0.9, None, 0.4]
    bands = {m: Band(value=0, sd=0, floor=0, ceiling=1, gap_closed=g) for m, g in zip(METRICS, gaps, strict=True)}
    assert voice_gap_closed(bands) == pytest.approx(0.4)


def test_style_features_see_formatting_and_habits() -> None:
    plain = st.style_features("yeah ok. I'd rather run it myself, it's like a breaker 😤")
    fancy = st.style_features("## Summary\n\n- **Point one**: use `asyncio`.\n- **Point two**: measure.\n")
    idx = {f: i for i, f in enumerate(st.FEATURES)}
    assert plain[idx["emoji_per1k"]] > 0 and fancy[idx["emoji_per1k"]] == 0
    assert plain[idx["lower_initial_share"]] > 0 and plain[idx["analogy_per1k_words"]] > 0
    assert plain[idx["contractions_per1k_words"]] > 0 and plain[idx["first_person_per1k_words"]] > 0
    assert fancy[idx["header_line_share"]] > 0 and fancy[idx["bullet_line_share"]] > 0.5
    assert fancy[idx["bold_per1k"]] > 0 and fancy[idx["code_per1k"]] > 0
    assert st.mattr(["a"] * 100) == pytest.approx(1 / 50)
    assert st.mattr(["a", "b", "c"]) == 1.0


def test_memorisation_diversity_and_phrases() -> None:
    train = ["the quick brown fox jumps over the lazy dog every single morning at dawn"]
    outs = ["honestly the quick brown fox jumps over the lazy dog every single morning, I swear",
            "nothing copied here at all, just my own words about wiring"]
    assert st.memorisation_rate(outs, train) == pytest.approx(0.5)
    assert st.memorisation_rate(outs[1:], train) == 0.0
    assert st.distinct_n(["a a a a"], 1) == pytest.approx(0.25)
    assert st.distinct_n(["a b c d", "a a a a"], 1, budget=4, seed=1) in (0.25, 1.0)
    person = ["measure twice pull wire once"] * 5 + ["I'd rather own my iron"] * 3
    others = ["Certainly! Here is a detailed overview."] * 8
    top = [p for p, _ in st.signature_phrases(person, others, top=10)]
    assert "measure twice" in top or "pull wire" in top
    assert st.phrase_rate(["measure twice pull wire once"], ["measure twice"]) == pytest.approx(200.0)


def test_delta_and_classifiers_behave() -> None:
    z = np.array([1.0, -2.0, 0.5])
    assert st.cosine_delta(z, z) == pytest.approx(0.0)
    assert st.cosine_delta(z, -z) == pytest.approx(2.0)
    assert st.burrows_delta(z, z + 1) == pytest.approx(1.0)
    person = [f"yeah ok, I'd wire box {i} myself. it's like a breaker, trips when it should" for i in range(12)]
    bot = [f"Certainly! Here is a comprehensive overview of option {i}. **Key points** follow below."
           for i in range(12)]
    clf = AttributionModel.fit(person[:8], bot[:8])
    assert clf.text_proba(person[8:]).mean() > 0.5 > clf.text_proba(bot[8:]).mean()
    Xa, Xb = clf.transform(person), clf.transform(bot)
    assert c2st_auc(Xa, np.arange(12), Xb, np.arange(12)) > 0.9


def test_too_little_text_is_a_clear_error(voice_fixture) -> None:  # type: ignore[no-untyped-def]
    data = _data(voice_fixture)
    small = VoiceData(person_train=data.person_train, person_test=data.person_test[:2], base=data.base,
                      negatives=data.negatives)
    with pytest.raises(st.InsufficientText, match="person_test"):
        evaluate_voice(small, {"x": ["a b", "c d"]})
    with pytest.raises(st.InsufficientText, match="'x'"):
        evaluate_voice(data, {"x": ["only one answer"]})
