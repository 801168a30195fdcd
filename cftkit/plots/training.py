"""Training curves: the loss terms, maturity and search steps of a History."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from ._base import HISTORY_PANELS, _HISTORY_LABELS, _axes_row, _subplots
from .boundaries import decision_boundary


# ----------------------------------------------------------------------------- training curves
def _history_dict(history) -> dict:
    h = getattr(history, "history", history)
    if not isinstance(h, Mapping):
        raise TypeError(f"history must be a dict of per-epoch lists or a keras History; got {type(history).__name__}")
    return {str(k): np.asarray(v, dtype=np.float64).reshape(-1) for k, v in h.items()}


#: History keys that only carry a value in an epoch that searched counterfactuals (BL's vanilla
#: training runs no search: Keras would log 0 for them, which reads as "no counterfactual matured").
SEARCH_KEYS = ("ct_div", "ct_reg", "ct_adv", "ct_maturity", "ct_search_steps")


def _empty_note(keys) -> str:
    if not keys:
        return "not recorded"
    if all(k in SEARCH_KEYS for k in keys):
        return "no search in these epochs\n(vanilla training)"
    return "no values in these epochs"


def training_history(history, *, axes=None, keys: Mapping | Sequence | None = None, figsize=None):
    """Per-epoch curves: CT loss terms, maturity (and accuracy), mean search steps.

    Args:
        history: ``keras.callbacks.History`` or its ``.history`` dict (key → per-epoch values).
        axes: a sequence of Axes, one per panel.
        keys: panels as ``{title: [keys]}`` (default :data:`HISTORY_PANELS`), or a flat list of keys
            drawn in one panel.  Keys missing from ``history`` are skipped; a panel with none of its
            keys says so.  NaN values (epochs without a search, e.g. vanilla training) are gaps in a
            curve; a key without any finite value is not drawn, and its panel says so.

    Returns:
        the ``Figure``.
    """
    h = _history_dict(history)
    if keys is None:
        panels = HISTORY_PANELS
    elif isinstance(keys, Mapping):
        panels = dict(keys)
    else:
        panels = {"history": tuple(keys)}
    axes = _axes_row(axes, len(panels), figsize or (4.0 * len(panels), 3.2), f" for the panels {list(panels)}")
    for ax, (title, panel_keys) in zip(axes, panels.items()):
        drawn, empty = 0, []
        for key in panel_keys:
            values = h.get(key)
            if values is None or values.size == 0:
                continue
            if not np.isfinite(values).any():  # e.g. maturity of vanilla epochs: no search, no value
                empty.append(key)
                continue
            epochs = np.arange(1, values.size + 1)
            ls = "--" if key.startswith("val_") else "-"
            ax.plot(epochs, values, ls, marker="o" if values.size < 30 else None, ms=3,
                    label=_HISTORY_LABELS.get(key, key))
            drawn += 1
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if drawn:
            ax.legend(fontsize="small")
            if empty:
                ax.text(0.02, 0.02, "no values: " + ", ".join(_HISTORY_LABELS.get(k, k) for k in empty) +
                        (" (no search)" if all(k in SEARCH_KEYS for k in empty) else ""),
                        transform=ax.transAxes, fontsize="x-small", color="0.4", va="bottom")
        else:
            ax.text(0.5, 0.5, _empty_note(empty), ha="center", va="center", transform=ax.transAxes, color="0.5")
        if "maturity" in title:
            ax.set_ylim(-0.02, 1.02)
    fig = axes[0].figure
    return fig


def training_overview(history, *, model=None, x=None, y=None, fig=None, resolution: int = 80,
                      keys: Mapping | None = None, xlim=None, ylim=None, title: str | None = None):
    """One figure for live training dashboards: :func:`training_history` panels plus, for 2-D data
    with a model, the current decision boundary.

    Returns:
        the ``Figure``.
    """
    panels = dict(HISTORY_PANELS if keys is None else keys)
    with_boundary = model is not None and x is not None and np.shape(x)[-1] == 2
    n = len(panels) + int(with_boundary)
    if fig is None:
        _, grid = _subplots(1, n, figsize=(3.6 * n, 3.2))
        axes = list(grid.ravel())
        fig = axes[0].figure
    else:
        axes = list(np.ravel(fig.subplots(1, n, squeeze=False)))
    training_history(history, axes=axes[:len(panels)], keys=panels)
    if with_boundary:
        decision_boundary(model, x, y, ax=axes[-1], resolution=resolution, xlim=xlim, ylim=ylim, max_points=400,
                          legend=False, title="decision boundary")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
