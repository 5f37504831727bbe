"""The one preset table: how big a run or a study is for one kind of machine.

A preset holds the model (vocabulary, shape, context), the data (D0, the base budget in unique training tokens),
the trainer's sizing (batch, evaluation slices) and the study's grids (`StudySpec`: the sizes, learning rates,
weight decays, epochs, ensemble members and seeds of `squeeze run`). `squeeze train --preset`-style configs come
from `preset_config(name, recipe)`; the study reads `PRESETS[name].study`. A recipe (squeeze/recipes.py) says how
to train; a preset says how big. Exercised by tests/test_recipes.py and tests/test_run.py.
"""
from dataclasses import dataclass

from squeeze import recipes
from squeeze.config import Config
from squeeze.errors import SqueezeError

Size = tuple[int, int]  # (n_layer, d_model)


@dataclass(frozen=True)
class StudySpec:
    """How much of each study step a preset runs. Grids are starting points: certification widens them where the
    best point sits on an edge, up to `max_runs` per step."""
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
    # the snapshot runs' fitness slice, a share of D0 (whole documents, never trained on, counted in D0) on which
    # the record's mixture weights and top-k are fitted: its ~132k tokens were ~0.1% of 100M; at D0 = 10k tokens,
    # ~1,000 tokens (5 pieces of the built-in corpus) is the least that fits 4 weights
    fitness_frac: float = 0.1

    @property
    def std_budgets(self) -> tuple[int, ...]:
        """The standard law's budgets: D0/2 (so a method worse than the standard gets a number), then D0 doubled up
        to std_top x D0."""
        return (self.d0 // 2, *(self.d0 * 2**i for i in range(self.std_top.bit_length())))


@dataclass(frozen=True)
class Preset:
    """One machine's sizes. The model shape is what a single run of the preset trains and fixes the head dim
    (d_model / n_head) that the study keeps when it varies sizes; `study.d0` is the one base budget of both."""
    name: str
    vocab_size: int  # BPE vocabulary of the corpus the study prepares
    n_layer: int
    d_model: int
    n_head: int
    seq_len: int
    batch_size: int
    epochs: int  # the regularized recipes' epochs before a study tunes them
    compile: str  # train.compile: auto, on or off
    study: StudySpec
    final_eval_tokens: int = 0  # 0 = every validation token
    eval_batches: int = 32  # the epoch-end evaluations read this many batches of validation tokens
    epoch_evals: str = "every"  # which epoch ends are evaluated (train.epoch_evals): every one, or 1, 2, 4, 8, ...

    @property
    def d0(self) -> int:
        return self.study.d0


PRESETS = {
    # every code path in about a minute; the numbers mean nothing (the final eval sees 16k tokens)
    "smoke": Preset(
        name="smoke", vocab_size=512, n_layer=2, d_model=64, n_head=2, seq_len=64, batch_size=8, epochs=2,
        compile="off", final_eval_tokens=16_384, eval_batches=4,
        study=StudySpec(d0=2048, std_sizes=((2, 32),), reg_sizes=((1, 32), (2, 32), (2, 64)), main=(2, 32),
                        lrs=(8e-3,), std_epochs=(2,), reg_wds=(0.8,), reg_epochs=(2,), ensemble_k=3,
                        ensemble_sizes=((1, 32), (2, 32), (2, 64)), max_runs=20, certify=False, seeds=2,
                        headline_seeds=3)),
    # A 2-core CPU in <= 15 minutes (13.3 min on an AMD EPYC without AMX, whose runs are ~1.4x slower than on the
    # AMX Xeon): tiny models (head dim 32). 50k-token studies (benchmarks/RESULTS.md) certified wd 6.4, 8 epochs
    # and lr 4e-3 for both recipes; the grids start around those and certification walks on if needed. The 1-epoch
    # standard runs give the data-constrained law its single-epoch base (`squeeze fit`). D0 = 20k took 34.5 min,
    # three quarters of it the standard recipe at 2-8 x D0; D0 = 10k halves it. On the corpus cut into pieces the
    # standard law stops at 4 x D0 (the 8 x D0 budget was a quarter of the study's compute and no row read above
    # 2.2x), and those minutes buy 8 seeds for the headline's three points (the best recipe's interval -8% / +9%
    # of its value). Its runs of ~5-30 s do not repay a cold compile, so `auto` leaves them eager.
    # The final evaluation reads the first 65,536 of the ~220k validation tokens (a full pass cost ~5 s a run); the
    # epoch-end ones 8,192, and
    # only at epochs 1, 2, 4, 8: evaluating all 15 epoch ends made a 16-epoch 2 x 64 run at D0 17-25% slower
    # (7.2 s vs 5.7 s in benchmarks/study_overheads.py), the same final loss to the bit
    "default": Preset(
        name="default", vocab_size=1024, n_layer=2, d_model=64, n_head=2, seq_len=128, batch_size=16, epochs=8,
        compile="auto", final_eval_tokens=65_536, eval_batches=4, epoch_evals="doubling",
        study=StudySpec(d0=10_000, std_sizes=((2, 32), (2, 64)), reg_sizes=((1, 32), (2, 32), (2, 64), (3, 96)),
                        main=(2, 64), lrs=(4e-3, 8e-3), std_epochs=(1, 4, 8, 16), reg_wds=(3.2, 6.4),
                        reg_epochs=(8, 16), ensemble_k=4, ensemble_sizes=((1, 32), (2, 32), (2, 64)), minutes=60,
                        std_top=4, headline_seeds=8)),
    # benchmarks/flagship.py: the study where the methods have room to work on a 2-core CPU, resumable over many
    # invocations: D0 = 100k, sizes up to 6 x 256 (~5M parameters), 3 seeds (6 for the headline's three points),
    # every step kept, in a 12-hour budget. Its first attempt walked from lr {2e-3, 4e-3} and epochs {2, 4, 8} to
    # 8e-3 and 16 at D0 and 2 x D0 (benchmarks/RESULTS.md), so the standard grid starts there. Four regularized and
    # ensemble sizes, so that their limits over parameters can be checked (squeeze/study/asymptotes.py); the
    # fourth, 6 x 256, was added after the 7.72-h run in RESULTS.md and is not yet timed
    "flagship": Preset(
        name="flagship", vocab_size=2048, n_layer=4, d_model=128, n_head=4, seq_len=128, batch_size=16, epochs=8,
        compile="auto", final_eval_tokens=131_072, eval_batches=8,
        study=StudySpec(d0=100_000, std_sizes=((2, 64), (4, 128)),
                        reg_sizes=((2, 64), (4, 128), (4, 192), (6, 256)), main=(4, 128), lrs=(4e-3, 8e-3),
                        std_epochs=(4, 8), reg_wds=(1.6, 3.2, 6.4), reg_epochs=(8, 16), ensemble_k=4,
                        ensemble_sizes=((2, 64), (4, 128), (4, 192), (6, 256)),
                        max_runs=200, minutes=720, headline_seeds=6)),
    # one modern GPU: a 12 x 768 model (~110M params incl. embeddings) on tens of millions of tokens
    "gpu": Preset(
        name="gpu", vocab_size=8192, n_layer=12, d_model=768, n_head=12, seq_len=1024, batch_size=64, epochs=8,
        compile="on",
        study=StudySpec(d0=20_000_000, std_sizes=((8, 512), (12, 768)), reg_sizes=((6, 384), (8, 512), (12, 768)),
                        main=(12, 768), lrs=(1e-3, 2e-3, 4e-3), std_epochs=(1, 2, 4, 8), reg_wds=(0.4, 0.8, 1.6),
                        reg_epochs=(4, 8, 16), ensemble_k=8, ensemble_sizes=((6, 384), (8, 512), (12, 768)))),
}


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise SqueezeError(f"--preset {name}: unknown preset (known: {', '.join(PRESETS)})")
    return PRESETS[name]


def preset_config(name: str, recipe_name: str = "regularized") -> Config:
    """The config of `recipe_name` sized by preset `name` (data.path left for the caller)."""
    p = get(name)
    c = recipes.recipe(recipe_name)
    c.model.n_layer, c.model.d_model, c.model.n_head, c.model.seq_len = p.n_layer, p.d_model, p.n_head, p.seq_len
    c.train.batch_size, c.train.compile = p.batch_size, p.compile
    c.data.budget_tokens = p.d0
    c.train.eval_tokens = p.eval_batches * p.seq_len * p.batch_size  # epoch-end evals on a slice
    c.train.epoch_evals = p.epoch_evals
    c.train.final_eval_tokens = p.final_eval_tokens
    if c.model.loop_repeats:  # the recipe placed its looped block for its own depth
        c.model.loop_start, c.model.loop_end = recipes.loop_block(p.n_layer)
    if recipe_name in (recipes.Recipe.REGULARIZED, recipes.Recipe.BEST, recipes.Recipe.SNAPSHOT):
        c.train.epochs = p.epochs
    return c
