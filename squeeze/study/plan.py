"""The data-efficiency study behind `squeeze run`: which runs, in which order, sized per preset (STUDIES).

The study is one ordered list of steps, `STEPS`; each carries its title, its compute estimate, the allowance for
the runs its certification adds, and the function that runs it. Each step is a set of ordinary run directories
under OUT/runs/<step>/, so a re-run skips finished runs and resumes killed ones:
  1. standard      the standard recipe (wd 0.1) at D0/2 .. std_top x D0: lr x epochs certified at D0 per size, epochs
                   certified again at every larger budget (DESIGN.md section 2: the baseline gets the same tuning)
  2. regularized   lr x weight decay x epochs certified at D0 on the main size, then that point over sizes
  3. ensemble      K seeds of the certified point at several sizes, one evaluation pass each; distill/student
  4. best          the certified point plus the options that helped in benchmarks/ablations.py, epochs certified
                   again with the options on (they regularize: in the ablations the best epochs moved from 11 to 22)
  5. snapshot      the certified point as one run of K lr cycles (the snapshot recipe's options), its K snapshots
                   scored as an ensemble: the ensemble step's K members for the compute of one run
  6. selection     each data-selection method keeps half of a 2 x D0 pool; random is the baseline
  7. headline      more seeds (`headline_seeds`) for the best recipe's row and the two standard points its
                   multiplier is read between: the headline interval is set by those few points' seed means
squeeze/study/run.py runs the steps in order; squeeze/study/report.py turns the runs into the table.
Exercised by tests/test_run.py through `squeeze run --preset smoke`.
"""
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from squeeze import config as config_mod
from squeeze import recipes
from squeeze.config import Config
from squeeze.errors import SqueezeError
from squeeze.runs.execute import ExecutorConfig, Job, run_jobs
from squeeze.runs.files import CONFIG, ENSEMBLE, SNAPSHOT_ENSEMBLE, SUMMARY
from squeeze.study.progress import StudyProgress, estimated_cost
from squeeze.study.sweep import Grid, SweepResult, certify, point_config, point_name, run_sweep

Size = tuple[int, int]  # (n_layer, d_model)


