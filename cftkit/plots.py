"""Matplotlib views of cftkit's core: decision boundaries, search paths, energies, training curves.

Conventions (every function):

* Pass ``ax=`` (or ``axes=``/``fig=`` for multi-panel figures) to draw into existing axes; otherwise a
  new figure is made with ``matplotlib.pyplot`` so that Jupyter's inline backend shows it.  Nothing
  calls ``plt.show()``, changes ``rcParams`` or uses the "current axes".
* Single-panel functions return the ``Axes``; multi-panel functions return the ``Figure``.
* Deterministic: no random sampling (subsets, if any, are every k-th point).
* The computations behind the pictures are small pure functions (:func:`plane_grid`,
  :func:`decision_surface`, :func:`energy_surface`, :func:`path_points`, ...), tested on their own.

Only numpy and matplotlib are imported here; models are called as ``model(x, training=False)`` on
float32 arrays, so any Keras classifier returning ``(N, K)`` logits (or a
:class:`cftkit.CounterfactualModel`) works.  Evaluation outputs are accepted as plain arrays/dicts.

Example:
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np, cftkit
    >>> from cftkit import plots
    >>> model = cftkit.build_classifier(2, 2, seed=0)
    >>> x = np.random.default_rng(0).normal(size=(20, 2)).astype("float32")
    >>> ax = plots.decision_boundary(model, x, np.arange(20) % 2, resolution=20)
    >>> ax.get_xlabel()
    'x1'
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import numpy as np
from matplotlib import patches as mpatches
from matplotlib.colors import ListedColormap
from matplotlib.ticker import MaxNLocator

from ._validation import as_labels

__all__ = [
    "Surface", "plane_grid", "data_limits", "predict_logits", "decision_surface", "energy_surface", "path_points",
    "decision_boundary", "counterfactual_paths", "energy_landscape", "constraint_region", "HISTORY_PANELS",
    "training_history", "training_overview", "compare_boundaries", "robust_accuracy_curves", "mnist_grid",
    "protected_mask_overlay", "reduction_bars", "implausibility_illustration", "class_colors",
]

#: colours of class 0 and 1 in binary plots (the ends of the "RdBu_r" probability map)
BINARY_COLORS = ("#2166ac", "#b2182b")
_TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf")

#: default panels of :func:`training_history`: title -> History keys (missing keys are skipped)
HISTORY_PANELS = {
    "loss terms": ("loss", "ct_clf", "ct_div", "ct_reg", "ct_adv", "val_loss"),
    "maturity / accuracy": ("ct_maturity", "accuracy", "val_accuracy"),
    "search steps": ("ct_search_steps",),
}

_HISTORY_LABELS = {"loss": "loss (total)", "ct_clf": "clf (CE)", "ct_div": "div", "ct_reg": "reg (ridge)",
                   "ct_adv": "adv", "ct_maturity": "maturity", "ct_search_steps": "mean search steps"}


# ----------------------------------------------------------------------------- small helpers
def class_colors(n_classes: int) -> tuple:
    """Colours of the classes: blue/red for binary problems (matching the probability map), tab10 else."""
    if n_classes <= 2:
        return BINARY_COLORS
    return tuple(_TAB10[k % len(_TAB10)] for k in range(n_classes))


def _subplots(nrows=1, ncols=1, figsize=None, **kwargs):
    import matplotlib.pyplot as plt  # only for *new* figures, so that Jupyter shows them inline

    return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kwargs)


def _new_ax(ax, figsize=(5.0, 4.0)):
    if ax is not None:
        return ax
    _, axes = _subplots(figsize=figsize)
    return axes[0, 0]


def _axes_row(axes, n: int, figsize, what: str = "", **kwargs) -> list:
    """``n`` axes: a new 1×n figure when ``axes`` is None, else the given axes (at least ``n`` of them)."""
    if axes is None:
        _, grid = _subplots(1, n, figsize=figsize, **kwargs)
        return list(grid.ravel())
    axes = list(np.ravel(axes))
    if len(axes) < n:
        raise ValueError(f"need {n} axes{what}; got {len(axes)}")
    return axes


def _as_numpy(value) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def _check_2d_features(x, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{what} needs 2-D inputs of shape (N, 2); got shape {x.shape}. "
                         f"Plot two features with x[:, [i, j]] and a model of those two features.")
    return x


def _names(feature_names, dims=(0, 1)) -> tuple:
    if feature_names is None:
        return tuple(f"x{d + 1}" for d in dims)
    names = tuple(feature_names)
    if len(names) == 2:
        return names
    return tuple(str(names[d]) for d in dims)


def _limits(lim) -> tuple:
    lo, hi = (float(v) for v in lim)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo >= hi:
        raise ValueError(f"limits must be finite (low, high) with low < high; got {lim!r}")
    return lo, hi


def plane_grid(xlim, ylim, resolution: int = 200):
    """``(xx, yy, points)``: a ``resolution × resolution`` grid over the plane and its (R², 2) points."""
    resolution = int(resolution)
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2; got {resolution}")
    (x0, x1), (y0, y1) = _limits(xlim), _limits(ylim)
    xx, yy = np.meshgrid(np.linspace(x0, x1, resolution, dtype=np.float32),
                         np.linspace(y0, y1, resolution, dtype=np.float32))
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)


def data_limits(*arrays, padding: float = 0.5, dims=(0, 1)) -> tuple:
    """``(xlim, ylim)`` covering all points of the given ``(N, D)`` arrays (NaNs ignored), padded."""
    pts = [np.asarray(a, dtype=np.float64).reshape(-1, np.shape(a)[-1])[:, list(dims)] for a in arrays
           if a is not None and np.size(a)]
    if not pts:
        raise ValueError("data_limits needs at least one non-empty array")
    pts = np.concatenate(pts)
    lo, hi = np.nanmin(pts, axis=0), np.nanmax(pts, axis=0)
    pad = float(padding)
    return (float(lo[0] - pad), float(hi[0] + pad)), (float(lo[1] - pad), float(hi[1] + pad))


def predict_logits(model, x, *, batch_size: int = 65536) -> np.ndarray:
    """Logits ``(N, K)`` of ``model`` on ``x`` as a float64 numpy array (batched direct calls, no ``predict``)."""
    from .search import check_logits  # TensorFlow is imported only by plots that evaluate a model

    check_logits(model)
    x = np.asarray(x, dtype=np.float32)
    outs = []
    for start in range(0, max(len(x), 1), batch_size):
        chunk = x[start:start + batch_size]
        try:
            out = model(chunk, training=False)
        except TypeError:  # a plain callable without the ``training`` keyword
            out = model(chunk)
        outs.append(_as_numpy(out).astype(np.float64))
    logits = np.concatenate(outs) if outs else np.zeros((0, 2))
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"model must return (N, K) logits with K >= 2; got shape {logits.shape}")
    return logits


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclasses.dataclass
class Surface:
    """A scalar field over a plane grid: ``z[i, j]`` at ``(xx[i, j], yy[i, j])``.

    ``kind`` is ``"proba"`` (p(class 1), binary), ``"class"`` (argmax, K > 2 or ``proba=False``) or
    ``"energy"`` (E(x, y⁺) = −f(x)[y⁺]); ``n_classes`` is K; ``target`` the class of an energy surface.
    """

    xx: np.ndarray
    yy: np.ndarray
    z: np.ndarray
    kind: str
    n_classes: int
    target: int | None = None

    @property
    def xlim(self) -> tuple:
        return float(self.xx.min()), float(self.xx.max())

    @property
    def ylim(self) -> tuple:
        return float(self.yy.min()), float(self.yy.max())


def decision_surface(model, xlim, ylim, *, resolution: int = 200, proba: bool = True) -> Surface:
    """The classifier over the plane: p(class 1) for binary models with ``proba``, else the argmax class."""
    xx, yy, pts = plane_grid(xlim, ylim, resolution)
    logits = predict_logits(model, pts)
    k = int(logits.shape[1])
    if proba and k == 2:
        z, kind = _softmax(logits)[:, 1], "proba"
    else:
        z, kind = np.argmax(logits, axis=1).astype(np.float64), "class"
    return Surface(xx, yy, z.reshape(xx.shape), kind, k)


def energy_surface(model, target: int, xlim, ylim, *, resolution: int = 150) -> Surface:
    """E(x, y⁺) = −f(x)[y⁺] (the negative target logit, ct_method §1.1) over the plane."""
    xx, yy, pts = plane_grid(xlim, ylim, resolution)
    logits = predict_logits(model, pts)
    k = int(logits.shape[1])
    target = int(target)
    if not 0 <= target < k:
        raise ValueError(f"target must be a class index in [0, {k}); got {target}")
    return Surface(xx, yy, (-logits[:, target]).reshape(xx.shape), "energy", k, target)


def _draw_surface(ax, surface: Surface, *, cmap=None, alpha=0.55, boundary=True, levels=None, colorbar=False):
    if surface.kind == "proba":
        cs = ax.contourf(surface.xx, surface.yy, surface.z, levels=np.linspace(0.0, 1.0, 11) if levels is None
                         else levels, cmap=cmap or "RdBu_r", vmin=0.0, vmax=1.0, alpha=alpha)
        if boundary and surface.z.min() < 0.5 < surface.z.max():
            ax.contour(surface.xx, surface.yy, surface.z, levels=[0.5], colors="k", linewidths=1.2)
        label = "p(y = 1 | x)"
    elif surface.kind == "class":
        k = surface.n_classes
        cm = ListedColormap(list(class_colors(k))[:k]) if cmap is None else cmap
        cs = ax.contourf(surface.xx, surface.yy, surface.z, levels=np.arange(k + 1) - 0.5, cmap=cm, alpha=alpha * 0.7)
        if boundary and np.unique(surface.z).size > 1:
            for c in np.unique(surface.z):  # one indicator contour per class: no doubled lines between 0 and 2
                ax.contour(surface.xx, surface.yy, (surface.z == c).astype(float), levels=[0.5], colors="k",
                           linewidths=1.0)
        label = "predicted class"
    else:
        cs = ax.contourf(surface.xx, surface.yy, surface.z, levels=20 if levels is None else levels,
                         cmap=cmap or "viridis", alpha=alpha)
        label = f"E(x, y⁺={surface.target}) = −f(x)[{surface.target}]"
    if colorbar:
        ax.figure.colorbar(cs, ax=ax, label=label)
    ax.set_xlim(*surface.xlim)
    ax.set_ylim(*surface.ylim)
    return cs


def _scatter_classes(ax, x, y, n_classes, *, size=14, alpha=0.8, max_points=None):
    x = np.asarray(x, dtype=np.float32)
    y = as_labels(_as_numpy(y).reshape(-1), "y")
    if len(y) != len(x):
        raise ValueError(f"y must have one label per point of x ({len(x)}); got {len(y)}")
    if max_points is not None and len(x) > max_points:
        idx = np.linspace(0, len(x) - 1, int(max_points)).astype(int)  # deterministic thinning
        x, y = x[idx], y[idx]
    colors = class_colors(max(n_classes, int(y.max(initial=0)) + 1))
    for k in np.unique(y):
        m = y == k
        ax.scatter(x[m, 0], x[m, 1], s=size, color=colors[int(k)], edgecolors="white", linewidths=0.4,
                   alpha=alpha, label=f"class {int(k)}", zorder=2)


# ----------------------------------------------------------------------------- decision boundary
def decision_boundary(model, x, y, *, ax=None, resolution: int = 200, proba: bool = True, padding: float = 0.5,
                      feature_names=None, xlim=None, ylim=None, surface: Surface | None = None,
                      show_data: bool = True, max_points: int | None = None, colorbar: bool = False,
                      legend: bool = True, title: str | None = None):
    """Filled contour of p(class 1) (binary) or of the predicted class (K > 2), plus the data.

    Args:
        model: classifier returning logits on 2-D inputs.
        x, y: ``(N, 2)`` points and their labels (drawn as a scatter per class).
        resolution: grid points per axis; padding: margin around the data when limits are not given.
        proba: binary models only: probability map (with the 0.5 contour) instead of hard classes.
        xlim, ylim: plot limits (default: the data's range ± ``padding``).
        surface: a precomputed :class:`Surface` (skips evaluating the model; widgets cache it).
        max_points: thin the scatter to at most this many points (every k-th, deterministic).

    Returns:
        the ``Axes`` (its first collection is the filled contour).
    """
    x = _check_2d_features(x, "decision_boundary")
    ax = _new_ax(ax)
    if surface is None:
        if xlim is None or ylim is None:
            dx, dy = data_limits(x, padding=padding)
            xlim, ylim = xlim or dx, ylim or dy
        surface = decision_surface(model, xlim, ylim, resolution=resolution, proba=proba)
    _draw_surface(ax, surface, colorbar=colorbar)
    if show_data and len(x):
        _scatter_classes(ax, x, y, surface.n_classes, max_points=max_points)
    fx, fy = _names(feature_names)
    ax.set_xlabel(fx)
    ax.set_ylabel(fy)
    if title is not None:
        ax.set_title(title)
    if legend and show_data and len(x):
        ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    return ax


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
                         legend: bool = True, max_paths: int | None = None):
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
    for i in range(n):
        pts = path_points(result, i, upto, dims)
        full = int(steps[i]) if steps is not None else path.shape[1] - 1
        done[i] = upto is None or int(upto) >= full
        line, = ax.plot(pts[:, 0], pts[:, 1], "-", color=path_color, lw=1.2, alpha=0.75, marker=".", ms=3,
                        label="search path" if i == 0 else "_nolegend_", zorder=3)
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
    if legend:
        ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    return ax


# ----------------------------------------------------------------------------- energy
def energy_landscape(model, target: int, xlim, ylim, *, ax=None, resolution: int = 150, levels=20, cmap="viridis",
                     colorbar: bool = True, surface: Surface | None = None, feature_names=None):
    """Filled contour of E(x, y⁺) = −f(x)[y⁺] over the plane (low energy = typical of the target class).

    Returns:
        the ``Axes``.
    """
    if surface is None:
        surface = energy_surface(model, target, xlim, ylim, resolution=resolution)
    ax = _new_ax(ax)
    _draw_surface(ax, surface, cmap=cmap, levels=levels, alpha=0.9, colorbar=colorbar)
    fx, fy = _names(feature_names)
    ax.set_xlabel(fx)
    ax.set_ylabel(fy)
    ax.set_title(f"energy E(x, y⁺ = {surface.target})")
    return ax


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


# ----------------------------------------------------------------------------- training curves
def _history_dict(history) -> dict:
    h = getattr(history, "history", history)
    if not isinstance(h, Mapping):
        raise TypeError(f"history must be a dict of per-epoch lists or a keras History; got {type(history).__name__}")
    return {str(k): np.asarray(v, dtype=np.float64).reshape(-1) for k, v in h.items()}


def training_history(history, *, axes=None, keys: Mapping | Sequence | None = None, figsize=None):
    """Per-epoch curves: CT loss terms, maturity (and accuracy), mean search steps.

    Args:
        history: ``keras.callbacks.History`` or its ``.history`` dict (key → per-epoch values).
        axes: a sequence of Axes, one per panel.
        keys: panels as ``{title: [keys]}`` (default :data:`HISTORY_PANELS`), or a flat list of keys
            drawn in one panel.  Keys missing from ``history`` are skipped; a panel with none of its
            keys says so.

    Returns:
        the ``Figure``.
    """
    h = _history_dict(history)
    if keys is None:
        panels = HISTORY_PANELS
    elif isinstance(keys, Mapping):
        panels = dict(keys)
    else:
        panels = {"history": tuple(keys)}
    axes = _axes_row(axes, len(panels), figsize or (4.0 * len(panels), 3.2), f" for the panels {list(panels)}")
    for ax, (title, panel_keys) in zip(axes, panels.items()):
        drawn = 0
        for key in panel_keys:
            values = h.get(key)
            if values is None or values.size == 0:
                continue
            epochs = np.arange(1, values.size + 1)
            ls = "--" if key.startswith("val_") else "-"
            ax.plot(epochs, values, ls, marker="o" if values.size < 30 else None, ms=3,
                    label=_HISTORY_LABELS.get(key, key))
            drawn += 1
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if drawn:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes, color="0.5")
        if "maturity" in title:
            ax.set_ylim(-0.02, 1.02)
    fig = axes[0].figure
    return fig


def training_overview(history, *, model=None, x=None, y=None, fig=None, resolution: int = 80,
                      keys: Mapping | None = None, xlim=None, ylim=None, title: str | None = None):
    """One figure for live training dashboards: :func:`training_history` panels plus, for 2-D data
    with a model, the current decision boundary.

    Returns:
        the ``Figure``.
    """
    panels = dict(HISTORY_PANELS if keys is None else keys)
    with_boundary = model is not None and x is not None and np.shape(x)[-1] == 2
    n = len(panels) + int(with_boundary)
    if fig is None:
        _, grid = _subplots(1, n, figsize=(3.6 * n, 3.2))
        axes = list(grid.ravel())
        fig = axes[0].figure
    else:
        axes = list(np.ravel(fig.subplots(1, n, squeeze=False)))
    training_history(history, axes=axes[:len(panels)], keys=panels)
    if with_boundary:
        decision_boundary(model, x, y, ax=axes[-1], resolution=resolution, xlim=xlim, ylim=ylim, max_points=400,
                          legend=False, title="decision boundary")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- comparisons
def compare_boundaries(models: Mapping, x, y, results: Mapping | None = None, *, axes=None, resolution: int = 150,
                       proba: bool = True, padding: float = 0.5, feature_names=None, show_nascent: bool = False,
                       epsilon: float | None = None, max_points: int | None = None, figsize=None):
    """Side-by-side decision boundaries (e.g. BL vs CT, as the paper's Figure 1), each with its
    counterfactual paths when ``results[name]`` (a search result with ``path``) is given.

    All panels share the same limits (the data and every path, padded).

    Returns:
        the ``Figure``.
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty dict {name: model}")
    x = _check_2d_features(x, "compare_boundaries")
    results = dict(results or {})
    unknown = set(results) - set(models)
    if unknown:
        raise ValueError(f"results for unknown models {sorted(unknown)}; models: {list(models)}")
    extra = [_result_field(r, "path") for r in results.values() if r is not None]
    xlim, ylim = data_limits(x, *extra, padding=padding)
    own = axes is None
    axes = _axes_row(axes, len(models), figsize or (4.4 * len(models), 4.6), sharex=True, sharey=True,
                     layout="constrained")
    for ax, (name, model) in zip(axes, models.items()):
        decision_boundary(model, x, y, ax=ax, resolution=resolution, proba=proba, xlim=xlim, ylim=ylim,
                          feature_names=feature_names, max_points=max_points, legend=False, title=str(name))
        if results.get(name) is not None:
            counterfactual_paths(results[name], ax=ax, show_nascent=show_nascent, epsilon=epsilon, legend=False)
    fig = axes[0].figure
    handles, labels = axes[0].get_legend_handles_labels()
    if own:  # one legend under the panels, outside the plots
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6), fontsize="small")
    else:
        axes[0].legend(loc="upper right", fontsize="small", framealpha=0.8)
    return fig


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


