"""Datasets by name: ``cftkit.datasets.load(name, seed=0, data_home=None)``.

Synthetic (generated): ``linearly_separable`` (``ls``), ``overlapping`` (``ol``), ``circles``,
``moons``.  Every loader returns a :class:`Dataset`.
"""

from __future__ import annotations

from ._base import Dataset, stratified_split
from .synthetic import ALIASES, SYNTHETIC, load_synthetic

_LOADERS = {name: (lambda n: (lambda seed=0, data_home=None: load_synthetic(n, seed=seed)))(name)
            for name in SYNTHETIC}


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
    key = ALIASES.get(name.lower(), name.lower())
    if key not in _LOADERS:
        raise ValueError(f"unknown dataset name {name!r}; available: {available()}")
    return _LOADERS[key](seed=seed, data_home=data_home)


__all__ = ["Dataset", "load", "available", "register", "stratified_split"]
