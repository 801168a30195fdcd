"""Import TensorFlow quietly.

TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` and ``TF_ENABLE_ONEDNN_OPTS`` when it is imported, so both
must be set *before* its first import; with ``tensorflow-cpu`` they silence the import completely (no
C++ log lines, no oneDNN notice).  ``setdefault`` keeps any value the user chose.
``TF_ENABLE_ONEDNN_OPTS=0`` also made graph-mode CT faster on the project machines.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

try:
    import tensorflow as tf  # noqa: E402
except ImportError as exc:  # pragma: no cover - exercised only without TensorFlow
    raise ImportError(
        "cftkit needs TensorFlow >= 2.19 with Keras >= 3.10. Install exactly one of:\n"
        "  pip install 'cftkit[cpu]'   # CPU (tensorflow-cpu, quiet, 1.5 GB)\n"
        "  pip install 'cftkit[gpu]'   # NVIDIA GPU (tensorflow[and-cuda])"
    ) from exc

import keras  # noqa: E402

_KERAS = tuple(int(p) for p in keras.__version__.split(".")[:2] if p.isdigit())
if len(_KERAS) < 2 or _KERAS[0] != 3 or _KERAS < (3, 10):  # pragma: no cover
    raise ImportError(f"cftkit needs Keras 3.10 or newer (Keras 3, not tf-keras 2); found keras {keras.__version__}")

import functools  # noqa: E402


def model_function(**tf_function_kwargs):
    """Decorator: ``tf.function`` for a closure built once per model (search, attacks, IG).

    TensorFlow keys its "frequent retracing" warning on the Python code object, so closures built for
    many models look like one function retracing; ``functools.partial`` gives each its own key.
    """

    def wrap(fn):
        return tf.function(functools.partial(fn), **tf_function_kwargs)

    return wrap


__all__ = ["tf", "keras", "model_function"]
