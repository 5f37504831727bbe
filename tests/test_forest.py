"""Tests for squeeze/study/forest.py: the forest plot is checked by what it draws (its artists' data), on the default
study's committed summary and on a made-up summary with bounds, open ends and a row with no interval."""
import json
import math
from pathlib import Path

import pytest

from squeeze.study.forest import CONTROL, STYLE, forest_figure, forest_rows, plot_forest, x_limits

DEFAULT = Path(__file__).resolve().parents[1] / "benchmarks" / "study_default_summary.json"


def _row(name, sig, mult, text, iv, open_=(False, False), budget=10_000.0):
    return {"method": name, "significance": sig, "multiplier": mult, "multiplier_text": text, "interval": iv,
            "interval_open": list(open_), "budget": budget}


def made_up() -> dict:
    """Standard points at 0.5, 1, 2 and 4 x D0: a row worse than D0/2, one past 4x, one open above only, a row
    with no interval, a loss, a label the plot does not know, and two selection rows around the control."""
    return {"d0": 10_000.0, "standard_points": [{"budget": b} for b in (5_000.0, 10_000.0, 20_000.0, 40_000.0)],
            "methods": [_row("standard", "reference", 1.0, "1.00x [0.90, 1.10]", [0.9, 1.1]),
                        _row("worse", "significant loss", None, "< 0.5x [< 0.5, 0.62]", [0.0, 0.62], (True, False)),
                        _row("far", "significant gain", None, "> 4x [3.10, > 4]", [3.1, math.inf], (False, True)),
                        _row("wide", "no measurable gain", 1.2, "1.20x [0.90, > 4]", [0.9, "inf"], (False, True)),
                        _row("asymptote", "no measurable gain", None, "not resolved: C at its bound", None),
                        _row("lossy", "significant loss", 0.7, "0.70x [0.60, 0.80]", [0.6, 0.8]),
                        _row("odd", "something new", 1.1, "1.10x [1.00, 1.20]", [1.0, 1.2]),
                        _row("data selection: a", "significant gain", 1.3, "1.30x [1.10, 1.50]", [1.1, 1.5],
                             budget=8_000.0),
                        _row(CONTROL, "significant gain", 1.25, "1.25x [1.15, 1.35]", [1.15, 1.35])]}


def _artists(fig, gid):
    ax = fig.axes[0]
    return [a for a in [*ax.lines, *ax.patches, *ax.texts] if a.get_gid() == gid]


def _y_of(fig, label):
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    return labels.index(label)


def test_rows_clamp_open_ends_to_the_measured_range_and_leave_out_what_has_no_interval():
    rows, left_out = forest_rows(made_up())
    by = {r.label: r for r in rows}
    assert [r.label for r in rows] == ["standard", "worse", "far", "wide", "lossy", "odd", "data selection: a",
                                       CONTROL]  # the table's order, less the row with no interval
    assert left_out == ["asymptote (not resolved: C at its bound)"]
    w = by["worse"]  # interval [0, 0.62]: open below the floor 5,000 / 10,000 = 0.5
    assert (w.lo, w.hi, w.lo_open, w.hi_open, w.bound, w.value) == (0.5, 0.62, True, False, "below", None)
    f = by["far"]  # [3.1, inf]: open above the ceiling 40,000 / 10,000 = 4
    assert (f.lo, f.hi, f.lo_open, f.hi_open, f.bound) == (3.1, 4.0, False, True, "above")
    assert (by["wide"].hi, by["wide"].hi_open) == (4.0, True)  # "inf" as JSON may write it
    a = by["data selection: a"]  # read at 8,000 kept tokens: its range is 5,000 / 8,000 .. 40,000 / 8,000
    assert (a.lo, a.hi, a.selection) == (1.1, 1.5, True)
    assert by["standard"].significance == "reference" and by["standard"].value == 1.0
    lo, hi = x_limits(rows)  # 0.5 (worse's open floor) and 4 (far's ceiling), 1.3 past each
    assert lo == pytest.approx(0.5 / 1.3) and hi == pytest.approx(4.0 * 1.3)


