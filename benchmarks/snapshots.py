"""Snapshot ensembles at equal training FLOPs (issue 19): one run of E epochs with N lr cycles (its N snapshots as an
ensemble) against K independent members of E/K epochs each and one plain run of E epochs; each Slowrun technique
switched off one at a time; a student distilled from the snapshot ensemble; every arm on the same seeds, read as a
data-efficiency multiplier against standard-recipe points measured here.

    python benchmarks/snapshots.py                 # ~45 min on 2 cores; --out keeps the runs, a rerun resumes
    python benchmarks/snapshots.py --seeds 2 --epochs 8 --out /tmp/snap   # quicker, noisier

Scale (the default preset's model): 2 layers x d 64, context 128, batch 16, vocabulary 1024, the built-in corpus,
D = --budget unique tokens (default 80k: ~39 steps an epoch, so a 24-epoch run has ~936 steps and each of its 4
cycles ~234, the >= 200-step cycles of the NanoGPT Slowrun record's regime). Arms, all on the regularized recipe's
lr and weight decay (0.8):
  plain        one run, E epochs, cosine schedule
  snapshots    E epochs of N cycles with all the NanoGPT Slowrun record's techniques (RECORD: bounded wd
               anti-correlation, weight noise, chain distillation from the previous snapshot, one MTP head); scored
               as the uniform mixture of its snapshots
  -<technique> the same with one technique off
  cycles only  N cycles and nothing else: the `snapshot` recipe as it is now
  snapshots, learned top-k  the cycles-only run with --fitness-frac of D held out as whole documents (counted in D,
               never trained on), its mixture weights and top-k fitted there (the record's way), never on validation
  independent  K members (other seeds) of E/K epochs, the uniform mixture
  student      one E-epoch run distilled (alpha 0.5, T 1) from the cycles-only snapshot ensemble's mixture
FLOPs are counted whole from the runs' summary.json: MTP heads, snapshot teachers and the student's teacher forward
passes included, and the student's total adds its teacher's training. The standard recipe (wd 0.1, 4 tuned epochs
in {2, 4, 8}) is run at D, 2D and 4D; multipliers are read against it with the study's seed-noise intervals
(squeeze/study/noise.py). Writes OUT/snapshots.json and prints the table for benchmarks/RESULTS.md.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from squeeze import presets
from squeeze.data.prepare import ensure_store
from squeeze.evaluation.ensemble import ensemble_eval, snapshot_eval
from squeeze.io import read_json, write_json
from squeeze.runs.execute import Job, run_jobs
from squeeze.study.noise import Point, pooled_noise, read_multiplier
from squeeze.train.backend import TRAINER


def record(c) -> None:
    """The record's techniques switched on, with the values the `snapshot` recipe had before it became the cycles
    alone (wd 0.7-1.0x against the lr, 0.01 x RMS weight noise, chain distillation alpha 0.45 at T 1.2, one MTP head
    at weight 0.3)."""
    c.train.wd_cycle_min, c.train.snapshot_noise = 0.7, 0.01
    c.distill.snapshot_alpha, c.distill.snapshot_temperature = 0.45, 1.2
    c.model.mtp_heads, c.train.mtp_weight = 1, 0.3


TECHNIQUES = {  # the arm's name: how to switch the technique off
    "-wd anti-correlation": lambda c: setattr(c.train, "wd_cycle_min", 1.0),
    "-weight noise": lambda c: setattr(c.train, "snapshot_noise", 0.0),
    "-chain distillation": lambda c: setattr(c.distill, "snapshot_alpha", 0.0),
    "-MTP head": lambda c: setattr(c.model, "mtp_heads", 0),
}


def base(store: Path, budget: int, epochs: int, seed: int, recipe: str = "regularized"):
    c = presets.preset_config("default", recipe)
    c.data.path, c.data.budget_tokens = str(store), budget
    c.train.epochs, c.train.seed, c.data.seed = epochs, seed, seed
    return c


def plan(store: Path, out: Path, a) -> tuple[list[Job], dict]:
    """Every run, and which runs make each arm's measurement (per seed)."""
    jobs, arms = [], {}

    def add(name: str, seed: int, cfg, after: tuple[int, ...] = ()) -> int:
        slug = ("no_" + name[1:] if name.startswith("-") else name).replace(" ", "_").replace("-", "_")
        jobs.append(Job(cfg, out / "runs" / slug / f"seed{seed}", after))
        return len(jobs) - 1

    for s in range(a.seeds):
        arms.setdefault("plain", []).append([add("plain", s, base(store, a.budget, a.epochs, s))])
        bare = base(store, a.budget, a.epochs, s, "snapshot")  # the recipe: the cycles alone
        bare.train.lr_cycles = a.cycles
        snap = bare.copy()
        record(snap)
        arms.setdefault("snapshots", []).append([add("snapshots", s, snap)])
        learned = bare.copy()  # the record's way: a fitness slice of whole training documents, counted in D
        learned.data.fitness_tokens = int(a.budget * a.fitness_frac)
        arms.setdefault("snapshots, learned top-k", []).append([add("snapshots learned", s, learned)])
        for name, off in TECHNIQUES.items():
            c = snap.copy()
            off(c)
            arms.setdefault(name, []).append([add(name, s, c)])
        cycles = add("cycles only", s, bare)
        arms.setdefault("cycles only", []).append([cycles])
        members = []
        for k in range(a.members):
            m = base(store, a.budget, a.epochs // a.members, 1000 * (k + 1) + s)
            members.append(add(f"member{k}", s, m))
        arms.setdefault("independent", []).append(members)
        student = base(store, a.budget, a.epochs, s)
        run = jobs[cycles].run_dir
        student.distill.teachers = ",".join(str(run / f"snapshot{i:03d}.safetensors") for i in range(1, a.cycles + 1))
        student.distill.alpha, student.distill.temperature = 0.5, 1.0
        arms.setdefault("student", []).append([add("student", s, student, (cycles,)), cycles])
    for d in (1, 2, 4):
        for e in (2, 4, 8):
            for s in range(a.seeds):
                add(f"standard_D{d}_E{e}", s, base(store, d * a.budget, e, s, "standard"))
    return jobs, arms


def measure(arm: str, dirs: list[Path], cycles: int) -> dict:
    """An arm's loss on one seed (the final eval's validation tokens) and its whole training FLOPs."""
    summaries = [read_json(d / "summary.json") for d in dirs]
    flops = sum(s["flops"] + s.get("teacher_forward_flops", 0) for s in summaries)
    if arm == "independent":
        loss = ensemble_eval([str(d) for d in dirs], n_orders=0)["mixture"]
    elif arm == "student" or arm == "plain":
        loss = summaries[0]["val_loss"]
    elif arm == "snapshots, learned top-k":  # every snapshot uniform, and the learned mixture of the top-k
        r = snapshot_eval(dirs[0], n_orders=0, fit_top_k=True)
        return {"loss": r["learned"], "flops": flops, "last_snapshot": r["member_losses"][-1],
                "uniform": r["mixture"], "top_k": r["learned_weights"]["top_k"]}
    else:
        r = snapshot_eval(dirs[0], n_orders=0)
        loss = r["mixture"]
        return {"loss": loss, "flops": flops, "last_snapshot": r["member_losses"][-1], "product": r.get("product")}
    return {"loss": loss, "flops": flops}


def standard_points(jobs: list[Job], budget: int) -> tuple[list[Point], list[Point]]:
    """Per standard budget, the epochs whose seed mean is lowest (the tuned standard recipe) as one Point; and
    every standard configuration as a Point (for the pooled seed noise)."""
    by = {}
    for job in jobs:
        name = job.run_dir.parent.name
        if name.startswith("standard_"):
            d, e = (int(x[1:]) for x in name.split("_")[1:])
            by.setdefault((d, e), []).append(read_json(job.run_dir / "summary.json")["val_loss"])
    points = []
    for d in sorted({d for d, _ in by}):
        best = min((np.mean(v), tuple(v)) for (dd, _), v in by.items() if dd == d)
        points.append(Point(d * budget, best[1]))
    return points, [Point(d * budget, tuple(v)) for (d, _), v in by.items()]


def paired(diffs: list[float]) -> tuple[float, float, float]:
    """Mean of per-seed differences with its 90% t-interval."""
    x = np.asarray(diffs)
    if len(x) < 2:
        return float(x.mean()), float("nan"), float("nan")
    half = stats.t.ppf(0.95, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="snapshot-bench", help="run directories and snapshots.json")
    p.add_argument("--budget", type=int, default=80_000, help="unique training tokens D (default 80,000)")
    p.add_argument("--epochs", type=int, default=24, help="E: epochs of the plain and snapshot runs (default 24: "
                                                          "4 cycles of ~234 steps at the default D)")
    p.add_argument("--fitness-frac", type=float, default=0.1, help="the learned arm's fitness slice, a share of D")
    p.add_argument("--cycles", type=int, default=4, help="N: lr cycles and snapshots (default 4)")
    p.add_argument("--members", type=int, default=4, help="K: independent members of E/K epochs (default 4)")
    p.add_argument("--seeds", type=int, default=3, help="seeds of every arm (default 3)")
    p.add_argument("--workers", type=int, default=2, help="parallel 1-thread training processes (default 2)")
    a = p.parse_args()
    out = Path(a.out)
    store = ensure_store(None, out, 1024)
    jobs, arms = plan(store, out, a)
    print(f"{len(jobs)} runs (finished ones are read back)", file=sys.stderr)
    run_jobs(jobs, TRAINER, workers=a.workers)
    best, all_points = standard_points(jobs, a.budget)
    noise = pooled_noise(all_points)
    rows, plain = {}, None
    for arm, per_seed in arms.items():
        got = [measure(arm, [jobs[i].run_dir for i in idx], a.cycles) for idx in per_seed]
        rows[arm] = {"losses": [g["loss"] for g in got], "flops": float(np.mean([g["flops"] for g in got])),
                     **{key: [g[key] for g in got] for key in ("last_snapshot", "uniform", "top_k") if key in got[0]}}
        if arm == "plain":
            plain = rows[arm]
    for arm, r in rows.items():
        m = read_multiplier(r["losses"], a.budget, best, noise)
        r["multiplier"], r["significance"] = m.text(), m.label
        r["vs_plain"] = paired([x - y for x, y in zip(r["losses"], plain["losses"])])
        r["flops_vs_plain"] = r["flops"] / plain["flops"]
    result = {"budget": a.budget, "epochs": a.epochs, "cycles": a.cycles, "members": a.members, "seeds": a.seeds,
              "noise_sd": noise[0], "noise_dof": noise[1],
              "standard": [{"budget": pt.budget, "losses": pt.losses} for pt in best], "arms": rows}
    write_json(out / "snapshots.json", result)
    steps = jobs[arms["snapshots"][0][0]].run_dir / "summary.json"
    cycle_steps = read_json(steps)["steps"] / a.cycles
    print(f"D = {a.budget:,} tokens, E = {a.epochs} epochs, N = {a.cycles} cycles of {cycle_steps:.0f} steps, "
          f"K = {a.members} members, {a.seeds} seeds; pooled seed SD {noise[0]:.4f}")
    learned = rows["snapshots, learned top-k"]
    print(f"learned arm: uniform mixture of the same runs {np.mean(learned['uniform']):.4f}, top-k kept "
          f"{learned['top_k']}, fitness slice {a.fitness_frac:.0%} of D (its tokens are not trained on)")
    print("| arm | loss (seed mean) | vs plain, nats [90%] | multiplier [90%] | training FLOPs / plain |")
    print("|---|---|---|---|---|")
    for arm, r in rows.items():
        d, lo, hi = r["vs_plain"]
        vs = "" if arm == "plain" else f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
        print(f"| {arm} | {np.mean(r['losses']):.4f} | {vs} | {r['multiplier']} ({r['significance']}) | "
              f"{r['flops_vs_plain']:.2f} |")
    print(json.dumps({"standard": result["standard"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
