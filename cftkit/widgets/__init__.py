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
* :class:`EnergyExplorer` — the energy landscape, div and ridge for a tuple (x′, x⁺) you pick, and what a
  few gradient steps on λ_div·div + λ_reg·ridge do to the landscape (helpers in :mod:`cftkit.energy`).
* :class:`NascentExplorer` — the ε-ball, the search path and its nascent counterfactual as ε, T, η change.
* :class:`LivePlotCallback`, :class:`TrainingDashboard`, :class:`CTTrainer` — live training curves
  and a "Train" button over a :class:`cftkit.CounterfactualModel` whose λ's follow the sliders
  (vanilla epochs run no search: their maturity is a gap, not 0).
* :class:`EvaluationExplorer` — the protocol's BL-vs-CT comparison run by run: per-run values, the
  percentile significance test of their differences, the ratios behind the reduction (per metric, ℓ, λ_egy).
* :class:`CounterfactualTable` — one individual's counterfactual on tabular data as a table of changed
  features (real units, mutability, whether each change respects it) and a bar chart.
* :class:`ResultsExplorer` — the stored full-protocol results next to the paper's, per dataset and seed.
"""

from ._base import (constraints_from_controls, dataset_arrays, figure_png, new_figure, path_probabilities,
                    resolve_target, run_search, show_figure, view_limits)
from .actionability import ActionabilityExplorer
from .energy import EnergyExplorer
from .nascent import NascentExplorer, linf_distances, nascent_step
from .search import SearchExplorer, SideBySide
from .evaluation import EvaluationExplorer, paired_comparison, run_values
from .results import ResultsExplorer, comparison_text, overview_text
from .tabular import CounterfactualTable, counterfactual_changes, feature_decoder, mutability_respected
from .training import CTTrainer, LivePlotCallback, TrainingDashboard, mask_unsearched, training_status

__all__ = ["show_figure", "new_figure", "figure_png", "dataset_arrays", "view_limits", "resolve_target", "run_search",
           "path_probabilities", "constraints_from_controls", "SearchExplorer", "SideBySide",
           "ActionabilityExplorer", "EnergyExplorer", "NascentExplorer", "linf_distances", "nascent_step",
           "LivePlotCallback", "TrainingDashboard", "CTTrainer", "mask_unsearched", "training_status",
           "EvaluationExplorer", "paired_comparison", "run_values", "CounterfactualTable", "counterfactual_changes",
           "feature_decoder", "mutability_respected", "ResultsExplorer", "comparison_text", "overview_text"]
