"""Lesson 01 · The counterfactual search: the first step by hand, and how strong the energy term should be."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, array, call, close, diagnose, mapping, number, rng, tolerances

LEARNING_RATE = 0.02
ENERGY_WEIGHTS = (0.0, 5.0, 20.0, 50.0)


def _ce_gradient(model, x, labels):
    """∇ₓ CE(f(x), labels) per row (float64)."""
    from .. import tf

    xt = tf.convert_to_tensor(np.asarray(x, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        logits = tf.cast(model(xt, training=False), tf.float32)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=np.asarray(labels, np.int32),
                                                                          logits=logits))
    return tape.gradient(loss, xt).numpy().astype(np.float64)


def _expected_step(model, x, target, lr):
    """The package's first Generic step (a one-step search with its path)."""
    import cftkit

    res = cftkit.search(model, x, target, generator="generic", learning_rate=lr, threshold=0.999, max_steps=1,
                        cost_weight=0.0, return_path=True)
    return np.asarray(res.path[:, 1], np.float64)


def _check_step(first_step, model, x, target, lr, tol):
    from ..evaluation import predict

    x = np.asarray(x, np.float32)
    got = array(call(first_step, model, x, target, lr, name="first_step"), "first_step(model, x, target, lr)",
                shape=x.shape)
    want = _expected_step(model, x, target, lr)
    if close(got, want, **tol):
        return got
    g = _ce_gradient(model, x, target)
    factual_class = predict(model, x)
    x64 = x.astype(np.float64)
    diagnose(got, {
        "`first_step` moves uphill: x + η∇ makes the target *less* likely; a descent step subtracts the "
        "gradient, x − η∇ₓ CE(f(x), y⁺)": x64 + lr * g,
        "`first_step` ignores the learning rate: multiply the gradient by η (the `learning_rate` argument)":
            x64 - g,
        "`first_step` uses η = 0.1 (the paper's value) instead of its `learning_rate` argument": x64 - 0.1 * g,
        "`first_step` returns the gradient, not the new point: x₁ = x − η·gradient": g,
        "`first_step` returns the step Δ = −η∇, not the new point x₁ = x + Δ": -lr * g,
        "`first_step` takes the gradient of the cross-entropy to the factual's own class; the search "
        "minimises CE to the *target* y⁺ (the `target` argument)": lambda: x64 - lr * _ce_gradient(model, x, factual_class),
        "`first_step` takes a sign step (that is FGSM, lesson 04); the search steps along the gradient "
        "itself: x − η∇": x64 - lr * np.sign(g),
    }, "`first_step(model, x, target, learning_rate)` is not x − η∇ₓ CE(f(x), y⁺): check the loss (softmax "
       "cross-entropy of the logits to `target`, summed over the rows) and the update", **tol)


def _grade_step(first_step, *, model, x, target, strict=False):
    got = _check_step(first_step, model, x, target, LEARNING_RATE, tolerances(strict))
    moved = float(np.abs(got - np.asarray(x, np.float64)).max())
    return f"The search's first step is one gradient-descent step on the cross-entropy (it moved x by up to {moved:.3f})."


def _hidden_step(first_step, *, model, x, target):
    from ..evaluation import predict

    g = rng(1)
    x = np.asarray(x, np.float32)
    pts = (np.repeat(x[:1], 8, axis=0) + g.normal(scale=0.3, size=(8, x.shape[1]))).astype(np.float32)
    k = int(np.asarray(model(pts[:1])).shape[-1])
    _check_step(first_step, model, pts, (predict(model, pts) + 1) % k, 0.05, tolerances(True))


first_step = Exercise(
    "01", "first_step", "The first step of a Generic search, by hand", ("first_step",), _grade_step,
    hidden=_hidden_step,
    hint="""
        Watch x with `tf.GradientTape()`, compute the logits `model(x)` and the softmax cross-entropy to the
        target (tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=...)), sum it over the
        rows, take `tape.gradient(loss, x)` and return x − learning_rate · gradient as a NumPy array.
        (The distance penalty λ_cost‖x − x₀‖₁ has gradient 0 at the factual itself, so the first step
        does not see it.)""",
    solution='''
        def first_step(model, x, target, learning_rate):
            """x₁ = x − η ∇ₓ CE(f(x), y⁺): the first step of a Generic search, for a batch x (N, D)."""
            x = tf.convert_to_tensor(x, tf.float32)
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=model(x)))
            return (x - learning_rate * tape.gradient(loss, x)).numpy()


        x1 = first_step(model, x0, target, 0.02)
        print(f"x₀ = {np.round(x0[0], 4)}  →  x₁ = {np.round(x1[0], 4)}")''')


