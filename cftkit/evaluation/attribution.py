"""Integrated gradients and the protected-feature sensitivity table (docs/method.md#integrated-gradients).

``integrated_gradients`` attributes the **logit of the target class** f(x)[y] (the reference's
package is unpublished, so whether it used the logit or the probability is unknown; the logit makes
the completeness identity Σ_d IG_d = f(x)[y] − f(baseline)[y] hold up to the quadrature error, and
it is exact for linear models).  The path integral is approximated with ``steps`` intervals of a
trapezoid rule (default) or a left/right/midpoint Riemann sum; the steps run in a ``tf.while_loop``,
so memory is O(N·D) whatever the number of steps.

``protected_sensitivity`` reproduces the table "ig": per round, IG averaged over ``n_samples`` test
points drawn with replacement, each with its own random U(−1, 1) baseline; standardised (the 2-D
formula differs from the D > 2 one) and read at the protected features.  Calling it with the same
``seed`` for two models (CT and BL) gives them the same indices and baselines, as in the reference.
"""

from __future__ import annotations

import dataclasses
import numbers
import weakref

import numpy as np

from .. import defaults
from .._tf import model_function, tf
from .._validation import as_2d_float, as_labels, check_int
from ..search import check_classifier
from .metrics import cached_model_function

__all__ = ["IG_METHODS", "ProtectedSensitivity", "integrated_gradients", "protected_sensitivity",
           "standardise_attributions"]

IG_METHODS = ("trapezoid", "left", "right", "midpoint")
_IG_ELEMENTS = 1 << 22  # rows × features per IG graph call


def _quadrature(steps: int, method: str):
    """Points α_k in [0, 1] and weights w_k with Σ w_k g(α_k) ≈ ∫₀¹ g(α) dα."""
    k = np.arange(steps + 1, dtype=np.float64)
    if method == "trapezoid":
        alphas = k / steps
        w = np.full(steps + 1, 1.0 / steps)
        w[0] = w[-1] = 0.5 / steps
    elif method == "left":
        alphas, w = k[:-1] / steps, np.full(steps, 1.0 / steps)
    elif method == "right":
        alphas, w = k[1:] / steps, np.full(steps, 1.0 / steps)
    else:  # midpoint
        alphas, w = (k[:-1] + 0.5) / steps, np.full(steps, 1.0 / steps)
    return alphas.astype(np.float32), w.astype(np.float32)


def _ig_fn(model, n_classes, jit_compile):
    model_ref = weakref.proxy(model)  # the per-model cache must not keep the model alive
    def build():
        @model_function(jit_compile=jit_compile, input_signature=[
            tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None], tf.float32)])
        def fn(x, target, baseline, alphas, weights):
            onehot = tf.one_hot(target, n_classes, dtype=tf.float32)
            diff = x - baseline

            def body(k, acc):
                xi = baseline + alphas[k] * diff
                with tf.GradientTape() as tape:
                    tape.watch(xi)
                    out = tf.reduce_sum(tf.cast(model_ref(xi, training=False), tf.float32) * onehot)
                return k + 1, acc + weights[k] * tape.gradient(out, xi)

            _, acc = tf.while_loop(lambda k, _: k < tf.shape(alphas)[0], body,
                                   (tf.constant(0, tf.int32), tf.zeros_like(x)))
            return acc * diff
        return fn
    return cached_model_function(model, ("ig", n_classes, bool(jit_compile)), build)


def _check_method(method):
    if not isinstance(method, str) or method not in IG_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {IG_METHODS}")


