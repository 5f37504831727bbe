"""The study's report files: report.md, report.html (one list of blocks, two renderers), summary.json and the PNG
plots, and the headline table as text or markdown, all from the summary that squeeze/study/report.py computes.
Exercised by tests/test_run.py through `squeeze run --preset smoke` and `squeeze report`.
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

from squeeze.io import atomic_write, read_json, write_json
from squeeze.runs.files import METRICS, SUMMARY
from squeeze.study import fits as fits_mod
from squeeze.study.fits import budget_of, is_finished
from squeeze.study.noise import asymptote_text


def _val_scope(summary: dict, meta: dict) -> str:
    """Which validation tokens the losses cover: all, the first N (train.final_eval_tokens), or a mix (a warning)."""
    counts, total = summary.get("val_tokens") or [], meta.get("val_tokens")
    if len(counts) > 1:
        return (f"differing numbers of tokens per run ({', '.join(f'{c:,}' for c in counts)}: runs with different "
                "train.final_eval_tokens, so their losses are not on the same text)")
    if counts and total and counts[0] < total:
        return (f"the first {counts[0]:,} of the {total:,} tokens (train.final_eval_tokens; every run and ensemble "
                "alike)")
    return "every token"


def _law_text(m: dict) -> str:
    if m.get("law_note"):  # a degenerate law's figure is no result (summary.json keeps it): the table says so
        return "- (degenerate law)"
    if m["law_multiplier"] is None:
        return "beyond asymptote"
    iv = m.get("law_interval")
    span = f" [{iv[0]:.2f}, {iv[1]:.2f}]" if iv else ""
    return f"{m['law_multiplier']:.2f}x{span}"


def _law_words(summary: dict) -> str:
    """One sentence on what the multipliers rest on: interpolation only when the standard law is degenerate."""
    fit = (summary.get("fits", {}).get("data_scaling") or {}).get("fit")
    if not fit:
        return " The multipliers are interpolation only: the standard recipe's law was not fitted."
    if fit["degenerate"]:
        return (f" The multipliers are interpolation only, between the measured standard budgets: the standard "
                f"recipe's fitted law is degenerate ({fit['reason']}), so the law column gives no figure.")
    return (f" The standard recipe's law L(D) = A/D^B + C fits (B = {fit['B']:.3g}, C = {fit['C']:.3g}); the law "
            "column extrapolates with it, the multiplier column does not.")


def _loss_text(m: dict) -> str:
    sd = f" ± {m['seed_sd']:.3f}" if m.get("seed_sd") is not None else ""
    return f"{m['val_loss']:.4f}{sd} ({m['seeds']})"


def _cert_text(m: dict) -> str:
    return m["certificate"].split(" (")[0]


def table_lines(summary: dict, markdown: bool = False) -> list[str]:
    """The headline table as text (aligned) or as a markdown table."""
    head = ("method", "val loss ± seed SD (seeds)", "bits/byte", "multiplier [90%]", "beyond noise?", "law [90%]",
            "params", "FLOPs own", "FLOPs total", "certificate")
    rows = [(m["method"], _loss_text(m), f"{m['val_bpb']:.4f}" if m["val_bpb"] is not None else "-",
             "1.00x (reference)" if m["significance"] == "reference" else m["multiplier_text"],
             "-" if m["significance"] == "reference" else m["significance"], _law_text(m), f"{m['params']:,}",
             f"{m['flops_own']:.3g}", f"{m['flops_total']:.3g}", _cert_text(m)) for m in summary["methods"]]
    if markdown:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = lambda r: "  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w)  # noqa: E731
                              for i, (x, w) in enumerate(zip(r, widths)))
    return [fmt(head), *map(fmt, rows)]


def plain_words(summary: dict) -> str:
    """The report's opening paragraph: what was measured, the best multiplier with its interval, what did and did
    not help beyond seed noise."""
    rows = summary["methods"][1:]
    gains = [m for m in rows if m["significance"] == "significant gain"]
    flat = [m for m in rows if m["significance"] == "no measurable gain"]
    losses = [m for m in rows if m["significance"] == "significant loss"]
    seeds = sorted({m["seeds"] for m in summary["methods"] if m["single_model"]})
    head = (f"This study trained {summary['runs']} models on D0 = {summary['d0']:,.0f} unique tokens and read each "
            f"method against the standard recipe measured at {len(summary.get('standard_points', []))} budgets, "
            f"with {'-'.join(map(str, seeds[:1] + seeds[-1:] if len(seeds) > 1 else seeds))} "
            f"{'seed' if seeds == [1] else 'seeds'} per "
            f"configuration and 90% intervals over seed noise (seed SD "
            f"{summary.get('noise', {}).get('seed_sd', float('nan')):.3f} nats).")
    if gains:
        top = max(gains, key=lambda m: m["multiplier"] or math.inf)
        best = (f" The largest gain beyond noise: {top['method']}, {top['multiplier_text']}: the standard recipe "
                f"would need that many times the data to match it.")
    else:
        best = " No method gained beyond seed noise."
    helped = f" Beyond noise it helped: {'; '.join(m['method'] for m in gains)}." if gains else ""
    none = f" No measurable gain: {'; '.join(m['method'] for m in flat)}." if flat else ""
    worse = f" Worse than the standard recipe beyond noise: {'; '.join(m['method'] for m in losses)}." \
        if losses else ""
    open_ = [m["method"] for m in summary["methods"] if m["certificate"].startswith(("edge", "not certified"))]
    uncertified = (f" Not certified as locally optimal (the certificate column says what is missing): "
                   f"{'; '.join(open_)}." if open_ else "")
    bigger = "more text with `--data`" + (", or `--preset flagship` at 100,000" if summary["d0"] < 100_000 else "")
    nxt = (f" For larger effects, run a bigger D0 ({bigger}), the `gpu` preset on a GPU, or more ensemble "
           "members.")
    selection = (" The data-selection rows train the regularized recipe on a chosen half of a 2 x D0 pool: a "
                 "method's own effect is its distance from 'data selection: random', not from 1.0x."
                 if any(m["method"].startswith("data selection") for m in rows) else "")
    return head + best + helped + none + worse + uncertified + selection + _law_words(summary) + nxt


def verdicts(summary: dict) -> list[str]:
    """One line per method in plain words: its multiplier and whether it stands out from seed noise."""
    out = []
    for m in summary["methods"][1:]:
        out.append(f"{m['method']}: {m['multiplier_text']}, {m['significance']}"
                   + ("" if m["significance"] != "no measurable gain" else " (its interval includes 1.0x)"))
    return out


def _md(blocks: list[tuple]) -> str:
    parts = []
    for kind, *a in blocks:
        if kind == "h":
            parts.append("#" * a[0] + " " + a[1])
        elif kind == "p":
            parts.append(a[0])
        elif kind == "table":
            parts.append("\n".join(a[0]))
        elif kind == "img":
            parts.append(f"![{a[1]}]({a[0]})")
        elif kind == "list":
            parts.append("\n".join(f"- {x}" for x in a[0]))
    return "\n\n".join(parts) + "\n"


def _html_table(lines: list[str]) -> str:
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines if not line.startswith("|-")]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(blocks: list[tuple], title: str) -> str:
    parts = []
    for kind, *a in blocks:
        if kind == "h":
            parts.append(f"<h{a[0]}>{html.escape(a[1])}</h{a[0]}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(a[0])}</p>")
        elif kind == "table":
            parts.append(_html_table(a[0]))
        elif kind == "img":
            parts.append(f'<figure><img src="{html.escape(a[0])}" alt="{html.escape(a[1])}">'
                         f"<figcaption>{html.escape(a[1])}</figcaption></figure>")
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in a[0]) + "</ul>")
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
             "table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ccc;padding:.25rem .5rem}"
             "td:not(:first-child){text-align:right}img{max-width:100%}figcaption{font-size:.85rem;color:#555}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def _fit_text(c: dict | None, var: str) -> str:
    if not c:
        return "not fitted"
    f = c["fit"]
    if f["degenerate"]:
        return f"degenerate, no asymptote reported ({f['reason']})"
    return (f"L({var}) = {f['A']:.4g}/{var}^{f['B']:.4g} + {f['C']:.4g}; asymptote C = "
            f"{asymptote_text(f['C'], *f['C_interval'])} ({f['level']:.0%} interval, {f['n_boot']} "
            f"resamples of {f['method']})")


def _curve_of(run_dir: str) -> tuple[list[float], list[float]]:
    """(tokens seen, val loss) at every evaluation of one run, from its metrics.jsonl."""
    tokens, losses, per_epoch = [], [], None
    summary = read_json(Path(run_dir) / SUMMARY)
    if summary.get("epochs"):
        per_epoch = summary["tokens_seen"] / summary["epochs"]
    if not (Path(run_dir) / METRICS).exists():  # a run directory copied without its log: no curve to draw
        return tokens, losses
    for line in (Path(run_dir) / METRICS).read_text(encoding="utf-8").splitlines():
        m = json.loads(line)
        if "val_loss" in m and m["val_loss"] is not None:
            tokens.append(m["epoch"] * per_epoch if per_epoch else m["step"])
            losses.append(m["val_loss"])
    return tokens, losses


def _heatmap(rows: list[dict], summary: dict, out: Path) -> Path | None:
    """The regularized recipe's weight decay x epochs grid at D0 on the size where it was tuned."""
    from squeeze.study.plots import plot_heatmap
    reg = [r for r in rows if r["recipe"] == "regularized" and budget_of(r) == summary["d0"] and is_finished(r)]
    if not reg:
        return None
    by_size: dict = {}
    for r in reg:
        by_size.setdefault((r["n_layer"], r["d_model"], r["lr"]), []).append(r)
    key, group = max(by_size.items(), key=lambda kv: len(kv[1]))
    wds, eps = sorted({r["weight_decay"] for r in group}), sorted({r["epochs"] for r in group})
    if len(wds) * len(eps) < 2:
        return None
    cell: dict = {}
    for r in group:
        cell.setdefault((r["weight_decay"], r["epochs"]), []).append(r["val_loss"])
    grid = [[min(cell[(w, e)]) if (w, e) in cell else math.nan for e in eps] for w in wds]
    return plot_heatmap(wds, eps, grid, out / "wd_epochs.png",
                        f"regularized, {key[0]}x{key[1]}, lr {key[2]:g}, D0 = {summary['d0']:,.0f} tokens")


