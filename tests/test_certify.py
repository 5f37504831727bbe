"""squeeze/study/certify.py against hand-made result rows (dicts, as squeeze.runs.results.collect returns them) on
`Grid`s: where the certificate's edges step to, which neighbours are flat by the noise rule, what it says. Read
through the certificate's status, best loss and words and the points' names only (tests/test_sweep.py has the
first certificate tests)."""
import math

import pytest
from scipy.stats import t

from squeeze.study.certify import certify, extend_grid
from squeeze.study.grid import Grid, GridPoint, point_name

SIZE, BUDGET = (2, 64), 10_000


def grid(lr=(2e-3,), wd=(0.8,), epochs=(8,), seeds=(0,)) -> Grid:
    return Grid(list(lr), list(wd), list(epochs), [SIZE], [BUDGET], list(seeds))


def row(lr, wd, ep, loss, seed=0, budget=BUDGET) -> dict:
    return {"budget_tokens": budget, "n_layer": SIZE[0], "d_model": SIZE[1], "lr": lr, "weight_decay": wd,
            "epochs": ep, "seed": seed, "val_loss": loss, "finished": loss is not None}


def test_edges_step_by_the_grids_own_ratio_or_by_two():
    g = grid(lr=(1e-3, 3e-3), wd=(0.0, 0.4), epochs=(3,))
    wide = extend_grid(g, certify([row(3e-3, 0.0, 3, 4.0)], g))
    assert wide.lr == [1e-3, 3e-3, 9e-3]  # x3 up: the grid's ratio
    assert wide.weight_decay == [0.0, 0.4]  # nothing below zero
    assert wide.epochs == [1, 3, 6]  # a one-value axis both ways: 3 // 2 and 3 x 2
    low = extend_grid(g, certify([row(1e-3, 0.4, 3, 4.0)], g))
    assert low.lr == [0.000333333, 1e-3, 3e-3]  # /3, in the 6 digits a run's name prints
    assert low.weight_decay == [0.0, 0.4, 0.8]  # x2: a ratio to 0 is none
    one = grid(epochs=(1,))
    assert extend_grid(one, certify([row(2e-3, 0.8, 1, 4.0)], one)).epochs == [1, 2]  # no epoch below 1


def test_a_one_value_grid_has_no_neighbours_and_its_edges_widen_both_ways():
    g = grid()
    cert = certify([row(2e-3, 0.8, 8, 4.25)], g)
    assert cert.status == "edge" and not cert.certified and cert.best_loss == 4.25
    assert cert.describe() == ("not certified: no neighbours on the grid (one value per axis); best at the edge "
                               "of the lr, weight_decay and epochs grids: widen them")
    wide = extend_grid(g, cert)
    assert (wide.lr, wide.weight_decay, wide.epochs) == ([1e-3, 2e-3, 4e-3], [0.4, 0.8, 1.6], [4, 8, 16])
    only_lr = certify([row(2e-3, 0.8, 8, 4.25)], g, axes=("lr",))
    assert only_lr.describe().endswith("best at the edge of the lr grid: widen it")


def test_flat_neighbours_are_those_within_the_t_threshold_and_get_the_full_seeds():
    """By hand: each point's two seeds differ by 0.1, so SS = 0.005 per point, 3 dof, pooled s = sqrt(0.015 / 3) =
    0.0707. Flat below
    t(0.95, 3) x s x sqrt(1/2 + 1/2) = 0.1664: lr 1e-3 (+0.16) is flat, lr 4e-3 (+0.17) is worse."""
    g = grid(lr=(1e-3, 2e-3, 4e-3), seeds=(0,))
    s = math.sqrt(3 * 0.005 / 3)
    limit = t.ppf(0.95, 3) * s
    assert limit == pytest.approx(0.16641, abs=1e-5)
    rows = [row(lr, 0.8, 8, mean + d, seed=k) for lr, mean in ((2e-3, 4.0), (1e-3, 4.16), (4e-3, 4.17))
            for k, d in ((0, -0.05), (1, 0.05))]
    cert = certify(rows, g, axes=("lr",), best_seeds=2)
    assert cert.certified and cert.best_loss == pytest.approx(4.0)
    assert [p.short_name for p, _ in cert.flat] == ["lr0.001_wd0.8_ep8"]
    assert cert.describe() == ("certified: every one-step neighbour trained and none better (on seed means); "
                               "flat (within noise): lr0.001_wd0.8_ep8")
    three = certify(rows, g, axes=("lr",), best_seeds=3)  # the flat neighbour needs the best's seeds too
    assert sorted(point_name(p) for p in three.missing) == [
        "b10000/L2d64/lr0.001_wd0.8_ep8_s2", "b10000/L2d64/lr0.002_wd0.8_ep8_s2"]
    assert three.describe() == ("not certified: best lacks seed 2; 1 neighbour missing (lr0.001_wd0.8_ep8); flat "
                                "(within noise): lr0.001_wd0.8_ep8")


