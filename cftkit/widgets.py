"""Interactive views (ipywidgets 8 core widgets only, no custom JavaScript) over cftkit's core.

Each explorer is an ``ipywidgets.VBox`` subclass: display it in a notebook, or drive it from code and
tests.  Its controls are attributes (``explorer.max_steps.value = 10``), ``update()`` recomputes the
search, ``draw()`` returns the current matplotlib ``Figure`` and ``current_result`` holds the last
:class:`cftkit.SearchResult`.  Figures are rendered to PNG and written into an ``ipywidgets.Output``
by :func:`show_figure` (its ``outputs`` state is set directly, so it also works without a front end
or kernel, in headless runs and in tests; PNGs are not compared by nbval).

The logic behind the widgets lives in small pure functions (:func:`resolve_target`,
:func:`view_limits`, :func:`constraints_from_controls`, :func:`path_probabilities`, ...) and in
:mod:`cftkit.plots`; the classes only wire controls to them.

* :class:`SearchExplorer` — one factual, every search setting on a slider, step-by-step playback.
* :class:`SideBySide` — the same factual under several models (BL vs CT) or generators (Generic vs ECCCo).
* :class:`ActionabilityExplorer` — mutability and domain per feature, a point picker.
* :class:`LivePlotCallback`, :class:`TrainingDashboard`, :class:`CTTrainer` — live training curves
  and a "Train" button over a :class:`cftkit.CounterfactualModel` whose λ's follow the sliders.
"""

from __future__ import annotations

import base64
import html
import io
import time
from typing import Mapping

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from . import defaults, plots
from ._tf import keras
from .constraints import MUTABILITIES, Constraints
from ._validation import check_int, check_non_negative, check_probability
from .search import SearchResult, check_classifier, search

__all__ = ["show_figure", "new_figure", "figure_png", "dataset_arrays", "view_limits", "resolve_target", "run_search",
           "path_probabilities", "constraints_from_controls", "SearchExplorer", "SideBySide",
           "ActionabilityExplorer", "LivePlotCallback", "TrainingDashboard", "CTTrainer"]

GENERATORS = ("generic", "eccco")
_STYLE = {"description_width": "initial"}
_WIDE = widgets.Layout(width="340px")


# ----------------------------------------------------------------------------- pure helpers
def new_figure(figsize=(6.0, 4.5)) -> Figure:
    """A matplotlib ``Figure`` outside pyplot (never shown twice by the inline backend, no global registry)."""
    return Figure(figsize=figsize, layout="constrained")


