"""`squeeze report DIR`: the study's summary table, report.md, report.html and PNG plots, rebuilt from the run
directories under DIR/runs alone (and the ensemble evaluations stored beside their members).

`summarize(out)` is the one place that turns runs into the headline table: every method's best validation loss and
bits per byte at D0, its data-efficiency multiplier against the standard recipe's law (with a 90% bootstrap
interval and the interpolation-only figure), its parameters and training compute, and the single best model.
`squeeze run` prints the same table from the same function, so the two can never disagree.
Run it with `squeeze report squeeze-out`; exercised by tests/test_run.py and tests/test_report.py.
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from squeeze import recipes
from squeeze.errors import SqueezeError
from squeeze.io import atomic_write, read_json, write_json
from squeeze.study import fits as fits_mod
from squeeze.study.fits import N_BOOT, budget_of, is_finished

# How each recipe name in a run's config.json is shown in the table, in table order.
METHOD_NAMES = {"standard": "standard recipe (tuned lr, epochs)", "regularized": "regularized (tuned wd, epochs, lr)",
                "best": "best recipe (regularized + options that helped)", "distill": "distilled student",
                "ensemble_member": "ensemble member (2x epochs, wd/2)"}
ENSEMBLE_FILE = "ensemble.json"  # written beside an ensemble's members by the study's ensemble step


@dataclass
class Method:
    """One row of the headline table."""
    method: str
    val_loss: float
    val_bpb: float | None
    multiplier: float | None  # None: beyond the standard asymptote, or no usable law
    interval: tuple[float, float] | None
    interp: str  # the interpolation-only figure over measured standard points
    params: int
    flops: float  # training compute, FLOPs (ensembles: all members; students: teacher cost included when known)
    path: str  # run directory (ensembles: the folder of members)
    note: str = ""
    single_model: bool = True
    seeds: int = 1  # runs behind val_loss: the mean over init/data seeds of one configuration
    budget: float = 0.0  # the unique training tokens the multiplier is read at (a data subset: the tokens it kept)


CERTIFY_AXES = {"standard": ("lr", "epochs"), "regularized": ("lr", "weight_decay", "epochs")}


def certificate_note(rows: list[dict], run: dict) -> str:
    """Whether `run` is certified locally optimal on the grid of values its recipe trained at its budget and size
    (rebuilt from the rows, so the report needs no record of the sweep's grid)."""
    from squeeze.study.sweep import Grid, certify
    axes = CERTIFY_AXES.get(run["recipe"])
    if axes is None:
        return ""
    group = [r for r in rows if r["recipe"] == run["recipe"] and budget_of(r) == budget_of(run)
             and (r["n_layer"], r["d_model"]) == (run["n_layer"], run["d_model"])]
    grid = Grid(lr=sorted({r["lr"] for r in group}), weight_decay=sorted({r["weight_decay"] for r in group}),
                epochs=sorted({r["epochs"] for r in group}), sizes=[(run["n_layer"], run["d_model"])],
                budgets=[run["budget_tokens"]], seeds=sorted({r["seed"] for r in group}))
    cert = certify(group, grid, axes)
    return "certified (" + ", ".join(axes) + ")" if cert.certified else cert.describe()


def _standard_method(std: fits_mod.Curve, d0: float, rows: list[dict]) -> Method:
    b = std.best[d0]
    r = b.run
    return Method(METHOD_NAMES["standard"], b.loss, r.get("val_bpb"), 1.0, None, "1x (reference)",
                  int(r["params"]), float(r["flops"] or 0), r["path"],
                  f"the baseline every multiplier divides by; {certificate_note(rows, r)}", seeds=len(b.seed_losses),
                  budget=d0)


def _efficiency_method(row: fits_mod.EfficiencyRow, rows: list[dict]) -> Method | None:
    if row.best is None:
        return None
    r, e = row.best.run, row.efficiency
    mult = None if e is None or e.beyond_asymptote else e.multiplier
    n = len(row.best.seed_losses)
    notes = [f"mean of {n} seeds (bits/byte: seed 0's run)" if n > 1 else "", row.note,
             "beats the standard asymptote" if e is not None and e.beyond_asymptote else "", certificate_note(rows, r)]
    note = "; ".join(n for n in notes if n)
    return Method(METHOD_NAMES.get(row.recipe, row.recipe), row.best.loss, r.get("val_bpb"), mult, row.interval,
                  e.interp_note if e else "-", int(r["params"]), float(r["flops"] or 0), r["path"], note, seeds=n,
                  budget=row.budget)


def _loss_method(std: fits_mod.Curve, name: str, loss: float, bpb: float | None, budget: float, params: int,
                 flops: float, path: str, note: str, single: bool) -> Method:
    """A method placed on the standard law by its loss at `budget` unique tokens (an ensemble, a subset)."""
    from squeeze.scaling.efficiency import data_efficiency
    e = data_efficiency(std.fit.fit, loss, budget, measured_budgets=std.x, measured_losses=std.best_losses)
    fn = lambda f: fits_mod._multiplier(f, loss, budget)  # noqa: E731
    interval = std.fit.interval(fn) if std.fit.n_valid(fn) else None
    mult = None if e.beyond_asymptote else e.multiplier
    return Method(name, loss, bpb, mult, interval, e.interp_note, params, flops, path, note, single, budget=budget)


def rebase(path: str, runs: Path) -> Path:
    """A run directory recorded in a file (ensemble members, a student's teachers) as it lies under `runs` now: the
    part after its last `runs` folder, joined to `runs`. The study records paths as given on the command line, so
    a study moved or reported from another working directory still finds its own runs; a path with no such run
    under `runs` is kept as given."""
    parts = Path(path).parts
    if "runs" not in parts:
        return Path(path)
    i = len(parts) - 1 - parts[::-1].index("runs")
    here = Path(runs, *parts[i + 1:])
    return here if (here / "config.json").exists() else Path(path)


def ensemble_results(runs: Path) -> list[dict]:
    """Every stored ensemble evaluation under runs/ (written by the study or `squeeze ensemble`), flattened:
    size, K, mixture and product loss, bits per byte, params, member FLOPs, the K curve (mean over member orders)
    and its fit; smallest model first."""
    from squeeze import config as config_mod
    out = []
    for p in runs.rglob(ENSEMBLE_FILE):
        saved = read_json(p)
        members = [str(rebase(d, runs)) for d in saved["members"]]
        e, first = saved["eval"], config_mod.load(str(Path(members[0]) / "config.json"))
        fit = e.get("asymptote") or {}
        out.append({"path": str(p.parent), "members": members,
                    "size": f"{first.model.n_layer}x{first.model.d_model}",
                    "k": len(saved["members"]), "loss": e["mixture"], "bpb": e.get("mixture_bpb"),
                    "product": e.get("product"), "mean_member_loss": e["mean_member_loss"], "params": e["params"],
                    "member_params": e["params"] // len(saved["members"]),
                    "flops": sum(float(m.get("flops") or 0) for m in saved.get("member_summaries", [])),
                    "k_curve": e["mixture_curve_mean"],
                    "k_fit": {k: fit[k] for k in ("A", "B", "C", "degenerate", "reason")} if "C" in fit else None,
                    "asymptote_text": (f"{fit['C']:.4f} [{fit['C_interval'][0]:.4f}, {fit['C_interval'][1]:.4f}]"
                                       + (" (degenerate)" if fit["degenerate"] else "")) if "C" in fit else
                    "not fitted (needs K >= 3)"})
    return sorted(out, key=lambda r: (r["member_params"], r["path"]))


def two_stage(ensembles: list[dict], n_boot: int) -> dict | None:
    """The two-stage asymptote (DESIGN.md section 2): K -> inf per model size from its K curve, then N -> inf over
    sizes; None with fewer than 3 sizes."""
    from squeeze.scaling.fit import asymptote_two_stage
    table = {float(e["member_params"]): (list(range(1, len(e["k_curve"]) + 1)), e["k_curve"]) for e in ensembles}
    if len(table) < 3:
        return None
    try:
        r = asymptote_two_stage(table, n_boot=n_boot)
    except ValueError as err:
        return {"error": str(err)}
    f = r.stage2
    return {"C": f.C, "C_interval": list(r.interval), "degenerate": bool(f.degenerate), "reason": f.reason,
            "sizes": sorted(table), "C_N": [float(c) for c in r.C_N]}


def summarize(out: str | Path, *, n_boot: int = N_BOOT) -> dict:
    """The headline table of a study directory, from its run directories alone (see the module docstring)."""
    out = Path(out)
    runs = out / "runs"
    rows, _ = fits_mod.load_rows([str(runs)])
    rep = fits_mod.fit_all(rows, "standard", None, n_boot=n_boot, joint=False)  # `squeeze fit` has the joint law
    if rep.standard is None:
        raise SqueezeError(f"{runs}: no standard-recipe data scaling law ({rep.skipped.get('data scaling')})")
    std, d0 = rep.standard, rep.standard.x[0]
    methods = [_standard_method(std, d0, rows)]
    order = list(METHOD_NAMES)
    for row in sorted(rep.table, key=lambda r: (order.index(r.recipe) if r.recipe in order else 99, r.recipe)):
        if (m := _efficiency_method(row, rows)) is not None:
            methods.append(m)
    ensembles = ensemble_results(runs)
    for ens in ensembles:
        k = ens["k"]
        product = f"; product of experts {ens['product']:.4f}" if ens.get("product") is not None else ""
        methods.append(_loss_method(std, f"ensemble of {k} x {ens['size']} (mixture)", ens["loss"], ens.get("bpb"),
                                    d0, ens["params"], ens["flops"], ens["path"],
                                    f"mean member {ens['mean_member_loss']:.4f}{product}; K->inf asymptote "
                                    f"{ens['asymptote_text']}", False))
    _add_retention(methods, runs, ensembles)
    for r in sorted((r for r in rows if r["recipe"].startswith("select-")), key=lambda r: r["val_loss"]):
        pool = budget_of(r)
        methods.append(_loss_method(std, f"data selection: {r['recipe'][7:]}", r["val_loss"], r["val_bpb"],
                                    r["unique_tokens"], r["params"], r["flops"] or 0, r["path"],
                                    f"kept {r['unique_tokens']:,} of a {pool:,.0f}-token pool; multiplier at the kept "
                                    "tokens", True))
    singles = [m for m in methods if m.single_model]
    best = min(singles, key=lambda m: m.val_loss)
    return {"d0": d0, "fits": fits_mod.report_json(rep), "methods": [asdict(m) for m in methods],
            "ensembles": ensembles, "two_stage": two_stage(ensembles, n_boot),
            "best_model": {"method": best.method, "path": best.path, "val_loss": best.val_loss,
                           "val_bpb": best.val_bpb},
            "runs": len(rows), "val_tokens": sorted({int(r["val_tokens"]) for r in rows
                                                       if r.get("val_tokens") and r["recipe"] != recipes.PERPLEXITY_REFERENCE})}


def _add_retention(methods: list[Method], runs: Path, ensembles: list[dict]) -> None:
    """Note on the distilled student's row: the share of its teachers' ensemble gain it keeps (Kim et al.: 83% at
    1/8 of the parameters), with the teachers' mean member loss as the single model."""
    from squeeze import config as config_mod
    from squeeze.train.distill import retention
    for m in methods:
        if m.method != METHOD_NAMES["distill"]:
            continue
        teachers = config_mod.load(str(Path(m.path) / "config.json")).distill.teacher_dirs()
        ens = next((e for e in ensembles if [str(rebase(t, runs)) for t in teachers] == e["members"]), None)
        if ens is None:
            continue
        r = retention(ens["mean_member_loss"], m.val_loss, ens["loss"], m.params, ens["params"])
        kept = "n/a (the ensemble is no better)" if r["retention"] is None else f"{r['retention']:.0%}"
        summary = read_json(Path(m.path) / "summary.json")
        m.note = (f"keeps {kept} of the {ens['k']}-member ensemble's gain at {r['param_ratio']:.3g}x its parameters; "
                  f"teacher forward {summary.get('teacher_forward_flops', 0):.3g} FLOPs on top; " + m.note).strip("; ")


def _val_scope(summary: dict, meta: dict) -> str:
    """Which validation tokens the losses cover: all, the first N (train.final_eval_tokens), or a mix (a warning)."""
    counts, total = summary.get("val_tokens") or [], meta.get("val_tokens")
    if len(counts) > 1:
        return (f"differing numbers of tokens per run ({', '.join(f'{c:,}' for c in counts)}: runs with different "
                "train.final_eval_tokens, so their losses are not on the same text)")
    if counts and total and counts[0] < total:
        return f"the first {counts[0]:,} of the {total:,} tokens (train.final_eval_tokens; every run and ensemble alike)"
    return "every token"


def _mult_text(m: dict) -> str:
    if m["multiplier"] is None:
        return "beyond the standard asymptote" if "asymptote" in m["note"] else "-"
    span = f" [{m['interval'][0]:.2f}, {m['interval'][1]:.2f}]" if m.get("interval") else ""
    return f"{m['multiplier']:.2f}x{span}"


def table_lines(summary: dict, markdown: bool = False) -> list[str]:
    """The headline table as text (aligned) or as a markdown table."""
    head = ("method", "val loss", "bits/byte", "multiplier [90%]", "interp.", "params", "train FLOPs")
    rows = [(m["method"], f"{m['val_loss']:.4f}", f"{m['val_bpb']:.4f}" if m["val_bpb"] is not None else "-",
             _mult_text(m), m["interp"], f"{m['params']:,}", f"{m['flops']:.3g}") for m in summary["methods"]]
    if markdown:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = lambda r: "  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w)  # noqa: E731
                              for i, (x, w) in enumerate(zip(r, widths)))
    return [fmt(head), *map(fmt, rows)]


