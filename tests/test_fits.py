"""Tests for squeeze/study/fits.py and squeeze/study/plots.py: rows generated from known laws must give back the
law's constants and the multiplier computed by hand; `squeeze fit` on hand-written run directories writes
fits.json (the pure functions' numbers) and the plots."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from squeeze import config as config_mod
from squeeze.cli import fit as fit_cmd
from squeeze.config import Config
from squeeze.errors import SqueezeError
from squeeze.io import write_json
from squeeze.runs.results import collect
from squeeze.scaling import laws
from squeeze.study import fits

D0 = 100_000
BUDGETS = [D0, 2 * D0, 4 * D0, 8 * D0]
SMALL, LARGE = (2, 64, 150_000), (4, 128, 900_000)  # n_layer, d_model, params
N_BOOT = 20


def law(D):
    return 2 * (D / D0) ** -0.3 + 3  # A = 2 D0^0.3 in tokens, B = 0.3, C = 3


def row(recipe, budget, loss, size=LARGE, seed=0, finished=True, epochs=4, wd=0.1, lr=3e-3):
    n_layer, d_model, params = size
    return dict(name=f"{recipe}-{budget}-{params}-{seed}", path=f"/runs/{recipe}-{budget}-{params}-{seed}",
                recipe=recipe, finished=finished, lr=lr, weight_decay=wd, epochs=epochs, optimizer="adamw",
                budget_tokens=budget, n_layer=n_layer, d_model=d_model, seed=seed, data_seed=0, params=params,
                non_embedding_params=params // 2, unique_tokens=budget, tokens_seen=budget * epochs,
                flops=6.0 * params * budget * epochs, val_loss=loss if finished else None,
                val_bpb=loss / 2 if finished else None, train_seconds=1.0)


def study_rows():
    """The standard law at 4 budgets for two sizes (the larger always better by 0.1), and a 'regularized' run at
    D0 whose loss the standard law reaches at 3 D0: a 3x multiplier by construction."""
    rows = [row("standard", D, law(D) + extra, size) for D in BUDGETS for size, extra in ((SMALL, 0.1), (LARGE, 0))]
    return rows + [row("regularized", D0, law(3 * D0), wd=0.8, epochs=16)]


def test_data_scaling_picks_the_best_size_and_recovers_the_law():
    c = fits.data_scaling(study_rows(), n_boot=N_BOOT)
    assert c.x == BUDGETS
    np.testing.assert_allclose(c.best_losses, [law(D) for D in BUDGETS])
    assert all(b.run["params"] == LARGE[2] for b in c.best.values())
    f = c.fit.fit
    np.testing.assert_allclose([f.A, f.B, f.C], [2 * D0**0.3, 0.3, 3.0], rtol=1e-4)
    assert not f.degenerate
    assert c.fit.C[0] <= 3.0 + 1e-6 and c.fit.C[1] >= 3.0 - 1e-6


def test_seeds_are_averaged_before_the_best_is_taken():
    # a lucky seed of the small model (0.05 below the large one) must not win: its mean is 0.05 above
    rows = study_rows() + [row("standard", D0, law(D0) - 0.05, SMALL, seed=1),
                           row("standard", D0, law(D0) + 0.15, SMALL, seed=2)]
    c = fits.data_scaling(rows, n_boot=N_BOOT)
    assert c.best[D0].run["params"] == LARGE[2] and c.best_losses[0] == pytest.approx(law(D0))
    small = fits.best_runs(rows, "standard", by=lambda r: (r["budget_tokens"], r["params"]))[(D0, SMALL[2])]
    assert small.loss == pytest.approx(law(D0) + 0.2 / 3) and len(small.seed_losses) == 3


def test_unfinished_rows_are_ignored():
    rows = study_rows() + [row("standard", 16 * D0, None, finished=False),  # would add a 5th budget
                           {**row("standard", D0, 0.5), "finished": False}]  # a loss, but no summary: not counted
    c = fits.data_scaling(rows, n_boot=N_BOOT)
    assert c.x == BUDGETS and c.best_losses[0] == pytest.approx(law(D0))


def test_fewer_than_three_budgets_is_a_clear_error():
    rows = [r for r in study_rows() if r["budget_tokens"] <= 2 * D0]
    with pytest.raises(SqueezeError, match=r"needs finished runs at >= 3 budgets; found 2 \(100000, 200000\)"):
        fits.data_scaling(rows)


def test_efficiency_table_reports_the_multiplier_and_interpolation():
    rows = study_rows() + [row("magic", D0, 2.95), row("late", 2 * D0, 4.0)]  # below C = 3; not at D0
    table = {r.recipe: r for r in fits.efficiency_table(rows, n_boot=N_BOOT)}
    assert set(table) == {"regularized", "magic", "late"}
    reg = table["regularized"]
    assert reg.budget == D0 and reg.efficiency.multiplier == pytest.approx(3.0, abs=1e-3)
    # log-linear between the measured points at 2 D0 and 4 D0: law(3 D0) lies a fraction t of the way down from
    # law(2 D0) to law(4 D0), so the standard recipe reaches it at 2 D0 x 2^t = 3.0526 D0 (the law itself says 3)
    t = (2**-0.3 - 3**-0.3) / (2**-0.3 - 4**-0.3)
    assert reg.efficiency.interp_multiplier == pytest.approx(2 * 2**t, rel=1e-9)
    lo, hi = reg.interval
    assert lo <= 3.0 + 1e-3 and hi >= 3.0 - 1e-3 and reg.n_valid == N_BOOT
    assert table["magic"].efficiency.beyond_asymptote and table["magic"].efficiency.multiplier is None
    assert table["late"].best is None and "no finished run at budget 100000" in table["late"].note


def test_param_scaling_fits_loss_over_model_size():
    sizes = [(2, 64, 1e5), (4, 128, 4e5), (6, 192, 1.6e6), (8, 256, 6.4e6)]
    rows = [row("regularized", D0, float(laws.power_law(s[2], 50.0, 0.4, 3.2)), s) for s in sizes]
    rows += [row("regularized", D0, 9.0, sizes[0], lr=1e-2)]  # a worse lr at one size is not the best
    c = fits.param_scaling(rows, "regularized", D0, n_boot=N_BOOT)
    assert c.x == [s[2] for s in sizes]
    np.testing.assert_allclose([c.fit.fit.A, c.fit.fit.B, c.fit.fit.C], [50.0, 0.4, 3.2], rtol=1e-4)
    with pytest.raises(SqueezeError, match="needs >= 3 model sizes; found 2"):
        fits.param_scaling(rows[:2], "regularized", D0)


def test_joint_fit_recovers_a_chinchilla_law():
    c = laws.CHINCHILLA
    sizes = [(2, 64, 1e7), (4, 128, 1e8), (8, 256, 1e9)]
    rows = [row("standard", D, float(laws.chinchilla_law(s[2], D, **c)), s, epochs=1)
            for s in sizes for D in (10**9, 10**10, 10**11, 10**12)]
    j = fits.joint_fit(rows, n_boot=5)
    assert j.reason == "" and (j.n_sizes, j.n_budgets, len(j.points)) == (3, 4, 12)
    np.testing.assert_allclose([j.result.fit.E, j.result.fit.alpha, j.result.fit.beta],
                               [c["E"], c["alpha"], c["beta"]], rtol=2e-2)
    with pytest.raises(SqueezeError, match="found 1 sizes, 4 budgets, 4 points"):
        fits.joint_fit(rows[:4])


def test_constrained_fit_recovers_the_decay_constant_of_repeated_data():
    c = laws.CHINCHILLA
    sizes = [(2, 64, 1e6), (4, 128, 3e6), (8, 256, 1e7)]  # below N_opt(U): single epochs follow Chinchilla exactly
    rows = []
    for s in sizes:
        for U in (10**9, 10**10, 10**11):
            for ep in (1, 4, 16, 64):
                loss = float(laws.data_constrained_law(s[2], U * ep, U, E=c["E"], A=c["A"], alpha=c["alpha"],
                                                       B=c["B"], beta=c["beta"], R_D_star=15.4, R_N_star=5.3))
                rows.append(row("standard", U, loss, s, epochs=ep))
    cf = fits.constrained_fit(rows)
    assert (cf.n_single, cf.n_points) == (9, 36)
    np.testing.assert_allclose([cf.base.alpha, cf.base.beta], [c["alpha"], c["beta"]], rtol=2e-2)
    assert cf.fit.R_D_star == pytest.approx(15.4, rel=0.05)
    assert "R_N* undetermined" in cf.fit.note  # no run has more parameters than its unique data can use
    with pytest.raises(SqueezeError, match="needs >= 5 single-epoch runs"):
        fits.constrained_fit([r for r in rows if r["epochs"] > 1])
    with pytest.raises(SqueezeError, match="epochs > 1"):
        fits.constrained_fit([r for r in rows if r["epochs"] == 1])


def write_run(root, r):
    """A run directory as the trainer leaves it, reduced to what collect() reads: config.json (+ summary.json)."""
    cfg = Config(recipe=r["recipe"])
    cfg.data.budget_tokens = r["budget_tokens"]
    cfg.model.n_layer, cfg.model.d_model = r["n_layer"], r["d_model"]
    cfg.train.lr, cfg.train.weight_decay, cfg.train.epochs, cfg.train.seed = (r["lr"], r["weight_decay"],
                                                                              r["epochs"], r["seed"])
    run = root / r["name"]
    run.mkdir(parents=True)
    config_mod.save(cfg, str(run / "config.json"))
    if r["finished"]:
        keys = ("params", "non_embedding_params", "unique_tokens", "tokens_seen", "flops", "val_loss", "val_bpb",
                "train_seconds")
        write_json(run / "summary.json", {k: r[k] for k in keys})


def _drawn(monkeypatch) -> dict:
    """The figures plots.py saves, by file name: their artists are what the PNGs show."""
    from squeeze.study import plots
    figs, save = {}, plots.save

    def keep(fig, path):
        figs[Path(path).name] = fig
        return save(fig, path)
    monkeypatch.setattr(plots, "save", keep)
    return figs


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_cmd_fit_writes_fits_json_and_plots(tmp_path, capsys, monkeypatch):
    for r in study_rows() + [row("standard", 16 * D0, None, finished=False)]:
        write_run(tmp_path / "runs", r)
    figs = _drawn(monkeypatch)
    parser = argparse.ArgumentParser()
    fit_cmd.add_fit_parser(parser.add_subparsers())
    args = parser.parse_args(["fit", str(tmp_path / "runs"), "--n-boot", str(N_BOOT), "--out", str(tmp_path / "o")])
    fit_cmd.check_fit(args, [])
    fit_cmd.cmd_fit(args)
    text = capsys.readouterr().out
    assert "10 runs, 9 finished; ignored 1 unfinished" in text and "3x [" in text
    width, height = _png_size(tmp_path / "o" / "data_scaling.png")
    assert width > height > 300  # a real picture, its legend beside the axes
    # what the plot draws (squeeze/study/plots.py): the four best measured losses, the interpolation the
    # multipliers are read on, the fitted law through them labelled as extrapolating with its asymptote C = 3, and
    # the regularized run as a star at (D0, law(3 D0)) with its line to where the table reads it: the interpolated
    # 3.0526 x D0 (the law would say 3 x D0)
    (ax,) = figs["data_scaling.png"].axes
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    (measured,) = [ln for ln in ax.get_lines() if ln.get_marker() == "o" and len(ln.get_xdata()) == len(BUDGETS)]
    np.testing.assert_allclose(measured.get_xdata(), BUDGETS)
    np.testing.assert_allclose(measured.get_ydata(), [law(D) for D in BUDGETS])
    (curve,) = [ln for name, ln in lines.items() if name.startswith("standard law, extrapolating: L(D) = ")]
    np.testing.assert_allclose(curve.get_ydata(), law(np.asarray(curve.get_xdata())), rtol=1e-4)
    assert any("asymptote C = 3.000" in name for name in lines)
    star = [ln for ln in ax.get_lines() if ln.get_marker() == "*" and len(ln.get_xdata())]
    assert [(list(ln.get_xdata()), list(ln.get_ydata())) for ln in star] == [([D0], [law(3 * D0)])]
    reach = [ln for ln in ax.get_lines() if ln.get_marker() in ("None", "") and len(ln.get_xdata()) == 2]
    ((x0, x1),) = [tuple(ln.get_xdata()) for ln in reach]
    assert x0 == D0 and x1 == pytest.approx(3.0526 * D0, rel=1e-3)
    assert any(name.startswith("regularized at D=100000: interp. 3.05x, law 3x") for name in lines)
    saved = json.loads((tmp_path / "o" / "fits.json").read_text())
    pure = fits.data_scaling(collect(tmp_path / "runs"), n_boot=N_BOOT)
    assert saved["data_scaling"]["x"] == pure.x and saved["data_scaling"]["best_losses"] == pure.best_losses
    assert [saved["data_scaling"]["fit"][k] for k in "ABC"] == [pure.fit.fit.A, pure.fit.fit.B, pure.fit.fit.C]
    assert saved["data_scaling"]["fit"]["C_interval"] == list(pure.fit.C)
    (reg,) = saved["efficiency"]
    assert reg["recipe"] == "regularized" and reg["multiplier"] == pytest.approx(3.0, abs=1e-3)
    assert saved["ignored_unfinished"] == 1
    assert "2 model sizes" in saved["joint"]["reason"] and "not identifiable" in text  # E not printed as a number


def test_missing_or_empty_paths_name_the_path(tmp_path):
    with pytest.raises(SqueezeError, match="nowhere: no such directory"):
        fits.load_rows([str(tmp_path / "nowhere")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SqueezeError, match="empty: no run directories"):
        fits.load_rows([str(tmp_path / "empty")])