def figure_png(fig, *, dpi=None) -> bytes:
    """PNG bytes of ``fig`` (Agg, deterministic for the same inputs)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def show_figure(output: widgets.Output, fig, *, dpi=None) -> dict:
    """Replace the content of ``output`` with ``fig`` as an ``image/png`` display output; return that output.

    Equivalent to ``with output: clear_output(wait=True); display(fig)`` but sets the widget's synced
    ``outputs`` directly, so it needs no kernel message routing (works from callbacks, headless
    executions and tests).  A pyplot-managed figure is closed afterwards.
    """
    png = figure_png(fig, dpi=dpi)
    w, h = (int(round(v)) for v in fig.get_size_inches() * fig.dpi)
    item = {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(png).decode("ascii"),
                     "text/plain": f"<Figure size {w}x{h} with {len(fig.axes)} Axes>"}}
    output.outputs = (item,)
    import matplotlib.pyplot as plt  # closing is a no-op for figures made with new_figure()

    plt.close(fig)
    return item


def dataset_arrays(dataset, split: str = "test"):
    """``(x, y, feature_names, constraints, class_names)`` of a :class:`cftkit.datasets.Dataset` split or
    of an ``(x, y)`` pair (then the constraints are the data's domain, all features mutable)."""
    if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        x = np.asarray(dataset[0], dtype=np.float32)
        y = np.asarray(dataset[1]).astype(np.int64).reshape(-1)
        return x, y, tuple(f"x{j + 1}" for j in range(x.shape[1])), Constraints.from_data(x, n_std=0.0), None
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test'; got {split!r}")
    x = getattr(dataset, f"x_{split}", None)
    y = getattr(dataset, f"y_{split}", None)
    if x is None or y is None:
        raise ValueError(f"the dataset has no {split!r} split")
    x = np.asarray(x, dtype=np.float32)
    constraints = dataset.constraints.expanded_to(x)  # test points may lie outside the train domain
    return (x, np.asarray(y).astype(np.int64), tuple(dataset.feature_names), constraints,
            getattr(dataset, "class_names", None))


def view_limits(constraints: Constraints, x=None, *, margin: float = 0.08, dims=(0, 1)) -> tuple:
    """Plot limits: the (finite) domain box of two features with a relative margin, else the data's range."""
    dims = list(dims)
    lo, hi = np.asarray(constraints.lower, np.float64)[dims], np.asarray(constraints.upper, np.float64)[dims]
    if x is not None and len(x):
        dlo, dhi = np.min(np.asarray(x)[:, dims], axis=0), np.max(np.asarray(x)[:, dims], axis=0)
        lo = np.where(np.isfinite(lo), lo, dlo)
        hi = np.where(np.isfinite(hi), hi, dhi)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError("view_limits needs finite domains or data")
    pad = margin * np.maximum(hi - lo, 1e-6)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0])), (float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def resolve_target(model, factual, target: int | None = None) -> int:
    """``target`` if given (≥ 0), else the class after the model's prediction ((pred + 1) mod K)."""
    if target is not None and int(target) >= 0:
        return int(target)
    logits = plots.predict_logits(model, np.asarray(factual, np.float32).reshape(1, -1))
    return int((np.argmax(logits[0]) + 1) % logits.shape[1])


def run_search(model, factual, target: int, *, constraints: Constraints | None = None, generator="eccco",
               max_steps: int = defaults.MAX_STEPS, threshold: float = defaults.THRESHOLD,
               learning_rate: float = defaults.LEARNING_RATE, cost_weight: float = defaults.COST_WEIGHT,
               energy_weight: float = defaults.ENERGY_WEIGHT,
               nascent_epsilon: float = defaults.NASCENT_EPSILON) -> SearchResult:
    """One search with its path (``return_path=True``); the factual is first clipped onto the domain."""
    x = np.asarray(factual, np.float32).reshape(1, -1)
    if constraints is not None:
        x = constraints.clip(x)
    return search(model, x, [int(target)], generator=generator, constraints=constraints, max_steps=int(max_steps),
                  threshold=float(threshold), learning_rate=float(learning_rate), cost_weight=float(cost_weight),
                  energy_weight=float(energy_weight), nascent_epsilon=float(nascent_epsilon), return_path=True)


def path_probabilities(model, result: SearchResult, i: int = 0) -> np.ndarray:
    """p(y⁺ | x_t) along the visited states of search ``i`` (``steps[i] + 1`` values)."""
    pts = plots.path_points(result, i, dims=range(result.path.shape[-1]))
    logits = plots.predict_logits(model, pts)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p[:, int(result.target[i])]


def constraints_from_controls(lower, upper, mutability, feature_names=None) -> Constraints:
    """A :class:`cftkit.Constraints` from per-feature control values (domain ends and mutability words)."""
    return Constraints(lower=list(lower), upper=list(upper), mutability=list(mutability),
                       feature_names=None if feature_names is None else list(feature_names))


def _error_html(exc) -> str:
    return f"<span style='color:#b2182b'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</span>"


def _check_2d(x, what):
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{what} draws 2-D data (D = 2); this dataset has D = {x.shape[1]}. "
                         f"Use cftkit.plots (e.g. mnist_grid) for other data.")


def _target_options(n_classes, class_names):
    names = class_names if class_names is not None and len(class_names) == n_classes else range(n_classes)
    return [("auto (≠ prediction)", -1)] + [(f"class {n}", k) for k, n in enumerate(names)]


def _n_classes(model, x) -> int:
    return check_classifier(model, np.asarray(x[:1], np.float32))


def _check_index(index, n: int) -> int:
    """A view's start ``index``: a data point of the split (errors, not a clipped slider value)."""
    index = check_int(index, "index", minimum=0)
    if index >= n:
        raise ValueError(f"index must be a point of the split, in [0, {n - 1}]; got {index}")
    return index


