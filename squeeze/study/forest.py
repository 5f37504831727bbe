"""The forest plot of a study's table (multipliers.png, and multipliers.svg for report.html): one row per method in
the table's order, its data-efficiency multiplier as a dot and its 90% interval over seed noise as a bar on a log
axis, a line at 1.0x, the random-subset control's interval shaded behind the data-selection rows (their own
yardstick), colour and marker by the significance words (so they survive printing in grey), and an interval that
runs past the measured standard budgets ("< 0.5x", "> 4x") drawn as a bar open to the axis edge, with an arrowhead.

`forest_rows(summary)` turns a summary (squeeze/study/report.py `summarize`, or a summary.json) into what is drawn
and names the rows left out (no interval to draw); `forest_figure(summary)` draws it, summary in, figure out;
`plot_forest` writes the PNG and the SVG. From a committed summary alone:
`python benchmarks/report_figures.py benchmarks/study_default_summary.json`. Exercised by tests/test_forest.py.
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FixedLocator, NullLocator
from matplotlib.transforms import blended_transform_factory

from squeeze.io import atomic_write

CONTROL = "data selection: random"  # the selection rows' control: a random subset of the same tokens
SELECTION = "data selection:"
# significance words -> (colour, marker, filled): a colour-blind-safe green/red pair, and marker shapes that differ
STYLE = {"significant gain": ("#1b7837", "o", True), "significant loss": ("#b2182b", "s", True),
         "no measurable gain": ("#555555", "o", False), "reference": ("black", "D", True)}
OTHER_STYLE = ("#8c6d31", "^", True)  # a label this module does not know is still drawn, in its own words
LEGEND_WORDS = {"significant gain": "significant gain (interval above 1.0x)",
                "significant loss": "significant loss (interval below 1.0x)",
                "no measurable gain": "no measurable gain (interval includes 1.0x)",
                "reference": "reference (the standard recipe, 1.0x)"}
PAD = 1.3  # the axis runs this factor past the outermost drawn value (room for the open ends' arrowheads)
TICKS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.0, 10.0)  # up to 9 of these
COARSE_TICKS = tuple(2.0 ** k for k in range(-6, 9))  # else powers of 2, as the standard budgets are (D0/2 .. 8 x D0)


@dataclass(frozen=True)
class ForestRow:
    """One drawn row: the interval clamped to the measured standard range, and which ends run on past it."""
    label: str
    value: float | None  # the multiplier; None for a bound or a row with an interval only
    lo: float  # drawn interval ends; an open end sits at the measured range's bound (floor or ceiling)
    hi: float
    lo_open: bool  # the interval runs on below the smallest measured standard budget
    hi_open: bool  # ... above the largest
    bound: str  # "" / "below" ("< 0.5x") / "above" ("> 4x"): the multiplier itself is only a bound
    text: str  # the table's multiplier text
    significance: str
    selection: bool  # a data-selection row (the control's band is drawn behind these)


def _num(x) -> float:
    """A number from JSON, where inf may have been written as a string; nan for anything else."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def forest_row(m: dict, budgets: list[float], d0: float) -> ForestRow | None:
    """A table row as drawn; None when it has no interval (e.g. "not resolved") or no measured range to clamp to."""
    if m["significance"] == "reference":
        return ForestRow(m["method"], 1.0, 1.0, 1.0, False, False, "", "1.00x (reference)", "reference", False)
    iv = m.get("interval") or (None, None)
    lo, hi = _num(iv[0]), _num(iv[1])
    if not budgets or math.isnan(lo) or math.isnan(hi):
        return None
    budget = m.get("budget") or d0
    floor, ceiling = min(budgets) / budget, max(budgets) / budget
    opened = m.get("interval_open") or (False, False)
    lo_open = bool(opened[0]) or lo <= 0 or hi <= 0  # every draw below the measured range: hi is 0 too
    hi_open = bool(opened[1]) or math.isinf(hi) or math.isinf(lo)
    text = m.get("multiplier_text", "")
    bound = "below" if text.startswith("<") else "above" if text.startswith(">") else ""
    value = m.get("multiplier")
    clamp = lambda x: max(min(x, ceiling), floor)  # noqa: E731
    return ForestRow(m["method"], None if value is None else float(value), floor if lo_open else clamp(lo),
                     ceiling if hi_open else clamp(hi), lo_open, hi_open, bound, text, m["significance"],
                     m["method"].startswith(SELECTION))


