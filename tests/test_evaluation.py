"""Tests of cftkit.evaluation's metrics, robustness and attribution.

Described in docs/method.md#metrics, #integrated-gradients and #accuracy-and-adversarial-robustness.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import cftkit  # noqa: F401  (quiet TF import first)
from cftkit import keras
import cftkit.evaluation as ev
from cftkit.evaluation import metrics as metrics_mod


# ----------------------------------------------------------------------------- helpers
def linear_model(w, b=None):
    """Keras model with logits = x @ w + b (w: (D, K))."""
    w = np.asarray(w, np.float32)
    d, k = w.shape
    layer = keras.layers.Dense(k)
    model = keras.Sequential([keras.Input((d,)), layer])
    layer.set_weights([w, np.zeros(k, np.float32) if b is None else np.asarray(b, np.float32)])
    return model


@pytest.fixture(scope="module")
def moons_model(moons, moons_mlp):
    """The session's trained 2-32-2 moons MLP and the moons dataset (tests/conftest.py)."""
    return moons_mlp, moons


def brute_mmd(x, y, ls):
    """Unbiased MMD² written out pair by pair (the formula of docs/method.md#metrics, no vectorisation)."""
    x = np.asarray(x, np.float32).astype(np.float64)  # cftkit computes on float32 inputs
    y = np.asarray(y, np.float32).astype(np.float64)
    k = lambda a, b: math.exp(-float(np.sum((np.asarray(a) - np.asarray(b)) ** 2)) / (2 * ls * ls))  # noqa: E731
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


# ----------------------------------------------------------------------------- validity, cost
def test_validity_is_argmax_equal_target():
    model = linear_model([[1.0, -1.0], [0.0, 0.0]])  # class 0 iff x0 > 0
    x = np.array([[1.0, 5.0], [-1.0, 5.0], [2.0, -3.0]])
    v = ev.validity(model, x, [0, 0, 1])
    assert v.dtype == bool and v.tolist() == [True, False, False]


