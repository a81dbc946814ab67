"""Evaluation reports: Markdown and HTML (plots embedded as base64 PNG), stored and linked to models.

The input is the plain dict an evaluation run produces (`eval.runner.run_eval`): the offline
voice report, optional judge results, sample answers and notes. Nothing here computes a
metric; it only shows them, always with floors, ceilings and components next to VGC.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.schemas import EvalRun
from eval.voice import METRIC_LABELS, METRICS, SECONDARY, SECONDARY_LABELS

if TYPE_CHECKING:
    from core.store import Store

PLOTS = ("gap_closed", "bands", "features")


def _f(x: Any, digits: int = 2) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * float(x):.0f}%"


# --------------------------------------------------------------------------- plots


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plot_gap_closed(voice: dict[str, Any]) -> bytes:
    """Draw grouped bars: gap closed per metric per system, with VGC and the 0 / 0.6 / 1 guides."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    systems = list(voice["systems"])
    labels = [m.split("_")[0] for m in METRICS] + ["VGC"]
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(labels), 3.6))
    width = 0.8 / max(len(systems), 1)
    for i, name in enumerate(systems):
        s = voice["systems"][name]
        vals = [s["components"][m]["gap_closed"] for m in METRICS] + [s["vgc"]]
        xs = np.arange(len(labels)) + i * width
        ax.bar(xs, [np.nan if v is None else v for v in vals], width, label=name)
    ax.axhline(0, color="black", lw=0.8)
    ax.axhline(1, color="green", lw=0.8, ls="--", label="person floor (1)")
    ax.axhline(0.6, color="orange", lw=0.8, ls=":", label="target VGC 0.6")
    ax.set_xticks(np.arange(len(labels)) + width * (len(systems) - 1) / 2, labels)
    ax.set_ylabel("gap closed (0 = base, 1 = person)")
    ax.legend(fontsize=7, loc="best")
    ax.set_title("Voice gap closed by metric")
    return _png(fig)


def plot_bands(voice: dict[str, Any]) -> bytes:
    """One panel per metric (M1-M4, then masked M4): the floor-to-ceiling band and each system's value with its sd."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(voice["systems"])
    metrics = [*METRICS, *(m for m in SECONDARY if m in voice["floor"])]
    labels = {**METRIC_LABELS, **SECONDARY_LABELS}
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 0.9 + 0.45 * (len(systems) + 2)))
    for ax, m in zip(axes, metrics, strict=True):
        lo, hi = voice["floor"][m], voice["ceiling"][m]
        ax.axvspan(min(lo, hi), max(lo, hi), color="#dde8f5")
        ax.axvline(lo, color="green", lw=1)
        ax.axvline(hi, color="red", lw=1)
        for j, name in enumerate(systems):
            s = voice["systems"][name]
            b = s["components"][m] if m in METRICS else s["secondary"][m]
            ax.errorbar(b["value"], j, xerr=b["sd"], fmt="o", capsize=3)
        ax.set_yticks(range(len(systems)), systems if ax is axes[0] else [""] * len(systems))
        ax.set_title(labels[m] if m in METRICS else "M4 masked (not in VGC)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("green = person floor, red = base ceiling; lower is more person-like", fontsize=8)
    return _png(fig)


def plot_features(voice: dict[str, Any]) -> bytes:
    """Heat map of standardised feature differences (system minus person), |d| > 0.8 flagged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    systems = list(voice["systems"])
    feats = [f["feature"] for f in next(iter(voice["systems"].values()))["features"]] if systems else []
    d = np.array([[f["d"] for f in voice["systems"][s]["features"]] for s in systems]) if systems else np.zeros((0, 0))
    fig, ax = plt.subplots(figsize=(0.32 * max(len(feats), 1) + 2, 0.5 * len(systems) + 1.8))
    im = ax.imshow(np.clip(d, -3, 3), cmap="coolwarm", vmin=-3, vmax=3, aspect="auto")
    ax.set_xticks(range(len(feats)), feats, rotation=90, fontsize=6)
    ax.set_yticks(range(len(systems)), systems, fontsize=7)
    for (i, j), v in np.ndenumerate(d):
        if abs(v) > 0.8:
            ax.text(j, i, "•", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label="d (clipped at ±3)")
    ax.set_title("Style features vs the person (• = |d| > 0.8)", fontsize=8)
    return _png(fig)


