"""Counterfactual search paths, actionability regions and the implausibility picture."""

from __future__ import annotations

from typing import Mapping

import numpy as np
from matplotlib import patches as mpatches

from ._base import BINARY_COLORS, _check_2d_features, _names, _new_ax


# ----------------------------------------------------------------------------- search paths
def _result_field(result, name, required=True):
    value = result.get(name) if isinstance(result, Mapping) else getattr(result, name, None)
    if value is None and required:
        raise ValueError(f"the search result has no {name!r}" + (
            "; run cftkit.search(..., return_path=True)" if name == "path" else ""))
    return None if value is None else np.asarray(value)


def path_points(result, i: int = 0, upto: int | None = None, dims=(0, 1)) -> np.ndarray:
    """The states x_0 … x_s actually visited by search ``i`` (``steps[i] + 1`` points), up to step ``upto``.

    ``SearchResult.path`` repeats the last state of a sample that stopped early; this trims it.
    """
    path = _result_field(result, "path")
    steps = _result_field(result, "steps", required=False)
    n = int(steps[i]) if steps is not None else path.shape[1] - 1
    n = min(n, path.shape[1] - 1)
    if upto is not None:
        n = max(0, min(n, int(upto)))
    return path[i, :n + 1][:, list(dims)]


def counterfactual_paths(result, *, ax=None, show_nascent: bool = True, epsilon: float | None = None,
                         upto: int | None = None, dims=(0, 1), path_color="k", feature_names=None,
                         legend: bool | str = True, max_paths: int | None = None, long_path: int | None = 15):
    """Draw search paths, factuals, final counterfactuals (mature ★ / not mature ✕) and nascent points.

    Args:
        result: a :class:`cftkit.SearchResult` with ``path`` (``return_path=True``), or a dict with the
            same fields (``path``, ``factual``, ``counterfactual``, ``mature``, ``steps``, ``nascent``).
        show_nascent: mark the nascent counterfactuals (last state with ‖x_t − x‖∞ ≤ ε).
        epsilon: draw the L∞ ball of this radius (a square) around each factual.
        upto: reveal each path only up to this step (for step-by-step animation); the current state is
            then marked instead of the final counterfactual until the path is complete.
        dims: the two features to draw (for D > 2).
        max_paths: draw at most this many searches (the first ones).
        legend: ``True`` (inside the axes, upper right), ``"outside"`` (right of the axes) or ``"below"``
            (under them): never over the data; or ``False``.
        long_path: a path drawn with more than this many steps is drawn thin and translucent, without
            a dot per state (a search that bounces between the walls of the domain would otherwise
            cover the picture with a solid block of lines); ``None`` draws every path alike.

    Returns:
        the ``Axes``.  Each path is a ``Line2D`` with gid ``"cftkit-path"`` and ``steps[i] + 1`` points.
    """
    path = _result_field(result, "path")
    n = path.shape[0] if max_paths is None else min(path.shape[0], int(max_paths))
    dims = list(dims)
    factual = _result_field(result, "factual", required=False)
    factual = path[:n, 0] if factual is None else factual[:n]
    factual = factual[:, dims]
    cf = _result_field(result, "counterfactual", required=False)
    mature = _result_field(result, "mature", required=False)
    steps = _result_field(result, "steps", required=False)
    nascent = _result_field(result, "nascent", required=False)
    ax = _new_ax(ax)
    done = np.ones(n, bool)
    current = []
    if long_path is not None and (isinstance(long_path, bool) or int(long_path) != long_path or long_path < 0):
        raise ValueError(f"long_path must be None or an integer >= 0; got {long_path!r}")
    full = [min(int(steps[i]), path.shape[1] - 1) if steps is not None else path.shape[1] - 1 for i in range(n)]
    points = [path_points(result, i, upto, dims) for i in range(n)]
    styles = [_path_style(s, long_path) for s in full]  # by the whole path: stable while it is revealed
    # one legend entry per style: the first normal path and the first long (faint) one
    short = next((i for i, st in enumerate(styles) if st["marker"] is not None), None)
    long_ = next((i for i, st in enumerate(styles) if st["marker"] is None), None)
    for i, (pts, style) in enumerate(zip(points, styles)):
        done[i] = upto is None or int(upto) >= full[i]
        label = "search path" if i == short else f"search path (> {long_path} steps)" if i == long_ else "_nolegend_"
        line, = ax.plot(pts[:, 0], pts[:, 1], "-", color=path_color, zorder=3, label=label, **style)
        line.set_gid("cftkit-path")
        if not done[i]:
            current.append(pts[-1])
    ax.scatter(factual[:, 0], factual[:, 1], s=60, marker="o", facecolors="white", edgecolors="k", linewidths=1.5,
               label="factual", zorder=4).set_gid("cftkit-factual")
    if current:
        cur = np.asarray(current)
        ax.scatter(cur[:, 0], cur[:, 1], s=50, marker="o", color="#fdb863", edgecolors="k", label="current state",
                   zorder=5).set_gid("cftkit-current")
    if cf is not None:
        final = cf[:n][:, dims]
        mat = np.zeros(n, bool) if mature is None else mature[:n].astype(bool)
        for sel, marker, color, label, gid in ((done & mat, "*", "#ffd700", "counterfactual (mature)", "cftkit-mature"),
                                               (done & ~mat, "X", "#bbbbbb", "counterfactual (not mature)",
                                                "cftkit-not-mature")):
            if sel.any():
                ax.scatter(final[sel, 0], final[sel, 1], s=180 if marker == "*" else 90, marker=marker, color=color,
                           edgecolors="k", linewidths=1.0, label=label, zorder=6).set_gid(gid)
    if show_nascent and nascent is not None:
        nas = nascent[:n][:, dims]
        moved = np.any(np.abs(nas - factual) > 0, axis=1)
        if moved.any():
            ax.scatter(nas[moved, 0], nas[moved, 1], s=36, marker="D", color="#5e3c99", edgecolors="white",
                       linewidths=0.8, label="nascent", zorder=5).set_gid("cftkit-nascent")
    if epsilon is not None:
        eps = float(epsilon)
        for i, (fx, fy) in enumerate(factual):
            ax.add_patch(mpatches.Rectangle((fx - eps, fy - eps), 2 * eps, 2 * eps, fill=False, ls="--", lw=1.0,
                                            ec="#5e3c99", label=f"ε-ball (ε = {eps:g})" if i == 0 else "_nolegend_"))
    if feature_names is not None or not ax.get_xlabel():
        fx, fy = _names(feature_names, dims)
        ax.set_xlabel(fx)
        ax.set_ylabel(fy)
    place_legend(ax, legend)
    return ax