def test_cost_is_l1_per_sample():
    c = ev.cost([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(c, [3.5, 3.0])


def test_cost_shape_mismatch_raises():
    with pytest.raises(ValueError, match="same shape"):
        ev.cost(np.zeros((2, 2)), np.zeros((3, 2)))


# ----------------------------------------------------------------------------- IP
def test_ip_on_grid_matches_hand_calculation():
    # Reference: class 1 = the 3x3 grid {0,1,2}², class 0 = a far point that must be ignored.
    grid = np.array([[i, j] for i in range(3) for j in range(3)], float)
    x_ref = np.vstack([grid, [[100.0, 100.0]]])
    y_ref = np.r_[np.ones(9, int), 0]
    # From (0, 0): Σ|i| + Σ|j| over the grid = 3·(0+1+2)·2 = 18 → mean 2.
    # From (1, 1): per coordinate Σ|i−1| = 3·(1+0+1) = 6, two coordinates → 12/9 = 4/3.
    # From (−1, 2): x: 3·(1+2+3) = 18; y: 3·(2+1+0) = 9 → 27/9 = 3.
    ip = ev.implausibility([[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]], [1, 1, 1], x_ref, y_ref)
    np.testing.assert_allclose(ip, [2.0, 4.0 / 3.0, 3.0], rtol=1e-12)


def test_ip_matches_brute_force_and_uses_only_target_class():
    rng = np.random.default_rng(1)
    x_ref = rng.normal(size=(300, 4)).astype(np.float32)
    y_ref = rng.integers(0, 3, 300)
    xc = rng.normal(size=(50, 4)).astype(np.float32) * 2
    t = rng.integers(0, 3, 50)
    ip = ev.implausibility(xc, t, x_ref, y_ref)
    brute = np.array([np.abs(x_ref[y_ref == t[i]].astype(np.float64) - xc[i]).sum(1).mean() for i in range(50)])
    np.testing.assert_allclose(ip, brute, rtol=1e-6)


def test_ip_subsampled_is_close_to_exact_and_seeded():
    rng = np.random.default_rng(2)
    x_ref = rng.normal(size=(2000, 2)).astype(np.float32)
    y_ref = np.zeros(2000, int)
    xc = rng.normal(size=(20, 2)).astype(np.float32)
    exact = ev.implausibility(xc, np.zeros(20, int), x_ref, y_ref)
    sub = ev.implausibility(xc, np.zeros(20, int), x_ref, y_ref, max_samples=1000, seed=3)
    np.testing.assert_allclose(sub, exact, rtol=0.05)
    assert not np.allclose(sub, exact, rtol=1e-9)
    np.testing.assert_array_equal(sub, ev.implausibility(xc, np.zeros(20, int), x_ref, y_ref, max_samples=1000, seed=3))


def test_ip_target_without_reference_points_is_nan():
    ip = ev.implausibility([[0.0], [0.0]], [0, 2], [[1.0], [2.0]], [0, 0])
    assert ip[0] == pytest.approx(1.5) and np.isnan(ip[1])


def test_ip_bad_inputs():
    with pytest.raises(ValueError, match="x_ref must have 2 features"):
        ev.implausibility(np.zeros((2, 2)), [0, 0], np.zeros((3, 3)), [0, 0, 0])
    with pytest.raises(ValueError, match="targets must have one entry per factual"):
        ev.implausibility(np.zeros((2, 2)), [0], np.zeros((3, 2)), [0, 0, 0])
    with pytest.raises(ValueError, match="targets"):
        ev.implausibility(np.zeros((1, 2)), [-1], np.zeros((3, 2)), [0, 0, 0])
    with pytest.raises(ValueError, match="max_samples"):
        ev.implausibility(np.zeros((1, 2)), [0], np.zeros((3, 2)), [0, 0, 0], max_samples=0)


# ----------------------------------------------------------------------------- MMD
def test_mmd_hand_computed_three_vs_two_points():
    x = np.array([[0.0], [1.0], [2.0]])
    y = np.array([[0.0], [3.0]])
    ls = 1.0
    e = lambda d2: math.exp(-d2 / 2.0)  # noqa: E731  k = exp(−d²/(2ℓ²)), ℓ = 1
    kxx = 2 * (e(1) + e(4) + e(1)) / (3 * 2)  # pairs (0,1), (0,2), (1,2), both orders
    kyy = 2 * e(9) / (2 * 1)
    kxy = (e(0) + e(9) + e(1) + e(4) + e(4) + e(1)) / (3 * 2)
    expected = kxx + kyy - 2 * kxy
    assert ev.mmd(x, y, length_scale=ls) == pytest.approx(expected, rel=1e-12)
    assert ev.mmd(x, y, length_scale=0.5) == pytest.approx(brute_mmd(x, y, 0.5), rel=1e-12)


def test_mmd_matches_pairwise_formula_in_several_dimensions():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(5, 3)) + 0.5
    for ls in (0.5, 5.0):
        assert ev.mmd(x, y, length_scale=ls) == pytest.approx(brute_mmd(x, y, ls), rel=1e-10, abs=1e-13)


def test_mmd_same_distribution_is_about_zero():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2))
    # The unbiased estimator has mean 0 under H0 and sd O(1/n) (≈ 2.6e-4 here, measured over 20 draws);
    # a shift of (0.5, 0.5) gives E[MMD²] = 2/3·(1 − exp(−0.5/6)) ≈ 0.053.
    assert abs(ev.mmd(x, y, length_scale=1.0)) < 2e-3
    assert ev.mmd(x, y + 0.5, length_scale=1.0) > 0.03


def test_mmd_of_identical_sample_is_negative_by_construction():
    # With x = y the off-diagonal sums cancel only partly: the cross term includes the diagonal k = 1.
    x = np.random.default_rng(6).normal(size=(50, 2))
    assert ev.mmd(x, x, length_scale=1.0) < 0