# ------------------------------------------------------------------------------------- energy sweep
def _sweep(model, x, targets, dataset, constraints, **changes):
    import cftkit
    from ..evaluation import cost, implausibility

    kw = dict(generator="eccco", constraints=constraints, learning_rate=LEARNING_RATE, threshold=0.9)
    kw.update(changes)
    out = {}
    for w in ENERGY_WEIGHTS:
        r = cftkit.search(model, x, targets, energy_weight=w, **kw)
        out[w] = {"ip": float(implausibility(r.counterfactual, targets, dataset.x_test, dataset.y_test).mean()),
                  "cost": float(cost(r.counterfactual, x).mean()), "mature": float(r.mature.mean()),
                  "n_mature": float(r.mature.sum()),
                  "cost_l2": float(np.linalg.norm(r.counterfactual - x, axis=1).mean())}
    return out


def _grade_sweep(sweep, *, model, x, targets, dataset, constraints, strict=False):
    tol = tolerances(strict)
    rows = mapping(sweep, "sweep", ENERGY_WEIGHTS, "λ_egy values")
    for w, row in rows.items():
        mapping(row, f"sweep[{w:g}]", ("ip", "cost", "mature"))
    want = _sweep(model, x, targets, dataset, constraints)
    alt = {}

    def other(key, **changes):
        tag = tuple(sorted(changes.items()))
        if tag not in alt:
            alt[tag] = _sweep(model, x, targets, dataset, constraints, **changes)
        return alt[tag]

    given = {w: {k: number(v, f"sweep[{w:g}][{k!r}]") for k, v in row.items()} for w, row in rows.items()}
    ips = [given[w]["ip"] for w in ENERGY_WEIGHTS]
    if len(set(np.round(ips, 10))) == 1 and not close(ips, [want[w]["ip"] for w in ENERGY_WEIGHTS], **tol):
        raise Mistake("all rows of `sweep` are the same: the energy weight does nothing for the Generic generator; "
                      "search with generator=\"eccco\" and energy_weight=λ_egy")
    for w in ENERGY_WEIGHTS:
        for key in ("ip", "cost", "mature"):
            got = given[w][key]
            if close(got, want[w][key], **tol):
                continue
            hints = {}
            if key == "mature":
                hints["`sweep[…]['mature']` counts the mature counterfactuals; give the share, r.mature.mean()"] = \
                    want[w]["n_mature"]
            if key == "cost":
                hints["`sweep[…]['cost']` uses the ℓ2 distance; the lesson's cost is ℓ1, ev.cost(cf, x_eval)"] = \
                    want[w]["cost_l2"]
            hints["`sweep` was searched with the paper's η = 0.1; the lesson's searches use learning_rate=0.02"] = \
                lambda: other(key, learning_rate=0.1)[w][key]
            hints["`sweep` was searched with the default threshold τ = 0.5; use threshold=0.9"] = \
                lambda: other(key, threshold=0.5)[w][key]
            hints["`sweep` was searched without the domain: pass constraints=constraints"] = \
                lambda: other(key, constraints=None)[w][key]
            diagnose(got, hints, f"`sweep[{w:g}][{key!r}]` does not match an ECCCo search of `x_eval` (targets "
                     f"`t_eval`) with energy_weight={w:g}, learning_rate=0.02, threshold=0.9 and `constraints`",
                     **tol)
    lo, hi = want[ENERGY_WEIGHTS[0]], want[ENERGY_WEIGHTS[-1]]
    return (f"From λ_egy = 0 to 50 the mean IP goes from {lo['ip']:.3f} to {hi['ip']:.3f}, the mean cost from "
            f"{lo['cost']:.3f} to {hi['cost']:.3f} and the mature share from {lo['mature']:.2f} to {hi['mature']:.2f}.")


energy_sweep = Exercise(
    "01", "energy_sweep", "How strong should the energy term be?", ("sweep",), _grade_sweep,
    hint="""
        Loop over λ_egy in (0.0, 5.0, 20.0, 50.0); for each, run cftkit.search(model, x_eval, t_eval,
        generator="eccco", constraints=constraints, learning_rate=0.02, threshold=0.9, energy_weight=λ_egy)
        and store sweep[λ_egy] = {"ip": mean IP (ev.implausibility against ds.x_test, ds.y_test),
        "cost": mean ev.cost(cf, x_eval), "mature": r.mature.mean()}.""",
    solution='''
        sweep = {}
        for energy_weight in (0.0, 5.0, 20.0, 50.0):
            r = cftkit.search(model, x_eval, t_eval, generator="eccco", constraints=constraints, learning_rate=0.02,
                              threshold=0.9, energy_weight=energy_weight)
            sweep[energy_weight] = {"ip": float(ev.implausibility(r.counterfactual, t_eval, ds.x_test, ds.y_test).mean()),
                                    "cost": float(ev.cost(r.counterfactual, x_eval).mean()),
                                    "mature": float(r.mature.mean())}
        for energy_weight, s in sweep.items():
            print(f"λ_egy = {energy_weight:4.0f}: IP {s['ip']:.3f}, cost {s['cost']:.3f}, mature {s['mature']:.2f}")''')

EXERCISES = (first_step, energy_sweep)
