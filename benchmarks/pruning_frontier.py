"""The data-pruning frontier (issue 35): every selection method at every kept fraction of several pool sizes, so that
Sorscher et al. 2022's three claims can be read off one table: loss falls exponentially in the kept data (or as a
power law), easy examples win when data is scarce and hard ones when it is plentiful, and the kept fraction that
pays shrinks as the pool grows.

    python benchmarks/pruning_frontier.py --estimate      # ~1 min: time one short run, print the plan and hours
    python benchmarks/pruning_frontier.py --out frontier --carry benchmarks/pruning_frontier_state.tar.xz
                                                          # run it; kill it any time and run it again to resume
    python benchmarks/pruning_frontier.py --smoke --out /tmp/frontier-smoke   # every code path in a few minutes
    python benchmarks/pruning_frontier.py --interim --out frontier --boot 20  # the table so far, nothing trained

Design: pools of 25k, 100k and 400k tokens (the first tokens of the built-in corpus's ~200-token training pieces,
vocabulary 1024), kept fractions 0.25, 0.5, 0.75 and 1.0 of each pool's tokens; methods prototypes-easy,
prototypes-hard, SemDeDup, perplexity (low, middle and high slice) and random (drawn anew for each seed); at 1.0
every method keeps the whole pool, so that is one cell per pool ("full pool"). Every cell trains the default
preset's main size (2 x 64) with the regularized recipe at the default study's certified lr 4e-3 and weight decay
6.4, its epochs certified per cell on seed means (squeeze/study/certify.py: E/2 and 2E trained, the grid widened
while the best sits on its edge, new points trained before more seeds, up to a ceiling of 64 epochs), the best
with 3 seeds. Embeddings for prototypes and SemDeDup: the mean hidden states of the pool's full-pool run (seed 0,
the starting epochs), as in the study's selection step.

Resumable like benchmarks/flagship.py (its Clock and carry are reused): finished runs are read back, masks already
written are kept, and `--carry FILE` holds OUT's small files between machines. At the end it writes
OUT/pruning_frontier.json, OUT/pruning_frontier.md (the table) and OUT/pruning_frontier.png (benchmarks/
pruning_frontier_report.py), and with --write-rule the measured easy-vs-hard rule into squeeze/prune/keep_rule.py,
which the study's selection step and `squeeze prune` follow.
"""
import argparse
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import flagship  # noqa: E402  (benchmarks/ is the script's folder: its carry and clock)
import pruning_frontier_report as report

from squeeze import presets
from squeeze.config import Config
from squeeze.data.prepare import ensure_store
from squeeze.errors import SqueezeError
from squeeze.prune.pipeline import PruneOptions, prune_documents
from squeeze.recipes import select_recipe
from squeeze.runs.execute import Job, describe, estimated_cost, execute
from squeeze.runs.local import stream_pool
from squeeze.runs.results import collect
from squeeze.study.certify import Certificate, certify, extend_grid
from squeeze.study.grid import Grid, GridPoint, point_config
from squeeze.train.backend import TRAINER
from squeeze.train.trainer import train

FULL = "full pool"
METHODS = {  # name -> PruneOptions fields
    "prototypes-easy": {"method": "prototypes", "hard": False},
    "prototypes-hard": {"method": "prototypes", "hard": True},
    "semdedup": {"method": "semdedup"},
    "perplexity-low": {"method": "perplexity", "slice": "low"},
    "perplexity-middle": {"method": "perplexity", "slice": "middle"},
    "perplexity-high": {"method": "perplexity", "slice": "high"},
    "random": {"method": "random"},
}
TIME = "frontier_time.json"
CARRY_DIRS = ("runs", TIME)
WALK_ALLOWANCE = 1.3  # the estimate's margin for certification walks past E/2 .. 2E (a guess, not measured)


