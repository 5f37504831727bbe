"""Sweeps: point names, configs per point, the certificate on hand-made rows, grid extension, `squeeze sweep`."""
import argparse
import csv

import pytest

from squeeze import config as config_mod
from squeeze.cli.sweep import add_sweep_parser, check_sweep, cmd_sweep, parse_list, parse_sizes
from squeeze.errors import SqueezeError
from squeeze.study.certify import certify, extend_grid
from squeeze.study.grid import Grid, GridPoint, point_config, point_name
from squeeze.study.sweep import grid_jobs
from tests.conftest import tiny_config

GROUP = {"budget_tokens": 250_000, "n_layer": 4, "d_model": 128}


def P(lr, wd, ep, seed=None) -> GridPoint:
    """A point of grid3's group."""
    return GridPoint(250_000, 4, 128, lr, wd, ep, seed)


def grid3(**kw) -> Grid:
    """3 x 3 x 3 around (lr 2e-3, wd 0.2, 4 epochs)."""
    axes = {"lr": [1e-3, 2e-3, 4e-3], "weight_decay": [0.1, 0.2, 0.4], "epochs": [2, 4, 8], "seeds": [0], **kw}
    return Grid(**axes, sizes=[(4, 128)], budgets=[250_000])


def row(lr, wd, ep, loss, seed=0) -> dict:
    return {**GROUP, "lr": lr, "weight_decay": wd, "epochs": ep, "seed": seed, "val_loss": loss}


