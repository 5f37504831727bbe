"""The study's report files: report.md and report.html (their blocks here, rendered by squeeze/study/report_page.py),
summary.json and the plots, from the summary that squeeze/study/report.py computes. The forest plot, the data-
scaling, parameter-scaling and ensemble plots are functions of the summary alone (`summary_figures`, so a committed
summary.json can be drawn again); the heat map and the training curves read the run directories.
Exercised by tests/test_run.py through `squeeze run --preset smoke` and `squeeze report`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from squeeze.io import atomic_write, read_json, write_json
from squeeze.runs.files import METRICS, SUMMARY
from squeeze.study import fits as fits_mod
from squeeze.study import plots, report_page
from squeeze.study.compute import compute_line
from squeeze.study.fits import budget_of, is_finished
from squeeze.study.forest import forest_rows, plot_forest
from squeeze.study.noise import asymptote_text
from squeeze.study.plots import plot_heatmap, save
from squeeze.study.report_page import rel

FOREST_CAPTION = ("Every row's data-efficiency multiplier (dot) and its 90% interval over seed noise (bar), on a log "
                  "axis: green, significant gain; red, significant loss; grey and open, no measurable gain. The "
                  "shaded band is the random-subset control's interval, behind the data-selection rows; an "
                  "arrowhead means the interval runs on past the measured standard budgets.")


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


@dataclass
class PowerLaw:
    """A fitted L(x) = A/x^B + C read back from JSON (what the plots need of a PowerLawFit)."""
    A: float
    B: float
    C: float
    degenerate: bool = False
    reason: str = ""

    def predict(self, x):
        return self.A / np.asarray(x, dtype=float) ** self.B + self.C


def _law(fit: dict) -> PowerLaw:
    return PowerLaw(**{k: fit[k] for k in ("A", "B", "C", "degenerate", "reason")})


def markers(summary: dict) -> list[tuple]:
    """(label, budget, loss, the budget its multiplier was read at, text) per non-reference row, for the data-
    scaling plot: the read budget lies on the standard points' envelope; 0 / inf for a bound below / above."""
    out = []
    for m in report_page.compared(summary):
        budget, text = m.get("budget") or summary["d0"], m.get("multiplier_text", "")
        reach = budget * m["multiplier"] if m.get("multiplier") else \
            math.inf if text.startswith(">") else 0.0 if text.startswith("<") else None
        out.append((m["method"], budget, m["val_loss"], reach, text))
    return out


def summary_scaling_figure(summary: dict):
    """The data-scaling plot of a summary: its standard points with their seed SD, the envelope, the law when it
    is not degenerate, and every row placed where its multiplier was read."""
    ds, pts = summary["fits"]["data_scaling"], summary.get("standard_points")
    sds, seeds = ([p["seed_sd"] for p in pts], [p["seeds"] for p in pts]) if pts else (None, None)
    return plots.data_scaling_figure(ds["x"], ds["best_losses"], _law(ds["fit"]), sds=sds, seeds=seeds,
                                     asymptote_interval=ds["fit"]["C_interval"], markers=markers(summary))


def plot_summary_scaling(summary: dict, path: Path) -> Path:
    return save(summary_scaling_figure(summary), path)


def summary_figures(summary: dict, out: Path, prefix: str = "") -> list[Path]:
    """The plots that need the summary alone, written as OUT/<prefix><name>: multipliers.png (+ .svg), the
    data-scaling plot, and where the summary has them the parameter-scaling and ensemble plots."""
    written = plot_forest(summary, out / f"{prefix}multipliers.png", out / f"{prefix}multipliers.svg")
    written.append(plot_summary_scaling(summary, out / f"{prefix}data_scaling.png"))
    if summary["fits"].get("param_scaling"):
        curves = [(f"{name} (D={c['budget']:g})", c["x"], c["best_losses"], _law(c["fit"]), c["fit"]["C_interval"])
                  for name, c in summary["fits"]["param_scaling"].items()]
        written.append(plots.plot_param_scaling(curves, out / f"{prefix}param_scaling.png"))
    if summary.get("ensembles"):
        curves = [(f"{e['size']} x K (mixture)", list(range(1, len(e["k_curve"]) + 1)), e["k_curve"],
                   PowerLaw(**e["k_fit"]) if e.get("k_fit") else None) for e in summary["ensembles"]]
        written.append(plots.plot_ensemble_curves(curves, out / f"{prefix}ensemble_k.png"))
    return written


def write_report(out: str | Path, summary: dict) -> list[Path]:
    """report.md, report.html and their plots in `out`, from `summary` (summarize(out)) and the run directories."""
    out = Path(out)
    rows, _ = fits_mod.load_rows([str(out / "runs")])
    images = summary_figures(summary, out)
    if (hm := _heatmap(rows, summary, out)) is not None:
        images.append(hm)
    tc = [(m["method"], *_curve_of(m["path"])) for m in summary["methods"] if m["single_model"]]
    images.append(plots.plot_training_curves(tc, out / "training_curves.png"))
    blocks = _blocks(out, summary, {p.name for p in images}, forest_rows(summary)[1])
    atomic_write(out / "report.md", lambda f: f.write(report_page.markdown(blocks)), mode="w")
    atomic_write(out / "report.html", lambda f: f.write(report_page.page(blocks)), mode="w")
    write_json(out / SUMMARY, summary)
    return [out / "report.md", out / "report.html", out / SUMMARY, *images]


