"""MNIST (LeCun et al. 1998) as the paper uses it (docs/datasets.md#mnist).

* Pixels ``x/255·2 − 1`` ∈ [−1, 1], float32, flattened row-major to 784 features (feature
  ``28·r + c`` is pixel row ``r``, column ``c``; index 0–27 is the top row).
* Training pool: 11 000 images drawn **class-balanced, 1 100 per class, with replacement** from the
  60 000 training images with ``numpy.random.default_rng(seed)``, shuffled, then split 10 000 / 1 000
  with :func:`stratified_split`.
* Test: the full official 10 000-image test set.
* Domain: [−1, 1] for every pixel.  ``protected``: the top and bottom five pixel rows (0–139, 644–783).

File: ``mnist/mnist.npz`` with Keras' keys (``x_train``, ``y_train``, ``x_test``, ``y_test``), read
with ``np.load(allow_pickle=False)``.  Both the shared rebuild (sha256 ``06af5dfe…``) and Keras'
canonical file (``731c5ac6…``) are accepted; Keras' cache ``~/.keras/datasets/mnist.npz`` is searched
too, and the canonical file is downloaded when nothing is found.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..constraints import Constraints
from ._base import Dataset, stratified_split
from ._fetch import DataFile, resolve, verify

SIDE = 28
N_FEATURES = SIDE * SIDE
N_CLASSES = 10
N_TRAIN = 10_000
N_VALIDATION = 1_000
#: the top and bottom five pixel rows (docs/datasets.md#protected-features)
PROTECTED = tuple(range(0, 5 * SIDE)) + tuple(range(N_FEATURES - 5 * SIDE, N_FEATURES))

MNIST_NPZ = DataFile(
    "mnist", "mnist.npz",
    sha256=("06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64",  # shared rebuild (same arrays)
            "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),  # Keras' canonical file
    urls=("https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",),
    hint="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz "
         "(or python -c 'import keras; keras.datasets.mnist.load_data()', which caches it in ~/.keras/datasets)")

_EXPECTED = {"x_train": ((60000, SIDE, SIDE), np.uint8), "y_train": ((60000,), np.uint8),
             "x_test": ((10000, SIDE, SIDE), np.uint8), "y_test": ((10000,), np.uint8)}
_BLOCK_ROWS = 4096  # images decompressed at a time by _read_rows (3 MB)


def _keras_cache() -> list:
    base = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    return [(base / "datasets", "Keras cache")]


def _wrong(path, key, got):
    shape, dtype = _EXPECTED[key]
    return ValueError(f"{path}: {key} should be {shape} {np.dtype(dtype)}; got {got}")


def read_npz(path) -> dict:
    """The four uint8 arrays of an MNIST npz (no pickle), shape/dtype-checked (all 70 000 images:
    :func:`load_mnist` reads only the rows it keeps, see :func:`_read_rows`)."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in _EXPECTED if k in z.files}
    for k, (shape, dtype) in _EXPECTED.items():
        if k not in arrays or arrays[k].shape != shape or arrays[k].dtype != dtype:
            raise _wrong(path, k, None if k not in arrays else (arrays[k].shape, arrays[k].dtype))
    return arrays


def _labels(z, path, key) -> np.ndarray:
    if key not in z.files:
        raise _wrong(path, key, None)
    y = z[key]
    if y.shape != _EXPECTED[key][0] or y.dtype != _EXPECTED[key][1]:
        raise _wrong(path, key, (y.shape, y.dtype))
    return y