@dataclass(frozen=True)
class StudySpec:
    """How much of each step a preset runs. Grids are starting points: certification widens them where the best
    point sits on an edge, up to `max_runs` per step."""
    d0: int  # base budget in unique training tokens
    std_sizes: tuple[Size, ...]  # sizes of the standard data-scaling law (best over these at each budget)
    reg_sizes: tuple[Size, ...]  # sizes of the regularized parameter-scaling law at D0 (>= 3 for an asymptote)
    main: Size  # the size whose hyperparameters are tuned at D0
    lrs: tuple[float, ...]
    std_epochs: tuple[int, ...]
    reg_wds: tuple[float, ...]
    reg_epochs: tuple[int, ...]
    ensemble_k: int  # members per ensemble
    ensemble_sizes: tuple[Size, ...]  # sizes with an ensemble, among reg_sizes (>= 3 for the two-stage asymptote)
    max_runs: int = 160  # per step, certification and seeds included
    certify: bool = True  # train missing grid neighbours until the best point is certified (or max_runs)
    seeds: int = 3  # seeds (init and data order) of every point a row or a law rests on
    minutes: float | None = None  # time budget: certification walks stop when their step's share of it is spent
    headline_seeds: int = 0  # seeds of the best recipe's row and the two standard points around it (0: `seeds`)
    std_top: int = 8  # the standard law's largest budget, in D0, a power of 2 (multipliers beyond it: '> top x')

    @property
    def std_budgets(self) -> tuple[int, ...]:
        """The standard law's budgets: D0/2 (so a method worse than the standard gets a number), then D0 doubled up
        to std_top x D0."""
        return (self.d0 // 2, *(self.d0 * 2**i for i in range(self.std_top.bit_length())))


STUDIES = {
    # every code path in about a minute; the numbers mean nothing
    "smoke": StudySpec(d0=2048, std_sizes=((2, 32),), reg_sizes=((1, 32), (2, 32), (2, 64)), main=(2, 32),
                       lrs=(8e-3,), std_epochs=(2,), reg_wds=(0.8,), reg_epochs=(2,), ensemble_k=3,
                       ensemble_sizes=((1, 32), (2, 32), (2, 64)), max_runs=20, certify=False, seeds=2,
                       headline_seeds=3),
    # a 2-core CPU in <= 15 minutes (13.3 min on an AMD EPYC without AMX, whose runs are ~1.4x slower than on the
    # AMX Xeon). 50k-token studies (benchmarks/RESULTS.md) certified wd 6.4, 8 epochs and lr 4e-3 for both recipes;
    # the grids start around those and certification walks on if needed. The 1-epoch standard runs give the
    # data-constrained law its single-epoch base (`squeeze fit`). D0 = 20k took 34.5 min, three quarters of it the
    # standard recipe at 2-8 x D0; D0 = 10k halves it. On the corpus cut into pieces the standard law stops at 4 x D0
    # (the 8 x D0 budget was a quarter of the study's compute and no row read above 2.2x), and those minutes buy 8
    # seeds for the headline's three points: the best recipe's interval -8% / +9% of its value
    "default": StudySpec(d0=10_000, std_sizes=((2, 32), (2, 64)), reg_sizes=((1, 32), (2, 32), (2, 64), (3, 96)),
                         main=(2, 64), lrs=(4e-3, 8e-3), std_epochs=(1, 4, 8, 16), reg_wds=(3.2, 6.4),
                         reg_epochs=(8, 16), ensemble_k=4, ensemble_sizes=((1, 32), (2, 32), (2, 64)), minutes=60,
                         std_top=4, headline_seeds=8),
    # benchmarks/flagship.py: D0 = 100k, sizes up to 4 x 192 (~2M parameters), 3 seeds (6 for the headline's
    # three points), every step kept, in a 12-hour budget. Its first attempt walked from lr {2e-3, 4e-3} and epochs
    # {2, 4, 8} to 8e-3 and 16 at D0 and 2 x D0 (benchmarks/RESULTS.md), so the standard grid starts there
    "flagship": StudySpec(d0=100_000, std_sizes=((2, 64), (4, 128)), reg_sizes=((2, 64), (4, 128), (4, 192)),
                          main=(4, 128), lrs=(4e-3, 8e-3), std_epochs=(4, 8), reg_wds=(1.6, 3.2, 6.4),
                          reg_epochs=(8, 16), ensemble_k=4, ensemble_sizes=((2, 64), (4, 128), (4, 192)),
                          max_runs=200, minutes=720, headline_seeds=6),
    # one modern GPU: 12 x 768-class models on tens of millions of tokens
    "gpu": StudySpec(d0=20_000_000, std_sizes=((8, 512), (12, 768)), reg_sizes=((6, 384), (8, 512), (12, 768)),
                     main=(12, 768), lrs=(1e-3, 2e-3, 4e-3), std_epochs=(1, 2, 4, 8), reg_wds=(0.4, 0.8, 1.6),
                     reg_epochs=(4, 8, 16), ensemble_k=8, ensemble_sizes=((6, 384), (8, 512), (12, 768))),
}


@dataclass
class Study:
    """What every step needs: the preset's base config, the study grids, where runs go and how many workers."""
    spec: StudySpec
    preset: str
    store: Path
    out: Path
    workers: int
    progress: StudyProgress | None = None
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    seed_offset: int = 0  # every seed shifted by this: studies with other offsets are independent replicates
    stop_at: float | None = None  # time.monotonic() deadline of the current step's certification walks

    def seeds(self, n: int | None = None) -> list[int]:
        """The first n seeds of this study (default: the preset's seeds), starting at the seed offset."""
        return list(range(self.seed_offset, self.seed_offset + (self.spec.seeds if n is None else n)))

    def base(self, recipe: str) -> Config:
        c = recipes.preset(self.preset, recipe)
        c.data.path = str(self.store)
        return c

    def runs(self, step: str) -> Path:
        return self.out / "runs" / step

    def run(self, jobs: list[Job]) -> list[dict]:
        """Train (or skip, or resume) these runs in the study's workers; one SqueezeError if any failed."""
        return run_jobs(jobs, self.workers, 1 if self.workers > 1 else None, on_done=self.progress,
                        **self.executor.kwargs())

    def sweep(self, cfg: Config, grid: Grid | list[Grid], step: str, axes: tuple[str, ...] | None) -> SweepResult:
        """Run the grid(s), certify along `axes` on seed means (when the preset certifies), and give each group's
        best point the preset's seeds. The grids carry the study's own seeds (`seeds`, from the seed offset), so a
        base that already has seeds (a certified point) has them zeroed first: they would be added twice."""
        cfg = cfg.copy()
        cfg.train.seed = cfg.data.seed = 0
        res = run_sweep(cfg, grid, self.runs(step), workers=self.workers, threads=1 if self.workers > 1 else None,
                        certify_axes=axes if self.spec.certify else None, max_runs=self.spec.max_runs,
                        on_done=self.progress, executor=self.executor, best_seeds=self.spec.seeds,
                        stop_at=self.stop_at)
        if res.note:
            print(f"{step}: {res.note}", file=sys.stderr)
        if res.failure:
            raise SqueezeError(res.failure)
        return res


def check_corpus(spec: StudySpec, preset: str, store: Path, train_tokens: int, val_tokens: int,
                 min_val_tokens: int) -> None:
    """Refuse a corpus too small for the preset before anything trains: the standard law's largest budget is
    std_top x D0 unique training tokens, and the evaluations need `min_val_tokens` held-out tokens (one batch of
    windows). Says what to do."""
    need = max(spec.std_budgets)
    if train_tokens < need or val_tokens < min_val_tokens:
        smaller = "" if preset == "smoke" else (f", or a smaller preset (--preset smoke needs "
                                                 f"{max(STUDIES['smoke'].std_budgets):,} training tokens)")
        raise SqueezeError(
            f"{store}: {train_tokens:,} training and {val_tokens:,} validation tokens, but the {preset} study needs "
            f"at least {need:,} training tokens ({spec.std_top} x D0 = {spec.d0:,}, the standard recipe's largest "
            f"budget) and {min_val_tokens:,} validation tokens; give it a larger corpus{smaller}")


def best_of(res: SweepResult, key: tuple[int, int, int], axes: tuple[str, ...], what: str, seeds: int) -> dict:
    cert = certify(res.rows, res.grids[key], axes, best_seeds=seeds)
    if cert.best is None:
        raise SqueezeError(f"{what}: no finished run in group {key} ({cert.describe()})")
    print(f"  {what} {key[1]}x{key[2]} at {key[0]:,} tokens: {cert.best} -> {cert.best_loss:.4f}; {cert.describe()}",
          file=sys.stderr)
    return cert.best


def standard_step(st: Study) -> dict[Size, float]:
    """The standard recipe's data scaling: lr x epochs certified on seed means at every budget of its law
    (D0/2 .. std_top x D0) for every size of it, the best of each with the preset's seeds. The regularized sizes outside
    the law get the same search at D0, so that both recipes' best at D0 is taken over the same sizes. Returns the
    certified learning rate of each size at D0."""
    s, std = st.spec, st.base("standard")
    grids = [Grid(lr=list(s.lrs), weight_decay=[0.1], epochs=list(s.std_epochs), sizes=list(s.std_sizes),
                  budgets=list(s.std_budgets), seeds=st.seeds(1))]
    extra = [size for size in s.reg_sizes if size not in s.std_sizes]
    if extra:
        grids.append(Grid(lr=list(s.lrs), weight_decay=[0.1], epochs=list(s.std_epochs), sizes=extra, budgets=[s.d0],
                          seeds=st.seeds(1)))
    res = st.sweep(std, grids, "standard", ("lr", "epochs"))
    for key in res.grids:
        best_of(res, key, ("lr", "epochs"), "standard", s.seeds)
    return {size: best_of(res, (s.d0, *size), ("lr", "epochs"), "standard", s.seeds)["lr"] for size in s.std_sizes}


def regularized_step(st: Study, lr: float) -> tuple[Config, Path]:
    """lr x weight decay x epochs certified on seed means at D0 on the main size, then that point over all sizes
    (each with the preset's seeds); returns the best config (the one later steps start from) and its run
    directory."""
    s, reg = st.spec, st.base("regularized")
    axes = ("lr", "weight_decay", "epochs")
    res = st.sweep(reg, Grid(lr=[lr], weight_decay=list(s.reg_wds), epochs=list(s.reg_epochs), sizes=[s.main],
                             budgets=[s.d0], seeds=st.seeds(1)), "regularized", axes)
    best = best_of(res, (s.d0, *s.main), axes, "regularized", s.seeds)
    others = [size for size in s.reg_sizes if size != s.main]
    if others:
        st.sweep(reg, Grid(lr=[best["lr"]], weight_decay=[best["weight_decay"]], epochs=[best["epochs"]],
                           sizes=others, budgets=[s.d0], seeds=st.seeds()), "regularized", None)
    point = {**best, "seed": st.seed_offset}
    return point_config(reg, point), st.runs("regularized") / point_name(point)


def resized(cfg: Config, size: Size) -> Config:
    """cfg at another (n_layer, d_model), the head dim kept (as sweeps do)."""
    c = cfg.copy()
    head_dim = cfg.model.d_model // cfg.model.n_head
    c.model.n_layer, c.model.d_model, c.model.n_head = size[0], size[1], size[1] // head_dim
    return c


def ensemble_step(st: Study, best: Config) -> Path:
    """K members at each ensemble size: the certified point with init and data-order seeds 0..K-1 (seeds below
    the preset's `seeds` are the regularized step's own runs, reused). The published member rule (2x epochs, 1/2
    weight decay) is what `squeeze ensemble` defaults to; at the CPU presets' few tokens per parameter a single
    run with it overfit badly (benchmarks/RESULTS.md), so the study ensembles its certified point. Then ONE
    evaluation pass per ensemble (mixture, product, the K curve and its asymptote), stored as ensemble.json beside
    its members, and a student of the main size distilled from the main size's ensemble (recipe `distill`), with
    the preset's seeds. Returns the folder of the student's seed runs."""
    from squeeze.io import write_json
    from squeeze.study.members import seeded
    s, groups, jobs = st.spec, {}, []
    students = [st.runs("distill") / "student" / f"s{i}" for i in range(s.seeds)]
    for size in s.ensemble_sizes:
        c = resized(best, size)
        point = {"budget_tokens": s.d0, "n_layer": size[0], "d_model": size[1], "lr": c.train.lr,
                 "weight_decay": c.train.weight_decay, "epochs": c.train.epochs}
        root = st.runs("ensemble") / f"L{size[0]}d{size[1]}"
        # the regularized step's seeds of this point are its first members; weights read by an evaluation or student
        need = not (root / ENSEMBLE).exists() or size == s.main and not all((d / SUMMARY).exists() for d in students)
        members = [Job(seeded(c, i), st.runs("regularized") / point_name({**point, "seed": st.seed_offset + i})
                       if i < s.seeds else root / f"member{i}", needs_weights=need) for i in range(s.ensemble_k)]
        groups[size] = (root, [j.run_dir for j in members])
        jobs += members
    summaries = dict(zip([j.run_dir for j in jobs], st.run(jobs)))
    from squeeze.ensemble import ensemble_eval
    for size, (root, dirs) in groups.items():
        if not (root / ENSEMBLE).exists():
            r = ensemble_eval([str(d) for d in dirs], n_orders=3, product_orders=False)  # product: at K only
            write_json(root / ENSEMBLE, {"members": [str(d) for d in dirs], "eval": r,
                                                "member_summaries": [summaries[d] for d in dirs],
                                                "member_recipe": "certified regularized point, seeds 0..K-1"})
    student = best.copy()
    student.recipe = "distill"
    student.distill.teachers = ",".join(str(d) for d in groups[s.main][1])
    st.run([Job(seeded(student, i), d) for i, d in enumerate(students)])
    return st.runs("distill") / "student"


def options_step(st: Study, best: Config) -> None:
    """The certified regularized point with the options that helped in benchmarks/ablations.py (recipes.best), its
    epochs certified again: with the options on, the best epoch count moved up in the ablations (benchmarks/
    RESULTS.md), so keeping the regularized recipe's would under-tune the best recipe."""
    s, t = st.spec, best.train
    st.sweep(recipes.best_options(best), Grid(lr=[t.lr], weight_decay=[t.weight_decay], epochs=[t.epochs],
                                              sizes=[s.main], budgets=[s.d0], seeds=st.seeds(1)), "best", ("epochs",))


def snapshot_step(st: Study, best: Config) -> None:
    """The certified regularized point, its epochs and lr unchanged, trained once per seed with the snapshot
    recipe's options (the lr cycles alone, recipes.snapshot) and K = the ensemble step's members cycles: the
    ensemble's K models for the compute of one run. Each run's snapshots are scored as one ensemble, written beside
    them as snapshot_ensemble.json."""
    from squeeze.ensemble import snapshot_eval
    from squeeze.io import write_json
    from squeeze.study.members import seeded
    c = recipes.snapshot_options(best)
    c.train.lr_cycles = st.spec.ensemble_k
    dirs = [st.runs("snapshot") / f"s{i}" for i in range(st.spec.seeds)]
    todo = [d for d in dirs if not (d / SNAPSHOT_ENSEMBLE).exists()]  # their snapshots' weights are read below
    st.run([Job(seeded(c, i), d, needs_weights=d in todo) for i, d in enumerate(dirs)])
    for d in todo:
        write_json(d / SNAPSHOT_ENSEMBLE, snapshot_eval(d, n_orders=0))


def headline_step(st: Study) -> None:
    """Seeds where the table needs them: the best recipe's row, and the standard points its multiplier is
    interpolated between (squeeze/study/noise.py `bracket`), get `headline_seeds` seeds each: their intervals set
    the headline's. Rounds repeat while the extra seeds move the bracket or the best configuration of a bracketing
    budget (at most 3); a re-run finds every seed trained and trains nothing."""
    from squeeze.runs.results import collect
    from squeeze.study.fits import best_runs, budget_of, configurations
    from squeeze.study.noise import bracket
    n, d0 = st.spec.headline_seeds, st.spec.d0
    if n <= st.spec.seeds:
        return
    for _ in range(3):
        rows = [r for r in collect(st.out / "runs") if r["finished"]]
        best = [b for b in configurations(rows, "best") if budget_of(b.run) == d0]
        if not best:
            return
        top = min(best, key=lambda b: b.loss)
        std = best_runs(rows, "standard", by=budget_of)  # the standard point of each budget, as the report reads it
        around = [std[b] for b in bracket(top.loss, list(std), [std[b].loss for b in std])]
        jobs = [job for b in (top, *around) for job in _more_seeds(b.run, len(b.seed_losses), n, st.seed_offset)]
        if not jobs:
            return
        st.run(jobs)


def _more_seeds(run: dict, have: int, want: int, offset: int) -> list[Job]:
    """Jobs for seeds offset+have .. offset+want-1 of the configuration of `run` (its lowest seed's row), beside it
    and named as the study names seeds (..._s<seed>)."""
    import re

    from squeeze.study.members import seeded
    first = Path(run["path"])
    cfg = config_mod.load(str(first / CONFIG))  # the study's runs have train.seed == data.seed == their seed
    return [Job(seeded(cfg, seed - cfg.train.seed), first.parent / re.sub(r"_s\d+$", f"_s{seed}", first.name))
            for seed in range(offset + have, offset + want)]


# Data selection (squeeze/prune): each method keeps half the tokens of a 2 x D0 pool, so every subset trains on
# ~D0 unique tokens; `random` is the honest baseline (Sorscher et al. 2022, Abbas et al. 2023, Marion et al. 2023).
# Prototypes keep the hard documents, perplexity the middle slice (the PruneOptions defaults).
SELECTION = ("prototypes", "semdedup", "perplexity", "random")


def selection_step(st: Study, best: Config, embed_run: Path) -> None:
    """Masks for every method, each exactly half the pool's tokens (the last document cut: like for like), then
    the best regularized config trained on each subset with the preset's seeds. A deterministic method's mask is
    the same for every seed; the random control draws a new subset per seed (its seed is the subset's too).
    Embeddings: the mean hidden states of `embed_run`, cheap next to MiniLM on a 2-core CPU. Masks already written
    are reused."""
    from squeeze.prune.pipeline import PruneOptions, prune_documents
    from squeeze.study.members import seeded
    pool, root = 2 * st.spec.d0, st.runs("selection")
    masks = {(method, i): root / "masks" / (f"{method}_s{i}.json" if method == "random" else f"{method}.json")
             for method in SELECTION for i in range(st.spec.seeds)}
    if not all(m.exists() for m in masks.values()):  # the embedder's weights are read: train it again if gone
        st.run([Job(config_mod.load(str(embed_run / CONFIG)), embed_run, needs_weights=True)])
    jobs = []
    for method in SELECTION:
        for i in range(st.spec.seeds):
            mask = masks[method, i]
            if not mask.exists():
                prune_documents(PruneOptions(data=str(st.store), method=method, out=str(mask), keep=0.5,
                                             budget_tokens=pool, embedder=str(embed_run),
                                             seed=st.seed_offset + i if method == "random" else 0), say=_say)
            c = seeded(best, i)
            c.recipe = f"select-{method}"
            c.data.budget_tokens, c.data.keep_mask = pool, str(mask)
            jobs.append(Job(c, root / method / f"s{i}"))
    st.run(jobs)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- the steps, in order: one list (title, compute estimate, certification allowance, function) ----------------

def _cost(st: Study, size: Size, epochs: float, budget: int | None = None) -> float:
    """estimated_cost's units for `size` at `epochs` over `budget` (default D0)."""
    c = st.base("standard")
    c.model.n_layer, c.model.d_model = size
    c.train.epochs = 1
    return epochs * (budget or st.spec.d0) * estimated_cost(c, 1)


def _standard_cost(st: Study) -> float:
    """The lr x epochs grid at every budget and size, plus the best's extra seeds (at its largest epochs)."""
    s = st.spec
    grid = len(s.lrs) * sum(s.std_epochs) + (s.seeds - 1) * max(s.std_epochs)
    std = sum(grid * _cost(st, size, 1, b) for size in s.std_sizes for b in s.std_budgets)
    return std + sum(grid * _cost(st, size, 1) for size in s.reg_sizes if size not in s.std_sizes)


def _regularized_cost(st: Study) -> float:
    s = st.spec
    reg = len(s.reg_wds) * _cost(st, s.main, sum(s.reg_epochs)) + (s.seeds - 1) * _cost(st, s.main, max(s.reg_epochs))
    return reg + s.seeds * sum(_cost(st, size, max(s.reg_epochs)) for size in s.reg_sizes if size != s.main)


def _ensemble_cost(st: Study) -> float:
    """As the progress counts them: every member (the first is the regularized run, counted again when skipped)
    and the student."""
    s = st.spec
    ens = sum(s.ensemble_k * _cost(st, size, max(s.reg_epochs)) for size in s.ensemble_sizes)
    return ens + s.seeds * _cost(st, s.main, max(s.reg_epochs))


def _best_cost(st: Study) -> float:
    s = st.spec
    return (3.5 + s.seeds - 1) * _cost(st, s.main, max(s.reg_epochs))  # E/2, E, 2E, a little walking, seeds


def _snapshot_cost(st: Study) -> float:
    s = st.spec
    return s.seeds * _cost(st, s.main, max(s.reg_epochs))  # one run per seed, no extra passes


def _selection_cost(st: Study) -> float:
    s = st.spec
    return s.seeds * len(SELECTION) * _cost(st, s.main, max(s.reg_epochs), 2 * s.d0)  # at the pool budget


def _headline_cost(st: Study) -> float:
    """The best recipe's extra seeds, and as many of the main size's standard recipe at 2 x D0 (two points)."""
    s = st.spec
    extra = max(0, s.headline_seeds - s.seeds)
    return extra * (_cost(st, s.main, max(s.reg_epochs)) + 2 * _cost(st, s.main, max(s.std_epochs), 2 * s.d0))


@dataclass
class StudyState:
    """What a step hands to the later ones."""
    lr_of: dict[Size, float] = field(default_factory=dict)  # standard: the certified lr of each size at D0
    best: Config | None = None  # regularized: the certified point's config
    best_dir: Path | None = None  # and its run directory


def _run_standard(st: Study, state: StudyState) -> None:
    state.lr_of = standard_step(st)


def _run_regularized(st: Study, state: StudyState) -> None:
    lr = state.lr_of.get(st.spec.main, state.lr_of[st.spec.std_sizes[-1]])
    state.best, state.best_dir = regularized_step(st, lr)


@dataclass(frozen=True)
class Step:
    title: str
    cost: Callable[[Study], float]  # the first estimate of its compute (its grids as given)
    # Certification's extra runs (the walk past a grid's edge) are unknown until they happen. In the default study
    # (D0 10k, benchmarks/RESULTS.md) they made the standard step 1.45x its grids and the regularized one 3.2x (wd
    # walked to 25.6, epochs to 32), so the first estimate counts them in
    certify_allowance: float
    run: Callable[[Study, StudyState], None]


STEPS = (
    Step("standard recipe: data scaling from D0/2 to the top budget", _standard_cost, 1.45, _run_standard),
    Step("regularized recipe: certified at D0, then over sizes", _regularized_cost, 3.2, _run_regularized),
    Step("ensembles of the certified point over sizes, and a student distilled from one", _ensemble_cost, 1.0,
         lambda st, state: ensemble_step(st, state.best)),
    Step("the best recipe: the certified point plus the options that helped in the ablations", _best_cost, 1.0,
         lambda st, state: options_step(st, state.best)),
    Step("a snapshot ensemble: the certified point as one run of K lr cycles", _snapshot_cost, 1.0,
         lambda st, state: snapshot_step(st, state.best)),
    Step("data selection: half of a 2 x D0 pool by each method, against random", _selection_cost, 1.0,
         lambda st, state: selection_step(st, state.best, state.best_dir)),
    Step("headline seeds: the best recipe and the standard points around it", _headline_cost, 1.0,
         lambda st, state: headline_step(st)),
)


def planned_costs(st: Study) -> tuple[float, ...]:
    """A first estimate of each step's compute (grids as given, plus the allowance for certification), in STEPS
    order, for the time estimate."""
    return tuple((step.certify_allowance if st.spec.certify else 1.0) * step.cost(st) for step in STEPS)
