"""Counterfactual quality metrics (docs/method.md#metrics): validity, cost, IP and IP* (MMD²).

* **validity**: argmax f(x') = y⁺ (not the search's τ criterion, docs/method.md#mature-versus-valid).
* **cost**: ‖x' − x‖₁ between the (decoded) counterfactual and its factual.
* **IP**: mean ℓ1 distance from x' to the reference (test) points whose *true* label is y⁺.
* **IP\\***: unbiased MMD² with a Gaussian kernel between a group of counterfactuals sharing a target and
  ≤ 100 reference points of that target; the paper's text uses length scale ℓ = 0.5, the
  reference code ℓ = 5.0 — both are reported (:data:`cftkit.defaults.MMD_LENGTH_SCALES`).

Everything is vectorised: IP uses an exact sort/cumulative-sum identity per feature (no N × M
distance matrix), and MMD² is computed for many groups at once by batched float64 TensorFlow graphs
(:func:`mmd_batched` for padded arrays, :func:`mmd_indexed` for groups given as row indices, which
the protocol uses: thousands of groups in a handful of chunked calls).
"""

from __future__ import annotations

import numbers
import weakref

import numpy as np

from .. import defaults
from .._tf import tf
from .._validation import as_2d_float, as_labels, check_int, check_positive
from ..search import check_classifier

__all__ = ["accuracy", "cost", "f1_score", "implausibility", "ip_star", "mmd", "mmd_batched", "mmd_indexed", "predict",
           "predict_logits", "validity"]

# Rows per model call when computing logits (bounds memory for huge batches).
_PREDICT_BATCH = 65536
# Elements (groups × rows × rows × length scales) per batched-MMD call; bounds the kernel tensors' memory.
# A call holds a few float64 tensors of this size at once: 2**18 elements keep it near 10 MB (2**22 made
# the protocol's IP* step of a small evaluation a 30-50 MB peak of its own); the calls are cheap.
_MMD_CHUNK_ELEMENTS = 1 << 18
# mmd_indexed: precompute a pool's reference Gram matrix when D ≥ this and the pool has ≤ _GRAM_MAX_ROWS rows.
_GRAM_MIN_FEATURES = 16
_GRAM_MAX_ROWS = 4096


# ----------------------------------------------------------------------------- helpers
_FN_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def cached_model_function(model, key, build):
    """One traced ``tf.function`` per (model, key); ``build()`` creates it on first use."""
    per_model = _FN_CACHE.setdefault(model, {})
    if key not in per_model:
        per_model[key] = build()
    return per_model[key]


def check_length_scale(value, name: str = "length_scale") -> float:
    return check_positive(value, name)


