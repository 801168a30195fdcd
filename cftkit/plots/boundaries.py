"""Decision boundaries and energy landscapes of 2-D classifiers."""

from __future__ import annotations

from typing import Mapping


from ._base import (Surface, _axes_row, _check_2d_features, _draw_surface, _names, _new_ax, _scatter_classes,
                    data_limits, decision_surface, energy_surface)
from .search import _result_field, counterfactual_paths, place_legend


# ----------------------------------------------------------------------------- decision boundary
def decision_boundary(model, x, y, *, ax=None, resolution: int = 200, proba: bool = True, padding: float = 0.5,
                      feature_names=None, xlim=None, ylim=None, surface: Surface | None = None,
                      show_data: bool = True, max_points: int | None = None, colorbar: bool = False,
                      legend: bool | str = True, title: str | None = None):
    """Filled contour of p(class 1) (binary) or of the predicted class (K > 2), plus the data.

    Args:
        model: classifier returning logits on 2-D inputs.
        x, y: ``(N, 2)`` points and their labels (drawn as a scatter per class).
        resolution: grid points per axis; padding: margin around the data when limits are not given.
        proba: binary models only: probability map (with the 0.5 contour) instead of hard classes.
        xlim, ylim: plot limits (default: the data's range ± ``padding``).
        surface: a precomputed :class:`Surface` (skips evaluating the model; widgets cache it).
        max_points: thin the scatter to at most this many points (every k-th, deterministic).
        legend: ``True`` (inside, upper right), ``"outside"`` (right of the axes), ``"below"`` or ``False``.

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
        place_legend(ax, legend)
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


# ----------------------------------------------------------------------------- comparisons
def legend_entries(axes) -> tuple:
    """``(handles, labels)`` of several axes, each label once (first occurrence), for one shared legend."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    return handles, labels


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
    handles, labels = legend_entries(axes)
    if own:  # one legend under the panels, outside the plots
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6), fontsize="small")
    else:
        axes[0].legend(loc="upper right", fontsize="small", framealpha=0.8)
    return fig