def _check_target(target, n_classes: int) -> int:
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not -1 <= int(target) < n_classes:
        raise ValueError(f"target must be -1 (auto: not the predicted class) or a class index in "
                         f"[0, {n_classes - 1}]; got {target!r}")
    return int(target)


def _fmt_result(result: SearchResult, probs=None, upto=None) -> str:
    s = int(result.steps[0])
    k = s if upto is None else min(int(upto), s)
    p = float(result.probability[0]) if probs is None else float(probs[k])
    if result.already_valid[0]:
        state = "already valid (factual meets τ; not searched)"
    else:
        state = "mature ✓" if result.mature[0] else "not mature ✗"
    cost = float(np.abs(result.counterfactual[0] - result.factual[0]).sum())
    return (f"target y⁺ = {int(result.target[0])} · steps {s} · {state} · step {k}: p(y⁺|x) = {p:.3f} · "
            f"cost ‖x′ − x‖₁ = {cost:.3f}")


class _View(widgets.VBox):
    """Shared plumbing: an Output for the figure, a status line, a short repr."""

    def _init_view(self):
        self.output = widgets.Output()
        self.summary = widgets.HTML()
        self.n_draws = 0
        self.last_error: BaseException | None = None
        self._suspend = False

    def redraw(self, *_):
        """Draw the current state into :attr:`output`."""
        show_figure(self.output, self.draw())
        self.n_draws += 1

    def _safely(self, fn, *args):
        """Run a control's reaction; show an error in :attr:`summary` (and keep it in ``last_error``)
        instead of losing it in the kernel log."""
        self.last_error = None
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - reported to the user
            self.last_error = exc
            self.summary.value = _error_html(exc)
            return None

    def __repr__(self):  # the default repr would embed the PNG of the Output child
        return f"<{type(self).__name__}>"


def _threshold_slider(threshold, **common):
    # the slider's range always contains the given τ (a slider would silently clip it otherwise)
    threshold = check_probability(threshold, "threshold")
    return widgets.FloatSlider(value=threshold, min=min(0.05, threshold), max=max(0.999, threshold), step=0.005,
                               readout_format=".3f", description="τ (threshold)", **common)


def _max_steps_slider(max_steps, **common):
    max_steps = check_int(max_steps, "max_steps", minimum=0)
    return widgets.IntSlider(value=max_steps, min=0, max=max(200, max_steps), description="T (max steps)", **common)


def _check_step_weights(learning_rate, cost_weight, energy_weight) -> tuple:
    """η, λ_cost and λ_egy checked as :func:`cftkit.search` checks them."""
    return tuple(check_non_negative(v, name) for v, name in ((learning_rate, "learning_rate"),
                                                             (cost_weight, "cost_weight"),
                                                             (energy_weight, "energy_weight")))


def _search_sliders(max_steps, threshold, learning_rate, cost_weight, energy_weight):
    """The search controls, validated like :func:`cftkit.search`'s arguments; each range contains its value."""
    common = dict(continuous_update=False, style=_STYLE, layout=_WIDE)
    learning_rate, cost_weight, energy_weight = _check_step_weights(learning_rate, cost_weight, energy_weight)
    return dict(
        learning_rate=widgets.FloatSlider(value=learning_rate, min=min(0.01, learning_rate),
                                          max=max(1.0, learning_rate), step=0.01, description="η (step size)",
                                          **common),
        max_steps=_max_steps_slider(max_steps, **common),
        threshold=_threshold_slider(threshold, **common),
        cost_weight=widgets.FloatSlider(value=cost_weight, min=0.0, max=max(1.0, cost_weight), step=0.001,
                                        readout_format=".3f", description="λ_cost", **common),
        energy_weight=widgets.FloatSlider(value=energy_weight, min=0.0, max=max(20.0, energy_weight), step=0.1,
                                          description="λ_egy", **common),
    )