def _blocks(out: Path, summary: dict, images: set[str], left_out: list[str]) -> list[tuple]:
    meta_path = out / "data" / "meta.json"
    meta = read_json(meta_path) if meta_path.exists() else {}
    fits, b = summary["fits"], summary["best_model"]
    img = lambda name, cap, page=None: [("img", name, cap, page if page in images else None)] \
        if name in images else []  # noqa: E731
    head, rows = report_page.table(summary)
    note = report_page.law_note(summary)
    blocks = [
        ("h", 1, "squeeze data-efficiency report"),
        ("headline", report_page.headline(summary)),
        *img("multipliers.png", FOREST_CAPTION, "multipliers.svg"),
        ("table", head, rows),
        *([("note", note)] if note else []),
        *([("note", summary["base"]["note"].capitalize() + ".")] if "base" in summary else []),
        *[("note", f"{what.capitalize()}: {why}.") for what, why in summary.get("not_measured", {}).items()],
        ("list", report_page.bullets(summary, left_out)),
        ("p", f"Best single model: {b['method']}, val loss {b['val_loss']:.4f} nats/token, at {rel(b['path'], out)}."),
        *([("p", compute_line(summary["compute"]).capitalize() + ".")] if "compute" in summary else []),
        ("p", report_page.about(summary, meta)),
        ("h", 2, "Notes on the rows"),
        ("list", [f"{m['method']}: {m['note']} ({rel(m['path'], out)}; certificate: {m['certificate']})"
                  for m in summary["methods"] if m["note"]]),
        ("h", 2, "How these numbers were measured"),
        ("list", _method_notes(summary, meta)),
        ("h", 2, "The standard recipe's data scaling"),
        ("p", _fit_text(fits["data_scaling"], "D")),
        *img("data_scaling.png", "The standard recipe's measured points (seed mean ± seed SD) and the interpolation "
                                 "between them that every multiplier is read on (its law dashed, where it is not "
                                 "degenerate); each method is a star at its budget, its line ending where its "
                                 "multiplier was read."),
    ]
    return blocks + _later_blocks(summary, img)


def _method_notes(summary: dict, meta: dict) -> list[str]:
    noise = summary.get("noise", {})
    return [
        f"val loss: mean next-token cross-entropy (nats/token) over {_val_scope(summary, meta)} of the held-out "
        "validation documents, which never enter training or pruning; bits/byte: the same total in bits over the "
        "UTF-8 bytes of those tokens (comparable across tokenizers).",
        "multiplier: how many times D0 the standard recipe would need to reach the method's loss, read off the "
        "measured standard points by linear interpolation in log D (so the standard recipe reads 1.00x); outside "
        "the measured budgets only a bound ('< 0.5x', '> 8x'). The interval is 90% over seed noise: "
        f"{noise.get('method', '')} (seed SD {noise.get('seed_sd', 0):.3f} nats, {noise.get('dof', 0)} degrees of "
        "freedom). 'significant gain' means the interval lies above 1.0x; 'no measurable gain' means it includes "
        "1.0x.",
        "law: the same ratio from the fitted law L(D) = A/D^B + C (D_eff(L) / D_eff(L_std(D0))), which extrapolates "
        "beyond the measured budgets; its interval refits the law to seeds resampled within each budget. When the "
        "law is degenerate the table has no law column (summary.json keeps the figures) and is interpolation only.",
        "tuning: the standard recipe's learning rate and epochs were certified locally optimal on seed means at "
        "every budget for each size of its law (the regularized recipe also tunes weight decay at D0); a best point "
        "on the edge of its grid reads 'edge', never 'certified'.",
        "FLOPs: 6 x parameters x tokens seen plus attention, per model. 'total' counts what a row needed: every "
        "member of an ensemble, and for a student also its teachers' training and their forward passes.",
    ]


def _later_blocks(summary: dict, img) -> list[tuple]:
    """Parameter scaling, ensembles, the heat map, the training curves and what was not fitted."""
    fits, blocks = summary["fits"], []
    if limits := summary.get("limits"):
        blocks += [("h", 2, "Limits, in the field's terms"),
                   ("p", "Each loss as parameters or ensemble members go to infinity (Kim et al. 2025 report these), "
                         "read only when its fit is checked: at least 4 sizes, no parameter at a bound, residuals "
                         "within seed noise. Its multiplier comes from the fitted standard law, an extrapolation."),
                   ("list", [_limit_text(x) for x in limits])]
    if fits.get("param_scaling"):
        blocks += [("h", 2, "Parameter scaling at D0")]
        blocks += [("p", f"{name}: {_fit_text(c, 'N')}") for name, c in fits["param_scaling"].items()]
        blocks += img("param_scaling.png", "best loss against parameters, with the fitted asymptotes")
    if ens := summary.get("ensembles"):
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
    if fits.get("skipped"):
        blocks += [("h", 2, "Not fitted"), ("list", [f"{k}: {v}" for k, v in fits["skipped"].items()])]
    return blocks


def _limit_text(limit: dict) -> str:
    """One limit in words: its loss and interval, or why it is not resolved; then its multipliers."""
    if limit["loss"] is None:
        return f"{limit['what']}: {limit['reason']}"
    law = (f"{limit['law_multiplier']:.2f}x" + (" [{:.2f}, {:.2f}]".format(*limit["law_interval"])
                                               if limit.get("law_interval") else "")
           if limit["law_multiplier"] is not None else "no multiplier")
    return (f"{limit['what']}: loss {limit['text']}; {law} on the standard law ({limit['law_note']}); "
            f"interpolated {limit['multiplier_text']}")