def _read_rows(z, path, key, rows) -> np.ndarray:
    """``array[rows]`` of the npz member ``key`` (rows in any order, repeats allowed), decompressed
    ``_BLOCK_ROWS`` images at a time: the 47 MB training array is never held whole."""
    rows = np.asarray(rows, np.int64)
    if key not in z.files:
        raise _wrong(path, key, None)
    shape, dtype = _EXPECTED[key]
    with z.zip.open(key + ".npy") as f:
        version = np.lib.format.read_magic(f)
        header = {(1, 0): np.lib.format.read_array_header_1_0,
                  (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        got_shape, fortran, got_dtype = header(f) if header else (None, True, None)
        if header is None or fortran:  # a layout whose rows are not contiguous: read it whole
            x = z[key]
            if x.shape != shape or x.dtype != dtype:
                raise _wrong(path, key, (x.shape, x.dtype))
            return x[rows]
        if got_shape != shape or got_dtype != dtype:
            raise _wrong(path, key, (got_shape, got_dtype))
        row_bytes = int(np.prod(shape[1:])) * np.dtype(dtype).itemsize
        order = np.argsort(rows, kind="stable")
        wanted = rows[order]
        out = np.empty((rows.size,) + shape[1:], dtype)
        for start in range(0, shape[0], _BLOCK_ROWS):
            lo, hi = np.searchsorted(wanted, [start, start + _BLOCK_ROWS])
            if lo == wanted.size:
                break
            n = min(_BLOCK_ROWS, shape[0] - start)
            data = f.read(n * row_bytes)
            if len(data) != n * row_bytes:
                raise ValueError(f"{path}: {key} is truncated")
            if hi > lo:
                block = np.frombuffer(data, dtype).reshape((n,) + shape[1:])
                out[order[lo:hi]] = block[wanted[lo:hi] - start]
    return out


def scale_pixels(images) -> np.ndarray:
    """uint8 (N, 28, 28) → float32 (N, 784) in [−1, 1], row-major."""
    x = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    return x / np.float32(255.0) * np.float32(2.0) - np.float32(1.0)


def pixel_names(side: int = SIDE) -> tuple:
    return tuple(f"px_r{r:02d}_c{c:02d}" for r in range(side) for c in range(side))


def load_mnist(seed: int = 0, data_home=None, *, n_train: int = N_TRAIN, n_validation: int = N_VALIDATION,
               n_test=None) -> Dataset:
    """MNIST as in the paper; ``n_train``/``n_validation`` set the pool (``n_train + n_validation``,
    balanced across the 10 classes) and ``n_test`` an optional class-stratified test subsample
    (default: all 10 000) — small values make fast tests and notebooks.

    Example:
        >>> ds = load_mnist(n_train=900, n_validation=100, n_test=500)  # doctest: +SKIP
        >>> ds.x_train.shape, ds.x_val.shape, ds.x_test.shape            # doctest: +SKIP
        ((900, 784), (100, 784), (500, 784))
    """
    n_pool = int(n_train) + int(n_validation)
    if n_pool % N_CLASSES or n_train < N_CLASSES or n_validation < 0:
        raise ValueError(f"n_train + n_validation must be a multiple of {N_CLASSES} with n_train >= {N_CLASSES}; "
                         f"got {n_train} + {n_validation}")
    spec, path = resolve([MNIST_NPZ], data_home=data_home, download=MNIST_NPZ, extra_roots=_keras_cache())
    rng = np.random.default_rng(seed)
    per_class = n_pool // N_CLASSES
    with np.load(path, allow_pickle=False) as z:  # only the images kept are decompressed into memory
        y60, y10 = _labels(z, path, "y_train"), _labels(z, path, "y_test")
        idx = np.concatenate([rng.choice(np.flatnonzero(y60 == c), size=per_class, replace=True)
                              for c in range(N_CLASSES)])
        idx = idx[rng.permutation(len(idx))]
        y_pool = y60[idx].astype(np.int32)
        if n_validation:
            tr, va = stratified_split(y_pool, n_validation, rng)
        else:
            tr, va = np.arange(n_pool), np.array([], dtype=int)
        test_idx = np.arange(10000)
        if n_test is not None and int(n_test) < 10000:
            from .tabular import _stratified_subsample
            test_idx = _stratified_subsample(y10, int(n_test), rng)
        pool_images = _read_rows(z, path, "x_train", idx)
        x_test = scale_pixels(_read_rows(z, path, "x_test", test_idx))
    y_test = y10[test_idx].astype(np.int32)
    names = pixel_names()
    constraints = Constraints(lower=np.full(N_FEATURES, -1.0), upper=np.full(N_FEATURES, 1.0), feature_names=names)
    x_pool = scale_pixels(pool_images)
    return Dataset(name="mnist", x_train=x_pool[tr], y_train=y_pool[tr], x_val=x_pool[va], y_val=y_pool[va],
                   x_test=x_test, y_test=y_test, feature_names=names, constraints=constraints, protected=PROTECTED,
                   class_names=tuple(str(c) for c in range(N_CLASSES)),
                   info={"seed": seed, "file": str(path), "file_id": spec.name, "checksum": verify(path, spec),
                         "pool_index": idx, "test_index": test_idx, "image_shape": (SIDE, SIDE),
                         "citation": "LeCun, Y., Cortes, C. and Burges, C. J. C. (1998). The MNIST database of "
                                     "handwritten digits",
                         "licence": "CC BY-SA 3.0 (as commonly distributed)"})