def _path_style(n_steps: int, long_path: int | None) -> dict:
    """Line style of a path of ``n_steps`` steps: thin and translucent (no dots) when long."""
    if long_path is not None and n_steps > int(long_path):
        return dict(lw=0.5, alpha=0.2, marker=None)
    return dict(lw=1.2, alpha=0.75, marker=".", ms=3)


def place_legend(ax, legend: bool | str = True, *, fontsize="small", ncols: int = 3):
    """Legend of ``ax``: ``True`` inside (upper right); ``"outside"`` to the right of the axes and
    ``"below"`` under them (neither ever covers the data: constrained layout and the inline backend's
    ``bbox_inches="tight"`` make room for it); ``False`` none.  Returns the ``Legend`` (or None)."""
    if legend is False or legend is None:
        return None
    if legend is True:
        return ax.legend(loc="upper right", fontsize=fontsize, framealpha=0.8)
    if legend == "outside":
        return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=fontsize,
                         framealpha=0.9)
    if legend == "below":
        return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), borderaxespad=0.0, fontsize=fontsize,
                         ncols=ncols, framealpha=0.9)
    raise ValueError(f"legend must be True, False, 'outside' or 'below'; got {legend!r}")


# ----------------------------------------------------------------------------- actionability
def constraint_region(lower, upper, *, ax=None, factual=None, mutability=None, dims=(0, 1)):
    """Draw the domain box ``[lower, upper]`` (dashed) and, given a factual and per-feature mutability,
    the region reachable under the mutability constraints (shaded; a line when a feature is immutable).

    Returns:
        the ``Axes``.
    """
    ax = _new_ax(ax)
    dims = list(dims)
    lo = np.asarray(lower, dtype=np.float64)[dims]
    hi = np.asarray(upper, dtype=np.float64)[dims]
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    lo = np.where(np.isfinite(lo), lo, [x0 - 1e3, y0 - 1e3])
    hi = np.where(np.isfinite(hi), hi, [x1 + 1e3, y1 + 1e3])
    ax.add_patch(mpatches.Rectangle(tuple(lo), *(hi - lo), fill=False, ls="--", lw=1.2, ec="k", label="domain"))
    if factual is not None:
        from_, to = reachable_box(np.asarray(factual, dtype=np.float64)[dims], lo, hi,
                                  None if mutability is None else [tuple(mutability)[d] for d in dims])
        w, h = to - from_
        if w > 0 and h > 0:
            ax.add_patch(mpatches.Rectangle(tuple(from_), w, h, color="#1b7837", alpha=0.15, lw=0,
                                            label="reachable"))
        else:
            ax.plot([from_[0], to[0]], [from_[1], to[1]], color="#1b7837", lw=4, alpha=0.5, label="reachable")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return ax


