"""A view of one counterfactual on tabular data: which features it changes, by how much (in real
units where the dataset records its standardisation), and whether each change respects the
feature's mutability."""

from __future__ import annotations

import dataclasses
import html
from typing import Mapping

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from .. import defaults, plots
from .._validation import check_int, check_probability
from ..constraints import MUTABILITIES, Constraints
from ..search import SearchResult, search
from ._base import (GENERATORS, _STYLE, _WIDE, _View, _check_index, _check_target, _n_classes, _target_options,
                    dataset_arrays, new_figure, resolve_target)

#: changes smaller than this (in model units) count as "unchanged"
ATOL = 1e-4


# ----------------------------------------------------------------------------- pure helpers
@dataclasses.dataclass(frozen=True)
class FeatureDecoder:
    """How model inputs map back to a table's columns.

    ``numeric``: ``{feature index: (mean, sd)}`` of z-scored features (real value = x·sd + mean);
    ``groups``: ``[(column name, (feature indices), (level labels))]`` of one-hot encoded columns.
    """

    feature_names: tuple
    numeric: dict = dataclasses.field(default_factory=dict)
    groups: tuple = ()

    def real(self, x, j: int) -> float:
        """Feature ``j`` of ``x`` in real units (the model value where no standardisation is recorded)."""
        v = float(np.asarray(x, np.float64).reshape(-1)[j])
        if j in self.numeric:
            mean, sd = self.numeric[j]
            return v * sd + mean
        return v

    @property
    def has_units(self) -> bool:
        return bool(self.numeric) or bool(self.groups)


def feature_decoder(dataset, constraints: Constraints | None = None) -> FeatureDecoder:
    """The :class:`FeatureDecoder` of a :class:`cftkit.datasets.Dataset`: its recorded standardisation
    (``dataset.info["standardized"]``: the tabular loaders z-score numeric columns) and its one-hot
    groups (``constraints.categorical_groups``, levels named ``"<column>=<level>"``).  Datasets without
    that information decode to their model values.
    """
    names = tuple(str(n) for n in getattr(dataset, "feature_names", ()))
    info = getattr(dataset, "info", None) or {}
    numeric = {}
    std = info.get("standardized") if isinstance(info, Mapping) else None
    if std:
        for j, mean, sd in zip(std["features"], std["mean"], std["std"]):
            numeric[int(j)] = (float(mean), float(sd))
    constraints = constraints if constraints is not None else getattr(dataset, "constraints", None)
    groups = []
    for g in getattr(constraints, "categorical_groups", ()) or ():
        g = tuple(int(j) for j in g)
        parts = [names[j].split("=", 1) if j < len(names) else [f"x{j + 1}"] for j in g]
        column = parts[0][0] if all(len(p) == 2 and p[0] == parts[0][0] for p in parts) else \
            "/".join(names[j] for j in g)
        levels = tuple(p[1] if len(p) == 2 else names[j] for p, j in zip(parts, g))
        groups.append((column, g, levels))
    return FeatureDecoder(names, numeric, tuple(groups))