def test_mmd_gaussian_closed_form():
    # X ~ N(μx, σx²), Y ~ N(μy, σy²) in 1-D, k = exp(−(a−b)²/(2ℓ²)):
    # E k(X, X') = ℓ/sqrt(ℓ² + 2σx²), E k(X, Y) = ℓ/sqrt(ℓ² + σx² + σy²)·exp(−Δ²/(2(ℓ² + σx² + σy²))).
    ls, sx, sy, delta = 1.0, 1.0, 0.7, 1.0
    exx = ls / math.sqrt(ls**2 + 2 * sx**2)
    eyy = ls / math.sqrt(ls**2 + 2 * sy**2)
    s2 = ls**2 + sx**2 + sy**2
    exy = ls / math.sqrt(s2) * math.exp(-(delta**2) / (2 * s2))
    expected = exx + eyy - 2 * exy  # ≈ 0.2512
    rng = np.random.default_rng(7)
    # sd of one estimate at n = 1000 is ≈ 0.018 → sd of the mean of 8 ≈ 0.006; allow ~4 sd.
    est = [ev.mmd(rng.normal(0, sx, (1000, 1)), rng.normal(delta, sy, (1000, 1)), length_scale=ls) for _ in range(8)]
    assert np.mean(est) == pytest.approx(expected, abs=0.025)
    # A different shift changes the expectation by much more than the tolerance.
    assert abs(exx + eyy - 2 * ls / math.sqrt(s2) * math.exp(-4.0 / (2 * s2)) - expected) > 0.2


def test_mmd_batched_masks_ignore_padding():
    rng = np.random.default_rng(8)
    f32 = lambda shape: rng.normal(size=shape).astype(np.float32).astype(np.float64)  # noqa: E731
    x1, y1, x2, y2 = f32((4, 2)), f32((6, 2)), f32((6, 2)), f32((3, 2))
    a = np.zeros((2, 6, 2)); am = np.zeros((2, 6))
    b = np.zeros((2, 6, 2)); bm = np.zeros((2, 6))
    a[0, :4], am[0, :4] = x1 + 99.0, 1  # padding rows stay zero but the real rows are far away
    a[1, :6], am[1, :6] = x2, 1
    b[0, :6], bm[0, :6] = y1 + 99.0, 1
    b[1, :3], bm[1, :3] = y2, 1
    out = ev.mmd_batched(a, am, b, bm, (0.5, 5.0))
    assert out.shape == (2, 2)
    for j, ls in enumerate((0.5, 5.0)):
        assert out[0, j] == pytest.approx(brute_mmd(x1, y1, ls), rel=1e-8, abs=1e-12)
        assert out[1, j] == pytest.approx(brute_mmd(x2, y2, ls), rel=1e-8, abs=1e-12)
    am[1, 1:] = 0  # a group with a single row: estimator undefined
    assert np.isnan(ev.mmd_batched(a, am, b, bm, 1.0)[1, 0])


def test_mmd_chunking_gives_identical_results(monkeypatch):
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(9, 5, 2)), rng.normal(size=(9, 4, 2))
    am, bm = np.ones((9, 5)), np.ones((9, 4))
    full = ev.mmd_batched(a, am, b, bm, (0.5, 5.0))
    monkeypatch.setattr(metrics_mod, "_MMD_CHUNK_ELEMENTS", 60)  # one or two groups per call
    np.testing.assert_allclose(ev.mmd_batched(a, am, b, bm, (0.5, 5.0)), full, rtol=1e-12)


