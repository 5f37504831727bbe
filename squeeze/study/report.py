"""The study's headline table as data, rebuilt from the run directories under DIR/runs alone (and the ensemble
evaluations stored beside their members); squeeze/study/report_output.py writes report.md, report.html, summary.json
and the plots from it, and squeeze/cli/study.py prints it (`squeeze run`, `squeeze report DIR`).

`summarize(out)` is the one place that turns runs into the headline table: every method's best validation loss and
bits per byte at D0, its data-efficiency multiplier against the standard recipe's law (with a 90% bootstrap
interval and the interpolation-only figure), its parameters and training compute, and the single best model.
`squeeze run` prints the same table from the same function, so the two can never disagree.
Run it with `squeeze report squeeze-out`; exercised by tests/test_run.py.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from squeeze import recipes
from squeeze.errors import SqueezeError
from squeeze.io import read_json
from squeeze.runs.files import CONFIG, ENSEMBLE, SUMMARY
from squeeze.study import fits as fits_mod
from squeeze.study.fit_output import report_json
from squeeze.study.fits import N_BOOT, budget_of

# How each recipe name in a run's config.json is shown in the table, in table order.
METHOD_NAMES = {"standard": "standard recipe (tuned lr, epochs)", "regularized": "regularized (tuned wd, epochs, lr)",
                "best": "best recipe (regularized + options that helped)", "distill": "distilled student",
                "ensemble_member": "ensemble member (2x epochs, wd/2)"}
ENSEMBLE_FILE = ENSEMBLE  # written beside an ensemble's members by the study's ensemble step


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
    return here if (here / CONFIG).exists() else Path(path)


def ensemble_results(runs: Path) -> list[dict]:
    """Every stored ensemble evaluation under runs/ (written by the study or `squeeze ensemble`), flattened:
    size, K, mixture and product loss, bits per byte, params, member FLOPs, the K curve (mean over member orders)
    and its fit; smallest model first."""
    from squeeze import config as config_mod
    out = []
    for p in runs.rglob(ENSEMBLE_FILE):
        saved = read_json(p)
        members = [str(rebase(d, runs)) for d in saved["members"]]
        e, first = saved["eval"], config_mod.load(str(Path(members[0]) / CONFIG))
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
    return {"d0": d0, "fits": report_json(rep), "methods": [asdict(m) for m in methods],
            "ensembles": ensembles, "two_stage": two_stage(ensembles, n_boot),
            "best_model": {"method": best.method, "path": best.path, "val_loss": best.val_loss,
                           "val_bpb": best.val_bpb},
            "runs": len(rows), "val_tokens": sorted({int(r["val_tokens"]) for r in rows if r.get("val_tokens")
                                                     and r["recipe"] != recipes.PERPLEXITY_REFERENCE})}


def _add_retention(methods: list[Method], runs: Path, ensembles: list[dict]) -> None:
    """Note on the distilled student's row: the share of its teachers' ensemble gain it keeps (Kim et al.: 83% at
    1/8 of the parameters), with the teachers' mean member loss as the single model."""
    from squeeze import config as config_mod
    from squeeze.train.distill import retention
    for m in methods:
        if m.method != METHOD_NAMES["distill"]:
            continue
        teachers = config_mod.load(str(Path(m.path) / CONFIG)).distill.teacher_dirs()
        ens = next((e for e in ensembles if [str(rebase(t, runs)) for t in teachers] == e["members"]), None)
        if ens is None:
            continue
        r = retention(ens["mean_member_loss"], m.val_loss, ens["loss"], m.params, ens["params"])
        kept = "n/a (the ensemble is no better)" if r["retention"] is None else f"{r['retention']:.0%}"
        summary = read_json(Path(m.path) / SUMMARY)
        m.note = (f"keeps {kept} of the {ens['k']}-member ensemble's gain at {r['param_ratio']:.3g}x its parameters; "
                  f"teacher forward {summary.get('teacher_forward_flops', 0):.3g} FLOPs on top; " + m.note).strip("; ")
