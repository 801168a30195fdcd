"""Adversarial robustness: FGSM, PGD and robust accuracy over an ε grid.

Described in docs/method.md#accuracy-and-adversarial-robustness.

* **FGSM**: x_adv = x + ε·sign(∇ₓ CE(f(x), y)).
* **PGD**: random start x + U(−ε, ε), then ``steps`` sign-gradient steps of size α, each followed by a
  projection onto the L∞ ball of radius ε around x (40 steps of α = 0.01 in the paper).

As in the reference there is **no clamping to the data domain**.  ``y`` are the true labels.
Both attacks are ``tf.function`` graphs (PGD loops with ``tf.while_loop``) that accept a per-sample ε,
so :func:`robust_accuracy` attacks every (ε, sample) pair in one call.
"""

from __future__ import annotations

import numbers
import weakref

import numpy as np

from .. import defaults
from .._tf import model_function, tf
from .._validation import as_2d_float, as_labels, check_int, check_non_negative
from ..search import check_classifier
from .metrics import cached_model_function, predict_logits

__all__ = ["ATTACKS", "fgsm", "pgd", "robust_accuracy"]

ATTACKS = ("fgsm", "pgd")
# Rows per attack call (bounds memory when tiling all ε at once).
_ATTACK_ELEMENTS = 1 << 23