@dataclass(frozen=True)
class Plan:
    preset: str
    pools: tuple[int, ...]
    fractions: tuple[float, ...]
    seeds: int
    size: tuple[int, int]
    lr: float
    wd: float
    epochs: tuple[tuple[int, int], ...]  # (up to kept tokens, starting epochs), ascending
    max_runs: int  # runs per invocation at most (0: until every cell is certified)
    max_epochs: int = 0  # the walk's ceiling (0: none); a best there is reported "capped", not certified

    def start_epochs(self, kept: int) -> int:
        return next((e for limit, e in self.epochs if kept <= limit), self.epochs[-1][1])


# 16 epochs were certified at 10k tokens and 8 at 50k for 2 x 64 (squeeze/presets.py); fewer as the pool grows.
# The ceiling of 64 epochs came after 7.3 h of the full run: the cells keeping 200k-400k tokens were still better at
# 128 and 256 epochs than at 64 (one seed each, mostly), and seeding them at 128 would have taken ~5-7 h more on 2
# workers, at 64 ~1.7 h (RESULTS.md). Every cell of those sizes then stops at the same 64 epochs.
FULL_PLAN = Plan("default", (25_000, 100_000, 400_000), (0.25, 0.5, 0.75, 1.0), 3, (2, 64), 4e-3, 6.4,
                 ((20_000, 16), (120_000, 8), (10**12, 4)), max_runs=0, max_epochs=64)
SMOKE_PLAN = Plan("smoke", (2_048, 4_096, 16_384), (0.5, 1.0), 2, (1, 32), 8e-3, 0.8, ((10**12, 2),), max_runs=160)


@dataclass(frozen=True)
class CellKey:
    pool: int
    method: str  # a METHODS name, or FULL
    fraction: float

    @property
    def kept(self) -> int:
        return round(self.fraction * self.pool)

    def root(self, out: Path) -> Path:
        return out / "runs" / f"P{self.pool}" / (FULL.replace(" ", "-") if self.method == FULL else
                                                  f"{self.method}_f{self.fraction:g}")

    def mask(self, out: Path, seed: int) -> Path | None:
        if self.method == FULL:
            return None
        name = f"{self.method}_f{self.fraction:g}" + (f"_s{seed}" if self.method == "random" else "")
        return out / "runs" / f"P{self.pool}" / "masks" / f"{name}.json"


def cells(plan: Plan) -> list[CellKey]:
    out = []
    for pool in plan.pools:
        out.append(CellKey(pool, FULL, 1.0))
        out += [CellKey(pool, m, f) for f in plan.fractions if f < 1 for m in METHODS]
    return out


def base_config(plan: Plan, store: Path) -> Config:
    c = presets.preset_config(plan.preset, "regularized")
    c.data.path = str(store)
    c.model.n_layer, c.model.d_model = plan.size
    c.model.n_head = plan.size[1] // 32 or 1  # head dim 32, as the presets' sizes
    c.train.lr, c.train.weight_decay, c.train.threads = plan.lr, plan.wd, 1
    return c


def cell_base(base: Config, cell: CellKey, out: Path, seed: int) -> Config:
    c = base.copy()
    c.data.budget_tokens = cell.pool
    if cell.method != FULL:
        c.recipe, c.data.keep_mask = select_recipe(cell.method), str(cell.mask(out, seed))
    return c


def grid(plan: Plan, cell: CellKey) -> Grid:
    return Grid(lr=[plan.lr], weight_decay=[plan.wd], epochs=[plan.start_epochs(cell.kept)], sizes=[plan.size],
                budgets=[cell.pool], seeds=[0])


def job(plan: Plan, base: Config, cell: CellKey, out: Path, point: GridPoint, needs_weights=False) -> Job:
    return Job(point_config(cell_base(base, cell, out, point.seed), point), cell.root(out) / point.name,
               needs_weights=needs_weights)


