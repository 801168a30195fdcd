"""Shared plumbing of the views: figures into ``Output`` widgets, pure helpers, validated sliders."""

from __future__ import annotations

import base64
import html
import io

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from .. import defaults, plots
from .._validation import check_int, check_non_negative, check_probability
from ..constraints import Constraints
from ..plots._base import _count_figure
from ..search import SearchResult, check_classifier, search

GENERATORS = ("generic", "eccco")
_STYLE = {"description_width": "initial"}
_WIDE = widgets.Layout(width="340px")
_BUTTONS = {"description_width": "initial", "button_width": "92px"}


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
    _count_figure(w * h)  # collects the garbage of earlier figures now and then (see cftkit.plots._base)
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


def _range_layout(description: str, low: float, high: float, fmt: str = ".2f") -> widgets.Layout:
    """A layout wide enough for a range slider's label, track and "low – high" readout (the readout shrinks
    and is cut off first when a slider is too narrow for a long label); at least as wide as the others."""
    readout = f"{low:{fmt}} – {high:{fmt}}"
    return widgets.Layout(width=f"{max(340, 8 * len(description) + 8 * len(readout) + 190)}px")


def _columns(*columns) -> widgets.HBox:
    """Control columns side by side that wrap below each other when the notebook is too narrow for them
    (a 1024 px browser with the file browser open), instead of squeezing them and cutting off their
    slider readouts."""
    boxes = [c if isinstance(c, widgets.Box) else widgets.VBox(list(c)) for c in columns]
    for box in boxes:
        box.layout.flex = "0 0 auto"  # keep the content's width; the row wraps instead
        box.layout.margin = "0 12px 0 0"
    return widgets.HBox(boxes, layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))


def caption_lines(parts, width: int) -> list:
    """``parts`` joined by " · " into lines of at most ``width`` characters (a part is never split)."""
    lines, line = [], ""
    for part in (p for p in parts if p):
        if line and len(line) + 5 + len(part) > width:
            lines.append(line)
            line = part
        else:
            line = f"{line}  ·  {part}" if line else part
    return lines + ([line] if line else [])


def _caption(fig, parts) -> None:
    """A small caption above the panels stating the current settings, so that every control shows in the
    picture (a control whose change leaves the computed result as it was still changes the figure);
    wrapped to the figure's width (about 16 characters per inch at this font size)."""
    width = max(20, int(fig.get_figwidth() * 16))
    fig.suptitle("\n".join(caption_lines(parts, width)), fontsize="small", color="0.3")


def _fmt_point(names, values) -> str:
    return ", ".join(f"{n} = {float(v):.2f}" for n, v in zip(names, values))


def _search_caption(view, *, generator: bool = True) -> list:
    """Caption parts of the search controls a view has (``target``, ``generator``, η, T, τ, λ_cost, λ_egy)."""
    parts = []
    target = getattr(view, "target", None)
    if target is not None:
        parts.append("y⁺ auto" if target.value < 0 else f"y⁺ = {target.value}")
    if generator and getattr(view, "generator", None) is not None:
        parts.append(view.generator.value)
    for name, label, fmt in (("learning_rate", "η", ".2f"), ("max_steps", "T", "d"), ("threshold", "τ", ".3f"),
                             ("cost_weight", "λ_cost", ".3f"), ("energy_weight", "λ_egy", ".1f")):
        w = getattr(view, name, None)
        if isinstance(w, widgets.ValueWidget):
            parts.append(f"{label} = {w.value:{fmt}}")
    return parts


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


class _PointPicker:
    """The factual of a view: a data point (``index``) or a free point (``x1``/``x2``), chosen by
    ``point_mode``.  Needs ``self.x``, ``self.constraints``, ``self.feature_names`` and ``update()``."""

    def _init_point(self, index: int, point=None):
        """The controls; ``point`` (x1, x2) starts in *free x/y* mode at that point of the domain."""
        n = len(self.x)
        index = _check_index(index, n)
        lo, hi = np.asarray(self.constraints.lower), np.asarray(self.constraints.upper)
        if not (np.all(np.isfinite(lo[:2])) and np.all(np.isfinite(hi[:2]))):
            raise ValueError("constraints must have a finite domain for the point sliders")
        start = self.x[index]
        if point is not None:
            start = np.asarray(point, dtype=np.float64).reshape(-1)
            if start.shape != (2,) or not np.all(np.isfinite(start)):
                raise ValueError(f"point must be one finite 2-D point (x1, x2); got {point!r}")
            if np.any(start < lo[:2]) or np.any(start > hi[:2]):
                raise ValueError(f"point must lie in the domain [{lo[0]:.3g}, {hi[0]:.3g}] × [{lo[1]:.3g}, "
                                 f"{hi[1]:.3g}]; got {tuple(float(v) for v in start)}")
        xy = point is not None
        self.point_mode = widgets.ToggleButtons(options=[("data point", "index"), ("free x/y", "xy")],
                                                value="xy" if xy else "index", description="factual",
                                                style=_BUTTONS)
        self.index = widgets.IntSlider(value=index, min=0, max=n - 1, description="index", continuous_update=False,
                                       style=_STYLE, layout=_WIDE, disabled=xy)
        self.x1, self.x2 = (widgets.FloatSlider(value=float(start[j]), min=float(lo[j]), max=float(hi[j]),
                                                step=float(hi[j] - lo[j]) / 200, description=self.feature_names[j],
                                                readout_format=".2f", continuous_update=False, style=_STYLE,
                                                layout=_WIDE, disabled=not xy)
                            for j in range(2))
        self.index.observe(self._on_index, names="value")
        for w in (self.x1, self.x2):
            w.observe(self._on_xy, names="value")
        self.point_mode.observe(self._on_mode, names="value")
        return [self.point_mode, self.index, self.x1, self.x2]

    def factual(self) -> np.ndarray:
        """The current factual ``(D,)`` (a data point, or the free point clipped onto the domain)."""
        if self.point_mode.value == "index":
            return self.x[self.index.value].copy()
        return self.constraints.clip(np.array([[self.x1.value, self.x2.value]], np.float32))[0]

    def _point_caption(self) -> str:
        if self.point_mode.value == "index":
            return f"factual: point #{self.index.value}"
        return f"factual: free ({_fmt_point(self.feature_names, (self.x1.value, self.x2.value))})"

    def _on_index(self, _):
        if self._suspend:
            return
        self._suspend = True
        try:  # the free point follows the data point (no second search)
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
