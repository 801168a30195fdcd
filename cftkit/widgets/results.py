"""A view of stored full-protocol results next to the paper's: reductions, BL/CT levels and validity
per dataset (:class:`ResultsExplorer`), and the same as text tables."""

from __future__ import annotations

import html
from typing import Mapping

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from .. import experiments, plots
from ._base import _STYLE, _View, new_figure


# ----------------------------------------------------------------------------- pure helpers
def _num(v, fmt="{:.1f}") -> str:
    return "—" if v is None or not np.isfinite(v) else fmt.format(v)


def _level(v) -> str:
    return _num(v, "{:.3g}")


def comparison_rows(comparison: Mapping) -> list:
    """Rows of the ours-vs-paper table of one :func:`cftkit.experiments.paper_comparison`: one per
    metric (reduction, significant seeds, the paper's value, agreement, BL/CT levels), then validity and
    accuracy.  Each row is a list of strings under :data:`COLUMNS`."""
    rows = []
    for c in comparison["metrics"].values():
        ours = _num(c["ours"], "{:.1f} %")
        if c["n_seeds"] > 1:
            ours += f" [{_num(c['low'])}, {_num(c['high'])}]"
        sig = f"{c['significant']}/{c['n_seeds']}" + (f", {c['increases']}↑" if c["increases"] else "")
        paper = _num(c["paper"], "{:.1f} %") + ("*" if c["paper_significant"] else "")
        rows.append([c["label"], ours, sig, paper, c["agreement"], f"{_level(c['bl'])} / {_level(c['ct'])}",
                     f"{_level(c['paper_bl'])} / {_level(c['paper_ct'])}"])
    v = comparison["validity"]
    rows.append(["validity (τ = 0.95)", "", "", "", "", f"{_num(v['ours']['bl'], '{:.2f}')} / "
                 f"{_num(v['ours']['ct'], '{:.2f}')}", f"{_num(v['paper']['bl'], '{:.2f}')} / "
                 f"{_num(v['paper']['ct'], '{:.2f}')}"])
    rows.append(["validity (protected, τ = 0.5)", "", "", "", "", f"{_num(v['ours']['bl_constrained'], '{:.2f}')} / "
                 f"{_num(v['ours']['ct_constrained'], '{:.2f}')}", f"{_num(v['paper']['bl_constrained'], '{:.2f}')} / "
                 f"{_num(v['paper']['ct_constrained'], '{:.2f}')}"])
    a = comparison["accuracy"]
    rows.append(["test accuracy", "", "", "", "", f"{_num(a['ours']['bl'], '{:.3f}')} / {_num(a['ours']['ct'], '{:.3f}')}",
                 f"{_num(a['paper']['bl'], '{:.2f}')} / {_num(a['paper']['ct'], '{:.2f}')}"])
    return rows


#: the columns of :func:`comparison_rows`
COLUMNS = ("metric", "ours −%", "seeds with a significant reduction", "paper −%", "ours vs paper", "BL / CT (ours)",
           "BL / CT (paper)")


