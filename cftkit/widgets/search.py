"""Views of the counterfactual search: :class:`SearchExplorer` (one factual, every setting) and
:class:`SideBySide` (the same factual under several models or generators)."""

from __future__ import annotations

import html
from typing import Mapping

import ipywidgets as widgets
from matplotlib.figure import Figure

from .. import defaults, plots
from ..constraints import Constraints
from ..search import SearchResult
from ._base import (GENERATORS, _BUTTONS, _STYLE, _View, _PointPicker, _caption, _check_2d, _check_target, _columns,
                    _fmt_result, _n_classes, _search_caption, _search_sliders, _target_options, dataset_arrays,
                    new_figure, path_probabilities, resolve_target, run_search, view_limits)

BACKGROUNDS = ("proba", "energy")


# ----------------------------------------------------------------------------- SearchExplorer
class SearchExplorer(_PointPicker, _View):
    """Explore one counterfactual search on 2-D data.

    Controls (attributes): ``point_mode`` (data point by ``index`` or free ``x1``/``x2``), ``target``
    (``-1`` = auto: not the predicted class), ``generator`` (generic/eccco), ``learning_rate`` (η),
    ``max_steps`` (T), ``threshold`` (τ), ``cost_weight`` (λ_cost), ``energy_weight`` (λ_egy),
    ``background`` (probability map or energy of the target), ``play`` + ``step`` (reveal the path step
    by step).  ``current_result`` is the last :class:`cftkit.SearchResult` (with ``path``).  A line
    above the plot states the settings; the legend sits under the plot.  ``point=(x1, x2)`` starts in
    *free x/y* mode at that point; ``background="energy"`` starts on the energy background.

    Example:
        >>> import cftkit
        >>> from cftkit.widgets import SearchExplorer
        >>> ds = cftkit.datasets.load("moons")
        >>> ex = SearchExplorer(cftkit.build_classifier(2, 2, seed=0), ds, resolution=30)
        >>> ex.max_steps.value = 3  # recomputes the search
        >>> int(ex.current_result.steps[0]) <= 3
        True
    """

    def __init__(self, model, dataset, *, split: str = "test", index: int = 0, point=None,
                 constraints: Constraints | None = None, generator: str = "eccco", target: int = -1,
                 max_steps: int = defaults.MAX_STEPS,
                 threshold: float = defaults.THRESHOLD, learning_rate: float = defaults.LEARNING_RATE,
                 cost_weight: float = defaults.COST_WEIGHT, energy_weight: float = defaults.ENERGY_WEIGHT,
                 nascent_epsilon: float = defaults.NASCENT_EPSILON, resolution: int = 120, max_points: int = 300,
                 figsize=(6.8, 5.8), show_epsilon: bool = False, background: str = "proba"):
        super().__init__()
        self._init_view()
        self.model = model
        self.x, self.y, self.feature_names, default_c, class_names = dataset_arrays(dataset, split)
        _check_2d(self.x, "SearchExplorer")
        self.constraints = default_c if constraints is None else constraints
        self.xlim, self.ylim = view_limits(self.constraints, self.x)
        self.n_classes = _n_classes(model, self.x)
        self.resolution, self.max_points, self.figsize = int(resolution), max_points, figsize
        self.nascent_epsilon, self.show_epsilon = float(nascent_epsilon), bool(show_epsilon)
        self._surfaces: dict = {}
        self.current_result: SearchResult | None = None
        self.current_probabilities = None
        if background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {BACKGROUNDS}; got {background!r}")
        if generator not in GENERATORS:
            raise ValueError(f"generator must be one of {GENERATORS}; got {generator!r}")

        point = self._init_point(index, point)
        target = _check_target(target, self.n_classes)
        self.target = widgets.Dropdown(options=_target_options(self.n_classes, class_names), value=int(target),
                                       description="target y⁺", style=_STYLE)
        self.generator = widgets.Dropdown(options=list(GENERATORS), value=generator, description="generator",
                                          style=_STYLE)
        sliders = _search_sliders(max_steps, threshold, learning_rate, cost_weight, energy_weight)
        for name, w in sliders.items():
            setattr(self, name, w)
        self.background = widgets.ToggleButtons(options=[("classifier", "proba"), ("energy E(x, y⁺)", "energy")],
                                                value=background, description="background",
                                                style={**_BUTTONS, "button_width": "150px"})
        self.play = widgets.Play(value=0, min=0, max=0, interval=250, description="play")
        self.step = widgets.IntSlider(value=0, min=0, max=0, description="step", style=_STYLE)
        widgets.jslink((self.play, "value"), (self.step, "value"))

        for w in (self.target, self.generator, *sliders.values()):
            w.observe(self._on_param, names="value")
        self.step.observe(self._on_step, names="value")
        self.background.observe(lambda _: self._safely(self.redraw), names="value")

        self.children = [_columns(point + [self.target, self.generator], list(sliders.values()) + [self.background]),
                         widgets.HBox([self.play, self.step]), self.summary, self.output]
        self.update()

    # -- state -> inputs
    def search_kwargs(self) -> dict:
        return dict(generator=self.generator.value, max_steps=self.max_steps.value, threshold=self.threshold.value,
                    learning_rate=self.learning_rate.value, cost_weight=self.cost_weight.value,
                    energy_weight=self.energy_weight.value, nascent_epsilon=self.nascent_epsilon)

    def compute(self) -> SearchResult:
        """The search for the current controls (no drawing)."""
        x = self.factual()
        return run_search(self.model, x, resolve_target(self.model, x, self.target.value),
                          constraints=self.constraints, **self.search_kwargs())

    # -- actions
    def update(self, *_):
        """Recompute the search, reset the step slider to the whole path, redraw."""
        res = self.compute()
        self.current_result = res
        self.current_probabilities = path_probabilities(self.model, res)
        s = int(res.steps[0])
        self._suspend = True
        try:
            self.play.playing = False
            self.step.value = min(self.step.value, s)
            self.play.max = s
            self.step.max = s
            self.step.value = s
            self.play.value = s
        finally:
            self._suspend = False
        self.redraw()
        return res

    def surface(self, kind: str, target: int | None = None) -> plots.Surface:
        key = (kind, target)
        if key not in self._surfaces:
            if kind == "energy":
                self._surfaces[key] = plots.energy_surface(self.model, target, self.xlim, self.ylim,
                                                           resolution=self.resolution)
            else:
                self._surfaces[key] = plots.decision_surface(self.model, self.xlim, self.ylim,
                                                             resolution=self.resolution)
        return self._surfaces[key]

    def draw(self, fig=None) -> Figure:
        """The figure of the current state (boundary or energy, data, the path up to ``step``)."""
        res = self.current_result
        fig = fig or new_figure(self.figsize)
        ax = fig.add_subplot(1, 1, 1)
        t = int(res.target[0])
        if self.background.value == "energy":
            plots.energy_landscape(self.model, t, self.xlim, self.ylim, ax=ax, surface=self.surface("energy", t),
                                   colorbar=True, feature_names=self.feature_names)
            plots._scatter_classes(ax, self.x, self.y, self.n_classes, size=8, alpha=0.35, max_points=self.max_points)
        else:
            plots.decision_boundary(self.model, self.x, self.y, ax=ax, surface=self.surface("proba"),
                                    feature_names=self.feature_names, max_points=self.max_points, legend=False)
        plots.counterfactual_paths(res, ax=ax, upto=self.step.value, legend="below",
                                   epsilon=self.nascent_epsilon if self.show_epsilon else None)
        k = min(self.step.value, int(res.steps[0]))
        ax.set_title(f"{self.generator.value}: step {k}/{int(res.steps[0])}, "
                     f"p(y⁺={t}|x) = {self.current_probabilities[k]:.2f}")
        _caption(fig, [self._point_caption()] + _search_caption(self))
        self.summary.value = html.escape(_fmt_result(res, self.current_probabilities, self.step.value))
        return fig

    # -- observers
    def _on_param(self, _):
        if not self._suspend:
            self._safely(self.update)

    def _on_step(self, _):
        if not self._suspend:
            self._safely(self.redraw)


