"""The report of benchmarks/pruning_frontier.py from its cell rows alone: the frontier and its two fits, the verdict
on the exponential form, easy minus hard per pool with the sign change, the best kept fraction per pool; a markdown
table, a plot (loss against kept tokens on log axes, for each method one line per pool that ends at the pool's
unpruned run, the frontier and both fits) and the measured rule for squeeze/prune/keep_rule.py. The math is
squeeze/scaling/frontier.py's.
Exercised by tests/test_benchmarks.py on a fake set of rows.
"""
import json
import pprint
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter

from squeeze.scaling.frontier import Cell, compare_forms, frontier, regime, sign_change

EASY, HARD = "prototypes-easy", "prototypes-hard"


def _cells(rows: list[dict]) -> list[Cell]:
    return [Cell(r["method"], r["pool"], r["kept"], tuple(r["losses"])) for r in rows if r["losses"]]


def build(rows: list[dict], n_boot: int = 200, hours: float | None = None) -> dict:
    """Every figure the report shows, as plain data (JSON-ready)."""
    cells = _cells(rows)
    pts = frontier(cells)
    forms = None
    if len(pts) >= 4:
        cmp = compare_forms(cells, n_boot=n_boot)
        forms = {"power_law": {"A": cmp.power.A, "B": cmp.power.B, "C": cmp.power.C, "loso_rms": cmp.rms_power,
                               "loso_rms_interval": list(cmp.rms_power_ci), "degenerate": cmp.power.reason},
                 "exponential": {"A": cmp.exp.A, "D_s": cmp.exp.D_s, "C": cmp.exp.C, "loso_rms": cmp.rms_exp,
                                 "loso_rms_interval": list(cmp.rms_exp_ci)},
                 "power_minus_exp": cmp.diff, "power_minus_exp_interval": list(cmp.diff_ci),
                 "verdict": cmp.verdict, "n_boot": n_boot}
    reg = regime(cells, EASY, HARD)
    best = {}
    for c in cells:
        if c.pool not in best or c.mean < best[c.pool]["loss"]:
            best[c.pool] = {"pool": c.pool, "method": c.method, "kept": c.kept, "loss": c.mean}
    return {"rows": rows, "hours": hours,
            "frontier": [{"kept": p.kept, "loss": p.loss, "method": p.method, "pool": p.pool} for p in pts],
            "forms": forms,
            "regime": [{"pool": r.pool, "easy_minus_hard": r.diff, "interval": list(r.interval),
                        "fractions": r.fractions, "keep": r.keep} for r in reg],
            "sign_change": sign_change(reg), "best_per_pool": [best[p] for p in sorted(best)]}


def _cell_text(r: dict) -> str:
    v = r["losses"]
    if not v:
        return "-"
    sd = f" ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else ""
    flag = "" if r["certificate"] == "certified" else f" ({r['certificate']})"
    return f"{np.mean(v):.4f}{sd} ({len(v)}, {r['epochs']} ep){flag}"


