"""Matplotlib views of cftkit's core: decision boundaries, search paths, energies, training curves.

Conventions (every function):

* Pass ``ax=`` (or ``axes=``/``fig=`` for multi-panel figures) to draw into existing axes; otherwise a
  new figure is made with ``matplotlib.pyplot`` so that Jupyter's inline backend shows it.  Nothing
  calls ``plt.show()``, changes ``rcParams`` or uses the "current axes".
* Single-panel functions return the ``Axes``; multi-panel functions return the ``Figure``.
* Deterministic: no random sampling (subsets, if any, are every k-th point).
* One module per topic: ``boundaries`` (decision boundaries, energy landscapes), ``search`` (paths,
  actionability regions), ``training`` (curves), ``evaluation`` (robustness, reductions), ``images``;
  ``_base`` holds the shared helpers.  Everything is re-exported here.
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

from ._base import (BINARY_COLORS, HISTORY_PANELS, Surface, _scatter_classes, class_colors, data_limits,  # noqa: F401
                    decision_surface, energy_surface, plane_grid, predict_logits)
from .boundaries import compare_boundaries, decision_boundary, energy_landscape, legend_entries
from .evaluation import (feature_changes, paper_comparison, per_run_values, reduction_bars,
                         robust_accuracy_curves, run_ratios, significance_interval)
from .images import mnist_grid, protected_mask_overlay
from .search import (constraint_region, counterfactual_paths, implausibility_illustration, path_points,
                     place_legend, reachable_box)
from .training import training_history, training_overview

__all__ = [
    "Surface", "plane_grid", "data_limits", "predict_logits", "decision_surface", "energy_surface", "path_points",
    "decision_boundary", "counterfactual_paths", "energy_landscape", "constraint_region", "HISTORY_PANELS",
    "training_history", "training_overview", "compare_boundaries", "robust_accuracy_curves", "mnist_grid",
    "protected_mask_overlay", "reduction_bars", "implausibility_illustration", "class_colors", "reachable_box",
    "place_legend", "legend_entries",
    "per_run_values", "significance_interval", "run_ratios", "paper_comparison", "feature_changes",
]
