"""A view of actionability: mutability and domain per feature, and the counterfactual they allow."""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from .. import defaults, plots
from ..constraints import MUTABILITIES, Constraints
from ..search import SearchResult
from ._base import (GENERATORS, _STYLE, _WIDE, _View, _caption, _check_2d, _check_index, _check_step_weights,
                    _check_target, _columns, _fmt_point, _fmt_result, _max_steps_slider, _n_classes, _range_layout,
                    _search_caption, _target_options, _threshold_slider, constraints_from_controls, dataset_arrays,
                    new_figure, resolve_target, run_search, view_limits)


# ----------------------------------------------------------------------------- ActionabilityExplorer
class ActionabilityExplorer(_View):
    """Counterfactuals under actionability constraints on 2-D data.

    Controls: ``mutability`` (a Dropdown per feature: both/increase/decrease/none), ``domain`` (a
    FloatRangeSlider per feature), the point picker ``x1``/``x2`` (sliders: inline PNGs take no clicks),
    ``target``, ``generator``, ``max_steps``, ``threshold``.  ``current_constraints`` is the
    :class:`cftkit.Constraints` built from the controls and ``current_result`` the search under them.
    The figure shades the region reachable from the factual; a line above it states the picked point
    and the search settings, and the legend sits under the plot.
    """

    def __init__(self, model, dataset, *, split: str = "test", index: int = 0, generator: str = "eccco",
                 target: int = -1, max_steps: int = defaults.MAX_STEPS, threshold: float = defaults.THRESHOLD,
                 learning_rate: float = defaults.LEARNING_RATE, cost_weight: float = defaults.COST_WEIGHT,
                 energy_weight: float = defaults.ENERGY_WEIGHT, resolution: int = 100, max_points: int = 300,
                 figsize=(6.6, 5.8)):
        super().__init__()
        self._init_view()
        self.model = model
        self.x, self.y, self.feature_names, base, class_names = dataset_arrays(dataset, split)
        _check_2d(self.x, "ActionabilityExplorer")
        self.base_constraints = base
        self.xlim, self.ylim = view_limits(base, self.x)
        self.n_classes = _n_classes(model, self.x)
        self.learning_rate, self.cost_weight, self.energy_weight = learning_rate, cost_weight, energy_weight
        self.resolution, self.max_points, self.figsize = int(resolution), max_points, figsize
        self._surface = None
        self.current_result: SearchResult | None = None
        self.current_constraints: Constraints | None = None

        lo, hi = np.asarray(base.lower, np.float64), np.asarray(base.upper, np.float64)
        index, target = _check_index(index, len(self.x)), _check_target(target, self.n_classes)
        _check_step_weights(learning_rate, cost_weight, energy_weight)
        self.mutability = [widgets.Dropdown(options=list(MUTABILITIES), value=base.mutability[j],
                                            description=f"{self.feature_names[j]} may", style=_STYLE, layout=_WIDE)
                           for j in range(2)]
        self.domain = [widgets.FloatRangeSlider(value=(float(lo[j]), float(hi[j])), min=float(lo[j]), max=float(hi[j]),
                                                step=float(hi[j] - lo[j]) / 200, readout_format=".2f",
                                                description=f"{self.feature_names[j]} domain", continuous_update=False,
                                                style=_STYLE,
                                                layout=_range_layout(f"{self.feature_names[j]} domain", lo[j], hi[j]))
                       for j in range(2)]
        self.x1, self.x2 = (widgets.FloatSlider(value=float(self.x[index, j]), min=float(lo[j]), max=float(hi[j]),
                                                step=float(hi[j] - lo[j]) / 200,
                                                description=f"factual {self.feature_names[j]}",
                                                continuous_update=False, style=_STYLE, layout=_WIDE) for j in range(2))
        self.target = widgets.Dropdown(options=_target_options(self.n_classes, class_names), value=int(target),
                                       description="target y⁺", style=_STYLE, layout=_WIDE)
        self.generator = widgets.Dropdown(options=list(GENERATORS), value=generator, description="generator",
                                          style=_STYLE, layout=_WIDE)
        common = dict(continuous_update=False, style=_STYLE, layout=_WIDE)
        self.max_steps = _max_steps_slider(max_steps, **common)
        self.threshold = _threshold_slider(threshold, **common)
        for w in (*self.mutability, *self.domain, self.x1, self.x2, self.target, self.generator, self.max_steps,
                  self.threshold):
            w.observe(lambda _: self._safely(self.update), names="value")
        self.children = [_columns([*self.mutability, *self.domain, self.x1, self.x2],
                                  [self.target, self.generator, self.max_steps, self.threshold]),
                         self.summary, self.output]
        self.update()

    def constraints(self) -> Constraints:
        """The constraints currently set by the controls."""
        lower = [d.value[0] for d in self.domain]
        upper = [d.value[1] for d in self.domain]
        return constraints_from_controls(lower, upper, [m.value for m in self.mutability], self.feature_names)

    def factual(self) -> np.ndarray:
        """The picked point, clipped onto the current domain."""
        return self.constraints().clip(np.array([[self.x1.value, self.x2.value]], np.float32))[0]

    def compute(self) -> SearchResult:
        c = self.constraints()
        x = c.clip(np.array([[self.x1.value, self.x2.value]], np.float32))[0]
        return run_search(self.model, x, resolve_target(self.model, x, self.target.value), constraints=c,
                          generator=self.generator.value, max_steps=self.max_steps.value,
                          threshold=self.threshold.value, learning_rate=self.learning_rate,
                          cost_weight=self.cost_weight, energy_weight=self.energy_weight)

    def update(self, *_):
        self.current_constraints = self.constraints()
        self.current_result = self.compute()
        self.redraw()
        return self.current_result

    def draw(self, fig=None) -> Figure:
        if self._surface is None:
            self._surface = plots.decision_surface(self.model, self.xlim, self.ylim, resolution=self.resolution)
        fig = fig or new_figure(self.figsize)
        ax = fig.add_subplot(1, 1, 1)
        c, res = self.current_constraints, self.current_result
        plots.decision_boundary(self.model, self.x, self.y, ax=ax, surface=self._surface,
                                feature_names=self.feature_names, max_points=self.max_points, legend=False)
        plots.constraint_region(c.lower, c.upper, ax=ax, factual=res.factual[0], mutability=c.mutability)
        plots.counterfactual_paths(res, ax=ax, legend="below")
        ax.set_title(", ".join(f"{n}: {m}" for n, m in zip(self.feature_names, c.mutability)))
        _caption(fig, [f"picked ({_fmt_point(self.feature_names, (self.x1.value, self.x2.value))})"]
                 + _search_caption(self))
        moved = "" if np.allclose(res.factual[0], [self.x1.value, self.x2.value]) else \
            " (the picked point was clipped onto the domain)"
        self.summary.value = html.escape(_fmt_result(res) + moved)
        return fig
