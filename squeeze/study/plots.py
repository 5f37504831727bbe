"""The plots of `squeeze fit`: data_scaling.png (the standard recipe's measured points with their seed spread, the
interpolation envelope every multiplier is read on, its law where the fit is not degenerate, and every other method
drawn as a line from its own budget to where its multiplier was read: the picture of the multiplier) and
param_scaling.png (L(N) per recipe with its asymptote); and for `squeeze report` the ensemble K curves, the
weight-decay x epochs heat map and the training curves.

Every plot puts its legend outside the axes (none covers data) and fits its y-range to the measured data, not to a
fitted asymptote far below it (the asymptote is then named in the legend instead of drawn). `*_figure` functions
build the figure from plain arrays and fits (anything with predict(x), C and degenerate), pure in, figure out;
`plot_*` write it as a PNG atomically and return the path. Matplotlib's object API on the Agg canvas: no pyplot, no
global backend switch, no display. Exercised by tests/test_plots.py and tests/test_fits.py (`squeeze fit`).
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from squeeze.io import atomic_write
from squeeze.study.noise import envelope

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
          "tab:cyan", "black", "gold", "navy", "magenta", "lime")  # 14: a study's rows without a repeat
# the methods on the data-scaling plot: a dozen distinct colours, none the standard recipe's blue
MARKER_COLORS = ("tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
                 "tab:cyan", "black", "gold", "lime", "navy", "magenta")
X_PAD = 1.5  # the x-axis runs this factor past the outermost budget drawn; an open (bound) line ends at its edge
LEGEND_WRAP = 80  # characters per legend line (a degenerate fit's reason can be long)
Y_PAD = 0.06  # share of the data's y-span added above and below


def _new_axes(xlabel: str, size=(10.5, 5.0)):
    fig = Figure(figsize=size, dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    _log_labels(ax.xaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation loss (nats/token)")
    ax.grid(True, which="both", alpha=0.25)
    return fig, ax


def short_number(x: float) -> str:
    """A tick label for tokens or parameters: 5000 -> "5k", 300000 -> "300k", 1e6 -> "1M"."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:g}{suffix}"
    return f"{x:g}"


def _log_labels(axis) -> None:
    """Short labels at 1, 2 and 5 x each power of ten of a log axis (matplotlib's own collide on a narrow span)."""
    lead = lambda x: round(x / 10 ** math.floor(math.log10(x))) if x > 0 else 0  # noqa: E731
    axis.set_major_formatter(FuncFormatter(lambda x, _: short_number(x)))
    axis.set_minor_formatter(FuncFormatter(lambda x, _: short_number(x) if lead(x) in (2, 5) else ""))


def save(fig: Figure, path) -> Path:
    path = Path(path)
    atomic_write(path, lambda f: fig.savefig(f, format="png", bbox_inches="tight"))  # the legend outside too
    return path


def fit_y(ax, values) -> tuple[float, float]:
    """Set the y-range to the finite `values` (the data drawn), Y_PAD of their span beyond each end."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if not v.size:
        return ax.get_ylim()
    span = max(float(v.max() - v.min()), 0.02 * max(abs(float(v.max())), 1.0))
    lim = (float(v.min()) - Y_PAD * span, float(v.max()) + Y_PAD * span)
    ax.set_ylim(*lim)
    return lim


def legend_outside(ax, fontsize: float = 8, first: int = 0) -> None:
    """The legend to the right of the axes, never over the data; the last `first` entries moved to the top."""
    handles, labels = ax.get_legend_handles_labels()
    if first:
        handles, labels = handles[-first:] + handles[:-first], labels[-first:] + labels[:-first]
    labels = ["\n".join(textwrap.wrap(t, LEGEND_WRAP)) for t in labels]
    ax.legend(handles, labels, fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _asymptote(ax, fit, interval, color, label, ylim) -> None:
    """The fitted asymptote C: a dashed line when it lies inside the data's y-range, else named in the legend."""
    text = f"{label} C = {fit.C:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")
    if ylim[0] <= fit.C <= ylim[1]:
        ax.axhline(fit.C, color=color, linestyle="--", linewidth=1, label=text)
    else:
        ax.plot([], [], color=color, linestyle="--", linewidth=1, label=f"{text} (below the axes)"
                if fit.C < ylim[0] else f"{text} (above the axes)")