def embedder_job(plan: Plan, base: Config, pool: int, out: Path) -> Job:
    """The full pool's seed-0 run at its starting epochs: the embedder of the pool's prototypes and SemDeDup."""
    cell = CellKey(pool, FULL, 1.0)
    return job(plan, base, cell, out, grid(plan, cell).points()[0], needs_weights=True)


def make_masks(plan: Plan, base: Config, store: Path, out: Path, workers: int, say) -> None:
    """Every missing mask, pool by pool; the embedder trains (again, if its weights are gone) only when needed."""
    for pool in plan.pools:
        todo = [(c, s) for c in cells(plan) if c.pool == pool and c.method != FULL
                for s in range(plan.seeds if c.method == "random" else 1) if not c.mask(out, s).exists()]
        if not todo:
            continue
        embed = embedder_job(plan, base, pool, out)
        if any(METHODS[c.method]["method"] in ("prototypes", "semdedup") for c, _ in todo):
            execute([embed], TRAINER, workers=1)
        for c, s in todo:
            t0 = time.perf_counter()
            prune_documents(PruneOptions(data=str(store), out=str(c.mask(out, s)), keep=c.fraction,
                                         budget_tokens=pool, embedder=str(embed.run_dir),
                                         ref_dir=str(out / "runs" / f"P{pool}" / "perplexity-ref"), workers=workers,
                                         seed=base.train.seed + s if c.method == "random" else 0,
                                         **METHODS[c.method]), say=lambda m: None)
            say(f"mask {c.mask(out, s).name} (pool {pool:,}) in {time.perf_counter() - t0:.1f} s")


def unexplored(g: Grid, cert: Certificate) -> list[GridPoint]:
    """The missing runs at the grid's first seed: points not trained at all. The certificate's other missing runs
    are more seeds of points already trained, the best's or a neighbour's within noise of it."""
    return [p for p in cert.missing if p.seed == g.seeds[0]]


def walk(plan: Plan, cell: CellKey, g: Grid, out: Path) -> tuple[Grid, Certificate]:
    """The cell's epochs grid widened as far as its finished runs take it, with its certificate there: one step
    beyond the best while it sits on an edge and every point has its first seed. Exploring before seeding: the
    study's walk (squeeze/study/sweep.py) trains the best's seeds before the next step out. Here the best of the
    large cells kept moving outward, so seeds trained at each step went to points left behind, while the step out
    is trained either way (a certified best needs both neighbours). The certificate is the same; only the order of
    the runs differs."""
    rows = collect(cell.root(out)) if cell.root(out).exists() else []
    cert = certify(rows, g, ("epochs",), best_seeds=plan.seeds)
    while not unexplored(g, cert) and (wider := extend_grid(g, cert)) and \
            (not plan.max_epochs or max(wider.epochs) <= plan.max_epochs):
        g = wider
        cert = certify(rows, g, ("epochs",), best_seeds=plan.seeds)
    return g, cert


def certify_cells(plan: Plan, base: Config, out: Path, workers: int, say) -> dict[CellKey, Grid]:
    """Train every cell's epochs certificate on seed means, all cells at once on one pool of workers, like
    squeeze/study/sweep.py's walk but with a config per seed (the random subset is redrawn for each). The walk is
    streamed: after every finished run each cell's next runs are worked out again, and a free worker takes the
    costliest at once. In rounds, a worker waited for the round's last run (at 400k tokens, a run of 30 min or more)."""
    grids = {c: grid(plan, c) for c in cells(plan)}

    def more() -> list[Job]:
        jobs = []
        for c in grids:
            grids[c], cert = walk(plan, c, grids[c], out)
            todo = cert.missing if cert.best is not None else grids[c].points()  # nothing trained yet: the grid
            todo = unexplored(grids[c], cert) or todo  # new points first; seeds once the best stops moving
            jobs += [(c.kept * p.epochs, job(plan, base, c, out, p)) for p in todo]
        # the pool's budget is every cell's data.budget_tokens, so stream's cost estimate ties the fractions of a
        # pool: the tokens a run sees order them here, and the stable sort keeps this order within a tie
        return [j for _, j in sorted(jobs, key=lambda t: -t[0])]

    def report(n: int, j: Job, o) -> None:
        say(f"run {n}: {j.run_dir.relative_to(out)}: {describe(o)}" + (f"\n{o.trace}" if o.trace else ""))
    n = stream_pool(more, TRAINER, workers, 1, report, limit=plan.max_runs)
    if plan.max_runs and n >= plan.max_runs:
        say(f"stopped after {n} runs (the plan's limit): some cells are not certified (the table says which)")
    return grids


