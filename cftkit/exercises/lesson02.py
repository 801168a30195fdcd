"""Lesson 02 · Actionability: the mutability mask by hand, and a decrease-only feature."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, array, call, close, diagnose, mapping, number, rng, tolerances

MUTABILITIES = ("both", "increase", "decrease", "none")


def _masked(delta, mutability):
    """The package's rule (:meth:`cftkit.Constraints.masks`, applied as the search does)."""
    from ..constraints import Constraints

    d = delta.shape[1]
    inc, dec = Constraints(lower=np.full(d, -1.0), upper=np.full(d, 1.0), mutability=list(mutability)).masks()
    out = np.where(inc, delta, np.minimum(delta, 0.0))
    return np.where(dec, out, np.maximum(out, 0.0))


def _check_mask(mask_step, delta, mutability, tol):
    before = delta.copy()
    got = array(call(mask_step, delta, list(mutability), name="mask_step"), "mask_step(delta, mutability)",
                shape=delta.shape)
    if not np.array_equal(delta, before):
        raise Mistake("`mask_step` changed the `delta` it was given; work on a copy (np.array(delta)) and return it")
    want = _masked(delta, mutability)
    if close(got, want, **tol):
        return
    swapped = [{"increase": "decrease", "decrease": "increase"}.get(m, m) for m in mutability]
    loose = ["both" if m == "none" else m for m in mutability]
    diagnose(got, {
        "`mask_step` swaps \"increase\" and \"decrease\": an increase-only feature keeps only the positive part "
        "of its step, np.maximum(Δ, 0)": _masked(delta, swapped),
        "`mask_step` lets an immutable feature (\"none\") move: its step must be 0": _masked(delta, loose),
        "`mask_step` returns the unmasked step: apply each feature's mutability": delta,
        "`mask_step` zeroes every constrained feature; \"increase\" and \"decrease\" keep one direction of the "
        "step (np.maximum(Δ, 0) and np.minimum(Δ, 0))": np.where(np.array(mutability) == "both", delta, 0.0),
        "`mask_step` flips the sign of the steps it should drop; it should set them to 0":
            np.where(_masked(delta, mutability) == delta, delta, -delta),
    }, "`mask_step(delta, mutability)` does not keep exactly what each feature's mutability allows: "
       "\"both\" → Δ, \"increase\" → max(Δ, 0), \"decrease\" → min(Δ, 0), \"none\" → 0", **tol)


