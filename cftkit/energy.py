"""CT's energy terms for tuples you choose: E(x′), E(x⁺), div and ridge, and what gradient steps on them do.

Counterfactual training adds, for counterfactuals x′ and real samples x⁺ of the target class y⁺ (with
the energy E(x, y⁺) = −f(x)[y⁺], the negative target logit),

* div = mean[E(x⁺) − E(x′)] (contrastive divergence), weighted by λ_div, and
* ridge = mean[E(x⁺)² + E(x′)²], weighted by λ_reg,

to its loss (:func:`cftkit.training.contrastive_divergence_and_ridge` computes them inside a training
step).  The small functions here compute the same terms for points picked by hand, and take a few
plain gradient steps on λ_div·div + λ_reg·ridge alone on a *copy* of a model, to show what these two
terms do to the energy landscape (the lessons' :class:`cftkit.widgets.EnergyExplorer`).

Example:
    >>> import numpy as np, cftkit
    >>> from cftkit import energy
    >>> model = cftkit.build_classifier(2, 2, seed=0)
    >>> terms = energy.energy_terms(model, [0.5, 0.5], [-1.0, 0.0], target=1)
    >>> bool(np.isclose(terms.div, terms.e_plus[0] - terms.e_cf[0]))
    True
    >>> copy, history = energy.descend_div_ridge(model, [0.5, 0.5], [-1.0, 0.0], 1, lambda_div=1.0,
    ...                                          lambda_reg=0.0, learning_rate=0.05, steps=5)
    >>> len(history), history[-1].div < history[0].div  # div alone: the model learns to lower it
    (6, True)
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from ._tf import keras, tf
from ._validation import as_2d_float, as_labels, check_int, check_non_negative


@dataclasses.dataclass(frozen=True)
class EnergyTerms:
    """Energies of tuples (x′ᵢ, x⁺ᵢ) for targets y⁺ᵢ, and CT's two energy terms over them.

    Attributes:
        e_cf: ``(N,)`` E(x′ᵢ, y⁺ᵢ) = −f(x′ᵢ)[y⁺ᵢ] of the counterfactuals.
        e_plus: ``(N,)`` E(x⁺ᵢ, y⁺ᵢ) of the real target-class samples.
    """

    e_cf: np.ndarray
    e_plus: np.ndarray

    @property
    def div(self) -> float:
        """mean[E(x⁺) − E(x′)]: negative when the real samples have the lower energy."""
        return float(np.mean(self.e_plus - self.e_cf))

    @property
    def ridge(self) -> float:
        """mean[E(x⁺)² + E(x′)²]."""
        return float(np.mean(self.e_plus ** 2 + self.e_cf ** 2))

    def weighted(self, lambda_div: float, lambda_reg: float) -> dict:
        """``{"div": λ_div·div, "ridge": λ_reg·ridge, "total": their sum}``: the two terms' share of CT's loss."""
        lambda_div = check_non_negative(lambda_div, "lambda_div")
        lambda_reg = check_non_negative(lambda_reg, "lambda_reg")
        div, ridge = lambda_div * self.div, lambda_reg * self.ridge
        return {"div": div, "ridge": ridge, "total": div + ridge}


def _inputs(model, x_cf, x_plus, target):
    """``(x_cf, x_plus, target)`` as ``(N, D)``, ``(N, D)`` float32 and ``(N,)`` int32, checked; K."""
    x_cf = as_2d_float(np.atleast_2d(np.asarray(x_cf, np.float32)), "x_cf")
    x_plus = as_2d_float(np.atleast_2d(np.asarray(x_plus, np.float32)), "x_plus", n_features=x_cf.shape[1])
    if len(x_plus) != len(x_cf):
        raise ValueError(f"x_plus must have one row per counterfactual ({len(x_cf)}); got {len(x_plus)}")
    logits = np.asarray(model(x_cf[:1], training=False))
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"model must return (N, K) logits with K >= 2; got shape {logits.shape}")
    k = int(logits.shape[1])
    target = as_labels(np.asarray(target).reshape(-1) if np.ndim(target) else target, "target", n=len(x_cf),
                       n_classes=k)
    return x_cf, x_plus, target, k


def _energies(model, x_cf, x_plus, target, k):
    onehot = tf.one_hot(target, k, dtype=tf.float32)
    logits = tf.cast(model(tf.concat([x_cf, x_plus], 0), training=False), tf.float32)
    n = tf.shape(x_cf)[0]
    e = -tf.reduce_sum(logits * tf.concat([onehot, onehot], 0), axis=-1)
    return e[:n], e[n:]


def energy_terms(model, x_cf, x_plus, target) -> EnergyTerms:
    """E(x′), E(x⁺), div and ridge of ``model`` for counterfactuals ``x_cf`` and real samples ``x_plus``
    (one point ``(D,)`` each, or ``(N, D)`` rows) and targets ``target`` (an int or ``(N,)``)."""
    x_cf, x_plus, target, k = _inputs(model, x_cf, x_plus, target)
    e_cf, e_plus = _energies(model, x_cf, x_plus, target, k)
    return EnergyTerms(np.asarray(e_cf, np.float64), np.asarray(e_plus, np.float64))


def trainable_copy(model, copy: keras.Model | None = None) -> keras.Model:
    """A trainable copy of ``model`` (of its ``classifier`` for a :class:`cftkit.CounterfactualModel`) with
    the same weights; with ``copy`` (an earlier copy) only its weights are reset.  ``model`` itself is
    never changed."""
    source = getattr(model, "classifier", model)
    if not isinstance(source, keras.Model):
        raise TypeError(f"model must be a keras.Model returning logits; got {type(model).__name__}")
    if copy is None:
        try:
            copy = keras.models.clone_model(source)
        except Exception:  # noqa: BLE001 - a subclassed model: rebuild it from its config
            copy = source.__class__.from_config(source.get_config())
    copy.set_weights(source.get_weights())
    copy.trainable = True
    return copy


def descend_div_ridge(model, x_cf, x_plus, target, *, lambda_div: float, lambda_reg: float, learning_rate: float,
                      steps: int, copy: keras.Model | None = None) -> tuple:
    """``steps`` plain gradient steps θ ← θ − η ∇θ (λ_div·div + λ_reg·ridge) on a copy of ``model``.

    Only the two energy terms are minimised (no classification loss, no new search: x′ and x⁺ stay
    where they are), which isolates what they do: div lowers E(x⁺) and raises E(x′); the ridge pulls
    both energies towards 0.  ``model`` is left unchanged.

    Args:
        model: a Keras classifier returning logits (or a :class:`cftkit.CounterfactualModel`).
        x_cf, x_plus, target: as in :func:`energy_terms`.
        lambda_div, lambda_reg: the weights λ_div, λ_reg (≥ 0).
        learning_rate: the step size η (≥ 0).
        steps: the number of steps (≥ 0).
        copy: a copy made earlier by :func:`trainable_copy` to reuse (its weights are reset first).

    Returns:
        ``(copy, history)``: the copy after the steps and the :class:`EnergyTerms` before each step and
        after the last (``steps + 1`` entries; ``history[0]`` is the original model's).  When a step
        would make the energies non-finite (η far too large), the descent stops before it: the copy
        keeps the last finite weights and ``history`` is shorter.
    """
    lambda_div = check_non_negative(lambda_div, "lambda_div")
    lambda_reg = check_non_negative(lambda_reg, "lambda_reg")
    learning_rate = check_non_negative(learning_rate, "learning_rate")
    steps = check_int(steps, "steps", minimum=0, maximum=10_000)
    x_cf, x_plus, target, k = _inputs(model, x_cf, x_plus, target)
    copy = trainable_copy(model, copy)
    variables = copy.trainable_variables
    step = _step_function(copy, k)
    weights = tf.constant([lambda_div, lambda_reg, learning_rate], tf.float32)
    history, last_good = [], None
    for t in range(steps + 1):
        weights_now = [v.numpy() for v in variables]  # after t steps
        # the energies after t steps; then, unless it was the last, step t + 1 is taken
        e_cf, e_plus = (np.asarray(e, np.float64) for e in step(x_cf, x_plus, target, weights, t < steps))
        if not (np.all(np.isfinite(e_cf)) and np.all(np.isfinite(e_plus))):  # step t overflowed:
            if last_good is None:
                raise ValueError("the model's energies at x_cf and x_plus are not finite")
            for v, value in zip(variables, last_good):  # back to the weights after t − 1 steps, and stop
                v.assign(value)
            break
        history.append(EnergyTerms(e_cf, e_plus))
        last_good = weights_now
    return copy, history


_STEPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _step_function(copy, k: int):
    """One traced function per copy: the energies at the current weights, then (if ``apply``) one step
    θ ← θ − η ∇θ (λ_div·div + λ_reg·ridge).  Traced once, so 50 steps take milliseconds, not a second."""
    if copy in _STEPS:
        return _STEPS[copy]
    variables = copy.trainable_variables

    @tf.function(reduce_retracing=True)
    def step(x_cf, x_plus, target, weights, apply):
        with tf.GradientTape() as tape:
            e_cf, e_plus = _energies(copy, x_cf, x_plus, target, k)
            loss = weights[0] * tf.reduce_mean(e_plus - e_cf) + weights[1] * tf.reduce_mean(e_plus ** 2 + e_cf ** 2)
        if apply:
            grads = tape.gradient(loss, variables)
            for v, g in zip(variables, grads):
                if g is not None:
                    v.assign_sub(weights[2] * tf.cast(g, v.dtype))
        return e_cf, e_plus

    _STEPS[copy] = step
    return step