def test_mmd_indexed_matches_gathered_groups(monkeypatch):
    rng = np.random.default_rng(17)
    xa, xb = rng.normal(size=(30, 3)), rng.normal(size=(20, 3))
    a_idx = np.array([[0, 1, 2, -1], [3, 4, 5, 6], [7, 8, -1, -1]])
    b_idx = np.array([[0, 1, 2], [3, 4, -1], [5, 6, 7]])
    out = metrics_mod.mmd_indexed(xa, a_idx, xb, b_idx, (0.5, 5.0))
    for g in range(3):
        ra, rb = a_idx[g][a_idx[g] >= 0], b_idx[g][b_idx[g] >= 0]
        for j, ls in enumerate((0.5, 5.0)):
            assert out[g, j] == pytest.approx(brute_mmd(xa[ra].astype(np.float32), xb[rb].astype(np.float32), ls),
                                              rel=1e-6, abs=1e-9)
    monkeypatch.setattr(metrics_mod, "_MMD_CHUNK_ELEMENTS", 40)  # one group per chunk
    np.testing.assert_allclose(metrics_mod.mmd_indexed(xa, a_idx, xb, b_idx, (0.5, 5.0)), out, rtol=1e-12)


@pytest.mark.parametrize("gram", [False, True])
def test_mmd_indexed_with_pools_and_gram_path(monkeypatch, gram):
    # Wide data uses a per-pool Gram matrix of the reference rows; both paths must agree with the formula.
    monkeypatch.setattr(metrics_mod, "_GRAM_MIN_FEATURES", 1 if gram else 10**9)
    rng = np.random.default_rng(18)
    xa, xb = rng.normal(size=(40, 5)) + 3.0, rng.normal(size=(30, 5)) + 3.0
    yb = np.repeat([0, 1], 15)
    gid = rng.integers(0, 6, 40)
    pools = np.array([0, 1, 0, 1, 0, 1])
    a_idx = metrics_mod.subsample_groups(gid, 6, 5, rng)
    b_idx = metrics_mod.subsample_reference(pools, yb, 8, rng)
    out = metrics_mod.mmd_indexed(xa, a_idx, xb, b_idx, (0.5, 5.0), pools=pools)
    for g in range(6):
        ra, rb = a_idx[g][a_idx[g] >= 0], b_idx[g][b_idx[g] >= 0]
        assert np.all(yb[rb] == pools[g])
        for j, ls in enumerate((0.5, 5.0)):
            expected = brute_mmd(xa[ra].astype(np.float32), xb[rb].astype(np.float32), ls) if ra.size > 1 else np.nan
            np.testing.assert_allclose(out[g, j], expected, rtol=1e-6, atol=1e-9)