def print_summary(summary: dict) -> None:
    print(f"\ndata-efficiency study at D0 = {summary['d0']:,.0f} unique training tokens "
          f"({summary['runs']} runs; multipliers against the standard recipe's law L(D) = A/D^B + C)")
    print("\n".join(table_lines(summary)))
    b = summary["best_model"]
    bpb = f", {b['val_bpb']:.4f} bits/byte" if b["val_bpb"] is not None else ""
    print(f"\nbest single model: {b['method']}, val loss {b['val_loss']:.4f} nats/token{bpb}\n  {b['path']}")


def cmd_report(args) -> None:
    out = Path(args.dir)
    if not (out / "runs").is_dir():
        raise SqueezeError(f"{out}: not a study directory (no runs/ folder; make one with `squeeze run --out {out}`)")
    summary = summarize(out)
    paths = write_report(out, summary)
    print_summary(summary)
    print("\nwrote " + ", ".join(str(p) for p in paths))


# ---- report.md and report.html: one list of blocks, two renderers ----------------------------------------------

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
    return (f"L({var}) = {f['A']:.4g}/{var}^{f['B']:.4g} + {f['C']:.4g}; asymptote C = {f['C']:.4f} "
            f"[{f['C_interval'][0]:.4f}, {f['C_interval'][1]:.4f}] ({f['level']:.0%} interval, {f['n_boot']} "
            f"resamples of {f['method']})")