def comparison_text(comparison: Mapping) -> str:
    """:func:`comparison_rows` as a fixed-width text table, under a line naming the dataset and protocol."""
    rows = comparison_rows(comparison)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(COLUMNS)]
    lines = [f"{comparison['dataset']} ({comparison['label']}; {comparison['protocol']})",
             "  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def comparison_html(comparison: Mapping) -> str:
    """:func:`comparison_rows` as an HTML table."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in comparison_rows(comparison))
    note = html.escape(f"{comparison['dataset']} ({comparison['label']}; {comparison['protocol']})")
    return f"<div><b>{note}</b><table><tr>{head}</tr>{body}</table></div>"


def overview_text(results: Mapping, *, tolerance: float = 0.5) -> str:
    """One line per dataset: our reduction (mean over seeds) next to the paper's for each of the paper's
    columns, with ✓ where it has the paper's sign and a size within ``tolerance`` of it."""
    keys = list(experiments.PAPER_COLUMNS)
    head = ["dataset", "seeds"] + [f"{experiments.PAPER_COLUMNS[k]}: ours / paper" for k in keys]
    rows = []
    for name, result in results.items():
        cmp = experiments.paper_comparison(result, tolerance=tolerance)
        cells = [name, str(len(result["seeds"]))]
        for k in keys:
            c = cmp["metrics"][k]
            mark = " ✓" if c["agreement"].startswith("within") else ""
            cells.append(f"{_num(c['ours'])} / {_num(c['paper'])}{mark}")
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _seed_options(result):
    seeds = [int(s["seed"]) for s in result["seeds"]]
    n = len(seeds)
    return [(f"mean over {n} seed{'s' if n != 1 else ''}", -1)] + [(f"seed {s}", s) for s in seeds]


def load_results(results=None, *, root=None) -> dict:
    """``{dataset: results.json dict}``: the stored results (``None``; from ``root`` if given) or the
    given dict, each checked with :func:`cftkit.experiments.check_results`."""
    if results is None:
        names = experiments.stored_datasets(root)
        if not names:
            raise FileNotFoundError("no stored results found (cftkit/data/results/<dataset>/results.json); make them "
                                    "with cftkit reproduce --dataset all-synthetic --seeds 10 --out <folder>")
        return {n: experiments.stored_results(n, root=root) for n in names}
    if not isinstance(results, Mapping) or not results:
        raise TypeError("results must be None (the stored results) or a non-empty dict {dataset: results.json dict}")
    return {str(n): experiments.check_results(r, name=n, source=f"results[{n!r}]") for n, r in results.items()}


# ----------------------------------------------------------------------------- ResultsExplorer
class ResultsExplorer(_View):
    """Stored full-protocol results next to the paper's, one dataset at a time.

    Controls (attributes): ``dataset`` (a stored dataset), ``metric`` (IP, IP* at ℓ = 5, cost: the
    column highlighted and whose BL/CT levels are drawn), ``seed`` (−1 = the mean over the training
    seeds, or one seed).  :attr:`current` is the :func:`cftkit.experiments.paper_comparison` shown, and
    :attr:`table` its HTML table.  The figure: reductions ours vs paper (seed range as whiskers, seeds
    as dots), the levels of the chosen metric, validity.

    Args:
        results: ``None`` = the results shipped with cftkit (:func:`cftkit.experiments.stored_results`), or
            ``{dataset: results.json dict}`` (e.g. your own ``cftkit reproduce`` runs).
        root: read the stored results from ``<root>/<dataset>/results.json`` instead.
        dataset, metric, seed: start values of the controls (``seed=None``: the mean over seeds).
    """

    def __init__(self, results=None, *, dataset: str | None = None, metric: str = "ip", seed: int | None = None,
                 root=None, tolerance: float = 0.5, figsize=(13.0, 4.0)):
        super().__init__()
        self._init_view()
        self.results = load_results(results, root=root)
        names = list(self.results)
        dataset = names[0] if dataset is None else dataset
        if dataset not in self.results:
            raise ValueError(f"dataset must be one of the results' datasets {names}; got {dataset!r}")
        if metric not in experiments.PAPER_COLUMNS:
            raise ValueError(f"metric must be one of {list(experiments.PAPER_COLUMNS)}; got {metric!r}")
        seeds = [int(s["seed"]) for s in self.results[dataset]["seeds"]]
        if seed is not None and seed not in seeds:
            raise ValueError(f"seed must be None (the mean) or one of the training seeds of {dataset!r} {seeds}; "
                             f"got {seed!r}")
        self.tolerance, self.figsize = float(tolerance), figsize
        self.current: dict | None = None
        self.dataset = widgets.Dropdown(options=names, value=dataset, description="dataset", style=_STYLE)
        self.metric = widgets.Dropdown(options=[(v, k) for k, v in experiments.PAPER_COLUMNS.items()], value=metric,
                                       description="metric", style=_STYLE)
        self.seed = widgets.Dropdown(options=_seed_options(self.results[dataset]), value=-1 if seed is None else seed,
                                     description="training seed", style=_STYLE)
        self.table = widgets.HTML()
        self.dataset.observe(self._on_dataset, names="value")
        self.metric.observe(lambda _: self._safely(self.redraw), names="value")
        self.seed.observe(lambda _: self._safely(self.update), names="value")
        self.children = [widgets.HBox([self.dataset, self.metric, self.seed]), self.summary, self.output, self.table]
        self.update()

    def _on_dataset(self, _):
        self._suspend = True
        try:  # a new dataset has its own seeds: back to their mean
            self.seed.options = _seed_options(self.results[self.dataset.value])
            self.seed.value = -1
        finally:
            self._suspend = False
        self._safely(self.update)

    def compute(self) -> dict:
        seed = None if self.seed.value < 0 else int(self.seed.value)
        return experiments.paper_comparison(self.results[self.dataset.value], seed, tolerance=self.tolerance)

    def update(self, *_):
        if self._suspend:
            return self.current
        self.current = self.compute()
        self.redraw()
        return self.current

    def draw(self, fig=None) -> Figure:
        c = self.current
        fig = fig or new_figure(self.figsize)
        plots.paper_comparison(c, metric=self.metric.value, fig=fig)
        self.table.value = comparison_html(c)
        m = c["metrics"][self.metric.value]
        line = (f"{c['dataset']} · {c['label']} · {m['label']}: ours {_num(m['ours'])} %, paper {_num(m['paper'])} % "
                f"({m['agreement']}) · {c['protocol']}")
        if not c["full"]:
            line += " · NOTE: not the paper's protocol"
        self.summary.value = html.escape(line)
        return fig
