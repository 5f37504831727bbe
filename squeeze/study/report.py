"""The study's headline table as data, rebuilt from the run directories under DIR/runs alone (and the ensemble
evaluations stored beside their members); squeeze/study/report_output.py writes report.md, report.html, summary.json
and the plots from it, and squeeze/cli/study.py prints it (`squeeze run`, `squeeze report DIR`).

`summarize(out)` is the one place that turns runs into the table. Every row is a configuration over its seeds: its
seed-mean loss and seed SD, its data-efficiency multiplier read against the measured standard points (squeeze/study/
noise.py: interpolation in log D, a 90% interval over seed noise, and whether the gain stands out from it), the
fitted law's multiplier as a secondary column (flagged on every row when the law is degenerate), its parameters,
its own and total training FLOPs (a student counts its teachers; an ensemble all its members) and its certificate.
`squeeze run` prints the same table from the same function, so the two can never disagree.
Run it with `squeeze report squeeze-out`; exercised by tests/test_run.py.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from squeeze import config as config_mod
from squeeze.errors import SqueezeError
from squeeze.io import read_json
from squeeze.recipes import SELECT_PREFIX, Recipe
from squeeze.runs.files import CONFIG, ENSEMBLE, SNAPSHOT_ENSEMBLE, SUMMARY
from squeeze.runs.results import locate, under_runs
from squeeze.scaling.fit import asymptote_two_stage
from squeeze.study import fits as fits_mod
from squeeze.study.certify import certify
from squeeze.study.compute import compute_of
from squeeze.study.fit_output import report_json
from squeeze.study.fits import N_BOOT, budget_of
from squeeze.study.grid import Grid, GridPoint
from squeeze.study.limits import placed, study_limits
from squeeze.study.noise import Point, asymptote_text, pooled_noise, read_multiplier, retention_interval
from squeeze.study.report_page import BASE_SIGNIFICANCE
from squeeze.study.steps import best as best_step
from squeeze.study.steps import regularized as regularized_step
from squeeze.study.steps import standard as standard_step
from squeeze.study.steps import start as start_step
from squeeze.study.steps import tuned as tuned_step
from squeeze.train.distill import retention

STUDY_FILE = "study.json"  # OUT/study.json: the preset, D0 and the seeds `squeeze run` used (and its base)
BASE_ROW = "base, no training on the domain"

# How each recipe name in a run's config.json is shown in the table, in table order.
METHOD_NAMES = {Recipe.STANDARD: "standard recipe (tuned lr, epochs)",
                Recipe.REGULARIZED: "regularized (tuned wd, epochs, lr)",
                Recipe.BEST: "best recipe (regularized + options that helped)", Recipe.DISTILL: "distilled student",
                Recipe.DISTILL_EIGHTH: "distilled student at 1/8 of the largest ensemble",
                Recipe.ENSEMBLE_MEMBER: "one ensemble member tuned for the ensemble, alone",
                Recipe.SNAPSHOT: "snapshot recipe (its last weights alone)"}
ENSEMBLE_FILE = ENSEMBLE  # written beside an ensemble's members by the study's ensemble step
# the axes each sweep step certifies, as the step itself does (squeeze/study/steps/)
CERTIFY_AXES = {Recipe.STANDARD: standard_step.AXES, Recipe.REGULARIZED: regularized_step.AXES,
                Recipe.BEST: best_step.AXES}


@dataclass
class Method:
    """One row of the headline table: a configuration over its seeds (an ensemble: one measurement)."""
    method: str
    val_loss: float  # the mean over seeds
    val_bpb: float | None  # the mean over seeds
    seeds: int
    seed_sd: float | None  # SD of the seeds' losses (None with one)
    multiplier: float | None  # primary: interpolated between measured standard points; None outside their range
    multiplier_text: str  # "1.23x [1.05, 1.41]", "< 0.5x [< 0.5, 0.81]"
    interval: tuple[float, float] | None  # 90% over seed noise (an open end is at the measured range's bound)
    interval_open: tuple[bool, bool]
    significance: str  # significant gain / significant loss / no measurable gain / reference
    law_multiplier: float | None  # secondary: the fitted standard law's D_eff ratio (extrapolates)
    law_interval: tuple[float, float] | None
    law_note: str  # e.g. the law is degenerate: said on every row
    params: int
    flops_own: float  # this model's training
    flops_total: float  # plus what it needed: a student's teachers (training and forward passes); all members
    path: str  # run directory (ensembles: the folder of members)
    certificate: str  # certified / edge / not certified / n/a
    note: str = ""
    single_model: bool = True
    budget: float = 0.0  # the unique training tokens the multiplier is read at
    retention: float | None = None  # a student: the share of its teachers' ensemble gain it keeps
    retention_interval: tuple[float, float] | None = None  # 90% over seed noise
    param_fraction: float | None = None  # a student: its parameters over its teachers' ensemble's


@dataclass(frozen=True)
class Reference:
    """What every row is read against: the standard points (best configuration per budget, over its seeds), the
    pooled seed noise, the standard law and D0."""
    points: list[Point]
    noise: tuple[float, int]
    law: fits_mod.Curve
    d0: float
    seeds: int | None  # the study's seeds per best point (study.json), None when unknown


def certificate_note(rows: list[dict], run: dict, seeds: int | None = None) -> str:
    """Whether `run` is certified locally optimal on the grid of values its recipe trained at its budget and size,
    on seed means (rebuilt from the rows, so the report needs no record of the sweep's grid). `seeds`: what the
    study gave its best points (study.json; default the most seeds of any point of the group)."""
    axes = CERTIFY_AXES.get(run["recipe"])
    if axes is None:
        return "n/a"
    group = [r for r in rows if r["recipe"] == run["recipe"] and budget_of(r) == budget_of(run)
             and (r["n_layer"], r["d_model"]) == (run["n_layer"], run["d_model"])]
    grid = Grid(lr=sorted({r["lr"] for r in group}), weight_decay=sorted({r["weight_decay"] for r in group}),
                epochs=sorted({r["epochs"] for r in group}), sizes=[(run["n_layer"], run["d_model"])],
                budgets=[run["budget_tokens"]], seeds=[min(r["seed"] for r in group)])  # --seed-offset
    seeds = seeds or max(len(b.seed_losses) for b in fits_mod.configurations(group, run["recipe"]))
    cert = certify(group, grid, axes, best_seeds=seeds)
    return cert.status if cert.certified else f"{cert.status} ({cert.describe()})"


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _row(ref: Reference, name: str, losses: tuple[float, ...], bpb: float | None, budget: float, params: int,
         flops_own: float, flops_total: float, path: str, certificate: str, note: str, single: bool) -> Method:
    """A row read against the reference: the interpolated multiplier with its interval and label, and the law's."""
    sd = Point(budget, losses).sd
    own = (sd, len(losses) - 1) if sd is not None and sd > ref.noise[0] else None
    if own:  # its seeds spread more than the pooled SD: read it with its own, wider noise
        note = f"read with its own seed SD {sd:.3f} (pooled {ref.noise[0]:.3f}); " + note
    m = read_multiplier(losses, budget, ref.points, ref.noise, own_noise=own)
    law, law_iv = _law_multiplier(ref.law, sum(losses) / len(losses), budget)
    return Method(name, sum(losses) / len(losses), bpb, len(losses), sd, m.value, m.text(), (m.lo, m.hi),
                  (m.lo_open, m.hi_open), m.label, law, law_iv, _law_note(ref.law), params, flops_own, flops_total,
                  path, certificate, note, single, budget)


def _law_multiplier(law: fits_mod.Curve, loss: float, budget: float):
    """(multiplier, interval) from the fitted standard law; None where the loss is beyond its asymptote."""
    fn = lambda f: fits_mod._multiplier(f, loss, budget)  # noqa: E731
    value = fn(law.fit.fit)
    interval = law.fit.interval(fn) if law.fit.n_valid(fn) else None
    return value, interval


def _law_note(law: fits_mod.Curve) -> str:
    f = law.fit.fit
    return f"degenerate law ({f.reason}): extrapolation unreliable, read the interpolated column" if f.degenerate \
        else ""


def _study_d0(out: Path, rows: list[dict], std_budgets: list[float]) -> float:
    """D0 from OUT/study.json, else the budget most non-standard rows were trained at."""
    if (out / STUDY_FILE).exists():
        return float(read_json(out / STUDY_FILE)["d0"])
    others = [budget_of(r) for r in rows if r["recipe"] not in (Recipe.STANDARD, Recipe.PERPLEXITY_REFERENCE)]
    return max(sorted(set(others)), key=others.count) if others else std_budgets[0]  # a tie: the smallest


def reference(out: Path, rows: list[dict], n_boot: int) -> tuple[Reference, fits_mod.FitReport]:
    rep = fits_mod.fit_all(rows, Recipe.STANDARD, None, n_boot=n_boot, joint=False)  # `squeeze fit` has the joint law
    if rep.standard is None:
        raise SqueezeError(f"{out / 'runs'}: no standard-recipe data scaling law ({rep.skipped.get('data scaling')})")
    std = rep.standard
    points = [Point(x, b.seed_losses) for x, b in std.best.items()]
    # recipes sorted: a set's order changes with each process's string hashing, and the pooled SD's sum with it in
    # the last bit (a re-run of a killed study read another seed_sd: benchmarks/kill_trials.py)
    everything = [Point(0, b.seed_losses) for recipe in sorted({r["recipe"] for r in rows})
                  for b in fits_mod.configurations(rows, recipe)]
    noise = pooled_noise(everything)
    if not noise[1]:
        raise SqueezeError(f"{out / 'runs'}: every configuration has one seed: no seed noise to read multipliers "
                           "against (train >= 2 seeds of some configuration)")
    seeds = read_json(out / STUDY_FILE).get("seeds") if (out / STUDY_FILE).exists() else None
    return Reference(points, noise, std, _study_d0(out, rows, std.x), seeds), rep


def _config_rows(rows: list[dict], recipe: str, budget: float) -> fits_mod.Best | None:
    return fits_mod.best_runs([r for r in rows if budget_of(r) == budget], recipe, by=budget_of).get(budget)


def _seed_rows(rows: list[dict], best: fits_mod.Best) -> list[dict]:
    key = fits_mod.seed_group(best.run)
    return [r for r in rows if fits_mod.seed_group(r) == key and fits_mod.is_finished(r)]


def _recipe_row(ref: Reference, rows: list[dict], recipe: str, budget: float, name: str, note: str = "",
                read_at: float | None = None) -> Method:
    """The best configuration of `recipe` at `budget` over its seeds, read at `read_at` tokens (default budget)."""
    best = _config_rows(rows, recipe, budget)
    seed_rows = _seed_rows(rows, best)
    flops = float(best.run["flops"] or 0)
    return _row(ref, name, best.seed_losses, _mean(r.get("val_bpb") for r in seed_rows), read_at or budget,
                int(best.run["params"]), flops, flops, best.run["path"], certificate_note(rows, best.run, ref.seeds),
                note, True)


def rebase(path: str, runs: Path) -> Path:
    """A run directory recorded in a file (ensemble members, a student's teachers) as it lies under `runs` now
    (`under_runs`), so a study moved or reported from another working directory still finds its own runs; a path
    with no such run under `runs` is kept as given."""
    here = under_runs(path, runs)
    return here if here is not None and (here / CONFIG).exists() else Path(path)


def ensemble_results(runs: Path) -> list[dict]:
    """Every stored ensemble evaluation under runs/ (written by the study or `squeeze ensemble`), flattened:
    size, K, mixture and product loss, bits per byte, params, member FLOPs, the K curve (mean over member orders)
    and its fit; smallest model first."""
    out = []
    for p in runs.rglob(ENSEMBLE_FILE):
        saved = read_json(p)
        if saved.get("member_recipe") == tuned_step.MEMBER_RECIPE:
            continue  # the points of the tuned members' walk: one row, the best (tuned_row)
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
                    "asymptote_text": (asymptote_text(fit["C"], *fit["C_interval"])
                                       + (" (degenerate)" if fit["degenerate"] else "")) if "C" in fit else
                    "not fitted (needs K >= 3)"})
    return sorted(out, key=lambda r: (r["member_params"], r["path"]))