def _deltas(d):
    grid = np.array(np.meshgrid(*[[-1.5, 0.0, 0.75]] * min(d, 2))).reshape(min(d, 2), -1).T
    return np.tile(grid, (1, (d + 1) // 2))[:, :d].astype(np.float64)


def _grade_mask(mask_step, *, settings, strict=False):
    tol = tolerances(strict)
    cases = [tuple(c.mutability) for c in settings.values()] + [("decrease", "none"), ("increase", "decrease")]
    for mutability in cases:
        _check_mask(mask_step, _deltas(len(mutability)), mutability, tol)
    return "This is step 5 of the search: the mask acts on the step Δ before it is taken, so a feature never moves the forbidden way."


def _hidden_mask(mask_step, *, settings):
    g = rng(2)
    for _ in range(4):
        mutability = tuple(g.choice(MUTABILITIES, size=5))
        _check_mask(mask_step, g.normal(size=(7, 5)), mutability, tolerances(True))


mask_step = Exercise(
    "02", "mask_step", "The mutability mask on a step Δ, by hand", ("mask_step",), _grade_mask, hidden=_hidden_mask,
    hint="""
        Copy `delta` (np.array(delta, dtype=float)) and treat one column (feature) j at a time:
        "increase" keeps the positive part, np.maximum(delta[:, j], 0); "decrease" the negative part,
        np.minimum(delta[:, j], 0); "none" sets the column to 0; "both" leaves it.""",
    solution='''
        def mask_step(delta, mutability):
            """The steps Δ (N, D) with each feature's change limited by its mutability ("both", "increase",
            "decrease" or "none"), as the search masks every step before it takes it."""
            delta = np.array(delta, dtype=float)
            for j, m in enumerate(mutability):
                if m == "increase":
                    delta[:, j] = np.maximum(delta[:, j], 0.0)
                elif m == "decrease":
                    delta[:, j] = np.minimum(delta[:, j], 0.0)
                elif m == "none":
                    delta[:, j] = 0.0
            return delta


        print(mask_step([[0.5, -0.5], [-0.2, 0.3]], ["increase", "none"]))''')


# ------------------------------------------------------------------------------------- decrease-only
def _decrease_stats(model, x, targets, constraints, feature, mutability):
    import cftkit

    r = cftkit.search(model, x, targets, constraints=constraints.with_mutability([feature], mutability))
    delta = np.asarray(r.counterfactual, np.float64) - x
    return r, delta


def _grade_decrease(max_dx1, mature_by_target, *, model, x, targets, constraints, strict=False):
    tol = tolerances(strict)
    x = np.asarray(x, np.float64)
    targets = np.asarray(targets)
    name0, name1 = constraints.feature_names[0], constraints.feature_names[1]
    r, delta = _decrease_stats(model, x, targets, constraints, name0, "decrease")
    got = number(max_dx1, "max_dx1")
    if not close(got, delta[:, 0].max(), **tol):
        _, inc = _decrease_stats(model, x, targets, constraints, name0, "increase")
        _, other = _decrease_stats(model, x, targets, constraints, name1, "decrease")
        diagnose(got, {
            f"`max_dx1` comes from an increase-only {name0}; make it decrease-only: "
            f"constraints.with_mutability([\"{name0}\"], \"decrease\")": inc[:, 0].max(),
            f"`max_dx1` is the largest |Δ{name0}|; the question is whether any Δ{name0} is positive, so take the "
            f"largest signed change (counterfactual − factual)": np.abs(delta[:, 0]).max(),
            f"`max_dx1` is Δ of the wrong feature or from the wrong search: make {name0} (column 0) decrease-only and "
            f"take column 0 of counterfactual − factual": other[:, 0].max(),
            f"`max_dx1` is the largest change of {name1}; {name0} is column 0": delta[:, 1].max(),
            "`max_dx1` is factual − counterfactual; Δ is counterfactual − factual": (-delta[:, 0]).max(),
        }, f"`max_dx1` is not the largest change Δ{name0} = x′ − x of a search with {name0} decrease-only "
           f"(all test points x_all, targets t_all)", **tol)
    classes = sorted(int(c) for c in np.unique(targets))
    given = mapping(mature_by_target, "mature_by_target", classes, "target classes")
    want = {c: float(r.mature[targets == c].mean()) for c in classes}
    for c in classes:
        v = number(given[c], f"mature_by_target[{c}]")
        if close(v, want[c], **tol):
            continue
        factual = 1 - c if len(classes) == 2 else None
        diagnose(v, {
            f"`mature_by_target` is keyed by the factual's class; key it by the target class t (rows with "
            f"t_all == t)": want[factual] if factual is not None else None,
            "`mature_by_target` holds the share over all searches; take it per target: r.mature[t_all == t].mean()":
                float(r.mature.mean()),
            "`mature_by_target` counts mature counterfactuals; give the share (the mean)": float(r.mature[targets == c].sum()),
        }, f"`mature_by_target[{c}]` is not the share of mature counterfactuals among the searches with target {c}",
           **tol)
    worse, better = sorted(classes, key=lambda c: want[c])[:2] if len(classes) >= 2 else (classes[0], classes[0])
    note = f"Searches towards class {worse} suffer (mature {want[worse]:.2f} vs {want[better]:.2f})"
    if x[targets == worse, 0].mean() < x[targets == better, 0].mean():
        return note + f": they start left of class {worse} and would have to increase {name0}, which it no longer may."
    return note + "."


decrease_only = Exercise(
    "02", "decrease_only", "A decrease-only feature", ("max_dx1", "mature_by_target"), _grade_decrease,
    hint="""
        decrease = constraints.with_mutability(["x1"], "decrease"); search all of x_all (targets t_all)
        with it; Δ = r.counterfactual − x_all, and max_dx1 is the largest entry of its first column (it
        must be ≤ 0). For each target class t, the share of mature searches is r.mature[t_all == t].mean().""",
    solution='''
        decrease = constraints.with_mutability(["x1"], "decrease")
        r = cftkit.search(model, x_all, t_all, constraints=decrease)
        max_dx1 = float((r.counterfactual - x_all)[:, 0].max())
        mature_by_target = {t: float(r.mature[t_all == t].mean()) for t in (0, 1)}
        print(f"max Δx1 {max_dx1:+.3f}; mature: " + ", ".join(f"target {t} {v:.2f}" for t, v in mature_by_target.items()))''')

EXERCISES = (mask_step, decrease_only)