def test_mmd_bad_inputs():
    with pytest.raises(ValueError, match="length_scale must be > 0"):
        ev.mmd(np.zeros((3, 1)), np.ones((3, 1)), length_scale=0.0)
    with pytest.raises(ValueError, match="length_scale"):
        ev.mmd(np.zeros((3, 1)), np.ones((3, 1)), length_scale=-1.0)
    with pytest.raises(ValueError, match="x needs at least 2 rows"):
        ev.mmd(np.zeros((1, 1)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="y must have 1 features"):
        ev.mmd(np.zeros((3, 1)), np.ones((3, 2)))


# ----------------------------------------------------------------------------- IP*
def test_ip_star_groups_by_target_without_subsampling():
    rng = np.random.default_rng(10)
    x_ref = rng.normal(size=(60, 2))
    y_ref = np.repeat([0, 1, 2], 20)
    x_ref[y_ref == 1] += 2.0
    xc = rng.normal(size=(30, 2))
    t = np.r_[np.ones(12, int), np.full(18, 2)]
    out = ev.ip_star(xc, t, x_ref, y_ref, length_scale=0.5, clamp=False)
    assert set(out) == {1, 2}
    assert out[1] == pytest.approx(brute_mmd(xc[t == 1], x_ref[y_ref == 1], 0.5), rel=1e-8)
    assert out[2] == pytest.approx(brute_mmd(xc[t == 2], x_ref[y_ref == 2], 0.5), rel=1e-8, abs=1e-12)
    per = ev.ip_star(xc, t, x_ref, y_ref, length_scale=0.5, clamp=False, per_sample=True)
    np.testing.assert_allclose(per, np.where(t == 1, out[1], out[2]))


def test_ip_star_clamps_negative_estimates_only_when_asked():
    rng = np.random.default_rng(11)
    x_ref = rng.normal(size=(40, 2))
    xc = x_ref[:20] + 1e-3  # same distribution: the unbiased estimate here is negative
    raw = ev.ip_star(xc, np.zeros(20, int), x_ref, np.zeros(40, int), clamp=False)[0]
    assert raw < 0
    assert ev.ip_star(xc, np.zeros(20, int), x_ref, np.zeros(40, int))[0] == 0.0


def test_ip_star_subsamples_to_max_samples_and_is_seeded():
    rng = np.random.default_rng(12)
    x_ref, xc = rng.normal(size=(500, 2)), rng.normal(size=(300, 2)) + 0.3
    kw = dict(length_scale=1.0, clamp=False)
    a = ev.ip_star(xc, np.zeros(300, int), x_ref, np.zeros(500, int), max_samples=100, seed=1, **kw)[0]
    b = ev.ip_star(xc, np.zeros(300, int), x_ref, np.zeros(500, int), max_samples=100, seed=1, **kw)[0]
    c = ev.ip_star(xc, np.zeros(300, int), x_ref, np.zeros(500, int), max_samples=100, seed=2, **kw)[0]
    full = ev.mmd(xc, x_ref, length_scale=1.0)
    assert a == b and a != c
    assert abs(a - full) < 0.05 and abs(a - full) > 0  # a subsample estimate of the same quantity


def test_subsample_groups_respects_sizes_without_replacement():
    rng = np.random.default_rng(13)
    gid = np.r_[np.zeros(250, int), np.ones(30, int), np.full(3, 2)]
    idx = metrics_mod.subsample_groups(gid, 3, 100, rng)
    assert idx.shape == (3, 100)
    assert [(row >= 0).sum() for row in idx] == [100, 30, 3]
    for g, row in enumerate(idx):
        sel = row[row >= 0]
        assert len(np.unique(sel)) == len(sel) and np.all(gid[sel] == g)


def test_ip_star_bad_inputs():
    with pytest.raises(ValueError, match="length_scale must be > 0"):
        ev.ip_star(np.zeros((3, 2)), [0, 0, 0], np.zeros((3, 2)), [0, 0, 0], length_scale=0)
    with pytest.raises(ValueError, match="max_samples"):
        ev.ip_star(np.zeros((3, 2)), [0, 0, 0], np.zeros((3, 2)), [0, 0, 0], max_samples=1)
    with pytest.raises(TypeError, match="clamp"):
        ev.ip_star(np.zeros((3, 2)), [0, 0, 0], np.zeros((3, 2)), [0, 0, 0], clamp="yes")


def test_default_length_scales():
    assert tuple(cftkit.defaults.MMD_LENGTH_SCALES) == (0.5, 5.0)
    assert [ev.ip_star_key(v) for v in cftkit.defaults.MMD_LENGTH_SCALES] == ["ip_star[0.5]", "ip_star[5]"]


# ----------------------------------------------------------------------------- robustness
def test_fgsm_on_linear_model_matches_closed_form():
    rng = np.random.default_rng(14)
    w = rng.normal(size=(3, 3)).astype(np.float32)
    model = linear_model(w, [0.1, -0.2, 0.3])
    x = rng.normal(size=(20, 3)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    logits = x @ w + np.array([0.1, -0.2, 0.3])
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = (p - np.eye(3)[y]) @ w.T  # ∂CE/∂x = W (softmax − onehot)
    adv = ev.fgsm(model, x, y, 0.05)
    np.testing.assert_allclose(adv, x + 0.05 * np.sign(grad), atol=1e-6)
    np.testing.assert_array_equal(ev.fgsm(model, x, y, 0.0), x)


def _mean_ce(model, x, y):
    logits = ev.predict_logits(model, x).astype(np.float64)
    logits -= logits.max(1, keepdims=True)
    return float(np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(len(y)), y]))