def two_stage(ensembles: list[dict], n_boot: int) -> dict | None:
    """The two-stage asymptote (docs/design.md section 2): K -> inf per model size from its K curve, then N -> inf
    over sizes; None with fewer than 3 sizes."""
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
    ref, rep = reference(out, rows, n_boot)
    d0 = ref.d0
    std_here = _config_rows(rows, Recipe.STANDARD, d0)
    if std_here is None:
        raise SqueezeError(f"{runs}: no standard-recipe run at D0 = {d0:,.0f} tokens")
    methods = [_recipe_row(ref, rows, Recipe.STANDARD, d0, METHOD_NAMES[Recipe.STANDARD], "the reference every row "
                           "is read against")]
    methods[0].significance = "reference"
    study = read_json(out / STUDY_FILE) if (out / STUDY_FILE).exists() else {}
    base = study.get("base")
    if base:
        methods.insert(0, base_row(ref, runs))
    order = list(METHOD_NAMES)
    others = sorted({r["recipe"] for r in rows} - {Recipe.STANDARD, Recipe.PERPLEXITY_REFERENCE},
                    key=lambda r: (order.index(r) if r in order else 99, r))
    for recipe in [r for r in others if not r.startswith(SELECT_PREFIX)]:
        if _config_rows(rows, recipe, d0) is not None:
            methods.append(_recipe_row(ref, rows, recipe, d0, METHOD_NAMES.get(recipe, recipe)))
    ensembles = ensemble_results(runs)
    for ens in ensembles:
        product = f"; product of experts {ens['product']:.4f}" if ens.get("product") is not None else ""
        methods.append(_row(ref, f"ensemble of {ens['k']} x {ens['size']} at the single-model optimum",
                            (ens["loss"],), ens.get("bpb"),
                            d0, ens["params"], ens["flops"], ens["flops"], ens["path"], "n/a",
                            f"one ensemble: its noise counted as one seed's; mean member "
                            f"{ens['mean_member_loss']:.4f}{product}; K->inf asymptote {ens['asymptote_text']}",
                            False))
    methods += tuned_row(ref, runs)
    _add_students(methods, rows, runs, ensembles, ref.noise)
    methods += _snapshot_rows(ref, rows, d0)
    for recipe in [r for r in others if r.startswith(SELECT_PREFIX)]:
        b = fits_mod.best_runs([r for r in rows if r["recipe"] == recipe], recipe, by=lambda r: r["recipe"])[recipe]
        pool, kept = budget_of(b.run), _mean(_kept_tokens(r) for r in _seed_rows(rows, b))
        method = recipe.removeprefix(SELECT_PREFIX)
        method = "prototypes-hard" if method == "prototypes" else method  # a study before the keep rule kept hard
        rule = study.get("selection_rule") if method.startswith("prototypes-") else None
        why = f"; {rule['keep']} by the keep rule: {rule['reason']}" if rule else ""
        methods.append(_recipe_row(ref, rows, recipe, pool, f"data selection: {method}",
                                   f"kept {kept:,.0f} tokens of a {pool:,.0f}-token pool; multiplier at the kept "
                                   f"tokens{why}", read_at=kept))
    singles = [m for m in methods if m.single_model]
    best = min(singles, key=lambda m: m.val_loss)
    return {"d0": d0, "fits": report_json(rep), "methods": [asdict(m) for m in methods],
            "noise": {"seed_sd": ref.noise[0], "dof": ref.noise[1], "method": NOISE_METHOD},
            "standard_points": [{"budget": p.budget, "loss": p.mean, "seeds": p.n, "seed_sd": p.sd}
                                for p in ref.points],
            "ensembles": ensembles, "two_stage": two_stage(ensembles, n_boot),
            "limits": [placed(lim, ref.law, ref.points, ref.noise, d0)
                       for lim in study_limits(rows, ensembles, ref.noise, d0, one_base=bool(base))],
            **({"base": {**base, "note": base_note(base)}} if base else {}),
            **({"not_measured": {"data selection": study["selection_skipped"]}} if "selection_skipped" in study
               else {}),
            "best_model": {"method": best.method, "path": best.path, "val_loss": best.val_loss,
                           "val_bpb": best.val_bpb},
            "compute": compute_of(out, rows), "runs": len(rows),
            "val_tokens": sorted({int(r["val_tokens"]) for r in rows
                                  if r.get("val_tokens") and r["recipe"] != Recipe.PERPLEXITY_REFERENCE})}