def star(center=(2e-3, 0.2, 4), loss=4.0, worse=4.1) -> list[dict]:
    """The center and its six one-step neighbours on grid3, every neighbour worse."""
    lr, wd, ep = center
    near = [(lr / 2, wd, ep), (lr * 2, wd, ep), (lr, wd / 2, ep), (lr, wd * 2, ep), (lr, wd, ep // 2),
            (lr, wd, ep * 2)]
    return [row(*center, loss)] + [row(*p, worse + i / 100) for i, p in enumerate(near)]


def test_point_names_are_stable_and_distinct():
    p = P(2e-3, 0.8, 16, seed=0)
    assert point_name(p) == p.name == "b250000/L4d128/lr0.002_wd0.8_ep16_s0"
    assert p.name == P(0.002, 0.8, 16, seed=0).name and p.hp.name == "b250000/L4d128/lr0.002_wd0.8_ep16"
    assert P(1e-5, 0, 1).short_name == "lr1e-05_wd0_ep1"
    assert GridPoint(0, 4, 128, 2e-3, 0.8, 16).name.startswith("ball/")
    assert GridPoint.from_row({**GROUP, "lr": 2e-3, "weight_decay": 0.8, "epochs": 16, "seed": 0, "x": 1}) == p
    g = Grid([1e-3, 2e-3], [0.1, 0.8], [1, 2], [(2, 32), (3, 64)], [0, 4096], seeds=[0, 1])
    names = [point_name(q) for q in g.points()]
    assert len(names) == len(set(names)) == 2 ** 6


def test_grid_jobs_copy_and_override(tiny_store, tmp_path):
    base = tiny_config(tiny_store)  # 2 layers x d 32, 2 heads: head dim 16
    jobs = grid_jobs(base, Grid([1e-3], [0.5], [3], [(3, 64)], [4096], seeds=[7]), tmp_path)
    [c] = [j.cfg for j in jobs]
    assert jobs[0].run_dir == tmp_path / "b4096/L3d64/lr0.001_wd0.5_ep3_s7"
    assert (c.model.n_layer, c.model.d_model, c.model.n_head) == (3, 64, 4)  # head dim 16 kept
    assert (c.train.lr, c.train.weight_decay, c.train.epochs, c.train.seed, c.data.budget_tokens) == \
        (1e-3, 0.5, 3, 7, 4096)
    assert base.train.lr == 3e-3 and c.model.seq_len == base.model.seq_len  # base untouched, the rest kept
    with pytest.raises(SqueezeError, match="multiple of the base head dim 16"):
        grid_jobs(base, Grid([1e-3], [0.5], [3], [(3, 40)], [0]), tmp_path)
    with pytest.raises(SqueezeError, match="share the directory"):
        grid_jobs(base, Grid([2e-3, 2.0000001e-3], [0.5], [3], [(2, 32)], [0]), tmp_path)
    with pytest.raises(SqueezeError, match="grid lr: 0.002 given twice"):
        Grid([2e-3, 0.002], [0.5], [3], [(2, 32)], [0])


def test_a_points_seed_is_set_once_not_added_to_the_base():
    """The study's certified configs carry their seed; a grid point's seed replaces it (the offset is added once,
    by squeeze.study.steps.base.Study.seed), and a base whose data-order seed differs keeps the difference."""
    base = tiny_config("store")
    base.train.seed = base.data.seed = 100
    c = point_config(base, GridPoint(4096, 2, 32, 1e-3, 0.5, 3, seed=101))
    assert (c.train.seed, c.data.seed) == (101, 101)
    base.data.seed = 103
    assert point_config(base, GridPoint(4096, 2, 32, 1e-3, 0.5, 3, seed=101)).data.seed == 104
    assert point_config(base, GridPoint(4096, 2, 32, 1e-3, 0.5, 3)).train.seed == 100  # no seed: the base's
    with pytest.raises(SqueezeError, match="data-order seed would be -1"):
        base.data.seed = 0
        point_config(base, GridPoint(4096, 2, 32, 1e-3, 0.5, 3, seed=99))


def test_certified_when_every_neighbour_is_trained_and_worse():
    cert = certify(star(), grid3())
    assert cert.certified and cert.best == P(2e-3, 0.2, 4)
    assert cert.best_loss == 4.0 and cert.n_neighbours == 6 and not (cert.missing or cert.better or cert.at_edge)
    assert cert.describe() == "certified: every one-step neighbour trained and none better"
    assert cert.status == "certified"


def test_a_missing_neighbour_blocks_the_certificate():
    rows = [r for r in star() if r["lr"] != 4e-3] + [row(4e-3, 0.2, 4, None)]  # unfinished counts as missing
    cert = certify(rows, grid3())
    assert not cert.certified and cert.missing == [P(4e-3, 0.2, 4, seed=0)]
    assert cert.describe() == "not certified: 1 neighbour missing (lr0.004_wd0.2_ep4)"


def test_a_better_neighbour_blocks_the_certificate():
    rows = star()
    rows[1]["val_loss"] = 3.9  # lr 1e-3 beats the center
    cert = certify(rows, grid3(), candidate=P(2e-3, 0.2, 4))
    assert not cert.certified and cert.better == [(P(1e-3, 0.2, 4), 3.9)]
    assert cert.describe() == "not certified: 1 neighbour better (lr0.001_wd0.2_ep4: 3.9000)"
    best = certify(rows, grid3())  # left to itself it picks the better point, whose lower neighbour is missing
    assert best.best.lr == 1e-3 and best.best_loss == 3.9 and best.at_edge == ["lr"] and not best.certified


def test_best_at_an_edge_is_never_certified():
    cert = certify(star(center=(2e-3, 0.2, 8)), grid3())  # no 16-epoch neighbour on the grid
    assert not cert.certified and cert.status == "edge" and cert.at_edge == ["epochs"] and cert.n_neighbours == 5
    assert cert.describe() == "edge: not certified; best at the edge of the epochs grid: widen it"


def test_seeds_are_averaged():
    g = grid3(lr=[1e-3, 2e-3, 4e-3], weight_decay=[0.2], epochs=[4], seeds=[0, 1])
    rows = [row(1e-3, 0.2, 4, 3.0, seed=0), row(1e-3, 0.2, 4, 5.2, seed=1),  # mean 4.1: the best single seed
            row(2e-3, 0.2, 4, 4.0, seed=0), row(2e-3, 0.2, 4, 4.0, seed=1),  # mean 4.0: the best point
            row(4e-3, 0.2, 4, 4.5, seed=0), row(4e-3, 0.2, 4, 4.5, seed=1)]
    cert = certify(rows, g, axes=("lr",))
    assert cert.best.lr == 2e-3 and cert.best_loss == 4.0 and cert.n_seeds == 2 and cert.certified
    # pooled SD over the three points: sqrt(2.42 / 3) = 0.90, so 1e-3 (+0.1) is flat, 4e-3 (+0.5) too at 3 dof
    assert [p.lr for p, _ in cert.flat] == [1e-3, 4e-3] and cert.noise[1] == 3
    cert = certify(rows[:3], g, axes=("lr",))  # lr 2e-3 seed 1 unfinished: its mean is seed 0 alone
    assert cert.best.lr == 2e-3 and cert.n_seeds == 1 and not cert.certified
    assert cert.missing[0] == P(2e-3, 0.2, 4, seed=1)
    assert cert.describe().startswith("not certified: best lacks seed 1; 1 neighbour missing (lr0.004_wd0.2_ep4)")
    assert certify([], g).describe() == "not certified: no finished runs"
    rows[2]["val_loss"] = float("nan")  # a broken run counts as worse than any finished one
    cert = certify(rows, g, axes=("lr",), candidate=P(2e-3, 0.2, 4))
    assert cert.best_loss == float("inf") and [p.lr for p, _ in cert.better] == [1e-3, 4e-3]


def test_extend_grid_steps_beyond_the_edges():
    g = grid3(lr=[1e-3, 2e-3, 4e-3], weight_decay=[0.1, 0.8], epochs=[4, 8, 16])
    cert = certify([row(4e-3, 0.1, 4, 3.0)], g)  # top lr, bottom wd, bottom epochs
    assert cert.at_edge == ["lr", "weight_decay", "epochs"]
    wide = extend_grid(g, cert)
    assert wide.lr == [1e-3, 2e-3, 4e-3, 8e-3]  # x2, the grid's ratio
    assert wide.weight_decay == [0.0125, 0.1, 0.8]  # / 8, the grid's ratio
    assert wide.epochs == [2, 4, 8, 16]
    assert wide.sizes == g.sizes and g.lr == [1e-3, 2e-3, 4e-3]  # the old grid is untouched
    one = grid3(lr=[3e-3], weight_decay=[0.0, 0.1], epochs=[1, 2])
    wide = extend_grid(one, certify([row(3e-3, 0.0, 1, 3.0)], one))
    assert wide.lr == [1.5e-3, 3e-3, 6e-3]  # one value: both ways, x2
    assert wide.weight_decay == [0.0, 0.1] and wide.epochs == [1, 2]  # nothing below wd 0 or 1 epoch
    assert extend_grid(grid3(), certify(star(), grid3())) is None


def test_comma_lists_fail_clearly():
    assert parse_list("1e-3, 2e-3", float, "--lr") == [1e-3, 2e-3] and parse_list(None, int, "--epochs") == []
    with pytest.raises(SqueezeError, match=r"--lr '1e-3,abc': 'abc' is not a number"):
        parse_list("1e-3,abc", float, "--lr")
    with pytest.raises(SqueezeError, match="'2.5' is not an integer"):
        parse_list("1,2.5", int, "--epochs")
    with pytest.raises(SqueezeError, match="empty item"):
        parse_list("1,,2", int, "--epochs")
    assert parse_sizes("4x128,6X192") == [(4, 128), (6, 192)]
    with pytest.raises(SqueezeError, match="'4by128' is not LAYERSxWIDTH"):
        parse_sizes("4by128")


# ---- the command, on the tiny store: runs of 4,096 tokens x 1 epoch take ~0.3 s each ------------------------

TINY = ["--model.n_layer=2", "--model.d_model=32", "--model.n_head=2", "--model.seq_len=32",
        "--train.batch_size=8", "--train.dtype=fp32", "--train.threads=1", "--train.ckpt_every=1000"]


def sweep(store, out, *flags):
    p = argparse.ArgumentParser(prog="squeeze")
    add_sweep_parser(p.add_subparsers(dest="command", required=True))
    args, overrides = p.parse_known_args(["sweep", "--data", str(store), "--out", str(out), "--budgets", "4096",
                                          "--epochs", "1", "--weight-decay", "0.1", *flags, *TINY])
    check_sweep(args, overrides)
    cmd_sweep(args)


def read_rows(path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_sweep_writes_results_and_skips_on_rerun(tiny_store, tmp_path, capsys):
    out = tmp_path / "sw"
    sweep(tiny_store, out, "--lr", "1e-3,2e-3,4e-3")
    rows = read_rows(out / "results.csv")
    assert sorted(float(r["lr"]) for r in rows) == [1e-3, 2e-3, 4e-3] and all(r["finished"] == "True" for r in rows)
    text = capsys.readouterr().out
    assert "budget 4,096 tokens, 2 layers x d 32 (3 runs)" in text and "best lr" in text
    assert "best lr0.004_wd0.1_ep1" in text or "best lr0.002_wd0.1_ep1" in text  # 16 steps favour a high lr
    assert "weight_decay and epochs grids: widen them" in text  # one value each: at both edges
    stamps = sorted((p, p.stat().st_mtime_ns) for p in out.rglob("summary.json"))
    sweep(tiny_store, out, "--lr", "1e-3,2e-3,4e-3")
    assert sorted((p, p.stat().st_mtime_ns) for p in out.rglob("summary.json")) == stamps  # nothing retrained
    assert "finished earlier" in capsys.readouterr().err


def test_certify_widens_an_edge(tiny_store, tmp_path, capsys):
    out = tmp_path / "cert"
    # 16 steps at these tiny rates are far from converged: the largest lr wins, at the top edge of the grid
    sweep(tiny_store, out, "--lr", "1e-4,2e-4,4e-4", "--certify", "--certify-axes", "lr", "--max-runs", "5")
    # (measured: 5.50, 5.41, 5.31, 5.18, 4.94 nats, far apart): each round doubles lr past the edge until the cap
    lrs = sorted(float(r["lr"]) for r in read_rows(out / "results.csv"))
    assert lrs == [1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3]
    text = capsys.readouterr().out
    assert "not certified: 1 neighbour missing (lr0.0032_wd0.1_ep1)" in text
    assert "stopped at --max-runs 5: 1 more run needed to certify" in text


def test_a_failed_run_is_named_after_the_table_is_written(tiny_store, tmp_path, capsys):
    out = tmp_path / "fail"
    taken = out / "b4096/L2d32/lr0.001_wd0.1_ep1_s0"
    cfg = tiny_config(tiny_store, lr=1e-3, batch_size=4)  # a different experiment already lives there
    taken.mkdir(parents=True)
    config_mod.save(cfg, str(taken / "config.json"))
    with pytest.raises(SqueezeError, match=f"1 of 2 runs failed \\({taken}\\); first error: .*another config"):
        sweep(tiny_store, out, "--lr", "1e-3,2e-3")
    assert [r["finished"] for r in read_rows(out / "results.csv")] == ["False", "True"]
    assert "lr0.002_wd0.1_ep1" in capsys.readouterr().out


def test_sweep_refuses_bad_input_before_training(tiny_store, tmp_path):
    with pytest.raises(SqueezeError, match="over --max-runs 2"):
        sweep(tiny_store, tmp_path / "x", "--lr", "1e-3,2e-3,4e-3", "--max-runs", "2")
    with pytest.raises(SqueezeError, match="unknown axis 'momentum'"):
        sweep(tiny_store, tmp_path / "x", "--certify-axes", "lr,momentum")
    with pytest.raises(SqueezeError, match="--lr 0.0: must be > 0"):
        sweep(tiny_store, tmp_path / "x", "--lr", "0")
    with pytest.raises(SqueezeError, match="train.lr must be > 0"):  # the grid's configs are checked too
        sweep(tiny_store, tmp_path / "x", "--train.lr=0")
    assert not (tmp_path / "x").exists()


def test_run_sweep_takes_one_grid_per_size(tiny_store, tmp_path):
    """Two sizes with their own learning rates run as one sweep: each group keeps its own lr grid."""
    from squeeze.study.sweep import run_sweep
    base = config_mod.apply_overrides(tiny_config(tiny_store, epochs=1, threads=1), ["data.budget_tokens=4096"])
    grids = [Grid(lr=[1e-3], weight_decay=[0.1], epochs=[1], sizes=[(1, 32)], budgets=[4096]),
             Grid(lr=[2e-3], weight_decay=[0.1], epochs=[1], sizes=[(2, 32)], budgets=[4096])]
    res = run_sweep(base, grids, tmp_path / "sw")
    assert res.planned == {"b4096/L1d32/lr0.001_wd0.1_ep1_s0", "b4096/L2d32/lr0.002_wd0.1_ep1_s0"}
    assert set(res.grids) == {(4096, 1, 32), (4096, 2, 32)} and res.failure is None
    assert all(r["finished"] for r in res.rows) and len(res.rows) == 2


def test_rerun_with_certify_walks_past_edges_it_already_trained(tiny_store, tmp_path, capsys):
    """A re-run starts from the original grid; it must widen through the runs earlier rounds trained, not stop at
    the first widening and report a point that an earlier round already beat."""
    out = tmp_path / "cert"
    sweep(tiny_store, out, "--lr", "1e-4,2e-4", "--certify", "--certify-axes", "lr", "--max-runs", "4")
    first = capsys.readouterr().out
    sweep(tiny_store, out, "--lr", "1e-4,2e-4", "--certify", "--certify-axes", "lr", "--max-runs", "4")
    second = capsys.readouterr().out
    best = [line for line in first.splitlines() if line.strip().startswith("best ")]
    assert best and best == [line for line in second.splitlines() if line.strip().startswith("best ")]
    assert "best lr0.0008_wd0.1_ep1" in second  # lr doubled twice past the grid: 4e-4, then 8e-4


def test_best_seeds_count_from_the_grids_first_seed():
    """A study with --seed-offset 10 trains seeds 10, 11, ...: the best's extra seeds follow its grid's first."""
    g = grid3(lr=[1e-3, 2e-3, 4e-3], weight_decay=[0.2], epochs=[4], seeds=[10])
    rows = [row(lr, 0.2, 4, loss, seed=10) for lr, loss in ((1e-3, 4.5), (2e-3, 4.0), (4e-3, 4.6))]
    cert = certify(rows, g, axes=("lr",), best_seeds=3)
    assert [p.seed for p in cert.missing] == [11, 12] and not cert.certified
    rows += [row(2e-3, 0.2, 4, 4.1, seed=11), row(2e-3, 0.2, 4, 3.9, seed=12), row(2e-3, 0.2, 4, 9.0, seed=0)]
    cert = certify(rows, g, axes=("lr",), best_seeds=3)  # seed 0 belongs to another replicate: not counted
    assert cert.n_seeds == 3 and cert.best_loss == pytest.approx(4.0)


def test_max_runs_stops_the_walk_but_seeds_the_best(tiny_store, tmp_path):
    """At --max-runs the walk ends, but the best still gets its seeds: no row rests on one seed."""
    from squeeze.study.sweep import run_sweep
    base = config_mod.apply_overrides(tiny_config(tiny_store, epochs=1, threads=1), ["data.budget_tokens=4096"])
    grid = Grid(lr=[1e-4, 2e-4], weight_decay=[0.1], epochs=[1], sizes=[(2, 32)], budgets=[4096])
    res = run_sweep(base, grid, tmp_path / "m", certify_axes=("lr",), best_seeds=2, max_runs=2)
    assert res.note.startswith("stopped at --max-runs 2: ")
    assert sorted((r["lr"], r["seed"]) for r in res.rows) == [(1e-4, 0), (2e-4, 0), (2e-4, 1)]


def test_the_time_budget_stops_the_walk_but_seeds_the_best(tiny_store, tmp_path, capsys):
    """Past the deadline no neighbour trains any more; the best still gets its seeds, and the note says why."""
    import time

    from squeeze.study.sweep import run_sweep
    base = config_mod.apply_overrides(tiny_config(tiny_store, epochs=1, threads=1), ["data.budget_tokens=4096"])
    grid = Grid(lr=[1e-4, 2e-4], weight_decay=[0.1], epochs=[1], sizes=[(2, 32)], budgets=[4096])
    res = run_sweep(base, grid, tmp_path / "t", certify_axes=("lr",), best_seeds=2, stop_at=time.monotonic())
    assert res.note.startswith("stopped at the study's time budget: ")
    seeds = sorted((r["lr"], r["seed"]) for r in res.rows)
    assert seeds == [(1e-4, 0), (2e-4, 0), (2e-4, 1)]  # the edge (lr 4e-4) was not walked to; the best has 2 seeds
