"""Actionability constraints as data: domains, mutability, one-hot groups and binary columns.

Described in docs/method.md#domains and #mutability-and-categorical-features.

A :class:`Constraints` object describes, per feature, a domain ``[lower, upper]`` and a
*mutability* in ``{"both", "increase", "decrease", "none"}``.  The search enforces mutability by
masking each step Δ (``none`` → 0, ``increase`` → max(Δ, 0), ``decrease`` → min(Δ, 0)) and domains by
projecting (clamping) the state after every step.

Categorical features are *declared*, never inferred from a domain:

* ``categorical_groups``: one-hot groups (lists of column indices or names).  A group has **one**
  mutability for all its columns, ``"both"`` or ``"none"``: snapping a group to one category lowers one
  column and raises another, so ``"increase"``/``"decrease"`` cannot hold for a group member.
* ``binary_features``: stand-alone {0, 1} columns (indices or names), each with the domain
  ``[0, 1]`` and in no group; any mutability.

With ``cftkit.search(..., categorical=True)`` (test time) every step is projected onto valid values
(:func:`cftkit.search.project_categorical`; :meth:`Constraints.decode_categorical` is the same rule in
numpy): groups are snapped to their argmax and binary columns rounded, except that an immutable group
or column keeps the factual's value, and a binary column keeps the factual's value wherever rounding
would move it against its direction.  Such a search needs factuals whose groups are one-hot and whose
binary columns are 0/1 (:meth:`Constraints.check_categorical`).  Without ``categorical=True`` (training)
the declared columns are continuous.
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
        categorical_groups: list of one-hot groups, each a list of >= 2 column indices (or feature
            names), e.g. ``[[2, 3, 4]]``.  All columns of a group share one mutability, ``"both"`` or
            ``"none"``.
        feature_names: optional distinct names, used in error messages and plots and to name columns in
            ``categorical_groups``/``binary_features``/``with_mutability``.
        n_features: D, needed only when every other argument is ``None``.
        binary_features: columns (indices or names) that hold 0/1 values outside any group.  Their
            domain must be ``[0, 1]`` (the default where ``lower``/``upper`` is ``None``).  Only declared
            columns are binary: a domain of ``[0, 1]`` alone (e.g. a min-max-scaled feature) is continuous.

    Example:
        >>> import numpy as np, cftkit
        >>> c = cftkit.Constraints(lower=[-1, -1], upper=[1, 1], mutability=["none", "both"])
        >>> c.n_features, c.mutability
        (2, ('none', 'both'))
        >>> c.with_immutable([1]).mutability
        ('none', 'none')
        >>> c = cftkit.Constraints(n_features=4, feature_names=["age", "red", "blue", "smoker"],
        ...                        categorical_groups=[["red", "blue"]], binary_features=["smoker"])
        >>> c.categorical_groups, c.binary_features, c.lower.tolist()
        (((1, 2),), (3,), [-inf, -inf, -inf, 0.0])
    """

    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    mutability: tuple | None = None
    categorical_groups: tuple = ()
    feature_names: tuple | None = None
    n_features: int | None = None
    binary_features: tuple = ()

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
            with np.errstate(over="ignore"):
                overflow = np.isfinite(arr) & ~np.isfinite(arr.astype(np.float32))
            if overflow.any():  # bounds are stored as float32: 1e39 would silently become an infinite bound
                j = int(np.flatnonzero(overflow)[0])
                raise ValueError(f"{name} of feature {j} ({self._name(j)}) = {arr[j]:.6g} is too large for float32, "
                                 f"the dtype bounds are stored in (largest: {float(np.finfo(np.float32).max):.3g}); "
                                 f"use None or ±inf for an unbounded side")
        if (lo > hi).any():
            j = int(np.flatnonzero(lo > hi)[0])
            raise ValueError(f"lower > upper for feature {j} ({self._name(j)}): {lo[j]} > {hi[j]}")
        mut = ("both",) * d if self.mutability is None else tuple(self.mutability)
        for j, m in enumerate(mut):
            if m not in MUTABILITIES:
                raise ValueError(f"unknown mutability {m!r} for feature {j} ({self._name(j)}); expected one of {MUTABILITIES}")
        object.__setattr__(self, "mutability", mut)
        if self.feature_names is not None:
            names = tuple(str(n) for n in self.feature_names)
            first = {}
            for j, n in enumerate(names):
                if n in first:
                    raise ValueError(f"feature_names must be distinct (names identify columns); {n!r} is the name of "
                                     f"features {first[n]} and {j}")
                first[n] = j
            object.__setattr__(self, "feature_names", names)
        groups = self._parse_groups(self.categorical_groups, d)
        object.__setattr__(self, "categorical_groups", groups)
        binary = self._parse_binary(self.binary_features, d, groups)
        object.__setattr__(self, "binary_features", binary)
        # Binary columns live in [0, 1]: that is their default domain; an explicit other domain is an error.
        if self.lower is None:
            lo[list(binary)] = 0.0
        if self.upper is None:
            hi[list(binary)] = 1.0
        for j in binary:
            if lo[j] != 0.0 or hi[j] != 1.0:
                raise ValueError(f"binary_features: feature {j} ({self._name(j)}) must have the domain [0, 1]; "
                                 f"got [{lo[j]:.6g}, {hi[j]:.6g}]")
        object.__setattr__(self, "lower", lo.astype(np.float32))
        object.__setattr__(self, "upper", hi.astype(np.float32))
        for k, g in enumerate(groups):
            muts = tuple(mut[j] for j in g)
            if set(muts) not in ({"both"}, {"none"}):
                raise ValueError(
                    f"categorical_groups: one-hot group {k} (columns {list(g)}: {', '.join(self._name(j) for j in g)}) "
                    f"has mutabilities {muts}; all columns of a group must share one mutability, 'both' or 'none' "
                    f"(snapping a group to one category lowers one of its columns, so 'increase'/'decrease' cannot "
                    f"hold): set the whole group at once, e.g. with_immutable({list(g)})")

    def _column(self, i, d: int, arg: str, where) -> int:
        """One column of ``categorical_groups``/``binary_features``: an index or a feature name."""
        if isinstance(i, str):
            if self.feature_names is None or i not in self.feature_names:
                raise ValueError(f"{arg}: unknown feature name {i!r}; known: {self.feature_names}")
            return self.feature_names.index(i)
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, numbers.Integral):
            raise TypeError(f"{arg} must hold column indices (int) or feature names (str); got {i!r} in {where!r}")
        i = int(i)
        if not 0 <= i < d:
            raise ValueError(f"{arg}: column {i} out of range for {d} features")
        return i

    def _parse_groups(self, value, d: int) -> tuple:
        if value is None:
            return ()
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise TypeError(f"categorical_groups must be a list of one-hot groups, each a list of column indices, "
                            f"e.g. [[0, 1]]; got {value!r}")
        groups, seen = [], set()
        for g in value:
            if isinstance(g, (str, bytes, numbers.Number, np.bool_)) or not isinstance(g, Iterable):
                raise TypeError(f"categorical_groups must be a list of one-hot groups, each a list of column indices "
                                f"(or feature names), e.g. [[0, 1]] for one group of columns 0 and 1; got {value!r} "
                                f"(element {g!r} is not a list)")
            g_in = list(g)
            g = tuple(self._column(i, d, "categorical_groups", g_in) for i in g_in)
            if len(g) < 2:
                raise ValueError(f"categorical_groups: each one-hot group needs >= 2 columns; got {g}")
            for i in g:
                if i in seen:
                    raise ValueError(f"categorical_groups: column {i} appears in more than one group")
                seen.add(i)
            groups.append(g)
        return tuple(groups)

    def _parse_binary(self, value, d: int, groups: tuple) -> tuple:
        if value is None:
            return ()
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise TypeError(f"binary_features must be a list of column indices (or feature names), e.g. [3]; "
                            f"got {value!r}")
        v_in = list(value)
        cols = tuple(self._column(i, d, "binary_features", v_in) for i in v_in)
        if len(set(cols)) != len(cols):
            dup = next(j for j in cols if cols.count(j) > 1)
            raise ValueError(f"binary_features: column {dup} ({self._name(dup)}) is listed more than once")
        for j in cols:
            for k, g in enumerate(groups):
                if j in g:
                    raise ValueError(f"binary_features: column {j} ({self._name(j)}) is in one-hot group {k} "
                                     f"{list(g)}; a column is either binary or part of a one-hot group")
        return tuple(sorted(cols))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_data(cls, x, *, n_std: float = defaults.N_STD, mutability=None, categorical_groups=(),
                  feature_names=None, immutable: Iterable[int] = (), binary_features=()) -> "Constraints":
        """Infer domains from data: ``[min(μ − n·σ, min x), max(μ + n·σ, max x)]`` (docs/method.md#domains).

        Declared ``binary_features`` get the domain ``[0, 1]`` instead, and their values in ``x`` must be 0 or 1.

        Example:
            >>> import numpy as np, cftkit
            >>> c = cftkit.Constraints.from_data(np.array([[0.0, 1.0], [2.0, 3.0]]), n_std=2)
            >>> c.lower.tolist(), c.upper.tolist()
            ([-1.0, 0.0], [3.0, 4.0])
            >>> c = cftkit.Constraints.from_data(np.array([[0.0, 1.0], [2.0, 0.0]]), n_std=2, binary_features=[1])
            >>> c.lower.tolist(), c.upper.tolist()
            ([-1.0, 0.0], [3.0, 1.0])
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
        # Resolve the binary columns (indices or names) the way the constructor does.
        binary = list(cls(n_features=x.shape[1], feature_names=feature_names, binary_features=binary_features)
                      .binary_features)
        for j in binary:
            bad = ~np.isin(x[:, j], (0.0, 1.0))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"binary_features: x[{i}, {j}] = {x[i, j]:.6g}, but a binary feature holds 0 or 1")
        lo[binary], hi[binary] = 0.0, 1.0
        c = cls(lower=lo, upper=hi, mutability=mutability, categorical_groups=categorical_groups,
                feature_names=feature_names, n_features=x.shape[1], binary_features=binary)
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
        """Copy with the given features (indices or names) set to ``mutability``.

        A one-hot group must keep one mutability, ``"both"`` or ``"none"``: setting only some of its
        columns, or any of them to ``"increase"``/``"decrease"``, is an error naming the group.
        """
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

    def categorical_arrays(self):
        """``(groups, binary)``: a ``(G, D)`` float32 0/1 group-membership matrix and a ``(D,)`` bool mask of
        the declared binary columns (the form :func:`cftkit.search.project_categorical` takes)."""
        groups = np.zeros((len(self.categorical_groups), self.n_features), np.float32)
        for g, cols in enumerate(self.categorical_groups):
            groups[g, list(cols)] = 1.0
        binary = np.zeros(self.n_features, bool)
        binary[list(self.binary_features)] = True
        return groups, binary

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

    def check_categorical(self, x, name: str = "factuals") -> np.ndarray:
        """Raise unless every declared group of every row of ``x`` is one-hot (exactly one 1, the rest 0)
        and every declared binary column is 0 or 1; the error names the row and the group or column.

        Example:
            >>> import cftkit
            >>> c = cftkit.Constraints(n_features=3, categorical_groups=[[0, 1]], binary_features=[2])
            >>> c.check_categorical([[0.5, 0.5, 1.0]])
            Traceback (most recent call last):
            ...
            ValueError: factuals[0]: one-hot group 0 (columns [0, 1]: x0, x1) is not one-hot: [0.5, 0.5] (it must hold exactly one 1 and 0 elsewhere)
        """
        x = as_2d_float(x, name, n_features=self.n_features)
        for k, g in enumerate(self.categorical_groups):
            block = x[:, list(g)]
            ok = np.all((block == 0.0) | (block == 1.0), axis=1) & (block.sum(axis=1) == 1.0)
            if not ok.all():
                i = int(np.flatnonzero(~ok)[0])
                raise ValueError(f"{name}[{i}]: one-hot group {k} (columns {list(g)}: "
                                 f"{', '.join(self._name(j) for j in g)}) is not one-hot: "
                                 f"[{', '.join(f'{v:.6g}' for v in block[i])}] (it must hold exactly one 1 and 0 "
                                 f"elsewhere)")
        for j in self.binary_features:
            bad = (x[:, j] != 0.0) & (x[:, j] != 1.0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{name}[{i}]: binary feature {j} ({self._name(j)}) = {x[i, j]:.6g}, but a binary "
                                 f"feature holds 0 or 1")
        return x

    def decode_categorical(self, x, factual=None) -> np.ndarray:
        """Snap one-hot groups to their argmax and round binary columns, keeping every promise.

        The rule of docs/method.md#mutability-and-categorical-features.

        The numpy twin of :func:`cftkit.search.project_categorical` (the per-step projection of
        ``cftkit.search(..., categorical=True)``); both give the same result.  Only declared groups and
        binary columns are touched, and relative to ``factual`` (the rows ``x`` was searched from, each
        valid for :meth:`check_categorical`):

        * an immutable group or binary column takes the factual's value;
        * a binary column whose rounding would move it against its direction (an ``"increase"`` column
          below, a ``"decrease"`` column above the factual's value) takes the factual's value.

        Without ``factual``, ``x`` is its own reference: a protected group or column is snapped only where
        that does not move it against its mutability (an immutable one that is not yet 0/1 is left as is).
        Ties in a group go to its lowest column index.

        Example:
            >>> import numpy as np, cftkit
            >>> c = cftkit.Constraints(n_features=4, categorical_groups=[[0, 1]], binary_features=[2, 3],
            ...                        mutability=["both", "both", "increase", "none"])
            >>> c.decode_categorical([[0.2, 0.7, 0.4, 0.6]], factual=[[1, 0, 1, 0]]).tolist()
            [[0.0, 1.0, 1.0, 0.0]]
        """
        x = np.array(as_2d_float(x, "x", n_features=self.n_features), dtype=np.float32, copy=True)
        if factual is None:
            ref = x.copy()
        else:
            ref = self.check_categorical(factual, "factual")
            if ref.shape != x.shape:
                raise ValueError(f"factual must have the shape of x {x.shape}; got {ref.shape}")
        groups, binary = self.categorical_arrays()
        snapped = x.copy()
        rows = np.arange(x.shape[0])
        for g in self.categorical_groups:
            cols = np.sort(np.asarray(g))
            winner = cols[np.argmax(x[:, cols], axis=1)]
            snapped[:, cols] = 0.0
            snapped[rows, winner] = 1.0
        snapped[:, binary] = np.clip(np.round(x[:, binary]), 0.0, 1.0)
        inc, dec = self.masks()
        ok = ((snapped >= ref) | dec) & ((snapped <= ref) | inc)
        bad = ~ok
        group_bad = (bad.astype(np.float32) @ groups.T) > 0  # (N, G): some column of the group is not ok
        keep = ((group_bad.astype(np.float32) @ groups) > 0) | (binary & bad)
        categorical = binary | (groups.sum(axis=0) > 0)
        return np.where(categorical, np.where(keep, ref, snapped), x).astype(np.float32)

    # ------------------------------------------------------------------ serialisation
    def get_config(self) -> dict:
        def _b(v):
            return [None if not np.isfinite(t) else float(t) for t in v]
        return {
            "lower": _b(self.lower), "upper": _b(self.upper), "mutability": list(self.mutability),
            "categorical_groups": [list(g) for g in self.categorical_groups],
            "binary_features": list(self.binary_features),
            "feature_names": None if self.feature_names is None else list(self.feature_names),
        }

    @classmethod
    def from_config(cls, config: dict) -> "Constraints":
        lo = [-np.inf if v is None else v for v in config["lower"]]
        hi = [np.inf if v is None else v for v in config["upper"]]
        return cls(lower=lo, upper=hi, mutability=config["mutability"],
                   categorical_groups=config.get("categorical_groups", ()), feature_names=config.get("feature_names"),
                   binary_features=config.get("binary_features", ()))

    def __eq__(self, other):
        if not isinstance(other, Constraints):
            return NotImplemented
        return self.get_config() == other.get_config()

    __hash__ = None