NOISE_METHOD = ("hierarchical parametric bootstrap: the seed SD pooled over every configuration with >= 2 seeds "
                "and redrawn from its chi-square distribution, then each point's seed mean redrawn as "
                "N(mean, SD^2 / seeds); the multiplier interpolated in log D between the redrawn standard points")


def base_note(base: dict) -> str:
    return (f"continued pretraining from the base {base['path']} ({base['kind']}, {base['n_layer']} x "
            f"{base['d_model']}): every run starts from it; the sizes the study varies are fixed to the base's, so "
            "the parameter-scaling rows read 'not applicable: one base'; multipliers are in domain tokens")


def base_row(ref: Reference, runs: Path) -> Method:
    """The base itself on the domain's validation split (OUT/runs/base/base.json, the study's `base` step): the
    domain tokens the standard recipe needs to match it, in place of a multiplier (it trained on none)."""
    b = read_json(runs / start_step.NAME / start_step.FILE)
    m = read_multiplier((b["val_loss"],), ref.d0, ref.points, ref.noise)
    lo, hi = ref.points[0].budget, ref.points[-1].budget
    worth = (f"worth {m.value * ref.d0:,.0f} domain tokens" if m.value is not None else
             f"worth < {lo:,.0f} domain tokens" if m.text().startswith("<") else f"worth > {hi:,.0f} domain tokens")
    return Method(BASE_ROW, b["val_loss"], b["val_bpb"], 1, None, None, worth, None, (False, False),
                  BASE_SIGNIFICANCE, None, None, _law_note(ref.law), int(b["params"]), 0.0, 0.0,
                  str(runs / start_step.NAME), "n/a", "the base's loss before any training on the domain; its "
                  "'multiplier' column is the domain tokens the standard recipe needs to reach it",
                  single_model=False, budget=0.0)


