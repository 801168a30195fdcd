"""Counterfactual training: a ``keras.Model`` whose ``train_step`` implements the CT objective.

Per mini-batch b (docs/method.md#the-loss-of-one-mini-batch), with E(x, y⁺) = −f(x)[y⁺] and all
counterfactual-side tensors constant (stop-gradient):

    L_b = λ_clf·CE(f(X_b), Y_b)
        + λ_div·mean_i[E(x⁺_i) − E(x'_i)]            (contrastive divergence, "div")
        + λ_reg·mean_i[E(x⁺_i)² + E(x'_i)²]          (ridge on target logits, "reg")
        + λ_adv·mean_i CE(f(x_AE,i), y_i)            (nascent counterfactuals as adversarial examples)

Inside ``train_step`` and in one graph (docs/method.md#algorithm-1): draw this step's share of the
epoch's n_CE factuals (sampled without replacement from the whole training pool, split into #batches
contiguous chunks), targets uniformly from the classes other than the current prediction, one x⁺
per factual from the training points whose true label is the target; run the batched search
(ECCCo, T = 30, λ_cost = 0.001, λ_egy = 5) with the current weights; replace non-mature x' by x⁺;
protect features (step 9); the nascent counterfactual (‖Δ‖∞ ≤ ε) is the adversarial example,
labelled with the factual's true label.  A step whose loss is not finite, or whose update would leave
any weight, BatchNorm statistic or optimizer variable non-finite, is undone as a whole and counted in
``ct_skipped`` (docs/method.md#non-finite-updates).

``schedule="epoch"`` reproduces the reference code instead: counterfactuals are generated once per
epoch with frozen weights into a buffer and chunked over the batches (same loss code).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import defaults, generators as _generators
from ._tf import keras, tf
from ._validation import as_2d_float, as_labels, check_int, check_non_negative, check_probability
from .constraints import Constraints
from .search import check_logits, declare_logits, search_graph

#: Objective presets (docs/method.md#ablation-objectives): which of the CT terms are switched on.
OBJECTIVES = {
    "vanilla": {"div": False, "reg": False, "adv": False},  # BL: plain CE, no search
    "energy": {"div": True, "reg": True, "adv": False},  # CD
    "adversarial": {"div": False, "reg": False, "adv": True},  # AR (search still runs: AEs are nascent CEs)
    "full": {"div": True, "reg": True, "adv": True},  # CT
}
OBJECTIVE_ALIASES = {"bl": "vanilla", "baseline": "vanilla", "cd": "energy", "ar": "adversarial", "ct": "full"}
SCHEDULES = defaults.SCHEDULES

_HYPERPARAMETERS = {
    # name: (default, dtype, validator)
    "lambda_clf": (defaults.LAMBDA_CLF, tf.float32, "nonneg"),
    "lambda_div": (defaults.LAMBDA_DIV, tf.float32, "nonneg"),
    "lambda_reg": (defaults.LAMBDA_REG, tf.float32, "nonneg"),
    "lambda_adv": (defaults.LAMBDA_ADV, tf.float32, "nonneg"),
    "threshold": (defaults.THRESHOLD, tf.float32, "prob"),
    "max_steps": (defaults.TRAIN_MAX_STEPS, tf.int32, "int"),
    "search_learning_rate": (defaults.LEARNING_RATE, tf.float32, "nonneg"),
    "cost_weight": (defaults.TRAIN_COST_WEIGHT, tf.float32, "nonneg"),
    "energy_weight": (defaults.TRAIN_ENERGY_WEIGHT, tf.float32, "nonneg"),
    "adversarial_epsilon": (defaults.NASCENT_EPSILON, tf.float32, "nonneg"),
}


def resolve_objective(objective: str) -> str:
    if not isinstance(objective, str):
        raise TypeError(f"objective must be one of {sorted(OBJECTIVES)}; got {objective!r}")
    key = OBJECTIVE_ALIASES.get(objective.lower(), objective.lower())
    if key not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; expected one of {sorted(OBJECTIVES)} "
                         f"(aliases {sorted(OBJECTIVE_ALIASES)})")
    return key


def _class_indices(y, n_classes: int):
    """Training labels as class indices: ``(N,)``, ``(N, 1)`` or exact one-hot ``(N, K)``.

    Soft labels (rows that are not one-hot) and one-hot with the wrong K are errors, not argmax-ed.
    """
    arr = np.asarray(y)  # arrays, lists, pandas and eager tensors alike
    if arr.ndim == 2 and arr.shape[1] == 1:
        return arr.reshape(-1)
    if arr.ndim == 2:
        one_hot = arr.shape[1] == n_classes and bool(np.all((arr == 0) | (arr == 1))) and \
            bool(np.all(arr.sum(axis=1) == 1))
        if not one_hot:
            why = "" if arr.shape[1] != n_classes else " whose rows are not one-hot (soft labels are not supported)"
            raise ValueError(f"y must be class indices of shape (N,) or one-hot of shape (N, {n_classes}); "
                             f"got shape {arr.shape}{why}")
        return arr.argmax(axis=1)
    return arr


def _validate_hp(name, value):
    kind = _HYPERPARAMETERS[name][2]
    if kind == "prob":
        return check_probability(value, name)
    if kind == "int":
        return check_int(value, name, minimum=0)
    return check_non_negative(value, name)


def _unscale_for_distribution(value):
    """Undo Keras' 1/num_replicas loss scaling for reporting (as Keras' own train_step does)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return value * float(replicas) if replicas > 1 else value


def replace_non_mature(x_cf, x_plus, mature):
    """A non-mature counterfactual is replaced by its own x⁺ (docs/method.md#algorithm-1, step 7)."""
    return tf.where(mature[:, None], x_cf, x_plus)


def protect(x_cf, x_plus, immutable, increase_only, decrease_only):
    """Feature protection (docs/method.md#algorithm-1, step 9), modifying x⁺ feature by feature:
    immutable → x⁺[d] := x'[d]; increase-only → max(x'[d], x⁺[d]); decrease-only → min(x'[d], x⁺[d])."""
    x_plus = tf.where(immutable, x_cf, x_plus)
    x_plus = tf.where(increase_only, tf.maximum(x_cf, x_plus), x_plus)
    return tf.where(decrease_only, tf.minimum(x_cf, x_plus), x_plus)


def contrastive_divergence_and_ridge(e_plus, e_cf, weight, size):
    """div = Σ w·[E(x⁺) − E(x')]/size and ridge = Σ w·[E(x⁺)² + E(x')²]/size.

    The terms of docs/method.md#the-loss-of-one-mini-batch.

    ``size`` is the number of tuples of the batch; dividing sums by it (rather than taking a local
    mean) makes the replicas' summed gradients equal the single-device mean under tf.distribute.
    """
    div = tf.reduce_sum(weight * (e_plus - e_cf)) / size
    reg = tf.reduce_sum(weight * (tf.square(e_plus) + tf.square(e_cf))) / size
    return div, reg


def adversarial_loss(logits_ae, label, weight, size):
    """Σ w·CE(f(x_AE), y_true)/size: the nascent counterfactuals with the factuals' true labels."""
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(label, tf.int32),
                                                        logits=tf.cast(logits_ae, tf.float32))
    return tf.reduce_sum(weight * ce) / size


