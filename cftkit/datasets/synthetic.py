"""The paper's four synthetic datasets (docs/datasets.md#synthetic-data).

Laws follow MLJBase (not scikit-learn): 100 000 points are generated, shuffled with the seed, the
first 3 600 form the train pool (600 of them a stratified validation split) and the next 900 the test
set.  No standardisation.  LS and OL share fixed blob centres (docs/datasets.md#linearly-separable-and-overlapping):
class 0 at (−5.30, 2.08), class 1 at (−1.13, 5.58) — 5.44 apart at 40° to the feature-0 axis, so
the classes separate along both features, with the origin on the perpendicular bisector.
"""

from __future__ import annotations

import numpy as np

from ..constraints import Constraints
from ._base import Dataset, stratified_split

BLOB_CENTRES = np.array([[-5.30, 2.08], [-1.13, 5.58]])
N_GENERATED = 100_000
N_POOL = 3600
N_VAL = 600
N_TEST = 900


def make_blobs(n, rng, *, cluster_std, centres=BLOB_CENTRES):
    """Two Gaussian blobs, n/2 per class (remainder to the last), labels 0/1."""
    k = len(centres)
    counts = [n // k] * k
    counts[-1] += n - sum(counts)
    y = np.repeat(np.arange(k), counts)
    x = rng.standard_normal((n, 2)) * cluster_std + centres[y]
    return x, y


def make_circles(n, rng, *, noise=0.15, factor=0.01):
    """Label 0: radius ``factor`` (a blob at the origin for 0.01); label 1: unit circle; N(0, noise²)."""
    theta = rng.uniform(0, 2 * np.pi, n)
    n0 = n // 2
    y = np.r_[np.zeros(n0, int), np.ones(n - n0, int)]
    r = np.where(y == 0, factor, 1.0)
    x = np.c_[r * np.cos(theta), r * np.sin(theta)] + noise * rng.standard_normal((n, 2))
    return x, y


def make_moons(n, rng, *, noise=0.1, xshift=1.0, yshift=0.3):
    """Label 0: upper unit semicircle; label 1: lower one shifted by (xshift, yshift) (MLJBase)."""
    theta = rng.uniform(0, np.pi, n)
    n0 = n // 2
    y = np.r_[np.zeros(n0, int), np.ones(n - n0, int)]
    theta = np.where(y == 1, -theta, theta)
    x = np.c_[np.cos(theta) + xshift * y, np.sin(theta) + yshift * y] + noise * rng.standard_normal((n, 2))
    return x, y


SYNTHETIC = {
    "linearly_separable": lambda n, rng: make_blobs(n, rng, cluster_std=0.5),
    "overlapping": lambda n, rng: make_blobs(n, rng, cluster_std=2.0),
    "circles": lambda n, rng: make_circles(n, rng),
    "moons": lambda n, rng: make_moons(n, rng),
}
ALIASES = {"ls": "linearly_separable", "lin_sep": "linearly_separable", "ol": "overlapping", "over": "overlapping",
           "circ": "circles", "moon": "moons"}


def load_synthetic(name: str, *, seed: int = 0, n_generated: int = N_GENERATED, n_pool: int = N_POOL,
                   n_val: int = N_VAL, n_test: int = N_TEST) -> Dataset:
    """Generate one synthetic dataset; the same seed gives the same arrays."""
    rng = np.random.default_rng(seed)
    x, y = SYNTHETIC[name](n_generated, rng)
    perm = rng.permutation(n_generated)[: n_pool + n_test]
    x, y = x[perm].astype(np.float32), y[perm].astype(np.int32)
    x_pool, y_pool, x_test, y_test = x[:n_pool], y[:n_pool], x[n_pool:], y[n_pool:]
    tr, va = stratified_split(y_pool, n_val, rng)
    names = ("x1", "x2")
    return Dataset(name=name, x_train=x_pool[tr], y_train=y_pool[tr], x_val=x_pool[va], y_val=y_pool[va],
                   x_test=x_test, y_test=y_test, feature_names=names,
                   constraints=Constraints.from_data(x_pool, feature_names=names), protected=(0,),
                   class_names=("0", "1"), info={"seed": seed, "n_generated": n_generated})