def test_pgd_on_linear_model_converges_to_the_fgsm_corner():
    # Binary linear logits: sign(∇ₓ CE) = sign(w_other − w_y) everywhere, so the L∞ maximiser is the
    # FGSM corner; 40 steps of 0.01 cover the 2ε = 0.2 from any random start.
    rng = np.random.default_rng(19)
    model = linear_model(rng.normal(size=(3, 2)).astype(np.float32))
    x = rng.normal(size=(50, 3)).astype(np.float32)
    y = rng.integers(0, 2, 50)
    np.testing.assert_allclose(ev.pgd(model, x, y, 0.1, seed=4), ev.fgsm(model, x, y, 0.1), atol=1e-5)


def test_pgd_stays_in_ball_and_is_as_strong_as_fgsm(moons_model):
    model, ds = moons_model
    x, y = ds.x_test[:400], ds.y_test[:400]
    eps = 0.15  # ≤ 0.2: 40 steps of 0.01 can cross the ball from any random start
    adv = ev.pgd(model, x, y, eps, seed=1)
    assert np.max(np.abs(adv - x)) <= eps + 1e-6
    np.testing.assert_array_equal(adv, ev.pgd(model, x, y, eps, seed=1))  # seeded
    fgsm_adv = ev.fgsm(model, x, y, eps)
    acc_clean, acc_pgd = ev.accuracy(model, x, y), ev.accuracy(model, adv, y)
    acc_fgsm = ev.accuracy(model, fgsm_adv, y)
    assert acc_pgd < acc_clean
    assert acc_pgd <= acc_fgsm + 0.01  # on this smooth MLP both find (almost) the same points
    loss_start = _mean_ce(model, ev.pgd(model, x, y, eps, seed=1, steps=0), y)
    loss_pgd, loss_fgsm = _mean_ce(model, adv, y), _mean_ce(model, fgsm_adv, y)
    assert loss_pgd > 3 * loss_start  # the sign steps ascend the loss from the random start
    assert loss_pgd >= 0.9 * loss_fgsm


def test_pgd_zero_steps_is_random_start_in_ball():
    model = linear_model(np.eye(2, dtype=np.float32))
    x = np.zeros((500, 2), np.float32)
    adv = ev.pgd(model, x, np.zeros(500, int), 0.1, steps=0, seed=3)
    assert np.max(np.abs(adv)) <= 0.1 + 1e-7 and np.std(adv) > 0.04  # U(−0.1, 0.1): sd ≈ 0.058


def test_robust_accuracy_at_zero_is_clean_accuracy(moons_model):
    model, ds = moons_model
    x, y = ds.x_test[:300], ds.y_test[:300]
    clean = ev.accuracy(model, x, y)
    for attack in ("fgsm", "pgd"):
        out = ev.robust_accuracy(model, x, y, attack=attack)
        np.testing.assert_allclose(out["epsilon"], np.linspace(0, 0.1, 10))
        assert out["accuracy"].shape == (10,) and out["attack"] == attack
        assert out["accuracy"][0] == pytest.approx(clean)
        assert out["accuracy"][-1] <= out["accuracy"][0]


def test_robust_accuracy_per_epsilon_matches_single_attacks(moons_model):
    model, ds = moons_model
    x, y = ds.x_test[:200], ds.y_test[:200]
    out = ev.robust_accuracy(model, x, y, epsilons=[0.05, 0.3], attack="fgsm")
    for e, acc in zip([0.05, 0.3], out["accuracy"]):
        assert acc == pytest.approx(np.mean(ev.predict(model, ev.fgsm(model, x, y, e)) == y))


