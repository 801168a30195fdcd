"""REVISE: counterfactual search in the latent space of a VAE (docs/method.md#revise).

Three pieces:

* :class:`VAE`, a small Keras 3 variational autoencoder with the reference architecture::

      encoder: Dense(D→h, sigmoid) → μ = Dense(h→L), log σ = Dense(h→L)
      decoder: Dense(L→h, tanh) → Dense(h→D)
      loss   = Σ_d (x̂ − x)² + KL(N(μ, σ²) ‖ N(0, I)) (both averaged over the batch) + 0.01·Σ‖θ_dec‖²

  with x̂ = dec(μ + σ·ε), L = 2, h = 16 for 2-D data and L = 4, h = 32 otherwise (MNIST included).
* :func:`fit_vae`: Adam(1e-3), shuffled batches of 50, 100 epochs, seeded, with a disk cache so that
  notebooks do not refit.
* :class:`REVISEGenerator`: plugs into the shared engine (:func:`cftkit.search`) through the
  generator hooks; the engine is unchanged.  The state is a latent code z (N, L):

  - ``initial_state``: a **stochastic** encoding z₀ = μ(x) + σ(x)·ε of the factual;
  - ``decode``: x' = dec(z); the loss CE(f(x'), y⁺) + λ_cost·‖x' − x‖₁ is taken on x' (no energy term);
  - after every gradient step on z the engine clamps dec(z) to the domain and calls ``encode``, a
    stochastic **re-encoding** (sampling again, with a stateless seed from the engine).

  Mutability constraints are **ignored** in latent space, as in the reference:
  the generator sets ``masks_state = False`` so the engine does not mask the latent step, and
  immutable features may change.  Domains still hold: the engine clamps every decoded state.
  ``REVISEGenerator(vae, constraints=c, enforce_mutability=True)`` adds a projection in feature space
  after decoding (an option, off by default to follow the reference).

Example:
    >>> import numpy as np, cftkit
    >>> vae = cftkit.revise.VAE(n_features=2, seed=0)
    >>> vae.latent_dim, vae.hidden
    (2, 16)
    >>> mu, logvar = vae.encode(np.zeros((3, 2), np.float32))
    >>> tuple(mu.shape), tuple(vae.decode(mu).shape)
    ((3, 2), (3, 2))
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from . import defaults, generators as _generators
from ._tf import keras, tf
from ._validation import as_2d_float, check_int, check_non_negative, check_positive
from .constraints import Constraints

__all__ = ["VAE", "fit_vae", "default_architecture", "vae_cache_dir", "REVISEGenerator"]

#: bump when the VAE's weights layout or training changes, so old cache entries are not reused
_CACHE_VERSION = 1


def default_architecture(n_features: int) -> tuple:
    """``(latent_dim, hidden)`` of the reference: (2, 16) for 2-D data, (4, 32) otherwise (docs/method.md#revise).

    Example:
        >>> from cftkit.revise import default_architecture
        >>> default_architecture(2), default_architecture(784)
        ((2, 16), (4, 32))
    """
    n_features = check_int(n_features, "n_features", minimum=1)
    if n_features == 2:
        return defaults.VAE_LATENT_DIM_2D, defaults.VAE_HIDDEN_2D
    return defaults.VAE_LATENT_DIM, defaults.VAE_HIDDEN


def _stateless_seed(seed) -> "tf.Tensor":
    """An int seed or a (2,) int tensor → the (2,) int32 seed of ``tf.random.stateless_*``."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return tf.constant([int(seed) % (2**31 - 1), 0], tf.int32)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int32)
    if seed.shape.rank != 1 or (seed.shape[0] is not None and seed.shape[0] != 2):
        raise ValueError(f"seed must be an int or a (2,) integer tensor; got shape {seed.shape}")
    return seed


# ----------------------------------------------------------------------------- the VAE
@keras.saving.register_keras_serializable(package="cftkit")
class VAE(keras.Model):
    """Variational autoencoder with the reference architecture (docs/method.md#revise).

    Args:
        n_features: D, the number of input features.
        latent_dim: L (default: 2 for D = 2, else 4).
        hidden: h, the width of the encoder's and the decoder's hidden layer (default: 16 for D = 2, else 32).
        weight_decay: λ of the ridge penalty λ·Σ‖θ_dec‖² on the decoder's weights and biases (0.01;
            the reference sums over ``Flux.params(decoder)``, which includes the biases).
        seed: seeds the weight initialisers and the reparameterisation noise of training
            (``None``: unseeded initialisers, noise seed 0).

    The encoder's second head outputs log σ (as in the reference); :meth:`encode` returns
    ``(μ, log σ²)`` = ``(μ, 2·log σ)``.  Train it with :func:`fit_vae` (or ``compile()`` + ``fit(x)``;
    :meth:`train_step` computes the loss above, averaged over the batch, and reports ``loss``,
    ``reconstruction``, ``kl`` and ``regularisation``).

    Example:
        >>> import numpy as np, cftkit
        >>> vae = cftkit.revise.VAE(n_features=5, seed=0)
        >>> vae.latent_dim, vae.hidden, vae.count_params()
        (4, 32, 781)
    """

    def __init__(self, n_features: int, latent_dim: int | None = None, hidden: int | None = None,
                 weight_decay: float = defaults.VAE_WEIGHT_DECAY, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        n_features = check_int(n_features, "n_features", minimum=1)
        l0, h0 = default_architecture(n_features)
        self.n_features = n_features
        self.latent_dim = l0 if latent_dim is None else check_int(latent_dim, "latent_dim", minimum=1)
        self.hidden = h0 if hidden is None else check_int(hidden, "hidden", minimum=1)
        self.weight_decay = check_non_negative(weight_decay, "weight_decay")
        self.seed = None if seed is None else check_int(seed, "seed", minimum=0)

        def init(j):
            return keras.initializers.GlorotUniform(seed=None if self.seed is None else self.seed * 10 + j)

        self.encoder_hidden = keras.layers.Dense(self.hidden, activation="sigmoid", kernel_initializer=init(0),
                                                 name="encoder_hidden")
        self.encoder_mu = keras.layers.Dense(self.latent_dim, kernel_initializer=init(1), name="encoder_mu")
        self.encoder_log_sigma = keras.layers.Dense(self.latent_dim, kernel_initializer=init(2),
                                                    name="encoder_log_sigma")
        self.decoder_hidden = keras.layers.Dense(self.hidden, activation="tanh", kernel_initializer=init(3),
                                                 name="decoder_hidden")
        self.decoder_output = keras.layers.Dense(self.n_features, kernel_initializer=init(4), name="decoder_output")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.regularisation_tracker = keras.metrics.Mean(name="regularisation")
        self.build((None, self.n_features))

    # ------------------------------------------------------------------ Keras plumbing
    def build(self, input_shape=None):
        d, h, L = self.n_features, self.hidden, self.latent_dim
        self.encoder_hidden.build((None, d))
        self.encoder_mu.build((None, h))
        self.encoder_log_sigma.build((None, h))
        self.decoder_hidden.build((None, L))
        self.decoder_output.build((None, h))
        self.built = True

    def get_config(self):
        config = super().get_config()
        config.update({"n_features": self.n_features, "latent_dim": self.latent_dim, "hidden": self.hidden,
                       "weight_decay": self.weight_decay, "seed": self.seed})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker, self.regularisation_tracker]

    @property
    def decoder_variables(self) -> list:
        """The decoder's weights and biases (the ones the ridge penalty applies to)."""
        return self.decoder_hidden.trainable_weights + self.decoder_output.trainable_weights

    # ------------------------------------------------------------------ the model
    def _check_input(self, x):
        x = tf.cast(tf.convert_to_tensor(x), tf.float32)
        d = x.shape[-1]
        if x.shape.rank != 2 or (d is not None and d != self.n_features):
            raise ValueError(f"the VAE was built for inputs of shape (N, {self.n_features}); got x of shape "
                             f"{tuple(x.shape)}")
        return x

    def encode(self, x):
        """``(μ, log σ²)`` of q(z | x), each ``(N, L)``."""
        hid = self.encoder_hidden(self._check_input(x))
        return self.encoder_mu(hid), 2.0 * self.encoder_log_sigma(hid)

    def sample(self, x, seed=0):
        """Stochastic encoding z = μ(x) + σ(x)·ε, ε ~ N(0, I) drawn with a stateless ``seed``
        (an int or a (2,) int tensor): the same seed gives the same z."""
        mu, logvar = self.encode(x)
        eps = tf.random.stateless_normal(tf.shape(mu), seed=_stateless_seed(seed), dtype=mu.dtype)
        return mu + tf.exp(0.5 * logvar) * eps

    def decode(self, z):
        """x̂ = dec(z), ``(N, D)``."""
        z = tf.cast(tf.convert_to_tensor(z), tf.float32)
        if z.shape.rank != 2 or (z.shape[-1] is not None and z.shape[-1] != self.latent_dim):
            raise ValueError(f"z must have shape (N, {self.latent_dim}); got {tuple(z.shape)}")
        return self.decoder_output(self.decoder_hidden(z))

    def call(self, x, training=False):
        """Deterministic reconstruction dec(μ(x))."""
        return self.decode(self.encode(x)[0])

    def reconstruction_error(self, x) -> float:
        """Mean over rows of Σ_d (dec(μ(x)) − x)² (deterministic; for diagnostics)."""
        x = self._check_input(x)
        return float(tf.reduce_mean(tf.reduce_sum(tf.square(self(x) - x), axis=-1)))

    def compute_losses(self, x, seed):
        """The training loss terms (each a scalar, averaged over the batch as in the reference)."""
        mu, logvar = self.encode(x)
        eps = tf.random.stateless_normal(tf.shape(mu), seed=seed, dtype=mu.dtype)
        x_hat = self.decode(mu + tf.exp(0.5 * logvar) * eps)
        rec = tf.reduce_mean(tf.reduce_sum(tf.square(x_hat - x), axis=-1))
        kl = tf.reduce_mean(0.5 * tf.reduce_sum(tf.exp(logvar) + tf.square(mu) - 1.0 - logvar, axis=-1))
        reg = self.weight_decay * tf.add_n([tf.reduce_sum(tf.square(v)) for v in self.decoder_variables])
        return rec, kl, reg

    def _noise_seed(self):
        it = tf.cast(self.optimizer.iterations, tf.int32) if self.optimizer is not None else tf.constant(0)
        return tf.stack([tf.constant(0 if self.seed is None else self.seed, tf.int32), it])

    def _unpack(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self._check_input(x)

    def train_step(self, data):
        x = self._unpack(data)
        with tf.GradientTape() as tape:
            rec, kl, reg = self.compute_losses(x, self._noise_seed())
            loss = rec + kl + reg
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._update_metrics(loss, rec, kl, reg)

    def test_step(self, data):
        x = self._unpack(data)
        rec, kl, reg = self.compute_losses(x, tf.constant([0, 0], tf.int32))
        return self._update_metrics(rec + kl + reg, rec, kl, reg)

    def _update_metrics(self, loss, rec, kl, reg):
        for tracker, value in zip(self.metrics, (loss, rec, kl, reg)):
            tracker.update_state(value)
        return {m.name: m.result() for m in self.metrics}


# ----------------------------------------------------------------------------- fitting and caching
def vae_cache_dir(cache_dir=None) -> Path:
    """Where :func:`fit_vae` caches VAEs: ``cache_dir``, else ``$CFTKIT_CACHE/vae``, else
    ``~/.cache/cftkit/vae`` (``$XDG_CACHE_HOME/cftkit/vae`` when that is set)."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("CFTKIT_CACHE")
    if env:
        return Path(env) / "vae"
    from .datasets import cache_dir as _user_cache
    return _user_cache() / "vae"


def _cache_key(x: np.ndarray, dataset_name, hyper: dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"version": _CACHE_VERSION, "keras": keras.__version__.split(".")[0],
                         "name": dataset_name, "shape": list(x.shape), **hyper}, sort_keys=True).encode())
    h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()[:20]


def _safe_name(name) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))[:40] or "data"


def fit_vae(x_train, *, latent_dim: int | None = None, hidden: int | None = None,
            epochs: int = defaults.VAE_EPOCHS, batch_size: int = defaults.VAE_BATCH_SIZE, seed: int = 0,
            learning_rate: float = defaults.VAE_LEARNING_RATE, weight_decay: float = defaults.VAE_WEIGHT_DECAY,
            cache: bool = True, cache_dir=None, dataset_name: str | None = None, verbose=0) -> VAE:
    """Fit (or load from the disk cache) a :class:`VAE` on training data (docs/method.md#revise).

    Adam(``learning_rate``, ε = 1e-8 as in Flux), shuffled mini-batches of ``batch_size`` (the last one
    may be smaller), ``epochs`` passes.  The same ``seed`` gives the same weights: it seeds the
    initialisers, the shuffling and the reparameterisation noise (no global RNG is touched).

    Cache: with ``cache=True`` the fitted model is saved as ``.keras`` under :func:`vae_cache_dir` and
    later calls with the same data, shapes, hyperparameters and seed load it (``safe_mode=True``)
    instead of refitting.  The key always hashes the data bytes (so a changed subset never hits a stale
    entry); ``dataset_name`` only makes the file name readable.  The returned model has
    ``from_cache`` (bool) and ``cache_path`` attributes.

    Args:
        x_train: ``(N, D)`` training data (the reference fits on the training split only).
        latent_dim, hidden: L and h (default by D, see :func:`default_architecture`).
        epochs, batch_size, learning_rate, weight_decay: training hyperparameters (reference defaults).
        seed: integer seed.
        cache, cache_dir: disk cache switch and folder.
        dataset_name: optional label for the cache file name.
        verbose: passed to ``keras.Model.fit``.

    Example:
        >>> import cftkit
        >>> ds = cftkit.datasets.load("moons")
        >>> vae = cftkit.revise.fit_vae(ds.x_train[:200], epochs=2, cache=False)
        >>> vae.latent_dim, vae.from_cache
        (2, False)
    """
    x = as_2d_float(x_train, "x_train")
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    learning_rate = check_positive(learning_rate, "learning_rate")
    weight_decay = check_non_negative(weight_decay, "weight_decay")
    if not isinstance(cache, bool):
        raise TypeError(f"cache must be a bool; got {cache!r}")
    l0, h0 = default_architecture(x.shape[1])
    latent_dim = l0 if latent_dim is None else check_int(latent_dim, "latent_dim", minimum=1)
    hidden = h0 if hidden is None else check_int(hidden, "hidden", minimum=1)
    hyper = {"latent_dim": latent_dim, "hidden": hidden, "epochs": epochs, "batch_size": batch_size, "seed": seed,
             "learning_rate": learning_rate, "weight_decay": weight_decay}

    path = None
    if cache:
        folder = vae_cache_dir(cache_dir)
        prefix = _safe_name(dataset_name) if dataset_name is not None else "data"
        path = folder / f"vae-{prefix}-{_cache_key(x, dataset_name, hyper)}.keras"
        if path.is_file():
            try:
                vae = keras.saving.load_model(path, safe_mode=True, compile=False)
            except Exception:  # noqa: BLE001 - a corrupt or incompatible entry is refitted and replaced
                vae = None
            if isinstance(vae, VAE):
                vae.from_cache, vae.cache_path = True, str(path)
                return vae

    vae = VAE(x.shape[1], latent_dim=latent_dim, hidden=hidden, weight_decay=weight_decay, seed=seed)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate, epsilon=defaults.ADAM_EPSILON))
    data = (tf.data.Dataset.from_tensor_slices(x)
            .shuffle(x.shape[0], seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size))
    vae.fit(data, epochs=epochs, verbose=verbose, shuffle=False)  # shuffled by the dataset
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}-{time.monotonic_ns()}.keras")
        try:
            vae.save(tmp)
            os.replace(tmp, path)  # atomic: concurrent fits never see a half-written file
        finally:
            if tmp.exists():
                tmp.unlink()
    vae.from_cache, vae.cache_path = False, None if path is None else str(path)
    return vae


# ----------------------------------------------------------------------------- the generator
class REVISEGenerator(_generators.Generator):
    """REVISE (Joshi et al. 2019) as in the reference: gradient search over a VAE's latent code.

    Loss on the decoded x' = dec(z): CE(f(x'), y⁺) + λ_cost·‖x' − x‖₁ (no energy term); the engine's
    ``cost_weight`` is λ_cost and ``energy_weight`` is ignored.  The initial state is a stochastic
    encoding of the factual, and after each step the engine clamps dec(z) to the domain and this
    generator re-encodes it stochastically (docs/method.md#revise).  Draws use the stateless seed the
    engine passes (``cftkit.search(..., seed=...)``), so a fixed seed gives the same counterfactuals.

    **Mutability.** By default (``enforce_mutability=False``) mutability constraints are ignored, as in
    the reference: the latent step is not masked (``masks_state = False``) and decoded counterfactuals
    may change immutable features; only the domains hold (the engine clamps after decoding).  With
    ``enforce_mutability=True`` and ``constraints``, each decoded state is projected in feature space
    before the loss and the clamp, the way the engine masks Δ for feature-space generators:
    ``"none"`` features keep their factual values exactly, ``"increase"``/``"decrease"`` features may
    only move up/down from the previous state (so they never cross the factual value).  The previous
    decoded state is carried in the search state next to z (state = [z, x_prev], (N, L + D)), without
    gradient.

    Args:
        vae: a fitted :class:`VAE` (anything with ``encode(x) -> (μ, log σ²)``, ``decode(z)``,
            ``n_features`` and ``latent_dim``).
        enforce_mutability: project decoded states onto the mutability constraints (see above).
        constraints: the :class:`cftkit.Constraints` whose mutability is enforced (required when
            ``enforce_mutability=True``; pass the same object as to ``cftkit.search``).

    Example:
        >>> import numpy as np, keras, cftkit
        >>> vae = cftkit.revise.VAE(n_features=2, seed=0)
        >>> clf = cftkit.build_classifier(2, 2, seed=0)
        >>> gen = cftkit.revise.REVISEGenerator(vae)
        >>> res = cftkit.search(clf, np.zeros((4, 2)), 1, generator=gen, max_steps=3, seed=1)
        >>> res.counterfactual.shape
        (4, 2)
    """

    name = "revise"
    masks_state = False  # mutability is ignored in latent space, as in the reference
    uses_energy = False

    def __init__(self, vae, *, enforce_mutability: bool = False, constraints: Constraints | None = None):
        for attr in ("encode", "decode", "n_features", "latent_dim"):
            if not hasattr(vae, attr):
                raise TypeError(f"vae must be a fitted cftkit.revise.VAE (see cftkit.revise.fit_vae); got "
                                f"{type(vae).__name__} without {attr!r}")
        if not isinstance(enforce_mutability, bool):
            raise TypeError(f"enforce_mutability must be a bool; got {enforce_mutability!r}")
        if constraints is not None and not isinstance(constraints, Constraints):
            raise TypeError(f"constraints must be a cftkit.Constraints or None; got {type(constraints).__name__}")
        if enforce_mutability and constraints is None:
            raise ValueError("enforce_mutability=True needs constraints=... (the cftkit.Constraints whose "
                             "mutability should hold)")
        if constraints is not None and constraints.n_features != int(vae.n_features):
            raise ValueError(f"constraints describe {constraints.n_features} features but vae was fitted on "
                             f"{int(vae.n_features)}")
        self.vae = vae
        self.enforce_mutability = enforce_mutability
        self.constraints = constraints
        self.latent_dim = int(vae.latent_dim)
        self.n_features = int(vae.n_features)
        inc, dec = constraints.masks() if constraints is not None else (None, None)
        # Projection only when asked for and when some feature is not freely mutable.
        self._project = bool(enforce_mutability and not (inc.all() and dec.all()))
        self._inc = None if inc is None else tf.constant(inc)
        self._dec = None if dec is None else tf.constant(dec)

    # ------------------------------------------------------------------ state hooks
    def _sample(self, x, seed):
        mu, logvar = self.vae.encode(x)
        mu, logvar = tf.cast(mu, tf.float32), tf.cast(logvar, tf.float32)
        eps = tf.random.stateless_normal(tf.shape(mu), seed=_stateless_seed(seed), dtype=tf.float32)
        return mu + tf.exp(0.5 * logvar) * eps

    def check_inputs(self, factual):
        d = factual.shape[-1]
        if d is not None and int(d) != self.n_features:
            raise ValueError(f"vae was fitted on {self.n_features} features but factuals have {int(d)}: pass a "
                             f"VAE fitted on data with the factuals' features")

    def initial_state(self, factual, seed):
        self.check_inputs(factual)
        z = self._sample(factual, seed)
        return tf.concat([z, factual], axis=-1) if self._project else z

    def decode(self, state):
        if not self._project:
            return tf.cast(self.vae.decode(state), tf.float32)
        z, prev = state[:, :self.latent_dim], tf.stop_gradient(state[:, self.latent_dim:])
        x = tf.cast(self.vae.decode(z), tf.float32)
        x = tf.where(self._inc, x, tf.minimum(x, prev))  # cannot increase → at most the previous value
        return tf.where(self._dec, x, tf.maximum(x, prev))  # cannot decrease → at least the previous value

    def encode(self, x, seed):
        z = self._sample(x, seed)
        return tf.concat([z, x], axis=-1) if self._project else z

    # penalty: the base class's λ_cost·‖x' − x‖₁ on the decoded x' (no energy term).

    # ------------------------------------------------------------------ identity
    def cache_key(self):
        mut = None if self.constraints is None else self.constraints.mutability
        return (type(self).__name__, id(self.vae), self.enforce_mutability, mut)

    def with_vae(self, vae) -> "REVISEGenerator":
        """The same generator around another VAE (e.g. the frozen copy a CounterfactualModel owns)."""
        return REVISEGenerator(vae, enforce_mutability=self.enforce_mutability, constraints=self.constraints)

    @classmethod
    def from_config(cls, config: dict, vae) -> "REVISEGenerator":
        """Rebuild from :meth:`get_config` and a VAE of the same shape."""
        mutability = config.get("mutability")
        constraints = None if mutability is None else Constraints(n_features=len(mutability),
                                                                  mutability=list(mutability))
        return cls(vae, enforce_mutability=bool(config.get("enforce_mutability", False)), constraints=constraints)

    def get_config(self) -> dict:
        """Describes the generator; the VAE's weights are saved by its owner (``vae.save(...)``, or a
        :class:`cftkit.CounterfactualModel` trained with this generator, which saves its own copy)."""
        return {"name": self.name, "enforce_mutability": self.enforce_mutability,
                "n_features": self.n_features, "latent_dim": self.latent_dim,
                "mutability": None if self.constraints is None else list(self.constraints.mutability)}

    def __repr__(self):
        return (f"REVISEGenerator(vae=<VAE D={self.n_features} L={self.latent_dim}>, "
                f"enforce_mutability={self.enforce_mutability})")


_generators.register("revise", REVISEGenerator)
