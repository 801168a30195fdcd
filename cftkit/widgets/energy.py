"""A view of CT's energy terms: the landscape E(x, y⁺), a tuple (x′, x⁺) you pick, div and ridge, and what
a few gradient steps on λ_div·div + λ_reg·ridge do to the landscape (:class:`EnergyExplorer`)."""

from __future__ import annotations

import html
from typing import Mapping

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .. import plots
from .._validation import check_int, check_non_negative
from ..energy import EnergyTerms, descend_div_ridge, energy_terms, trainable_copy
from ._base import _STYLE, _WIDE, _View, _caption, _check_2d, _columns, _fmt_point, _n_classes, dataset_arrays

CF_COLOR, PLUS_COLOR = "#e66101", "#1b7837"


def _point_sliders(prefix: str, point, xlim, ylim, names) -> tuple:
    (x0, x1), (y0, y1) = xlim, ylim
    out = []
    for j, (lo, hi) in enumerate(((x0, x1), (y0, y1))):
        value = float(point[j])
        lo, hi = min(lo, value), max(hi, value)  # a start value outside the view widens the slider, not clipped
        out.append(widgets.FloatSlider(value=value, min=float(lo), max=float(hi), step=(hi - lo) / 200,
                                       readout_format=".2f", description=f"{prefix} {names[j]}",
                                       continuous_update=False, style=_STYLE, layout=_WIDE))
    return tuple(out)


def _check_point(point, name) -> np.ndarray:
    p = np.asarray(point, dtype=np.float64).reshape(-1)
    if p.shape != (2,) or not np.all(np.isfinite(p)):
        raise ValueError(f"{name} must be one finite 2-D point (x1, x2); got {point!r}")
    return p