def _images(images, shape) -> np.ndarray:
    imgs = np.asarray(images, dtype=np.float32)
    shape = tuple(int(s) for s in shape)
    if imgs.ndim == 1:
        imgs = imgs[None]
    if imgs.shape[1:] == shape:
        return imgs
    if imgs.ndim == 2 and imgs.shape[1] == math.prod(shape):
        return imgs.reshape((-1,) + shape)
    raise ValueError(f"images must be (N, {math.prod(shape)}) or (N, {shape[0]}, {shape[1]}); got {imgs.shape}")


def mnist_grid(images, *, nrow: int = 1, titles: Sequence[str] | None = None, shape=(28, 28), vmin: float = -1.0,
               vmax: float = 1.0, cmap="gray", fig=None, figsize=None):
    """Images (e.g. MNIST counterfactuals, pixels in [−1, 1]) in a grid of ``nrow`` rows.

    Returns:
        the ``Figure`` (one ``AxesImage`` per image; unused grid cells are hidden).
    """
    imgs = _images(images, shape)
    n = imgs.shape[0]
    nrow = int(nrow)
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1; got {nrow}")
    ncol = max(1, math.ceil(n / nrow))
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles has {len(titles)} entries for {n} images")
    if fig is None:
        _, grid = _subplots(nrow, ncol, figsize=figsize or (1.5 * ncol, 1.6 * nrow))
        fig = grid[0, 0].figure
    else:
        grid = fig.subplots(nrow, ncol, squeeze=False)
    for i, ax in enumerate(grid.ravel()):
        ax.set_axis_off()
        if i < n:
            ax.imshow(imgs[i], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize="small")
    return fig