def _reach(ax, budget, loss, reach, x_edges, color) -> None:
    """A star at (budget, loss) and a line to where the multiplier was read (gid "reach"): a point on the
    envelope, marked with a circle; a bound (reach 0: worse than the smallest standard budget; inf: better than
    the largest) runs to the axis edge, with an arrowhead there (gid "open")."""
    ax.plot([budget], [loss], marker="*", markersize=13, color=color, linestyle="none", zorder=5, gid="method")
    if reach is None or (math.isfinite(reach) and reach < 0):
        return
    open_ = reach == 0 or math.isinf(reach)
    end = (x_edges[0] if reach == 0 else x_edges[1]) if open_ else reach
    ax.plot([budget, end], [loss, loss], color=color, linewidth=1.2, alpha=0.85, zorder=4, gid="reach")
    ax.plot([end], [loss], marker=("<" if reach == 0 else ">") if open_ else "o", markersize=6,
            markerfacecolor=color if open_ else "white", color=color, zorder=5, clip_on=False,
            gid="open" if open_ else "read")


def _standard(ax, budgets, losses, sds, seeds, recipe) -> tuple[np.ndarray, np.ndarray]:
    """The measured points with seed error bars (gid "measured") and their envelope (gid "envelope")."""
    yerr = None if sds is None or all(s is None for s in sds) else \
        np.asarray([0.0 if s is None else s for s in sds], dtype=float)
    n = sorted({int(k) for k in seeds}) if seeds is not None else []
    seeds_text = f", {n[0]}-{n[-1]} seeds" if len(n) > 1 else f", {n[0]} seed{'s' * (n[0] != 1)}" if n else ""
    bars = ax.errorbar(budgets, losses, yerr=yerr, fmt="o", color=COLORS[0], markersize=7, capsize=4, zorder=6,
                       label=f"{recipe}: measured " + (f"mean ± seed SD{seeds_text}" if yerr is not None else
                                                         f"loss{seeds_text}"))
    bars.lines[0].set_gid("measured")
    b, env = envelope(budgets, losses)
    ax.plot(b, env, color=COLORS[0], linewidth=1.6, zorder=3, gid="envelope",
            label=f"{recipe}: interpolation the multipliers are read on (linear in log D)")
    return b, env


def data_scaling_figure(budgets, losses, fit, *, sds=None, seeds=None, asymptote_interval=None, markers=(),
                        recipe: str = "standard") -> Figure:
    """The standard recipe's measured best loss per budget (seed-mean, ± seed SD when `sds` is given) and the
    envelope between them that multipliers are read on; its law as a dashed curve labelled "law, extrapolating"
    only when `fit` is not degenerate. markers: (label, budget, loss, reach, text) per other method, where reach
    is the budget its multiplier was read at (0 below the measured range, inf above it, None when none)."""
    budgets, losses = np.asarray(budgets, dtype=float), np.asarray(losses, dtype=float)
    reaches = [m[3] for m in markers if m[3] is not None and math.isfinite(m[3]) and m[3] > 0]
    lo = min([budgets.min(), *reaches, *(m[1] for m in markers)]) / X_PAD
    hi = max([budgets.max(), *reaches, *(m[1] for m in markers)]) * X_PAD
    fig, ax = _new_axes("unique training tokens (budget D)")
    _standard(ax, budgets, losses, sds, seeds, recipe)
    ys = [*(losses - (0 if sds is None else np.nan_to_num(np.asarray(sds, dtype=float)))),
          *(losses + (0 if sds is None else np.nan_to_num(np.asarray(sds, dtype=float)))), *(m[2] for m in markers)]
    ylim = fit_y(ax, ys)
    degenerate = getattr(fit, "degenerate", False)
    if fit is not None and not degenerate:
        xs = np.geomspace(lo, hi, 200)
        ax.plot(xs, fit.predict(xs), color=COLORS[0], linewidth=1.2, linestyle="--", alpha=0.8, gid="law",
                label=f"{recipe} law, extrapolating: L(D) = {fit.A:.3g}/D^{fit.B:.3f} + {fit.C:.3f}")
        _asymptote(ax, fit, asymptote_interval, COLORS[0], f"{recipe} law's asymptote", ylim)
    ax.set_title((f"{recipe} law degenerate ({fit.reason}): not drawn\n" if degenerate else "")
                 + "each star is a method at its budget; its line ends where its multiplier was read", fontsize=9)
    for i, (label, budget, loss, reach, text) in enumerate(markers):
        color = MARKER_COLORS[i % len(MARKER_COLORS)]
        ax.plot([], [], marker="*", markersize=10, color=color, linestyle="none", label=f"{label}: {text}")
        _reach(ax, budget, loss, reach, (lo * 1.02, hi / 1.02), color)
    ax.set_xlim(lo, hi)
    ax.set_ylim(*ylim)
    legend_outside(ax, 7.5, first=1)  # the measured points (an errorbar container, listed last) first
    return fig


