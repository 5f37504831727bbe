"""Named recipes as Python functions that return configs (copy, then override), and the names runs record.

A recipe says *how* to train (optimizer, weight decay, epochs); a preset (squeeze/presets.py) says *how big*.
`squeeze train --recipe regularized` uses these; the study and its report name recipes by `Recipe`.
Exercised by tests/test_recipes.py.
"""
from enum import StrEnum
from typing import Callable

from squeeze._moved import forwarder
from squeeze.config import Config
from squeeze.errors import SqueezeError


class Recipe(StrEnum):
    """The `recipe` a run's config.json records: which recipe (or study role) its values came from. Equal to the
    plain strings, so config files and result rows compare with them directly."""
    STANDARD = "standard"
    REGULARIZED = "regularized"
    BEST = "best"
    SNAPSHOT = "snapshot"
    DISTILL = "distill"  # a student distilled from an ensemble (the study's ensemble step: the main size)
    DISTILL_EIGHTH = "distill-eighth"  # the study's student at 1/8 of the largest ensemble's parameters
    ENSEMBLE_MEMBER = "ensemble_member"  # `squeeze ensemble` with the published member rule
    # the reference models perplexity pruning trains (squeeze/prune/perplexity.py): standard-recipe runs on one
    # fold of the pool, which a study must never count as points of the standard recipe itself
    PERPLEXITY_REFERENCE = "perplexity-reference"


SELECT_PREFIX = "select-"  # the study's data-selection runs: select-<method>


def select_recipe(method: str) -> str:
    """The recipe name of the study's runs on the subset that `method` kept."""
    return f"{SELECT_PREFIX}{method}"


def standard(base: Config | None = None) -> Config:
    """The standard recipe: AdamW, weight decay 0.1, cosine schedule. Epochs and lr get tuned like any other
    recipe's (docs/design.md section 2); 4 epochs is the untuned starting point (Kim et al. 2025 found 4-8 best)."""
    c = (base or Config()).copy()
    c.recipe = Recipe.STANDARD
    c.train.optimizer, c.train.weight_decay, c.train.schedule, c.train.epochs = "adamw", 0.1, "cosine", 4
    return c


def regularized(base: Config | None = None) -> Config:
    """Many epochs with strong weight decay: 0.8 is 8x the usual 0.1 (Kim et al. 2025 found 0.8-3.2 optimal at
    150M-1.4B params on 200M tokens); 16 epochs because returns on repeated data last to ~16 (Muennighoff 2023)
    and the pilot of docs/design.md section 7 was still improving there."""
    c = standard(base)
    c.recipe = Recipe.REGULARIZED
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
    c.recipe = Recipe.BEST
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
    c.recipe = Recipe.SNAPSHOT
    c.train.lr_cycles = 4
    return c


RECIPES: dict[str, Callable[[Config | None], Config]] = {Recipe.STANDARD: standard, Recipe.REGULARIZED: regularized,
                                                         Recipe.BEST: best, Recipe.SNAPSHOT: snapshot}


def recipe(name: str, base: Config | None = None) -> Config:
    if name not in RECIPES:
        raise SqueezeError(f"--recipe {name}: unknown recipe (known: {', '.join(RECIPES)})")
    return RECIPES[name](base)


__getattr__ = forwarder(__name__)  # old names of the preset table, now in squeeze/presets.py
