"""`squeeze fit PATH [PATH ...]`: the scaling-law fits and the data-efficiency table of docs/design.md section 2,
from run directories alone (squeeze/study/fits.py computes, squeeze/study/fit_output.py writes fits.json and the plots);
this module parses the flags and prints the fits as text. Exercised by tests/test_fits.py.
"""
from pathlib import Path

from squeeze.cli import checks
from squeeze.errors import SqueezeError
from squeeze.io import write_json
from squeeze.study.fit_output import report_json, write_plots
from squeeze.study.fits import N_BOOT, ConstrainedFit, Curve, FitReport, JointFit, fit_all, load_rows


def add_fit_parser(subparsers) -> None:
    f = subparsers.add_parser("fit", help="scaling-law fits and data-efficiency multipliers from run directories")
    f.add_argument("paths", nargs="+", metavar="PATH", help="a run directory or a folder of run directories")
    f.add_argument("--out", default=None, help="where fits.json and the plots go (default: the first PATH)")
    f.add_argument("--recipe", default="standard", help="the baseline recipe the others are measured against")
    f.add_argument("--base-budget", type=float, default=None,
                   help="budget at which recipes are compared (default: the smallest standard budget, D0)")
    f.add_argument("--n-boot", type=int, default=N_BOOT, help=f"bootstrap resamples per interval (default {N_BOOT})")




def _iv(value: float, interval) -> str:
    return f"{value:.4g} [{interval[0]:.4g}, {interval[1]:.4g}]"


def _describe_curve(title: str, var: str, c: Curve) -> list[str]:
    f, w = c.fit.fit, c.fit
    lines = [f"{title}: L({var}) = A/{var}^B + C over {len(c.x)} points"]
    for x, b in c.best.items():
        r = b.run
        lines.append(f"  {var} = {x:<10g} best loss {b.loss:.4f} ({len(b.seed_losses)} seed(s); {r['params']:,} "
                     f"params, lr {r['lr']:g}, wd {r['weight_decay']:g}, {r['epochs']} epochs)")
    if f.degenerate:
        return lines + [f"  degenerate fit, no asymptote reported: {f.reason}"]
    return lines + [f"  A = {_iv(f.A, w.A)}  B = {_iv(f.B, w.B)}  asymptote C = {_iv(f.C, w.C)}  "
                    f"({w.level:.0%} intervals, {len(w.boot_fits)} resamples of {w.method})"]


def _describe_joint(j: JointFit) -> list[str]:
    f, w = j.result.fit, j.result
    head = (f"joint law, recipe {j.recipe!r}: L(N, D) = E + A/N^alpha + B/D^beta, N = params, D = tokens seen; "
            f"{len(j.points)} points ({j.n_sizes} sizes, {j.n_budgets} budgets)")
    if j.reason:
        return [head, f"  not identifiable, no asymptote reported: {j.reason}"]
    return [head, f"  asymptote E = {_iv(f.E, w.E)}  ({w.level:.0%} intervals, {w.n_boot} resamples of points)",
            f"  A = {_iv(f.A, w.A)}  alpha = {_iv(f.alpha, w.alpha)}  B = {_iv(f.B, w.B)}  "
            f"beta = {_iv(f.beta, w.beta)}"]


def _describe_constrained(c: ConstrainedFit) -> list[str]:
    b, f = c.base, c.fit
    lines = [f"data-constrained law, recipe {c.recipe!r}: base law from {c.n_single} single-epoch runs: E = {b.E:.4g}, "
             f"A = {b.A:.4g}, alpha = {b.alpha:.4g}, B = {b.B:.4g}, beta = {b.beta:.4g}",
             f"  decay constants from {c.n_points} runs: R_D* = {f.R_D_star:.4g} (repeated data keeps its value for "
             f"~R_D* epochs), R_N* = {f.R_N_star:.4g} (published: 15.4 and 5.3); point fit, no interval"]
    return lines + ([f"  {f.note}"] if f.note else [])


def _describe_table(rep: FitReport) -> list[str]:
    lines = [f"data efficiency against recipe {rep.recipe!r} (its law fitted above; interpolation over its "
             f"measured points)", f"  {'recipe':<16} {'budget':>10} {'loss':>8}  {'multiplier [90%]':<28} interp."]
    for r in rep.table:
        e = r.efficiency
        if r.best is None or e is None:
            lines.append(f"  {r.recipe:<16} {r.budget:>10g}  -  ({r.note})")
            continue
        span = f" [{r.interval[0]:.3g}, {r.interval[1]:.3g}]" if r.interval else ""
        mult = f"beyond asymptote C={e.asymptote:.4g}" if e.beyond_asymptote else f"{e.multiplier:.3g}x{span}"
        lines.append(f"  {r.recipe:<16} {r.budget:>10g} {r.best.loss:>8.4f}  {mult:<28} {e.interp_note}"
                     + (f"  ({r.note})" if r.note else ""))
    return lines if rep.table else lines[:1] + ["  (no other recipe among the runs)"]


def describe(rep: FitReport) -> str:
    """The report as text: every fit with its intervals, then the efficiency table, then what was skipped."""
    parts = []
    if rep.standard:
        parts.append(_describe_curve(f"data scaling, recipe {rep.recipe!r}", "D", rep.standard))
    for name, (budget, c) in rep.params.items():
        parts.append(_describe_curve(f"parameter scaling, recipe {name!r} at budget {budget:g}", "N", c))
    if rep.joint:
        parts.append(_describe_joint(rep.joint))
    if rep.constrained:
        parts.append(_describe_constrained(rep.constrained))
    if rep.standard:
        parts.append(_describe_table(rep))
    parts.append([f"skipped {k}: {v}" for k, v in rep.skipped.items()])
    return "\n\n".join("\n".join(p) for p in parts if p)




N_BOOT_MAX = 100_000  # bootstrap refits per interval: 100x the default, already minutes of curve fits


def check_fit(args, _overrides: list[str]) -> None:
    for path in args.paths:
        checks.existing("PATH", path, "dir")
    checks.output_dir("--out", args.out)
    checks.text("--recipe", args.recipe)
    checks.number("--base-budget", args.base_budget, 0.0, lo_open=True)
    checks.number("--n-boot", args.n_boot, 1, N_BOOT_MAX)
    checks.make_outputs(args.out or args.paths[0])


def cmd_fit(args) -> None:
    rows, n_ignored = load_rows(args.paths)
    print(f"{len(rows) + n_ignored} runs, {len(rows)} finished; ignored {n_ignored} unfinished")
    if not rows:
        raise SqueezeError(f"{', '.join(args.paths)}: no finished runs to fit")
    rep = fit_all(rows, args.recipe, args.base_budget, n_boot=args.n_boot)
    print(describe(rep))
    out = Path(args.out or args.paths[0])
    written = write_plots(rep, out)
    write_json(out / "fits.json", report_json(rep, paths=list(args.paths), runs=len(rows) + n_ignored,
                                              finished=len(rows), ignored_unfinished=n_ignored))
    print("\nwrote " + ", ".join(str(p) for p in [out / "fits.json", *written]))