def results(plan: Plan, grids: dict[CellKey, Grid], out: Path) -> list[dict]:
    """One row per cell: its certified (or best so far) epochs, seed losses and certificate."""
    rows_out = []
    for c, g in grids.items():
        rows = collect(c.root(out)) if c.root(out).exists() else []
        cert = certify(rows, g, ("epochs",), best_seeds=plan.seeds)
        losses = [r["val_loss"] for r in rows if cert.best is not None and r.get("val_loss") is not None
                  and GridPoint.from_row(r, seed=False) == cert.best]
        capped = (cert.status == "edge" and not cert.missing and plan.max_epochs > 0
                  and cert.best.epochs >= plan.max_epochs)  # seeded at the ceiling, still better than a step below
        rows_out.append({"pool": c.pool, "method": c.method, "fraction": c.fraction, "kept": c.kept,
                         "epochs": cert.best.epochs if cert.best else None, "losses": losses,
                         "certificate": "capped" if capped else cert.status})
    return rows_out


def interim(plan: Plan, out: Path) -> list[dict]:
    """results() from the runs finished so far, training nothing: each cell at its best so far, its certificate
    saying whether that is final (a run still walking reads "edge" or "not certified")."""
    return results(plan, {c: walk(plan, c, grid(plan, c), out)[0] for c in cells(plan)}, out)


