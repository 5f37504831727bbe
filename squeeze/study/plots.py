"""The plots of `squeeze fit`: data_scaling.png (the standard recipe's L(D), its asymptote, and every other recipe
drawn as a line from its own budget to the budget the standard recipe needs for the same loss: the picture of
the multiplier) and param_scaling.png (L(N) per recipe with its asymptote); and for `squeeze report` the ensemble
K curves, the weight-decay x epochs heat map and the training curves.

Functions take plain arrays and fits (anything with predict(x) and C) and an output path, write a PNG atomically
and return the path. Matplotlib's object API on the Agg canvas: no pyplot, no global backend switch, no display.
Exercised by tests/test_fits.py (`squeeze fit` writes both).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from squeeze.io import atomic_write

MAX_REACH = 100.0  # lines longer than this many times the largest measured budget are cut at the plot's edge
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
# the methods on the data-scaling plot: a dozen distinct colours, none the standard recipe's blue
MARKER_COLORS = ("tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
                 "tab:cyan", "black", "gold", "lime", "navy", "magenta")


def _new_axes(xlabel: str):
    fig = Figure(figsize=(7.5, 5.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation loss (nats/token)")
    ax.grid(True, which="both", alpha=0.25)
    return fig, ax


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    return path


def _asymptote(ax, fit, interval, color, label):
    """The fitted asymptote C as a dashed line, labelled with its interval when there is one."""
    text = f"{label} C = {fit.C:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")
    ax.axhline(fit.C, color=color, linestyle="--", linewidth=1, label=text)


def _reach(ax, budget, loss, reach, xmax, color):
    """A star at (budget, loss) and a line to the point of the standard curve with the same loss, marked there:
    several methods at one budget stay apart along the curve. The multiplier is in the legend, not on the plot."""
    ax.plot([budget], [loss], marker="*", markersize=13, color=color, linestyle="none", zorder=5)
    if reach is None or not np.isfinite(reach):
        return
    end = min(reach, xmax)
    ax.plot([budget, end], [loss, loss], color=color, linewidth=1.2, alpha=0.8, zorder=4)
    if reach <= xmax:
        ax.plot([end], [loss], marker="o", markersize=6, markerfacecolor="white", color=color, zorder=5)


def plot_data_scaling(budgets, losses, fit, path, *, asymptote_interval=None, markers=(),
                      recipe: str = "standard") -> Path:
    """Best loss vs budget (log x) with the fitted curve and asymptote (dashed; left out for a degenerate fit).
    markers: (legend label, budget, loss, reach_budget or None, multiplier text) per other recipe; reach_budget
    is where the standard curve reaches that loss, None when it never does (beyond the asymptote)."""
    budgets, losses = np.asarray(budgets, dtype=float), np.asarray(losses, dtype=float)
    reaches = [m[3] for m in markers if m[3] is not None and np.isfinite(m[3])]
    xmax = budgets.max() * MAX_REACH
    hi = min(max([budgets.max(), *reaches]), xmax) * 1.4
    lo = min([budgets.min(), *reaches, *(m[1] for m in markers)]) / 1.4
    fig, ax = _new_axes("unique training tokens (budget D)")
    xs = np.geomspace(lo, hi, 200)
    degenerate = getattr(fit, "degenerate", False)
    curve = "fitted curve (degenerate)" if degenerate else f"L(D) = {fit.A:.3g}/D^{fit.B:.3f} + {fit.C:.3f}"
    ax.plot(xs, fit.predict(xs), color=COLORS[0], linewidth=1.5, label=f"{recipe}: {curve}")
    ax.plot(budgets, losses, "o", color=COLORS[0], markersize=7, label=f"{recipe}: best measured loss")
    if not degenerate:
        _asymptote(ax, fit, asymptote_interval, COLORS[0], f"{recipe} asymptote")
    ax.set_title((f"{recipe} fit degenerate, no asymptote: {fit.reason}\n" if degenerate else "")
                 + f"each star is a method at its budget; its line ends where the {recipe} curve reaches the same loss",
                 fontsize=9)
    for i, (label, budget, loss, reach, text) in enumerate(markers):
        color = MARKER_COLORS[i % len(MARKER_COLORS)]
        off = "" if reach is None or not np.isfinite(reach) or reach <= xmax else ", off the plot"
        ax.plot([], [], marker="*", markersize=10, color=color, linestyle="none", label=f"{label}: {text}{off}")
        _reach(ax, budget, loss, reach, xmax, color)
    ax.set_xlim(lo, hi)
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def plot_param_scaling(curves, path) -> Path:
    """curves: (label, params, best losses, fit, asymptote interval or None) per recipe; log x, one color each,
    the fitted L(N) and its asymptote (dashed; left out for a degenerate fit)."""
    fig, ax = _new_axes("parameters N")
    for i, (label, params, losses, fit, interval) in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        params = np.asarray(params, dtype=float)
        xs = np.geomspace(params.min() / 1.4, params.max() * 4, 200)
        ax.plot(params, losses, "o", color=color, markersize=7, label=f"{label}: best measured loss")
        ax.plot(xs, fit.predict(xs), color=color, linewidth=1.5)
        if getattr(fit, "degenerate", False):
            ax.plot([], [], color=color, label=f"{label}: fit degenerate ({fit.reason})")
        else:
            _asymptote(ax, fit, interval, color, label)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("parameter scaling: L(N) = A/N^B + C", fontsize=10)
    return _save(fig, path)


def plot_ensemble_curves(curves, path) -> Path:
    """curves: (label, K values, mean loss over member orders, fit or None) per ensemble; loss against K with the
    fitted L(K) = A/K^B + C and its asymptote."""
    fig, ax = _new_axes("ensemble size K (members)")
    ax.set_xscale("linear")
    for i, (label, ks, losses, fit) in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        ax.plot(ks, losses, "o-", color=color, markersize=6, label=f"{label}: measured")
        if fit is not None and not getattr(fit, "degenerate", False):
            xs = np.linspace(1, max(ks) * 2, 100)
            ax.plot(xs, fit.predict(xs), color=color, linewidth=1, linestyle=":")
            _asymptote(ax, fit, None, color, f"{label} K->inf")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("ensembles: loss against the number of members", fontsize=10)
    return _save(fig, path)


def plot_heatmap(wds, epochs, loss_grid, path, title: str) -> Path:
    """Validation loss over weight decay (rows) x epochs (columns); missing points are blank, the best is boxed."""
    grid = np.asarray(loss_grid, dtype=float)
    fig = Figure(figsize=(1.6 + 1.1 * len(epochs), 1.4 + 0.6 * len(wds)), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    finite = grid[np.isfinite(grid)]
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis_r", aspect="auto",
                   vmin=finite.min() if finite.size else None, vmax=finite.max() if finite.size else None)
    ax.set_xticks(range(len(epochs)), [str(e) for e in epochs])
    ax.set_yticks(range(len(wds)), [f"{w:g}" for w in wds])
    ax.set_xlabel("epochs")
    ax.set_ylabel("weight decay")
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=8,
                    color="white" if finite.size and v > np.median(finite) else "black")
    if finite.size:
        i, j = np.unravel_index(np.nanargmin(np.where(np.isfinite(grid), grid, np.nan)), grid.shape)
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    fig.colorbar(im, ax=ax, label="val loss")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_training_curves(curves, path) -> Path:
    """curves: (label, tokens seen, validation loss) per run: the epoch-end evaluations of each method's best run."""
    fig, ax = _new_axes("training tokens seen")
    for i, (label, tokens, losses) in enumerate(curves):
        ax.plot(tokens, losses, "o-", color=COLORS[i % len(COLORS)], markersize=3, linewidth=1.2, label=label)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("validation loss during training (epoch ends; the last point is the final eval)", fontsize=10)
    return _save(fig, path)
