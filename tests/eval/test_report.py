"""Reports: Markdown + HTML with embedded plots, the stored run, the registry link, the release gate."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.schemas import ModelKind, ModelRecord
from eval.release_gate import VoiceCheckMetric, load_system, write_gate
from eval.report import model_summary, render_markdown, save_run, write_report
from eval.voice import VoiceData, evaluate_voice


@pytest.fixture(scope="module")
def result(voice_fixture):  # type: ignore[no-untyped-def]
    p, a = voice_fixture.person, voice_fixture.assistant
    data = VoiceData(person_train=p[0] + p[1], person_test=p[2], base=a[2] + a[3], negatives=a[0] + a[1])
    voice = evaluate_voice(data, {"voice-v1": p[3], "prompting-baseline": p[3][::2] + a[3][1::2]},
                           repeats=20, c2st_repeats=4)
    return {"id": "run1", "created_at": "2026-11-25T10:00:00", "models": ["base", "voice-v1", "prompting-baseline"],
            "base": "base", "items": {"golden": 5, "heldout": 10}, "voice": voice.to_dict(),
            "samples": {"voice-v1": [{"prompt": "Ray or not?", "answer": p[3][0]}]},
            "judges": {"judge_model": "scripted", "geval": {"voice-v1": {"mean": 7.5, "n": 4, "no_verdict": 1}},
                       "pairwise": [{"x": "voice-v1", "y": "base", "wins": 3, "losses": 1, "ties": 1, "no_verdict": 1,
                                     "win_rate": 0.75, "win_rate_low": 0.3, "win_rate_high": 0.95,
                                     "position_consistency": 0.8}]},
            "notes": ["Held-out contexts: test."]}


def test_markdown_shows_vgc_with_components_floors_and_judges(result) -> None:  # type: ignore[no-untyped-def]
    md = render_markdown(result)
    assert "## Voice Gap Closed" in md and "| `voice-v1` |" in md
    assert "floor (person vs person)" in md and "ceiling (base)" in md
    assert "Classifier sanity check" in md and "both orders" in md and "no verdict" in md
    assert "held-out person messages" in md  # the small-sample caveat is in the report, not only the logs
    # M4 on masked text, M5 and M8 sit beside VGC, with the person floor and the base ceiling rows.
    assert "## Beside VGC" in md and "M4m (masked, not in VGC)" in md and "M5 confusion" in md
    assert "person held-out half (floor)" in md and "base (ceiling)" in md
    assert "M8 reference overlap not measured" in md  # this run had no aligned replies, and says so


def test_write_report_embeds_plots_and_save_run_links_registry(result, settings, store) -> None:  # type: ignore[no-untyped-def]
    files = write_report(result, settings.reports_dir)
    assert {"markdown", "html", "gap_closed", "bands", "features"} <= set(files)
    html = files["html"].read_text("utf-8")
    assert html.count("data:image/png;base64,") == 3 and "<h1>" in html
    assert files["gap_closed"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![gap_closed](gap_closed.png)" in files["markdown"].read_text("utf-8")

    store.registry.add_model(ModelRecord(name="voice-v1", kind=ModelKind.adapter, base_model="tiny",
                                         metrics={"train_loss": 1.0}))
    run, linked = save_run(store, result, files["html"])
    assert linked == ["voice-v1"]  # base and the derived baseline are not registry rows here
    rec = store.registry.get_model("voice-v1")
    assert rec.metrics["train_loss"] == 1.0 and rec.metrics["voice"]["run_id"] == "run1"
    assert rec.metrics["voice"] == model_summary(result, "voice-v1")
    assert {"c2st_masked_auc", "m5_confusion", "m5_towards", "m8_rouge_l"} <= set(rec.metrics["voice"])
    assert store.evals.latest_run("voice-v1").id == run.id == "run1"
    assert store.evals.get_run("run1").metrics["voice"]["sanity_auc"] == result["voice"]["sanity_auc"]


def test_release_gate_reads_the_stored_run(result, settings, store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    save_run(store, result, None)
    system = load_system(store, "voice-v1")
    for check in ("voice_gap_closed", "memorisation"):
        ok = system["check_ok"][check]
        metric = VoiceCheckMetric(system, check)
        assert metric.measure(None) == (1.0 if ok else 0.0)  # type: ignore[arg-type]
        assert check in metric.reason
    gate = write_gate(tmp_path, model="voice-v1")
    assert gate.name == "test_voice_release.py"
    compile(gate.read_text("utf-8"), str(gate), "exec")
    # The gate really runs under pytest against this home's store and reports per check.
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(gate)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "IDIOLECT_HOME": str(settings.home),
                               "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[2])})
    # Exactly the required checks this stored run misses fail; every other check passes.
    n_required_fail = sum(1 for c in ("voice_gap_closed", "no_weak_component", "memorisation")
                          if system["check_ok"][c] is False)
    expected = f"{n_required_fail} failed, {9 - n_required_fail} passed" if n_required_fail else "9 passed"
    assert expected in proc.stdout, proc.stdout[-2000:] + proc.stderr
    assert (proc.returncode == 0) == (n_required_fail == 0), proc.stdout[-2000:]