def test_graph_functions_compile_with_xla(moons_model):
    model, ds = moons_model
    x, y = ds.x_test[:64], ds.y_test[:64]
    np.testing.assert_allclose(ev.fgsm(model, x, y, 0.1, jit_compile=True), ev.fgsm(model, x, y, 0.1), atol=1e-6)
    # PGD's random start is drawn on the host, so the seed means the same with and without XLA.
    np.testing.assert_allclose(ev.pgd(model, x, y, 0.1, steps=5, seed=2, jit_compile=True),
                               ev.pgd(model, x, y, 0.1, steps=5, seed=2), atol=1e-5)
    np.testing.assert_allclose(ev.integrated_gradients(model, x, y, -0.5, steps=5, jit_compile=True),
                               ev.integrated_gradients(model, x, y, -0.5, steps=5), atol=1e-5)


def test_robustness_bad_inputs():
    model = linear_model(np.eye(2, dtype=np.float32))
    x, y = np.zeros((4, 2)), np.zeros(4, int)
    with pytest.raises(ValueError, match="unknown attack 'cw'"):
        ev.robust_accuracy(model, x, y, attack="cw")
    with pytest.raises(ValueError, match="epsilons must be finite and >= 0"):
        ev.robust_accuracy(model, x, y, epsilons=[0.1, -0.1])
    with pytest.raises(ValueError, match="epsilon must be a finite number >= 0"):
        ev.fgsm(model, x, y, -0.1)
    with pytest.raises(ValueError, match="epsilon must be a scalar or one value per row"):
        ev.pgd(model, x, y, np.ones(3))
    with pytest.raises(ValueError, match="y must be class indices"):
        ev.fgsm(model, x, [0, 1, 2, 0], 0.1)
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        ev.pgd(model, x, y, 0.1, steps=-1)


# ----------------------------------------------------------------------------- integrated gradients
@pytest.mark.parametrize("method", ev.IG_METHODS)
def test_ig_linear_model_closed_form(method):
    rng = np.random.default_rng(15)
    w = rng.normal(size=(4, 3)).astype(np.float32)
    model = linear_model(w, [1.0, 2.0, 3.0])
    x = rng.normal(size=(10, 4)).astype(np.float32)
    base = rng.uniform(-1, 1, size=(10, 4)).astype(np.float32)
    t = rng.integers(0, 3, 10)
    ig = ev.integrated_gradients(model, x, t, base, steps=7, method=method)
    np.testing.assert_allclose(ig, (x - base) * w[:, t].T, rtol=1e-5, atol=1e-6)


def test_ig_completeness_on_nonlinear_model(moons_model):
    model, ds = moons_model
    x, y = ds.x_test[:50], ds.y_test[:50]
    base = np.full(2, -0.5, np.float32)
    ig = ev.integrated_gradients(model, x, y, base, steps=300)
    lx = ev.predict_logits(model, x)[np.arange(50), y]
    lb = ev.predict_logits(model, np.tile(base, (50, 1)))[np.arange(50), y]
    np.testing.assert_allclose(ig.sum(1), lx - lb, atol=5e-3 * (1 + np.abs(lx - lb).max()))


def test_ig_bad_inputs():
    model = linear_model(np.eye(2, dtype=np.float32))
    with pytest.raises(ValueError, match="baseline must be a scalar"):
        ev.integrated_gradients(model, np.zeros((3, 2)), 0, np.zeros(3))
    with pytest.raises(ValueError, match="unknown method"):
        ev.integrated_gradients(model, np.zeros((3, 2)), 0, method="simpson")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        ev.integrated_gradients(model, np.zeros((3, 2)), 0, steps=0)
    with pytest.raises(ValueError, match="target must be class indices"):
        ev.integrated_gradients(model, np.zeros((3, 2)), 5)


def test_standardise_formulas():
    g2 = np.array([[-2.0, 6.0], [3.0, 1.0]])
    np.testing.assert_allclose(ev.standardise_attributions(g2), [[2 / 8, 6 / 8], [3 / 2, 1 / 2]])
    g3 = np.array([2.0, -2.0, 0.0])
    np.testing.assert_allclose(ev.standardise_attributions(g3), [1.0, 0.0, 0.5])
    np.testing.assert_allclose(ev.standardise_attributions(g2[0], two_dimensional=False), [0.0, 1.0])
    assert np.all(np.isnan(ev.standardise_attributions(np.array([1.0, 1.0, 1.0]))))