def write_report(out: str | Path, summary: dict) -> list[Path]:
    """report.md, report.html and their PNGs in `out`, from `summary` (summarize(out)) and the run directories."""
    from squeeze.study import plots
    out = Path(out)
    fits = summary["fits"]
    rows, _ = fits_mod.load_rows([str(out / "runs")])
    pngs: list[Path] = []
    ds = fits["data_scaling"]
    markers = [(m["method"], m.get("budget") or summary["d0"], m["val_loss"],
                (m.get("budget") or summary["d0"]) * m["multiplier"] if m["multiplier"] else None,
                m["multiplier_text"].split(" [")[0]) for m in summary["methods"][1:]]
    fit_obj = _PowerLaw(**{k: ds["fit"][k] for k in ("A", "B", "C", "degenerate", "reason")})
    pngs.append(plots.plot_data_scaling(ds["x"], ds["best_losses"], fit_obj, out / "data_scaling.png",
                                        asymptote_interval=ds["fit"]["C_interval"], markers=markers))
    if fits["param_scaling"]:
        curves = [(f"{name} (D={c['budget']:g})", c["x"], c["best_losses"],
                   _PowerLaw(**{k: c["fit"][k] for k in ("A", "B", "C", "degenerate", "reason")}),
                   c["fit"]["C_interval"])
                  for name, c in fits["param_scaling"].items()]
        pngs.append(plots.plot_param_scaling(curves, out / "param_scaling.png"))
    ensembles = summary["ensembles"]
    if ensembles:
        curves = [(f"{e['size']} x K (mixture)", list(range(1, len(e["k_curve"]) + 1)), e["k_curve"],
                   _PowerLaw(**e["k_fit"]) if e.get("k_fit") else None) for e in ensembles]
        pngs.append(plots.plot_ensemble_curves(curves, out / "ensemble_k.png"))
    if (hm := _heatmap(rows, summary, out)) is not None:
        pngs.append(hm)
    tc = [(m["method"], *_curve_of(m["path"])) for m in summary["methods"] if m["single_model"]]
    pngs.append(plots.plot_training_curves(tc, out / "training_curves.png"))
    blocks = _blocks(out, summary, pngs)
    atomic_write(out / "report.md", lambda f: f.write(_md(blocks)), mode="w")
    atomic_write(out / "report.html", lambda f: f.write(_html(blocks, "squeeze data-efficiency report")), mode="w")
    write_json(out / SUMMARY, summary)
    return [out / "report.md", out / "report.html", out / SUMMARY, *pngs]