def test_missing_and_better_neighbours_are_counted_and_named():
    g = grid(lr=(1e-3, 2e-3, 4e-3), wd=(0.4, 0.8, 1.6), epochs=(4, 8, 16))
    alone = certify([row(2e-3, 0.8, 8, 4.0)], g)
    assert alone.status == "not certified" and alone.describe() == (
        "not certified: 6 neighbours missing (lr0.001_wd0.8_ep8, lr0.004_wd0.8_ep8, lr0.002_wd0.4_ep8, ...)")
    rows = [row(2e-3, 0.8, 8, 4.0), row(1e-3, 0.8, 8, 3.5), row(2e-3, 0.4, 8, 3.75)]
    center = GridPoint(BUDGET, 2, 64, 2e-3, 0.8, 8)
    cert = certify(rows, g, candidate=center)
    assert cert.best_loss == 4.0 and cert.describe() == (
        "not certified: 4 neighbours missing (lr0.004_wd0.8_ep8, lr0.002_wd1.6_ep8, lr0.002_wd0.8_ep4, ...); "
        "2 neighbours better (lr0.001_wd0.8_ep8: 3.5000, lr0.002_wd0.4_ep8: 3.7500)")
    best = certify(rows, g)  # left alone it takes the lowest mean, lr 1e-3, which sits on the lr edge
    assert point_name(best.best) == "b10000/L2d64/lr0.001_wd0.8_ep8" and best.status == "edge"
    assert best.best_loss == 3.5


def test_ties_go_to_the_first_point_in_grid_order_and_other_rows_are_ignored():
    g = grid(lr=(1e-3, 2e-3, 4e-3))
    rows = [row(4e-3, 0.8, 8, 4.0), row(2e-3, 0.8, 8, 4.0), row(1e-3, 0.8, 8, 4.5),
            row(1e-3, 0.8, 8, 1.0, seed=7),  # another replicate's seed
            row(1e-3, 0.8, 8, 1.0, budget=20_000),  # another group
            row(1e-3, 0.8, 8, None, seed=0)]  # a run without a loss yet
    cert = certify(rows, g, axes=("lr",))
    assert point_name(cert.best) == "b10000/L2d64/lr0.002_wd0.8_ep8" and cert.best_loss == 4.0
    assert cert.n_seeds == 1 and cert.certified and cert.n_neighbours == 2


def test_refusals():
    g = grid(lr=(1e-3, 2e-3))
    with pytest.raises(ValueError, match="one .budget, size. group at a time"):
        certify([], Grid([1e-3], [0.8], [8], [SIZE, (4, 128)], [BUDGET]))
    with pytest.raises(ValueError, match=r"unknown axes \['momentum'\]"):
        certify([], g, axes=("lr", "momentum"))
    other = GridPoint(BUDGET, 2, 64, 3e-3, 0.8, 8)
    with pytest.raises(ValueError, match="candidate b10000/L2d64/lr0.003_wd0.8_ep8 is not a point of the grid"):
        certify([], g, candidate=other)
    empty = certify([], g)
    assert empty.status == "not certified" and empty.best is None and empty.best_loss is None
    assert empty.n_seeds == 0 and empty.n_neighbours == 0 and extend_grid(g, empty) is None


def test_the_words_count_seeds_neighbours_and_edges():
    g = grid(lr=(1e-3, 2e-3), wd=(0.4, 0.8, 1.6))
    cert = certify([row(2e-3, 0.8, 8, 4.0)], g, best_seeds=3)
    assert cert.describe() == (
        "not certified: best lacks seeds 1, 2; 3 neighbours missing (lr0.001_wd0.8_ep8, lr0.002_wd0.4_ep8, "
        "lr0.002_wd1.6_ep8); best at the edge of the lr and epochs grids: widen them")


def test_one_degree_of_freedom_is_enough_noise_and_unequal_seeds_widen_the_threshold():
    """The best's two seeds (3.95, 4.05: s = 0.0707, 1 dof), neighbours with one seed: flat below
    t(0.95, 1) x s x sqrt(1/2 + 1/1) = 0.547, so +0.4 is flat and +0.6 is worse."""
    assert t.ppf(0.95, 1) * math.sqrt(0.005) * math.sqrt(1.5) == pytest.approx(0.5468, abs=1e-4)
    g = grid(lr=(1e-3, 2e-3, 4e-3))
    rows = [row(2e-3, 0.8, 8, 3.95), row(2e-3, 0.8, 8, 4.05, seed=1), row(1e-3, 0.8, 8, 4.4), row(4e-3, 0.8, 8, 4.6)]
    cert = certify(rows, g, axes=("lr",), best_seeds=2)
    assert cert.status == "not certified" and cert.describe() == (
        "not certified: 1 neighbour missing (lr0.001_wd0.8_ep8); flat (within noise): lr0.001_wd0.8_ep8")


def test_a_diverged_seed_stays_out_of_the_noise_and_flat_still_holds():
    """The 1-dof case above plus lr 4e-3 with seeds 4.5 and NaN (diverged, counted as inf): a point with a
    non-finite seed is left out of the pooled SD, which it would make nan (and nan silences every flat label), so
    the noise is still the best's s = sqrt(0.005) on 1 dof and lr 1e-3 (+0.4) is flat; lr 4e-3 (mean inf) is worse."""
    g = grid(lr=(1e-3, 2e-3, 4e-3))
    rows = [row(2e-3, 0.8, 8, 3.95), row(2e-3, 0.8, 8, 4.05, seed=1), row(1e-3, 0.8, 8, 4.4),
            row(4e-3, 0.8, 8, 4.5), row(4e-3, 0.8, 8, math.nan, seed=1)]
    cert = certify(rows, g, axes=("lr",), best_seeds=2)
    assert cert.noise == pytest.approx((math.sqrt(0.005), 1))
    assert [p.short_name for p, _ in cert.flat] == ["lr0.001_wd0.8_ep8"] and not cert.better
