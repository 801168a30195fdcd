"""Lesson 06 · Evaluation: the percentile test by hand, and MMD² (IP*) by hand."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, call, close, diagnose, number, rng, tolerances

RUNS = (2, 3, 5, 10)


def _interval(delta, lo_q, hi_q):
    lo, hi = np.quantile(delta, [lo_q, hi_q])
    return float(lo), float(hi)


def _check_test(percentile_test, delta, alpha, tol, where):
    from ..evaluation import percentile_significance

    delta = np.asarray(delta, np.float64)
    out = call(percentile_test, delta.copy(), alpha, name="percentile_test")
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise Mistake("`percentile_test(delta, alpha)` should return three values: (significant, lo, hi)")
    sig, lo, hi = out
    lo, hi = number(lo, "lo"), number(hi, "hi")
    want_sig, want_lo, want_hi = percentile_significance(delta, alpha)
    if not close([lo, hi], [want_lo, want_hi], **tol):
        diagnose([lo, hi], {
            "`percentile_test` uses the α and 1 − α quantiles; the two-sided interval runs from the α/2 to the "
            "1 − α/2 quantile": _interval(delta, alpha, 1 - alpha),
            "`percentile_test` passes fractions to np.percentile, which expects percent (0–100); use np.quantile, "
            "or multiply by 100": np.percentile(delta, [alpha / 2, 1 - alpha / 2]),
            "`percentile_test` returns (hi, lo); return (significant, lo, hi)": (want_hi, want_lo),
            "`percentile_test` returns the minimum and the maximum; take the α/2 and 1 − α/2 quantiles":
                (delta.min(), delta.max()),
        }, f"`percentile_test` ({where}) does not return the (α/2, 1 − α/2) quantiles of the deltas "
           f"(np.quantile(delta, [alpha / 2, 1 - alpha / 2]))", **tol)
    if not isinstance(sig, (bool, np.bool_)):
        raise Mistake(f"the first value of `percentile_test` should be a bool (significant or not); got "
                      f"{type(sig).__name__}")
    if bool(sig) != want_sig:
        if bool(sig) == (lo <= 0 <= hi):
            raise Mistake("`percentile_test`'s `significant` is inverted: the test is significant when 0 lies "
                          "*outside* [lo, hi] (lo > 0 or hi < 0)")
        raise Mistake(f"`percentile_test` ({where}) says significant = {bool(sig)} for the interval "
                      f"[{lo:.4g}, {hi:.4g}]; significant means 0 is outside the interval")


def _deltas(result):
    per_run = result.per_run
    delta = np.abs(np.asarray(per_run["CT"]["ip"], np.float64)) - np.abs(np.asarray(per_run["BL"]["ip"], np.float64))
    return delta[np.isfinite(delta)]


def _grade_test(percentile_test, *, result, strict=False):
    tol = tolerances(strict)
    delta = _deltas(result)
    for n in RUNS:
        if n <= len(delta):
            _check_test(percentile_test, delta[:n], 0.01, tol, f"IP deltas of the first {n} runs, α = 0.01")
    _check_test(percentile_test, delta, 0.05, tol, "all IP deltas, α = 0.05")
    n = min(max(RUNS), len(delta))
    lo, hi = _interval(delta[:n], 0.005, 0.995)
    return (f"With {n} runs the 99 % interval [{lo:.3f}, {hi:.3f}] nearly spans the smallest to the largest δ "
            f"([{delta[:n].min():.3f}, {delta[:n].max():.3f}]): with few runs a star just means every run moved "
            f"the same way.")


def _hidden_test(percentile_test, *, result):
    _grade_test(percentile_test, result=result, strict=True)
    g = rng(6)
    for shift, alpha in ((0.0, 0.05), (0.8, 0.01), (-0.5, 0.1), (3.0, 0.2)):
        _check_test(percentile_test, g.normal(loc=shift, size=40), alpha, tolerances(True), "random deltas")


star_by_hand = Exercise(
    "06", "star_by_hand", "The percentile significance test, by hand", ("percentile_test",), _grade_test,
    hidden=_hidden_test,
    hint="""
        lo, hi = np.quantile(delta, [alpha / 2, 1 - alpha / 2]) (np.quantile takes fractions; np.percentile
        would want percent); the test is significant when 0 is outside the interval: lo > 0 or hi < 0.
        Return (significant, lo, hi).""",
    solution='''
        def percentile_test(delta, alpha=0.01):
            """(significant, lo, hi): the α/2 and 1 − α/2 quantiles of the deltas; significant if 0 is outside."""
            lo, hi = np.quantile(delta, [alpha / 2, 1 - alpha / 2])
            return bool(lo > 0 or hi < 0), float(lo), float(hi)


        delta = np.abs(res.per_run["CT"]["ip"]) - np.abs(res.per_run["BL"]["ip"])
        for n in (2, 3, 5, 10):
            sig, lo, hi = percentile_test(delta[:n])
            print(f"n = {n:2}: interval [{lo:.3f}, {hi:.3f}] → {'*' if sig else 'no star'}")''')


# ------------------------------------------------------------------------------------------------ MMD
def _sq(u, v):
    return ((u[:, None, :] - v[None, :, :]) ** 2).sum(-1)


def _mmd_variants(a, b, ls):
    m, n = len(a), len(b)

    def parts(kernel):
        kaa, kbb, kab = kernel(_sq(a, a)), kernel(_sq(b, b)), kernel(_sq(a, b))
        off = lambda k, s: (k.sum() - np.trace(k)) / (s * (s - 1))  # noqa: E731
        return kaa, kbb, kab, off

    gauss = lambda s: np.exp(-s / (2 * ls ** 2))  # noqa: E731
    kaa, kbb, kab, off = parts(gauss)
    unbiased = off(kaa, m) + off(kbb, n) - 2 * kab.mean()
    out = {
        "`mmd2` is the biased estimate: leave out the diagonal terms k(a_i, a_i) = 1 and divide by m(m − 1)":
            kaa.mean() + kbb.mean() - 2 * kab.mean(),
        "`mmd2`'s kernel divides by ℓ² instead of 2ℓ²: k(u, v) = exp(−‖u − v‖² / (2ℓ²))":
            (lambda k: off(k[0], m) + off(k[1], n) - 2 * k[2].mean())(parts(lambda s: np.exp(-s / ls ** 2))[:3]),
        "`mmd2`'s kernel uses the distance, not the squared distance: exp(−‖u − v‖² / (2ℓ²))":
            (lambda k: off(k[0], m) + off(k[1], n) - 2 * k[2].mean())(parts(lambda s: np.exp(-np.sqrt(s) / (2 * ls ** 2)))[:3]),
        "`mmd2` adds the cross term; it is subtracted: … − 2·mean k(a_i, b_j)": off(kaa, m) + off(kbb, n) + 2 * kab.mean(),
        "`mmd2` subtracts the cross term once; it counts twice: … − 2·mean k(a_i, b_j)": off(kaa, m) + off(kbb, n) - kab.mean(),
        "`mmd2` takes a square root; the exercise asks for MMD² itself (it can be negative)":
            np.sqrt(unbiased) if unbiased >= 0 else None,
    }
    return unbiased, out


def _check_mmd(mmd2, a, b, ls, tol, where):
    from ..evaluation import mmd

    got = number(call(mmd2, a.copy(), b.copy(), ls, name="mmd2"), f"mmd2({where}, {ls:g})")
    want = float(mmd(a, b, length_scale=ls))
    tol = dict(tol, atol=max(tol["atol"], 1e-9))
    if close(got, want, **tol):
        return want
    _, variants = _mmd_variants(a, b, ls)
    diagnose(got, variants, f"`mmd2(a, b, {ls:g})` ({where}) is not the unbiased MMD² with the Gaussian kernel "
             f"exp(−‖u − v‖² / (2ℓ²))", **tol)


def _grade_mmd(mmd2, *, a, b, strict=False):
    tol = tolerances(strict)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    values = {ls: _check_mmd(mmd2, a, b, ls, tol, "the counterfactuals and the ring") for ls in (0.5, 5.0)}
    return (f"MMD² = {values[0.5]:.5f} at ℓ = 0.5 and {values[5.0]:.5f} at ℓ = 5. ev.ip_star gives "
            f"different numbers: it subsamples at most 100 reference points (seeded) and clamps negative "
            f"estimates to 0.")


def _hidden_mmd(mmd2, *, a, b):
    _grade_mmd(mmd2, a=a, b=b, strict=True)
    g = rng(7)
    for m, n, d, ls in ((5, 9, 3, 1.3), (12, 7, 2, 0.4), (4, 4, 6, 3.0)):
        _check_mmd(mmd2, g.normal(size=(m, d)), g.normal(loc=0.5, size=(n, d)), ls, tolerances(True), "random samples")


mmd_by_hand = Exercise(
    "06", "mmd_by_hand", "IP* by hand: the unbiased MMD²", ("mmd2",), _grade_mmd, hidden=_hidden_mmd,
    hint="""
        Squared distances between all pairs: ((u[:, None, :] - v[None, :, :]) ** 2).sum(-1); the kernel is
        exp(−that / (2ℓ²)). MMD² = Σ_{i≠j} k(a_i, a_j)/(m(m−1)) + Σ_{i≠j} k(b_i, b_j)/(n(n−1)) − 2·mean k(a_i, b_j):
        the i ≠ j sums are the kernel matrix's sum minus its trace.""",
    solution='''
        def mmd2(a, b, length_scale):
            """The unbiased MMD² of samples a (m, D) and b (n, D), kernel k(u, v) = exp(−‖u − v‖² / (2ℓ²))."""
            def k(u, v):
                return np.exp(-((u[:, None, :] - v[None, :, :]) ** 2).sum(-1) / (2 * length_scale**2))

            m, n = len(a), len(b)
            kaa, kbb = k(a, a), k(b, b)
            return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
                         - 2 * k(a, b).mean())


        cf = found["CT"].counterfactual
        ring_points = ds.x_test[ds.y_test == 1]
        for ls in (0.5, 5.0):
            packaged = ev.ip_star(cf, np.ones(len(cf), int), ds.x_test, ds.y_test, length_scale=ls)[1]
            print(f"ℓ = {ls}: by hand {mmd2(cf, ring_points, ls):.5f}, ev.mmd {ev.mmd(cf, ring_points, ls):.5f}, "
                  f"ev.ip_star {packaged:.5f}")''')

EXERCISES = (star_by_hand, mmd_by_hand)