def integrated_gradients(model, x, target, baseline=None, *, steps: int = defaults.IG_STEPS,
                         method: str = defaults.IG_METHOD, jit_compile: bool = False) -> np.ndarray:
    """Integrated gradients of the target-class **logit**, batched over samples.

    IG_d(x) = (x_d − x̄_d) · ∫₀¹ ∂f(x̄ + α(x − x̄))[y]/∂x_d dα, approximated with ``steps`` intervals.

    Args:
        model: a Keras model returning ``(N, K)`` logits.
        x: ``(N, D)`` inputs.
        target: the attributed class, one int or ``(N,)``.
        baseline: x̄; ``None`` (zeros), a scalar, ``(D,)`` or ``(N, D)``.
        steps: number of intervals (≥ 1).
        method: ``"trapezoid"`` (default), ``"left"``, ``"right"`` or ``"midpoint"``.

    Returns:
        float32 ``(N, D)`` attributions.

    Example:
        >>> import numpy as np, keras, cftkit.evaluation as ev
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        >>> ev.integrated_gradients(m, np.ones((4, 2)), 1, steps=8).shape
        (4, 2)
    """
    xa = as_2d_float(x, "x")
    n, d = xa.shape
    k = check_classifier(model, xa)
    t = as_labels(target, "target", n=n, n_classes=k)
    steps = check_int(steps, "steps", minimum=1)
    _check_method(method)
    if baseline is None:
        base = np.zeros_like(xa)
    else:
        base = np.asarray(baseline, dtype=np.float32)
        if base.ndim == 0 or base.shape == (d,):
            base = np.broadcast_to(base, xa.shape).astype(np.float32)
        elif base.shape != xa.shape:
            raise ValueError(f"baseline must be a scalar, shape ({d},) or {xa.shape}; got {base.shape}")
        if not np.all(np.isfinite(base)):
            raise ValueError("baseline contains NaN or inf values")
    alphas, weights = _quadrature(steps, method)
    fn = _ig_fn(model, k, jit_compile)
    chunk = max(1, _IG_ELEMENTS // max(d, 1))
    a_t, w_t = tf.constant(alphas), tf.constant(weights)
    return np.concatenate([fn(tf.constant(xa[s:s + chunk]), tf.constant(t[s:s + chunk]),
                              tf.constant(np.ascontiguousarray(base[s:s + chunk])), a_t, w_t).numpy()
                           for s in range(0, n, chunk)])


def standardise_attributions(g, *, two_dimensional: bool | None = None) -> np.ndarray:
    """Standardise averaged attributions along the last axis (docs/method.md#integrated-gradients).

    * 2-D data: g̃ = |g| / (max g − min g), with the *signed* max and min;
    * otherwise: g̃ = (g − min g) / (max g − min g).

    ``two_dimensional=None`` picks the formula from the size of the last axis.  A constant vector
    (max = min) gives NaN.

    Example:
        >>> import numpy as np, cftkit.evaluation as ev
        >>> ev.standardise_attributions(np.array([-1.0, 3.0])).tolist()
        [0.25, 0.75]
        >>> ev.standardise_attributions(np.array([-1.0, 3.0, 1.0])).tolist()
        [0.0, 1.0, 0.5]
    """
    g = np.asarray(g, dtype=np.float64)
    if g.ndim == 0 or g.shape[-1] == 0:
        raise ValueError(f"g must have at least one feature on its last axis; got shape {g.shape}")
    if two_dimensional is None:
        two_dimensional = g.shape[-1] == 2
    hi, lo = g.max(axis=-1, keepdims=True), g.min(axis=-1, keepdims=True)
    rng = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (np.abs(g) if two_dimensional else g - lo) / rng
    return np.where(rng > 0, out, np.nan)


@dataclasses.dataclass
class ProtectedSensitivity:
    """Result of :func:`protected_sensitivity`.

    Attributes:
        median, lower, upper: median and the 2.5 % / 97.5 % quantiles over rounds (the "ig" table).
        values: ``(rounds,)`` standardised IG at the protected features, averaged over them.
        attributions: ``(rounds, D)`` raw IG averaged over each round's samples.
        standardised: ``(rounds, D)`` the standardised vectors.
    """

    median: float
    lower: float
    upper: float
    values: np.ndarray
    attributions: np.ndarray
    standardised: np.ndarray

    def __str__(self):
        return f"{self.median:.2f} [{self.lower:.2f}, {self.upper:.2f}]"


def protected_sensitivity(model, x, y, protected, *, rounds: int = defaults.IG_ROUNDS,
                          n_samples: int = defaults.IG_N_SAMPLES, steps: int = defaults.IG_STEPS,
                          method: str = defaults.IG_METHOD, baseline_range=defaults.IG_BASELINE_RANGE,
                          quantiles=defaults.IG_QUANTILES, seed: int = 0,
                          jit_compile: bool = False) -> ProtectedSensitivity:
    """Sensitivity of ``model`` to its protected features via integrated gradients.

    The paper's procedure (docs/method.md#integrated-gradients).  Per round: draw ``n_samples`` row
    indices with replacement, give each sample its own baseline U(``baseline_range``), compute IG w.r.t.
    the **true** labels ``y`` and average over the samples → g (D,); standardise g
    (:func:`standardise_attributions`); average g̃ over the ``protected`` features → one value per
    round.  Returns the median and ``quantiles`` over rounds.  Round r's draws depend only on
    (``seed``, r), so two models evaluated with the same seed see the same samples/baselines.
    """
    xa = as_2d_float(x, "x")
    n, d = xa.shape
    k = check_classifier(model, xa)
    ya = as_labels(y, "y", n=n, n_classes=k)
    prot = np.atleast_1d(np.asarray(protected))
    if prot.ndim != 1 or prot.size == 0 or not np.issubdtype(prot.dtype, np.integer):
        raise ValueError(f"protected must be a non-empty list of feature indices; got {protected!r}")
    if prot.min() < 0 or prot.max() >= d:
        raise ValueError(f"protected feature indices must be in [0, {d - 1}]; got {prot.tolist()}")
    rounds = check_int(rounds, "rounds", minimum=1)
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    steps = check_int(steps, "steps", minimum=1)
    _check_method(method)
    lo, hi = (float(v) for v in baseline_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"baseline_range must be finite (low, high) with low <= high; got {baseline_range!r}")
    q = np.asarray(quantiles, dtype=np.float64)
    if q.shape != (2,) or np.any((q < 0) | (q > 1)):
        raise ValueError(f"quantiles must be two probabilities in [0, 1]; got {quantiles!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int; got {seed!r}")
    rounds_per_call = max(1, _IG_ELEMENTS // max(1, n_samples * d))
    g = np.empty((rounds, d), dtype=np.float64)
    for start in range(0, rounds, rounds_per_call):  # loops over chunks of rounds, not samples
        rs = range(start, min(rounds, start + rounds_per_call))
        idx, base = [], []
        for r in rs:
            rng = np.random.default_rng([int(seed), r])
            idx.append(rng.integers(0, n, size=n_samples))
            base.append(rng.uniform(lo, hi, size=(n_samples, d)).astype(np.float32))
        idx = np.concatenate(idx)
        ig = integrated_gradients(model, xa[idx], ya[idx], np.concatenate(base), steps=steps, method=method,
                                  jit_compile=jit_compile)
        g[start:start + len(rs)] = ig.astype(np.float64).reshape(len(rs), n_samples, d).mean(axis=1)
    std = standardise_attributions(g)
    values = std[:, prot].mean(axis=1)
    return ProtectedSensitivity(median=float(np.median(values)), lower=float(np.quantile(values, q[0])),
                                upper=float(np.quantile(values, q[1])), values=values, attributions=g,
                                standardised=std)