def _frozen_copy(model: keras.Model) -> keras.Model:
    """A non-trainable copy of a Keras model (same config and weights)."""
    config = dict(model.get_config())
    config.pop("trainable", None)  # built trainable, then frozen: the setter reaches every sublayer
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    copy.trainable = False
    return copy


def shuffle_order(seed, fit, epoch, n):
    """The order of ``n`` items (rows or batches) in epoch ``epoch`` of the ``fit``-th ``fit`` call.

    Stateless and drawn with Philox only (fold-in and integer keys): unlike float draws or the default
    algorithm, this gives the same bits in ``tf.data``, in plain graphs and under XLA, so the fused
    epochs and Keras' own loop see the same order.  Ties between keys are broken by position.

    Example:
        >>> import numpy as np
        >>> a = shuffle_order(0, 1, 0, 5).numpy()
        >>> sorted(a.tolist()), bool(np.array_equal(a, shuffle_order(0, 1, 0, 5).numpy()))
        ([0, 1, 2, 3, 4], True)
    """
    s = tf.stack([tf.cast(seed, tf.int32), tf.constant(0, tf.int32)])
    for part in (fit, epoch, 21):
        s = tf.random.experimental.stateless_fold_in(s, tf.cast(part, tf.int32), alg="philox")
    keys = tf.random.stateless_uniform(tf.reshape(tf.cast(n, tf.int32), [1]), s, minval=None, maxval=None,
                                       dtype=tf.int32, alg="philox")
    return tf.argsort(keys, stable=True)


class _StepClampedProgbar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar with the step number clamped to the known number of steps.

    Keras 3.15 reports the end of an execution of ``steps_per_execution`` steps as step
    ``begin + steps_per_execution - 1`` even when fewer batches were left (one batch of ``predict``
    with ``steps_per_execution=100`` shows "100/1" and a bar 100 times its width).
    """

    async_safe = True  # as safe as Keras' own progress bar, which is dispatched asynchronously too

    def _clamp(self, batch):
        return min(batch, self.target - 1) if self.target else batch

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(self._clamp(batch), logs)

    def on_test_batch_end(self, batch, logs=None):
        super().on_test_batch_end(self._clamp(batch), logs)

    def on_predict_batch_end(self, batch, logs=None):
        super().on_predict_batch_end(self._clamp(batch), logs)


def _python_numbers(value):
    """Scalars (tensors or numpy) inside evaluate's result as Python floats; other structures unchanged."""
    if isinstance(value, dict):
        return {k: _python_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_python_numbers(v) for v in value)
    if np.size(value) == 1 and not isinstance(value, (str, bytes)):
        return float(np.asarray(value))
    return value


def _with_clamped_progbar(callbacks, verbose):
    """``callbacks`` plus a :class:`_StepClampedProgbar` where Keras would add its own progress bar."""
    if verbose == 0 or isinstance(callbacks, keras.callbacks.CallbackList):
        return callbacks  # no bar, or Keras' own list (validation inside fit: its bar is silent there)
    callbacks = list(callbacks or [])
    if not any(isinstance(c, keras.callbacks.ProgbarLogger) for c in callbacks):
        callbacks.append(_StepClampedProgbar())
    return callbacks


def build_classifier(n_features: int, n_classes: int, hidden=(32,), *, activation="relu", seed=None,
                     name="classifier") -> keras.Model:
    """The paper's MLP: Dense(32, relu) → Dense(K) logits, Glorot-uniform, zero bias.

    See docs/method.md#classifier-and-optimiser.

    Example:
        >>> import cftkit
        >>> m = cftkit.build_classifier(2, 2)
        >>> m.output_shape
        (None, 2)
    """
    n_features = check_int(n_features, "n_features", minimum=1)
    n_classes = check_int(n_classes, "n_classes", minimum=2)
    layers = [keras.Input((n_features,))]
    for j, h in enumerate(hidden):
        init = keras.initializers.GlorotUniform(seed=None if seed is None else seed + j)
        layers.append(keras.layers.Dense(int(h), activation=activation, kernel_initializer=init))
    init = keras.initializers.GlorotUniform(seed=None if seed is None else seed + len(hidden))
    layers.append(keras.layers.Dense(n_classes, kernel_initializer=init, name="logits", dtype="float32"))
    return keras.Sequential(layers, name=name)


class _HyperParameters:
    """Plain holder (deliberately not tracked by Keras) of the tf.Variables read inside train_step."""

    def __init__(self, values: dict):
        self.vars = {k: tf.Variable(v, dtype=_HYPERPARAMETERS[k][1], trainable=False, name=k)
                     for k, v in values.items()}
        # Updated from replica context: under tf.distribute only the first replica's write counts.
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="ct_step",
                                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.steps_per_epoch = tf.Variable(1, dtype=tf.int64, trainable=False, name="ct_steps_per_epoch")
        self.start_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="ct_start_epoch")
        self.fit = tf.Variable(0, dtype=tf.int64, trainable=False, name="ct_fit")  # fit calls so far (shuffle seed)
        self.use = {k: tf.Variable(1.0, trainable=False, name=f"use_{k}") for k in ("div", "reg", "adv")}
        self.pool = None  # training pool variables, set by CounterfactualModel.set_training_pool
        self.epoch_samples = None  # (epochs, n_CE) factual indices, drawn by fit


