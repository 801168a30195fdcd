"""A view of nascent counterfactuals: the L∞ ε-ball around a factual, the search path and its last state
inside the ball (the adversarial example CT trains on), as ε, T and η change (:class:`NascentExplorer`)."""

from __future__ import annotations

import html
from typing import Mapping

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .. import defaults, plots
from .._validation import check_non_negative, check_probability
from ..constraints import Constraints
from ..search import SearchResult
from ._base import (_STYLE, _WIDE, _View, _PointPicker, _caption, _check_2d, _check_step_weights, _columns,
                    _max_steps_slider, _n_classes, dataset_arrays, path_probabilities, resolve_target, run_search,
                    view_limits)

BALL_COLOR = "#5e3c99"


# ----------------------------------------------------------------------------- pure helpers
def linf_distances(result, i: int = 0) -> np.ndarray:
    """‖x_t − x‖∞ of the visited states x_0 … x_s of search ``i`` (``steps[i] + 1`` values; x_0 = x)."""
    pts = plots.path_points(result, i, dims=range(np.asarray(result.path).shape[-1]))
    return np.max(np.abs(pts - pts[0]), axis=1)


def nascent_step(result, epsilon: float, i: int = 0) -> int:
    """The step t of search ``i``'s nascent counterfactual: the last visited state x_t (t ≥ 1) with
    ‖x_t − x‖∞ ≤ ε, or 0 (the factual itself) when every step lies outside the ball, as
    :func:`cftkit.search` defines ``SearchResult.nascent`` (compared in float32, like the search)."""
    eps = np.float32(check_non_negative(epsilon, "epsilon"))
    pts = plots.path_points(result, i, dims=range(np.asarray(result.path).shape[-1])).astype(np.float32)
    inside = np.flatnonzero(np.max(np.abs(pts[1:] - pts[0]), axis=1) <= eps)
    return int(inside[-1]) + 1 if inside.size else 0