def planned_units(plan: Plan, base: Config) -> float:
    """estimated_cost units (params x tokens seen) of every cell's best with its seeds plus E/2 and 2E at seed 0,
    and the two perplexity reference runs per pool (each on half the pool, 4 epochs)."""
    total = 0.0
    for c in cells(plan):
        e = plan.start_epochs(c.kept)
        cfg = base.copy()
        for epochs, n in ((e, plan.seeds), (max(e // 2, 1), 1), (2 * e, 1)):
            cfg.train.epochs = epochs
            total += n * estimated_cost(cfg, c.kept)
    ref = base.copy()
    ref.train.epochs = 4
    return total + sum(2 * estimated_cost(ref, pool // 2) for pool in plan.pools)


def estimate(plan: Plan, out: Path, workers: int) -> str:
    """Seconds per unit of estimated_cost measured on one short run (1 thread, evaluation included) x the plan."""
    base = base_config(plan, ensure_store(None, out, presets.get(plan.preset).vocab_size))
    cfg = base.copy()
    cfg.data.budget_tokens, cfg.train.epochs = 40 * cfg.train.batch_size * (cfg.model.seq_len + 1), 1
    t0 = time.perf_counter()
    train(cfg, out / "estimate_run", force=True, quiet=True)
    seconds = time.perf_counter() - t0
    per_unit = seconds / estimated_cost(cfg)
    units = planned_units(plan, base)
    hours = units * per_unit / workers / 3600
    n_runs = len(cells(plan)) * (plan.seeds + 2) + 2 * len(plan.pools)
    return (f"plan: pools {', '.join(f'{p:,}' for p in plan.pools)} tokens x kept fractions "
            f"{', '.join(f'{f:g}' for f in plan.fractions)} x {len(METHODS)} methods (+ the full pool): "
            f"{len(cells(plan))} cells, {plan.seeds} seeds, model {plan.size[0]} x {plan.size[1]}, lr {plan.lr:g}, "
            f"wd {plan.wd:g}; >= {n_runs} runs (each best with its seeds, E/2 and 2E, 2 perplexity references per "
            f"pool)\ntime: {cfg.data.budget_tokens:,} tokens in {seconds:.1f} s (1 thread, evaluation included); "
            f"the plan is {units / estimated_cost(cfg):,.0f} such runs: ~{hours:.1f} h on {workers} workers, "
            f"~{hours * WALK_ALLOWANCE:.1f} h with {WALK_ALLOWANCE}x for certification walks")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="pruning-frontier", help="benchmark directory; rerun to resume")
    p.add_argument("--workers", type=int, default=2, help="1-thread training processes (default 2)")
    p.add_argument("--estimate", action="store_true", help="only print the plan and its time")
    p.add_argument("--smoke", action="store_true", help="tiny pools and models: every code path in minutes")
    p.add_argument("--carry", type=Path, help="a .tar.xz holding OUT's small files between machines (as flagship.py)")
    p.add_argument("--write-rule", action="store_true", help="write the measured easy-vs-hard rule into "
                                                             "squeeze/prune/keep_rule.py (not with --smoke)")
    p.add_argument("--boot", type=int, default=200, help="bootstrap draws of the form comparison (default 200)")
    p.add_argument("--interim", action="store_true", help="print the table and verdicts of the runs finished so "
                                                          "far in OUT (or the --carry file's), training nothing")
    a = p.parse_args()
    plan, out = (SMOKE_PLAN if a.smoke else FULL_PLAN), Path(a.out)
    if a.estimate:
        print(estimate(plan, out, a.workers))
        return 0
    if a.write_rule and a.smoke:
        p.error("--write-rule records a measured rule: not from a --smoke run")
    if a.carry and a.carry.exists() and not (out / TIME).exists():
        try:
            print(f"frontier: {flagship.unpack(a.carry, out)} files carried over from {a.carry}", file=sys.stderr)
        except SqueezeError as e:  # one line, as flagship.py: a carry packed elsewhere, or not a carry
            print(f"frontier: {e}", file=sys.stderr)
            return 2
    if a.interim:
        rows = interim(plan, out)
        done = sum(r["certificate"] == "certified" for r in rows)
        capped = sum(r["certificate"] == "capped" for r in rows)
        hours = flagship.Clock(out / TIME).before / 3600  # the earlier invocations' time; nothing written
        print(f"interim, not the final table: {done} of {len(rows)} cells certified and {capped} capped, "
              f"{hours:.2f} h by the benchmark's clock; a cell not yet either shows its best so far")
        print(report.markdown(report.build(rows, n_boot=a.boot, hours=hours)))
        return 0
    clock = flagship.Clock(out / TIME)
    if a.carry:
        threading.Thread(target=clock.carry_every, args=(out, a.carry, CARRY_DIRS), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    threading.Thread(target=clock.beat, daemon=True).start()
    t0 = time.time()
    say = lambda m: print(f"[{(time.time() - t0) / 60:5.1f} min] {m}", file=sys.stderr, flush=True)
    try:
        base = base_config(plan, ensure_store(None, out, presets.get(plan.preset).vocab_size))
        make_masks(plan, base, Path(base.data.path), out, a.workers, say)
        rows = results(plan, certify_cells(plan, base, out, a.workers, say), out)
    finally:
        spent, n = clock.write()
        say(f"{spent / 3600:.2f} h of wall time over {n} invocation(s) so far")
        if a.carry:
            with clock.lock:
                say(f"{flagship.pack(out, a.carry, CARRY_DIRS)} files carried in {a.carry}")
    rep = report.build(rows, n_boot=a.boot, hours=spent / 3600)
    written = report.write(rep, out)
    print(report.markdown(rep))
    if a.write_rule:
        written.append(report.write_rule(rep, Path(__file__).resolve().parents[1] / "squeeze/prune/keep_rule.py"))
    say("wrote " + ", ".join(str(w) for w in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
