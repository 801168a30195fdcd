"""Shared pieces of the plots: colours, axes helpers, model evaluation on grids (:class:`Surface`)."""

from __future__ import annotations

import dataclasses
import gc

import numpy as np
from matplotlib.colors import ListedColormap

from .._validation import as_labels


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


# A closed or redrawn figure becomes garbage in reference cycles (its Text artists keep the Agg renderers,
# 4 bytes per pixel each).  In a process holding traced TensorFlow functions Python's full collection comes
# rarely, so a lesson that draws a figure per cell, or a widget redrawn a few times, piles megabytes of them
# up.  New figures (_subplots) and widget redraws (cftkit.widgets.show_figure) count their pixels here; once
# they add up to _COLLECT_AFTER_PIXELS (≈ 4 MB of renderer buffers), the earlier figures are collected.
_COLLECT_AFTER_PIXELS = 1 << 19
_figure_pixels = 0


def _count_figure(pixels: float) -> None:
    """Count a figure's pixels; collect the garbage of earlier figures every ``_COLLECT_AFTER_PIXELS``."""
    global _figure_pixels
    _figure_pixels += pixels
    if _figure_pixels >= _COLLECT_AFTER_PIXELS:
        _figure_pixels = 0
        gc.collect()


def _subplots(nrows=1, ncols=1, figsize=None, **kwargs):
    import matplotlib.pyplot as plt  # only for *new* figures, so that Jupyter shows them inline

    w, h = figsize if figsize is not None else plt.rcParams["figure.figsize"]
    _count_figure(w * h * plt.rcParams["figure.dpi"] ** 2)
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
    from ..search import check_logits  # TensorFlow is imported only by plots that evaluate a model

    x = np.asarray(x, dtype=np.float32)
    check_logits(model, sample=x[:16] if x.ndim >= 2 and len(x) else None)
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
    """E(x, y⁺) = −f(x)[y⁺] (the negative target logit, docs/method.md#energy) over the plane."""
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