def make_plots(result: dict[str, Any]) -> dict[str, bytes]:
    """PNG bytes of every plot, keyed by name (empty when there are no systems)."""
    voice = result.get("voice")
    if not voice or not voice.get("systems"):
        return {}
    return {"gap_closed": plot_gap_closed(voice), "bands": plot_bands(voice), "features": plot_features(voice)}


# --------------------------------------------------------------------------- markdown


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def render_markdown(result: dict[str, Any], *, images: dict[str, str] | None = None) -> str:
    """Render the report as Markdown; `images` maps plot name -> relative file name to link."""
    voice = result.get("voice") or {}
    systems = voice.get("systems", {})
    lines = [f"# Voice evaluation {result.get('id', '')}", "",
             f"- Date: {result.get('created_at', '')}",
             f"- Models: {', '.join(result.get('models', []))} (ceiling: `{result.get('base', 'base')}`)",
             f"- Items: {result.get('items', {})}", ""]
    if voice:
        lines += ["## Voice Gap Closed", "",
                  "VGC = median over M1-M4 of (base - system) / (base - person floor): 0 = sounds like the "
                  "base model, 1 = as close as the person's own held-out text. Components always shown.", ""]
        rows = []
        for name, s in systems.items():
            c = s["components"]
            rows.append([f"`{name}`", _f(s["vgc"]), *(_f(c[m]["gap_closed"]) for m in METRICS),
                         _f(s["attribution"]["mean_p_person"]), _pct(s["attribution"]["attributed_share"]),
                         _pct(s["memorisation"]), _f(s["phrases"]["ratio"]),
                         _f(s["diversity"].get("distinct_1_ratio")),
                         _f((s.get("secondary") or {}).get(SECONDARY[0], {}).get("gap_closed")),
                         _f((s.get("away_towards") or {}).get("confusion")),
                         _f((s.get("rouge_l") or {}).get("mean"), 3)])
        lines += _table(["system", "VGC", "M1", "M2", "M3", "M4", "P(person)", "attributed", "copied 10+",
                         "phrase ratio", "distinct-1 ratio", "M4m (masked, not in VGC)", "M5 confusion",
                         "M8 ROUGE-L"], rows)
        lines += ["", f"Classifier sanity check: AUC(held-out person vs base) = **{_f(voice['sanity_auc'])}** "
                  "(M3 is only informative at >= 0.9).", "", "## Floors and ceilings", ""]
        rows = [[METRIC_LABELS[m], _f(voice["floor"][m], 3), _f(voice["ceiling"][m], 3),
                 *(f"{s['components'][m]['value']:.3f} ± {s['components'][m]['sd']:.3f}" for s in systems.values())]
                for m in METRICS]
        lines += _table(["metric (lower = more like the person)", "floor (person vs person)", "ceiling (base)",
                         *systems], rows)
        lines += _secondary_markdown(voice)
        if images:
            lines += [""] + [f"![{k}]({v})" for k, v in images.items()]
        lines += ["", "## Checks against the targets", ""]
        for name, s in systems.items():
            lines.append(f"**{name}**")
            lines += [f"- {'PASS' if c['ok'] else ('n/a' if c['ok'] is None else 'FAIL')} {c['check']}: {c['detail']}"
                      for c in s["checks"]]
            lines.append("")
        top = ", ".join(f"“{p}”" for p, _ in voice.get("signature_phrases", [])[:15])
        lines += ["## Signature phrases (Fightin' Words, top 15)", "", top or "none", ""]
    lines += _judge_markdown(result.get("judges"))
    notes = list(voice.get("warnings", [])) + list(result.get("notes", []))
    if notes:
        lines += ["## Caveats", ""] + [f"- {n}" for n in notes] + [""]
    if voice:
        st = voice["settings"]
        lines += ["## Method", "",
                  f"Held-out person messages: {st['n_person_test']} ({st['person_test_words']} words); training "
                  f"messages: {st['n_person_train']}; base answers: {st['n_base']}; classifier negatives: "
                  f"{st['n_negatives']}. {st['repeats']} random split halves of the held-out text give the floor; "
                  f"every system is subsampled to the half's size and compared with the other half "
                  f"(M4 on {st['c2st_repeats']} of them). Delta bags: {st['chunk_words']} words over "
                  f"{st['n_mfw']} most-frequent words. Classifier segments: <= {st['max_words']} words, <= "
                  f"{st['max_per_text']} per message (long pasted messages cannot dominate). Seed {st['seed']}.", ""]
    samples = result.get("samples") or {}
    if samples:
        lines += ["## Sample answers", ""]
        for name, rows_ in samples.items():
            for r in rows_[:2]:
                lines += [f"**{name}**, “{r['prompt'][:120]}”", "", "> " + r["answer"][:600].replace("\n", "\n> "), ""]
    return "\n".join(lines).rstrip() + "\n"