# ----------------------------------------------------------------------------- SearchExplorer
class SearchExplorer(_View):
    """Explore one counterfactual search on 2-D data.

    Controls (attributes): ``point_mode`` (data point by ``index`` or free ``x1``/``x2``), ``target``
    (``-1`` = auto: not the predicted class), ``generator`` (generic/eccco), ``learning_rate`` (η),
    ``max_steps`` (T), ``threshold`` (τ), ``cost_weight`` (λ_cost), ``energy_weight`` (λ_egy),
    ``background`` (probability map or energy of the target), ``play`` + ``step`` (reveal the path step
    by step).  ``current_result`` is the last :class:`cftkit.SearchResult` (with ``path``).

    Example:
        >>> import cftkit
        >>> from cftkit.widgets import SearchExplorer
        >>> ds = cftkit.datasets.load("moons")
        >>> ex = SearchExplorer(cftkit.build_classifier(2, 2, seed=0), ds, resolution=30)
        >>> ex.max_steps.value = 3  # recomputes the search
        >>> int(ex.current_result.steps[0]) <= 3
        True
    """

    def __init__(self, model, dataset, *, split: str = "test", index: int = 0, constraints: Constraints | None = None,
                 generator: str = "eccco", target: int = -1, max_steps: int = defaults.MAX_STEPS,
                 threshold: float = defaults.THRESHOLD, learning_rate: float = defaults.LEARNING_RATE,
                 cost_weight: float = defaults.COST_WEIGHT, energy_weight: float = defaults.ENERGY_WEIGHT,
                 nascent_epsilon: float = defaults.NASCENT_EPSILON, resolution: int = 120, max_points: int = 300,
                 figsize=(6.4, 5.0), show_epsilon: bool = False):
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

        n = len(self.x)
        index = _check_index(index, n)
        target = _check_target(target, self.n_classes)
        self.point_mode = widgets.ToggleButtons(options=[("data point", "index"), ("free x/y", "xy")], value="index",
                                                description="factual", style=_STYLE)
        self.index = widgets.IntSlider(value=index, min=0, max=n - 1, description="index", continuous_update=False,
                                       style=_STYLE, layout=_WIDE)
        lo, hi = np.asarray(self.constraints.lower), np.asarray(self.constraints.upper)
        self.x1, self.x2 = (widgets.FloatSlider(value=float(self.x[index, j]), min=float(lo[j]), max=float(hi[j]),
                                                step=float(hi[j] - lo[j]) / 200, description=self.feature_names[j],
                                                continuous_update=False, style=_STYLE, layout=_WIDE, disabled=True)
                            for j in range(2))
        self.target = widgets.Dropdown(options=_target_options(self.n_classes, class_names), value=int(target),
                                       description="target y⁺", style=_STYLE)
        self.generator = widgets.Dropdown(options=list(GENERATORS), value=generator, description="generator",
                                          style=_STYLE)
        sliders = _search_sliders(max_steps, threshold, learning_rate, cost_weight, energy_weight)
        for name, w in sliders.items():
            setattr(self, name, w)
        self.background = widgets.ToggleButtons(options=[("classifier", "proba"), ("energy E(x, y⁺)", "energy")],
                                                value="proba", description="background", style=_STYLE)
        self.play = widgets.Play(value=0, min=0, max=0, interval=250, description="play")
        self.step = widgets.IntSlider(value=0, min=0, max=0, description="step", style=_STYLE)
        widgets.jslink((self.play, "value"), (self.step, "value"))

        for w in (self.index, self.target, self.generator, *sliders.values()):
            w.observe(self._on_param, names="value")
        for w in (self.x1, self.x2):
            w.observe(self._on_xy, names="value")
        self.point_mode.observe(self._on_mode, names="value")
        self.step.observe(self._on_step, names="value")
        self.background.observe(lambda _: self._safely(self.redraw), names="value")

        left = widgets.VBox([self.point_mode, self.index, self.x1, self.x2, self.target, self.generator])
        right = widgets.VBox(list(sliders.values()) + [self.background])
        self.children = [widgets.HBox([left, right]), widgets.HBox([self.play, self.step]), self.summary, self.output]
        self.update()

    # -- state -> inputs
    def factual(self) -> np.ndarray:
        """The current factual ``(D,)`` (a data point, or the free point clipped onto the domain)."""
        if self.point_mode.value == "index":
            return self.x[self.index.value].copy()
        return self.constraints.clip(np.array([[self.x1.value, self.x2.value]], np.float32))[0]

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
        plots.counterfactual_paths(res, ax=ax, upto=self.step.value,
                                   epsilon=self.nascent_epsilon if self.show_epsilon else None)
        k = min(self.step.value, int(res.steps[0]))
        ax.set_title(f"{self.generator.value}: step {k}/{int(res.steps[0])}, "
                     f"p(y⁺={t}|x) = {self.current_probabilities[k]:.2f}")
        self.summary.value = html.escape(_fmt_result(res, self.current_probabilities, self.step.value))
        return fig

    # -- observers
    def _on_param(self, change):
        if self._suspend:
            return
        if change["owner"] is self.index:
            self._suspend = True
            try:
                self.x1.value, self.x2.value = (float(v) for v in self.x[self.index.value])
            finally:
                self._suspend = False
        self._safely(self.update)

    def _on_xy(self, _):
        if not self._suspend and self.point_mode.value == "xy":
            self._safely(self.update)

    def _on_mode(self, _):
        xy = self.point_mode.value == "xy"
        self.index.disabled = xy
        self.x1.disabled = self.x2.disabled = not xy
        self._safely(self.update)

    def _on_step(self, _):
        if not self._suspend:
            self._safely(self.redraw)


