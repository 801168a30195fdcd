"""Evaluation figures: robust-accuracy curves, reduction bars (ours vs the paper), the per-run view of
the protocol's comparison (values, differences and their percentile interval, ratios), the paper
comparison of stored results, and the feature changes of one counterfactual."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ._base import _new_ax


def _curve(value):
    if isinstance(value, Mapping):
        eps, acc = value.get("epsilon"), value.get("accuracy")
    else:
        eps, acc = value
    eps = np.asarray(eps, dtype=np.float64).reshape(-1)
    acc = np.asarray(acc, dtype=np.float64).reshape(-1)
    if eps.shape != acc.shape:
        raise ValueError(f"epsilons and accuracies differ in length: {eps.shape} vs {acc.shape}")
    return eps, acc


def robust_accuracy_curves(curves: Mapping, *, ax=None, title: str | None = None, ylim=(0.0, 1.02)):
    """Accuracy under attack against ε, one line per model (the paper's Figure 4).

    Args:
        curves: ``{name: (epsilons, accuracies)}`` or ``{name: {"epsilon": ..., "accuracy": ...}}``
            (the dict :func:`cftkit.evaluation.robust_accuracy` returns).

    Returns:
        the ``Axes``.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty dict {name: (epsilons, accuracies)}")
    ax = _new_ax(ax)
    markers = ("o", "s", "^", "D", "v", "P", "X", "*")
    styles = ("-", "--", "-.", ":")
    for i, (name, value) in enumerate(curves.items()):
        eps, acc = _curve(value)
        ax.plot(eps, acc, styles[i % len(styles)], marker=markers[i % len(markers)], ms=4, label=str(name))
    ax.set_xlabel("ε (perturbation size)")
    ax.set_ylabel("accuracy")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title is not None:
        ax.set_title(title)
    return ax


def _value_err(v):
    if v is None:
        return np.nan, np.nan
    if np.ndim(v) == 0:
        return float(v), np.nan
    v = tuple(v)
    if len(v) != 2:
        raise ValueError(f"a table value must be a number or a (mean, sd) pair; got {v!r}")
    return float(v[0]), float(v[1])


def reduction_bars(table: Mapping, *, ax=None, labels=("ours", "paper"), title: str | None = None,
                   ylabel: str = "reduction (%)", annotate: bool = True, fmt: str = "{:.1f}"):
    """Grouped bars comparing our numbers with the paper's, one group per metric.

    Args:
        table: ``{metric: (ours, paper)}``; each value a number, a ``(mean, sd)`` pair (drawn as an error
            bar) or ``None`` (no bar).
        fmt: format of the value printed above each bar (e.g. ``"{:.2f}"`` for levels).

    Returns:
        the ``Axes`` (one ``BarContainer`` per column of the table).
    """
    if not isinstance(table, Mapping) or not table:
        raise ValueError("table must be a non-empty dict {metric: (ours, paper)}")
    rows = []
    for metric, pair in table.items():
        pair = tuple(pair)
        if len(pair) != len(labels):
            raise ValueError(f"table[{metric!r}] needs {len(labels)} values ({', '.join(labels)}); got {pair!r}")
        rows.append([_value_err(v) for v in pair])
    vals = np.array([[v for v, _ in r] for r in rows])
    errs = np.array([[e for _, e in r] for r in rows])
    ax = _new_ax(ax, figsize=(max(4.0, 1.2 * len(table) + 1.5), 3.5))
    m, c = vals.shape
    width = 0.8 / c
    pos = np.arange(m)
    colors = ("#1b7837", "#999999", "#762a83", "#e08214")
    for j in range(c):
        err = errs[:, j] if np.isfinite(errs[:, j]).any() else None
        bars = ax.bar(pos + (j - (c - 1) / 2) * width, np.nan_to_num(vals[:, j]), width, yerr=err, capsize=3,
                      color=colors[j % len(colors)], label=str(labels[j]))
        for rect, v, e in zip(bars, vals[:, j], errs[:, j]):
            if not np.isfinite(v):
                rect.set_visible(False)
            elif annotate:
                top = v + (1.0 if v >= 0 else -1.0) * (e if np.isfinite(e) else 0.0)  # above the error bar
                ax.annotate(fmt.format(v), (rect.get_x() + rect.get_width() / 2, top), ha="center",
                            va="bottom" if v >= 0 else "top", fontsize="x-small", xytext=(0, 2 if v >= 0 else -2),
                            textcoords="offset points")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(pos)
    ax.set_xticklabels([str(k) for k in table])
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    if title is not None:
        ax.set_title(title)
    return ax



# ----------------------------------------------------------------------------- the protocol, run by run
_MODEL_COLORS = {"BL": "#999999", "CT": "#1b7837"}
_SIG_COLOR, _NOSIG_COLOR, _WARN_COLOR = "#1b7837", "0.55", "#b2182b"


def _finite(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    return v[np.isfinite(v)]


def _spread(n: int, width: float = 0.25) -> np.ndarray:
    """Deterministic horizontal offsets for ``n`` dots of a strip plot."""
    if n <= 1:
        return np.zeros(n)
    return np.linspace(-width, width, n)


def per_run_values(values: Mapping, *, ax=None, ylabel: str = "value", title: str | None = None):
    """One dot per run for each model (a strip with a box), e.g. ``{"BL": bl_runs, "CT": ct_runs}``.

    Non-finite runs (no valid counterfactual) are left out and counted in the tick label.

    Returns:
        the ``Axes``.
    """
    if not isinstance(values, Mapping) or not values:
        raise ValueError("values must be a non-empty dict {model: per-run values}")
    ax = _new_ax(ax, figsize=(3.6, 3.4))
    ticks = []
    for i, (name, v) in enumerate(values.items()):
        raw = np.asarray(v, dtype=np.float64).reshape(-1)
        fin = _finite(raw)
        color = _MODEL_COLORS.get(str(name), f"C{i}")
        if fin.size:
            ax.boxplot([fin], positions=[i], widths=0.5, showfliers=False, patch_artist=False,
                       medianprops={"color": color, "lw": 1.5}, boxprops={"color": "0.6"},
                       whiskerprops={"color": "0.6"}, capprops={"color": "0.6"})
            ax.plot(i + _spread(fin.size), fin, "o", ms=4, alpha=0.8, color=color, zorder=3)
        missing = raw.size - fin.size
        ticks.append(f"{name}\n(mean {np.mean(fin):.4g})" if fin.size else f"{name}\n(no value)")
        if missing:
            ticks[-1] += f"\n{missing} run(s) without a value"
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(ticks, fontsize="small")
    ax.set_xlim(-0.6, len(values) - 0.4)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    if title is not None:
        ax.set_title(title)
    return ax


def significance_interval(deltas, low: float, high: float, significant: bool, *, ax=None,
                          xlabel: str = "δ_r = |CT_r| − |BL_r|", level: float = 0.99, title: str | None = None):
    """The percentile test of :func:`cftkit.evaluation.percentile_significance`: one dot per run for δ_r,
    the ``level`` percentile interval as a bar and 0 as a dashed line (significant = 0 outside the bar).

    Returns:
        the ``Axes``.
    """
    ax = _new_ax(ax, figsize=(4.0, 2.6))
    d = _finite(deltas)
    ax.plot(d, _spread(d.size, 0.15), "o", ms=4, alpha=0.7, color="C0", label="runs")
    if np.isfinite(low) and np.isfinite(high):
        ax.plot([low, high], [0.45, 0.45], lw=7, solid_capstyle="butt",
                color=_SIG_COLOR if significant else _NOSIG_COLOR, label=f"{level * 100:g} % interval")
    ax.axvline(0.0, ls="--", color="k", lw=1)
    ax.set_ylim(-0.5, 0.9)
    ax.set_yticks([])
    ax.set_xlabel(xlabel)
    ax.locator_params(axis="x", nbins=5)
    ax.legend(fontsize="x-small", loc="upper right")
    if title is None:
        title = "significant" if significant else "not significant (0 inside the interval)"
    ax.set_title(title)
    return ax


def run_ratios(ratios, *, mean_of_ratios: float | None = None, ratio_of_means: float | None = None, ax=None,
               degenerate: bool = False, title: str | None = None):
    """One dot per run for the ratio CT_r / BL_r behind the table's reduction (1 − mean ratio)·100, with
    the mean of the ratios (solid) and the ratio of the means (dashed); 1 = no change.  Ratios far
    from the others (near-zero BL values) show why a mean of ratios can explode.

    Returns:
        the ``Axes``.
    """
    ax = _new_ax(ax, figsize=(3.6, 3.4))
    r = _finite(ratios)
    ax.plot(_spread(r.size), r, "o", ms=4, alpha=0.8, color=_WARN_COLOR if degenerate else "C0", zorder=3)
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    if mean_of_ratios is not None and np.isfinite(mean_of_ratios):
        ax.axhline(mean_of_ratios, color="C1", lw=1.5, label=f"mean of ratios {mean_of_ratios:.3g}")
    if ratio_of_means is not None and np.isfinite(ratio_of_means):
        ax.axhline(ratio_of_means, color="C2", lw=1.5, ls="--", label=f"ratio of means {ratio_of_means:.3g}")
    ax.set_xticks([])
    ax.set_xlim(-0.6, 0.6)
    ax.set_ylabel("CT_r / BL_r")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small", loc="best")
    ax.grid(axis="y", alpha=0.3)
    if title is not None:
        ax.set_title(title, color=_WARN_COLOR if degenerate else "k")
    return ax


# ----------------------------------------------------------------------------- stored results vs the paper
def paper_comparison(comparison: Mapping, *, metric: str = "ip", fig=None, title: str | None = None):
    """Three panels from :func:`cftkit.experiments.paper_comparison`: our reductions next to the paper's
    (bars: mean over seeds, whiskers: [min, max] over seeds, dots: seeds; the paper's ± sd), the BL/CT
    levels of ``metric`` (ours vs the paper's), and validity (ours vs the paper's).

    Returns:
        the ``Figure``.
    """
    metrics = comparison["metrics"]
    if metric not in metrics:
        raise ValueError(f"metric must be one of {list(metrics)}; got {metric!r}")
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(13.0, 3.9), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.5, 1.0, 1.2]})
    keys = list(metrics)
    pos = np.arange(len(keys))
    w = 0.38
    for i, k in enumerate(keys):
        c = metrics[k]
        if k == metric:
            ax1.axvspan(i - 0.5, i + 0.5, color="#fee08b", alpha=0.5, zorder=0)
        ours, lo, hi = c["ours"], c["low"], c["high"]
        if np.isfinite(ours):
            ax1.bar(i - w / 2, ours, w, color="#1b7837", label="ours" if i == 0 else None, zorder=2)
            if c["n_seeds"] > 1 and np.isfinite(lo) and np.isfinite(hi):
                ax1.errorbar(i - w / 2, ours, yerr=[[max(ours - lo, 0)], [max(hi - ours, 0)]], color="k",
                             capsize=3, lw=1, zorder=3)
                seeds = _finite(c["per_seed"])
                ax1.plot(i - w / 2 + _spread(seeds.size, w / 3), seeds, "o", ms=2.5, color="#a6dba0", zorder=4,
                         markeredgecolor="k", markeredgewidth=0.3)
            spread = c["n_seeds"] > 1 and np.isfinite(lo) and np.isfinite(hi)
            if ours >= 0:  # above the bar (and its whisker), or below a negative one
                ax1.annotate(f"{ours:.1f}", (i - w / 2, hi if spread else ours), ha="center", va="bottom",
                             fontsize="x-small", xytext=(0, 2), textcoords="offset points")
            else:
                ax1.annotate(f"{ours:.1f}", (i - w / 2, lo if spread else ours), ha="center", va="top",
                             fontsize="x-small", xytext=(0, -2), textcoords="offset points")
        if np.isfinite(c["paper"]):
            ax1.bar(i + w / 2, c["paper"], w, color="#999999", label="paper" if i == 0 else None, zorder=2,
                    yerr=c["paper_sd"] if np.isfinite(c["paper_sd"]) else None, capsize=3)
            p_sd = c["paper_sd"] if np.isfinite(c["paper_sd"]) else 0.0
            p_up = c["paper"] >= 0
            ax1.annotate(f"{c['paper']:.1f}{'*' if c['paper_significant'] else ''}",
                         (i + w / 2, c["paper"] + p_sd if p_up else c["paper"] - p_sd), ha="center",
                         va="bottom" if p_up else "top", fontsize="x-small", xytext=(0, 2 if p_up else -2),
                         textcoords="offset points")
    ax1.axhline(0.0, color="k", lw=0.8)
    ax1.margins(y=0.12)  # room for the labels above the whiskers
    ax1.set_xticks(pos)
    ax1.set_xticklabels([f"{metrics[k]['label']}\n{metrics[k]['agreement']}" for k in keys], fontsize="small")
    ax1.set_ylabel("reduction CT vs BL (%)")
    ax1.set_title(f"reductions ({comparison['label']})")
    ax1.legend(fontsize="x-small", loc="best")

    c = metrics[metric]
    levels = {"BL": (c["bl"], c["paper_bl"]), "CT": (c["ct"], c["paper_ct"])}
    levels = {k: tuple(None if not np.isfinite(v) else v for v in pair) for k, pair in levels.items()}
    big = max([abs(v) for pair in levels.values() for v in pair if v is not None] or [1.0])
    reduction_bars(levels, ax=ax2, labels=("ours", "paper"), ylabel=c["label"], title=f"levels: {c['label']}",
                   fmt="{:.2f}" if big >= 0.1 else "{:.4f}")
    v = comparison["validity"]
    names = {"bl": "BL", "ct": "CT", "bl_constrained": "BL prot.", "ct_constrained": "CT prot."}
    table = {names[k]: (v["ours"][k], None if not np.isfinite(v["paper"][k]) else v["paper"][k]) for k in names}
    reduction_bars(table, ax=ax3, labels=("ours", "paper"), ylabel="validity",
                   title="validity (τ = 0.95; prot.: τ = 0.5, protected feature fixed)", fmt="{:.2f}")
    ax3.set_ylim(0, 1.3)
    ax3.legend(fontsize="x-small", loc="upper center", ncol=2)
    ax3.title.set_fontsize("small")
    fig.suptitle(title or f"{comparison['dataset']}: {comparison['protocol']}", fontsize="medium")
    return fig


