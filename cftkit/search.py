"""Batched gradient-tape counterfactual search.

Described in docs/method.md#algorithm-1 (steps 4–8) and docs/method.md#plain-gradient-descent-and-the-step-procedure.

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
            met τ is not searched and is reported non-mature (docs/method.md#algorithm-1, step 6).
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


def project_categorical(x, factual, groups, binary, allow_increase, allow_decrease):
    """Snap one-hot groups to their argmax and round binary columns without breaking a constraint.

    The rule of docs/method.md#mutability-and-categorical-features.

    ``x`` and ``factual`` are ``(N, D)``; ``groups`` is a ``(G, D)`` 0/1 membership matrix (G may be 0),
    ``binary`` a ``(D,)`` bool mask of the declared binary columns, ``allow_increase``/``allow_decrease``
    the ``(D,)`` masks of :meth:`cftkit.Constraints.masks`.  Only group and binary columns change; where
    the snapped value would move a column against its mutability relative to the factual (an immutable
    group or column, or a binary column rounded against its direction) the factual's value is kept, for
    the whole group if any of its columns is affected.  Ties in a group go to its lowest column index.
    :meth:`cftkit.Constraints.decode_categorical` is the same rule in numpy.
    """
    factual = tf.cast(factual, x.dtype)
    groups = tf.cast(groups, x.dtype)
    finite = tf.clip_by_value(x, x.dtype.min, x.dtype.max)  # -inf would tie with the mask below
    masked = tf.where(groups[None] > 0, finite[:, None, :], tf.fill(tf.shape(groups[None] * x[:, None, :]), -np.inf))
    winner = tf.one_hot(tf.argmax(masked, axis=-1), tf.shape(x)[-1], dtype=x.dtype)  # (N, G, D)
    onehot = tf.reduce_sum(winner * groups[None], axis=1)
    in_group = tf.reduce_sum(groups, axis=0) > 0
    snapped = tf.where(in_group, onehot, x)
    snapped = tf.where(binary, tf.clip_by_value(tf.round(snapped), 0.0, 1.0), snapped)
    bad = ~(((snapped >= factual) | allow_decrease) & ((snapped <= factual) | allow_increase))
    group_bad = tf.matmul(tf.cast(bad, x.dtype), groups, transpose_b=True) > 0  # (N, G)
    keep = (tf.matmul(tf.cast(group_bad, x.dtype), groups) > 0) | (binary & bad)
    return tf.where(keep, factual, snapped)


def search_graph(model, generator, factual, target, *, lower, upper, allow_increase, allow_decrease,
                 max_steps, threshold, learning_rate, cost_weight, energy_weight, nascent_epsilon,
                 seed=None, return_path=False, n_classes=None, categorical=None):
    """The search as pure TensorFlow ops (call inside ``tf.function``/``train_step``).

    All arguments are tensors: ``factual`` (N, D) float32, ``target`` (N,) int32, ``lower``/``upper``
    (D,) float32, ``allow_increase``/``allow_decrease`` (D,) bool, ``cost_weight``/``energy_weight``
    (N,) float32, scalars for the rest; ``seed`` is a (2,) int32 stateless seed (REVISE only).
    ``categorical`` = ``(groups (G, D), binary (D,))`` projects one-hot groups and binary columns
    after every step with :func:`project_categorical` (test time,
    docs/method.md#mutability-and-categorical-features); ``None`` keeps them continuous (training).
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
        if categorical is None:
            return x
        return project_categorical(x, factual, *categorical, allow_increase, allow_decrease)

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
        # Steps 4–6 of docs/method.md#plain-gradient-descent-and-the-step-procedure:
        delta = tf.where(tf.math.is_finite(delta), delta, tf.zeros_like(delta))  # step 4: NaN guard
        if masks_state:  # step 5: mutability mask on Δ
            delta = tf.where(allow_increase, delta, tf.minimum(delta, 0.0))
            delta = tf.where(allow_decrease, delta, tf.maximum(delta, 0.0))
        delta = tf.where(active[:, None], delta, tf.zeros_like(delta))
        x_new = clamp(generator.decode(state + delta))  # step 6: domain projection
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
_PROBABILITY_OPS = {"Softmax": "softmax", "Sigmoid": "sigmoid"}  # keras.ops as the last op of a functional model
_ASSUMED_LOGITS: "weakref.WeakSet" = weakref.WeakSet()  # models whose outputs the user declared to be logits
_VERDICTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> None or the reason (probe result)


def _unwrap(model):
    inner = getattr(model, "classifier", None)  # cftkit.CounterfactualModel
    return _unwrap(inner) if isinstance(inner, keras.Model) else model


def _last_operation(model):
    """The operation that produces a functional model's only output (``None`` when unknown)."""
    outputs = getattr(model, "outputs", None) if isinstance(model, keras.Model) else None
    if not outputs or len(outputs) != 1:
        return None
    history = getattr(outputs[0], "_keras_history", None)
    return None if history is None else history[0]


def probability_output(model):
    """``"softmax"``/``"sigmoid"`` if a Keras model's *structure* turns logits into probabilities, else None.

    cftkit needs **logits**: the energy is −f(x)[y⁺] and every cross-entropy is computed from logits, so
    a model that ends in softmax would train and search on the wrong quantity without any error.
    Looks at the last layer (through nested models and :class:`cftkit.CounterfactualModel`) and at the
    last operation of a functional model (``keras.ops.softmax(...)`` as the output).  A subclassed model
    that applies softmax in ``call()`` has no visible structure: :func:`check_logits` also probes its
    outputs numerically.

    Example:
        >>> import keras
        >>> from cftkit.search import probability_output
        >>> probability_output(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")]))
        'softmax'
        >>> probability_output(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])) is None
        True
        >>> x = keras.Input((2,))
        >>> probability_output(keras.Model(x, keras.ops.softmax(keras.layers.Dense(2)(x))))
        'softmax'
    """
    model = _unwrap(model)
    if not isinstance(model, keras.Model):
        return None
    op = _last_operation(model)
    if op is not None and type(op).__name__ in _PROBABILITY_OPS:
        return _PROBABILITY_OPS[type(op).__name__]
    last = op if isinstance(op, keras.layers.Layer) else None
    if last is None:
        layers = getattr(model, "layers", None)
        last = layers[-1] if layers else None
    if last is None:
        return None
    if isinstance(last, keras.Model):
        return probability_output(last)
    if isinstance(last, keras.layers.Softmax):
        return "softmax"
    name = getattr(getattr(last, "activation", None), "__name__", None)
    return name if name in _PROBABILITY_ACTIVATIONS else None


def _probe_inputs(sample: np.ndarray) -> np.ndarray:
    """Inputs for the numeric check: some given rows plus seeded random rows at three scales.

    A logit model leaves [0, 1] somewhere on inputs of size 10–100; softmax rows sum to 1 and sigmoid
    outputs stay in [0, 1] on any input."""
    rng = np.random.default_rng(0)
    scale = float(np.max(np.abs(sample))) if sample.size else 1.0
    scale = scale if np.isfinite(scale) and scale > 0 else 1.0
    shape = sample.shape[1:]
    noise = [s * scale * rng.standard_normal((8,) + shape) for s in (1.0, 10.0, 100.0)]
    return np.concatenate([sample[:16]] + noise).astype(np.float32)


def looks_like_probabilities(outputs) -> str | None:
    """``"softmax"``/``"sigmoid"`` when ``(M, K)`` outputs behave like probabilities on a varied probe.

    Probabilities: every value in [0, 1] and either every row sums to 1 (softmax) or not (sigmoid); the
    outputs must vary across rows (a constant model says nothing).

    Example:
        >>> import numpy as np
        >>> from cftkit.search import looks_like_probabilities
        >>> looks_like_probabilities(np.array([[0.2, 0.8], [0.6, 0.4]]))
        'softmax'
        >>> looks_like_probabilities(np.array([[-3.0, 2.5], [0.6, 0.4]])) is None
        True
    """
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim != 2 or out.shape[0] < 2 or not np.all(np.isfinite(out)):
        return None
    if np.ptp(out, axis=0).max() <= 1e-6:
        return None  # constant outputs (e.g. zero weights): no evidence either way
    if out.min() < -1e-6 or out.max() > 1.0 + 1e-6:
        return None
    return "softmax" if np.allclose(out.sum(axis=1), 1.0, atol=1e-4) else "sigmoid"


def declare_logits(model):
    """Declare that ``model`` returns logits, overriding a false alarm of :func:`check_logits`.

    Every later check of this model object (search, training, evaluation, plots, widgets) accepts it.
    ``cftkit.search(..., assume_logits=True)`` and ``CounterfactualModel(..., assume_logits=True)``
    call this.  Returns the model.
    """
    _ASSUMED_LOGITS.add(model)
    _ASSUMED_LOGITS.add(_unwrap(model))
    return model


def _logits_problem(model, sample) -> str | None:
    """Why ``model`` seems to return probabilities (``None``: it returns logits as far as we can tell)."""
    if model in _ASSUMED_LOGITS or _unwrap(model) in _ASSUMED_LOGITS:
        return None
    act = probability_output(model)
    if act is not None:
        return (f"its output applies {act} (its last layer or operation): remove that activation (e.g. "
                f"Dense(K) instead of Dense(K, activation='{act}')) and apply softmax only to read probabilities")
    key = _unwrap(model)
    try:
        if key in _VERDICTS:
            return _VERDICTS[key]
    except TypeError:  # not weak-referenceable: no cache
        key = None
    verdict = None
    if sample is not None:
        try:
            out = model(tf.convert_to_tensor(_probe_inputs(np.asarray(sample, np.float32))), training=False)
            kind = looks_like_probabilities(out.numpy() if hasattr(out, "numpy") else out)
        except Exception:  # noqa: BLE001 - a model that cannot be probed is judged by its shapes elsewhere
            kind = None
        if kind is not None:
            verdict = (f"its outputs look like {kind} probabilities (all in [0, 1]"
                       f"{', rows summing to 1' if kind == 'softmax' else ''}, on a probe batch that includes "
                       f"inputs 100 times the data's scale), e.g. softmax or sigmoid applied in call(): return "
                       f"the logits instead")
    if key is not None:
        _VERDICTS[key] = verdict
    return verdict


def check_logits(model, name: str = "model", sample=None) -> None:
    """Raise a clear error when ``model`` returns probabilities (softmax/sigmoid) instead of logits.

    The structure is checked first (last layer, last op of a functional model); with ``sample`` (a few
    inputs of the right shape) the outputs are also probed numerically, once per model object, which
    catches softmax applied inside a subclassed model's ``call()``.  A false alarm is overridden with
    :func:`declare_logits` (or ``assume_logits=True`` in ``search``/``CounterfactualModel``).
    """
    problem = _logits_problem(model, sample)
    if problem is not None:
        raise ValueError(f"{name} must return logits, but {problem}. If it does return logits, pass "
                         f"assume_logits=True (or call cftkit.search.declare_logits(model)).")


def check_classifier(model, factuals: np.ndarray) -> int:
    """Call ``model`` on one factual and return its number of classes K (≥ 2), or raise."""
    if not callable(model):
        raise TypeError(f"model must be a keras.Model returning logits; got {type(model).__name__}")
    static = _static_classes(model, factuals.shape[1])
    check_logits(model, sample=factuals)
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
           categorical: bool = False, assume_logits: bool = False) -> SearchResult:
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
        seed: seed of stochastic generators (REVISE's encoder sampling), an int in [0, 2**31 − 1].
        categorical: project the constraints' declared one-hot groups (argmax) and declared
            ``binary_features`` (rounded to {0, 1}) after every step, so the search moves through valid
            categories only (test time, as the reference does when categorical features are declared);
            ``False`` treats them as continuous.  Nothing else is rounded (a feature whose domain
            happens to be [0, 1] stays continuous), and the projection keeps every constraint: an
            immutable group or column keeps the factual's value, and a binary column never moves against
            its direction (see :func:`project_categorical`).  Needs factuals whose groups are one-hot
            and whose binary columns are 0/1; otherwise a ``ValueError`` names the row and the group
            or column (:meth:`cftkit.Constraints.check_categorical`).
        assume_logits: skip the check that the model returns logits rather than probabilities (for a
            false alarm; see :func:`check_logits`); the model is then trusted everywhere (:func:`declare_logits`).

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
    seed = check_int(seed, "seed", minimum=0)  # stored as int32 in the stateless seed
    for flag, value in (("return_path", return_path), ("assume_logits", assume_logits)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{flag} must be a bool; got {value!r}")
    if assume_logits:
        declare_logits(model)
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
    if not isinstance(categorical, (bool, np.bool_)):
        raise TypeError(f"categorical must be a bool; got {categorical!r}")
    categorical = bool(categorical)
    if categorical:  # the projection snaps from valid categories only (before any model call or tracing)
        constraints.check_categorical(x, "factuals")
    # Without declared groups or binary columns the projection is the identity: search with the
    # continuous function, so that such a search shares its traced function with categorical=False.
    categorical = categorical and bool(constraints.categorical_groups or constraints.binary_features)
    k = check_classifier(model, x)
    y = as_labels(targets, "targets", n=n, n_classes=k)
    cw = check_weights(cost_weight, "cost_weight", n)
    ew = check_weights(energy_weight, "energy_weight", n)
    inc, dec = constraints.masks()
    fn = _compiled(model, gen, d, k, return_path, jit_compile, categorical)
    groups, binary = constraints.categorical_arrays()
    out = fn(tf.constant(x), tf.constant(y), tf.constant(constraints.lower), tf.constant(constraints.upper),
             tf.constant(inc), tf.constant(dec), tf.constant(max_steps, tf.int32), tf.constant(threshold, tf.float32),
             tf.constant(learning_rate, tf.float32), tf.constant(cw), tf.constant(ew),
             tf.constant(nascent_epsilon, tf.float32), tf.constant([seed, 0], tf.int32),
             tf.constant(groups), tf.constant(binary))
    out = {name: v.numpy() for name, v in out.items()}
    return SearchResult(counterfactual=out["counterfactual"], mature=out["mature"].astype(bool),
                        steps=out["steps"].astype(np.int64), nascent=out["nascent"],
                        already_valid=out["already_valid"].astype(bool), probability=out["probability"],
                        factual=x, target=y, path=out.get("path"))