def forest_rows(summary: dict) -> tuple[list[ForestRow], list[str]]:
    """(the rows drawn, in table order; "method (its multiplier text)" for each row left out)."""
    budgets = [float(p["budget"]) for p in summary.get("standard_points") or []]
    drawn, left_out = [], []
    for m in summary["methods"]:
        r = forest_row(m, budgets, float(summary["d0"]))
        if r is None:
            left_out.append(f"{m['method']} ({m.get('multiplier_text') or 'no multiplier'})")
        else:
            drawn.append(r)
    return drawn, left_out


def x_limits(rows: list[ForestRow]) -> tuple[float, float]:
    """The axis span: every drawn end and value and 1.0x, PAD past the outermost on each side."""
    xs = [1.0] + [x for r in rows for x in (r.lo, r.hi, r.value) if x is not None and x > 0 and math.isfinite(x)]
    return min(xs) / PAD, max(xs) * PAD


def _style(sig: str) -> tuple[str, str, bool]:
    return STYLE.get(sig, OTHER_STYLE)


def _draw_row(ax, y: int, r: ForestRow, x0: float, x1: float) -> None:
    """The bar (gid "bar"; to the axis edge for an open end, with an arrowhead there, gid "open") and the dot
    (gid "value"), or for a bound a caret at the range's end pointing where the multiplier lies."""
    color, marker, filled = _style(r.significance)
    if r.significance != "reference":
        left, right = (x0 if r.lo_open else r.lo), (x1 if r.hi_open else r.hi)
        ax.plot([left, right], [y, y], color=color, linewidth=2.2, solid_capstyle="butt", zorder=3, gid="bar")
        for end, open_, head in ((left, r.lo_open, "<"), (right, r.hi_open, ">")):
            if open_:
                ax.plot([end], [y], marker=head, color=color, markersize=7, zorder=4, clip_on=False, gid="open")
    face = color if filled else "white"
    if r.value is not None:
        ax.plot([r.value], [y], marker=marker, color=color, markerfacecolor=face, markersize=7, linestyle="none",
                zorder=5, gid="value")
    elif r.bound:
        at, head = (r.lo, "<") if r.bound == "below" else (r.hi, ">")
        ax.plot([at], [y], marker=head, color=color, markersize=9, linestyle="none", zorder=5, gid="bound")


def _control_band(ax, rows: list[ForestRow]) -> Rectangle | None:
    """The control's interval shaded behind every selection row (one rectangle per row, so rows in any order)."""
    control = next((r for r in rows if r.label == CONTROL), None)
    if control is None:
        return None
    band = None
    for y, r in enumerate(rows):
        if r.selection:
            band = Rectangle((control.lo, y - 0.5), control.hi - control.lo, 1.0, facecolor="#9ecae1", alpha=0.45,
                             edgecolor="none", zorder=1, gid="control")
            ax.add_patch(band)
    return band


def _x_ticks(ax, x0: float, x1: float) -> None:
    ticks = [t for t in TICKS if x0 <= t <= x1]
    if len(ticks) > 9 or x1 > TICKS[-1] or x0 < TICKS[0]:
        ticks = [t for t in COARSE_TICKS if x0 <= t <= x1]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{t:g}x" for t in ticks])


