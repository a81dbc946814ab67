"""Benchmark: the full offline voice suite (M1-M4, masked M4, M5, M8, guards) on 500 generated answers.

    .venv/bin/python benchmarks/bench_voice.py [--answers 500] [--out benchmarks/results/eval.md]

Answers are synthesised from the fixture exports' sentences (person vs assistant turns) in
known proportions, so the run also shows VGC tracking the person share: base 0%, a
prompting-baseline stand-in 40%, an adapter stand-in 80%, held-out person text 100%.
The classifier's sanity AUC is also measured with each of the four conversation groups held
out in turn, on the synthetic workload and on the fixture's real messages.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import core  # noqa: E402,F401  (telemetry off)
from eval import stylometry as st  # noqa: E402
from eval.attribution import AttributionModel, roc_auc  # noqa: E402
from eval.voice import METRICS, SECONDARY, VoiceData, evaluate_voice  # noqa: E402
from tests.eval.conftest import VoiceFixture, load_voice_fixture  # noqa: E402

# The suite reads at most 6 segments of 60 words from one message; the sentence pools give no
# message more weight than that. Without the cap one pasted architecture doc (323 sentences)
# was 86% of the person's training pool, and the classifier learnt its topic as "the person".
WORDS_PER_MESSAGE = 6 * 60


def sentence_pool(texts: list[str], *, cap_words: int = WORDS_PER_MESSAGE) -> list[str]:
    """Distinct sentences (>= 3 words), at most about `cap_words` words per message, spread over it."""
    seen: set[str] = set()
    out: list[str] = []
    for t in texts:
        sents = [s for s in st.sentences(t) if len(s.split()) >= 3]
        total = sum(len(s.split()) for s in sents)
        if total > cap_words:
            keep = max(1, len(sents) * cap_words // total)
            sents = [sents[j] for j in np.linspace(0, len(sents) - 1, keep).round().astype(int)]
        for s in sents:  # a reply that repeats one line 8 times is one sentence, not 8 (§d dedup)
            if s not in seen:
                seen.add(s)
                out.append(s)
    return out


def synth(rng: np.random.Generator, person: list[str], bot: list[str], n: int, share: float) -> list[str]:
    """n answers of 2-7 sentences, each sentence from the person with probability `share`."""
    out = []
    for _ in range(n):
        k = int(rng.integers(2, 8))
        out.append(" ".join(person[rng.integers(len(person))] if rng.random() < share else bot[rng.integers(len(bot))]
                            for _ in range(k)))
    return out


def workload(fx: VoiceFixture, test_group: int, n: int,
             seed: int = 0) -> tuple[VoiceData, dict[str, list[str]], dict[str, int]]:
    """Person group `test_group` held out; two other groups' assistant turns train the negatives."""
    rng = np.random.default_rng(seed)
    rest = [g for g in range(4) if g != test_group]
    p_train = sentence_pool([t for g in rest for t in fx.person[g]])
    p_test = sentence_pool(fx.person[test_group])
    b_train = sentence_pool([t for g in rest[:2] for t in fx.assistant[g]])
    b_test = sentence_pool(fx.assistant[test_group] + fx.assistant[rest[2]])
    data = VoiceData(person_train=synth(rng, p_train, b_train, 2 * n, 1.0),
                     person_test=synth(rng, p_test, b_test, n, 1.0),
                     base=synth(rng, p_test, b_test, n, 0.0), negatives=synth(rng, p_train, b_train, 2 * n, 0.0))
    systems = {"baseline (40% person)": synth(rng, p_test, b_test, n, 0.4),
               "adapter (80% person)": synth(rng, p_test, b_test, n, 0.8),
               "person held-out (100%)": synth(rng, p_test, b_test, n, 1.0)}
    sizes = {"person train": len(p_train), "person test": len(p_test), "assistant train": len(b_train),
             "assistant test": len(b_test)}
    return data, systems, sizes