# ----------------------------------------------------------------------------- SideBySide
class SideBySide(_View):
    """The same factual searched under several models (BL vs CT) and/or generators (Generic vs ECCCo).

    Args:
        models: ``{name: model}`` or a single model.
        generators: generators to compare (one panel each per model); ``None`` = one panel per model with
            a shared ``generator`` dropdown.

    Controls: ``index``, ``target`` (−1 = auto: not the *first* panel's prediction, shared by all panels
    so they search the same y⁺), ``generator`` (only when ``generators`` is None), ``learning_rate``,
    ``max_steps``, ``threshold``, ``cost_weight``, ``energy_weight``.  ``current_results`` maps each
    panel's name to its :class:`cftkit.SearchResult`.
    """

    def __init__(self, models, dataset, *, generators=None, split: str = "test", index: int = 0,
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
        self.panels = self._make_panels()
        self.resolution, self.max_points, self.panel_size = int(resolution), max_points, panel_size
        self._surfaces: dict = {}
        self.current_results: dict = {}

        index, target = _check_index(index, len(self.x)), _check_target(target, self.n_classes)
        self.index = widgets.IntSlider(value=index, min=0, max=len(self.x) - 1,
                                       description="index", continuous_update=False, style=_STYLE, layout=_WIDE)
        self.target = widgets.Dropdown(options=_target_options(self.n_classes, class_names), value=int(target),
                                       description="target y⁺", style=_STYLE)
        self.generator = widgets.Dropdown(options=list(GENERATORS), value=generator, description="generator",
                                          style=_STYLE, disabled=self.fixed_generators is not None)
        sliders = _search_sliders(max_steps, threshold, learning_rate, cost_weight, energy_weight)
        for name, w in sliders.items():
            setattr(self, name, w)
        for w in (self.index, self.target, self.generator, *sliders.values()):
            w.observe(lambda _: self._safely(self.update), names="value")
        left = widgets.VBox([self.index, self.target, self.generator])
        self.children = [widgets.HBox([left, widgets.VBox(list(sliders.values()))]), self.summary, self.output]
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

    def factual(self) -> np.ndarray:
        return self.x[self.index.value].copy()

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
        fig = fig or new_figure((self.panel_size[0] * n, self.panel_size[1]))
        axes = fig.subplots(1, n, squeeze=False, sharex=True, sharey=True)[0]
        lines = []
        for ax, (name, m, g) in zip(axes, self.panels):
            if m not in self._surfaces:
                self._surfaces[m] = plots.decision_surface(self.models[m], self.xlim, self.ylim,
                                                           resolution=self.resolution)
            res = self.current_results[name]
            plots.decision_boundary(self.models[m], self.x, self.y, ax=ax, surface=self._surfaces[m],
                                    feature_names=self.feature_names, max_points=self.max_points, legend=False)
            plots.counterfactual_paths(res, ax=ax, legend=ax is axes[0])
            ax.set_title(f"{name}: {int(res.steps[0])} steps, {'mature' if res.mature[0] else 'not mature'}")
            lines.append(f"<b>{html.escape(name)}</b>: {html.escape(_fmt_result(res))}")
        self.summary.value = "<br>".join(lines)
        return fig


# ----------------------------------------------------------------------------- ActionabilityExplorer
class ActionabilityExplorer(_View):
    """Counterfactuals under actionability constraints on 2-D data.

    Controls: ``mutability`` (a Dropdown per feature: both/increase/decrease/none), ``domain`` (a
    FloatRangeSlider per feature), the point picker ``x1``/``x2`` (sliders: inline PNGs take no clicks),
    ``target``, ``generator``, ``max_steps``, ``threshold``.  ``current_constraints`` is the
    :class:`cftkit.Constraints` built from the controls and ``current_result`` the search under them.
    The figure shades the region reachable from the factual.
    """

    def __init__(self, model, dataset, *, split: str = "test", index: int = 0, generator: str = "eccco",
                 target: int = -1, max_steps: int = defaults.MAX_STEPS, threshold: float = defaults.THRESHOLD,
                 learning_rate: float = defaults.LEARNING_RATE, cost_weight: float = defaults.COST_WEIGHT,
                 energy_weight: float = defaults.ENERGY_WEIGHT, resolution: int = 100, max_points: int = 300,
                 figsize=(6.4, 5.0)):
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
                                            description=f"{self.feature_names[j]} may", style=_STYLE)
                           for j in range(2)]
        self.domain = [widgets.FloatRangeSlider(value=(float(lo[j]), float(hi[j])), min=float(lo[j]), max=float(hi[j]),
                                                step=float(hi[j] - lo[j]) / 200, readout_format=".2f",
                                                description=f"{self.feature_names[j]} domain", continuous_update=False,
                                                style=_STYLE, layout=_WIDE) for j in range(2)]
        self.x1, self.x2 = (widgets.FloatSlider(value=float(self.x[index, j]), min=float(lo[j]), max=float(hi[j]),
                                                step=float(hi[j] - lo[j]) / 200,
                                                description=f"factual {self.feature_names[j]}",
                                                continuous_update=False, style=_STYLE, layout=_WIDE) for j in range(2))
        self.target = widgets.Dropdown(options=_target_options(self.n_classes, class_names), value=int(target),
                                       description="target y⁺", style=_STYLE)
        self.generator = widgets.Dropdown(options=list(GENERATORS), value=generator, description="generator",
                                          style=_STYLE)
        common = dict(continuous_update=False, style=_STYLE, layout=_WIDE)
        self.max_steps = _max_steps_slider(max_steps, **common)
        self.threshold = _threshold_slider(threshold, **common)
        for w in (*self.mutability, *self.domain, self.x1, self.x2, self.target, self.generator, self.max_steps,
                  self.threshold):
            w.observe(lambda _: self._safely(self.update), names="value")
        self.children = [widgets.HBox([widgets.VBox([*self.mutability, *self.domain]),
                                       widgets.VBox([self.x1, self.x2, self.target, self.generator, self.max_steps,
                                                     self.threshold])]),
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
        plots.counterfactual_paths(res, ax=ax)
        ax.set_title(", ".join(f"{n}: {m}" for n, m in zip(self.feature_names, c.mutability)))
        moved = "" if np.allclose(res.factual[0], [self.x1.value, self.x2.value]) else \
            " (the picked point was clipped onto the domain)"
        self.summary.value = html.escape(_fmt_result(res) + moved)
        return fig


# ----------------------------------------------------------------------------- training
class LivePlotCallback(keras.callbacks.Callback):
    """Redraw one figure (loss terms, maturity, search steps and, for 2-D data, the decision boundary)
    into an ``ipywidgets.Output`` every ``every`` epochs, and once more at the end of training.

    The per-epoch logs are accumulated across ``fit`` calls in :attr:`epoch_logs` (so a model trained
    in several runs shows one continuous curve); :attr:`history` gives them as a History-like dict.
    Note that with ``steps_per_execution > 1`` Keras still calls ``on_epoch_end`` once per epoch.

    Args:
        output: the ``Output`` widget to draw into (a new one by default).
        every: redraw every this many epochs (throttling; ≥ 1).
        x, y: 2-D data to draw under the decision boundary (optional).
        resolution: grid points per axis of the boundary.
    """

    def __init__(self, output: widgets.Output | None = None, *, every: int = 1, x=None, y=None, resolution: int = 60,
                 keys: Mapping | None = None, xlim=None, ylim=None, figsize=None, max_points: int = 400):
        super().__init__()
        every = int(every)
        if every < 1:
            raise ValueError(f"every must be >= 1; got {every}")
        self.output = widgets.Output() if output is None else output
        self.every = every
        self.keys = keys
        self.resolution = int(resolution)
        self.figsize = figsize
        if x is not None:
            x = np.asarray(x, np.float32)
            if len(x) > max_points:
                idx = np.linspace(0, len(x) - 1, max_points).astype(int)
                x, y = x[idx], np.asarray(y)[idx]
        self.x, self.y = x, y
        if x is not None and x.shape[1] == 2 and (xlim is None or ylim is None):
            xlim, ylim = plots.data_limits(x, padding=0.5)
        self.xlim, self.ylim = xlim, ylim
        self.epoch_logs: list = []
        self.n_draws = 0
        self._drawn_at = 0

    @property
    def history(self) -> dict:
        """``{key: [value per epoch]}`` over every epoch seen (NaN where an epoch lacks a key)."""
        keys = []
        for logs in self.epoch_logs:
            keys += [k for k in logs if k not in keys]
        return {k: [logs.get(k, float("nan")) for logs in self.epoch_logs] for k in keys}

    def reset(self):
        self.epoch_logs = []
        self._drawn_at = 0
        self.output.outputs = ()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_logs.append({k: float(np.asarray(v)) for k, v in (logs or {}).items() if np.size(v) == 1})
        if len(self.epoch_logs) % self.every == 0:
            self.redraw()

    def on_train_end(self, logs=None):
        if self._drawn_at != len(self.epoch_logs):
            self.redraw()

    def draw(self) -> Figure:
        n = len(plots.HISTORY_PANELS if self.keys is None else self.keys) + int(
            self.model is not None and self.x is not None and self.x.shape[1] == 2)
        fig = Figure(figsize=self.figsize or (3.6 * n, 3.2))
        plots.training_overview(self.history, model=self.model, x=self.x, y=self.y, fig=fig, keys=self.keys,
                                resolution=self.resolution, xlim=self.xlim, ylim=self.ylim,
                                title=f"epoch {len(self.epoch_logs)}")
        return fig

    def redraw(self):
        show_figure(self.output, self.draw())
        self.n_draws += 1
        self._drawn_at = len(self.epoch_logs)


class TrainingDashboard(widgets.VBox):
    """An ``Output`` showing live training curves, with the :class:`LivePlotCallback` that feeds it.

    Pass ``dashboard.callback`` to ``fit(..., callbacks=[...])`` and display the dashboard.
    """

    def __init__(self, *, x=None, y=None, every: int = 1, resolution: int = 60, keys: Mapping | None = None,
                 figsize=None):
        super().__init__()
        self.output = widgets.Output()
        self.status = widgets.HTML()
        self.callback = LivePlotCallback(self.output, every=every, x=x, y=y, resolution=resolution, keys=keys,
                                         figsize=figsize)
        self.children = [self.status, self.output]

    def __repr__(self):
        return "<TrainingDashboard>"


class CTTrainer(widgets.VBox):
    """Train a :class:`cftkit.CounterfactualModel` from a notebook with a "Train" button.

    Controls: ``lambda_div``, ``lambda_reg``, ``lambda_adv`` (sliders; each change is written into the
    model's hyperparameter variables at once, so it applies from the next step without recompiling),
    ``objective`` (vanilla/energy/adversarial/full), ``epochs`` and ``train_button`` (each click
    continues training for ``epochs`` epochs and updates :attr:`dashboard`).

    Args:
        model: a ``CounterfactualModel`` (compiled with its defaults if it is not compiled yet).
        dataset: a ``Dataset`` (its training split) or an ``(x, y)`` pair.
        n_train: use only the first ``n_train`` training points (fast demos).
        fit_kwargs: extra arguments for ``fit`` (e.g. ``shuffle=False``).
    """

    def __init__(self, model, dataset, *, n_train: int | None = None, batch_size: int = 30, epochs: int = 5,
                 every: int = 1, resolution: int = 60, fit_kwargs: Mapping | None = None):
        super().__init__()
        if not hasattr(model, "set_hyperparameters") or not hasattr(model, "objective"):
            raise TypeError(f"model must be a cftkit.CounterfactualModel; got {type(model).__name__}")
        from .training import OBJECTIVES

        self.model = model
        x, y, *_ = dataset_arrays(dataset, "train")
        if n_train is not None:
            x, y = x[:int(n_train)], y[:int(n_train)]
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.fit_kwargs = dict(fit_kwargs or {})
        self.last_history = None
        self.last_error: BaseException | None = None
        self.dashboard = TrainingDashboard(x=x if x.shape[1] == 2 else None, y=y, every=every, resolution=resolution)
        hp = model.hyperparameters
        self.lambda_div, self.lambda_reg, self.lambda_adv = (
            widgets.FloatSlider(value=hp[name], min=0.0, max=max(2.0, hp[name]), step=0.01, description=label,
                                continuous_update=False, style=_STYLE, layout=_WIDE)
            for name, label in (("lambda_div", "λ_div"), ("lambda_reg", "λ_reg"), ("lambda_adv", "λ_adv")))
        self.objective = widgets.Dropdown(options=list(OBJECTIVES), value=model.objective, description="objective",
                                          style=_STYLE)
        self.epochs = widgets.IntSlider(value=int(epochs), min=1, max=max(100, int(epochs)), description="epochs",
                                        continuous_update=False, style=_STYLE, layout=_WIDE)
        self.train_button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.status = self.dashboard.status
        for w in (self.lambda_div, self.lambda_reg, self.lambda_adv):
            w.observe(self.apply_hyperparameters, names="value")
        self.objective.observe(self._on_objective, names="value")
        self.train_button.on_click(self._on_train_clicked)
        self.children = [widgets.HBox([widgets.VBox([self.lambda_div, self.lambda_reg, self.lambda_adv]),
                                       widgets.VBox([self.objective, self.epochs, self.train_button])]),
                         self.dashboard]

    def __repr__(self):
        return "<CTTrainer>"

    def apply_hyperparameters(self, *_) -> dict:
        """Write the slider values into the model's variables (effective from the next training step)."""
        self.model.set_hyperparameters(lambda_div=self.lambda_div.value, lambda_reg=self.lambda_reg.value,
                                       lambda_adv=self.lambda_adv.value)
        return self.model.hyperparameters

    def _on_objective(self, change):
        self.model.objective = change["new"]

    def train(self, epochs: int | None = None):
        """Continue training for ``epochs`` (default: the slider) epochs; returns the Keras History."""
        epochs = self.epochs.value if epochs is None else int(epochs)
        self.apply_hyperparameters()
        if not getattr(self.model, "compiled", False):
            self.model.compile(metrics=["accuracy"])
        t0 = time.perf_counter()
        history = self.model.fit(self.x, self.y, batch_size=self.batch_size, epochs=epochs, verbose=0,
                                 callbacks=[self.dashboard.callback], **self.fit_kwargs)
        self.last_history = history
        last = {k: v[-1] for k, v in history.history.items()}
        acc = f", accuracy {last['accuracy']:.3f}" if "accuracy" in last else ""
        self.status.value = html.escape(
            f"{self.model.objective}: trained {epochs} epoch(s) in {time.perf_counter() - t0:.1f} s "
            f"(total {len(self.dashboard.callback.epoch_logs)}); loss {last.get('loss', float('nan')):.4f}{acc}, "
            f"maturity {last.get('ct_maturity', float('nan')):.2f}")
        return history

    def _on_train_clicked(self, _button=None):
        self.train_button.disabled = True
        self.status.value = "training…"
        self.last_error = None
        try:
            self.train()
        except Exception as exc:  # noqa: BLE001 - shown to the user; kept for inspection
            self.last_error = exc
            self.status.value = _error_html(exc)
        finally:
            self.train_button.disabled = False
