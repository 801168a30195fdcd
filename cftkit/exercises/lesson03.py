"""Lesson 03 · Energy and divergence: div and ridge by hand, and which counterfactuals are mature."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, array, call, close, diagnose, number, rng, tolerances


def _logits(model, x):
    from ..evaluation import predict_logits

    return np.asarray(predict_logits(model, np.asarray(x, np.float32)), np.float64)


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _check_energies(energies, model, x, target, tol):
    x, target = np.asarray(x, np.float32), np.asarray(target).astype(int)
    got = array(call(energies, model, x, target, name="energies"), "energies(model, x, target)", shape=(len(x),))
    z = _logits(model, x)
    rows = np.arange(len(x))
    want = -z[rows, target]
    if close(got, want, **tol):
        return want
    p = _softmax(z)
    diagnose(got, {
        "`energies` returns +f(x)[y⁺]; the energy is the *negative* target logit, E(x, y⁺) = −f(x)[y⁺]": -want,
        "`energies` uses the probability; the energy is the negative target *logit*, −f(x)[y⁺] (no softmax)":
            -p[rows, target],
        "`energies` uses the log-probability; the energy is the negative target logit itself, before the softmax":
            -np.log(p[rows, target]),
        "`energies` uses the logit of the predicted class; pick the logit of each row's target: "
        "logits[np.arange(n), target]": -z.max(axis=1),
        "`energies` uses the logit of class 1 for every row; pick each row's target: logits[np.arange(n), target]":
            -z[:, 1] if z.shape[1] > 1 else None,
        "`energies` uses the logit of class 0 for every row; pick each row's target: logits[np.arange(n), target]":
            -z[:, 0],
    }, "`energies(model, x, target)` does not return −f(x)[y⁺] per row (the logits are ev.predict_logits(model, x))",
        **tol)


def _grade_div(energies, my_div, my_ridge, *, model, batch, strict=False):
    tol = tolerances(strict)
    target = np.asarray(batch["target"]).astype(int)
    e_plus = _check_energies(energies, model, batch["x_plus"], target, tol)
    e_cf = -_logits(model, batch["x_cf"])[np.arange(len(target)), target]
    n = len(target)
    want_div, want_ridge = float(np.mean(e_plus - e_cf)), float(np.mean(e_plus ** 2 + e_cf ** 2))
    got = number(my_div, "my_div")
    if not close(got, want_div, **tol):
        diagnose(got, {
            "`my_div` has the wrong sign: div = mean[E(x⁺) − E(x′)], the real samples' energy minus the "
            "counterfactuals'": -want_div,
            "`my_div` is a sum over the tuples; it is the mean (divide by the number of tuples)": want_div * n,
            "`my_div` uses the logits instead of the energies (E = −logit), which flips its sign: "
            "div = mean[E(x⁺) − E(x′)]": -want_div,
            "`my_div` is the mean of |E(x⁺) − E(x′)|; keep the sign of each difference": float(np.mean(np.abs(e_plus - e_cf))),
        }, "`my_div` is not mean[E(x⁺) − E(x′)] over the batch `tuples[\"CT\"]` (with `ct`'s energies)", **tol)
    got = number(my_ridge, "my_ridge")
    if not close(got, want_ridge, **tol):
        diagnose(got, {
            "`my_ridge` is not squared: ridge = mean[E(x⁺)² + E(x′)²]": float(np.mean(e_plus + e_cf)),
            "`my_ridge` adds absolute values; square the energies: mean[E(x⁺)² + E(x′)²]":
                float(np.mean(np.abs(e_plus) + np.abs(e_cf))),
            "`my_ridge` squares the means; square each energy first, then average: mean[E(x⁺)² + E(x′)²]":
                float(np.mean(e_plus) ** 2 + np.mean(e_cf) ** 2),
            "`my_ridge` squares the sum: square each energy separately, E(x⁺)² + E(x′)²":
                float(np.mean((e_plus + e_cf) ** 2)),
            "`my_ridge` averages over all 2n energies; it is the mean over the n tuples of E(x⁺)² + E(x′)²":
                want_ridge / 2,
            "`my_ridge` is a sum over the tuples; it is the mean": want_ridge * n,
            "`my_ridge` has only the real samples' term; add E(x′)²": float(np.mean(e_plus ** 2)),
            "`my_ridge` has only the counterfactuals' term; add E(x⁺)²": float(np.mean(e_cf ** 2)),
        }, "`my_ridge` is not mean[E(x⁺)² + E(x′)²] over the batch `tuples[\"CT\"]`", **tol)
    side = "higher" if want_div < 0 else "lower"
    return (f"div = {want_div:+.3f}: the counterfactuals' energies are {side} than the real samples' on average; "
            f"ridge = {want_ridge:.3f}.")


def _hidden_div(energies, my_div, my_ridge, *, model, batch):
    _grade_div(energies, my_div, my_ridge, model=model, batch=batch, strict=True)
    g = rng(3)
    x = np.asarray(batch["x_plus"], np.float32)
    pts = (x[g.integers(0, len(x), 16)] + g.normal(scale=0.5, size=(16, x.shape[1]))).astype(np.float32)
    k = _logits(model, pts[:1]).shape[1]
    _check_energies(energies, model, pts, g.integers(0, k, 16), tolerances(True))


div_by_hand = Exercise(
    "03", "div_by_hand", "div and ridge by hand", ("energies", "my_div", "my_ridge"), _grade_div, hidden=_hidden_div,
    hint="""
        logits = ev.predict_logits(model, x) is (n, K); the energy of row i is −logits[i, target[i]], i.e.
        -logits[np.arange(n), target]. With e_plus = energies(ct, tup["x_plus"], tup["target"]) and e_cf the
        same for tup["x_cf"]: my_div = mean(e_plus − e_cf), my_ridge = mean(e_plus² + e_cf²).""",
    solution='''
        def energies(model, x, target):
            """E(x, y⁺) = −f(x)[y⁺] for every row of x (n, D), with y⁺ = target[i] for row i."""
            logits = ev.predict_logits(model, np.asarray(x))
            return -logits[np.arange(len(logits)), np.asarray(target)]


        tup = tuples["CT"]
        e_plus = energies(ct, tup["x_plus"], tup["target"])
        e_cf = energies(ct, tup["x_cf"], tup["target"])
        my_div = float(np.mean(e_plus - e_cf))
        my_ridge = float(np.mean(e_plus**2 + e_cf**2))
        print(f"div   by hand {my_div:.3f}   package {terms['CT']['div']:.3f}")
        print(f"ridge by hand {my_ridge:.3f}   package {terms['CT']['reg']:.3f}")''')


# ------------------------------------------------------------------------------------------ maturity
def _check_mature(is_mature, model, x, target, threshold, want, tol):
    x, target = np.asarray(x, np.float32), np.asarray(target).astype(int)
    got = call(is_mature, model, x, target, threshold, name="is_mature")
    arr = np.asarray(got)
    if arr.shape != (len(x),):
        raise Mistake(f"`is_mature(model, x_cf, target, threshold)` should return one value per row, shape "
                      f"({len(x)},); got {arr.shape}")
    if arr.dtype != bool:
        if np.issubdtype(arr.dtype, np.floating) and not np.isin(arr, (0.0, 1.0)).all():
            raise Mistake("`is_mature` returns probabilities; compare them with τ and return booleans (p >= threshold)")
        arr = arr.astype(bool)
    if np.array_equal(arr, want):
        return arr
    z = _logits(model, x)
    rows = np.arange(len(x))
    p = _softmax(z)
    diagnose(arr.astype(float), {
        "`is_mature` tests validity (the target is the most likely class, p ≥ 0.5); maturity needs "
        "p(y⁺ | x′) ≥ τ, the search's `threshold`": (np.argmax(z, axis=1) == target).astype(float),
        "`is_mature` compares the target *logit* with τ; apply the softmax first: p = softmax(f(x′))[y⁺]":
            (z[rows, target] >= threshold).astype(float),
        "`is_mature` uses the probability of class 1 for every row; take each row's target class":
            (p[:, 1] >= threshold).astype(float) if p.shape[1] > 1 else None,
        "`is_mature` is inverted: mature means p(y⁺ | x′) ≥ τ": (p[rows, target] < threshold).astype(float),
    }, "`is_mature` does not say which counterfactuals reached p(y⁺ | x′) ≥ τ: compute the softmax of "
       "ev.predict_logits(model, x_cf), take each row's target column and compare with `threshold`", rtol=0, atol=0)


def _grade_mature(is_mature, *, model, result, threshold, strict=False):
    want = np.asarray(result.mature, bool) & ~np.asarray(result.already_valid, bool)
    _check_mature(is_mature, model, result.counterfactual, result.target, threshold, want, tolerances(strict))
    if threshold < 0.9:  # with two classes and τ = 0.5 (circles) mature and valid coincide: ask at τ = 0.9 too
        target = np.asarray(result.target).astype(int)
        p = _softmax(_logits(model, result.counterfactual))[np.arange(len(target)), target]
        _check_mature(is_mature, model, result.counterfactual, target, 0.9, p >= 0.9, tolerances(strict))
    return (f"{int(want.sum())} of {len(want)} searches reached τ = {threshold:g} within {int(np.max(result.steps))} "
            f"steps; in training the other {int((~want).sum())} would have x′ replaced by x⁺. Valid only asks for the "
            f"most likely class; mature asks for p(y⁺ | x′) ≥ τ.")


def _hidden_mature(is_mature, *, model, result, threshold):
    _grade_mature(is_mature, model=model, result=result, threshold=threshold)
    g = rng(4)
    x = np.asarray(result.factual, np.float32)
    pts = (x[g.integers(0, len(x), 20)] + g.normal(scale=0.6, size=(20, x.shape[1]))).astype(np.float32)
    z = _logits(model, pts)
    target = g.integers(0, z.shape[1], 20)
    for tau in (0.6, 0.9):
        want = _softmax(z)[np.arange(20), target] >= tau
        _check_mature(is_mature, model, pts, target, tau, want, tolerances(True))


mature_by_hand = Exercise(
    "03", "mature_by_hand", "Which counterfactuals are mature?", ("is_mature",), _grade_mature, hidden=_hidden_mature,
    hint="""
        A counterfactual is mature when the search reached p(y⁺ | x′) ≥ τ. Compute the probabilities with a
        softmax over the logits, keras.ops.softmax(ev.predict_logits(model, x_cf)), take each row's
        target column (p[np.arange(n), target]) and compare with `threshold` (τ = preset.threshold, not 0.5).""",
    solution='''
        def is_mature(model, x_cf, target, threshold):
            """True where p(y⁺ | x′) = softmax(f(x′))[y⁺] ≥ τ, for every row of x_cf."""
            p = keras.ops.convert_to_numpy(keras.ops.softmax(ev.predict_logits(model, x_cf)))
            return p[np.arange(len(p)), np.asarray(target)] >= threshold


        mature_by_hand = is_mature(ct, short.counterfactual, short.target, preset.threshold)
        print("by hand:", mature_by_hand.astype(int), "  search:", short.mature.astype(int))''')

EXERCISES = (div_by_hand, mature_by_hand)