def _input_gradient(model, x, y):
    """∇ₓ Σ_i CE(f(x_i), y_i) with non-finite entries zeroed (sign is unaffected by the sum vs mean)."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = tf.cast(model(x, training=False), tf.float32)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    g = tape.gradient(loss, x)
    return tf.where(tf.math.is_finite(g), g, tf.zeros_like(g))


def _fgsm_fn(model, jit_compile):
    model_ref = weakref.proxy(model)  # the per-model cache must not keep the model alive
    def build():
        @model_function(jit_compile=jit_compile, input_signature=[
            tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], tf.float32)])
        def fn(x, y, eps):
            return x + eps[:, None] * tf.sign(_input_gradient(model_ref, x, y))
        return fn
    return cached_model_function(model, ("fgsm", bool(jit_compile)), build)


def _pgd_fn(model, jit_compile):
    model_ref = weakref.proxy(model)  # the per-model cache must not keep the model alive
    def build():
        @model_function(jit_compile=jit_compile, input_signature=[
            tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32)])
        def fn(x, y, eps, noise, steps, step_size):
            e = eps[:, None]
            lo, hi = x - e, x + e
            start = x + noise * e  # noise ~ U(−1, 1), drawn on the host: same stream with or without XLA

            def body(i, xa):
                xa = xa + step_size * tf.sign(_input_gradient(model_ref, xa, y))
                return i + 1, tf.clip_by_value(xa, lo, hi)  # projection onto the L∞ ball

            _, xa = tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0, tf.int32), start))
            return xa
        return fn
    return cached_model_function(model, ("pgd", bool(jit_compile)), build)


def _prepare(model, x, y, epsilon):
    xa = as_2d_float(x, "x")
    k = check_classifier(model, xa)
    ya = as_labels(y, "y", n=xa.shape[0], n_classes=k)
    eps = np.asarray(epsilon, dtype=np.float64)
    if eps.ndim == 0:
        check_non_negative(float(eps), "epsilon")
        eps = np.full(xa.shape[0], float(eps))
    elif eps.ndim != 1 or eps.shape[0] != xa.shape[0]:
        raise ValueError(f"epsilon must be a scalar or one value per row ({xa.shape[0]}); got shape {eps.shape}")
    if not np.all(np.isfinite(eps)) or np.any(eps < 0):
        raise ValueError("epsilon must be finite and >= 0")
    return xa, ya, eps.astype(np.float32)


def _chunks(n, d):
    step = max(1, _ATTACK_ELEMENTS // max(d, 1))
    return [(s, min(n, s + step)) for s in range(0, n, step)]


def fgsm(model, x, y, epsilon: float = defaults.FGSM_EPSILON, *, jit_compile: bool = False) -> np.ndarray:
    """Fast gradient sign method: ``x + ε·sign(∇ₓ CE(f(x), y))`` (no domain clamping).

    Args:
        model: a Keras model returning ``(N, K)`` logits.
        x: ``(N, D)`` inputs; y: ``(N,)`` true labels.
        epsilon: ε ≥ 0, a scalar or one per row.

    Returns:
        float32 ``(N, D)`` adversarial examples.
    """
    xa, ya, eps = _prepare(model, x, y, epsilon)
    fn = _fgsm_fn(model, jit_compile)
    return np.concatenate([fn(tf.constant(xa[s:e]), tf.constant(ya[s:e]), tf.constant(eps[s:e])).numpy()
                           for s, e in _chunks(xa.shape[0], xa.shape[1])])


def pgd(model, x, y, epsilon: float = defaults.FGSM_EPSILON, *, steps: int = defaults.PGD_STEPS,
        step_size: float = defaults.PGD_STEP_SIZE, seed: int = 0, jit_compile: bool = False) -> np.ndarray:
    """Projected gradient descent (L∞): random start U(−ε, ε), ``steps`` sign steps of ``step_size``,
    projection onto the ε ball after each; no domain clamping.

    The random start is drawn with ``numpy.random.default_rng(seed)`` on the host, so a seed gives the
    same result with and without XLA (TF's stateless RNG streams differ between the two).

    Returns:
        float32 ``(N, D)`` adversarial examples with ‖x_adv − x‖∞ ≤ ε.
    """
    xa, ya, eps = _prepare(model, x, y, epsilon)
    steps = check_int(steps, "steps", minimum=0)
    step_size = check_non_negative(step_size, "step_size")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int; got {seed!r}")
    fn = _pgd_fn(model, jit_compile)
    noise = np.random.default_rng(int(seed)).uniform(-1.0, 1.0, size=xa.shape).astype(np.float32)
    out = [fn(tf.constant(xa[s:e]), tf.constant(ya[s:e]), tf.constant(eps[s:e]), tf.constant(noise[s:e]),
              tf.constant(steps, tf.int32), tf.constant(step_size, tf.float32)).numpy()
           for s, e in _chunks(xa.shape[0], xa.shape[1])]
    return np.concatenate(out)


def robust_accuracy(model, x, y, epsilons=defaults.ROBUST_EPSILONS, attack: str = "fgsm", *,
                    steps: int = defaults.PGD_STEPS, step_size: float = defaults.PGD_STEP_SIZE, seed: int = 0,
                    jit_compile: bool = False) -> dict:
    """Accuracy under attack for each ε (the paper's robust-accuracy curves).

    All (ε, sample) pairs are attacked in one batched call.  At ε = 0 both attacks return x itself, so
    the first entry of the default grid is the clean accuracy.

    Args:
        epsilons: the ε grid (default ``np.linspace(0, 0.1, 10)``).
        attack: ``"fgsm"`` or ``"pgd"``.

    Returns:
        ``{"epsilon": (E,) array, "accuracy": (E,) array, "attack": name}``.
    """
    if not isinstance(attack, str) or attack.lower() not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; expected one of {ATTACKS}")
    attack = attack.lower()
    xa = as_2d_float(x, "x")
    eps = np.atleast_1d(np.asarray(epsilons, dtype=np.float64))
    if eps.ndim != 1 or eps.size == 0:
        raise ValueError(f"epsilons must be a non-empty 1-D sequence; got shape {eps.shape}")
    if not np.all(np.isfinite(eps)) or np.any(eps < 0):
        raise ValueError(f"epsilons must be finite and >= 0; got {eps.tolist()}")
    n = xa.shape[0]
    ya = as_labels(y, "y", n=n, n_classes=check_classifier(model, xa))
    x_t = np.tile(xa, (eps.size, 1))
    y_t = np.tile(ya, eps.size)
    e_t = np.repeat(eps, n)
    if attack == "fgsm":
        adv = fgsm(model, x_t, y_t, e_t, jit_compile=jit_compile)
    else:
        adv = pgd(model, x_t, y_t, e_t, steps=steps, step_size=step_size, seed=seed, jit_compile=jit_compile)
    correct = np.argmax(predict_logits(model, adv), axis=1) == y_t
    return {"epsilon": eps, "accuracy": correct.reshape(eps.size, n).mean(axis=1), "attack": attack}
