"""Actionability constraints as data: domains, mutability and one-hot groups (ct_method §2.2–2.4).

A :class:`Constraints` object describes, per feature, a domain ``[lower, upper]`` and a
*mutability* in ``{"both", "increase", "decrease", "none"}``.  The search enforces mutability by
masking each step Δ (``none`` → 0, ``increase`` → max(Δ, 0), ``decrease`` → min(Δ, 0)) and domains by
projecting (clamping) the state after every step.  Categorical one-hot groups are recorded so that
test-time results can be decoded to a valid category (§2.3); during search they are continuous.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Iterable, Sequence

import numpy as np

from . import defaults
from ._validation import as_2d_float

MUTABILITIES = ("both", "increase", "decrease", "none")


def _floats(values, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a list of numbers (one per feature); got {values!r}") from exc


@dataclasses.dataclass(frozen=True)
class Constraints:
    """Per-feature domain and mutability constraints.

    Args:
        lower, upper: per-feature bounds (length D); ``None`` means unbounded (±inf).
        mutability: per-feature words from ``("both", "increase", "decrease", "none")``;
            ``None`` means every feature is ``"both"``.
        categorical_groups: list of lists of column indices, each a one-hot group.
        feature_names: optional names, used in error messages and plots.
        n_features: D, needed only when every other argument is ``None``.

    Example:
        >>> import numpy as np, cftkit
        >>> c = cftkit.Constraints(lower=[-1, -1], upper=[1, 1], mutability=["none", "both"])
        >>> c.n_features, c.mutability
        (2, ('none', 'both'))
        >>> c.with_immutable([1]).mutability
        ('none', 'none')
    """

    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    mutability: tuple | None = None
    categorical_groups: tuple = ()
    feature_names: tuple | None = None
    n_features: int | None = None

    def __post_init__(self):
        lengths = {}
        for name in ("lower", "upper", "mutability", "feature_names"):
            v = getattr(self, name)
            if v is not None:
                if isinstance(v, str) or np.ndim(v) != 1:
                    raise ValueError(f"{name} must be a 1-D list with one entry per feature; got {v!r}")
                lengths[name] = len(v)
        if self.n_features is not None:
            if isinstance(self.n_features, bool) or not isinstance(self.n_features, numbers.Integral):
                raise TypeError(f"n_features must be an integer; got {self.n_features!r}")
            lengths["n_features"] = int(self.n_features)
        if not lengths:
            raise ValueError("Constraints needs at least one of lower, upper, mutability, feature_names or n_features")
        if len(set(lengths.values())) != 1:
            raise ValueError(f"constraint lists have different lengths (one entry per feature expected): {lengths}")
        d = next(iter(lengths.values()))
        if d < 1:
            raise ValueError("Constraints must describe at least one feature")
        object.__setattr__(self, "n_features", d)
        lo = np.full(d, -np.inf) if self.lower is None else _floats(self.lower, "lower")
        hi = np.full(d, np.inf) if self.upper is None else _floats(self.upper, "upper")
        for name, arr in (("lower", lo), ("upper", hi)):
            if np.isnan(arr).any():
                raise ValueError(f"{name} contains NaN (feature {int(np.flatnonzero(np.isnan(arr))[0])})")
        if (lo > hi).any():
            j = int(np.flatnonzero(lo > hi)[0])
            raise ValueError(f"lower > upper for feature {j} ({self._name(j)}): {lo[j]} > {hi[j]}")
        object.__setattr__(self, "lower", lo.astype(np.float32))
        object.__setattr__(self, "upper", hi.astype(np.float32))
        mut = ("both",) * d if self.mutability is None else tuple(self.mutability)
        for j, m in enumerate(mut):
            if m not in MUTABILITIES:
                raise ValueError(f"unknown mutability {m!r} for feature {j} ({self._name(j)}); expected one of {MUTABILITIES}")
        object.__setattr__(self, "mutability", mut)
        if self.feature_names is not None:
            object.__setattr__(self, "feature_names", tuple(str(n) for n in self.feature_names))
        groups = []
        seen = set()
        for g in self.categorical_groups or ():
            g = tuple(int(i) for i in g)
            if len(g) < 2:
                raise ValueError(f"categorical_groups: each one-hot group needs >= 2 columns; got {g}")
            for i in g:
                if not 0 <= i < d:
                    raise ValueError(f"categorical_groups: column {i} out of range for {d} features")
                if i in seen:
                    raise ValueError(f"categorical_groups: column {i} appears in more than one group")
                seen.add(i)
            groups.append(g)
        object.__setattr__(self, "categorical_groups", tuple(groups))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_data(cls, x, *, n_std: float = defaults.N_STD, mutability=None, categorical_groups=(),
                  feature_names=None, immutable: Iterable[int] = ()) -> "Constraints":
        """Infer domains from data: ``[min(μ − n·σ, min x), max(μ + n·σ, max x)]`` (ct_method §2.3).

        Example:
            >>> import numpy as np, cftkit
            >>> c = cftkit.Constraints.from_data(np.array([[0.0, 1.0], [2.0, 3.0]]), n_std=2)
            >>> c.lower.tolist(), c.upper.tolist()
            ([-1.0, 0.0], [3.0, 4.0])
        """
        x = as_2d_float(x, "x")
        if isinstance(n_std, bool) or not isinstance(n_std, numbers.Real):
            raise TypeError(f"n_std must be a number >= 0; got {n_std!r}")
        if not np.isfinite(n_std) or n_std < 0:
            raise ValueError(f"n_std must be a finite number >= 0; got {n_std}")
        x64 = x.astype(np.float64)
        mu, sd = x64.mean(axis=0), x64.std(axis=0)
        lo = np.minimum(mu - n_std * sd, x64.min(axis=0))
        hi = np.maximum(mu + n_std * sd, x64.max(axis=0))
        c = cls(lower=lo, upper=hi, mutability=mutability, categorical_groups=categorical_groups,
                feature_names=feature_names, n_features=x.shape[1])
        immutable = list(immutable)
        return c.with_immutable(immutable) if immutable else c

    # ------------------------------------------------------------------ helpers
    def _name(self, j: int) -> str:
        if self.feature_names is not None and j < len(self.feature_names):
            return repr(self.feature_names[j])
        return f"x{j}"

    def _resolve(self, features) -> list:
        if isinstance(features, (str, numbers.Integral)):
            features = [features]
        out = []
        for f in features:
            if isinstance(f, str):
                if self.feature_names is None or f not in self.feature_names:
                    raise ValueError(f"unknown feature name {f!r}; known: {self.feature_names}")
                out.append(self.feature_names.index(f))
            else:
                if isinstance(f, bool) or not isinstance(f, numbers.Integral):
                    raise TypeError(f"features must be feature indices (int) or names (str); got {f!r}")
                j = int(f)
                if not 0 <= j < self.n_features:
                    raise ValueError(f"feature index {j} out of range for {self.n_features} features")
                out.append(j)
        return out

    def with_mutability(self, features: Sequence, mutability: str) -> "Constraints":
        """Copy with the given features (indices or names) set to ``mutability``."""
        if mutability not in MUTABILITIES:
            raise ValueError(f"unknown mutability {mutability!r}; expected one of {MUTABILITIES}")
        mut = list(self.mutability)
        for j in self._resolve(features):
            mut[j] = mutability
        return dataclasses.replace(self, mutability=tuple(mut))

    def with_immutable(self, features: Sequence) -> "Constraints":
        """Copy with the given features (indices or names) immutable (``"none"``)."""
        return self.with_mutability(features, "none")

    def unconstrained_mutability(self) -> "Constraints":
        """Copy with every feature mutable in both directions (domains kept)."""
        return dataclasses.replace(self, mutability=("both",) * self.n_features)

    @property
    def immutable_features(self) -> tuple:
        return tuple(j for j, m in enumerate(self.mutability) if m == "none")

    @property
    def protected_features(self) -> tuple:
        """Features that are not freely mutable (``none``, ``increase`` or ``decrease``)."""
        return tuple(j for j, m in enumerate(self.mutability) if m != "both")

    def masks(self):
        """``(allow_increase, allow_decrease)`` boolean vectors used to mask a step Δ."""
        inc = np.array([m in ("both", "increase") for m in self.mutability])
        dec = np.array([m in ("both", "decrease") for m in self.mutability])
        return inc, dec

    # ------------------------------------------------------------------ checks and projections
    def check(self, x, name: str = "factuals", *, atol: float = 1e-5) -> np.ndarray:
        """Validate ``x`` against these constraints; raise naming the first offending feature."""
        x = as_2d_float(x, name, n_features=self.n_features)
        tol = atol * np.maximum(1.0, np.abs(np.where(np.isfinite(self.lower), self.lower, 0)))
        below = x < self.lower - tol
        tol = atol * np.maximum(1.0, np.abs(np.where(np.isfinite(self.upper), self.upper, 0)))
        above = x > self.upper + tol
        for mask, side in ((below, "below its lower"), (above, "above its upper")):
            if mask.any():
                i, j = map(int, np.argwhere(mask)[0])
                bound = self.lower[j] if side.startswith("below") else self.upper[j]
                raise ValueError(f"{name}[{i}] is outside the domain: feature {j} ({self._name(j)}) = {x[i, j]:.6g} "
                                 f"is {side} bound {bound:.6g}")
        return x

    def expanded_to(self, x) -> "Constraints":
        """Copy whose domain also contains the rows of ``x`` (e.g. test points outside the domain
        inferred from training data; the reference clamps such factuals in the first search step)."""
        x = as_2d_float(x, "x", n_features=self.n_features)
        return dataclasses.replace(self, lower=np.minimum(self.lower, x.min(axis=0)),
                                   upper=np.maximum(self.upper, x.max(axis=0)))

    def clip(self, x) -> np.ndarray:
        """Project ``x`` onto the domain box (the step the search applies after every update)."""
        return np.clip(np.asarray(x, dtype=np.float32), self.lower, self.upper)

    def decode_categorical(self, x) -> np.ndarray:
        """Decode one-hot groups to a valid one-hot (argmax) and round binary {0, 1} columns (§2.3).

        A column whose domain is exactly ``[0, 1]`` and that is not part of a group counts as binary.
        """
        x = np.array(x, dtype=np.float32, copy=True)
        for g in self.categorical_groups:
            cols = list(g)
            winner = np.argmax(x[:, cols], axis=1)
            x[:, cols] = 0.0
            x[np.arange(x.shape[0]), np.asarray(cols)[winner]] = 1.0
        grouped = {j for g in self.categorical_groups for j in g}
        for j in self.binary_features:
            if j not in grouped:
                x[:, j] = np.clip(np.round(x[:, j]), 0.0, 1.0)
        return x

    @property
    def binary_features(self) -> tuple:
        return tuple(j for j in range(self.n_features) if self.lower[j] == 0.0 and self.upper[j] == 1.0)

    # ------------------------------------------------------------------ serialisation
    def get_config(self) -> dict:
        def _b(v):
            return [None if not np.isfinite(t) else float(t) for t in v]
        return {
            "lower": _b(self.lower), "upper": _b(self.upper), "mutability": list(self.mutability),
            "categorical_groups": [list(g) for g in self.categorical_groups],
            "feature_names": None if self.feature_names is None else list(self.feature_names),
        }

    @classmethod
    def from_config(cls, config: dict) -> "Constraints":
        lo = [-np.inf if v is None else v for v in config["lower"]]
        hi = [np.inf if v is None else v for v in config["upper"]]
        return cls(lower=lo, upper=hi, mutability=config["mutability"],
                   categorical_groups=config.get("categorical_groups", ()), feature_names=config.get("feature_names"))

    def __eq__(self, other):
        if not isinstance(other, Constraints):
            return NotImplemented
        return self.get_config() == other.get_config()

    __hash__ = None
