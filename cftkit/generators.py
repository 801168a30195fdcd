"""Counterfactual generators: each one only defines a per-sample loss and the space searched.

The search engine (:mod:`cftkit.search`) is shared.  A generator provides

* ``loss(logits, x, factual, target_onehot, step, max_steps, cost_weight, energy_weight)`` →
  per-sample loss ``(N,)``; the engine sums it, so each sample's gradient is unscaled by N;
* ``initial_state``/``decode``/``encode`` for the space the gradient step happens in (identity for
  feature-space generators; REVISE searches a VAE's latent space, see :mod:`cftkit.revise`).

Equations (docs/method.md#search-objective), with E(x') = −f(x')[y⁺] the energy (negative target logit):

* Generic: CE(f(x'), y⁺) + λ_cost·‖x' − x‖₁
* ECCCo:   CE(f(x'), y⁺) + λ_cost·‖x' − x‖₁ + λ_egy·φ_t·(E + r·E²),
  φ_t = a·(b + t)^(−0.9), b = round(T/25), a = b/10, t = completed steps + 1, r = 1e-3.
"""

from __future__ import annotations

from . import defaults
from ._tf import tf


def energy(logits, target_onehot):
    """E(x, y⁺) = −f(x)[y⁺], the negative target-class logit (docs/method.md#energy)."""
    return -tf.reduce_sum(tf.cast(logits, tf.float32) * target_onehot, axis=-1)


def energy_decay(step, max_steps):
    """φ_t = a·(b + t)^(−0.9) with b = round(T/25), a = b/10 and t = step + 1 (docs/method.md#eccco).

    For T < 13, b = 0 and the energy penalty vanishes (as in the reference).
    """
    T = tf.cast(max_steps, tf.float32)
    b = tf.round(T / 25.0)
    a = b / 10.0
    t = tf.cast(step, tf.float32) + 1.0
    return tf.where(b > 0, a * tf.pow(b + t, -0.9), tf.zeros_like(b))


class Generator:
    """Base class of the gradient-based generators (feature-space search).

    Subclasses override :meth:`penalty`; REVISE also overrides the state-space hooks.
    ``name`` is the registry key used by ``cftkit.search(generator=...)``.
    """

    name = "generic"
    #: whether mutability masks apply to the state step (True in feature space; REVISE: False)
    masks_state = True
    uses_energy = False

    def check_inputs(self, factuals) -> None:
        """Raise a clear error when the generator cannot search these ``(N, D)`` factuals (default: any D)."""

    def initial_state(self, factual, seed):
        return factual  # identity initialisation (docs/method.md#search-objective)

    def decode(self, state):
        return state

    def encode(self, x, seed):
        return x

    def penalty(self, logits, x, factual, target_onehot, step, max_steps, cost_weight, energy_weight):
        return cost_weight * tf.reduce_sum(tf.abs(x - factual), axis=-1)

    def loss(self, logits, x, factual, target_onehot, step, max_steps, cost_weight, energy_weight):
        """Per-sample search loss ``(N,)``: softmax CE to the target plus the generator's penalties."""
        ce = tf.nn.softmax_cross_entropy_with_logits(labels=target_onehot, logits=tf.cast(logits, tf.float32))
        return ce + self.penalty(logits, x, factual, target_onehot, step, max_steps, cost_weight, energy_weight)

    def cache_key(self):
        return (type(self).__name__,)

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}()"


class GenericGenerator(Generator):
    """Wachter-style search: CE to the target + λ_cost·ℓ1 distance (docs/method.md#generic).

    Example:
        >>> import cftkit
        >>> cftkit.generators.get("generic").name
        'generic'
    """

    name = "generic"


class ECCCoGenerator(Generator):
    """ECCCo (the reference's "ECCo"): Generic plus the decaying energy penalty λ_egy·φ_t·(E + r·E²).

    Args:
        energy_reg: r, the quadratic energy regulariser (default 1e-3).

    Example:
        >>> import cftkit
        >>> cftkit.generators.get("eccco").uses_energy
        True
    """

    name = "eccco"
    uses_energy = True

    def __init__(self, energy_reg: float = defaults.ENERGY_REG):
        self.energy_reg = float(energy_reg)

    def penalty(self, logits, x, factual, target_onehot, step, max_steps, cost_weight, energy_weight):
        dist = super().penalty(logits, x, factual, target_onehot, step, max_steps, cost_weight, energy_weight)
        e = energy(logits, target_onehot)
        return dist + energy_weight * energy_decay(step, max_steps) * (e + self.energy_reg * tf.square(e))

    def cache_key(self):
        return (type(self).__name__, self.energy_reg)

    def get_config(self):
        return {"name": self.name, "energy_reg": self.energy_reg}

    def __repr__(self):
        return f"ECCCoGenerator(energy_reg={self.energy_reg})"


_REGISTRY = {"generic": GenericGenerator, "eccco": ECCCoGenerator}


def register(name: str, cls) -> None:
    """Register a generator class under ``name`` (used by REVISE)."""
    _REGISTRY[name] = cls


def get(generator) -> Generator:
    """Resolve a generator name or instance.

    Example:
        >>> import cftkit
        >>> cftkit.generators.get("ECCCo")
        ECCCoGenerator(energy_reg=0.001)
    """
    if isinstance(generator, Generator):
        return generator
    if isinstance(generator, str):
        key = generator.lower()
        if key == "revise":
            raise ValueError("generator='revise' needs a fitted VAE: pass cftkit.revise.REVISEGenerator(vae) instead")
        if key in _REGISTRY:
            return _REGISTRY[key]()
        raise ValueError(f"unknown generator {generator!r}; expected one of {sorted(_REGISTRY)} or a Generator instance")
    raise TypeError(f"generator must be a name or a cftkit.generators.Generator; got {type(generator).__name__}")