def _kept_tokens(row: dict) -> float:
    """The tokens a data subset kept, in the units of data.budget_tokens (its mask's count; the loader's
    unique_tokens drop a partial last window, as they do for the standard runs it is read against)."""
    mask = config_mod.load(str(Path(row["path"]) / CONFIG)).data.keep_mask
    path = Path(locate(mask, Path(row["path"])))
    found = read_json(path).get("kept_tokens") if path.exists() else None
    return float(found if found is not None else row["unique_tokens"])


def _snapshot_rows(ref: Reference, rows: list[dict], d0: float) -> list[Method]:
    """The snapshot ensemble's rows: each seed's one cyclic run scored as the uniform mixture of its snapshots and as
    the mixture with weights and a top-k learned on the run's fitness slice (snapshot_ensemble.json, written by the
    study's snapshot step), its FLOPs those of the one run."""
    best = _config_rows(rows, Recipe.SNAPSHOT, d0)
    if best is None:
        return []
    evals = [read_json(Path(r["path"]) / SNAPSHOT_ENSEMBLE) for r in _seed_rows(rows, best)
             if (Path(r["path"]) / SNAPSHOT_ENSEMBLE).exists()]
    if not evals:
        return []
    k, flops = len(evals[0]["member_losses"]), float(best.run["flops"] or 0)
    last = _mean(e["member_losses"][-1] for e in evals)
    where = str(Path(best.run["path"]).parent)
    learned = [e for e in evals if e.get("learned") is not None]
    out = [_row(ref, f"snapshot ensemble of {k} cycles, uniform", tuple(e["mixture"] for e in evals),
                _mean(e.get("mixture_bpb") for e in evals), d0, evals[0]["params"], flops, flops, where, "n/a",
                f"one run of {k} lr cycles per seed, the ensemble of its snapshots; its last snapshot alone "
                f"{last:.4f}" + ("" if learned else "; no learned top-k: the runs held out no fitness slice (no "
                                 "whole documents of the budget form one within twice its size)"), False)]
    if learned:
        tops = sorted({(e.get("learned_weights") or {}).get("top_k", k) for e in learned})
        out.append(_row(ref, f"snapshot ensemble of {k} cycles, learned top-k",
                        tuple(e["learned"] for e in learned), None, d0, evals[0]["params"], flops, flops, where,
                        "n/a", f"softmax mixture weights and the top-k ({', '.join(map(str, tops))} of {k} by seed) "
                        f"fitted on a fitness slice of "
                        f"{learned[0]['learned_weights']['fitness_tokens'] + 1:,} tokens held out of the run's "
                        "training documents (never validation) and counted in its budget", False))
    return out