@keras.saving.register_keras_serializable(package="cftkit")
class CounterfactualModel(keras.Model):
    """Wrap any Keras classifier that outputs logits and train it with counterfactual training.

    Args:
        classifier: a built ``keras.Model`` mapping ``(N, D)`` to ``(N, K)`` logits, K ≥ 2.
        objective: ``"full"`` (CT), ``"energy"`` (CD), ``"adversarial"`` (AR) or ``"vanilla"`` (BL).
        constraints: :class:`cftkit.Constraints` used by the search (domain, mutability) and for
            feature protection; ``None`` = unbounded, all features mutable.
        n_ce: counterfactuals per epoch (n_CE), spread over the epoch's batches.
        schedule: ``"step"`` (default: on the fly in every ``train_step`` with the current weights)
            or ``"epoch"`` (the reference code: once per epoch with frozen weights into a buffer).
        generator: search generator (default ECCCo).
        burnin: fraction of each ``fit``'s epochs trained with the classification loss only.
        seed: seeds every random draw in the step (factuals, targets, x⁺).
        lambda_clf, lambda_div, lambda_reg, lambda_adv, threshold, max_steps, search_learning_rate,
        cost_weight, energy_weight, adversarial_epsilon: hyperparameters held in ``tf.Variable``s, so
            changing them between ``fit`` calls (``model.lambda_div = 0.1``) takes effect without
            recompiling.
        assume_logits: skip the check that ``classifier`` returns logits (structure and a numeric
            probe), for a false alarm; see :func:`cftkit.search.check_logits`.

    Labels ``y`` are integer class indices.  ``fit`` on arrays sets the training pool the factuals
    and x⁺ are drawn from; for ``tf.data`` inputs call :meth:`set_training_pool` first.

    Example:
        >>> import cftkit
        >>> ds = cftkit.datasets.load("moons")
        >>> clf = cftkit.build_classifier(2, 2, seed=0)
        >>> model = cftkit.CounterfactualModel(clf, constraints=ds.constraints, n_ce=100, threshold=0.9)
        >>> model.compile(metrics=["accuracy"])
        >>> h = model.fit(ds.x_train[:300], ds.y_train[:300], batch_size=30, epochs=1, verbose=0)
        >>> sorted(k for k in h.history if k.startswith("ct_"))
        ['ct_adv', 'ct_clf', 'ct_div', 'ct_maturity', 'ct_reg', 'ct_search_steps', 'ct_skipped']
    """

    def __init__(self, classifier, *, objective="full", constraints: Constraints | None = None,
                 n_ce: int = 1000, schedule: str = "step", generator="eccco", burnin: float = 0.0, seed: int = 0,
                 lambda_clf=defaults.LAMBDA_CLF, lambda_div=defaults.LAMBDA_DIV, lambda_reg=defaults.LAMBDA_REG,
                 lambda_adv=defaults.LAMBDA_ADV, threshold=defaults.THRESHOLD, max_steps=defaults.TRAIN_MAX_STEPS,
                 search_learning_rate=defaults.LEARNING_RATE, cost_weight=defaults.TRAIN_COST_WEIGHT,
                 energy_weight=defaults.TRAIN_ENERGY_WEIGHT, adversarial_epsilon=defaults.NASCENT_EPSILON,
                 assume_logits: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(classifier, keras.Model):
            raise TypeError(f"classifier must be a keras.Model returning logits; got {type(classifier).__name__}")
        if not classifier.built or not getattr(classifier, "inputs", None):
            raise ValueError("classifier must be built with a known input shape (e.g. keras.Input((D,)) first)")
        in_shape = tuple(classifier.inputs[0].shape)
        out_shape = tuple(classifier.outputs[0].shape)
        if len(in_shape) != 2 or in_shape[1] is None:
            raise ValueError(f"classifier must take (N, D) inputs; its input shape is {in_shape}")
        if len(out_shape) != 2 or out_shape[1] is None or out_shape[1] < 2:
            raise ValueError(f"classifier must return (N, K) logits with K >= 2; its output shape is {out_shape}")
        if not isinstance(assume_logits, (bool, np.bool_)):
            raise TypeError(f"assume_logits must be a bool; got {assume_logits!r}")
        self.assume_logits = bool(assume_logits)
        if self.assume_logits:
            declare_logits(classifier)
        # Structure first, then a numeric probe (softmax inside a subclassed call() has no structure).
        check_logits(classifier, "classifier", sample=np.zeros((1,) + in_shape[1:], np.float32))
        self.classifier = classifier
        self.n_features = int(in_shape[1])
        self.n_classes = int(out_shape[1])
        self._objective = resolve_objective(objective)
        if constraints is None:
            constraints = Constraints(n_features=self.n_features)
        if not isinstance(constraints, Constraints):
            raise TypeError(f"constraints must be a cftkit.Constraints; got {type(constraints).__name__}")
        if constraints.n_features != self.n_features:
            raise ValueError(f"constraints describe {constraints.n_features} features; the classifier takes "
                             f"{self.n_features}")
        self.constraints = constraints
        self.n_ce = check_int(n_ce, "n_ce", minimum=1)
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; expected one of {SCHEDULES}")
        self.schedule = schedule
        self.generator = _generators.get(generator)
        self.generator.check_inputs(np.zeros((1, self.n_features), np.float32))
        vae = getattr(self.generator, "vae", None)
        if isinstance(vae, keras.Model) and hasattr(self.generator, "with_vae"):
            # REVISE: own a frozen copy of the VAE, so that its weights are saved with this model
            # (and a .keras file loads on its own) while the caller's VAE stays untouched.
            self.revise_vae = _frozen_copy(vae)
            self.generator = self.generator.with_vae(self.revise_vae)
        self.burnin = float(burnin)
        if not 0.0 <= self.burnin < 1.0:
            raise ValueError(f"burnin must be a fraction in [0, 1); got {burnin}")
        self.seed = check_int(seed, "seed", minimum=0)
        values = dict(lambda_clf=lambda_clf, lambda_div=lambda_div, lambda_reg=lambda_reg, lambda_adv=lambda_adv,
                      threshold=threshold, max_steps=max_steps, search_learning_rate=search_learning_rate,
                      cost_weight=cost_weight, energy_weight=energy_weight, adversarial_epsilon=adversarial_epsilon)
        values = {k: _validate_hp(k, v) for k, v in values.items()}
        self._hp = _HyperParameters(values)
        self._set_objective_flags()
        self._chunk = None  # static per-step chunk size, fixed when fit knows #batches
        self._fused = None  # shuffle mode when the train_function runs whole epochs (see fit), else None
        self._buffer = None
        inc, dec = constraints.masks()
        self._c_lower = tf.constant(constraints.lower)
        self._c_upper = tf.constant(constraints.upper)
        self._c_inc = tf.constant(inc)
        self._c_dec = tf.constant(dec)
        mut = np.array(constraints.mutability)
        self._p_none = tf.constant(mut == "none")
        self._p_inc = tf.constant(mut == "increase")
        self._p_dec = tf.constant(mut == "decrease")
        self.clf_tracker = keras.metrics.Mean(name="ct_clf")
        self.div_tracker = keras.metrics.Mean(name="ct_div")
        self.reg_tracker = keras.metrics.Mean(name="ct_reg")
        self.adv_tracker = keras.metrics.Mean(name="ct_adv")
        self.maturity_tracker = keras.metrics.Mean(name="ct_maturity")
        self.steps_tracker = keras.metrics.Mean(name="ct_search_steps")
        self.skipped_tracker = keras.metrics.Sum(name="ct_skipped")
        self.build((None, self.n_features))

    # ------------------------------------------------------------------ Keras plumbing
    def build(self, input_shape=None):
        self.built = True

    def call(self, inputs, training=False):
        return self.classifier(inputs, training=training)

    def compile(self, optimizer=None, loss=None, **kwargs):
        """``keras.Model.compile`` with the paper's defaults: Adam(1e-3, ε = 1e-8), logit cross-entropy."""
        if optimizer is None:
            optimizer = keras.optimizers.Adam(defaults.ADAM_LEARNING_RATE, epsilon=defaults.ADAM_EPSILON)
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15 reduces the first distributed batch with strategy.reduce("MEAN") just to learn its
        # shapes; under MultiWorkerMirroredStrategy that collective fails on PerReplica values.  The
        # shapes of one local replica's batch are all the symbolic build needs.
        strategy = self.distribute_strategy
        if iterator is not None and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues) else v, batch)
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def compile_from_config(self, config):
        """Restore ``compile`` on load (our ``compile`` only fills defaults, so replay it)."""
        from keras.src.saving import serialization_lib

        self.compile(**serialization_lib.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def get_config(self):
        generator = self.generator.get_config()
        if getattr(self, "revise_vae", None) is not None:
            generator["vae"] = keras.saving.serialize_keras_object(self.revise_vae)
        config = {"classifier": keras.saving.serialize_keras_object(self.classifier), "objective": self._objective,
                  "constraints": self.constraints.get_config(), "n_ce": self.n_ce, "schedule": self.schedule,
                  "generator": generator, "burnin": self.burnin, "seed": self.seed, "name": self.name,
                  "assume_logits": self.assume_logits}
        config.update(self.hyperparameters)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        classifier = keras.saving.deserialize_keras_object(config.pop("classifier"), custom_objects=custom_objects)
        constraints = Constraints.from_config(config.pop("constraints"))
        gen = config.pop("generator")
        gen_name = gen.pop("name")
        if gen_name in ("generic", "eccco"):
            generator = _generators._REGISTRY[gen_name](**gen)
        elif gen_name == "revise" and "vae" in gen:  # the VAE's weights load with this model's weights
            from .revise import REVISEGenerator

            vae = keras.saving.deserialize_keras_object(gen.pop("vae"), custom_objects=custom_objects)
            generator = REVISEGenerator.from_config(gen, vae)
        else:
            generator = gen_name
        return cls(classifier, constraints=constraints, generator=generator, **config)

    # ------------------------------------------------------------------ hyperparameters
    @property
    def objective(self) -> str:
        return self._objective

    @objective.setter
    def objective(self, value):
        """Switch objective between ``fit`` calls (e.g. fine-tune a trained BL model with CT)."""
        self._objective = resolve_objective(value)
        self._set_objective_flags()
        self.train_function = None

    def _set_objective_flags(self):
        for term, on in OBJECTIVES[self._objective].items():
            self._hp.use[term].assign(1.0 if on else 0.0)

    @property
    def hyperparameters(self) -> dict:
        """Current values of the variables read by ``train_step``."""
        return {k: (int(v.numpy()) if v.dtype == tf.int32 else float(v.numpy())) for k, v in self._hp.vars.items()}

    def set_hyperparameters(self, **values):
        """Assign hyperparameters (validated); they take effect on the next step, without recompiling."""
        for k, v in values.items():
            if k not in _HYPERPARAMETERS:
                raise ValueError(f"unknown hyperparameter {k!r}; expected one of {sorted(_HYPERPARAMETERS)}")
            self._hp.vars[k].assign(_validate_hp(k, v))

    @property
    def needs_counterfactuals(self) -> bool:
        return self._objective != "vanilla"

    # ------------------------------------------------------------------ training pool
    def set_training_pool(self, x, y):
        """Set the data factuals and target samples x⁺ are drawn from (the whole training set)."""
        self._assign_pool(self._pool_arrays(x, y))

    def _pool_arrays(self, x, y) -> dict:
        """The training pool's arrays, validated (nothing about the model changes here)."""
        x = as_2d_float(x, "x", n_features=self.n_features)
        y = as_labels(_class_indices(y, self.n_classes), "y", n=x.shape[0], n_classes=self.n_classes)
        present = np.bincount(y, minlength=self.n_classes)
        if (present > 0).sum() < 2:
            raise ValueError(f"y must contain at least two classes for counterfactual training; got only {np.unique(y)}")
        order = np.argsort(y, kind="stable").astype(np.int32)
        starts = np.concatenate([[0], np.cumsum(present)[:-1]]).astype(np.int32)
        return {"x": x, "y": y, "order": order, "class_start": starts, "class_count": present.astype(np.int32)}

    def _assign_pool(self, arrays: dict):
        pool = self._hp.pool
        if pool is not None and all(pool[k].shape == v.shape for k, v in arrays.items()):
            for k, v in arrays.items():  # same shapes: new values, no retrace
                pool[k].assign(v)
        else:  # the pool is captured by the traced step: a new shape needs a new trace
            self._hp.pool = {k: tf.Variable(v, trainable=False, name=f"pool_{k}") for k, v in arrays.items()}
            self.train_function = None

    @property
    def _pool(self):
        return self._hp.pool

    @property
    def _pool_size(self) -> int:
        return 0 if self._hp.pool is None else int(self._hp.pool["x"].shape[0])

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, steps_per_epoch=None, fuse_epochs="auto", **kwargs):
        """``keras.Model.fit``; on arrays it also sets the training pool and #batches per epoch.

        Every argument is checked before anything about the model changes (training pool, epoch
        samples, traced functions): a ``fit`` that raises leaves the model as it was.

        ``shuffle`` (True, False, "batch"; array inputs): True permutes the rows every epoch, "batch" the
        order of the batches (each batch keeps its rows).  The order is drawn from the model's ``seed``,
        the number of ``fit`` calls so far and the epoch (:func:`shuffle_order`), so it is the same in
        every process and on both code paths below; Keras' own, unseeded shuffle is not used.

        ``fuse_epochs`` ("auto", True, False): run each epoch as one compiled program when the inputs
        allow it (in-memory arrays in equal batches, ``steps_per_execution`` ≥ batches per epoch, no
        ``tf.distribute`` strategy; see :meth:`_fused_mode`).  The progress bar then counts one
        step per epoch; the training itself is unchanged.
        """
        self._assert_compile_called("fit")
        if fuse_epochs not in ("auto", True, False):
            raise ValueError(f"fuse_epochs must be 'auto', True or False; got {fuse_epochs!r}")
        if not isinstance(shuffle, (bool, np.bool_)) and not (isinstance(shuffle, str) and shuffle == "batch"):
            raise ValueError(f"shuffle must be True, False or 'batch'; got {shuffle!r}")
        shuffle = "batch" if isinstance(shuffle, str) else bool(shuffle)
        if batch_size is not None:
            batch_size = check_int(batch_size, "batch_size", minimum=1)
        epochs = check_int(epochs, "epochs", minimum=0)
        if steps_per_epoch is not None:
            steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch", minimum=1)
        if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) or \
                not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be a fraction in [0, 1); got {validation_split!r}")
        is_array = x is not None and not isinstance(x, tf.data.Dataset) and hasattr(x, "__len__")
        split = bool(validation_split) and validation_data is None  # Keras: validation_data wins
        if split and not is_array:
            raise ValueError("validation_split needs in-memory arrays x and y; give validation_data instead")
        self._check_validation_data(validation_data)
        pool = None
        if is_array:
            if y is None:
                raise ValueError("y must be given when x is an array")
            x, y = self._check_xy(x, y)  # Keras' loss below gets the same indices as the pool
            n = x.shape[0]
            n_fit = int(math.floor(n * (1.0 - validation_split))) if split else n
            if n_fit < 1:
                raise ValueError(f"validation_split={validation_split} leaves none of the {n} rows of x to train on")
            sample_weight = kwargs.get("sample_weight")
            if sample_weight is not None and (np.ndim(sample_weight) < 1 or len(sample_weight) != n):
                raise ValueError(f"sample_weight must have one entry per row of x ({n}); got shape "
                                 f"{np.shape(sample_weight)}")
            pool = self._pool_arrays(x[:n_fit], y[:n_fit])
            spe = steps_per_epoch or int(math.ceil(n_fit / (batch_size or 32)))
            pool_size = n_fit
        else:
            if self._pool is None and self.needs_counterfactuals:
                raise ValueError("for tf.data inputs call model.set_training_pool(x, y) before fit")
            spe = steps_per_epoch
            if spe is None and isinstance(x, tf.data.Dataset):
                card = int(x.cardinality().numpy())
                spe = card if card > 0 else None
            if spe is None:
                raise ValueError("steps_per_epoch is needed: the dataset's number of batches is unknown")
            pool_size = None if self._pool is None else self._pool_size
        plan = self._epoch_plan(int(spe), pool_size)
        mode = self._fused_mode(x, is_array, batch_size, validation_split, shuffle, steps_per_epoch, kwargs,
                                fuse_epochs)
        # Everything is valid: from here on the model changes.
        if pool is not None:
            self._assign_pool(pool)
        self._configure_epoch(plan, epochs)
        if mode != self._fused:
            self.train_function = None
        self._fused = mode
        if is_array and batch_size is not None and (validation_data is not None or split):
            kwargs.setdefault("validation_batch_size", batch_size)  # batch_size is not passed on below
        if mode is not None:  # one element per epoch: the whole epoch, batched along axis 0
            x, y, batch_size, shuffle = self._fused_epoch_data(x, y, batch_size), None, None, False
        elif is_array and shuffle:  # Keras' loop on a seeded, reshuffled-every-epoch tf.data pipeline
            if split:
                val = (x[n_fit:], y[n_fit:])
                if kwargs.get("sample_weight") is not None:
                    val += (np.asarray(kwargs["sample_weight"])[n_fit:],)
                validation_data, validation_split = val, 0.0
            weights = kwargs.pop("sample_weight", None)
            weights = None if weights is None else np.asarray(weights)[:n_fit]
            x, y = self._shuffled_data(x[:n_fit], y[:n_fit], weights, batch_size or 32, shuffle), None
            batch_size, shuffle, steps_per_epoch = None, False, int(spe)
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                           callbacks=_with_clamped_progbar(callbacks, verbose), validation_split=validation_split,
                           validation_data=validation_data, shuffle=shuffle, steps_per_epoch=steps_per_epoch,
                           **kwargs)

    def _check_xy(self, x, y):
        """``x`` as float32 ``(N, D)`` and ``y`` as int32 class indices of the same length, or raise."""
        x = as_2d_float(x, "x", n_features=self.n_features)
        y = as_labels(_class_indices(y, self.n_classes), "y", n_classes=self.n_classes)
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"x and y must have the same number of rows; got {x.shape[0]} rows in x and "
                             f"{y.shape[0]} labels in y")
        return x, y

    def _check_validation_data(self, data):
        """Shapes of array ``validation_data`` (Keras would only look at them after the first epoch)."""
        if data is None or isinstance(data, tf.data.Dataset) or not isinstance(data, (tuple, list)):
            return
        if len(data) not in (2, 3):
            raise ValueError(f"validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight_val); got a "
                             f"{type(data).__name__} of length {len(data)}")
        if not all(hasattr(v, "__len__") for v in data):
            return
        xv = np.asarray(data[0])
        if xv.ndim != 2 or xv.shape[1] != self.n_features:
            raise ValueError(f"validation_data's x must have shape (N, {self.n_features}); got shape {xv.shape}")
        for what, v in zip(("y", "sample_weight"), data[1:]):
            if np.ndim(v) < 1 or len(v) != xv.shape[0]:
                raise ValueError(f"validation_data's {what} must have one entry per row of its x ({xv.shape[0]}); "
                                 f"got shape {np.shape(v)}")

    def _shuffled_data(self, x, y, sample_weight, batch_size, shuffle):
        """Batches of ``(x, y[, sample_weight])`` for Keras' loop, in the order of :func:`shuffle_order`.

        One pass per epoch, endlessly (``fit`` gives Keras ``steps_per_epoch``); epoch e of this fit uses
        the same order as a fused epoch e would.  The arrays enter the pipeline once, as one element.
        """
        n, bs = int(x.shape[0]), int(batch_size)
        nb = int(math.ceil(n / bs))
        seed, fit = self.seed, self._fit_count

        def epoch_batches(epoch):
            if shuffle == "batch":
                starts = tf.cast(shuffle_order(seed, fit, epoch, nb), tf.int64) * bs
                return tf.data.Dataset.from_tensor_slices(starts).map(
                    lambda s: tf.range(s, tf.minimum(s + bs, n), dtype=tf.int64))
            order = tf.cast(shuffle_order(seed, fit, epoch, n), tf.int64)
            return tf.data.Dataset.range(nb).map(lambda j: order[j * bs:tf.minimum(j * bs + bs, n)])

        arrays = (x, y) if sample_weight is None else (x, y, sample_weight)
        indices = tf.data.Dataset.counter().flat_map(epoch_batches)
        data = tf.data.Dataset.zip((indices, tf.data.Dataset.from_tensors(arrays).repeat()))
        data = data.map(lambda idx, arrs: tuple(tf.gather(a, idx) for a in arrs), num_parallel_calls=tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.experimental_optimization.apply_default_optimizations = False
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return data.with_options(options).prefetch(tf.data.AUTOTUNE)

    def _fused_mode(self, x, is_array, batch_size, validation_split, shuffle, steps_per_epoch, kwargs, fuse_epochs):
        """The shuffle mode of fused epochs ("rows", "batch", "none"), or ``None`` for Keras' own loop.

        Keras' loop pays ~0.4 ms per step at batch 30 (iterator, cond and launch of the compiled step)
        and ~10 ms per ``tf.data`` iterator (two per epoch), far more than a 2-D CT step computes
        (~0.1 ms under XLA).  When the data are in-memory arrays that split into equal batches and
        ``steps_per_execution`` already covers an epoch (one call per epoch, so callbacks see the
        same), the epoch runs as one ``tf.while_loop`` over the batches instead: the same steps in the
        same order (shuffled as on Keras' loop, by :func:`shuffle_order`).  Raises when
        ``fuse_epochs=True`` and the inputs do not allow it.
        """
        if fuse_epochs is False:
            return None
        bs = batch_size or 32
        n = len(x) if is_array else 0
        reasons = []
        if not is_array:
            reasons.append("x is not an in-memory array")
        elif n % bs:
            reasons.append(f"{n} rows do not split into batches of {bs}")
        if validation_split:
            reasons.append("validation_split is set")
        if steps_per_epoch is not None:
            reasons.append("steps_per_epoch is set")
        if kwargs.get("sample_weight") is not None or kwargs.get("class_weight") is not None:
            reasons.append("sample or class weights are given")
        if self.run_eagerly:
            reasons.append("the model runs eagerly")
        if self._distribute_strategy is not None or tf.distribute.has_strategy():
            reasons.append("a tf.distribute strategy is active")
        spe = getattr(self, "steps_per_execution", 1) or 1
        if is_array and not reasons and spe < n // bs:
            reasons.append(f"steps_per_execution ({spe}) is below the {n // bs} batches "
                           "of an epoch")
        if reasons:
            if fuse_epochs is True:
                raise ValueError("fuse_epochs=True needs in-memory arrays in equal batches, steps_per_execution "
                                 ">= batches per epoch and no strategy; here " + "; ".join(reasons))
            return None
        return "batch" if shuffle == "batch" else ("rows" if shuffle else "none")

    def _fused_epoch_data(self, x, y, batch_size):
        """The dataset of fused epochs: one element, the whole epoch as ``(batches, batch_size, ...)``."""
        bs = batch_size or 32
        if np.issubdtype(x.dtype, np.floating):
            x = x.astype(keras.backend.floatx(), copy=False)  # no copy of float32 data (MNIST: 6 MB)
        nb = x.shape[0] // bs
        # Build metrics and the optimizer now: the epoch's while loop must not create variables.
        self._symbolic_build(data_batch=(x[:bs], y[:bs]))
        xs = tf.constant(x.reshape((nb, bs) + x.shape[1:]))
        ys = tf.constant(y.reshape((nb, bs) + y.shape[1:]))
        # A bare from_tensors dataset: ~0.5 ms per iterator (Keras makes two per epoch).
        options = tf.data.Options()
        options.experimental_optimization.apply_default_optimizations = False
        options.autotune.enabled = False
        return tf.data.Dataset.from_tensors((xs, ys)).with_options(options)

    def make_train_function(self, force=False):
        """Keras' train function, or with fused epochs one program per epoch (see :meth:`fit`)."""
        if self._fused is None:
            return super().make_train_function(force=force)
        if self.train_function is not None and not force:
            return self.train_function

        mode = self._fused

        @tf.autograph.experimental.do_not_convert
        def run_epoch(xs, ys):
            nb, bs = tf.shape(xs)[0], tf.shape(xs)[1]
            if mode != "none":  # shuffle in the program: stateless, XLA-friendly, the order of Keras' loop
                epoch = self._hp.step // self._hp.steps_per_epoch  # of this fit (the step count starts at 0)
                if mode == "batch":
                    order = shuffle_order(self.seed, self._hp.fit, epoch, nb)
                    xs, ys = tf.gather(xs, order), tf.gather(ys, order)
                else:
                    order = shuffle_order(self.seed, self._hp.fit, epoch, nb * bs)
                    flat = lambda a: tf.reshape(a, tf.concat([[nb * bs], tf.shape(a)[2:]], 0))
                    xs = tf.reshape(tf.gather(flat(xs), order), tf.shape(xs))
                    ys = tf.reshape(tf.gather(flat(ys), order), tf.shape(ys))

            def body(j):
                logs = self.train_step((xs[j], ys[j]))
                with tf.control_dependencies(tf.nest.flatten(logs)):
                    return j + 1

            tf.while_loop(lambda j: j < nb, body, [tf.constant(0)])
            return self.get_metrics_result()

        run_epoch = tf.function(run_epoch, jit_compile=bool(self.jit_compile), reduce_retracing=True)

        def function(iterator):
            xs, ys = next(iterator)
            return run_epoch(xs, ys)

        self.train_function = function
        return function

    def _epoch_plan(self, steps_per_epoch: int, pool_size: int | None) -> tuple:
        """``(chunk, local chunk, n_CE, #batches)`` of an epoch, or raise (nothing changes here)."""
        n_batches = max(1, steps_per_epoch)
        n_ce = max(self.n_ce, n_batches)  # n_CE is raised to #batches (docs/method.md#algorithm-1, step 2)
        if pool_size is not None and self.needs_counterfactuals and n_ce > pool_size:
            raise ValueError(f"n_ce={n_ce} exceeds the training size ({pool_size}): factuals are drawn "
                             f"without replacement (lower n_ce)")
        if pool_size is not None:
            n_ce = min(n_ce, pool_size)  # only reached by vanilla models, which draw nothing
        chunk = int(math.ceil(n_ce / n_batches))
        replicas = self.distribute_strategy.num_replicas_in_sync
        if self.schedule == "epoch" and replicas > 1:
            raise ValueError("schedule='epoch' (the reference's per-epoch buffer) runs on one replica only; "
                             "use schedule='step' under a multi-replica tf.distribute strategy")
        local = int(math.ceil(chunk / replicas))
        return chunk, local, n_ce, n_batches

    def _configure_epoch(self, key: tuple, epochs: int):
        """Set up this fit's epochs from :meth:`_epoch_plan`'s ``key`` (after all validation)."""
        chunk, local, n_ce, n_batches = key
        self._fit_count = getattr(self, "_fit_count", 0) + 1
        self._hp.fit.assign(self._fit_count)
        if key != self._chunk:
            self._chunk = key
            self.train_function = None
            if self.schedule == "epoch":
                self._make_buffer(n_ce)
        self._hp.steps_per_epoch.assign(n_batches)
        self._hp.step.assign(0)
        self._hp.start_epoch.assign(int(round(self.burnin * epochs)))
        if self._pool is not None:
            self._draw_epoch_samples(epochs, n_ce)

    def _draw_epoch_samples(self, epochs: int, n_ce: int):
        """Step 2 of Algorithm 1 for every epoch of this fit, drawn up front on the host: each row holds
        the epoch's n_CE factual indices, sampled without replacement from the pool.  (Sorting inside
        every train_step cost more than the search itself on small data.)"""
        rng = np.random.default_rng([self.seed, self._fit_count])
        n = self._pool_size
        rows = np.stack([rng.permutation(n)[:n_ce] for _ in range(max(1, epochs))]).astype(np.int32)
        var = self._hp.epoch_samples
        # Rows past this fit's epochs are never read (the step indexes epoch < epochs): zeros suffice.
        capacity = 0 if var is None else int(var.shape[0])
        grow = var is None or var.shape[1] != n_ce or capacity < rows.shape[0]
        full = np.zeros((max(rows.shape[0], 100) if grow else capacity, n_ce), np.int32)
        full[: rows.shape[0]] = rows
        if grow:  # a new shape is captured by a new trace
            self._hp.epoch_samples = tf.Variable(full, trainable=False, name="ct_epoch_samples")
            self.train_function = None
        else:
            var.assign(full)

    def _make_buffer(self, n_ce):
        d = self.n_features
        self._buffer = {
            "x_cf": tf.Variable(tf.zeros([n_ce, d]), trainable=False), "x_plus": tf.Variable(tf.zeros([n_ce, d]),
                                                                                             trainable=False),
            "x_ae": tf.Variable(tf.zeros([n_ce, d]), trainable=False),
            "target": tf.Variable(tf.zeros([n_ce], tf.int32), trainable=False),
            "label": tf.Variable(tf.zeros([n_ce], tf.int32), trainable=False),
            "mature": tf.Variable(tf.zeros([n_ce], tf.bool), trainable=False),
            "steps": tf.Variable(tf.zeros([n_ce], tf.int32), trainable=False),
        }

    # ------------------------------------------------------------------ counterfactual side (graph code)
    def _seed(self, *parts):
        s = tf.constant([self.seed, 0], tf.int32)
        for p in parts:
            s = tf.random.experimental.stateless_fold_in(s, tf.cast(p, tf.int32))
        return s

    def generate_counterfactuals(self, factual, label, u_target, u_plus, seed=0):
        """Counterfactual tuples for factuals (graph code, also usable outside ``fit``).

        ``u_target`` and ``u_plus`` are U(0, 1) draws, one per factual, that pick the target and x⁺
        (drawn per *position* by the caller, so the result does not depend on the replica count).
        Returns ``x_cf`` (non-mature replaced by x⁺), ``x_plus`` (protected), ``x_ae`` (nascent),
        ``target``, ``label``, ``mature`` and ``steps`` — all stop-gradient (docs/method.md#algorithm-1, steps 3–9).
        """
        hp = self._hp.vars
        pool = self._pool
        k = self.n_classes
        logits = tf.cast(self.classifier(factual, training=False), tf.float32)
        pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
        # Step 3: target uniformly among the classes other than the current prediction.
        shift = 1 + tf.minimum(tf.cast(tf.floor(u_target * (k - 1)), tf.int32), k - 2)
        target = (pred + shift) % k
        # Step 5: x⁺ uniformly from the training points whose true label is the target.
        count = tf.gather(pool["class_count"], target)
        offset = tf.minimum(tf.cast(tf.floor(u_plus * tf.cast(count, tf.float32)), tf.int32), count - 1)
        x_plus = tf.gather(pool["x"], tf.gather(pool["order"], tf.gather(pool["class_start"], target) + offset))
        n = tf.shape(factual)[0]
        res = search_graph(self.classifier, self.generator, factual, target, lower=self._c_lower,
                           upper=self._c_upper, allow_increase=self._c_inc, allow_decrease=self._c_dec,
                           max_steps=hp["max_steps"], threshold=hp["threshold"],
                           learning_rate=hp["search_learning_rate"], cost_weight=tf.fill([n], hp["cost_weight"]),
                           energy_weight=tf.fill([n], hp["energy_weight"]),
                           nascent_epsilon=hp["adversarial_epsilon"], seed=self._seed(seed, 3), n_classes=k)
        # Step 7: non-mature counterfactuals are replaced by their own x⁺ (div term 0).
        x_cf = replace_non_mature(res["counterfactual"], x_plus, res["mature"])
        # Step 9: feature protection.
        x_plus = protect(x_cf, x_plus, self._p_none, self._p_inc, self._p_dec)
        out = {"x_cf": x_cf, "x_plus": x_plus, "x_ae": res["nascent"], "target": target, "label": label,
               "mature": res["mature"], "steps": res["steps"]}
        return {key: tf.stop_gradient(v) for key, v in out.items()}

    def _chunk_positions(self, i):
        """Positions (in the epoch's n_CE sample) of this replica's share of chunk i, and their mask."""
        chunk, local, n_ce, n_batches = self._chunk
        base, rem = n_ce // n_batches, n_ce % n_batches
        size = base + tf.cast(i < rem, tf.int64)
        start = i * base + tf.minimum(i, tf.cast(rem, tf.int64))
        ctx = tf.distribute.get_replica_context()
        rid = tf.cast(ctx.replica_id_in_sync_group if ctx is not None else 0, tf.int64)
        offs = rid * local + tf.range(local, dtype=tf.int64)
        valid = offs < size
        pos = tf.minimum(start + offs, n_ce - 1)
        return pos, offs, valid, size

    def _epoch_sample(self, epoch):
        """The epoch's n_CE factual indices (drawn in :meth:`_draw_epoch_samples`)."""
        samples = self._hp.epoch_samples
        return tf.gather(samples, epoch % tf.cast(tf.shape(samples)[0], epoch.dtype))

    def _step_counterfactuals(self, i, epoch):
        pos, offs, valid, size = self._chunk_positions(i)
        pool = self._pool
        n_ce = self._chunk[2]
        if self.schedule == "epoch":
            buf = self._buffer

            def refill():
                idx = self._epoch_sample(epoch)
                out = self.generate_counterfactuals(
                    tf.gather(pool["x"], idx), tf.gather(pool["y"], idx),
                    tf.random.stateless_uniform([n_ce], self._seed(epoch, 11)),
                    tf.random.stateless_uniform([n_ce], self._seed(epoch, 12)), epoch)
                return tf.group(*[buf[key].assign(v) for key, v in out.items()])

            with tf.control_dependencies([tf.cond(tf.equal(i, 0), refill, tf.no_op)]):
                tuples = {key: tf.gather(v, pos) for key, v in buf.items()}
        else:
            idx = tf.gather(self._epoch_sample(epoch), pos)
            # Draws per position of the chunk: independent of how replicas share the chunk.
            width = self._chunk[1] * self.distribute_strategy.num_replicas_in_sync
            u1 = tf.gather(tf.random.stateless_uniform([width], self._seed(epoch, i, 11)), offs)
            u2 = tf.gather(tf.random.stateless_uniform([width], self._seed(epoch, i, 12)), offs)
            tuples = self.generate_counterfactuals(tf.gather(pool["x"], idx), tf.gather(pool["y"], idx), u1, u2,
                                                   self._hp.step)
        tuples["weight"] = tf.cast(valid, tf.float32)
        return tuples, tf.cast(size, tf.float32)

    def _no_counterfactuals(self, local=None):
        local = self._chunk[1] if local is None else local
        z = tf.zeros([local, self.n_features])
        zi = tf.zeros([local], tf.int32)
        return {"x_cf": z, "x_plus": z, "x_ae": z, "target": zi, "label": zi, "mature": tf.zeros([local], tf.bool),
                "steps": zi, "weight": tf.zeros([local])}, tf.constant(1.0)

    # ------------------------------------------------------------------ the step
    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        use = self._hp.use
        step = self._hp.step
        i = step % self._hp.steps_per_epoch
        epoch = step // self._hp.steps_per_epoch
        ct_on = ((use["div"] + use["reg"] + use["adv"]) > 0) & (epoch >= self._hp.start_epoch)
        if self._pool is None or self._objective == "vanilla":  # BL: no search and no extra rows at all
            tuples, size = self._no_counterfactuals(local=0)
            ct_on = tf.constant(False)
        else:
            tuples, size = tf.cond(ct_on, lambda: self._step_counterfactuals(i, epoch), self._no_counterfactuals)
        on = tf.cast(ct_on, tf.float32)
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_weights)
        # Everything this step may write, as it was: a step that would leave any of it non-finite is undone.
        state = self._step_variables()
        snapshot = [tf.identity(v.value) for v in state]
        with tf.GradientTape() as tape:
            loss, terms, y_pred = self.compute_ct_loss(x, y, tuples, size, on, sample_weight=sample_weight)
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, self.trainable_weights)
        self._apply_if_finite(grads, self._all_replicas_finite(loss))
        finite = self._all_replicas_finite(loss, *[v.value for v in state if tf.as_dtype(v.dtype).is_floating])
        self._undo_unless(finite, state, snapshot)
        # Trackers get unscaled, per-replica means (Keras' Mean aggregates replicas correctly).
        n_b = tf.shape(x)[0]
        clf, w = terms["clf"], tuples["weight"]
        self._loss_tracker.update_state(_unscale_for_distribution(loss), sample_weight=n_b)
        self.clf_tracker.update_state(_unscale_for_distribution(clf), sample_weight=n_b)
        n_local = tf.reduce_sum(w)
        safe = tf.maximum(n_local, 1.0)
        for tracker, key in ((self.div_tracker, "div"), (self.reg_tracker, "reg"), (self.adv_tracker, "adv")):
            tracker.update_state(terms[key] * size / safe, sample_weight=n_local * on)
        self.maturity_tracker.update_state(tf.cast(tuples["mature"], tf.float32), sample_weight=w * on)
        self.steps_tracker.update_state(tf.cast(tuples["steps"], tf.float32), sample_weight=w * on)
        # One count per skipped step, not per replica (every replica skips; the Sum adds the replicas up).
        ctx = tf.distribute.get_replica_context()
        first = tf.constant(True) if ctx is None else tf.equal(ctx.replica_id_in_sync_group, 0)
        self.skipped_tracker.update_state(tf.cast(~finite & first, tf.float32))
        step.assign_add(1)
        logs = self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 reduces step outputs across workers with reduce("MEAN", axis=0), which fails on
            # scalars; a length-1 axis gives the same (already synchronised) values back as scalars.
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def test_step(self, data):
        """Keras' own test step.  The CT terms are training quantities (``evaluate`` runs no search), so
        their trackers are left out of ``evaluate``'s results and of the ``val_`` entries in ``History``."""
        logs = super().test_step(data)
        training_only = {t.name for t in self._ct_trackers}
        return {k: v for k, v in logs.items() if k not in training_only}

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        """``keras.Model.evaluate``; its progress bar never counts past the number of batches, and it returns
        Python floats (older Keras 3 releases, e.g. Colab's 3.10, return tensors here)."""
        out = super().evaluate(x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight, steps=steps,
                               callbacks=_with_clamped_progbar(callbacks, verbose), return_dict=return_dict, **kwargs)
        return _python_numbers(out)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """``keras.Model.predict``; its progress bar never counts past the number of batches."""
        return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps,
                               callbacks=_with_clamped_progbar(callbacks, verbose))

    @property
    def _ct_trackers(self):
        return (self.clf_tracker, self.div_tracker, self.reg_tracker, self.adv_tracker, self.maturity_tracker,
                self.steps_tracker, self.skipped_tracker)

    def compute_ct_loss(self, x, y, tuples, size, on=1.0, sample_weight=None, training=True):
        """The CT batch loss and its terms, from precomputed counterfactual tuples.

        The loss of docs/method.md#the-loss-of-one-mini-batch.

        ``tuples`` holds ``x_plus``, ``x_cf``, ``x_ae``, ``target``, ``label`` and ``weight`` (1 for a
        tuple of this batch, 0 for padding); ``size`` is the number of tuples of the whole batch (the
        mean's denominator, summed over replicas).  Returns ``(loss, terms, y_pred)``.
        """
        hp, use = self._hp.vars, self._hp.use
        w = tf.cast(tuples["weight"], tf.float32)
        n_b = tf.shape(x)[0]
        k = tf.shape(w)[0]
        onehot = tf.one_hot(tuples["target"], self.n_classes)
        # One fused forward pass over the batch and the three counterfactual-side inputs.
        logits = self(tf.concat([tf.cast(x, tf.float32), tuples["x_plus"], tuples["x_cf"], tuples["x_ae"]], 0),
                      training=training)
        y_pred = logits[:n_b]
        l_plus, l_cf, l_ae = logits[n_b:n_b + k], logits[n_b + k:n_b + 2 * k], logits[n_b + 2 * k:]
        clf = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        div, reg = contrastive_divergence_and_ridge(_generators.energy(l_plus, onehot),
                                                    _generators.energy(l_cf, onehot), w, size)
        adv = adversarial_loss(l_ae, tuples["label"], w, size)
        ct_terms = on * (hp["lambda_div"] * use["div"] * div + hp["lambda_reg"] * use["reg"] * reg
                         + hp["lambda_adv"] * use["adv"] * adv)
        loss = hp["lambda_clf"] * clf + ct_terms
        return loss, {"clf": clf, "div": div, "reg": reg, "adv": adv}, y_pred

    def _step_variables(self):
        """The variables a training step writes: the model's weights, trainable and not (BatchNorm's moving
        statistics), and the optimizer's (slots, iteration count, a loss scale's state)."""
        seen, out = set(), []
        for v in (*self.trainable_weights, *self.classifier.weights, *self.optimizer.variables):
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        return out

    def _all_replicas_finite(self, *values):
        """Whether every entry of every value is finite on every replica (one all-reduce).

        One reduction over all values at once: under XLA each separate reduction is a kernel of its own,
        and on CPU each kernel adds compile time (~50 ms).
        """
        groups = {}
        for v in values:
            groups.setdefault(v.dtype, []).append(tf.reshape(v, [-1]))
        ok = [tf.reduce_all(tf.math.is_finite(g[0] if len(g) == 1 else tf.concat(g, 0))) for g in groups.values()]
        ok = ok[0] if len(ok) == 1 else tf.reduce_all(tf.stack(ok))
        bad = tf.cast(~ok, tf.float32)
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, bad)
        return bad < 0.5

    def _apply_if_finite(self, grads, finite):
        """Skip the optimizer's update when the batch loss is Inf/NaN (docs/method.md#non-finite-updates);
        :meth:`_undo_unless` then undoes the rest of the step (and any update that overflowed)."""
        variables = self.trainable_weights
        ctx = tf.distribute.get_replica_context()
        multi = ctx is not None and ctx.num_replicas_in_sync > 1
        if not self.optimizer.built:
            self.optimizer.build(variables)
        if not multi or tf.__internal__.distribute.strategy_supports_no_merge_call():
            def apply():
                self.optimizer.apply(grads, variables)
                return tf.constant(True)

            tf.cond(finite, apply, lambda: tf.constant(False))
            return

        def cross_replica(distribution, grads, finite):
            ok = tf.reduce_all(tf.stack(distribution.experimental_local_results(finite)))

            def apply():
                distribution.extended.call_for_each_replica(self.optimizer.apply, args=(grads, variables))
                return tf.constant(True)

            tf.cond(ok, apply, lambda: tf.constant(False))

        ctx.merge_call(cross_replica, args=(grads, finite))

    def _undo_unless(self, finite, variables, snapshot):
        """Assign ``snapshot`` back to ``variables`` unless ``finite`` (the same on every replica).

        The step is then skipped as a whole: weights, BatchNorm statistics and optimizer slots keep
        their values and the optimizer's ``iterations`` does not advance (as in Keras'
        ``LossScaleOptimizer``).  Under ``tf.distribute`` the restore goes through
        ``extended.update``, as the optimizer's own update does.
        """
        tf_vars = [v.value for v in variables]
        ctx = tf.distribute.get_replica_context()
        if ctx is None or ctx.num_replicas_in_sync == 1:
            def restore():
                for var, old in zip(tf_vars, snapshot):
                    var.assign(old)
                return tf.constant(False)

            tf.cond(finite, lambda: tf.constant(True), restore)
            return

        def distributed(distribution, finite, snapshot):
            ok = tf.reduce_all(tf.stack(distribution.experimental_local_results(finite)))

            def restore():
                for var, old in zip(tf_vars, snapshot):
                    distribution.extended.update(var, lambda v, o: v.assign(o), args=(old,), group=False)
                return tf.constant(False)

            tf.cond(ok, lambda: tf.constant(True), restore)

        tf.__internal__.distribute.interim.maybe_merge_call(distributed, ctx.strategy, finite, snapshot)


def _hp_property(name):
    def getter(self):
        v = self._hp.vars[name]
        return int(v.numpy()) if v.dtype == tf.int32 else float(v.numpy())

    def setter(self, value):
        self.set_hyperparameters(**{name: value})

    return property(getter, setter, doc=f"``{name}`` (a tf.Variable read by train_step; settable between fits)")


for _name in _HYPERPARAMETERS:
    setattr(CounterfactualModel, _name, _hp_property(_name))