def protected_mask_overlay(image, protected, *, ax=None, shape=(28, 28), vmin: float = -1.0, vmax: float = 1.0,
                           color=(0.85, 0.1, 0.1), alpha: float = 0.35, title: str | None = None):
    """An image with its protected (immutable) pixels tinted, e.g. MNIST's top and bottom five rows.

    ``protected`` is a list of flat pixel indices or a boolean mask of the image's size.

    Returns:
        the ``Axes`` (two images: the picture and the RGBA overlay).
    """
    img = _images(image, shape)[0]
    mask = np.zeros(img.size, bool)
    prot = np.asarray(protected)
    if prot.dtype == bool:
        if prot.size != img.size:
            raise ValueError(f"a boolean protected mask needs {img.size} entries; got {prot.size}")
        mask = prot.reshape(-1)
    elif prot.size:
        mask[prot.astype(int).reshape(-1)] = True
    ax = _new_ax(ax, figsize=(3.0, 3.0))
    ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    rgba = np.zeros(img.shape + (4,), dtype=np.float32)
    rgba[..., :3] = color
    rgba[..., 3] = mask.reshape(img.shape) * float(alpha)
    ax.imshow(rgba, interpolation="nearest")
    ax.set_axis_off()
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
                   ylabel: str = "reduction (%)", annotate: bool = True):
    """Grouped bars comparing our numbers with the paper's, one group per metric.

    Args:
        table: ``{metric: (ours, paper)}``; each value a number, a ``(mean, sd)`` pair (drawn as an error
            bar) or ``None`` (no bar).

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
                ax.annotate(f"{v:.1f}", (rect.get_x() + rect.get_width() / 2, top), ha="center",
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
