"""Benchmark: the full offline voice suite (M1-M4, guards) on 500 generated answers per system.

    .venv/bin/python benchmarks/bench_voice.py [--answers 500] [--out benchmarks/results/eval.md]

Answers are synthesised from the fixture exports' sentences (person vs assistant turns) in
known proportions, so the run also shows VGC tracking the person share: base 0%, a
prompting-baseline stand-in 40%, an adapter stand-in 80%, held-out person text 100%.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import core  # noqa: E402,F401  (telemetry off)
from eval import stylometry as st  # noqa: E402
from eval.voice import METRICS, VoiceData, evaluate_voice  # noqa: E402
from tests.eval.conftest import load_voice_fixture  # noqa: E402


def sentence_pool(texts: list[str]) -> list[str]:
    return [s for t in texts for s in st.sentences(t) if len(s.split()) >= 3]


def synth(rng: np.random.Generator, person: list[str], bot: list[str], n: int, share: float) -> list[str]:
    """n answers of 2-7 sentences, each sentence from the person with probability `share`."""
    out = []
    for _ in range(n):
        k = int(rng.integers(2, 8))
        out.append(" ".join(person[rng.integers(len(person))] if rng.random() < share else bot[rng.integers(len(bot))]
                            for _ in range(k)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--answers", type=int, default=500)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "eval.md"))
    args = ap.parse_args()
    fx = load_voice_fixture(Path(tempfile.mkdtemp()))
    rng = np.random.default_rng(0)
    p_train = sentence_pool(fx.person[0] + fx.person[1] + fx.person[3])
    p_test = sentence_pool(fx.person[2])
    b_train = sentence_pool(fx.assistant[0] + fx.assistant[1])
    b_test = sentence_pool(fx.assistant[2] + fx.assistant[3])
    n = args.answers
    data = VoiceData(person_train=synth(rng, p_train, b_train, 2 * n, 1.0), person_test=synth(rng, p_test, b_test, n, 1.0),
                     base=synth(rng, p_test, b_test, n, 0.0), negatives=synth(rng, p_train, b_train, 2 * n, 0.0))
    systems = {"baseline (40% person)": synth(rng, p_test, b_test, n, 0.4),
               "adapter (80% person)": synth(rng, p_test, b_test, n, 0.8),
               "person held-out (100%)": synth(rng, p_test, b_test, n, 1.0)}
    t0 = time.perf_counter()
    rep = evaluate_voice(data, systems, seed=0)
    secs = time.perf_counter() - t0
    words = sum(st.token_count(v) for v in systems.values()) + st.token_count(data.base)
    lines = ["## Voice-fidelity offline suite (issue 7)", "",
             "Machine: 2-core CPU (shared), 24 GB, no GPU; date 2026-11-25. `python benchmarks/bench_voice.py`.", "",
             f"Workload: {n} generated answers for each of {len(systems)} systems + {n} base answers "
             f"({words:,} words scored), {2 * n} person training texts, {n} held-out person texts, {2 * n} "
             f"negatives; {rep.settings['repeats']} split halves, M4 on {rep.settings['c2st_repeats']}.", "",
             "| measure | result | target | pass |", "|---|---|---|---|",
             f"| full offline suite wall time | {secs:.1f} s | <= 30 s | {'PASS' if secs <= 30 else 'FAIL'} |",
             f"| classifier sanity AUC (person vs base) | {rep.sanity_auc:.3f} | >= 0.9 | "
             f"{'PASS' if rep.sanity_auc >= 0.9 else 'FAIL'} |", "",
             "| system | person share | VGC | " + " | ".join(m.split("_")[0] for m in METRICS) + " |",
             "|---|---|---|" + "---|" * len(METRICS)]
    for name, s in rep.systems.items():
        share = name.split("(")[1].split("%")[0] + "%"
        gaps = " | ".join("n/a" if s.components[m].gap_closed is None else f"{s.components[m].gap_closed:.2f}" for m in METRICS)
        lines.append(f"| {name.split(' (')[0]} | {share} | {s.vgc:.2f} | {gaps} |")
    lines += ["", "VGC should rise with the person share (0 = base, 1 = held-out person); it is the median "
              "of the four gap-closed components shown beside it."]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, "utf-8")
    print(text)


if __name__ == "__main__":
    main()