def test_protected_sensitivity_linear_models():
    rng = np.random.default_rng(16)
    x = rng.normal(size=(200, 2)).astype(np.float32)
    y = rng.integers(0, 2, 200)
    # Feature 0 does not enter the logits → its IG is exactly 0 in every round (2-D formula).
    blind = linear_model([[0.0, 0.0], [1.0, -1.0]])
    res = ev.protected_sensitivity(blind, x, y, [0], rounds=6, n_samples=50, steps=4, seed=1)
    assert res.values.shape == (6,) and np.all(res.values == 0) and res.median == 0
    # Feature 0 only, 3-D data: feature 0 holds the max or min of g, so g̃ ∈ {0, 1}.
    x3 = np.c_[x, x[:, :1]]
    only0 = linear_model([[1.0, -1.0], [0.0, 0.0], [0.0, 0.0]])
    res3 = ev.protected_sensitivity(only0, x3, y, [0], rounds=5, n_samples=40, steps=4, seed=2)
    assert np.all(np.isin(res3.values, [0.0, 1.0]))
    # Manual recomputation of round 0's g from the documented draw scheme.
    rng0 = np.random.default_rng([2, 0])
    idx = rng0.integers(0, 200, size=40)
    base = rng0.uniform(-1, 1, size=(40, 3)).astype(np.float32)
    w_t = np.array([[1.0, -1.0], [0, 0], [0, 0]])[:, y[idx]].T
    np.testing.assert_allclose(res3.attributions[0], ((x3[idx] - base) * w_t).mean(0), rtol=1e-5, atol=1e-6)


def test_protected_sensitivity_summary_statistics_and_pairing(moons_model):
    model, ds = moons_model
    res = ev.protected_sensitivity(model, ds.x_test, ds.y_test, [0], rounds=20, n_samples=100, steps=8, seed=3)
    assert res.median == pytest.approx(np.median(res.values))
    assert res.lower == pytest.approx(np.quantile(res.values, 0.025))
    assert res.upper == pytest.approx(np.quantile(res.values, 0.975))
    assert res.lower <= res.median <= res.upper and np.all(np.isfinite(res.values))
    again = ev.protected_sensitivity(model, ds.x_test, ds.y_test, [0], rounds=20, n_samples=100, steps=8, seed=3)
    np.testing.assert_array_equal(res.values, again.values)
    assert "[" in str(res)


def test_protected_sensitivity_bad_inputs():
    model = linear_model(np.eye(2, dtype=np.float32))
    x, y = np.zeros((5, 2)), np.zeros(5, int)
    with pytest.raises(ValueError, match="protected feature indices must be in"):
        ev.protected_sensitivity(model, x, y, [2])
    with pytest.raises(ValueError, match="protected must be a non-empty list"):
        ev.protected_sensitivity(model, x, y, [])
    with pytest.raises(ValueError, match="rounds must be an integer >= 1"):
        ev.protected_sensitivity(model, x, y, [0], rounds=0)
    with pytest.raises(ValueError, match="baseline_range"):
        ev.protected_sensitivity(model, x, y, [0], baseline_range=(1, -1))


# ----------------------------------------------------------------------------- accuracy / f1
def test_accuracy_and_f1():
    model = linear_model([[1.0, -1.0]])  # class 0 iff x > 0
    x = np.array([[1.0], [2.0], [-1.0], [-2.0]])
    y = np.array([0, 1, 1, 1])
    assert ev.accuracy(model, x, y) == 0.75
    # class 0: tp 1, fp 1, fn 0 → F1 2/3; class 1: tp 2, fp 0, fn 1 → 4/5
    assert ev.f1_score(model, x, y) == pytest.approx((2 / 3 + 4 / 5) / 2)
