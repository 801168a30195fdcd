"""Views of training: live curves (:class:`LivePlotCallback`, :class:`TrainingDashboard`) and a
"Train" button over a :class:`cftkit.CounterfactualModel` (:class:`CTTrainer`)."""

from __future__ import annotations

import html
import time
from typing import Mapping

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from .. import plots
from .._tf import keras
from ..plots.training import SEARCH_KEYS
from ._base import _STYLE, _WIDE, _error_html, dataset_arrays, show_figure


def epoch_searched(logs: Mapping, objective: str | None = None) -> bool:
    """Whether an epoch's logs come from counterfactual searches.

    ``False`` for the ``"vanilla"`` objective (BL: no search at all) and for an epoch whose maturity
    and mean search steps are both exactly 0 (no search ran, e.g. burn-in epochs: a search that ran
    has steps > 0 or, when every factual was already valid, maturity 1).  Logs without CT keys (a
    plain Keras model) count as searched: there is nothing to hide.

    Example:
        >>> epoch_searched({"loss": 0.3, "ct_maturity": 0.0, "ct_search_steps": 0.0}, "vanilla")
        False
        >>> epoch_searched({"loss": 0.3, "ct_maturity": 0.8, "ct_search_steps": 12.0}, "full")
        True
    """
    if objective == "vanilla":
        return False
    m, s = logs.get("ct_maturity"), logs.get("ct_search_steps")
    if m is None or s is None:
        return True
    return not (float(m) == 0.0 and float(s) == 0.0)


def mask_unsearched(logs: Mapping, objective: str | None = None) -> dict:
    """A copy of an epoch's ``logs`` with NaN for :data:`SEARCH_KEYS` when the epoch ran no search
    (see :func:`epoch_searched`): the curves then show a gap, not a drop to 0.

    Example:
        >>> mask_unsearched({"loss": 0.3, "ct_maturity": 0.0, "ct_search_steps": 0.0}, "vanilla")
        {'loss': 0.3, 'ct_maturity': nan, 'ct_search_steps': nan}
    """
    out = dict(logs)
    if not epoch_searched(logs, objective):
        for k in SEARCH_KEYS:
            if k in out:
                out[k] = float("nan")
    return out


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
        self.n_draws = 0  # redraws triggered by training (epoch ends, the end of a fit)
        self.note = ""  # a line under the title (e.g. the trainer's settings for its next fit)
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
        logs = {k: float(np.asarray(v)) for k, v in (logs or {}).items() if np.size(v) == 1}
        # An epoch without a search (BL's vanilla objective) has no maturity: NaN (a gap), not 0.
        self.epoch_logs.append(mask_unsearched(logs, getattr(self.model, "objective", None)))
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
                                title=f"epoch {len(self.epoch_logs)}" + (f"\n{self.note}" if self.note else ""))
        return fig

    def redraw(self):
        show_figure(self.output, self.draw())
        self.n_draws += 1
        self._drawn_at = len(self.epoch_logs)

    def refresh(self):
        """Redraw the current state (e.g. after :attr:`note` changed) without counting it in
        :attr:`n_draws`."""
        show_figure(self.output, self.draw())


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


def training_status(logs: Mapping, objective: str | None = None) -> str:
    """The status line of an epoch's logs: loss, accuracy and maturity — or, for an epoch without a
    search (vanilla training), that there was none.

    Example:
        >>> training_status({"loss": 0.25, "accuracy": 0.9, "ct_maturity": 0.0, "ct_search_steps": 0.0}, "vanilla")
        'loss 0.2500, accuracy 0.900, no search in vanilla training'
        >>> training_status({"loss": 0.25, "ct_maturity": 0.75, "ct_search_steps": 9.5}, "full")
        'loss 0.2500, maturity 0.75'
    """
    text = f"loss {float(logs.get('loss', float('nan'))):.4f}"
    if "accuracy" in logs:
        text += f", accuracy {float(logs['accuracy']):.3f}"
    if objective == "vanilla":
        return text + ", no search in vanilla training"
    if not epoch_searched(logs, objective):
        return text + ", no search in this epoch"
    if "ct_maturity" in logs:
        text += f", maturity {float(logs['ct_maturity']):.2f}"
    return text


class CTTrainer(widgets.VBox):
    """Train a :class:`cftkit.CounterfactualModel` from a notebook with a "Train" button.

    Controls: ``lambda_div``, ``lambda_reg``, ``lambda_adv`` (sliders; each change is written into the
    model's hyperparameter variables at once, so it applies from the next step without recompiling),
    ``objective`` (vanilla/energy/adversarial/full), ``epochs`` and ``train_button`` (each click
    continues training for ``epochs`` epochs and updates :attr:`dashboard`).  The dashboard's figure
    is drawn from the start (the untrained model's boundary) and its title line shows the settings of
    the next fit, so every control changes it.  Vanilla epochs run no search: the status line says so
    and the maturity and search-step curves leave a gap (:func:`mask_unsearched`), not a 0.

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
        from ..training import OBJECTIVES

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
        for w in (self.lambda_div, self.lambda_reg, self.lambda_adv, self.objective, self.epochs):
            w.observe(self.show_settings, names="value")
        self.train_button.on_click(self._on_train_clicked)
        self.children = [widgets.HBox([widgets.VBox([self.lambda_div, self.lambda_reg, self.lambda_adv]),
                                       widgets.VBox([self.objective, self.epochs, self.train_button])]),
                         self.dashboard]
        self.dashboard.callback.set_model(model)
        self.show_settings()

    def __repr__(self):
        return "<CTTrainer>"

    def apply_hyperparameters(self, *_) -> dict:
        """Write the slider values into the model's variables (effective from the next training step)."""
        self.model.set_hyperparameters(lambda_div=self.lambda_div.value, lambda_reg=self.lambda_reg.value,
                                       lambda_adv=self.lambda_adv.value)
        return self.model.hyperparameters

    def _on_objective(self, change):
        self.model.objective = change["new"]

    def settings_text(self) -> str:
        """The settings of the next fit, e.g. ``"next fit: full · λ_div 0.50 · λ_reg 0.50 · λ_adv 0.25 · 5 epochs"``."""
        return (f"next fit: {self.objective.value} · λ_div {self.lambda_div.value:.2f} · λ_reg {self.lambda_reg.value:.2f}"
                f" · λ_adv {self.lambda_adv.value:.2f} · {self.epochs.value} epochs")

    def show_settings(self, *_):
        """Redraw the dashboard with the settings of the next fit in its title."""
        self.dashboard.callback.note = self.settings_text()
        try:
            self.dashboard.callback.refresh()
        except Exception as exc:  # noqa: BLE001 - shown to the user; kept for inspection
            self.last_error = exc
            self.status.value = _error_html(exc)

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
        self.status.value = html.escape(
            f"{self.model.objective}: trained {epochs} epoch(s) in {time.perf_counter() - t0:.1f} s "
            f"(total {len(self.dashboard.callback.epoch_logs)}); " + training_status(last, self.model.objective))
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
