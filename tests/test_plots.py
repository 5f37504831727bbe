"""Tests for squeeze/study/plots.py by what each figure draws (its artists' data, its axes' limits, where its
legend sits), never by file size: the data-scaling plot draws the measured points with their seed spread, the
envelope the multipliers are read on, the law only when it is not degenerate, and each method's line ending where
its multiplier was read; no legend covers data and the y-range is the data's."""
import math

import numpy as np
import pytest

from squeeze.study import plots
from squeeze.study.report_output import PowerLaw as Law  # a law as the report reads it back: A, B, C, degenerate

BUDGETS = [1000.0, 2000.0, 4000.0, 8000.0]
LOSSES = [5.0, 4.5, 4.6, 4.0]  # 4000 is worse than 2000: the envelope keeps 4.5 there
SDS = [0.05, 0.1, None, 0.02]


def _gid(ax, gid):
    return [a for a in ax.lines if a.get_gid() == gid]


def _legend_outside(fig) -> bool:
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend()
    return legend.get_window_extent().x0 >= ax.get_window_extent().x1


def _scaling(fit, markers=()):
    return plots.data_scaling_figure(BUDGETS, LOSSES, fit, sds=SDS, seeds=[3, 8, 8, 3], markers=markers,
                                     asymptote_interval=(0.5, 1.5))


def test_a_degenerate_law_draws_the_envelope_and_no_law():
    fig = _scaling(Law(10.0, 0.2, 0.0, degenerate=True, reason="C at its bound 0"))
    ax = fig.axes[0]
    assert not _gid(ax, "law")
    (env,) = _gid(ax, "envelope")
    assert list(env.get_xdata()) == BUDGETS and list(env.get_ydata()) == [5.0, 4.5, 4.5, 4.0]
    assert "degenerate (C at its bound 0): not drawn" in ax.get_title()
    assert not any("law" in t.get_text() for t in ax.get_legend().get_texts())


def test_the_measured_points_carry_their_seed_sd():
    ax = _scaling(Law(10.0, 0.2, 0.0, degenerate=True)).axes[0]
    (points,) = _gid(ax, "measured")
    assert list(points.get_xdata()) == BUDGETS and list(points.get_ydata()) == LOSSES
    (bars,) = ax.containers[0].lines[2]  # the errorbar container's vertical segments, one per point
    ends = [y for seg in bars.get_segments() for y in (seg[0][1], seg[1][1])]
    assert ends == pytest.approx([4.95, 5.05, 4.4, 4.6, 4.6, 4.6, 3.98, 4.02])  # ± SD; none for an SD of None
    assert "± seed SD, 3-8 seeds" in ax.get_legend().get_texts()[0].get_text()


def test_a_fitted_law_is_dashed_and_said_to_extrapolate_and_its_far_asymptote_only_named():
    ax = _scaling(Law(10.0, 0.2, 1.0)).axes[0]
    (law,) = _gid(ax, "law")
    assert law.get_linestyle() == "--"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("standard law, extrapolating: L(D) = 10/D^0.200 + 1.000") for t in texts)
    assert any("C = 1.000 [0.500, 1.500] (below the axes)" in t for t in texts)
    lo, hi = ax.get_ylim()  # the data's range (3.98 .. 5.05) plus 6% of it: not down to C = 1
    assert lo == pytest.approx(3.98 - 0.06 * 1.07) and hi == pytest.approx(5.05 + 0.06 * 1.07)


def test_each_method_line_ends_where_its_multiplier_was_read_and_a_bound_runs_to_the_edge():
    markers = [("a", 2000.0, 4.3, 2000.0 * 1.5, "1.50x [1.2, 1.8]"), ("b", 2000.0, 3.5, math.inf, "> 4x"),
               ("c", 2000.0, 5.5, 0.0, "< 0.5x"), ("d", 2000.0, 4.7, None, "no reading")]
    ax = _scaling(Law(10.0, 0.2, 0.0, degenerate=True), markers).axes[0]
    lo, hi = ax.get_xlim()
    assert (lo, hi) == pytest.approx((1000 / 1.5, 8000 * 1.5))
    reach = {line.get_ydata()[0]: list(line.get_xdata()) for line in _gid(ax, "reach")}
    assert reach[4.3] == pytest.approx([2000.0, 3000.0])
    assert reach[3.5] == pytest.approx([2000.0, hi / 1.02]) and reach[5.5] == pytest.approx([2000.0, lo * 1.02])
    assert 4.7 not in reach  # nothing was read: a star only
    (read,) = _gid(ax, "read")
    assert (read.get_xdata()[0], read.get_ydata()[0]) == (3000.0, 4.3)
    assert sorted(o.get_marker() for o in _gid(ax, "open")) == ["<", ">"]
    assert len(_gid(ax, "method")) == 4
    assert ax.get_ylim()[0] < 3.5 and ax.get_ylim()[1] > 5.5  # the methods' losses are data too


