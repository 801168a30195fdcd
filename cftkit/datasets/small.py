"""Small offline teaching datasets bundled with scikit-learn (no files, no network).

They are **not** in the paper; they exist so lessons and smoke tests run anywhere in seconds.  Both
follow the tabular protocol: file order, first ``round(0.8·N)`` rows = training pool, the rest = test,
a stratified validation split drawn with ``numpy.random.default_rng(seed)``.

``digits`` — scikit-learn's 8×8 handwritten digits (1 797 images, 10 classes, grey levels 0–16),
an MNIST stand-in for the multiclass/image code path.  Pixels ``x/8 − 1`` ∈ [−1, 1], row-major
(feature ``8·r + c``), domain [−1, 1].  Pool 1 438 (validation 150), test 359.  ``protected``:
the top and bottom pixel rows (0–7, 56–63) — the 8×8 analogue of MNIST's protected top/bottom rows.

``breast_cancer`` — Wisconsin Diagnostic Breast Cancer (569 rows, 30 features; 0 = malignant,
1 = benign, as in scikit-learn).  Features z-scored with training-pool statistics; domain
``Constraints.from_data(train + val, n_std=2)``.  Pool 455 (validation 50), test 114.  ``protected``:
the nine tumour-*size* measurements (radius, perimeter and area; mean, error and worst: indices
0, 2, 3, 10, 12, 13, 20, 22, 23).  This is a teaching convention — size is treated as a fixed fact of
the sample, so counterfactuals must work through shape and texture — not a medical claim.
"""

from __future__ import annotations

import numpy as np

from ..constraints import Constraints
from ._base import Dataset, stratified_split

DIGITS_N_VALIDATION = 150
BREAST_CANCER_N_VALIDATION = 50
DIGITS_PROTECTED = tuple(range(0, 8)) + tuple(range(56, 64))
BREAST_CANCER_PROTECTED = ("mean radius", "mean perimeter", "mean area", "radius error", "perimeter error",
                           "area error", "worst radius", "worst perimeter", "worst area")


def _sklearn_datasets():
    try:
        from sklearn import datasets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the offline teaching datasets 'digits' and 'breast_cancer' are read from scikit-learn's "
                          "bundled files: pip install scikit-learn") from exc
    return datasets


def load_digits(seed: int = 0, data_home=None, *, n_validation: int = DIGITS_N_VALIDATION, n_train=None) -> Dataset:
    """scikit-learn's 8×8 digits scaled to [−1, 1] (``data_home`` is ignored: the data are bundled).

    Example:
        >>> ds = load_digits()
        >>> ds.x_train.shape[1], ds.n_classes, len(ds.x_test)
        (64, 10, 359)
    """
    from .tabular import TRAIN_TEST_RATIO, _round_half_up, _stratified_subsample
    bunch = _sklearn_datasets().load_digits()
    x = (np.asarray(bunch.data, dtype=np.float32) / np.float32(8.0) - np.float32(1.0))
    y = np.asarray(bunch.target).astype(np.int32)
    n_pool = _round_half_up(TRAIN_TEST_RATIO * len(x))
    x_pool, y_pool = x[:n_pool], y[:n_pool]
    rng = np.random.default_rng(seed)
    tr, va = stratified_split(y_pool, n_validation, rng)
    if n_train is not None:
        tr = tr[_stratified_subsample(y_pool[tr], int(n_train), rng)]
    names = tuple(f"px_r{r}_c{c}" for r in range(8) for c in range(8))
    constraints = Constraints(lower=np.full(64, -1.0), upper=np.full(64, 1.0), feature_names=names)
    return Dataset(name="digits", x_train=x_pool[tr], y_train=y_pool[tr], x_val=x_pool[va], y_val=y_pool[va],
                   x_test=x[n_pool:], y_test=y[n_pool:], feature_names=names, constraints=constraints,
                   protected=DIGITS_PROTECTED, class_names=tuple(str(c) for c in range(10)),
                   info={"seed": seed, "n_pool": n_pool, "image_shape": (8, 8),
                         "source": "sklearn.datasets.load_digits",
                         "citation": "Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten Digits. "
                                     "UCI ML Repository. doi:10.24432/C50P49",
                         "licence": "CC BY 4.0"})


def load_breast_cancer(seed: int = 0, data_home=None, *, n_validation: int = BREAST_CANCER_N_VALIDATION,
                       n_train=None) -> Dataset:
    """Wisconsin Diagnostic Breast Cancer from scikit-learn, standardised on the training pool.

    Example:
        >>> ds = load_breast_cancer()
        >>> ds.n_features, ds.class_names, ds.feature_names[ds.protected[0]]
        (30, ('malignant', 'benign'), 'mean radius')
    """
    from .tabular import build_tabular
    bunch = _sklearn_datasets().load_breast_cancer()
    names = tuple(str(n) for n in bunch.feature_names)
    return build_tabular("breast_cancer", np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target), names,
                         protected=BREAST_CANCER_PROTECTED, seed=seed, n_validation=n_validation, n_train=n_train,
                         class_names=tuple(str(c) for c in bunch.target_names),
                         info={"source": "sklearn.datasets.load_breast_cancer",
                               "citation": "Wolberg, W., Mangasarian, O., Street, N. and Street, W. (1995). Breast "
                                           "Cancer Wisconsin (Diagnostic). UCI ML Repository. doi:10.24432/C5DW2B",
                               "licence": "CC BY 4.0"})


ALIASES = {"wdbc": "breast_cancer", "breast-cancer": "breast_cancer", "sklearn_digits": "digits"}
LOADERS = {"digits": load_digits, "breast_cancer": load_breast_cancer}