def mutability_respected(delta, mutability, *, atol: float = ATOL) -> np.ndarray:
    """Per feature: does the change ``delta`` (x′ − x) respect its mutability word?

    ``"both"``: any change; ``"increase"``: Δ ≥ −atol; ``"decrease"``: Δ ≤ atol; ``"none"``: |Δ| ≤ atol.

    Example:
        >>> mutability_respected([0.5, -0.5, 0.5, 0.0, 0.3], ["both", "increase", "decrease", "none", "none"]).tolist()
        [True, False, False, True, False]
    """
    d = np.asarray(delta, np.float64).reshape(-1)
    mut = tuple(mutability)
    if len(mut) != d.size:
        raise ValueError(f"mutability needs one word per feature ({d.size}); got {len(mut)}")
    bad = [m for m in mut if m not in MUTABILITIES]
    if bad:
        raise ValueError(f"unknown mutability {bad[0]!r}; expected one of {MUTABILITIES}")
    ok = np.ones(d.size, bool)
    for j, m in enumerate(mut):
        if m == "increase":
            ok[j] = d[j] >= -atol
        elif m == "decrease":
            ok[j] = d[j] <= atol
        elif m == "none":
            ok[j] = abs(d[j]) <= atol
    return ok


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def counterfactual_changes(factual, counterfactual, mutability, *, decoder: FeatureDecoder | None = None,
                           feature_names=None, units: str = "real", atol: float = ATOL,
                           show_restricted: bool = True) -> list:
    """The rows of a counterfactual's change table, one per changed feature (and, with
    ``show_restricted``, per feature whose mutability is not ``"both"``, changed or not).

    One-hot groups of ``decoder`` become one row (the level before → after).  Each row is a dict:
    ``feature``, ``factual``, ``counterfactual``, ``change`` (formatted, in ``units``: ``"real"`` where
    the decoder knows them, else model units), ``delta`` (the change in model units; ±1 for a new level),
    ``mutability``, ``respects`` (:func:`mutability_respected`, for a group: every column), ``changed``,
    ``columns`` (feature indices).  Rows are sorted by |delta|, largest first.

    Example:
        >>> rows = counterfactual_changes([0.0, 1.0, 2.0], [0.5, 1.0, 1.0], ["both", "none", "increase"],
        ...                               feature_names=["a", "b", "c"])
        >>> [(r["feature"], r["change"], r["respects"]) for r in rows]
        [('c', '-1', False), ('a', '+0.5', True), ('b', '0', True)]
    """
    x = np.asarray(factual, np.float64).reshape(-1)
    xc = np.asarray(counterfactual, np.float64).reshape(-1)
    if x.shape != xc.shape:
        raise ValueError(f"factual and counterfactual must have the same features; got {x.size} and {xc.size}")
    if units not in ("real", "model"):
        raise ValueError(f"units must be 'real' or 'model'; got {units!r}")
    mut = tuple(mutability)
    delta = xc - x
    ok = mutability_respected(delta, mut, atol=atol)
    names = tuple(feature_names) if feature_names is not None else (
        decoder.feature_names if decoder is not None and decoder.feature_names else
        tuple(f"x{j + 1}" for j in range(x.size)))
    if len(names) != x.size:
        raise ValueError(f"feature_names needs one name per feature ({x.size}); got {len(names)}")
    real = units == "real" and decoder is not None
    rows, grouped = [], set()
    for column, cols, levels in (decoder.groups if decoder is not None else ()):
        cols = list(cols)
        grouped.update(cols)
        before, after = int(np.argmax(x[cols])), int(np.argmax(xc[cols]))
        changed = bool(np.any(np.abs(delta[cols]) > atol))
        m = mut[cols[0]]
        if not (changed or (show_restricted and m != "both")):
            continue
        if real:
            fa, cf = levels[before], levels[after]
            change = f"{fa} → {cf}" if before != after else ("unchanged" if not changed else "mixed")
        else:
            fa, cf = _fmt(float(np.max(x[cols]))), _fmt(float(np.max(xc[cols])))
            change = f"{float(np.abs(delta[cols]).sum()):+.3g} (Σ|Δ|)"
        rows.append({"feature": column, "factual": fa, "counterfactual": cf, "change": change,
                     "delta": (1.0 if before != after else float(np.abs(delta[cols]).sum())) if changed else 0.0,
                     "mutability": m, "respects": bool(np.all(ok[cols])), "changed": changed, "columns": cols})
    for j in range(x.size):
        if j in grouped:
            continue
        changed = bool(abs(delta[j]) > atol)
        if not (changed or (show_restricted and mut[j] != "both")):
            continue
        if real:
            a, b = decoder.real(x, j), decoder.real(xc, j)
        else:
            a, b = float(x[j]), float(xc[j])
        rows.append({"feature": names[j], "factual": _fmt(a), "counterfactual": _fmt(b),
                     "change": f"{b - a:+.3g}" if changed else "0", "delta": float(delta[j]) if changed else 0.0,
                     "mutability": mut[j], "respects": bool(ok[j]), "changed": changed, "columns": [j]})
    rows.sort(key=lambda r: -abs(r["delta"]))
    return rows


def changes_html(rows) -> str:
    """The change table as HTML (✓/✗ in the last column)."""
    head = ("<tr><th style='text-align:left'>feature</th><th>factual</th><th>counterfactual</th><th>change</th>"
            "<th>mutability</th><th>respects it</th></tr>")
    body = []
    for r in rows:
        mark = "✓" if r["respects"] else "<b style='color:#b2182b'>✗</b>"
        body.append("<tr>" + "".join(f"<td>{html.escape(str(r[k]))}</td>" for k in
                                     ("feature", "factual", "counterfactual", "change", "mutability"))
                    + f"<td style='text-align:center'>{mark}</td></tr>")
    if not body:
        body.append("<tr><td colspan=6><i>no feature changed</i></td></tr>")
    return "<table>" + head + "".join(body) + "</table>"