def plot_data_scaling(budgets, losses, fit, path, **kw) -> Path:
    """data_scaling_figure(...) written to `path`."""
    return save(data_scaling_figure(budgets, losses, fit, **kw), path)


def param_scaling_figure(curves) -> Figure:
    """curves: (label, params, best losses, fit, asymptote interval or None) per recipe; log x, one color each,
    the fitted L(N) (left out for a degenerate fit) and its asymptote."""
    fig, ax = _new_axes("parameters N", size=(9.5, 5.0))
    ylim = fit_y(ax, [y for c in curves for y in c[2]])
    for i, (label, params, losses, fit, interval) in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        params = np.asarray(params, dtype=float)
        xs = np.geomspace(params.min() / 1.4, params.max() * 4, 200)
        ax.plot(params, losses, "o", color=color, markersize=7, label=f"{label}: best measured loss", gid="measured")
        if getattr(fit, "degenerate", False):
            ax.plot([], [], color=color, label=f"{label}: fit degenerate, not drawn ({fit.reason})")
        else:
            ax.plot(xs, fit.predict(xs), color=color, linewidth=1.5, gid="law")
            _asymptote(ax, fit, interval, color, label, ylim)
    every = [float(x) for c in curves for x in c[1]]
    ax.set_xlim(min(every) / 1.3, max(every) * 1.3)
    ax.set_ylim(*ylim)
    legend_outside(ax)
    ax.set_title("parameter scaling: L(N) = A/N^B + C", fontsize=10)
    return fig


def plot_param_scaling(curves, path) -> Path:
    return save(param_scaling_figure(curves), path)


def ensemble_figure(curves) -> Figure:
    """curves: (label, K values, mean loss over member orders, fit or None) per ensemble; loss against K with the
    fitted L(K) = A/K^B + C and its asymptote."""
    fig, ax = _new_axes("ensemble size K (members)", size=(9.5, 5.0))
    ax.set_xscale("linear")
    ylim = fit_y(ax, [y for c in curves for y in c[2]])
    for i, (label, ks, losses, fit) in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        ax.plot(ks, losses, "o-", color=color, markersize=6, label=f"{label}: measured", gid="measured")
        if fit is not None and not getattr(fit, "degenerate", False):
            xs = np.linspace(1, max(ks) * 2, 100)
            ax.plot(xs, fit.predict(xs), color=color, linewidth=1, linestyle=":", gid="law")
            _asymptote(ax, fit, None, color, f"{label} K->inf", ylim)
    ax.set_ylim(*ylim)
    legend_outside(ax)
    ax.set_title("ensembles: loss against the number of members", fontsize=10)
    return fig


def plot_ensemble_curves(curves, path) -> Path:
    return save(ensemble_figure(curves), path)


def plot_heatmap(wds, epochs, loss_grid, path, title: str) -> Path:
    """Validation loss over weight decay (rows) x epochs (columns); missing points are blank, the best is boxed."""
    grid = np.asarray(loss_grid, dtype=float)
    fig = Figure(figsize=(1.6 + 1.1 * len(epochs), 1.4 + 0.6 * len(wds)), dpi=120, layout="constrained")
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
    return save(fig, path)


def training_curves_figure(curves) -> Figure:
    """curves: (label, tokens seen, validation loss) per run: the epoch-end evaluations of each method's best run."""
    fig, ax = _new_axes("training tokens seen")
    for i, (label, tokens, losses) in enumerate(curves):
        ax.plot(tokens, losses, "o-", color=COLORS[i % len(COLORS)], markersize=3, linewidth=1.2, label=label,
                gid="measured")
    fit_y(ax, [y for c in curves for y in c[2]])
    legend_outside(ax)
    ax.set_title("validation loss during training (epoch ends; the last point is the final eval)", fontsize=10)
    return fig


def plot_training_curves(curves, path) -> Path:
    return save(training_curves_figure(curves), path)
