"""Datasets by name: ``cftkit.datasets.load(name, seed=0, data_home=None)``.

Synthetic (generated): ``linearly_separable`` (``ls``), ``overlapping`` (``ol``), ``circles``,
``moons``.  Real (files, verified by checksum): ``adult``, ``california_housing`` (``ch``, ``cali``),
``credit_default`` (``cred``, ``credit``), ``gmsc`` (bring your own Kaggle file), ``mnist``.
Offline teaching sets bundled with scikit-learn: ``digits``, ``breast_cancer``.
Every loader returns a :class:`Dataset`.

Real files are looked for in: the ``data_home`` argument, ``$CFTKIT_DATA``, ``$CFTKIT_TEST_DATA`` (or a
source checkout's ``../shared/data``), the user cache ``~/.cache/cftkit``; else downloaded into the cache
and verified (see :mod:`cftkit.datasets._fetch`).  The per-dataset functions (``load_mnist`` etc.) take
extra options such as ``n_train`` or ``source``.
"""

from __future__ import annotations

from .._validation import check_int
from ._base import Dataset, stratified_split
from . import mnist as _mnist, small as _small, tabular as _tabular
from ._fetch import ChecksumError, DataNotFoundError, cache_dir, check_data_home, data_roots
from .mnist import load_mnist
from .small import load_breast_cancer, load_digits
from .synthetic import ALIASES, SYNTHETIC, load_synthetic
from .tabular import gmsc_instructions, load_adult, load_california_housing, load_credit_default, load_gmsc

_LOADERS = {name: (lambda n: (lambda seed=0, data_home=None: load_synthetic(n, seed=seed)))(name)
            for name in SYNTHETIC}
_LOADERS.update(_tabular.LOADERS)
_LOADERS["mnist"] = _mnist.load_mnist
_LOADERS.update(_small.LOADERS)
_ALIASES = {**ALIASES, **_tabular.ALIASES, **_small.ALIASES}


def register(name: str, loader) -> None:
    """Register ``loader(seed=..., data_home=...) -> Dataset`` under ``name``."""
    _LOADERS[name] = loader


def available() -> list:
    """Names accepted by :func:`load`."""
    return sorted(_LOADERS)


def load(name: str, *, seed: int = 0, data_home=None) -> Dataset:
    """Load a dataset by name.

    Example:
        >>> import cftkit
        >>> ds = cftkit.datasets.load("circles", seed=0)
        >>> ds.feature_names, ds.n_classes
        (('x1', 'x2'), 2)
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a dataset name (str); got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _LOADERS:
        raise ValueError(f"unknown dataset name {name!r}; available: {available()}")
    seed = check_int(seed, "seed", minimum=0, maximum=None)  # numpy's generators take any size
    check_data_home(data_home)
    return _LOADERS[key](seed=seed, data_home=data_home)


__all__ = ["Dataset", "load", "available", "register", "stratified_split", "load_adult", "load_california_housing",
           "load_credit_default", "load_gmsc", "load_mnist", "load_digits", "load_breast_cancer", "gmsc_instructions",
           "ChecksumError", "DataNotFoundError", "cache_dir", "data_roots"]