def changes_text(rows) -> str:
    """The change table as fixed-width text (for printing in a lesson)."""
    cols = ("feature", "factual", "counterfactual", "change", "mutability")
    data = [[str(r[k]) for k in cols] + ["yes" if r["respects"] else "NO"] for r in rows]
    head = list(cols) + ["respects it"]
    widths = [max(len(h), *(len(row[i]) for row in data)) if data else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in data]
    return "\n".join(lines) if data else lines[0] + "\n(no feature changed)"


# ----------------------------------------------------------------------------- CounterfactualTable
class CounterfactualTable(_View):
    """One individual's counterfactual on tabular data, as a table of changed features and a bar chart.

    Controls (attributes): ``model`` (which model explains, e.g. BL or CT), ``index`` (the individual:
    a point of the split), ``target`` (−1 = auto: not the predicted class), ``enforce`` (search under
    the mutability constraints, or ignore them and only check), ``units`` (real units where the dataset
    records its standardisation, or the model's standardised units).  ``current_result`` is the
    :class:`cftkit.SearchResult`, ``current_rows`` the rows of :func:`counterfactual_changes`,
    :attr:`table` the HTML table.

    Args:
        models: ``{name: model}`` or one model.
        dataset: a :class:`cftkit.datasets.Dataset` (or an ``(x, y)`` pair, then in model units).
        constraints: the mutability to check (and enforce), default the dataset's; pass
            ``dataset.with_immutable().constraints`` for the paper's protected feature.
        threshold, max_steps, cost_weight, energy_weight, learning_rate, generator: the search
            (default the protocol's cost runs: τ = 0.5, T = 50, λ_cost = 0, λ_egy = 1, ECCCo).
    """

    def __init__(self, models, dataset, *, constraints: Constraints | None = None, split: str = "test",
                 index: int = 0, target: int = -1, enforce: bool = True, units: str = "real",
                 threshold: float = defaults.EVAL_THRESHOLD_COST, max_steps: int = defaults.EVAL_MAX_STEPS,
                 cost_weight: float = defaults.EVAL_COST_WEIGHT, energy_weight: float = 1.0,
                 learning_rate: float = defaults.LEARNING_RATE, generator: str = "eccco", max_features: int = 12,
                 figsize=(7.5, 4.4)):
        super().__init__()
        self._init_view()
        if not isinstance(models, Mapping):
            models = {"model": models}
        if not models:
            raise ValueError("models must be a non-empty dict {name: model}")
        self.models = dict(models)
        self.x, self.y, self.feature_names, base, class_names = dataset_arrays(dataset, split)
        if constraints is not None:
            if not isinstance(constraints, Constraints):
                raise TypeError(f"constraints must be a cftkit.Constraints; got {type(constraints).__name__}")
            if constraints.n_features != self.x.shape[1]:
                raise ValueError(f"constraints describe {constraints.n_features} features but the data have "
                                 f"{self.x.shape[1]}")
            base = constraints.expanded_to(self.x)
        self.constraints = base
        self.decoder = feature_decoder(dataset, base) if not isinstance(dataset, (tuple, list)) else \
            FeatureDecoder(self.feature_names)
        self.class_names = class_names
        classes = [_n_classes(m, self.x) for m in self.models.values()]
        self.n_classes = classes[0]
        index, target = _check_index(index, len(self.x)), _check_target(target, self.n_classes)
        if units not in ("real", "model"):
            raise ValueError(f"units must be 'real' or 'model'; got {units!r}")
        if generator not in GENERATORS:
            raise ValueError(f"generator must be one of {GENERATORS}; got {generator!r}")
        self.search_kwargs = dict(generator=generator, threshold=check_probability(threshold, "threshold"),
                                  max_steps=check_int(max_steps, "max_steps", minimum=0),
                                  learning_rate=float(learning_rate), cost_weight=float(cost_weight),
                                  energy_weight=float(energy_weight))
        self.max_features, self.figsize = int(max_features), figsize
        self.current_result: SearchResult | None = None
        self.current_rows: list = []
        self.current_target: int | None = None

        self.model = widgets.ToggleButtons(options=list(self.models), value=next(iter(self.models)),
                                           description="model", style=_STYLE)
        self.index = widgets.IntSlider(value=index, min=0, max=len(self.x) - 1, description="individual (index)",
                                       continuous_update=False, style=_STYLE, layout=_WIDE)
        self.target = widgets.Dropdown(options=_target_options(self.n_classes, class_names), value=int(target),
                                       description="target y⁺", style=_STYLE)
        self.enforce = widgets.ToggleButtons(options=[("respect mutability", True), ("ignore it (check only)", False)],
                                             value=bool(enforce), description="search", style=_STYLE)
        has_units = self.decoder.has_units
        self.units = widgets.ToggleButtons(options=[("real units", "real"), ("model units", "model")],
                                           value=units if has_units else "model", description="units",
                                           style=_STYLE, disabled=not has_units)
        self.table = widgets.HTML()
        for w in (self.model, self.index, self.target, self.enforce):
            w.observe(lambda _: self._safely(self.update), names="value")
        self.units.observe(lambda _: self._safely(self.redraw), names="value")
        self.children = [widgets.HBox([widgets.VBox([self.model, self.index, self.target]),
                                       widgets.VBox([self.enforce, self.units])]),
                         self.summary, widgets.HBox([self.output, self.table])]
        self.update()

    # -- state
    def factual(self) -> np.ndarray:
        return self.x[self.index.value].copy()

    def search_constraints(self) -> Constraints:
        """The constraints of the search: the checked ones, or (``enforce`` off) every feature mutable."""
        return self.constraints if self.enforce.value else self.constraints.unconstrained_mutability()

    def compute(self) -> SearchResult:
        model = self.models[self.model.value]
        c = self.search_constraints()
        x = c.clip(self.factual().reshape(1, -1))
        t = resolve_target(model, x[0], self.target.value)
        extra = {"categorical": True} if (c.categorical_groups or c.binary_features) else {}
        self.current_target = t
        return search(model, x, [t], constraints=c, **self.search_kwargs, **extra)

    def rows(self, units: str | None = None) -> list:
        res = self.current_result
        return counterfactual_changes(self.factual(), res.counterfactual[0], self.constraints.mutability,
                                      decoder=self.decoder, feature_names=self.feature_names,
                                      units=self.units.value if units is None else units)

    def update(self, *_):
        self.current_result = self.compute()
        self.redraw()
        return self.current_result

    def text(self) -> str:
        """The current change table as fixed-width text (:func:`changes_text`)."""
        return changes_text(self.current_rows)

    def _class(self, k: int) -> str:
        names = self.class_names
        return str(names[k]) if names is not None and len(names) == self.n_classes else str(k)

    def draw(self, fig=None) -> Figure:
        res = self.current_result
        self.current_rows = rows = self.rows()
        fig = fig or new_figure(self.figsize)
        ax = fig.add_subplot(1, 1, 1)
        model = self.models[self.model.value]
        p = plots.predict_logits(model, res.counterfactual[:1])
        p = np.exp(p - p.max(axis=1, keepdims=True))
        p = float((p / p.sum(axis=1, keepdims=True))[0, self.current_target])
        pred = int(np.argmax(plots.predict_logits(model, self.factual().reshape(1, -1))[0]))
        valid = int(np.argmax(plots.predict_logits(model, res.counterfactual[:1])[0])) == self.current_target
        units = "real units" if self.units.value == "real" and self.decoder.has_units else "model units"
        broken = sum(not r["respects"] for r in rows)
        plots.feature_changes(rows, ax=ax, max_features=self.max_features,
                              title=f"{self.model.value}, individual {self.index.value}: "
                                    f"{self._class(pred)} → {self._class(self.current_target)}"
                                    f"{' (auto target)' if self.target.value < 0 else ''}\n"
                                    f"{'valid' if valid else 'not valid'}, p(y⁺ | x′) = {p:.2f} · "
                                    f"search {'respects' if self.enforce.value else 'ignores'} mutability · "
                                    f"labels: change in {units}")
        ax.title.set_fontsize("medium")
        self.table.value = changes_html(rows)
        n_changed = sum(r["changed"] for r in rows)
        self.summary.value = html.escape(
            f"{self.model.value}: {n_changed} feature(s) changed, {int(res.steps[0])} steps, "
            f"{'mature' if res.mature[0] else 'not mature'}, p(y⁺ | x′) = {p:.3f} · "
            + ("every change respects its mutability" if broken == 0 else
               f"{broken} change(s) break their feature's mutability (the search ignored it)"))
        return fig
