"""Named recipes and presets as Python functions that return configs (copy, then override).

A recipe says *how* to train (optimizer, weight decay, epochs); a preset says *how big* (model shape, budget,
vocabulary) for a machine: `smoke` (a test, seconds), `default` (a 2-core CPU), `gpu` (one modern GPU).
`squeeze train --recipe regularized` and `squeeze run --preset default` use these; tests/test_recipes.py checks them.
"""
from dataclasses import dataclass
from typing import Callable

from squeeze.config import Config
from squeeze.errors import SqueezeError


def standard(base: Config | None = None) -> Config:
    """The standard recipe: AdamW, weight decay 0.1, cosine schedule. Epochs and lr get tuned like any other
    recipe's (DESIGN.md section 2); 4 epochs is the untuned starting point (Kim et al. 2025 found 4-8 best)."""
    c = (base or Config()).copy()
    c.recipe = "standard"
    c.train.optimizer, c.train.weight_decay, c.train.schedule, c.train.epochs = "adamw", 0.1, "cosine", 4
    return c


def regularized(base: Config | None = None) -> Config:
    """Many epochs with strong weight decay: 0.8 is 8x the usual 0.1 (Kim et al. 2025 found 0.8-3.2 optimal at
    150M-1.4B params on 200M tokens); 16 epochs because returns on repeated data last to ~16 (Muennighoff 2023)
    and the pilot in DESIGN.md section 5 was still improving there."""
    c = standard(base)
    c.recipe = "regularized"
    c.train.weight_decay, c.train.epochs = 0.8, 16
    return c


def ensemble_member(base: Config) -> Config:
    """An ensemble member from the best single model's config: twice the epochs and half the weight decay (Kim et
    al. 2025: members want ~2x the epochs and ~1/2 the weight decay). Seeds are set by the caller, per member."""
    c = base.copy()
    c.train.epochs *= 2
    c.train.weight_decay /= 2
    return c


def loop_block(n_layer: int) -> tuple[int, int]:
    """The looped block of the `best` recipe: the second half of the blocks (the last one of the 2-layer model
    measured in benchmarks/ablations.py; Slowrun loops layers 15-24 of 30)."""
    return n_layer // 2, n_layer


def best(base: Config | None = None) -> Config:
    """The regularized recipe plus the issue-5 options whose mean gain in benchmarks/ablations.py (3 seeds, 2x64
    model, 50k tokens, against lr 4e-3, wd 6.4, 8 epochs) exceeded the seed spread (benchmarks/RESULTS.md):
    document shuffling (-0.022 nats), 5% random-token input replacement (-0.020) and the looped second half with
    input injection, 2 extra passes in the last 50% of steps (-0.016 alone at 8 epochs). The loop stays because,
    with epochs certified for each, the options with it (best at 22 epochs: 4.188) beat the options without it
    (best at 16: 4.216), also at equal FLOPs (16 looped epochs 4.197 vs 22 plain 4.225). The options move the best
    epoch count up (plain: 11), so `squeeze run` certifies this recipe's epochs again; 16 here is a start.
    The looped block is placed for the base's depth (presets re-place it); with `--model.n_layer=N` on the command
    line pass `--model.loop_start=N//2 --model.loop_end=N` too (the config check names them otherwise)."""
    return best_options(regularized(base))


def best_options(base: Config) -> Config:
    """Only the options of `best`, on any config (the study adds them to its certified regularized point)."""
    c = base.copy()
    c.recipe = "best"
    c.data.doc_shuffle = True
    c.train.aug_replace_rate = 0.05
    c.model.loop_start, c.model.loop_end = loop_block(c.model.n_layer)
    c.model.loop_repeats, c.model.loop_inject, c.train.loop_from = 2, True, 0.5
    return c


def snapshot(base: Config | None = None) -> Config:
    """Snapshot ensembles inside one run (issue 19) on the regularized recipe: 4 cosine cycles of the lr, each ending
    in a snapshot (snapshot001..004.safetensors; `squeeze eval RUN_DIR --snapshots` scores them as an ensemble).
    Only the cycles: in benchmarks/snapshots.py (2 x 64, 80k tokens, 16 epochs, 3 seeds; benchmarks/RESULTS.md) the
    NanoGPT Slowrun record's other techniques each made the snapshot ensemble worse or no better at this scale.
    Chain distillation from the previous snapshot made the snapshots agree, so their mixture gained nothing over
    the last one; the MTP head cost 0.02 nats; the bounded wd anti-correlation and the weight noise moved nothing
    beyond noise. They stay available as options (train.wd_cycle_min, train.snapshot_noise,
    distill.snapshot_alpha, model.mtp_heads)."""
    return snapshot_options(regularized(base))