def reachable_box(factual, lower, upper, mutability=None):
    """``(low, high)`` of the box reachable from ``factual`` under domains and mutability (per feature:
    both → [lower, upper], increase → [x, upper], decrease → [lower, x], none → {x})."""
    x = np.asarray(factual, dtype=np.float64)
    lo = np.asarray(lower, dtype=np.float64).copy()
    hi = np.asarray(upper, dtype=np.float64).copy()
    mut = ("both",) * len(x) if mutability is None else tuple(mutability)
    for j, m in enumerate(mut):
        if m in ("increase", "none"):
            lo[j] = max(lo[j], x[j]) if m == "increase" else x[j]
        if m in ("decrease", "none"):
            hi[j] = min(hi[j], x[j]) if m == "decrease" else x[j]
    return lo, hi


def implausibility_illustration(counterfactual, x_ref, *, ax=None, max_lines: int = 40, norm: int = 1,
                                feature_names=None, title: str | None = None):
    """Picture of implausibility IP: the mean ℓ_p distance (ℓ1 in the paper) from a counterfactual to the
    target-class samples ``x_ref`` (2-D).  Draws the samples, the counterfactual and lines to (every k-th
    of) the samples, and states the mean distance in the title.

    Returns:
        the ``Axes``.
    """
    x_ref = _check_2d_features(x_ref, "implausibility_illustration")
    cf = np.asarray(counterfactual, dtype=np.float64).reshape(-1)
    if cf.shape != (2,):
        raise ValueError(f"counterfactual must be one 2-D point; got shape {np.shape(counterfactual)}")
    ip = float(np.mean(np.linalg.norm(x_ref - cf, ord=norm, axis=1))) if len(x_ref) else float("nan")
    ax = _new_ax(ax)
    idx = np.linspace(0, len(x_ref) - 1, min(len(x_ref), int(max_lines))).astype(int) if len(x_ref) else []
    for i in idx:
        ax.plot([cf[0], x_ref[i, 0]], [cf[1], x_ref[i, 1]], color="0.6", lw=0.6, alpha=0.6, zorder=1)
    ax.scatter(x_ref[:, 0], x_ref[:, 1], s=12, color=BINARY_COLORS[1], alpha=0.7, label="target-class samples",
               zorder=2)
    ax.scatter([cf[0]], [cf[1]], s=180, marker="*", color="#ffd700", edgecolors="k", label="counterfactual", zorder=3)
    fx, fy = _names(feature_names)
    ax.set_xlabel(fx)
    ax.set_ylabel(fy)
    ax.set_title(title or f"IP = mean ℓ{norm} distance = {ip:.3f}")
    ax.legend(fontsize="small")
    return ax