@dataclass
class _PowerLaw:
    """A fitted L(x) = A/x^B + C read back from JSON (what the plots need of a PowerLawFit)."""
    A: float
    B: float
    C: float
    degenerate: bool = False
    reason: str = ""

    def predict(self, x):
        import numpy as np
        return self.A / np.asarray(x, dtype=float) ** self.B + self.C


def _blocks(out: Path, summary: dict, pngs: list[Path]) -> list[tuple]:
    meta_path = out / "data" / "meta.json"
    meta = read_json(meta_path) if meta_path.exists() else {}
    fits, b = summary["fits"], summary["best_model"]
    names = {p.name for p in pngs}
    img = lambda name, cap: [("img", name, cap)] if name in names else []  # noqa: E731
    corpus = (f"{meta.get('source', '?')} corpus: {meta.get('train_tokens', 0):,} training tokens in "
              f"{meta.get('n_train_docs', 0):,} documents, {meta.get('val_tokens', 0):,} validation tokens in "
              f"{meta.get('n_val_docs', 0):,} held-out documents, vocabulary {meta.get('vocab_size', '?')}"
              if meta else "corpus: (no token store in this directory)")
    blocks = [
        ("h", 1, "squeeze data-efficiency report"),
        ("p", plain_words(summary)),
        ("p", f"{corpus}. Base budget D0 = {summary['d0']:,.0f} unique training tokens; {summary['runs']} runs, "
              f"every number below rebuilt from the run directories under {out / 'runs'}."),
        ("h", 2, "Headline"),
        ("table", table_lines(summary, markdown=True)),
        ("p", f"Best single model: {b['method']}, val loss {b['val_loss']:.4f} nats/token, at {b['path']}."),
        ("h", 3, "Against seed noise"),
        ("list", verdicts(summary)),
        ("list", [f"{m['method']}: {m['note']} ({m['path']}; certificate: {m['certificate']})"
                  for m in summary["methods"] if m["note"]]),
        ("h", 2, "How these numbers were measured"),
        ("list", [
            f"val loss: mean next-token cross-entropy (nats/token) over {_val_scope(summary, meta)} of the "
            "held-out validation documents, which never enter training or pruning; bits/byte: the same total in "
            "bits over the UTF-8 bytes of those tokens (comparable across tokenizers).",
            "multiplier: how many times D0 the standard recipe would need to reach the method's loss, read off the "
            "measured standard points by linear interpolation in log D (so the standard recipe reads 1.00x); "
            "outside the measured budgets only a bound ('< 0.5x', '> 8x'). The interval is 90% over seed noise: "
            f"{summary.get('noise', {}).get('method', '')} (seed SD {summary.get('noise', {}).get('seed_sd', 0):.3f} "
            f"nats, {summary.get('noise', {}).get('dof', 0)} degrees of freedom). 'significant gain' means the "
            "interval lies above 1.0x; 'no measurable gain' means it includes 1.0x.",
            "law: the same ratio from the fitted law L(D) = A/D^B + C (D_eff(L) / D_eff(L_std(D0))), which "
            "extrapolates beyond the measured budgets; its interval refits the law to seeds resampled within each "
            "budget. When the law is degenerate the column reads '- (degenerate law)' on every row (summary.json "
            "keeps the figure) and the table is interpolation only.",
            "tuning: the standard recipe's learning rate and epochs were certified locally optimal on seed means at "
            "every budget for each size of its law (the regularized recipe also tunes weight decay at D0); a best "
            "point on the edge of its grid reads 'edge', never 'certified'.",
            "FLOPs: 6 x parameters x tokens seen plus attention, per model. 'total' counts what a row needed: every "
            "member of an ensemble, and for a student also its teachers' training and their forward passes.",
        ]),
        ("h", 2, "The standard recipe's data scaling law"),
        ("p", _fit_text(fits["data_scaling"], "D")),
        *img("data_scaling.png", "standard recipe's best loss per budget, its law, and each method placed on it"),
    ]
    if fits["param_scaling"]:
        blocks += [("h", 2, "Parameter scaling at D0")]
        blocks += [("p", f"{name}: {_fit_text(c, 'N')}") for name, c in fits["param_scaling"].items()]
        blocks += img("param_scaling.png", "best loss against parameters, with the fitted asymptotes")
    ens = summary["ensembles"]
    if ens:
        blocks += [("h", 2, "Ensembles")]
        blocks += [("p", f"{e['size']}: K = 1..{len(e['k_curve'])} losses "
                         f"{', '.join(f'{x:.4f}' for x in e['k_curve'])} (mixture of member probabilities, mean "
                         f"over member orders); product of experts at K = {e['k']}: "
                         f"{e['product']:.4f}; K->inf asymptote {e['asymptote_text']}") for e in ens]
        ts = summary.get("two_stage")
        if ts and "C" in ts:
            blocks += [("p", f"Two-stage asymptote (K -> inf per size, then N -> inf over {len(ts['sizes'])} sizes): "
                             f"{asymptote_text(ts['C'], *ts['C_interval'])}"
                             + (f", degenerate: {ts['reason']}" if ts["degenerate"] else ""))]
        elif ts:
            blocks += [("p", f"Two-stage asymptote: not fitted ({ts['error']})")]
        blocks += img("ensemble_k.png", "ensemble loss against the number of members")
    blocks += img("wd_epochs.png", "regularized recipe: validation loss over weight decay x epochs (best boxed)")
    blocks += img("training_curves.png", "validation loss during training of each method's best run")
    if fits["skipped"]:
        blocks += [("h", 2, "Not fitted"), ("list", [f"{k}: {v}" for k, v in fits["skipped"].items()])]
    return blocks
