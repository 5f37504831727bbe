"""Hyperparameter grids: the points a sweep crosses and the run directory each one trains in.

A `Grid` crosses learning rates, weight decays, epochs, model sizes, budgets and seeds; each point is a typed
`GridPoint`, trained in the run directory `ROOT/b250000/L4d128/lr0.002_wd0.8_ep16_s0` (its `name`) from a copy of
one base config with the point's values set (`point_config`). Pure: nothing here touches disk.
Exercised by tests/test_sweep.py.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

from squeeze.config import Config
from squeeze.errors import SqueezeError

AXES = ("lr", "weight_decay", "epochs")  # the axes a certificate steps along
GROUP = ("budget_tokens", "n_layer", "d_model")  # a certificate is per (budget, size) group
POINT_KEYS = (*GROUP, *AXES, "seed")  # the same names as the columns of squeeze.runs.results


@dataclass(frozen=True)
class GridPoint:
    """One point of a grid: a (budget, size) group, the three tuned values and, for a run, its seed. Without a seed
    it is a hyperparameter point (all its seeds: what a certificate compares)."""
    budget_tokens: int  # data.budget_tokens; 0 = the whole store
    n_layer: int
    d_model: int
    lr: float
    weight_decay: float
    epochs: int
    seed: int | None = None  # init and data-order seed of the run; None = every seed

    @classmethod
    def from_row(cls, row: dict, seed: bool = True) -> GridPoint:
        """The point of a result row (squeeze.runs.results.collect); without its seed when `seed` is False."""
        return cls(*(row[k] for k in (*GROUP, *AXES)), seed=row["seed"] if seed else None)

    @property
    def group(self) -> tuple[int, int, int]:
        return self.budget_tokens, self.n_layer, self.d_model

    @property
    def hp(self) -> GridPoint:
        """The hyperparameter point: this one without its seed."""
        return replace(self, seed=None)

    def seeded(self, seed: int) -> GridPoint:
        return replace(self, seed=seed)

    @property
    def name(self) -> str:
        return point_name(self)

    @property
    def short_name(self) -> str:
        """The name within its group: `lr0.002_wd0.8_ep16`."""
        return f"lr{self.lr:g}_wd{self.weight_decay:g}_ep{self.epochs}"


@dataclass
class Grid:
    """The values to cross. Sizes are (n_layer, d_model); the head dim stays the base config's (see point_config)."""
    lr: list[float]
    weight_decay: list[float]
    epochs: list[int]
    sizes: list[tuple[int, int]]
    budgets: list[int]  # data.budget_tokens; 0 = the whole store
    seeds: list[int] = field(default_factory=lambda: [0])  # seed s: the run's init and data-order seed

    def __post_init__(self) -> None:
        self.lr, self.weight_decay = [float(x) for x in self.lr], [float(x) for x in self.weight_decay]
        self.sizes = [tuple(s) for s in self.sizes]
        for name in ("lr", "weight_decay", "epochs", "sizes", "budgets", "seeds"):
            values = getattr(self, name)
            if not values:
                raise SqueezeError(f"grid {name}: no values")
            dup = next((v for i, v in enumerate(values) if v in values[:i]), None)
            if dup is not None:
                raise SqueezeError(f"grid {name}: {dup} given twice")

    def values(self, axis: str) -> list:
        return sorted(getattr(self, axis))

    def groups(self) -> list[tuple[int, int, int]]:
        """(budget_tokens, n_layer, d_model) of every group, in grid order."""
        return [(b, n, d) for b in self.budgets for n, d in self.sizes]

    def group(self, key: tuple[int, int, int]) -> Grid:
        return replace(self, budgets=[key[0]], sizes=[(key[1], key[2])])

    def points(self) -> list[GridPoint]:
        return [GridPoint(b, n, d, lr, wd, ep, s)
                for (b, n, d), lr, wd, ep, s in itertools.product(self.groups(), self.lr, self.weight_decay,
                                                                    self.epochs, self.seeds)]


def group_name(key: tuple[int, int, int]) -> str:
    """`b250000/L4d128` for (budget_tokens, n_layer, d_model); budget 0 (the whole store) is `ball`."""
    budget, n_layer, d_model = key
    return f"{f'b{budget}' if budget else 'ball'}/L{n_layer}d{d_model}"


def point_name(point: GridPoint) -> str:
    """`b250000/L4d128/lr0.002_wd0.8_ep16_s0` (`_s<seed>` only for a point with a seed). Floats print with :g
    (6 significant digits), so 2e-3 and 0.002 name the same directory."""
    seed = "" if point.seed is None else f"_s{point.seed}"
    return f"{group_name(point.group)}/{point.short_name}{seed}"


def point_config(base: Config, point: GridPoint) -> Config:
    """The base config with the point's values, checked as any config is. Width grows by adding heads at the
    base's head dim (32 in the default preset: n_head = d_model / 32), as GPT-3-style families do, so attention
    stays comparable across sizes. A point's seed is the run's init seed, set (not added to the base's); the
    data-order seed keeps the base's distance from it (equal in every study run)."""
    head_dim = base.model.d_model // base.model.n_head
    if point.d_model % head_dim:
        raise SqueezeError(f"--sizes {point.n_layer}x{point.d_model}: d_model must be a multiple of the base "
                           f"head dim {head_dim} (model.d_model / model.n_head)")
    c = base.copy()
    c.model.n_layer, c.model.d_model, c.model.n_head = point.n_layer, point.d_model, point.d_model // head_dim
    c.data.budget_tokens = point.budget_tokens
    c.train.lr, c.train.weight_decay, c.train.epochs = point.lr, point.weight_decay, point.epochs
    if point.seed is not None:
        c.train.seed, c.data.seed = point.seed, base.data.seed - base.train.seed + point.seed
        if c.data.seed < 0:
            raise SqueezeError(f"seed {point.seed}: the data-order seed would be {c.data.seed} (data.seed "
                               f"{base.data.seed} is {base.train.seed - base.data.seed} below train.seed); use "
                               "seeds >= train.seed - data.seed")
    return c.copy()  # the copy runs every section's checks again
