"""Shared fixtures and hypothesis profiles for the cftkit foundation tests.

Speed notes (the test machine has 2 cores):

* ``cftkit.search`` caches one traced ``tf.function`` per *model object*.  Property tests therefore
  never build a Keras model per example: :func:`random_mlps` builds a few fixed-shape MLPs once per
  session and the tests draw random *weights* for them (``model.set_weights``), which reuses the
  traced graph (~5 ms per search call instead of ~0.3 s per retrace).
* The one trained model (:func:`moons_mlp`, 2-32-2 on moons) is session-scoped.

Hypothesis profiles: ``default`` and ``ci`` both have ``deadline=None`` (the first call of a search
traces a graph, which would trip any per-example deadline).  ``ci`` is derandomised and keeps no
example database, so CI runs are reproducible.  Select with ``HYPOTHESIS_PROFILE=ci``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# Make the package importable when pytest is run from a checkout that is not pip-installed.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

import cftkit  # noqa: E402
from cftkit import keras  # noqa: E402

#: (n_features, n_classes) of the fixed-shape MLPs used by the property tests
MLP_SHAPES = ((2, 2), (2, 3), (3, 2), (3, 3), (5, 2), (5, 3))
HIDDEN = 8


def make_mlp(n_features: int, n_classes: int, hidden: int = HIDDEN) -> "keras.Model":
    """Dense(D -> hidden, relu) -> Dense(K) logits."""
    return keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.Dense(n_classes)])


#: the linear test model of the plot and widget tests: logits = [0, W·(x1 − C)], boundary at x1 = C
LINEAR_W, LINEAR_C = 2.0, 0.5


def make_linear(w: float = LINEAR_W, c: float = LINEAR_C) -> "keras.Model":
    """A 2-feature linear classifier with logits [0, w·(x1 − c)]: p(1) = sigmoid(w·(x1 − c))."""
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    m.set_weights([np.array([[0.0, w], [0.0, 0.0]], np.float32), np.array([0.0, -w * c], np.float32)])
    return m


@pytest.fixture(scope="module")
def linear():
    return make_linear()


@pytest.fixture
def close_figures():
    """Close every matplotlib figure a test opened."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session")
def random_mlps() -> dict:
    """One MLP per (D, K) in :data:`MLP_SHAPES`, built once; tests overwrite the weights."""
    return {shape: make_mlp(*shape) for shape in MLP_SHAPES}


@pytest.fixture(scope="session")
def moons():
    return cftkit.datasets.load("moons", seed=0)


@pytest.fixture(scope="session")
def moons_mlp(moons):
    """A 2-32-2 MLP (logits) trained with Adam for a few epochs on the moons training split."""
    keras.utils.set_random_seed(2025)
    model = make_mlp(2, 2, hidden=32)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(moons.x_train, moons.y_train, batch_size=64, epochs=8, verbose=0, shuffle=True)
    return model


@pytest.fixture(scope="session")
def moons_mlp_accuracy(moons, moons_mlp) -> float:
    pred = np.argmax(moons_mlp.predict(moons.x_test, verbose=0), axis=1)
    return float(np.mean(pred == moons.y_test))