def tuned_row(ref: Reference, runs: Path) -> list[Method]:
    """The ensemble of members tuned for the ensemble: the best point of the step's walk (squeeze/study/steps/
    tuned.py), its certificate rebuilt from the points' ensemble losses, beside the ensemble at the single-model
    optimum of the same size and K."""
    points = []
    for p in sorted((runs / tuned_step.NAME).glob(f"*/*/*/{ENSEMBLE_FILE}")):
        saved = read_json(p)
        cfg = config_mod.load(str(rebase(saved["members"][0], runs) / CONFIG))
        t = cfg.train
        point = GridPoint(cfg.data.budget_tokens, cfg.model.n_layer, cfg.model.d_model, t.lr, t.weight_decay,
                          t.epochs, t.seed)
        points.append((point, saved, p.parent))
    if not points:
        return []
    rows = [tuned_step.result_row(point, saved["eval"]["mixture"]) for point, saved, _ in points]
    grid = Grid(lr=[points[0][0].lr], weight_decay=sorted({p.weight_decay for p, _, _ in points}),
                epochs=sorted({p.epochs for p, _, _ in points}), sizes=[(points[0][0].n_layer, points[0][0].d_model)],
                budgets=[points[0][0].budget_tokens], seeds=[points[0][0].seed])
    cert = certify(rows, grid, tuned_step.AXES)
    point, saved, where = min(points, key=lambda t: t[1]["eval"]["mixture"])
    e, k = saved["eval"], len(saved["members"])
    flops = sum(float(m.get("flops") or 0) for m in saved.get("member_summaries", []))
    status = cert.status if cert.certified else f"{cert.status} ({cert.describe()})"
    return [_row(ref, f"ensemble of {k} x {point.n_layer}x{point.d_model} tuned for the ensemble",
                 (e["mixture"],), e.get("mixture_bpb"), ref.d0, e["params"], flops, flops, str(where), status,
                 f"members at wd {point.weight_decay:g}, {point.epochs} epochs (the walk began at 2x the single "
                 f"model's epochs and 1/2 its weight decay; {len(points)} points tried); mean member "
                 f"{e['mean_member_loss']:.4f}; one ensemble: its noise counted as one seed's", False)]