def length_scales_tuple(value, name: str = "length_scales") -> tuple:
    """A positive scalar or a non-empty sequence of positive scalars → tuple of floats."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return (check_length_scale(value, name),)
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be a positive number or a sequence of them; got {value!r}") from None
    if not items:
        raise ValueError(f"{name} must not be empty")
    return tuple(check_length_scale(v, name) for v in items)


def predict_logits(model, x, *, batch_size: int = _PREDICT_BATCH) -> np.ndarray:
    """``model(x)`` as a float32 ``(N, K)`` numpy array, called in chunks of ``batch_size`` rows."""
    x = as_2d_float(x, "x", allow_empty=True)
    if x.shape[0] == 0:
        k = check_classifier(model, np.zeros((1, x.shape[1]), np.float32))
        return np.zeros((0, k), np.float32)
    check_classifier(model, x)
    out = [np.asarray(model(tf.constant(x[s:s + batch_size]), training=False), dtype=np.float32)
           for s in range(0, x.shape[0], batch_size)]
    return np.concatenate(out, axis=0)


def predict(model, x) -> np.ndarray:
    """Predicted class indices argmax f(x), int32 ``(N,)``."""
    return np.argmax(predict_logits(model, x), axis=1).astype(np.int32)


# ----------------------------------------------------------------------------- validity, cost, accuracy
def validity(model, counterfactuals, targets) -> np.ndarray:
    """Per-counterfactual validity: ``argmax f(x') == target`` (bool ``(N,)``; docs/method.md#metrics).

    Example:
        >>> import numpy as np, keras, cftkit.evaluation as ev
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        >>> ev.validity(m, np.zeros((3, 2)), [0, 0, 0]).dtype
        dtype('bool')
    """
    x = as_2d_float(counterfactuals, "counterfactuals")
    logits = predict_logits(model, x)
    y = as_labels(targets, "targets", n=x.shape[0], n_classes=logits.shape[1])
    return np.argmax(logits, axis=1) == y


def cost(counterfactuals, factuals) -> np.ndarray:
    """Per-counterfactual cost ‖x' − x‖₁ (float64 ``(N,)``; docs/method.md#metrics).

    Example:
        >>> import cftkit.evaluation as ev
        >>> ev.cost([[1.0, 2.0]], [[0.0, 0.0]]).tolist()
        [3.0]
    """
    xc = as_2d_float(counterfactuals, "counterfactuals")
    xf = as_2d_float(factuals, "factuals")
    if xc.shape != xf.shape:
        raise ValueError(f"counterfactuals and factuals must have the same shape; got {xc.shape} and {xf.shape}")
    return np.sum(np.abs(xc.astype(np.float64) - xf.astype(np.float64)), axis=1)


def accuracy(model, x, y) -> float:
    """Share of correctly classified rows (argmax of the logits)."""
    x = as_2d_float(x, "x")
    logits = predict_logits(model, x)
    y = as_labels(y, "y", n=x.shape[0], n_classes=logits.shape[1])
    return float(np.mean(np.argmax(logits, axis=1) == y))


def f1_score(model, x, y) -> float:
    """Macro-averaged F1 over the classes present in ``y`` or in the predictions.

    The multiclass F1 of docs/method.md#accuracy-and-adversarial-robustness.
    """
    x = as_2d_float(x, "x")
    logits = predict_logits(model, x)
    y = as_labels(y, "y", n=x.shape[0], n_classes=logits.shape[1])
    pred = np.argmax(logits, axis=1)
    classes = np.union1d(np.unique(y), np.unique(pred))
    tp = np.array([np.sum((pred == c) & (y == c)) for c in classes], float)
    fp = np.array([np.sum((pred == c) & (y != c)) for c in classes], float)
    fn = np.array([np.sum((pred != c) & (y == c)) for c in classes], float)
    denom = 2 * tp + fp + fn
    return float(np.mean(np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)))


# ----------------------------------------------------------------------------- IP
def _mean_l1_to_sorted(queries: np.ndarray, sorted_ref: np.ndarray, cums: np.ndarray) -> np.ndarray:
    """Σ_j |q − r_j| / m for every query, given sorted r (m,) and cums = [0, cumsum(r)] (float64).

    Σ_j |q − r_j| = (2k − m)·q + S_m − 2·S_k with k = #{r_j ≤ q} and S_k the sum of the k smallest.
    """
    m = sorted_ref.shape[0]
    k = np.searchsorted(sorted_ref, queries, side="right")
    return ((2 * k - m) * queries + cums[m] - 2 * cums[k]) / m


def implausibility(counterfactuals, targets, x_ref, y_ref, *, max_samples: int | None = defaults.IP_MAX_SAMPLES,
                   seed: int = 0) -> np.ndarray:
    """IP: mean ℓ1 distance from each counterfactual to the reference points of its target class.

    The reference set is the evaluation (test) data with its **true** labels (docs/method.md#metrics).  By
    default every target-class reference point is used, i.e. the exact expectation of the reference's
    estimator.  With ``max_samples`` the reference's sampling is mimicked instead: per target class,
    ``min(len(x_ref), max_samples)`` draws **with replacement** from the target-class points (the paper
    used 1000; :data:`cftkit.defaults.IP_REFERENCE_DRAWS`), shared by every counterfactual of that
    target.

    Because ℓ1 separates over features, the mean distance is computed exactly from each feature's
    sorted reference values and their cumulative sums: O((N + M)·log M·D) time, O(N·D) memory, no
    N × M matrix.  Counterfactuals whose target has no reference point get NaN.

    Returns:
        float64 ``(N,)``.

    Example:
        >>> import numpy as np, cftkit.evaluation as ev
        >>> ev.implausibility([[0.0, 0.0]], [1], [[1.0, 0.0], [3.0, 0.0], [9.0, 9.0]], [1, 1, 0]).tolist()
        [2.0]
    """
    xc = as_2d_float(counterfactuals, "counterfactuals")
    n, d = xc.shape
    xr = as_2d_float(x_ref, "x_ref", n_features=d)
    yr = as_labels(y_ref, "y_ref", n=xr.shape[0])
    if yr.size and yr.min() < 0:
        raise ValueError(f"y_ref must hold class indices >= 0; got minimum {int(yr.min())}")
    t = as_labels(targets, "targets", n=n)
    if t.size and t.min() < 0:
        raise ValueError(f"targets must hold class indices >= 0; got minimum {int(t.min())}")
    if max_samples is not None:
        max_samples = check_int(max_samples, "max_samples", minimum=1)
    rng = np.random.default_rng(seed)
    out = np.full(n, np.nan, dtype=np.float64)
    x64 = xc.astype(np.float64)
    for c in np.unique(t):
        rows = np.flatnonzero(t == c)
        ref = xr[yr == c].astype(np.float64)
        if ref.shape[0] == 0:
            continue
        if max_samples is not None:
            ref = ref[rng.integers(0, ref.shape[0], size=min(xr.shape[0], max_samples))]
        ref = np.sort(ref, axis=0)
        cums = np.vstack([np.zeros((1, d)), np.cumsum(ref, axis=0)])
        total = np.zeros(rows.shape[0])
        for j in range(d):  # a loop over features, each one vectorised over all counterfactuals
            total += _mean_l1_to_sorted(x64[rows, j], ref[:, j], cums[:, j])
        out[rows] = np.maximum(total, 0.0)
    return out


# ----------------------------------------------------------------------------- MMD
def _sq_dist(u, v):
    uu = tf.reduce_sum(u * u, axis=-1)
    vv = tf.reduce_sum(v * v, axis=-1)
    d = uu[:, :, None] + vv[:, None, :] - 2.0 * tf.matmul(u, v, transpose_b=True)
    return tf.maximum(d, 0.0)


def _kernel_mmd(sq_aa, sq_bb, sq_ab, a_mask, b_mask, inv_two_l2):
    """Unbiased MMD² from squared distances → (G, L); NaN where a group has < 2 rows on a side."""
    n_a = tf.reduce_sum(a_mask, axis=1)
    n_b = tf.reduce_sum(b_mask, axis=1)
    p, q = tf.shape(a_mask)[1], tf.shape(b_mask)[1]
    w_aa = a_mask[:, :, None] * a_mask[:, None, :] * (1.0 - tf.eye(p, dtype=tf.float64))
    w_bb = b_mask[:, :, None] * b_mask[:, None, :] * (1.0 - tf.eye(q, dtype=tf.float64))
    w_ab = a_mask[:, :, None] * b_mask[:, None, :]
    scales = inv_two_l2[:, None, None, None]

    def kernel_sum(sq, w):  # Σ w·exp(−‖·‖²/(2ℓ²)) for every ℓ → (G, L)
        return tf.transpose(tf.reduce_sum(tf.exp(-sq[None] * scales) * w[None], axis=[2, 3]))

    ok = (n_a >= 2.0) & (n_b >= 2.0)
    den_aa = tf.where(ok, n_a * (n_a - 1.0), 1.0)[:, None]
    den_bb = tf.where(ok, n_b * (n_b - 1.0), 1.0)[:, None]
    den_ab = tf.where(ok, n_a * n_b, 1.0)[:, None]
    out = kernel_sum(sq_aa, w_aa) / den_aa + kernel_sum(sq_bb, w_bb) / den_bb - 2.0 * kernel_sum(sq_ab, w_ab) / den_ab
    return tf.where(ok[:, None], out, tf.fill(tf.shape(out), tf.constant(np.nan, tf.float64)))


_F64 = tf.float64


@tf.function(input_signature=[tf.TensorSpec([None, None, None], _F64), tf.TensorSpec([None, None], _F64),
                              tf.TensorSpec([None, None, None], _F64), tf.TensorSpec([None, None], _F64),
                              tf.TensorSpec([None], _F64)])
def _mmd_graph(a, a_mask, b, b_mask, inv_two_l2):
    """Unbiased MMD² per group from padded samples (G, P, D) and (G, Q, D)."""
    n_b = tf.reduce_sum(b_mask, axis=1)
    # Centre each group (on its reference mean): distances are unchanged, cancellation is smaller.
    centre = tf.reduce_sum(b * b_mask[..., None], axis=1, keepdims=True) / tf.maximum(n_b, 1.0)[:, None, None]
    a = (a - centre) * a_mask[..., None]
    b = (b - centre) * b_mask[..., None]
    return _kernel_mmd(_sq_dist(a, a), _sq_dist(b, b), _sq_dist(a, b), a_mask, b_mask, inv_two_l2)


def _gather_centred(x, idx, centre):
    mask = tf.cast(idx >= 0, tf.float64)
    return (tf.gather(x, tf.maximum(idx, 0)) - centre) * mask[..., None], mask


@tf.function(input_signature=[tf.TensorSpec([None, None], _F64), tf.TensorSpec([None, None], tf.int32),
                              tf.TensorSpec([None, None], _F64), tf.TensorSpec([None, None], tf.int32),
                              tf.TensorSpec([None], _F64), tf.TensorSpec([None], _F64)])
def _mmd_graph_idx(x_a, a_idx, pool, b_idx, centre, inv_two_l2):
    """MMD² per group, gathering inside the graph: rows ``a_idx`` of ``x_a`` (centred here) versus rows
    ``b_idx`` of the already-centred reference ``pool``; −1 = padding."""
    a, am = _gather_centred(x_a, a_idx, centre)
    b, bm = _gather_centred(pool, b_idx, tf.zeros_like(centre))
    return _kernel_mmd(_sq_dist(a, a), _sq_dist(b, b), _sq_dist(a, b), am, bm, inv_two_l2)


@tf.function(input_signature=[tf.TensorSpec([None, None], _F64), tf.TensorSpec([None, None], tf.int32),
                              tf.TensorSpec([None, None], _F64), tf.TensorSpec([None, None], tf.int32),
                              tf.TensorSpec([None], _F64), tf.TensorSpec([None, None], _F64),
                              tf.TensorSpec([None], _F64)])
def _mmd_graph_idx_gram(x_a, a_idx, pool, b_idx, centre, gram, inv_two_l2):
    """As :func:`_mmd_graph_idx`, with the reference–reference squared distances gathered from the
    pool's precomputed Gram matrix (saves G·Q²·D work for wide data)."""
    a, am = _gather_centred(x_a, a_idx, centre)
    b, bm = _gather_centred(pool, b_idx, tf.zeros_like(centre))
    safe = tf.maximum(b_idx, 0)
    sq_bb = tf.gather(tf.gather(gram, safe), safe, axis=2, batch_dims=1)
    return _kernel_mmd(_sq_dist(a, a), sq_bb, _sq_dist(a, b), am, bm, inv_two_l2)


def mmd_batched(a, a_mask, b, b_mask, length_scales=defaults.MMD_LENGTH_SCALES) -> np.ndarray:
    """Unbiased MMD² for G groups at once, padded to common sizes with masks.

    Args:
        a: ``(G, P, D)`` first samples (e.g. counterfactuals), padded; ``a_mask`` ``(G, P)`` 1 = real row.
        b: ``(G, Q, D)`` second samples (e.g. reference points), padded; ``b_mask`` ``(G, Q)``.
        length_scales: one ℓ or a sequence; each gets its own column.

    Returns:
        float64 ``(G, L)`` raw (unclamped) MMD²; NaN for a group with fewer than 2 rows on a side
        (the unbiased estimator is undefined there).

    The computation is one TensorFlow graph per chunk of groups (chunked to bound the
    ``G × P × Q`` kernel tensors), in float64.
    """
    ls = length_scales_tuple(length_scales)
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    am = np.asarray(a_mask, np.float64)
    bm = np.asarray(b_mask, np.float64)
    if a.ndim != 3 or b.ndim != 3:
        raise ValueError(f"a and b must have shape (G, P, D) and (G, Q, D); got {a.shape} and {b.shape}")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2]:
        raise ValueError(f"a and b must share G and D; got {a.shape} and {b.shape}")
    if am.shape != a.shape[:2] or bm.shape != b.shape[:2]:
        raise ValueError(f"masks must have shapes {a.shape[:2]} and {b.shape[:2]}; got {am.shape} and {bm.shape}")
    g, p, q = a.shape[0], a.shape[1], b.shape[1]
    if g == 0:
        return np.zeros((0, len(ls)))
    inv = tf.constant([1.0 / (2.0 * l * l) for l in ls], tf.float64)
    size = max(p, q, 1) ** 2 * len(ls)
    chunk = max(1, _MMD_CHUNK_ELEMENTS // size)
    out = [_mmd_graph(tf.constant(a[s:s + chunk]), tf.constant(am[s:s + chunk]), tf.constant(b[s:s + chunk]),
                      tf.constant(bm[s:s + chunk]), inv).numpy() for s in range(0, g, chunk)]
    return np.concatenate(out, axis=0)


def mmd(x, y, length_scale: float = defaults.MMD_LENGTH_SCALE) -> float:
    """Unbiased squared MMD between samples ``x`` (m, D) and ``y`` (n, D), Gaussian kernel.

    MMD² = Σ_{i≠j} k(x_i, x_j)/(m(m−1)) + Σ_{i≠j} k(y_i, y_j)/(n(n−1)) − 2·Σ_{i,j} k(x_i, y_j)/(mn),
    k(a, b) = exp(−‖a − b‖²/(2ℓ²)) (docs/method.md#metrics).  The estimate can be negative.  Both samples
    need at least 2 rows.

    Example:
        >>> import numpy as np, cftkit.evaluation as ev
        >>> round(ev.mmd([[0.0], [1.0]], [[0.0], [1.0]], length_scale=1.0), 6)
        -0.393469
    """
    ls = check_length_scale(length_scale)
    xa = as_2d_float(x, "x")
    ya = as_2d_float(y, "y", n_features=xa.shape[1])
    for name, arr in (("x", xa), ("y", ya)):
        if arr.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 rows for the unbiased MMD² estimate; got {arr.shape[0]}")
    return float(mmd_batched(xa[None], np.ones((1, xa.shape[0])), ya[None], np.ones((1, ya.shape[0])), ls)[0, 0])


# ----------------------------------------------------------------------------- IP*
def subsample_groups(group_ids: np.ndarray, n_groups: int, max_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``(G, P)`` row indices (−1 = padding): per group up to ``max_samples`` of its rows, without
    replacement, in random order; P = min(max_samples, largest group)."""
    group_ids = np.asarray(group_ids, np.int64)
    if group_ids.size == 0:
        return np.full((n_groups, 0), -1, np.int64)
    perm = rng.permutation(group_ids.size)
    order = perm[np.argsort(group_ids[perm], kind="stable")]
    counts = np.bincount(group_ids, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    g_sorted = group_ids[order]
    rank = np.arange(order.size) - starts[g_sorted]
    keep = rank < max_samples
    width = int(min(max_samples, counts.max()))
    idx = np.full((n_groups, width), -1, np.int64)
    idx[g_sorted[keep], rank[keep]] = order[keep]
    return idx


def subsample_reference(group_targets: np.ndarray, y_ref: np.ndarray, max_samples: int,
                        rng: np.random.Generator) -> np.ndarray:
    """``(G, Q)`` reference row indices (−1 = padding): per group an independent draw of up to
    ``max_samples`` reference rows whose label is the group's target, without replacement."""
    group_targets = np.asarray(group_targets)
    pools = {int(c): np.flatnonzero(y_ref == c) for c in np.unique(group_targets)}
    width = int(min(max_samples, max([p.size for p in pools.values()], default=0)))
    idx = np.full((group_targets.size, width), -1, np.int64)
    for c, pool in pools.items():
        rows = np.flatnonzero(group_targets == c)
        k = min(max_samples, pool.size)
        if k == 0:
            continue
        if pool.size <= max_samples:
            idx[rows, :k] = pool[None, :]
        else:  # independent subsample per group: k smallest of a row of uniform keys
            keys = rng.random((rows.size, pool.size))
            idx[rows, :k] = pool[np.argpartition(keys, k - 1, axis=1)[:, :k]]
    return idx


def _compact(idx: np.ndarray) -> np.ndarray:
    """Move the real (≥ 0) entries of each row first and drop all-padding columns."""
    order = np.argsort(idx < 0, axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1)
    width = int((idx >= 0).sum(axis=1).max()) if idx.size else 0
    return idx[:, :width]


def mmd_indexed(x_a, a_idx, x_b, b_idx, length_scales=defaults.MMD_LENGTH_SCALES, *, pools=None) -> np.ndarray:
    """:func:`mmd_batched` for groups given as row indices (−1 = padding) into ``x_a`` and ``x_b``.

    The rows are gathered inside the TensorFlow graph, chunk by chunk (memory stays bounded for
    thousands of groups of wide data such as MNIST), with groups sorted by size so that padding stays
    tight.  ``pools`` (one label per group, e.g. its target class) marks groups whose reference rows
    come from the same pool; each pool is centred on its mean (for numerical stability) and, for wide
    data, its reference–reference squared distances are computed once (a Gram matrix) instead of once
    per group.  Returns float64 ``(G, L)`` raw MMD².
    """
    ls = length_scales_tuple(length_scales)
    a_idx, b_idx = np.asarray(a_idx, np.int64), np.asarray(b_idx, np.int64)
    g = a_idx.shape[0]
    if b_idx.shape[0] != g:
        raise ValueError(f"a_idx and b_idx must have one row per group; got {a_idx.shape} and {b_idx.shape}")
    out = np.full((g, len(ls)), np.nan)
    if g == 0 or a_idx.shape[1] == 0 or b_idx.shape[1] == 0:
        return out
    x_b = np.asarray(x_b, np.float64)
    d = x_b.shape[1]
    xa_t = tf.constant(np.asarray(x_a, np.float64))
    inv = tf.constant([1.0 / (2.0 * l * l) for l in ls], tf.float64)
    pools = np.zeros(g, np.int64) if pools is None else np.asarray(pools)
    for v in np.unique(pools):
        gs = np.flatnonzero(pools == v)
        gs = gs[np.argsort((a_idx[gs] >= 0).sum(axis=1), kind="stable")]  # tight padding per chunk
        ai_all, bi_all = _compact(a_idx[gs]), _compact(b_idx[gs])
        p, q = ai_all.shape[1], bi_all.shape[1]
        if p == 0 or q == 0:
            continue
        rows = np.unique(bi_all[bi_all >= 0])
        centre = x_b[rows].mean(axis=0)
        pool = x_b[rows] - centre
        local = np.where(bi_all >= 0, np.searchsorted(rows, np.maximum(bi_all, 0)), -1).astype(np.int32)
        gram = None
        if d >= _GRAM_MIN_FEATURES and rows.size <= _GRAM_MAX_ROWS:
            sq = np.sum(pool * pool, axis=1)
            gram = tf.constant(np.maximum(sq[:, None] + sq[None, :] - 2.0 * pool @ pool.T, 0.0))
        pool_t, centre_t = tf.constant(pool), tf.constant(centre)
        per_group = max(p * q, p * p, q * q) * len(ls) + (p + q) * d
        chunk = max(1, _MMD_CHUNK_ELEMENTS // per_group)
        for s in range(0, gs.size, chunk):
            ai = tf.constant(_compact(ai_all[s:s + chunk]).astype(np.int32))
            bi = tf.constant(_compact(local[s:s + chunk]))
            if gram is None:
                res = _mmd_graph_idx(xa_t, ai, pool_t, bi, centre_t, inv)
            else:
                res = _mmd_graph_idx_gram(xa_t, ai, pool_t, bi, centre_t, gram, inv)
            out[gs[s:s + chunk]] = res.numpy()
    return out


def ip_star(counterfactuals, targets, x_ref, y_ref, *, length_scale: float = defaults.MMD_LENGTH_SCALE,
            max_samples: int = defaults.MMD_MAX_SAMPLES, seed: int = 0, clamp: bool = defaults.IP_STAR_CLAMP,
            per_sample: bool = False):
    """IP*: unbiased MMD² between the counterfactuals of each target and that target's reference points.

    Counterfactuals are grouped by target; each side is subsampled to at most ``max_samples`` rows
    without replacement (seeded) and the groups' MMD² are computed in one batched call.  The reference set
    is the evaluation (test) data with its true labels (docs/method.md#metrics).

    Args:
        length_scale: ℓ of the Gaussian kernel; the paper's text says 0.5, its code used 5.0 (default).
        clamp: clamp negative estimates to 0, as the reference did before aggregating; ``False``
            returns the raw (possibly negative) unbiased estimate.
        per_sample: return one value per counterfactual (its group's) instead of a dict.

    Returns:
        ``{target: MMD²}`` (NaN for a target with < 2 counterfactuals or < 2 reference points), or
        a float64 ``(N,)`` array with ``per_sample=True``.
    """
    ls = check_length_scale(length_scale)
    max_samples = check_int(max_samples, "max_samples", minimum=2)
    if not isinstance(clamp, bool):
        raise TypeError(f"clamp must be a bool; got {clamp!r}")
    xc = as_2d_float(counterfactuals, "counterfactuals")
    n, d = xc.shape
    xr = as_2d_float(x_ref, "x_ref", n_features=d)
    yr = as_labels(y_ref, "y_ref", n=xr.shape[0])
    t = as_labels(targets, "targets", n=n)
    if t.min() < 0:
        raise ValueError(f"targets must hold class indices >= 0; got minimum {int(t.min())}")
    classes, gid = np.unique(t, return_inverse=True)
    rng = np.random.default_rng(seed)
    a_idx = subsample_groups(gid, classes.size, max_samples, rng)
    b_idx = subsample_reference(classes, yr, max_samples, rng)
    vals = mmd_indexed(xc, a_idx, xr, b_idx, ls, pools=classes)[:, 0]
    if clamp:
        vals = np.where(np.isnan(vals), np.nan, np.maximum(vals, 0.0))
    if per_sample:
        return vals[gid]
    return {int(c): float(v) for c, v in zip(classes, vals)}