# ----------------------------------------------------------------------------- NascentExplorer
class NascentExplorer(_PointPicker, _View):
    """The ε-ball around a factual and its nascent counterfactual, as ε, T and η change.

    The search runs towards y⁺ (not the predicted class) with ``nascent_epsilon = ε``; the nascent
    counterfactual x_AE is its last state with ‖x_t − x‖∞ ≤ ε, which CT classifies with the factual's
    *true* label in its adv term.

    Args:
        models: ``{name: model}`` (e.g. BL and CT) or one model.
        dataset: a :class:`cftkit.datasets.Dataset` (2-D) or an ``(x, y)`` pair.
        index, point: the start factual: a data point of the split, or ``point=(x1, x2)`` (free x/y mode).
        epsilon: the radius ε of the L∞ ball; max_steps: T; learning_rate: η; threshold: τ (fixed).

    Controls: ``model`` (shown with several models), ``point_mode`` (a data point by ``index`` or a free
    point ``x1``/``x2``), ``epsilon``, ``max_steps``, ``learning_rate``.  ``current_result`` is the
    :class:`cftkit.SearchResult`, ``current_nascent_step`` the step of x_AE on the path.  The figure: the
    map with the ball, the path and x_AE; ‖x_t − x‖∞ against ε per step; p(y⁺ | x_t) per step (log scale).
    """

    def __init__(self, models, dataset, *, split: str = "test", index: int = 0, point=None,
                 constraints: Constraints | None = None, epsilon: float = defaults.NASCENT_EPSILON,
                 max_steps: int = defaults.MAX_STEPS,
                 learning_rate: float = defaults.LEARNING_RATE, threshold: float = defaults.THRESHOLD,
                 generator: str = "eccco", cost_weight: float = defaults.COST_WEIGHT,
                 energy_weight: float = defaults.ENERGY_WEIGHT, resolution: int = 100, max_points: int = 300,
                 figsize=(10.4, 5.6)):
        super().__init__()
        self._init_view()
        if not isinstance(models, Mapping):
            models = {"model": models}
        if not models:
            raise ValueError("models must be a non-empty dict {name: model}")
        self.models = dict(models)
        self.x, self.y, self.feature_names, default_c, _ = dataset_arrays(dataset, split)
        _check_2d(self.x, "NascentExplorer")
        self.constraints = default_c if constraints is None else constraints
        self.xlim, self.ylim = view_limits(self.constraints, self.x)
        self.n_classes = [_n_classes(m, self.x) for m in self.models.values()][0]
        epsilon = check_non_negative(epsilon, "epsilon")
        self.threshold = check_probability(threshold, "threshold")
        learning_rate, self.cost_weight, self.energy_weight = _check_step_weights(learning_rate, cost_weight,
                                                                                 energy_weight)
        self.generator = generator
        self.resolution, self.max_points, self.figsize = int(resolution), max_points, figsize
        self._surfaces: dict = {}
        self.current_result: SearchResult | None = None
        self.current_probabilities = None
        self.current_nascent_step = 0

        names = list(self.models)
        self.model = widgets.Dropdown(options=names, value=names[0], description="model", style=_STYLE, layout=_WIDE)
        point = self._init_point(index, point)
        common = dict(continuous_update=False, style=_STYLE, layout=_WIDE)
        self.epsilon = widgets.FloatSlider(value=epsilon, min=0.0, max=max(1.0, epsilon), step=0.01,
                                           readout_format=".2f", description="ε (ball radius)", **common)
        self.max_steps = _max_steps_slider(max_steps, **common)
        self.learning_rate = widgets.FloatSlider(value=learning_rate, min=min(0.01, learning_rate),
                                                 max=max(0.5, learning_rate), step=0.01, readout_format=".2f",
                                                 description="η (step size)", **common)
        for w in (self.model, self.epsilon, self.max_steps, self.learning_rate):
            w.observe(lambda _: self._safely(self.update), names="value")
        left = ([self.model] if len(self.models) > 1 else []) + point
        self.children = [_columns(left, [self.epsilon, self.max_steps, self.learning_rate]), self.summary,
                         self.output]
        self.update()

    def compute(self) -> SearchResult:
        """The search for the current controls (no drawing)."""
        m = self.models[self.model.value]
        x = self.factual()
        return run_search(m, x, resolve_target(m, x), constraints=self.constraints, generator=self.generator,
                          max_steps=self.max_steps.value, threshold=self.threshold,
                          learning_rate=self.learning_rate.value, cost_weight=self.cost_weight,
                          energy_weight=self.energy_weight, nascent_epsilon=self.epsilon.value)

    def update(self, *_):
        res = self.compute()
        self.current_result = res
        self.current_probabilities = path_probabilities(self.models[self.model.value], res)
        self.current_nascent_step = nascent_step(res, self.epsilon.value)
        self.redraw()
        return res

    def _label(self):
        """The factual's true label (a data point), or None (a free point)."""
        return int(self.y[self.index.value]) if self.point_mode.value == "index" else None

    def draw(self, fig=None) -> Figure:
        name, m = self.model.value, self.models[self.model.value]
        res, eps, k = self.current_result, self.epsilon.value, self.current_nascent_step
        # a fixed layout (constrained layout would double the time of a redraw on 2 cores)
        fig = fig or Figure(figsize=self.figsize)
        ax = fig.add_gridspec(1, 1, left=0.07, right=0.54, top=0.9, bottom=0.27).subplots()
        right = fig.add_gridspec(2, 1, left=0.64, right=0.985, top=0.9, bottom=0.34, hspace=0.4)
        ax_d, ax_p = fig.add_subplot(right[0, 0]), fig.add_subplot(right[1, 0])
        if name not in self._surfaces:
            self._surfaces[name] = plots.decision_surface(m, self.xlim, self.ylim, resolution=self.resolution)
        plots.decision_boundary(m, self.x, self.y, ax=ax, surface=self._surfaces[name],
                                feature_names=self.feature_names, max_points=self.max_points, legend=False)
        plots.counterfactual_paths(res, ax=ax, epsilon=eps, legend="below")
        s, t = int(res.steps[0]), int(res.target[0])
        ax.set_title(f"{name}: nascent x_AE = step {k} of {s}", fontsize="medium")

        steps = np.arange(s + 1)
        d = linf_distances(res)
        inside = d <= np.float32(eps)
        ax_d.plot(steps, d, "-", color="0.5", lw=1.0)
        ax_d.scatter(steps[inside], d[inside], s=22, color=BALL_COLOR, zorder=3, label="inside the ball")
        ax_d.scatter(steps[~inside], d[~inside], s=22, facecolors="white", edgecolors=BALL_COLOR, zorder=3,
                     label="outside")
        ax_d.axhline(eps, ls="--", color=BALL_COLOR, lw=1.0, label=f"ε = {eps:.2f}")
        ax_d.set_ylabel("‖x_t − x‖∞")
        ax_d.set_title("distance from the factual", fontsize="medium")
        p = np.clip(self.current_probabilities, 1e-12, 1.0)
        ax_p.semilogy(steps, p, "o-", ms=3, color="k", lw=1.0)
        ax_p.axhline(self.threshold, ls="--", color="#b2182b", lw=1.0, label=f"τ = {self.threshold:g}")
        ax_p.axhline(0.5, ls=":", color="k", lw=0.8, label="0.5 (prediction flips)")
        ax_p.set(xlabel="step t", ylabel=f"p(y⁺ = {t} | x_t)")
        ax_p.set_title("probability of the target", fontsize="medium")
        for a in (ax_d, ax_p):
            a.axvline(k, color=BALL_COLOR, lw=6, alpha=0.25, label=f"x_AE (step {k})")
            a.set_xlim(-0.5, max(s, 1) + 0.5)
            a.xaxis.set_major_locator(MaxNLocator(integer=True))
        # one legend for both small panels, under them (never over their points)
        fig.legend(*plots.legend_entries([ax_d, ax_p]), loc="upper center", bbox_to_anchor=(0.8125, 0.22),
                   ncols=2, fontsize="small")
        label = self._label()
        p_label = "" if label is None else f"true y = {label}"
        _caption(fig, [self._point_caption(), p_label, f"ε = {eps:.2f}", f"T = {self.max_steps.value}",
                       f"η = {self.learning_rate.value:.2f}", f"τ = {self.threshold:g}"])
        self.summary.value = html.escape(self._summary(res, k, eps, label))
        return fig

    def _summary(self, res, k, eps, label) -> str:
        m = self.models[self.model.value]
        pts = plots.path_points(res, 0, dims=range(res.path.shape[-1]))
        x_ae = pts[k]
        pred = int(np.argmax(plots.predict_logits(m, x_ae[None])[0]))
        p0, pk = float(self.current_probabilities[0]), float(self.current_probabilities[k])
        if int(res.steps[0]) == 0:
            where = "the factual already meets τ (not searched): x_AE is the factual itself"
        elif k == 0:
            where = f"the first step already leaves the ε-ball (ε = {eps:.2f}): x_AE is the factual itself"
        else:
            where = (f"x_AE = step {k} of {int(res.steps[0])}, ‖x_AE − x‖∞ = {linf_distances(res)[k]:.3f} "
                     f"≤ ε = {eps:.2f}")
        if label is None:
            truth = ""
        elif pred == label:
            truth = f"; the model still predicts the true label y = {label} there"
        else:
            truth = f"; the prediction already flipped to {pred} ≠ y = {label}"
        return (f"{where} · p(y⁺ = {int(res.target[0])}): {p0:.2g} at x → {pk:.2g} at x_AE · predicted class at "
                f"x_AE: {pred}{truth}")
