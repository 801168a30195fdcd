"""Batched gradient-tape counterfactual search (ct_method §1.3 steps 4–8, §2.2).

One TensorFlow graph searches N factuals at once: a ``tf.while_loop`` over steps (no Python loop over
steps or samples), per-sample early stopping, mutability masking of each step Δ, projection onto the
domain after each step, and the *nascent* counterfactual (last state with ‖x_t − x‖∞ ≤ ε).  The same
graph function (:func:`search_graph`) runs inside ``CounterfactualModel.train_step`` and compiles
with XLA.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from . import defaults, generators as _generators
from ._tf import keras, model_function, tf
from ._validation import (as_2d_float, as_labels, check_int, check_non_negative, check_probability,
                          check_weights)
from .constraints import Constraints


@dataclasses.dataclass
class SearchResult:
    """What :func:`search` returns, one row per factual (numpy arrays).

    Attributes:
        counterfactual: ``(N, D)`` final states x'.
        mature: ``(N,)`` bool, True iff the search *reached* p(target) ≥ τ.  A factual that already
            met τ is not searched and is reported non-mature (ct_method §1.3 step 6).
        steps: ``(N,)`` int, gradient steps used.
        nascent: ``(N, D)`` last state with ‖x_t − x‖∞ ≤ ε (the factual if none).
        already_valid: ``(N,)`` bool, the factual met τ before any step.
        probability: ``(N,)`` softmax(f(x'))[target] at the final state.
        path: ``(N, S + 1, D)`` all states including the factual (only with ``return_path=True``;
            S is the number of loop iterations run; finished samples repeat their last state).
        factual, target: the inputs, for convenience.
    """

    counterfactual: np.ndarray
    mature: np.ndarray
    steps: np.ndarray
    nascent: np.ndarray
    already_valid: np.ndarray
    probability: np.ndarray
    factual: np.ndarray
    target: np.ndarray
    path: np.ndarray | None = None

    @property
    def validity(self) -> float:
        """Share of mature counterfactuals."""
        return float(np.mean(self.mature)) if self.mature.size else float("nan")

    def __len__(self):
        return int(self.mature.shape[0])


def _target_probability(logits, target_onehot):
    return tf.reduce_sum(tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1) * target_onehot, axis=-1)


def project_categorical(x, groups, binary):
    """Snap one-hot groups to a valid one-hot (argmax) and round binary columns (ct_method §2.3).

    ``groups`` is a ``(G, D)`` 0/1 membership matrix (G may be 0), ``binary`` a ``(D,)`` bool mask.
    """
    groups = tf.cast(groups, x.dtype)
    masked = tf.where(groups[None] > 0, x[:, None, :], tf.fill(tf.shape(groups[None] * x[:, None, :]), -1e30))
    winner = tf.one_hot(tf.argmax(masked, axis=-1), tf.shape(x)[-1], dtype=x.dtype)  # (N, G, D)
    onehot = tf.reduce_sum(winner * groups[None], axis=1)
    in_group = tf.reduce_sum(groups, axis=0) > 0
    x = tf.where(in_group, onehot, x)
    return tf.where(binary, tf.clip_by_value(tf.round(x), 0.0, 1.0), x)


def search_graph(model, generator, factual, target, *, lower, upper, allow_increase, allow_decrease,
                 max_steps, threshold, learning_rate, cost_weight, energy_weight, nascent_epsilon,
                 seed=None, return_path=False, n_classes=None, categorical=None):
    """The search as pure TensorFlow ops (call inside ``tf.function``/``train_step``).

    All arguments are tensors: ``factual`` (N, D) float32, ``target`` (N,) int32, ``lower``/``upper``
    (D,) float32, ``allow_increase``/``allow_decrease`` (D,) bool, ``cost_weight``/``energy_weight``
    (N,) float32, scalars for the rest; ``seed`` is a (2,) int32 stateless seed (REVISE only).
    ``categorical`` = ``(groups (G, D), binary (D,))`` projects one-hot groups and binary columns
    after every step (test time, ct_method §2.3); ``None`` keeps them continuous (training).
    Returns a dict of tensors (see :class:`SearchResult`).
    """
    factual = tf.convert_to_tensor(factual, tf.float32)
    target = tf.cast(target, tf.int32)
    if n_classes is None:
        n_classes = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else None
    if n_classes is None:
        raise ValueError("n_classes could not be inferred from the model; pass n_classes")
    onehot = tf.one_hot(target, n_classes, dtype=tf.float32)
    if seed is None:
        seed = tf.constant([0, 0], tf.int32)
    max_steps = tf.cast(max_steps, tf.int32)
    threshold = tf.cast(threshold, tf.float32)
    lr = tf.cast(learning_rate, tf.float32)
    eps = tf.cast(nascent_epsilon, tf.float32)
    cost_weight = tf.cast(cost_weight, tf.float32)
    energy_weight = tf.cast(energy_weight, tf.float32)
    masks_state = generator.masks_state

    def clamp(x):
        x = tf.clip_by_value(x, lower, upper)
        return x if categorical is None else project_categorical(x, *categorical)

    def forward(x):
        return tf.cast(model(x, training=False), tf.float32)

    # Step 6: a factual that already meets τ is not searched and is non-mature.
    already = _target_probability(forward(factual), onehot) >= threshold
    state0 = generator.initial_state(factual, seed)
    x_start = clamp(generator.decode(state0))
    n = tf.shape(factual)[0]
    zeros_b = tf.zeros([n], tf.bool)

    def body(t, state, active, mature, steps, nascent, path):
        with tf.GradientTape() as tape:
            tape.watch(state)
            x = generator.decode(state)
            logits = forward(x)
            total = tf.reduce_sum(generator.loss(logits, x, factual, onehot, t, max_steps, cost_weight,
                                                 energy_weight))
        grad = tape.gradient(total, state)
        # Convergence of the current state (reached after t steps): stop moving once p ≥ τ.
        newly = active & (_target_probability(logits, onehot) >= threshold) & (t > 0)
        mature = mature | newly
        active = active & ~newly
        delta = -lr * grad
        delta = tf.where(tf.math.is_finite(delta), delta, tf.zeros_like(delta))  # NaN guard (§7)
        if masks_state:  # mutability mask on Δ (§2.2 step 3)
            delta = tf.where(allow_increase, delta, tf.minimum(delta, 0.0))
            delta = tf.where(allow_decrease, delta, tf.maximum(delta, 0.0))
        delta = tf.where(active[:, None], delta, tf.zeros_like(delta))
        x_new = clamp(generator.decode(state + delta))  # domain projection (§2.2 step 5)
        new_state = generator.encode(x_new, tf.random.experimental.stateless_fold_in(seed, t + 1))
        # Finished samples keep their exact state (re-encoding could move a latent state).
        new_state = tf.where(active[:, None], new_state, state)
        within = tf.reduce_max(tf.abs(x_new - factual), axis=-1) <= eps  # nascent: ‖x_t − x‖∞ ≤ ε
        nascent = tf.where((active & within)[:, None], x_new, nascent)
        steps = steps + tf.cast(active, tf.int32)
        if return_path:
            path = path.write(t + 1, clamp(generator.decode(new_state)))
        return t + 1, new_state, active, mature, steps, nascent, path

    def cond(t, state, active, *_):
        return (t < max_steps) & tf.reduce_any(active)

    path = tf.TensorArray(tf.float32, size=0, dynamic_size=True, clear_after_read=False) if return_path else \
        tf.zeros([0])
    if return_path:
        path = path.write(0, x_start)
    init = (tf.constant(0, tf.int32), state0, ~already, zeros_b, tf.zeros([n], tf.int32), factual, path)
    t_end, state, active, mature, steps, nascent, path = tf.while_loop(cond, body, init)
    x_final = clamp(generator.decode(state))
    prob = _target_probability(forward(x_final), onehot)
    mature = mature | (active & (prob >= threshold) & (t_end > 0))  # check of the last state
    x_final = tf.where(already[:, None], factual, x_final)
    out = {"counterfactual": x_final, "mature": mature & ~already, "steps": steps, "nascent": nascent,
           "already_valid": already, "probability": prob}
    if return_path:
        out["path"] = tf.transpose(path.stack(), [1, 0, 2])
    return out


# ----------------------------------------------------------------------------- public API
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _compiled(model, generator, n_features, n_classes, return_path, jit_compile, categorical=False):
    """One traced (optionally XLA) search function per (model, generator, shapes, options)."""
    per_model = _CACHE.setdefault(model, {})
    key = (generator.cache_key(), n_features, n_classes, return_path, bool(jit_compile), bool(categorical))
    if key in per_model:
        return per_model[key][0]
    spec = [tf.TensorSpec([None, n_features], tf.float32), tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([n_features], tf.float32), tf.TensorSpec([n_features], tf.float32),
            tf.TensorSpec([n_features], tf.bool), tf.TensorSpec([n_features], tf.bool),
            tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32),
            tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.float32),
            tf.TensorSpec([2], tf.int32), tf.TensorSpec([None, n_features], tf.float32),
            tf.TensorSpec([n_features], tf.bool)]

    model_ref = weakref.ref(model)  # the cache must not keep the model (its weak key) alive

    def fn(factual, target, lower, upper, inc, dec, max_steps, threshold, lr, cw, ew, eps, seed, groups, binary):
        return search_graph(model_ref(), generator, factual, target, lower=lower, upper=upper, allow_increase=inc,
                            allow_decrease=dec, max_steps=max_steps, threshold=threshold, learning_rate=lr,
                            cost_weight=cw, energy_weight=ew, nascent_epsilon=eps, seed=seed,
                            return_path=return_path, n_classes=n_classes,
                            categorical=(groups, binary) if categorical else None)

    compiled = model_function(input_signature=spec, jit_compile=bool(jit_compile) and not return_path)(fn)
    per_model[key] = (compiled, generator)  # keep the generator alive while cached
    return compiled


def _static_classes(model, n_features: int):
    """K from a built Keras model's declared (N, D) → (N, K) signature, or ``None`` to find out by calling.

    A declared input width other than ``n_features`` is an error here (clearer than the layer's own)."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return None
    if not inputs or not outputs or len(inputs) != 1 or len(outputs) != 1:
        return None
    in_shape, out_shape = tuple(inputs[0].shape), tuple(outputs[0].shape)
    if len(in_shape) == 2 and in_shape[1] is not None and int(in_shape[1]) != n_features:
        raise ValueError(f"model takes inputs with {int(in_shape[1])} features, but the factuals have {n_features}")
    if len(in_shape) != 2 or len(out_shape) != 2 or out_shape[1] is None:
        return None  # let the call below produce the error message
    return int(out_shape[1]) if out_shape[1] >= 2 else None


_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid")


def probability_output(model):
    """``"softmax"``/``"sigmoid"`` if a Keras model's last layer turns logits into probabilities, else None.

    cftkit needs **logits**: the energy is −f(x)[y⁺] and every cross-entropy is computed from logits, so
    a model that ends in softmax would train and search on the wrong quantity without any error.
    Looks through nested models and through :class:`cftkit.CounterfactualModel` (its ``classifier``).

    Example:
        >>> import keras
        >>> from cftkit.search import probability_output
        >>> probability_output(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")]))
        'softmax'
        >>> probability_output(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])) is None
        True
    """
    inner = getattr(model, "classifier", None)
    if isinstance(inner, keras.Model):
        return probability_output(inner)
    layers = getattr(model, "layers", None) if isinstance(model, keras.Model) else None
    if not layers:
        return None
    last = layers[-1]
    if isinstance(last, keras.Model):
        return probability_output(last)
    if isinstance(last, keras.layers.Softmax):
        return "softmax"
    name = getattr(getattr(last, "activation", None), "__name__", None)
    return name if name in _PROBABILITY_ACTIVATIONS else None


def check_logits(model, name: str = "model") -> None:
    """Raise a clear error when ``model`` ends in a softmax/sigmoid instead of returning logits."""
    act = probability_output(model)
    if act is not None:
        raise ValueError(f"{name} must return logits, but its last layer applies {act}: remove that activation "
                         f"(e.g. Dense(K) instead of Dense(K, activation='{act}')) and apply softmax only to "
                         f"read probabilities")


def check_classifier(model, factuals: np.ndarray) -> int:
    """Call ``model`` on one factual and return its number of classes K (≥ 2), or raise."""
    if not callable(model):
        raise TypeError(f"model must be a keras.Model returning logits; got {type(model).__name__}")
    check_logits(model)
    static = _static_classes(model, factuals.shape[1])
    if static is not None:  # a built functional/sequential model: its shapes say it, no eager call needed
        return static
    try:
        out = model(tf.convert_to_tensor(factuals[:1]), training=False)
    except Exception as exc:  # noqa: BLE001 - re-raised with context
        raise ValueError(f"model could not be called on factuals of shape (N, {factuals.shape[1]}): {exc}") from exc
    shape = tuple(out.shape)
    if len(shape) != 2 or shape[-1] is None or shape[-1] < 2:
        raise ValueError(f"model must be a classifier returning (N, K) logits with K >= 2 classes; its output "
                         f"has shape {shape}. Binary problems need 2 logits, not a single sigmoid unit.")
    return int(shape[-1])


def search(model, factuals, targets, *, generator="eccco", constraints: Constraints | None = None,
           max_steps: int = defaults.MAX_STEPS, threshold: float = defaults.THRESHOLD,
           learning_rate: float = defaults.LEARNING_RATE, cost_weight=defaults.COST_WEIGHT,
           energy_weight=defaults.ENERGY_WEIGHT, nascent_epsilon: float = defaults.NASCENT_EPSILON,
           return_path: bool = False, jit_compile: bool = False, seed: int = 0,
           categorical: bool = False) -> SearchResult:
    """Search counterfactuals for N factuals at once (one graph, per-sample early stopping).

    Args:
        model: a ``keras.Model`` (or callable) mapping ``(N, D)`` inputs to ``(N, K)`` **logits**, K ≥ 2.
        factuals: ``(N, D)`` array or tensor; must be finite and inside the constraints' domain.
        targets: ``(N,)`` target class per factual (or one int for all).
        generator: ``"eccco"`` (default), ``"generic"`` or a :class:`cftkit.generators.Generator`
            (e.g. ``cftkit.revise.REVISEGenerator``).
        constraints: :class:`cftkit.Constraints` (domains and mutability); ``None`` = unconstrained.
        max_steps: T ≥ 0 gradient steps at most (T = 0 returns the factuals).
        threshold: τ in (0, 1): a sample stops once softmax(f(x'))[target] ≥ τ.
        learning_rate: η of plain gradient descent (0.1, what produced the paper's numbers).
        cost_weight, energy_weight: λ_cost and λ_egy, scalars or per-sample ``(N,)`` vectors.
        nascent_epsilon: ε for the nascent counterfactual (L∞ ball around the factual).
        return_path: also return every state (for plots/widgets; disables XLA).
        jit_compile: compile the search with XLA.
        seed: seed of stochastic generators (REVISE's encoder sampling).
        categorical: project the constraints' one-hot groups (argmax) and binary {0, 1} columns after
            every step, so the search moves through valid categories only (test time, as the reference
            does when categorical features are declared); ``False`` treats them as continuous.

    Returns:
        :class:`SearchResult` with ``counterfactual``, ``mature``, ``steps``, ``nascent`` (and ``path``).

    Example:
        >>> import numpy as np, keras, cftkit
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        >>> res = cftkit.search(model, np.zeros((3, 2)), [1, 1, 1], max_steps=5)
        >>> res.counterfactual.shape, res.steps.shape
        ((3, 2), (3,))
    """
    gen = _generators.get(generator)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer; got {seed!r}")
    if not isinstance(return_path, bool):
        raise TypeError(f"return_path must be a bool; got {return_path!r}")
    max_steps = check_int(max_steps, "max_steps", minimum=0)
    threshold = check_probability(threshold, "threshold")
    learning_rate = check_non_negative(learning_rate, "learning_rate")
    nascent_epsilon = check_non_negative(nascent_epsilon, "nascent_epsilon")
    x = as_2d_float(factuals, "factuals")
    n, d = x.shape
    if constraints is None:
        constraints = Constraints(n_features=d)
    elif not isinstance(constraints, Constraints):
        raise TypeError(f"constraints must be a cftkit.Constraints; got {type(constraints).__name__}")
    if constraints.n_features != d:
        raise ValueError(f"constraints describe {constraints.n_features} features but factuals have {d}")
    gen.check_inputs(x)  # e.g. REVISE: the VAE must have been fitted on D features (before any tracing)
    # Factuals may lie within a float tolerance outside the domain: snap them in, so that the search's
    # own clamp can never move an immutable feature.
    x = constraints.clip(constraints.check(x, "factuals"))
    k = check_classifier(model, x)
    y = as_labels(targets, "targets", n=n, n_classes=k)
    cw = check_weights(cost_weight, "cost_weight", n)
    ew = check_weights(energy_weight, "energy_weight", n)
    inc, dec = constraints.masks()
    fn = _compiled(model, gen, d, k, return_path, jit_compile, categorical)
    groups = np.zeros((len(constraints.categorical_groups), d), np.float32)
    for g, cols in enumerate(constraints.categorical_groups):
        groups[g, list(cols)] = 1.0
    binary = np.zeros(d, bool)
    binary[list(constraints.binary_features)] = True
    binary[groups.sum(0) > 0] = False
    out = fn(tf.constant(x), tf.constant(y), tf.constant(constraints.lower), tf.constant(constraints.upper),
             tf.constant(inc), tf.constant(dec), tf.constant(max_steps, tf.int32), tf.constant(threshold, tf.float32),
             tf.constant(learning_rate, tf.float32), tf.constant(cw), tf.constant(ew),
             tf.constant(nascent_epsilon, tf.float32), tf.constant([int(seed) % (2**31 - 1), 0], tf.int32),
             tf.constant(groups), tf.constant(binary))
    out = {name: v.numpy() for name, v in out.items()}
    return SearchResult(counterfactual=out["counterfactual"], mature=out["mature"].astype(bool),
                        steps=out["steps"].astype(np.int64), nascent=out["nascent"],
                        already_valid=out["already_valid"].astype(bool), probability=out["probability"],
                        factual=x, target=y, path=out.get("path"))