def _secondary_markdown(voice: dict[str, Any]) -> list[str]:
    """M4 on content-masked text, M5 Away/Towards/Confusion and M8 ROUGE-L, beside (not in) VGC."""
    systems = voice.get("systems", {})
    if not systems or "secondary" not in next(iter(systems.values())):
        return []  # a run stored before these metrics existed
    m4m = SECONDARY[0]
    lines = ["", "## Beside VGC: topic-free, style-space and reference-overlap checks", "",
             "M4m repeats M4 with every non-function word replaced by its shape, so a gap closed there "
             "is style, not topic. M5 (Patel et al. 2022) places base answer, system answer and the person "
             "in a style space (z-scored M1 features + SVD of M3's TF-IDF): Confusion = share nearer the "
             "person than the base (target >= 0.7), Towards = how far towards the person (target > 0). "
             "M8 is ROUGE-L against the person's real reply to the same context: relative only "
             "(fine-tune > prompting baseline > base).", ""]
    floor_m5 = voice.get("away_towards_floor") or {}
    base_m8 = voice.get("base_rouge_l") or {}
    rows = [["person held-out half (floor)", _f(voice["floor"].get(m4m), 3), "1.00", _f(floor_m5.get("away")),
             _f(floor_m5.get("towards")), _f(floor_m5.get("confusion")), "n/a"],
            ["base (ceiling)", _f(voice["ceiling"].get(m4m), 3), "0.00",
             "n/a", "n/a", "n/a", f"{_f(base_m8.get('mean'), 3)} (n={base_m8.get('n', 0)})"]]
    for name, s in systems.items():
        b, atc, r = s["secondary"][m4m], s["away_towards"], s["rouge_l"]
        rows.append([f"`{name}`", f"{b['value']:.3f} ± {b['sd']:.3f}", _f(b["gap_closed"]), _f(atc["away"]),
                     _f(atc["towards"]), _f(atc["confusion"]),
                     "n/a (not aligned)" if r.get("mean") is None else f"{r['mean']:.3f} (n={r['n']})"])
    lines += _table(["system", "M4m AUC (masked)", "M4m gap closed", "M5 away", "M5 towards", "M5 confusion",
                     "M8 ROUGE-L"], rows)
    order = m8_order(voice)
    if order:
        lines += ["", f"M8 order (highest first): {' > '.join(f'`{n}`' for n in order)}."]
    return lines


def m8_order(voice: dict[str, Any]) -> list[str]:
    """Systems and 'base' by mean ROUGE-L, highest first (only those with aligned answers)."""
    scores = {n: s.get("rouge_l", {}).get("mean") for n, s in voice.get("systems", {}).items()}
    scores["base"] = (voice.get("base_rouge_l") or {}).get("mean")
    have = {n: v for n, v in scores.items() if v is not None}
    return sorted(have, key=lambda n: -have[n]) if len(have) > 1 else []


def _judge_markdown(judges: dict[str, Any] | None) -> list[str]:
    if not judges:
        return ["## LLM judges", "", "Not run (pass `--judge` with a judge model configured).", ""]
    lines = ["## LLM judges", "", f"Judge: `{judges.get('judge_model', '?')}`", ""]
    geval = judges.get("geval") or {}
    if geval:
        lines += _table(["system", "G-Eval voice (0-10)", "n", "no verdict"],
                        [[f"`{k}`", _f(v["mean"]), str(v["n"]), str(v["no_verdict"])] for k, v in geval.items()])
        lines.append("")
    pairs = judges.get("pairwise") or []
    if pairs:
        lines += _table(["pair", "wins", "losses", "ties", "no verdict", "win rate (95% CI)", "position consistency"],
                        [[f"`{p['x']}` vs `{p['y']}`", str(p["wins"]), str(p["losses"]), str(p["ties"]),
                          str(p["no_verdict"]),
                          f"{_pct(p['win_rate'])} [{_pct(p['win_rate_low'])}, {_pct(p['win_rate_high'])}]",
                          _pct(p["position_consistency"])] for p in pairs])
        lines += ["", "Each pair is judged in both orders; a win counts only when both orders agree, "
                  "otherwise it is a tie.", ""]
    return lines


