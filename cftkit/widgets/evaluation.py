"""A view of the evaluation protocol's comparison: per-run values of BL and CT, the percentile
significance test of their differences, and the per-run ratios behind the table's reduction."""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from .. import defaults, plots
from ..evaluation.protocol import ProtocolResult, ip_star_key, percentile_significance, reduction
from ._base import _STYLE, _View, new_figure

#: metric choices of :class:`EvaluationExplorer`: label -> protocol name (``"ip_star"`` takes a length scale)
METRICS = {"IP": "ip", "IP*": "ip_star", "cost": "cost", "validity": "validity"}
_LABELS = {"ip": "IP", "cost": "cost ‖x′ − x‖₁", "validity": "validity"}
#: the sd of the per-run ratios (×100) above which the mean of ratios is called degenerate
DEGENERATE_RATIO_SD = 100.0


# ----------------------------------------------------------------------------- pure helpers
def metric_key(metric: str, length_scale: float | None = None) -> str:
    """The protocol's metric name: ``"ip_star"`` with ``length_scale`` becomes ``"ip_star[ℓ]"``.

    Example:
        >>> metric_key("ip_star", 5.0), metric_key("ip")
        ('ip_star[5]', 'ip')
    """
    if metric == "ip_star":
        if length_scale is None:
            raise ValueError("metric 'ip_star' needs a length_scale (e.g. 0.5 or 5.0)")
        return ip_star_key(length_scale)
    return metric


def run_values(result: ProtocolResult, metric: str, *, length_scale: float | None = None,
               energy_weight: float | None = None, treated: str = "CT", baseline: str = "BL") -> tuple:
    """``(treated, baseline)`` per-run values of one metric: the protocol's per-run means over λ_egy
    (``energy_weight=None``), or the per-run values at one test-time λ_egy.

    Args:
        metric: ``"validity"``, ``"cost"``, ``"ip"`` or ``"ip_star"`` (with ``length_scale``), or a full
            protocol name such as ``"ip_star[5]"``.
        energy_weight: one of ``result.energy_weights``, or ``None`` for the mean over them.
    """
    if not isinstance(result, ProtocolResult):
        raise TypeError(f"result must be a cftkit.evaluation.ProtocolResult; got {type(result).__name__}")
    for role, name in (("treated", treated), ("baseline", baseline)):
        if name not in result.per_run:
            raise ValueError(f"{role} must be a model of the result {list(result.models)}; got {name!r}")
    key = metric_key(metric, length_scale)
    if key not in result.per_run[treated]:
        raise ValueError(f"metric must be one of {list(result.metrics)} (or 'ip_star' with one of the length scales "
                         f"{list(result.length_scales)}); got {key!r}")
    if energy_weight is None:
        return (np.asarray(result.per_run[treated][key], np.float64),
                np.asarray(result.per_run[baseline][key], np.float64))
    lams = [float(v) for v in result.energy_weights]
    if float(energy_weight) not in lams:
        raise ValueError(f"energy_weight must be one of the evaluated λ_egy {lams} (or None for their mean); "
                         f"got {energy_weight!r}")
    j = lams.index(float(energy_weight))
    return (np.asarray(result.per_run_lambda[treated][key][:, j], np.float64),
            np.asarray(result.per_run_lambda[baseline][key][:, j], np.float64))


