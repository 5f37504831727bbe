"""`squeeze fit`'s files: fits.json and the data- and parameter-scaling plots of a FitReport (squeeze/study/fits.py
computes it; squeeze/study/plots.py draws). Exercised by tests/test_fits.py through `squeeze fit`.
"""
from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

from squeeze.study import plots
from squeeze.study.fits import Curve, EfficiencyRow, FitReport, JointFit


def _num(v):
    """JSON has no inf or nan: such values are written as strings ("inf")."""
    return v if v is None or math.isfinite(v) else str(v)


def _curve_json(c: Curve) -> dict:
    f, w = c.fit.fit, c.fit
    runs = [{"name": b.run.get("name"), "seed_losses": list(b.seed_losses),
             **{k: b.run.get(k) for k in ("params", "lr", "weight_decay", "epochs")}} for b in c.best.values()]
    return {"x": c.x, "best_losses": c.best_losses, "best_runs": runs,
            "fit": {"A": f.A, "B": f.B, "C": f.C, "A_interval": list(w.A), "B_interval": list(w.B),
                    "C_interval": list(w.C), "degenerate": f.degenerate, "reason": f.reason, "rss": f.rss,
                    "level": w.level, "method": w.method, "n_boot": len(w.boot_fits)}}


def _row_json(r: EfficiencyRow) -> dict:
    d = {"recipe": r.recipe, "budget": r.budget, "loss": r.best and r.best.loss,
         "seed_losses": r.best and list(r.best.seed_losses), "note": r.note}
    if r.efficiency is not None:  # DataEfficiency's fields: multiplier, interp_multiplier, reference_loss, ...
        d.update({k: _num(v) if isinstance(v, float) else v for k, v in asdict(r.efficiency).items()},
                 multiplier_interval=r.interval and list(r.interval), n_valid=r.n_valid, n_boot=r.n_boot)
    return d


def _joint_json(j: JointFit) -> dict:
    f, w = j.result.fit, j.result
    names = ("E", "A", "alpha", "B", "beta")
    return {"recipe": j.recipe, "points": [list(p) for p in j.points], "reason": j.reason,
            **{k: getattr(f, k) for k in names}, **{f"{k}_interval": list(getattr(w, k)) for k in names},
            "objective": f.objective, "level": w.level, "n_boot": w.n_boot}


def report_json(rep: FitReport, **meta) -> dict:
    return {**meta, "standard_recipe": rep.recipe,
            "data_scaling": rep.standard and _curve_json(rep.standard),
            "param_scaling": {k: {"budget": b, **_curve_json(c)} for k, (b, c) in rep.params.items()},
            "joint": rep.joint and _joint_json(rep.joint),
            "data_constrained": rep.constrained and {
                "recipe": rep.constrained.recipe, "n_single_epoch": rep.constrained.n_single,
                "n_points": rep.constrained.n_points, "R_D_star": rep.constrained.fit.R_D_star,
                "R_N_star": rep.constrained.fit.R_N_star, "note": rep.constrained.fit.note,
                **{k: getattr(rep.constrained.base, k) for k in ("E", "A", "alpha", "B", "beta")}},
            "efficiency": [_row_json(r) for r in rep.table], "skipped": rep.skipped}


def _marker(r: EfficiencyRow) -> tuple:
    """(legend label, budget, loss, the budget its interpolated multiplier was read at, text) for plots.py: the
    line ends on the measured points' envelope, drawn always; 0 / inf for a bound below / above their range."""
    e = r.efficiency
    text = "beyond the standard asymptote" if e.beyond_asymptote else f"law {e.multiplier:.3g}x"
    span = f" [{r.interval[0]:.3g}, {r.interval[1]:.3g}]" if r.interval and not e.beyond_asymptote else ""
    label = f"{r.recipe} at D={r.budget:g}"
    note = e.interp_note.split(" (")[0]
    reach = r.budget * e.interp_multiplier if e.interp_multiplier else \
        math.inf if note.startswith(">") else 0.0 if note.startswith("<") else None
    return label, r.budget, r.best.loss, reach, f"interp. {note}, {text}{span}"


def write_plots(rep: FitReport, out: Path) -> list[Path]:
    written = []
    if rep.standard:
        c, markers = rep.standard, [_marker(r) for r in rep.table if r.efficiency is not None]
        bests = list(c.best.values())
        sds = [float(np.std(b.seed_losses, ddof=1)) if len(b.seed_losses) > 1 else None for b in bests]
        written.append(plots.plot_data_scaling(c.x, c.best_losses, c.fit.fit, out / "data_scaling.png",
                                               sds=sds, seeds=[len(b.seed_losses) for b in bests],
                                               asymptote_interval=c.fit.C, markers=markers, recipe=rep.recipe))
    if rep.params:
        curves = [(f"{name} (D={b:g})", c.x, c.best_losses, c.fit.fit, c.fit.C) for name, (b, c) in rep.params.items()]
        written.append(plots.plot_param_scaling(curves, out / "param_scaling.png"))
    return written