def _measured_range(ax, summary: dict, x0: float, x1: float) -> list[float]:
    """Dotted lines where the measured standard budgets end (at D0; a selection row's differ by its kept tokens):
    beyond them a multiplier is only a bound."""
    budgets = [float(p["budget"]) for p in summary.get("standard_points") or []]
    ends = [x for x in (min(budgets) / summary["d0"], max(budgets) / summary["d0"]) if x0 < x < x1] if budgets else []
    for x in ends:
        ax.axvline(x, color="#777777", linewidth=1, linestyle=":", zorder=1, gid="range")
    return ends


def _legend(fig: Figure, rows: list[ForestRow], band, ends: list[float]) -> None:
    seen = list(dict.fromkeys(r.significance for r in rows))
    handles = []
    for sig in seen:
        color, marker, filled = _style(sig)
        handles.append(Line2D([], [], color=color, marker=marker, markerfacecolor=color if filled else "white",
                              linewidth=0 if sig == "reference" else 2.2, label=LEGEND_WORDS.get(sig, sig)))
    if band is not None:
        handles.append(Patch(facecolor="#9ecae1", alpha=0.45, label="random-subset control's 90% interval "
                                                                    "(the selection rows' yardstick)"))
    if any(r.lo_open or r.hi_open for r in rows):
        handles.append(Line2D([], [], color="#555555", marker=">", linewidth=2.2,
                              label="open end: the interval runs on past the measured standard budgets"))
    if ends:
        handles.append(Line2D([], [], color="#777777", linestyle=":", linewidth=1,
                              label="end of the measured standard budgets (beyond: a bound only)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False)


def forest_figure(summary: dict) -> Figure:
    """The forest plot of `summary`'s table (see the module docstring); rows left out are named under the axes."""
    rows, left_out = forest_rows(summary)
    n = max(len(rows), 1)
    fig = Figure(figsize=(10.5, 1.9 + 0.34 * n + (0.25 if left_out else 0)), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    x0, x1 = x_limits(rows)
    band = _control_band(ax, rows)
    ax.axvline(1.0, color="black", linewidth=1, zorder=2, gid="one")
    right = blended_transform_factory(ax.transAxes, ax.transData)
    for y, r in enumerate(rows):
        _draw_row(ax, y, r, x0, x1)
        word = "" if r.significance == "reference" else f"  {r.significance}"
        ax.text(1.015, y, r.text + word, transform=right, va="center", fontsize=8, color=_style(r.significance)[0],
                gid="words")
    ax.set_yticks(range(len(rows)), [r.label for r in rows], fontsize=8.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(x0, x1)
    _x_ticks(ax, x0, x1)
    ends = _measured_range(ax, summary, x0, x1)
    ax.grid(True, axis="x", alpha=0.25)
    note = "\n".join(textwrap.wrap("not drawn (no interval): " + "; ".join(left_out), 160)) if left_out else ""
    ax.set_xlabel("data-efficiency multiplier: the standard recipe's data needed for the same loss (log scale)"
                  + ("\n" + note if note else ""))
    ax.set_title(f"every row's multiplier with its 90% interval over seed noise, D0 = {summary['d0']:,.0f} tokens",
                 fontsize=10)
    _legend(fig, rows, band, ends)
    return fig


def plot_forest(summary: dict, png, svg=None) -> list[Path]:
    """Write the forest plot as `png` (and `svg`, for report.html); returns the paths written."""
    fig = forest_figure(summary)
    written = []
    for path, fmt in ((png, "png"), (svg, "svg")):
        if path is not None:
            path = Path(path)
            meta = {"Date": None} if fmt == "svg" else {}  # no timestamp: the same summary gives the same file
            with rc_context({"svg.hashsalt": "squeeze"}):  # the SVG's element ids too (random by default)
                atomic_write(path, lambda f, fmt=fmt, meta=meta: fig.savefig(f, format=fmt, metadata=meta,
                                                                             bbox_inches="tight"))
            written.append(path)
    return written
