"""cftkit: counterfactual training (Altmeyer et al., IEEE SaTML 2026) in TensorFlow + Keras 3.

Public API::

    cftkit.Constraints          # domains, mutability, one-hot groups
    cftkit.search(...)          # batched gradient-tape counterfactual search
    cftkit.datasets.load(name)  # the paper's datasets
"""

from ._tf import keras, tf  # noqa: F401  (quiet TensorFlow import first)
from . import defaults, generators  # noqa: E402
from .constraints import MUTABILITIES, Constraints  # noqa: E402
from .search import SearchResult, search, search_graph  # noqa: E402
from . import datasets, presets  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Constraints", "MUTABILITIES", "SearchResult", "search", "search_graph", "datasets", "generators",
           "defaults", "presets", "__version__"]

from .training import OBJECTIVES, CounterfactualModel, build_classifier  # noqa: E402

__all__ += ["CounterfactualModel", "build_classifier", "OBJECTIVES"]
from . import evaluation, experiments, revise  # noqa: E402  (REVISE: VAE, fit_vae, REVISEGenerator)
from .utils import seed_everything  # noqa: E402

__all__ += ["evaluation", "experiments", "revise", "seed_everything"]
# Views (matplotlib/ipywidgets) are not imported here: `from cftkit import plots, widgets`.
