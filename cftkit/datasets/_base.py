"""The :class:`Dataset` container shared by every loader."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..constraints import Constraints


@dataclasses.dataclass
class Dataset:
    """A train/validation/test split with feature names and actionability constraints.

    ``x_*`` are float32 ``(N, D)``, ``y_*`` int32 class indices.  ``constraints`` carries the domain
    inferred from train+validation (docs/method.md#domains) and the mutability used for actionability runs;
    ``protected`` lists the features the paper protects in its "mutability" runs
    (docs/datasets.md#protected-features).

    Example:
        >>> import cftkit
        >>> ds = cftkit.datasets.load("moons")
        >>> ds.x_train.shape, ds.x_val.shape, ds.x_test.shape
        ((3000, 2), (600, 2), (900, 2))
        >>> ds.with_immutable([0]).constraints.mutability
        ('none', 'both')
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple
    constraints: Constraints
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    protected: tuple = ()
    class_names: tuple | None = None
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        ys = [self.y_train, self.y_test] + ([self.y_val] if self.y_val is not None else [])
        return int(max(int(np.max(y)) for y in ys if y.size) + 1)

    @property
    def x_pool(self) -> np.ndarray:
        """Train + validation (the pool the domain is inferred from)."""
        return self.x_train if self.x_val is None else np.concatenate([self.x_train, self.x_val])

    @property
    def y_pool(self) -> np.ndarray:
        return self.y_train if self.y_val is None else np.concatenate([self.y_train, self.y_val])

    def with_immutable(self, features=None) -> "Dataset":
        """Copy whose constraints make ``features`` immutable (default: the paper's protected ones)."""
        features = self.protected if features is None else features
        return dataclasses.replace(self, constraints=self.constraints.with_immutable(list(features)))

    def with_mutability(self, features, mutability: str) -> "Dataset":
        return dataclasses.replace(self, constraints=self.constraints.with_mutability(list(features), mutability))

    def __repr__(self):
        val = 0 if self.x_val is None else len(self.x_val)
        return (f"Dataset({self.name!r}, train={len(self.x_train)}, val={val}, test={len(self.x_test)}, "
                f"features={self.n_features}, classes={self.n_classes})")


def stratified_split(y: np.ndarray, n_val: int, rng: np.random.Generator):
    """Indices (train, val) of a class-stratified split with exactly ``n_val`` validation rows.

    Each class gets ``floor(n_val/N · n_c)`` rows and the rows left over go to the classes with the
    largest remainders (the reference floors only, which leaves the split a row or two short of its
    nominal size); rows are sampled without replacement and the training part keeps its order
    (docs/datasets.md#common-preprocessing, step 4).
    """
    y = np.asarray(y)
    n = len(y)
    if not 0 <= n_val <= n:
        raise ValueError(f"n_val must be in [0, {n}]; got {n_val}")
    classes = np.unique(y)
    sizes = np.array([np.sum(y == c) for c in classes])
    quota = n_val / n * sizes
    counts = np.floor(quota).astype(int)
    for j in np.argsort(-(quota - counts), kind="stable")[: n_val - counts.sum()]:
        counts[j] += 1
    val = [rng.choice(np.flatnonzero(y == c), size=k, replace=False) for c, k in zip(classes, counts)]
    val = np.sort(np.concatenate(val)) if val else np.array([], dtype=int)
    mask = np.ones(n, bool)
    mask[val] = False
    return np.flatnonzero(mask), val