def test_every_legend_sits_outside_its_axes():
    law = Law(10.0, 0.2, 3.0)
    figs = [_scaling(law, [("a", 2000.0, 4.3, 3000.0, "1.50x")]),
            plots.param_scaling_figure([("regularized (D=1000)", [1e4, 2e4, 4e4], [4.2, 4.1, 4.05], law, (2.0, 3.5)),
                                        ("standard (D=1000)", [1e4, 2e4], [4.3, 4.2], Law(1, 1, 0, True, "flat"),
                                         None)]),
            plots.ensemble_figure([("2x64 x K", [1, 2, 3], [4.2, 4.1, 4.05], law)]),
            plots.training_curves_figure([("standard", [1e3, 2e3, 4e3], [6.0, 5.0, 4.5]),
                                          ("best", [1e3, 2e3], [5.8, 4.4])])]
    assert all(_legend_outside(f) for f in figs)


def test_the_other_plots_fit_their_y_range_to_the_data():
    law = Law(10.0, 0.2, 1.0)  # an asymptote far below every loss
    param = plots.param_scaling_figure([("r", [1e4, 2e4, 4e4], [4.2, 4.1, 4.0], law, (0.5, 1.5))]).axes[0]
    assert param.get_ylim() == pytest.approx((4.0 - 0.012, 4.2 + 0.012))
    assert "(below the axes)" in " ".join(t.get_text() for t in param.get_legend().get_texts())
    ens = plots.ensemble_figure([("e", [1, 2, 3, 4], [4.3, 4.2, 4.15, 4.1], law)]).axes[0]
    assert ens.get_ylim() == pytest.approx((4.1 - 0.012, 4.3 + 0.012))
    tc = plots.training_curves_figure([("s", [1e3, 2e3], [6.0, 5.0])]).axes[0]
    assert tc.get_ylim() == pytest.approx((5.0 - 0.06, 6.0 + 0.06))


def test_short_numbers_label_log_axes():
    assert [plots.short_number(x) for x in (800, 5000, 300_000, 1e6, 2.5e9)] == ["800", "5k", "300k", "1M", "2.5G"]


def test_points_without_a_seed_sd_draw_no_bars_and_say_so():
    fig = plots.data_scaling_figure(BUDGETS, LOSSES, Law(10.0, 0.2, 3.0), sds=[None] * 4, seeds=[1] * 4)
    ax = fig.axes[0]
    assert ax.containers[0].has_yerr is False
    assert ax.get_legend().get_texts()[0].get_text() == "standard: measured loss, 1 seed"


def test_the_default_study_with_its_degenerate_law_draws_the_envelope_and_where_each_row_was_read():
    """The acceptance case: benchmarks/study_default_summary.json, whose law is degenerate (C = 0)."""
    import json
    from pathlib import Path

    from squeeze.study.report_output import summary_scaling_figure
    summary = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "study_default_summary.json")
                         .read_text())
    assert summary["fits"]["data_scaling"]["fit"]["degenerate"]
    ax = summary_scaling_figure(summary).axes[0]
    assert not _gid(ax, "law")
    (env,) = _gid(ax, "envelope")
    points = summary["standard_points"]
    assert list(env.get_xdata()) == [p["budget"] for p in points]
    assert list(env.get_ydata()) == list(np.minimum.accumulate([p["loss"] for p in points]))
    ends = sorted((line.get_ydata()[0], line.get_xdata()[1]) for line in _gid(ax, "reach"))
    want = sorted((m["val_loss"], m["budget"] * m["multiplier"]) for m in summary["methods"][1:])
    assert [x for e in ends for x in e] == pytest.approx([x for w in want for x in w])
    bottom = min(p["loss"] - p["seed_sd"] for p in points)  # 4.2507 - 0.0176: no star lies lower or higher
    top = max(p["loss"] + p["seed_sd"] for p in points)  # 5.5145 + 0.0242
    span = top - bottom
    assert ax.get_ylim() == pytest.approx((bottom - 0.06 * span, top + 0.06 * span))  # not down to the law's C = 0