def test_the_figure_draws_each_interval_dot_bound_and_open_end():
    summary = made_up()
    fig = forest_figure(summary)
    x0, x1 = fig.axes[0].get_xlim()
    assert (x0, x1) == pytest.approx((0.5 / 1.3, 4.0 * 1.3))
    bars = {round(b.get_ydata()[0]): list(b.get_xdata()) for b in _artists(fig, "bar")}
    assert bars[_y_of(fig, "lossy")] == pytest.approx([0.6, 0.8])
    assert bars[_y_of(fig, "worse")] == pytest.approx([x0, 0.62])  # open below: to the axis edge
    assert bars[_y_of(fig, "far")] == pytest.approx([3.1, x1])
    assert bars[_y_of(fig, "wide")] == pytest.approx([0.9, x1])
    assert _y_of(fig, "standard") not in bars  # the reference has no interval of its own
    opens = sorted((round(o.get_ydata()[0]), o.get_marker()) for o in _artists(fig, "open"))
    assert opens == sorted([(_y_of(fig, "worse"), "<"), (_y_of(fig, "far"), ">"), (_y_of(fig, "wide"), ">")])
    bounds = {round(b.get_ydata()[0]): (b.get_xdata()[0], b.get_marker()) for b in _artists(fig, "bound")}
    assert bounds == {_y_of(fig, "worse"): (0.5, "<"), _y_of(fig, "far"): (4.0, ">")}  # "< 0.5x", "> 4x"
    values = {round(v.get_ydata()[0]): v for v in _artists(fig, "value")}
    assert values[_y_of(fig, "lossy")].get_xdata()[0] == 0.7
    assert values[_y_of(fig, "lossy")].get_color() == STYLE["significant loss"][0]
    assert values[_y_of(fig, "wide")].get_markerfacecolor() == "white"  # no measurable gain: an open dot
    assert [a.get_xdata()[0] for a in _artists(fig, "one")] == [1.0]
    assert "asymptote (not resolved: C at its bound)" in fig.axes[0].get_xlabel()


def test_the_control_band_lies_behind_the_selection_rows_only():
    fig = forest_figure(made_up())
    bands = _artists(fig, "control")
    assert sorted(b.get_y() + 0.5 for b in bands) == [_y_of(fig, "data selection: a"), _y_of(fig, CONTROL)]
    assert all((b.get_x(), b.get_x() + b.get_width()) == pytest.approx((1.15, 1.35)) for b in bands)


def test_the_default_study_summary_draws_every_row_with_its_words():
    summary = json.loads(DEFAULT.read_text())
    fig = forest_figure(summary)
    rows, left_out = forest_rows(summary)
    assert len(rows) == len(summary["methods"]) and not left_out
    words = [t.get_text() for t in _artists(fig, "words")]
    for m in summary["methods"][1:]:  # each row's multiplier text and its significance word, in its colour
        assert f"{m['multiplier_text']}  {m['significance']}" in words
    bars = {round(b.get_ydata()[0]): list(b.get_xdata()) for b in _artists(fig, "bar")}
    for y, m in enumerate(summary["methods"][1:], start=1):
        assert bars[y] == pytest.approx(m["interval"])  # every interval inside the measured 0.5x .. 4x
    assert len(_artists(fig, "control")) == sum(m["method"].startswith("data selection") for m in summary["methods"])


def test_plot_forest_writes_png_and_a_self_contained_svg(tmp_path):
    written = plot_forest(made_up(), tmp_path / "m.png", tmp_path / "m.svg")
    assert [p.name for p in written] == ["m.png", "m.svg"]
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "m.svg").read_text()
    assert "<svg" in svg and 'href="http' not in svg and "<dc:date>" not in svg  # nothing to fetch, no timestamp
    again = plot_forest(made_up(), tmp_path / "n.png", tmp_path / "n.svg")[1].read_text()
    assert again.count("<path") == svg.count("<path")


def test_the_readme_figures_are_drawn_from_the_committed_summary_alone(tmp_path, monkeypatch, capsys):
    """benchmarks/report_figures.py on benchmarks/study_default_summary.json: no run directories needed."""
    import sys
    sys.path.insert(0, str(DEFAULT.parent))
    import report_figures
    monkeypatch.setattr(sys, "argv", ["report_figures.py", str(DEFAULT), "--prefix", str(tmp_path / "d_")])
    assert report_figures.main() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d_data_scaling.png", "d_multipliers.png"]
    assert (tmp_path / "d_multipliers.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setattr(sys, "argv", ["report_figures.py", str(tmp_path / "missing.json")])
    assert report_figures.main() == 2 and "report_figures: error:" in capsys.readouterr().err