def paired_comparison(treated, baseline, *, alpha: float = defaults.SIGNIFICANCE_LEVEL) -> dict:
    """Everything the table's cell is made of, run by run, for paired per-run values.

    The steps of docs/method.md#aggregation-and-significance.

    Returns a dict: ``n_runs`` (runs where both values are finite), ``treated``/``baseline`` (those runs),
    ``treated_mean``, ``baseline_mean``, ``deltas`` (|T_r| − |B_r|), ``significant``, ``ci`` (the
    (α/2, 1 − α/2) percentile interval of the deltas), ``ratios`` (T_r/B_r, finite ones),
    ``reduction_pct`` and ``reduction_sd`` (the table's (1 − mean ratio)·100 and 100·sd),
    ``ratio_of_means_pct`` ((1 − mean T / mean B)·100) and ``degenerate`` (the per-run ratios spread
    by more than :data:`DEGENERATE_RATIO_SD` %: near-zero baseline values make single ratios explode,
    so the mean of ratios says little) with ``degenerate_reason``.

    Example:
        >>> c = paired_comparison([1.0, 1.1, 0.9], [2.0, 2.0, 2.0])
        >>> round(c["reduction_pct"], 1), c["degenerate"]
        (50.0, False)
        >>> paired_comparison([0.01, 0.02, 0.01], [0.02, 0.0001, 0.03])["degenerate"]
        True
    """
    t = np.asarray(treated, np.float64).reshape(-1)
    b = np.asarray(baseline, np.float64).reshape(-1)
    if t.shape != b.shape:
        raise ValueError(f"treated and baseline need one value per run each; got {t.shape} and {b.shape}")
    ok = np.isfinite(t) & np.isfinite(b)
    t, b = t[ok], b[ok]
    nan = float("nan")
    out = {"n_runs": int(t.size), "treated": t, "baseline": b, "deltas": np.abs(t) - np.abs(b)}
    if t.size == 0:
        out.update(treated_mean=nan, baseline_mean=nan, significant=False, ci=(nan, nan), ratios=np.zeros(0),
                   reduction_pct=nan, reduction_sd=nan, ratio_of_means_pct=nan, degenerate=False,
                   degenerate_reason="")
        return out
    sig, lo, hi = percentile_significance(out["deltas"], alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = t / b
    ratios = ratios[np.isfinite(ratios)]
    pct, sd = reduction(t, b)
    mt, mb = float(np.mean(t)), float(np.mean(b))
    rom = (1.0 - mt / mb) * 100.0 if mb != 0 else nan
    degenerate = bool(np.isfinite(sd) and sd > DEGENERATE_RATIO_SD)
    reason = ""
    if degenerate:
        k = int(np.argmax(np.abs(ratios - 1.0))) if ratios.size else 0
        reason = (f"the per-run ratios spread by ±{sd:.0f} % (one is {ratios[k]:.3g}): baseline values near 0 "
                  f"(smallest {np.min(np.abs(b)):.2g}, mean {mb:.2g}) make single ratios explode")
    out.update(treated_mean=mt, baseline_mean=mb, significant=sig, ci=(lo, hi), ratios=ratios, reduction_pct=pct,
               reduction_sd=sd, ratio_of_means_pct=rom, degenerate=degenerate, degenerate_reason=reason)
    return out


def _lambda_options(result):
    return [("mean over λ_egy", -1.0)] + [(f"{v:g}", float(v)) for v in result.energy_weights]


# ----------------------------------------------------------------------------- EvaluationExplorer
class EvaluationExplorer(_View):
    """The protocol's BL-vs-CT comparison of a :class:`cftkit.evaluation.ProtocolResult`, run by run.

    Controls (attributes): ``metric`` (IP, IP*, cost, validity), ``length_scale`` (ℓ of IP*; choosing one
    while another metric is shown switches to IP*), ``energy_weight`` (one test-time λ_egy, or
    ``-1`` = the protocol's mean over λ_egy).  :attr:`current` holds the :func:`paired_comparison` of the
    current choice.  The figure: per-run values of both models, the per-run differences with their
    99 % percentile interval ("significant" or not), and the per-run ratios behind the reduction (with
    a warning where they are degenerate).

    Args:
        result: what :func:`cftkit.evaluation.evaluate_counterfactuals` returned for (at least) both models.
        treated, baseline: the two models compared (``"CT"``, ``"BL"``).
        metric, length_scale, energy_weight: the start values of the controls (``energy_weight=None``:
            the mean over λ_egy).
    """

    def __init__(self, result: ProtocolResult, *, treated: str = "CT", baseline: str = "BL", metric: str = "ip",
                 length_scale: float | None = None, energy_weight: float | None = None,
                 alpha: float = defaults.SIGNIFICANCE_LEVEL, figsize=(12.5, 3.8)):
        super().__init__()
        self._init_view()
        if not isinstance(result, ProtocolResult):
            raise TypeError(f"result must be a cftkit.evaluation.ProtocolResult; got {type(result).__name__}")
        self.result, self.treated, self.baseline = result, treated, baseline
        self.alpha, self.figsize = float(alpha), figsize
        if metric not in METRICS.values():
            raise ValueError(f"metric must be one of {list(METRICS.values())}; got {metric!r}")
        scales = [float(v) for v in result.length_scales]
        if not scales:
            raise ValueError("result has no IP* length scales")
        length_scale = scales[-1] if length_scale is None else length_scale
        if float(length_scale) not in scales:
            raise ValueError(f"length_scale must be one of the result's IP* length scales {scales}; "
                             f"got {length_scale!r}")
        run_values(result, metric, length_scale=length_scale, energy_weight=energy_weight, treated=treated,
                   baseline=baseline)  # every other argument error, named, before any control exists
        self.current: dict | None = None
        self.metric = widgets.Dropdown(options=list(METRICS.items()), value=metric, description="metric",
                                       style=_STYLE)
        self.length_scale = widgets.Dropdown(options=[(f"ℓ = {v:g}", v) for v in scales], value=float(length_scale),
                                             description="IP* length scale", style=_STYLE)
        self.energy_weight = widgets.Dropdown(options=_lambda_options(result),
                                              value=-1.0 if energy_weight is None else float(energy_weight),
                                              description="test-time λ_egy", style=_STYLE)
        self.metric.observe(lambda _: self._safely(self.update), names="value")
        self.energy_weight.observe(lambda _: self._safely(self.update), names="value")
        self.length_scale.observe(self._on_length_scale, names="value")
        self.children = [widgets.HBox([self.metric, self.length_scale, self.energy_weight]), self.summary,
                         self.output]
        self.update()

    # -- state
    def selection(self) -> dict:
        """The current choice as :func:`run_values` keywords."""
        lam = self.energy_weight.value
        return {"metric": self.metric.value, "length_scale": self.length_scale.value,
                "energy_weight": None if lam < 0 else lam}

    def label(self) -> str:
        sel = self.selection()
        name = f"IP* (ℓ = {sel['length_scale']:g})" if sel["metric"] == "ip_star" else _LABELS[sel["metric"]]
        lam = "mean over λ_egy" if sel["energy_weight"] is None else f"λ_egy = {sel['energy_weight']:g}"
        return f"{name}, {lam}"

    def compute(self) -> dict:
        t, b = run_values(self.result, treated=self.treated, baseline=self.baseline, **self.selection())
        return paired_comparison(t, b, alpha=self.alpha)

    def update(self, *_):
        self.current = self.compute()
        self.redraw()
        return self.current

    def _on_length_scale(self, _):
        if self.metric.value != "ip_star":
            self.metric.value = "ip_star"  # its observer updates
        else:
            self._safely(self.update)

    # -- drawing
    def draw(self, fig=None) -> Figure:
        c = self.current
        fig = fig or new_figure(self.figsize)
        ax1, ax2, ax3 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.0, 1.3, 0.9]})
        label = self.label()
        metric = self.metric.value
        plots.per_run_values({self.baseline: c["baseline"], self.treated: c["treated"]}, ax=ax1,
                             ylabel=label.split(",")[0], title=f"per run ({c['n_runs']} runs)")
        level = 1.0 - self.alpha
        lo, hi = c["ci"]
        verdict = "significant" if c["significant"] else "not significant"
        plots.significance_interval(c["deltas"], lo, hi, c["significant"], ax=ax2, level=level,
                                    xlabel=f"δ_r = |{self.treated}_r| − |{self.baseline}_r|",
                                    title=f"{verdict}: {level * 100:g} % interval [{lo:.3g}, {hi:.3g}]")
        if metric == "validity":
            ax3.text(0.5, 0.5, "no reduction for validity\n(higher is better;\nread the differences)", ha="center",
                     va="center", transform=ax3.transAxes, color="0.4")
            ax3.set_xticks([])
            ax3.set_yticks([])
            ax3.set_title("ratios")
        else:
            mor = 1.0 - c["reduction_pct"] / 100.0 if np.isfinite(c["reduction_pct"]) else None
            rom = 1.0 - c["ratio_of_means_pct"] / 100.0 if np.isfinite(c["ratio_of_means_pct"]) else None
            title = (f"degenerate: {c['reduction_pct']:.0f} ± {c['reduction_sd']:.0f} %" if c["degenerate"]
                     else f"reduction {c['reduction_pct']:.1f} ± {c['reduction_sd']:.1f} %")
            plots.run_ratios(c["ratios"], mean_of_ratios=mor, ratio_of_means=rom, ax=ax3, degenerate=c["degenerate"],
                             title=title)
        fig.suptitle(f"{self.treated} vs {self.baseline}: {label}", fontsize="medium")
        self.summary.value = html.escape(self.summary_text())
        return fig

    def summary_text(self) -> str:
        """The status line: means, reduction (mean of ratios and ratio of means), the test's verdict."""
        c = self.current
        if c["n_runs"] == 0:
            return f"{self.label()}: no run has values for both models (no valid counterfactual)"
        lo, hi = c["ci"]
        text = (f"{self.label()}: {self.baseline} {c['baseline_mean']:.4g}, {self.treated} {c['treated_mean']:.4g} "
                f"over {c['n_runs']} runs")
        if self.metric.value != "validity":
            text += (f" · reduction {c['reduction_pct']:.2f} ± {c['reduction_sd']:.2f} % (mean of ratios; ratio of "
                     f"means {c['ratio_of_means_pct']:.2f} %)")
        text += (f" · {(1 - self.alpha) * 100:g} % interval of δ [{lo:.3g}, {hi:.3g}] → "
                 f"{'significant' if c['significant'] else 'not significant'}")
        if c["degenerate"] and self.metric.value != "validity":
            text += f" · degenerate ratios: {c['degenerate_reason']}"
        return text