def snapshot_options(base: Config) -> Config:
    """Only the options of `snapshot`, on any config (the study adds them to its certified regularized point)."""
    c = base.copy()
    c.recipe = "snapshot"
    c.train.lr_cycles = 4
    return c


RECIPES: dict[str, Callable[[Config | None], Config]] = {"standard": standard, "regularized": regularized,
                                                         "best": best, "snapshot": snapshot}


# The label of the reference models perplexity pruning trains (squeeze/prune/perplexity.py): standard-recipe runs
# on one fold of the pool, which a study must never count as points of the standard recipe itself
PERPLEXITY_REFERENCE = "perplexity-reference"


def recipe(name: str, base: Config | None = None) -> Config:
    if name not in RECIPES:
        raise SqueezeError(f"--recipe {name}: unknown recipe (known: {', '.join(RECIPES)})")
    return RECIPES[name](base)


@dataclass(frozen=True)
class Preset:
    """How big a study is: the model shape, vocabulary and the base budget D0 for one kind of machine (the grids
    of the full study are in squeeze/study/plan.py)."""
    name: str
    vocab_size: int
    n_layer: int
    d_model: int
    n_head: int
    seq_len: int
    batch_size: int
    budget_tokens: int  # D0: unique training tokens of the base budget
    epochs: int
    compile: bool
    final_eval_tokens: int = 0  # 0 = every validation token
    eval_batches: int = 32  # the epoch-end evaluations read this many batches of validation tokens
    epoch_evals: str = "every"  # which epoch ends are evaluated (train.epoch_evals): every one, or 1, 2, 4, 8, ...


PRESETS = {
    # seconds per run: exercises every code path, numbers mean nothing (the final eval sees 16k tokens)
    "smoke": Preset("smoke", 512, 2, 64, 2, 64, 8, 2048, 2, False, final_eval_tokens=16_384, eval_batches=4),
    # a 2-core CPU: tiny models (head dim 32) on a 20k-token budget (the study's D0 is 10k: squeeze/study/plan.py);
    # runs of ~10-60 s do not repay torch.compile's ~20 s start. The final evaluation reads the first 65,536 of the
    # ~220k validation tokens (a full pass cost ~5 s a run); the epoch-end ones 8,192 (at 32 batches, 65,536, they
    # cost twice the training itself at a 10k-token D0), and only at epochs 1, 2, 4, 8: evaluating all 15 epoch
    # ends made a 16-epoch 2 x 64 run at D0 17-25% slower (7.2 s vs 5.7 s in benchmarks/study_overheads.py), the
    # same final loss to the bit
    "default": Preset("default", 1024, 2, 64, 2, 128, 16, 20_000, 8, False, final_eval_tokens=65_536,
                      eval_batches=4, epoch_evals="doubling"),
    # benchmarks/flagship.py: the study where the methods have room to work on a 2-core CPU, resumable over many
    # invocations (D0 = 100k tokens, models up to ~5M parameters; its grids are in squeeze/study/plan.py)
    "flagship": Preset("flagship", 2048, 4, 128, 4, 128, 16, 200_000, 8, False, final_eval_tokens=131_072,
                       eval_batches=8),
    # one modern GPU: a 12 x 768 model (~110M params incl. embeddings) on tens of millions of tokens
    "gpu": Preset("gpu", 8192, 12, 768, 12, 1024, 64, 20_000_000, 8, True),
}


def preset(name: str, recipe_name: str = "regularized") -> Config:
    """The config of `recipe_name` sized by preset `name` (data.path left for the caller)."""
    if name not in PRESETS:
        raise SqueezeError(f"--preset {name}: unknown preset (known: {', '.join(PRESETS)})")
    p = PRESETS[name]
    c = recipe(recipe_name)
    c.model.n_layer, c.model.d_model, c.model.n_head, c.model.seq_len = p.n_layer, p.d_model, p.n_head, p.seq_len
    c.train.batch_size, c.train.compile = p.batch_size, p.compile
    c.data.budget_tokens = p.budget_tokens
    c.train.eval_tokens = p.eval_batches * p.seq_len * p.batch_size  # epoch-end evals on a slice
    c.train.epoch_evals = p.epoch_evals
    c.train.final_eval_tokens = p.final_eval_tokens
    if c.model.loop_repeats:  # the recipe placed its looped block for its own depth
        c.model.loop_start, c.model.loop_end = loop_block(p.n_layer)
    if recipe_name in ("regularized", "best", "snapshot"):
        c.train.epochs = p.epochs
    return c