def render_html(result: dict[str, Any], plots: dict[str, bytes]) -> str:
    """Render a self-contained HTML page: the Markdown as preformatted sections plus inline PNGs."""
    md = render_markdown(result)
    body = []
    for block in md.split("\n\n"):
        if block.startswith("# "):
            body.append(f"<h1>{html.escape(block[2:])}</h1>")
        elif block.startswith("## "):
            head, _, rest = block.partition("\n")
            body.append(f"<h2>{html.escape(head[3:])}</h2>")
            if rest.strip():
                body.append(f"<pre>{html.escape(rest)}</pre>")
        else:
            body.append(f"<pre>{html.escape(block)}</pre>")
    imgs = "".join(f'<figure><img alt="{k}" src="data:image/png;base64,{base64.b64encode(v).decode()}">'
                   f"<figcaption>{k}</figcaption></figure>" for k, v in plots.items())
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "pre{white-space:pre-wrap;background:#f7f7f9;padding:.6em;border-radius:6px}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Voice evaluation "
            f"{html.escape(str(result.get('id', '')))}</title><style>{style}</style></head><body>"
            + "".join(body[:2]) + imgs + "".join(body[2:]) + "</body></html>")


def write_report(result: dict[str, Any], reports_dir: Path) -> dict[str, Path]:
    """Write report.md, report.html and the PNGs under `reports_dir/<run id>/`; returns the paths."""
    out = Path(reports_dir) / str(result["id"])
    out.mkdir(parents=True, exist_ok=True)
    plots = make_plots(result)
    files: dict[str, Path] = {}
    for name, png in plots.items():
        files[name] = out / f"{name}.png"
        files[name].write_bytes(png)
    files["markdown"] = out / "report.md"
    files["markdown"].write_text(render_markdown(result, images={k: f"{k}.png" for k in plots}), "utf-8")
    files["html"] = out / "report.html"
    files["html"].write_text(render_html(result, plots), "utf-8")
    return files


def model_summary(result: dict[str, Any], name: str) -> dict[str, Any] | None:
    """Return the compact per-model numbers kept on the registry record (ModelRecord.metrics['voice'])."""
    s = (result.get("voice") or {}).get("systems", {}).get(name)
    if s is None:
        return None
    out = {"run_id": result["id"], "created_at": str(result.get("created_at", "")), "vgc": s["vgc"],
           "components": {m: s["components"][m]["gap_closed"] for m in METRICS},
           "mean_p_person": s["attribution"]["mean_p_person"], "c2st_auc": s["components"]["M4_c2st_auc"]["value"],
           "memorisation": s["memorisation"], "phrase_ratio": s["phrases"]["ratio"],
           "checks_passed": sum(bool(c["ok"]) for c in s["checks"]), "checks": len(s["checks"]),
           "c2st_masked_auc": (s.get("secondary") or {}).get(SECONDARY[0], {}).get("value"),
           "m5_confusion": (s.get("away_towards") or {}).get("confusion"),
           "m5_towards": (s.get("away_towards") or {}).get("towards"),
           "m8_rouge_l": (s.get("rouge_l") or {}).get("mean")}
    geval = ((result.get("judges") or {}).get("geval") or {}).get(name)
    if geval:
        out["geval_voice"] = geval["mean"]
    return out


def save_run(store: Store, result: dict[str, Any], report_path: Path | None) -> tuple[EvalRun, list[str]]:
    """Store the run and put each evaluated model's summary on its registry record.

    Returns:
        (the stored run, names of registry models that were linked).

    """
    run = store.evals.add_run(EvalRun(id=str(result["id"]), models=list(result.get("models", [])), metrics=result,
                                      report_path=str(report_path) if report_path else None))
    linked = []
    for name in run.models:
        summary = model_summary(result, name)
        rec = store.registry.get_model(name)
        if summary is None or rec is None:
            continue
        store.registry.update_model(name, metrics={**rec.metrics, "voice": summary})
        linked.append(name)
    return run, linked
