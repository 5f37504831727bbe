"""Hyperparameter grids: the points a sweep crosses and the run directory each one trains in.

A `Grid` crosses learning rates, weight decays, epochs, model sizes, budgets and seeds; each point is a run
directory `ROOT/b250000/L4d128/lr0.002_wd0.8_ep16_s0` (`point_name`) made by copy-and-override of one base
config (`point_config`). Pure: nothing here touches disk. Exercised by tests/test_sweep.py.
"""
import itertools
from dataclasses import dataclass, field, replace

from squeeze.config import Config, apply_overrides
from squeeze.errors import SqueezeError

AXES = ("lr", "weight_decay", "epochs")  # the axes a certificate steps along
GROUP = ("budget_tokens", "n_layer", "d_model")  # a certificate is per (budget, size) group
POINT_KEYS = (*GROUP, *AXES, "seed")  # the same names as the columns of squeeze.runs.results


@dataclass
class Grid:
    """The values to cross. Sizes are (n_layer, d_model); the head dim stays the base config's (see point_config)."""
    lr: list[float]
    weight_decay: list[float]
    epochs: list[int]
    sizes: list[tuple[int, int]]
    budgets: list[int]  # data.budget_tokens; 0 = the whole store
    seeds: list[int] = field(default_factory=lambda: [0])  # seed s: init and data order both shifted by s

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

    def group(self, key: tuple[int, int, int]) -> "Grid":
        return replace(self, budgets=[key[0]], sizes=[(key[1], key[2])])

    def points(self) -> list[dict]:
        return [dict(zip(POINT_KEYS, (b, n, d, lr, wd, ep, s)))
                for (b, n, d), lr, wd, ep, s in itertools.product(self.groups(), self.lr, self.weight_decay,
                                                                    self.epochs, self.seeds)]


def group_name(key: tuple[int, int, int]) -> str:
    """`b250000/L4d128` for (budget_tokens, n_layer, d_model); budget 0 (the whole store) is `ball`."""
    budget, n_layer, d_model = key
    return f"{f'b{budget}' if budget else 'ball'}/L{n_layer}d{d_model}"


def point_name(point: dict) -> str:
    """`b250000/L4d128/lr0.002_wd0.8_ep16_s0`; the group part and the seed are left out when the point lacks
    them. Floats print with :g (6 significant digits), so 2e-3 and 0.002 name the same directory."""
    leaf = f"lr{point['lr']:g}_wd{point['weight_decay']:g}_ep{point['epochs']}"
    leaf += f"_s{point['seed']}" if "seed" in point else ""
    return f"{group_name(tuple(point[k] for k in GROUP))}/{leaf}" if GROUP[0] in point else leaf


def point_config(base: Config, point: dict) -> Config:
    """The base config with the point's values. Width grows by adding heads at the base's head dim (32 in the
    default preset: n_head = d_model / 32), as GPT-3-style families do, so attention stays comparable across sizes."""
    head_dim = base.model.d_model // base.model.n_head
    if point["d_model"] % head_dim:
        raise SqueezeError(f"--sizes {point['n_layer']}x{point['d_model']}: d_model must be a multiple of the base "
                           f"head dim {head_dim} (model.d_model / model.n_head)")
    return apply_overrides(base, [
        f"model.n_layer={point['n_layer']}", f"model.d_model={point['d_model']}",
        f"model.n_head={point['d_model'] // head_dim}", f"data.budget_tokens={point['budget_tokens']}",
        f"train.lr={point['lr']!r}", f"train.weight_decay={point['weight_decay']!r}",
        f"train.epochs={point['epochs']}", f"train.seed={base.train.seed + point['seed']}",
        f"data.seed={base.data.seed + point['seed']}"])