def _curve_of(run_dir: str) -> tuple[list[float], list[float]]:
    """(tokens seen, val loss) at every evaluation of one run, from its metrics.jsonl."""
    tokens, losses, per_epoch = [], [], None
    summary = read_json(Path(run_dir) / "summary.json")
    if summary.get("epochs"):
        per_epoch = summary["tokens_seen"] / summary["epochs"]
    for line in (Path(run_dir) / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
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
                f"{m['multiplier']:.2f}x" if m["multiplier"] else "beyond asymptote")
               for m in summary["methods"][1:]]
    fit_obj = _PowerLaw(**{k: ds["fit"][k] for k in ("A", "B", "C", "degenerate", "reason")})
    pngs.append(plots.plot_data_scaling(ds["x"], ds["best_losses"], fit_obj, out / "data_scaling.png",
                                        asymptote_interval=ds["fit"]["C_interval"], markers=markers))
    if fits["param_scaling"]:
        curves = [(f"{name} (D={c['budget']:g})", c["x"], c["best_losses"],
                   _PowerLaw(**{k: c["fit"][k] for k in ("A", "B", "C", "degenerate", "reason")}), c["fit"]["C_interval"])
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
    write_json(out / "summary.json", summary)
    return [out / "report.md", out / "report.html", out / "summary.json", *pngs]


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
        ("p", f"{corpus}. Base budget D0 = {summary['d0']:,.0f} unique training tokens; {summary['runs']} runs, "
              f"every number below rebuilt from the run directories under {out / 'runs'}."),
        ("h", 2, "Headline"),
        ("table", table_lines(summary, markdown=True)),
        ("p", f"Best single model: {b['method']}, val loss {b['val_loss']:.4f} nats/token, at {b['path']}."),
        ("list", [f"{m['method']}: {m['note']} ({m['path']})" for m in summary["methods"] if m["note"]]),
        ("h", 2, "How these numbers were measured"),
        ("list", [
            f"val loss: mean next-token cross-entropy (nats/token) over {_val_scope(summary, meta)} of the "
            "held-out validation documents, which never enter training or pruning; bits/byte: the same total in "
            "bits over the UTF-8 bytes of those tokens (comparable across tokenizers).",
            "multiplier: how many times D0 the standard recipe would need to reach the method's loss, "
            "D_eff(L) / D_eff(L_std(D0)) with D_eff(L) = (A / (L - C))^(1/B) from the standard law below; the "
            "interval is the 90% percentile interval over bootstrap refits of that law; 'interp.' uses only the "
            "measured standard points (piecewise linear in log D), no fit.",
            "the standard recipe got the same learning-rate and epoch search, with the local-optimality "
            "certificate, as the recipes it is compared with (DESIGN.md section 2).",
            "train FLOPs: 6 x parameters x tokens seen plus attention, summed over members for an ensemble.",
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
                             f"{ts['C']:.4f} [{ts['C_interval'][0]:.4f}, {ts['C_interval'][1]:.4f}]"
                             + (f", degenerate: {ts['reason']}" if ts["degenerate"] else ""))]
        elif ts:
            blocks += [("p", f"Two-stage asymptote: not fitted ({ts['error']})")]
        blocks += img("ensemble_k.png", "ensemble loss against the number of members")
    blocks += img("wd_epochs.png", "regularized recipe: validation loss over weight decay x epochs (best boxed)")
    blocks += img("training_curves.png", "validation loss during training of each method's best run")
    if fits["skipped"]:
        blocks += [("h", 2, "Not fitted"), ("list", [f"{k}: {v}" for k, v in fits["skipped"].items()])]
    return blocks
