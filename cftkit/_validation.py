"""Input validation helpers (scikit-learn style): fail early, name the argument."""

from __future__ import annotations

import numbers

import numpy as np


def as_2d_float(x, name: str, *, n_features: int | None = None, allow_empty: bool = False) -> np.ndarray:
    """Return ``x`` as a finite float32 ``(N, D)`` array or raise a clear error."""
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array of shape (N, D); got {type(x).__name__}") from exc
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D) (rank 2); got shape {arr.shape}")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} must contain at least one row; got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features (columns); got {arr.shape[1]}")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])[:5].tolist()
        raise ValueError(f"{name} contains NaN or inf values (rows {rows}{'...' if bad.any(axis=1).sum() > 5 else ''})")
    return arr


def as_labels(y, name: str, *, n: int | None = None, n_classes: int | None = None) -> np.ndarray:
    """Return ``y`` as an int32 ``(N,)`` array of class indices in ``[0, n_classes)``."""
    if hasattr(y, "numpy") and not isinstance(y, np.ndarray):
        y = y.numpy()
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold integer class indices; got dtype {arr.dtype}")
    if arr.ndim == 0 and n is not None:
        arr = np.full((n,), arr)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr.astype(float))) or np.any(np.mod(arr.astype(float), 1) != 0):
            raise ValueError(f"{name} must hold integer class indices; got dtype {arr.dtype} with non-integer values")
    arr = arr.astype(np.int64)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have one entry per factual (length {n}); got length {arr.shape[0]}")
    if n_classes is not None and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= n_classes:
            raise ValueError(f"{name} must be class indices in [0, {n_classes - 1}]; got values in [{lo}, {hi}]")
    return arr.astype(np.int32)


def check_probability(value, name: str) -> float:
    """τ-like values: a float strictly inside (0, 1)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a float in (0, 1); got {value!r}")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1); got {value}")
    return float(value)


def check_non_negative(value, name: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a non-negative number; got {value!r}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value}")
    return float(value)


def check_positive(value, name: str) -> float:
    v = check_non_negative(value, name)
    if v == 0:
        raise ValueError(f"{name} must be > 0; got {value}")
    return v


def check_int(value, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def check_weights(value, name: str, n: int) -> np.ndarray:
    """A non-negative scalar or a per-sample ``(n,)`` vector → float32 ``(n,)``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number or a vector of numbers; got {value!r}") from exc
    if arr.ndim == 0:
        arr = np.full((n,), float(arr))
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be a scalar or a vector with one entry per factual ({n}); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    return arr.astype(np.float32)