# ----------------------------------------------------------------------------- one counterfactual's changes
def feature_changes(rows, *, ax=None, title: str | None = None, annotate: str = "change", max_features: int = 20):
    """Horizontal bars of the changes of one counterfactual, one per feature row of
    :func:`cftkit.widgets.counterfactual_changes` (its ``delta``: the change in model units, i.e.
    standardised): green where the change respects the feature's mutability, red where it does not
    (an immutable feature that moved), grey hatched for an unchanged immutable feature.

    Args:
        annotate: the row entry printed beside each bar (``"change"``: in the rows' units).

    Returns:
        the ``Axes``.
    """
    rows = list(rows)[:int(max_features)]
    ax = _new_ax(ax, figsize=(6.0, max(2.0, 0.35 * len(rows) + 1.0)))
    if not rows:
        ax.text(0.5, 0.5, "no feature changed", ha="center", va="center", transform=ax.transAxes, color="0.4")
        ax.set_yticks([])
        ax.set_xticks([])
        if title is not None:
            ax.set_title(title)
        return ax
    y = np.arange(len(rows))[::-1]
    deltas = np.array([float(r["delta"]) for r in rows])
    colors = []
    for r in rows:
        if not r["respects"]:
            colors.append(_WARN_COLOR)
        elif r["changed"]:
            colors.append(_SIG_COLOR)
        else:
            colors.append("0.8")
    bars = ax.barh(y, deltas, color=colors, height=0.6)
    for rect, r in zip(bars, rows):
        if not r["changed"]:
            rect.set_hatch("//")
            rect.set_edgecolor("0.5")
    span = max(float(np.max(np.abs(deltas))), 1e-6)
    for yi, d, r in zip(y, deltas, rows):
        text = str(r.get(annotate, ""))
        if r["mutability"] != "both":
            text += f"  [{r['mutability']}{'' if r['respects'] else ' ✗'}]"
        ax.text(d + (0.02 if d >= 0 else -0.02) * span, yi, text, va="center", ha="left" if d >= 0 else "right",
                fontsize="x-small")
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([str(r["feature"]) for r in rows], fontsize="small")
    ax.set_xlim(-1.6 * span, 1.6 * span)
    ax.set_xlabel("change x′ − x (model units: standardised)")
    if title is not None:
        ax.set_title(title)
    return ax
