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


INT32_MAX = int(np.iinfo(np.int32).max)


def _float_in(value, name: str, dtype, expected: str) -> float:
    """``value`` as a Python float after conversion to ``dtype`` (the dtype it is stored in), or raise.

    A number that is finite as a Python float can overflow ``dtype`` (``1e300`` becomes inf in float32),
    so the range checks below look at the converted value."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be {expected}; got {value!r}")
    with np.errstate(over="ignore"):
        stored = np.asarray(value, dtype=dtype)
    if not np.isfinite(stored):
        what = "not finite" if not np.isfinite(float(value)) else f"too large for {np.dtype(dtype).name}, " \
            f"the dtype it is stored in (largest: {float(np.finfo(dtype).max):.3g})"
        raise ValueError(f"{name} must be {expected}; got {value} ({what})")
    return float(stored)  # the value as it will be stored; callers return float(value) itself


def check_probability(value, name: str, *, dtype=np.float32) -> float:
    """τ-like values: strictly inside (0, 1) *in* ``dtype`` (0.999999999 rounds to 1.0 in float32)."""
    stored = _float_in(value, name, dtype, "a float in (0, 1)")
    if not 0.0 < stored < 1.0:
        rounded = f" (it rounds to {stored} in {np.dtype(dtype).name}, the dtype it is stored in)" \
            if 0.0 < float(value) < 1.0 else ""
        raise ValueError(f"{name} must be in the open interval (0, 1); got {value}{rounded}")
    return float(value)


def check_non_negative(value, name: str, *, dtype=np.float32) -> float:
    stored = _float_in(value, name, dtype, "a finite number >= 0")
    if stored < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value}")
    return float(value)


def check_positive(value, name: str, *, dtype=np.float32) -> float:
    stored = _float_in(value, name, dtype, "a finite number > 0")
    if stored <= 0:
        rounded = f" (it rounds to 0 in {np.dtype(dtype).name}, the dtype it is stored in)" if value > 0 else ""
        raise ValueError(f"{name} must be > 0; got {value}{rounded}")
    return float(value)


def check_int(value, name: str, *, minimum: int = 0, maximum: int | None = INT32_MAX) -> int:
    """An integer in ``[minimum, maximum]``; the default maximum is int32's, the dtype TensorFlow stores
    step counts and seeds in (``2**31`` would wrap to a negative number there).  ``maximum=None``: no bound."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        why = " (it is stored as int32)" if maximum == INT32_MAX else ""
        raise ValueError(f"{name} must be an integer <= {maximum}{why}; got {value}")
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
    with np.errstate(over="ignore"):
        stored = arr.astype(np.float32)
    if not np.all(np.isfinite(stored)):
        j = int(np.flatnonzero(~np.isfinite(stored))[0])
        raise ValueError(f"{name} must be finite in float32, the dtype it is stored in; entry {j} = {arr[j]} "
                         f"overflows (largest float32: {float(np.finfo(np.float32).max):.3g})")
    return stored
