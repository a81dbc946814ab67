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
from eval.voice import METRIC_LABELS, METRICS

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
    """Grouped bars: gap closed per metric per system, with VGC and the 0 / 0.6 / 1 guides."""
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
    """One panel per metric: the floor-to-ceiling band and each system's value with its sd."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(voice["systems"])
    fig, axes = plt.subplots(1, len(METRICS), figsize=(3.2 * len(METRICS), 0.9 + 0.45 * (len(systems) + 2)))
    for ax, m in zip(axes, METRICS):
        lo, hi = voice["floor"][m], voice["ceiling"][m]
        ax.axvspan(min(lo, hi), max(lo, hi), color="#dde8f5")
        ax.axvline(lo, color="green", lw=1)
        ax.axvline(hi, color="red", lw=1)
        for j, name in enumerate(systems):
            b = voice["systems"][name]["components"][m]
            ax.errorbar(b["value"], j, xerr=b["sd"], fmt="o", capsize=3)
        ax.set_yticks(range(len(systems)), systems if ax is axes[0] else [""] * len(systems))
        ax.set_title(METRIC_LABELS[m], fontsize=8)
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
    """The report as Markdown; `images` maps plot name -> relative file name to link."""
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
                         _f(s["diversity"].get("distinct_1_ratio"))])
        lines += _table(["system", "VGC", "M1", "M2", "M3", "M4", "P(person)", "attributed", "copied 10+",
                         "phrase ratio", "distinct-1 ratio"], rows)
        lines += ["", f"Classifier sanity check: AUC(held-out person vs base) = **{_f(voice['sanity_auc'])}** "
                  "(M3 is only informative at >= 0.9).", "", "## Floors and ceilings", ""]
        rows = [[METRIC_LABELS[m], _f(voice["floor"][m], 3), _f(voice["ceiling"][m], 3),
                 *(f"{s['components'][m]['value']:.3f} ± {s['components'][m]['sd']:.3f}" for s in systems.values())]
                for m in METRICS]
        lines += _table(["metric (lower = more like the person)", "floor (person vs person)", "ceiling (base)",
                         *systems], rows)
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
    """A self-contained HTML page: the Markdown text as preformatted sections plus inline PNGs."""
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
    """The compact per-model numbers kept on the registry record (ModelRecord.metrics['voice'])."""
    s = (result.get("voice") or {}).get("systems", {}).get(name)
    if s is None:
        return None
    out = {"run_id": result["id"], "created_at": str(result.get("created_at", "")), "vgc": s["vgc"],
           "components": {m: s["components"][m]["gap_closed"] for m in METRICS},
           "mean_p_person": s["attribution"]["mean_p_person"], "c2st_auc": s["components"]["M4_c2st_auc"]["value"],
           "memorisation": s["memorisation"], "phrase_ratio": s["phrases"]["ratio"],
           "checks_passed": sum(bool(c["ok"]) for c in s["checks"]), "checks": len(s["checks"])}
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