def markdown(rep: dict) -> str:
    rows = rep["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows if r["fraction"] < 1))
    lines = ["| pool | kept | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for pool in sorted({r["pool"] for r in rows}):
        here = [r for r in rows if r["pool"] == pool]
        for f in sorted({r["fraction"] for r in here}):
            by = {r["method"]: r for r in here if r["fraction"] == f}
            if f >= 1:
                full = next(iter(by.values()))
                lines.append(f"| {pool:,} | all {full['kept']:,} | full pool: {_cell_text(full)} |"
                             + " |" * (len(methods) - 1))
                continue
            lines.append(f"| {pool:,} | {f:g} ({round(f * pool):,}) | "
                         + " | ".join(_cell_text(by[m]) if m in by else "-" for m in methods) + " |")
    lines += ["", "Loss: seed mean ± seed SD (seeds, certified epochs); 90% intervals over seed noise below."]
    if any(r["certificate"] == "capped" for r in rows):
        lines.append("A cell marked capped has its best at the walk's ceiling of epochs, still better there than a "
                     "step below: its loss is an upper bound on the cell's optimum.")
    lines.append("")
    lines += _verdicts(rep)
    return "\n".join(lines)


def _verdicts(rep: dict) -> list[str]:
    out = []
    if (f := rep["forms"]) is not None:
        pw, ex = f["power_law"], f["exponential"]
        out.append(f"- Frontier form (leave-one-size-out RMS error, nats): power law {pw['loso_rms']:.4f} "
                   f"[{pw['loso_rms_interval'][0]:.4f}, {pw['loso_rms_interval'][1]:.4f}], exponential "
                   f"{ex['loso_rms']:.4f} [{ex['loso_rms_interval'][0]:.4f}, {ex['loso_rms_interval'][1]:.4f}]; "
                   f"power minus exponential {f['power_minus_exp']:+.4f} [{f['power_minus_exp_interval'][0]:+.4f}, "
                   f"{f['power_minus_exp_interval'][1]:+.4f}]: **{f['verdict']}**.")
        out.append(f"- Fits on the whole frontier: L = {pw['A']:.3g}/D^{pw['B']:.3f} + {pw['C']:.3f}"
                   f"{' (' + pw['degenerate'] + ')' if pw['degenerate'] else ''}; L = {ex['A']:.3g} exp(-D/"
                   f"{ex['D_s']:,.0f}) + {ex['C']:.3f}.")
    else:
        out.append("- Frontier form: fewer than 4 kept sizes, no leave-one-size-out comparison.")
    for r in rep["regime"]:
        out.append(f"- Pool {r['pool']:,}: easy minus hard {r['easy_minus_hard']:+.4f} nats [{r['interval'][0]:+.4f}, "
                   f"{r['interval'][1]:+.4f}] over {r['fractions']} kept fractions: keep **{r['keep']}**.")
    s = rep["sign_change"]
    out.append("- Easy vs hard: the sign does not change over these pools." if s is None else
               f"- Easy vs hard: the sign changes from {s['from']} to {s['to']} between pools {s['between'][0]:,} "
               f"and {s['between'][1]:,} (crossing ~{s['pool']:,} tokens, "
               f"{'both sides beyond noise' if s['beyond_noise'] else 'not beyond noise on both sides'}).")
    out += [f"- Best cell at pool {b['pool']:,}: {b['method']} keeping {b['kept']:,} tokens ({b['loss']:.4f})."
            for b in rep["best_per_pool"]]
    return out


def plot(rep: dict, path: Path) -> None:
    fig = Figure(figsize=(8, 5))  # no pyplot: no global state, no display backend
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rows = [r for r in rep["rows"] if r["losses"]]
    full = {r["pool"]: r for r in rows if r["fraction"] == 1.0}
    for k, m in enumerate(dict.fromkeys(r["method"] for r in rows)):
        for j, pool in enumerate(sorted({r["pool"] for r in rows if r["method"] == m})):
            # one line per pool, ending at that pool's unpruned run; lines of different pools are not joined
            mine = [r for r in rows if r["method"] == m and r["pool"] == pool] + ([full[pool]] if pool in full else [])
            pts = sorted({(r["kept"], float(np.mean(r["losses"]))) for r in mine})
            ax.plot(*zip(*pts), marker="o", ms=3, lw=1, color=f"C{k}", label=None if j else m)
    fr = rep["frontier"]
    ax.plot([p["kept"] for p in fr], [p["loss"] for p in fr], color="black", lw=2.5, alpha=0.5, label="frontier")
    if (f := rep["forms"]) is not None:
        D = np.geomspace(fr[0]["kept"], fr[-1]["kept"], 200)
        pw, ex = f["power_law"], f["exponential"]
        ax.plot(D, pw["A"] / D ** pw["B"] + pw["C"], "k--", lw=1, label="power-law fit")
        ax.plot(D, ex["A"] * np.exp(-D / ex["D_s"]) + ex["C"], "k:", lw=1.5, label="exponential fit")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):  # 4.5, not 4.5 x 10^0
        axis(FormatStrFormatter("%.1f"))
    ax.set_xlabel("kept tokens")
    ax.set_ylabel("validation loss (nats/token)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write(rep: dict, out: Path) -> list[Path]:
    paths = [out / "pruning_frontier.json", out / "pruning_frontier.md", out / "pruning_frontier.png"]
    paths[0].write_text(json.dumps(rep, indent=1) + "\n")
    paths[1].write_text(markdown(rep) + "\n")
    plot(rep, paths[2])
    return paths


def rule(rep: dict) -> dict:
    """The measured easy-vs-hard rule (squeeze/prune/rule.py reads it): per pool, the direction beyond noise, or
    "either" with the point estimate's sign."""
    pools = [{"pool": r["pool"], "keep": r["keep"], "diff": round(r["easy_minus_hard"], 5),
              "interval": None if any(np.isnan(r["interval"])) else [round(v, 5) for v in r["interval"]]}
             for r in rep["regime"]]  # None: a one-seed cell, no noise measured
    by_keep = {k: [f"{p['pool']:,}" for p in pools if p["keep"] == k] for k in ("easy", "hard", "either")}
    said = [f"{k} at {' and '.join(v)} tokens" + (" (no measurable difference)" if k == "either" else "")
            for k, v in by_keep.items() if v]
    s = rep["sign_change"]
    change = ("the sign does not change over these pools" if s is None else
              f"the sign changes between {s['between'][0]:,} and {s['between'][1]:,} tokens")
    return {"measured": True, "source": "benchmarks/pruning_frontier.py (prototypes-easy vs prototypes-hard, "
                                        "seed means, 90% intervals over seeds)",
            "default": "easy" if pools and pools[0]["diff"] < 0 else "hard",
            "reason": f"measured easy minus hard per pool size: {'; '.join(said)}; {change}", "pools": pools}


RULE_DOC = '''\
"""The easy-vs-hard rule that the study's selection step and `squeeze prune` follow (read by squeeze/prune/rule.py).

Written by benchmarks/pruning_frontier.py --write-rule from its finished run: per pool size, prototypes-easy minus
prototypes-hard (seed-mean loss, averaged over the kept fractions below 1) with its 90% interval over seeds, and the
direction to keep ("either" where the interval holds 0). Rerun that benchmark to change it, rather than editing it.
"""'''


def write_rule(rep: dict, path: Path) -> Path:
    path.write_text(f"{RULE_DOC}\n\nRULE = {pprint.pformat(rule(rep), width=110, sort_dicts=False)}\n")
    return path