# ----------------------------------------------------------------------------- SideBySide
class SideBySide(_PointPicker, _View):
    """The same factual searched under several models (BL vs CT) and/or generators (Generic vs ECCCo).

    Args:
        models: ``{name: model}`` or a single model.
        generators: generators to compare (one panel each per model); ``None`` = one panel per model with
            a shared ``generator`` dropdown.
        index, point: the start factual: a data point of the split, or ``point=(x1, x2)`` (free x/y mode).

    Controls: ``point_mode`` (a data point by ``index`` or a free point ``x1``/``x2``), ``target``
    (−1 = auto: not the *first* panel's prediction, shared by all panels so they search the same y⁺),
    ``generator`` (shown only when ``generators`` is None: with fixed generators the panel titles say
    what they compare), ``learning_rate``, ``max_steps``, ``threshold``, ``cost_weight``,
    ``energy_weight``.  ``current_results`` maps each panel's name to its :class:`cftkit.SearchResult`.
    """

    def __init__(self, models, dataset, *, generators=None, split: str = "test", index: int = 0, point=None,
                 constraints: Constraints | None = None, target: int = -1, max_steps: int = defaults.MAX_STEPS,
                 threshold: float = defaults.THRESHOLD, learning_rate: float = defaults.LEARNING_RATE,
                 cost_weight: float = defaults.COST_WEIGHT, energy_weight: float = defaults.ENERGY_WEIGHT,
                 generator: str = "eccco", resolution: int = 100, max_points: int = 300, panel_size=(4.4, 4.0)):
        super().__init__()
        self._init_view()
        if not isinstance(models, Mapping):
            models = {"model": models}
        if not models:
            raise ValueError("models must be a non-empty dict {name: model}")
        self.models = dict(models)
        self.x, self.y, self.feature_names, default_c, class_names = dataset_arrays(dataset, split)
        _check_2d(self.x, "SideBySide")
        self.constraints = default_c if constraints is None else constraints
        self.xlim, self.ylim = view_limits(self.constraints, self.x)
        classes = [_n_classes(m, self.x) for m in self.models.values()]  # every panel's model is checked
        self.n_classes = classes[0]
        self.fixed_generators = None if generators is None else tuple(generators)
        for g in (self.fixed_generators or ()) + (generator,):
            if g not in GENERATORS:
                raise ValueError(f"generators must be among {GENERATORS}; got {g!r}")
        self.panels = self._make_panels()
        self.resolution, self.max_points, self.panel_size = int(resolution), max_points, panel_size
        self._surfaces: dict = {}
        self.current_results: dict = {}

        point = self._init_point(index, point)
        target = _check_target(target, self.n_classes)
        self.target = widgets.Dropdown(options=_target_options(self.n_classes, class_names), value=int(target),
                                       description="target y⁺", style=_STYLE)
        # with fixed generators the dropdown would do nothing: it is kept (disabled) but not shown
        self.generator = widgets.Dropdown(options=list(GENERATORS), value=generator, description="generator",
                                          style=_STYLE, disabled=self.fixed_generators is not None)
        sliders = _search_sliders(max_steps, threshold, learning_rate, cost_weight, energy_weight)
        for name, w in sliders.items():
            setattr(self, name, w)
        for w in (self.target, self.generator, *sliders.values()):
            w.observe(lambda _: self._safely(self.update), names="value")
        left = point + [self.target] + ([self.generator] if self.fixed_generators is None else [])
        self.children = [_columns(left, list(sliders.values())), self.summary, self.output]
        self.update()

    def _make_panels(self):
        """``[(name, model_name, generator or None)]``: model × generator combinations."""
        gens = self.fixed_generators or (None,)
        panels = []
        for mname in self.models:
            for g in gens:
                if g is None:
                    name = mname
                elif len(self.models) == 1:
                    name = str(g)
                else:
                    name = f"{mname} · {g}"
                panels.append((name, mname, g))
        return panels

    def compute(self) -> dict:
        x = self.factual()
        first = self.models[self.panels[0][1]]
        t = resolve_target(first, x, self.target.value)
        kw = dict(max_steps=self.max_steps.value, threshold=self.threshold.value,
                  learning_rate=self.learning_rate.value, cost_weight=self.cost_weight.value,
                  energy_weight=self.energy_weight.value)
        return {name: run_search(self.models[m], x, t, constraints=self.constraints,
                                 generator=g or self.generator.value, **kw) for name, m, g in self.panels}

    def update(self, *_):
        self.current_results = self.compute()
        self.redraw()
        return self.current_results

    def draw(self, fig=None) -> Figure:
        n = len(self.panels)
        fig = fig or new_figure((self.panel_size[0] * n, self.panel_size[1] + 0.9))
        axes = fig.subplots(1, n, squeeze=False, sharex=True, sharey=True)[0]
        lines = []
        for ax, (name, m, g) in zip(axes, self.panels):
            if m not in self._surfaces:
                self._surfaces[m] = plots.decision_surface(self.models[m], self.xlim, self.ylim,
                                                           resolution=self.resolution)
            res = self.current_results[name]
            plots.decision_boundary(self.models[m], self.x, self.y, ax=ax, surface=self._surfaces[m],
                                    feature_names=self.feature_names, max_points=self.max_points, legend=False)
            plots.counterfactual_paths(res, ax=ax, legend=False)
            ax.set_title(f"{name}: {int(res.steps[0])} steps, {'mature' if res.mature[0] else 'not mature'}")
            lines.append(f"<b>{html.escape(name)}</b>: {html.escape(_fmt_result(res))}")
        handles, labels = plots.legend_entries(axes)  # one legend under the panels, never over the data
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize="small")
        _caption(fig, [self._point_caption()] + _search_caption(self, generator=self.fixed_generators is None))
        self.summary.value = "<br>".join(lines)
        return fig