def sanity_rotation(fx: VoiceFixture, n: int) -> list[list[str]]:
    """Sanity AUC with each group held out: synthetic answers, and the real messages themselves."""
    rows = []
    for g in range(4):
        data, _, sizes = workload(fx, g, n)
        clf = AttributionModel.fit(data.person_train, data.negatives)
        synth_auc = roc_auc(clf.text_proba(data.person_test), clf.text_proba(data.base))
        rest = [h for h in range(4) if h != g]
        real = AttributionModel.fit([t for h in rest for t in fx.person[h]], [t for h in rest for t in fx.assistant[h]])
        msg_auc = roc_auc(real.text_proba(fx.person[g]), real.text_proba(fx.assistant[g]))
        rows.append([str(g), f"{sizes['person test']} / {sizes['assistant test']}", f"{synth_auc:.3f}",
                     f"{len(fx.person[g])} / {len(fx.assistant[g])}", f"{msg_auc:.3f}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--answers", type=int, default=500)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "eval.md"))
    args = ap.parse_args()
    fx = load_voice_fixture(Path(tempfile.mkdtemp()))
    n = args.answers
    data, systems, sizes = workload(fx, 2, n)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    # Each system answers the same n contexts as the base; the person's "real reply" to context i
    # is held-out answer i. The synthetic answers carry no content, so M8 here only shows cost.
    rep = evaluate_voice(data, systems, seed=0, references=data.person_test)
    secs = time.perf_counter() - t0
    load_after = os.getloadavg()
    rotation = sanity_rotation(fx, n)
    words = sum(st.token_count(v) for v in systems.values()) + st.token_count(data.base)
    la = lambda x: " / ".join(f"{v:.2f}" for v in x)  # noqa: E731
    lines = ["## Voice-fidelity offline suite (issue 7)", "",
             "Machine: 2-core CPU (shared), 24 GB, no GPU; date 2026-11-25. `python benchmarks/bench_voice.py`. "
             f"Load average (1/5/15 min) before the timed run: {la(load_before)}; after: {la(load_after)}.", "",
             f"Workload: {n} generated answers for each of {len(systems)} systems + {n} base answers "
             f"({words:,} words scored), {2 * n} person training texts, {n} held-out person texts, {2 * n} "
             f"negatives; {rep.settings['repeats']} split halves, M4 and masked M4 on {rep.settings['c2st_repeats']}. "
             f"Sentence pools (distinct sentences, <= {WORDS_PER_MESSAGE} words per message): "
             + ", ".join(f"{k} {v}" for k, v in sizes.items()) + ".", "",
             "| measure | result | target | pass |", "|---|---|---|---|",
             f"| full offline suite wall time (M1-M4, masked M4, M5, M8, guards) | {secs:.1f} s | <= 30 s | "
             f"{'PASS' if secs <= 30 else 'FAIL'} |",
             f"| classifier sanity AUC (person vs base) | {rep.sanity_auc:.3f} | >= 0.9 | "
             f"{'PASS' if rep.sanity_auc >= 0.9 else 'FAIL'} |", "",
             "| system | person share | VGC | " + " | ".join(m.split("_")[0] for m in METRICS)
             + " | M4m (masked) | M5 confusion | M5 towards | M8 ROUGE-L |",
             "|---|---|---|" + "---|" * (len(METRICS) + 4)]
    gc = lambda b: "n/a" if b.gap_closed is None else f"{b.gap_closed:.2f}"  # noqa: E731
    for name, s in rep.systems.items():
        share = name.split("(")[1].split("%")[0] + "%"
        lines.append(f"| {name.split(' (')[0]} | {share} | {s.vgc:.2f} | "
                     + " | ".join(gc(s.components[m]) for m in METRICS)
                     + f" | {gc(s.secondary[SECONDARY[0]])} | {s.away_towards['confusion']:.2f} | "
                     f"{s.away_towards['towards']:.2f} | {s.rouge_l['mean']:.3f} |")
    lines += [f"| base answers (ceiling) | 0% | 0 by definition | | | | | | | | {rep.base_rouge_l['mean']:.3f} |", "",
              "VGC should rise with the person share (0 = base, 1 = held-out person); it is the median "
              "of the four gap-closed components shown beside it. M4m, M5 and M8 are reported beside VGC, "
              "not in it. M8 here only tracks how many sentences an answer shares with the held-out "
              "pool (the synthetic answers have no contexts).", "",
              "### Classifier sanity AUC with each conversation group held out", "",
              "Synthetic: the workload above with that group as the held-out person text. Real messages: "
              "the classifier trained on the other three groups' person vs assistant messages, scored "
              "on the held-out group's own messages (no synthesis).", ""]
    lines += ["| held-out group | synthetic pool (person / assistant sentences) | synthetic AUC "
              "| real messages (person / assistant) | real-message AUC |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rotation]
    lines += ["", "Group 0 holds 5 person messages (13 sentences): its AUCs are noise either way (Hanley-McNeil "
              "SE about 0.08 at that size), which is why the suite warns below 150 held-out messages.", "",
              "### Why the sanity AUC was 0.824 in the previous run", "",
              "- **Workload, mainly.** The sentence pools weighted sentences, not messages: one pasted "
              "architecture doc (323 sentences) was 86% of the person's training pool, so the classifier "
              "learnt that doc's topic as \"the person\" and scored the assistant's review of the same doc "
              "(P(person) 0.99) above the person's own short replies. The review also repeats one line 8 "
              "times. Pools now keep distinct sentences and at most the words the suite itself reads from one "
              f"message ({WORDS_PER_MESSAGE}); the data is not made more separable, only weighted as the suite "
              "weights it.",
              "- **Classifier.** The spec's function-word counts were missing and the C grid stopped at 10, "
              "where CV kept landing. With both (grid to 30), the old workload alone goes from 0.824 to 0.911.",
              "- Calibration barely moves an AUC (Platt scaling of one score is monotone), and more synthetic answers "
              "do not help: the 500 held-out answers are re-combinations of 28 distinct sentences."]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, "utf-8")
    print(text)


if __name__ == "__main__":
    main()