# Every seed of a student learns from the same ensemble, so its interval holds the students' seed noise only. In the
# default study a rounding-level change in the teachers (their own losses within 0.003 nats) moved all three seeds'
# students 0.03-0.05 nats together (benchmarks/RESULTS.md): more than their seed SD, and enough to flip a label.
TEACHER_NOISE = ("its interval is over the students' seeds, all taught by this one ensemble: the teachers' own noise "
                 "is not in it (in the default study, a rounding-level change in the teachers moved every seed's "
                 "student together by more than the seeds' spread)")


def _add_students(methods: list[Method], rows: list[dict], runs: Path, ensembles: list[dict],
                  noise: tuple[float, int]) -> None:
    """The distilled students' rows: FLOPs counted whole (the teachers' training and the forward passes that taught
    them) and the share of their teachers' ensemble gain each keeps, with its 90% interval over seed noise (Kim et
    al.: 83% at 1/8 of the parameters)."""
    students = {METHOD_NAMES[Recipe.DISTILL], METHOD_NAMES[Recipe.DISTILL_EIGHTH]}
    for m in methods:
        if m.method not in students:
            continue
        teachers = [str(rebase(t, runs)) for t in config_mod.load(str(Path(m.path) / CONFIG)).distill.teacher_dirs()]
        teacher_flops = sum(float(read_json(Path(t) / SUMMARY).get("flops") or 0) for t in teachers)
        forward = float(read_json(Path(m.path) / SUMMARY).get("teacher_forward_flops") or 0)
        m.flops_total = m.flops_own + forward + teacher_flops
        m.note = f"{TEACHER_NOISE}; {m.note}".strip("; ")
        ens = next((e for e in ensembles if teachers == e["members"]), None)
        if ens is None:
            continue
        r = retention(ens["mean_member_loss"], m.val_loss, ens["loss"], m.params, ens["params"])
        m.retention, m.param_fraction = r["retention"], r["param_ratio"]
        run = next(x for x in rows if x["path"] == m.path)
        losses = [x["val_loss"] for x in rows if fits_mod.seed_group(x) == fits_mod.seed_group(run)
                  and fits_mod.is_finished(x)]
        m.retention_interval = retention_interval(ens["mean_member_loss"], ens["k"], losses, ens["loss"], noise)
        kept = ("n/a (the ensemble is no better)" if r["retention"] is None else
                f"{r['retention']:.0%} [{m.retention_interval[0]:.0%}, {m.retention_interval[1]:.0%}]")
        m.note = (f"keeps {kept} of the {ens['k']} x {ens['size']} ensemble's gain at 1/{1 / r['param_ratio']:.3g} "
                  f"of its parameters; total FLOPs include its teachers' training and {forward:.3g} FLOPs of their "
                  "forward passes; " + m.note).strip("; ")