class EnergyExplorer(_View):
    """The energy landscape E(x, y⁺) = −f(x)[y⁺] and CT's div and ridge for one tuple (x′, x⁺) you pick.

    Args:
        models: ``{name: model}`` or one model (a Keras classifier returning logits, or a
            :class:`cftkit.CounterfactualModel`).
        dataset: a :class:`cftkit.datasets.Dataset` (2-D) or an ``(x, y)`` pair: the drawn data and the
            view's limits (the data's range ± ``padding``).
        target: the target class y⁺.
        x_cf, x_plus: the start points x′ (a counterfactual) and x⁺ (a real sample of y⁺); default: the
            first data point not of class y⁺ and the first one of class y⁺.
        lambda_div, lambda_reg: CT's weights λ_div and λ_reg.
        learning_rate, steps: η and the number of plain gradient steps on λ_div·div + λ_reg·ridge taken on a
            copy of the model (the model itself never changes).

    Controls: ``model`` (shown with several models), ``target``, ``cf_x1``/``cf_x2`` (x′),
    ``plus_x1``/``plus_x2`` (x⁺), ``lambda_div``, ``lambda_reg``, ``steps``, ``learning_rate``.
    ``current_terms`` is the :class:`cftkit.energy.EnergyTerms` of the model, ``current_history`` the
    terms along the gradient steps (``steps + 1`` entries) and ``current_copy`` the copy after them.
    The figure: the landscape before and after the steps (same colour scale), the two energies along the
    steps (their gap is div) and the λ-weighted terms with their sum; a line above it states every setting.
    """

    def __init__(self, models, dataset, *, split: str = "test", target: int = 1, x_cf=None, x_plus=None,
                 lambda_div: float = 0.5, lambda_reg: float = 0.5, learning_rate: float = 0.05, steps: int = 10,
                 padding: float = 1.0, resolution: int = 60, max_points: int = 300, figsize=(9.6, 7.6)):
        super().__init__()
        self._init_view()
        if not isinstance(models, Mapping):
            models = {"model": models}
        if not models:
            raise ValueError("models must be a non-empty dict {name: model}")
        self.models = dict(models)
        self.x, self.y, self.feature_names, _, class_names = dataset_arrays(dataset, split)
        _check_2d(self.x, "EnergyExplorer")
        self.n_classes = [_n_classes(m, self.x) for m in self.models.values()][0]
        if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < self.n_classes:
            raise ValueError(f"target must be a class index in [0, {self.n_classes - 1}]; got {target!r}")
        lambda_div, lambda_reg = (check_non_negative(v, n) for v, n in ((lambda_div, "lambda_div"),
                                                                        (lambda_reg, "lambda_reg")))
        learning_rate = check_non_negative(learning_rate, "learning_rate")
        steps = check_int(steps, "steps", minimum=0, maximum=10_000)
        self.xlim, self.ylim = plots.data_limits(self.x, padding=float(padding))
        if x_plus is None:
            x_plus = self.x[np.flatnonzero(self.y == target)[0]] if np.any(self.y == target) else self.x[0]
        if x_cf is None:
            x_cf = self.x[np.flatnonzero(self.y != target)[0]] if np.any(self.y != target) else self.x[0]
        x_cf, x_plus = _check_point(x_cf, "x_cf"), _check_point(x_plus, "x_plus")
        self.resolution, self.max_points, self.figsize = int(resolution), max_points, figsize
        self._surfaces: dict = {}
        self._copies: dict = {}
        self.current_terms: EnergyTerms | None = None
        self.current_history: list = []
        self.current_copy = None

        names = list(self.models)
        self.model = widgets.Dropdown(options=names, value=names[0], description="model", style=_STYLE, layout=_WIDE)
        labels = class_names if class_names is not None and len(class_names) == self.n_classes else \
            range(self.n_classes)
        self.target = widgets.Dropdown(options=[(f"class {n}", k) for k, n in enumerate(labels)], value=int(target),
                                       description="target y⁺", style=_STYLE, layout=_WIDE)
        self.cf_x1, self.cf_x2 = _point_sliders("x′", x_cf, self.xlim, self.ylim, self.feature_names)
        self.plus_x1, self.plus_x2 = _point_sliders("x⁺", x_plus, self.xlim, self.ylim, self.feature_names)
        common = dict(continuous_update=False, style=_STYLE, layout=_WIDE)
        self.lambda_div = widgets.FloatSlider(value=lambda_div, min=0.0, max=max(2.0, lambda_div), step=0.05,
                                              readout_format=".2f", description="λ_div", **common)
        self.lambda_reg = widgets.FloatSlider(value=lambda_reg, min=0.0, max=max(2.0, lambda_reg), step=0.05,
                                              readout_format=".2f", description="λ_reg", **common)
        self.steps = widgets.IntSlider(value=steps, min=0, max=max(50, steps), description="gradient steps",
                                       **common)
        self.learning_rate = widgets.FloatSlider(value=learning_rate, min=0.0, max=max(0.2, learning_rate),
                                                 step=0.005, readout_format=".3f", description="η (weights)",
                                                 **common)
        controls = (self.model, self.target, self.cf_x1, self.cf_x2, self.plus_x1, self.plus_x2, self.lambda_div,
                    self.lambda_reg, self.steps, self.learning_rate)
        for w in controls:
            w.observe(lambda _: self._safely(self.update), names="value")
        left = ([self.model] if len(self.models) > 1 else []) + [self.target, self.cf_x1, self.cf_x2, self.plus_x1,
                                                                 self.plus_x2]
        self.children = [_columns(left, [self.lambda_div, self.lambda_reg, self.steps, self.learning_rate]),
                         self.summary, self.output]
        self.update()

    # -- state -> inputs
    def points(self) -> tuple:
        """``(x′, x⁺)`` as float32 ``(2,)`` arrays."""
        return (np.array([self.cf_x1.value, self.cf_x2.value], np.float32),
                np.array([self.plus_x1.value, self.plus_x2.value], np.float32))

    def compute(self) -> tuple:
        """``(terms, history, copy)`` for the current controls (no drawing)."""
        name = self.model.value
        m = self.models[name]
        x_cf, x_plus = self.points()
        terms = energy_terms(m, x_cf, x_plus, self.target.value)
        if name not in self._copies:
            self._copies[name] = trainable_copy(m)
        copy, history = descend_div_ridge(m, x_cf, x_plus, self.target.value, lambda_div=self.lambda_div.value,
                                          lambda_reg=self.lambda_reg.value, learning_rate=self.learning_rate.value,
                                          steps=self.steps.value, copy=self._copies[name])
        return terms, history, copy

    def update(self, *_):
        self.current_terms, self.current_history, self.current_copy = self.compute()
        self.redraw()
        return self.current_terms

    def surface(self, after: bool = False) -> plots.Surface:
        """E(x, y⁺) over the view: of the model, or (``after``) of its copy after the gradient steps."""
        t = self.target.value
        if after:
            return plots.energy_surface(self.current_copy, t, self.xlim, self.ylim, resolution=self.resolution)
        key = (self.model.value, t)
        if key not in self._surfaces:
            self._surfaces[key] = plots.energy_surface(self.models[self.model.value], t, self.xlim, self.ylim,
                                                       resolution=self.resolution)
        return self._surfaces[key]

    # -- drawing
    def _mark_points(self, ax, terms: EnergyTerms):
        x_cf, x_plus = self.points()
        ax.plot(*np.c_[x_cf, x_plus], ls=":", color="k", lw=1.0, zorder=3)
        ax.scatter(*x_cf, s=110, marker="D", color=CF_COLOR, edgecolors="k", zorder=5, label="x′ (counterfactual)")
        ax.scatter(*x_plus, s=130, marker="o", color=PLUS_COLOR, edgecolors="w", linewidths=1.5, zorder=5,
                   label="x⁺ (real sample of y⁺)")
        for p, e in ((x_cf, terms.e_cf[0]), (x_plus, terms.e_plus[0])):
            ax.annotate(f"E = {e:.2f}", p, xytext=(6, 6), textcoords="offset points", fontsize="small",
                        bbox=dict(boxstyle="round,pad=0.2", fc="w", ec="none", alpha=0.8), zorder=6)

    def draw(self, fig=None) -> Figure:
        # a fixed layout (no constrained layout: it would double the time of a redraw on 2 cores)
        fig = fig or Figure(figsize=self.figsize)
        top = fig.add_gridspec(1, 2, left=0.075, right=0.865, top=0.915, bottom=0.5, wspace=0.22)
        low = fig.add_gridspec(1, 2, left=0.075, right=0.985, top=0.36, bottom=0.075, wspace=0.2)
        ax_before, ax_after = fig.add_subplot(top[0, 0]), fig.add_subplot(top[0, 1])
        ax_e, ax_w = fig.add_subplot(low[0, 0]), fig.add_subplot(low[0, 1])
        cax = fig.add_axes((0.885, 0.5, 0.018, 0.415))
        t, name = self.target.value, self.model.value
        history, before, after = self.current_history, self.current_history[0], self.current_history[-1]
        k = len(history) - 1  # the steps taken (fewer than asked when the energies overflowed)
        s0, s1 = self.surface(), self.surface(after=True)
        lo, hi = float(min(s0.z.min(), s1.z.min())), float(max(s0.z.max(), s1.z.max()))
        levels = MaxNLocator(nbins=20).tick_values(lo, hi if hi > lo else lo + 1e-6)  # one colour scale for both
        for ax, surf, terms, title in ((ax_before, s0, before, f"{name}: E(x, y⁺ = {t})"),
                                       (ax_after, s1, after, f"after {k} step{'s' if k != 1 else ''} "
                                                             f"(η = {self.learning_rate.value:.3f})")):
            plots.energy_landscape(None, t, self.xlim, self.ylim, ax=ax, surface=surf, levels=levels,
                                   colorbar=False, feature_names=self.feature_names)
            plots._scatter_classes(ax, self.x, self.y, self.n_classes, size=6, alpha=0.3, max_points=self.max_points)
            self._mark_points(ax, terms)
            ax.set_title(title, fontsize="medium")
        fig.colorbar(ax_before.collections[0], cax=cax, label=f"E(x, y⁺ = {t})")
        handles, labels = plots.legend_entries([ax_before])
        keep = [i for i, lab in enumerate(labels) if lab.startswith("x")]
        fig.legend([handles[i] for i in keep], [labels[i] for i in keep], loc="center", ncols=2,
                   bbox_to_anchor=(0.47, 0.43), fontsize="small", frameon=False)

        steps_axis = np.arange(len(history))
        e_cf = np.array([h.e_cf[0] for h in history])
        e_plus = np.array([h.e_plus[0] for h in history])
        ax_e.fill_between(steps_axis, e_plus, e_cf, color="0.85", label="gap: −div")
        ax_e.plot(steps_axis, e_cf, "D-", color=CF_COLOR, ms=4, label="E(x′)")
        ax_e.plot(steps_axis, e_plus, "o-", color=PLUS_COLOR, ms=4, label="E(x⁺)")
        ax_e.axhline(0.0, color="k", lw=0.6)
        ax_e.set(xlabel="gradient step", ylabel="energy")
        ax_e.set_title(f"energies: div = {after.div:+.2f} (start {before.div:+.2f})", fontsize="medium")
        ax_e.legend(fontsize="small", loc="best")

        ld, lr = self.lambda_div.value, self.lambda_reg.value
        w = [h.weighted(ld, lr) for h in history]
        ax_w.plot(steps_axis, [v["div"] for v in w], "-", color="#5e3c99", label=f"λ_div·div (λ_div = {ld:.2f})")
        ax_w.plot(steps_axis, [v["ridge"] for v in w], "-", color="#b35806", label=f"λ_reg·ridge (λ_reg = {lr:.2f})")
        ax_w.plot(steps_axis, [v["total"] for v in w], "k--", label="sum (minimised)")
        ax_w.axhline(0.0, color="k", lw=0.6)
        ax_w.set_xlabel("gradient step")
        ax_w.set_title(f"loss terms: ridge = {after.ridge:.2f} (start {before.ridge:.2f})", fontsize="medium")
        ax_w.legend(fontsize="small", loc="best")
        for ax in (ax_e, ax_w):
            ax.set_xlim(-0.5, max(len(history) - 0.5, 1.0))
        x_cf, x_plus = self.points()
        _caption(fig, [f"x′ = ({_fmt_point(self.feature_names, x_cf)})",
                       f"x⁺ = ({_fmt_point(self.feature_names, x_plus)})", f"y⁺ = {t}",
                       f"λ_div = {ld:.2f}", f"λ_reg = {lr:.2f}", f"η = {self.learning_rate.value:.3f}",
                       f"{self.steps.value} steps" + ("" if k == self.steps.value else f" (stopped after {k})")])
        self.summary.value = self._summary(before, after, ld, lr, k)
        return fig

    def _summary(self, before: EnergyTerms, after: EnergyTerms, ld: float, lr: float, k: int) -> str:
        def row(label, terms):
            wt = terms.weighted(ld, lr)
            return (f"{label}: E(x′) = {terms.e_cf[0]:+.3f}, E(x⁺) = {terms.e_plus[0]:+.3f}, "
                    f"div = E(x⁺) − E(x′) = {terms.div:+.3f}, ridge = E(x⁺)² + E(x′)² = {terms.ridge:.3f}; "
                    f"λ_div·div = {wt['div']:+.3f}, λ_reg·ridge = {wt['ridge']:.3f}, sum {wt['total']:+.3f}")
        rows = [row(self.model.value, before), row(f"after {k} steps", after)]
        if k < self.steps.value:
            rows.append(f"stopped after {k} of {self.steps.value} steps: the next step made the energies overflow "
                        f"(η = {self.learning_rate.value:.3f} is too large here)")
        return "<br>".join(html.escape(r) for r in rows)
