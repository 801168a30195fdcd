"""Small helpers shared by notebooks, the CLI and tests."""

from __future__ import annotations

import random
import warnings

import numpy as np

from ._tf import keras, tf


def seed_everything(seed: int = 0, *, threads: int | None = None, op_determinism: bool = False) -> None:
    """Seed Python, NumPy, TensorFlow and Keras with one number (and optionally pin thread counts).

    CT results depend on the thread count (multithreaded kernels add floating-point numbers in a
    different order, and training amplifies the round-off): pass ``threads`` to pin TensorFlow's
    intra- and inter-op pools so outputs match across machines with other core counts.
    This only works before TensorFlow has run its first op; later calls warn and leave threads alone.
    ``op_determinism=True`` also enables TF's deterministic kernels (which turns XLA off in Keras).

    Example:
        >>> import cftkit
        >>> cftkit.seed_everything(0)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed))
    keras.utils.set_random_seed(int(seed))
    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        except RuntimeError:
            if (tf.config.threading.get_intra_op_parallelism_threads() != int(threads)
                    or tf.config.threading.get_inter_op_parallelism_threads() != int(threads)):
                warnings.warn("seed_everything(threads=...) must run before TensorFlow's first op; "
                              "thread counts were left unchanged", RuntimeWarning, stacklevel=2)
    if op_determinism:
        tf.config.experimental.enable_op_determinism()
