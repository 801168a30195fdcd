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

from ._base import (constraints_from_controls, dataset_arrays, figure_png, new_figure, path_probabilities,
                    resolve_target, run_search, show_figure, view_limits)
from .actionability import ActionabilityExplorer
from .search import SearchExplorer, SideBySide
from .training import CTTrainer, LivePlotCallback, TrainingDashboard

__all__ = ["show_figure", "new_figure", "figure_png", "dataset_arrays", "view_limits", "resolve_target", "run_search",
           "path_probabilities", "constraints_from_controls", "SearchExplorer", "SideBySide",
           "ActionabilityExplorer", "LivePlotCallback", "TrainingDashboard", "CTTrainer"]
