"""Lesson 04 · Nascent counterfactuals: the nascent point by hand, and PGD on the paper's ε grid."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, array, call, close, diagnose, mapping, number, tolerances


def _last_within(path, factual, epsilon, dist):
    inside = dist(path - factual) <= epsilon
    return path[np.flatnonzero(inside)[-1]] if inside.any() else factual


def _linf(d):
    return np.abs(d).max(axis=-1)


def _check_nascent(nascent, paths, factuals, epsilon, want, tol):
    got = []
    for k, (path, factual) in enumerate(zip(paths, factuals)):
        got.append(array(call(nascent, path.copy(), factual.copy(), epsilon, name="nascent"),
                         f"nascent(res.path[{k}], factuals[{k}], ε)", shape=factual.shape))
    got = np.stack(got)
    if close(got, want, **tol):
        return

    def variant(pick):
        return np.stack([pick(p, f) for p, f in zip(paths, factuals)])

    def first_outside(p, f):
        outside = _linf(p - f) > epsilon
        return p[np.flatnonzero(outside)[0]] if outside.any() else p[-1]

    diagnose(got, {
        "`nascent` measures the distance with the ℓ2 norm; the ε-ball is an L∞ ball: ‖x_t − x‖∞ = max_j |x_tj − x_j|":
            variant(lambda p, f: _last_within(p, f, epsilon, lambda d: np.linalg.norm(d, axis=-1))),
        "`nascent` measures the distance with the ℓ1 norm; the ε-ball is an L∞ ball: max_j |x_tj − x_j|":
            variant(lambda p, f: _last_within(p, f, epsilon, lambda d: np.abs(d).sum(axis=-1))),
        "`nascent` returns the first state *outside* the ball; the nascent counterfactual is the last state "
        "inside it": variant(first_outside),
        "`nascent` returns the final counterfactual (the end of the path); it should stop at the last state "
        "within ε of the factual": variant(lambda p, f: p[-1]),
        "`nascent` returns the first state with ‖x_t − x‖∞ ≤ ε, which is always the factual itself; take the last one":
            variant(lambda p, f: p[0]),
    }, "`nascent(path, factual, ε)` is not the last state of the path with ‖x_t − x‖∞ ≤ ε", **tol)


def _paths(result):
    if result.path is None:
        raise Mistake("the search result has no path: search with return_path=True")
    return np.asarray(result.path, np.float64), np.asarray(result.factual, np.float64)


def _grade_nascent(nascent, *, result, epsilon, strict=False):
    paths, factuals = _paths(result)
    _check_nascent(nascent, paths, factuals, epsilon, np.asarray(result.nascent, np.float64), tolerances(strict))
    moved = int((np.abs(np.asarray(result.nascent) - factuals).max(axis=1) > 0).sum())
    return (f"For {moved} of {len(factuals)} factuals the nascent counterfactual moved away from the factual; "
            f"for the others the first step already left the ε-ball.")


def _hidden_nascent(nascent, *, result, epsilon):
    paths, factuals = _paths(result)
    for eps in (0.5 * epsilon, 2.0 * epsilon, 0.0):
        want = np.stack([_last_within(p, f, eps, _linf) for p, f in zip(paths, factuals)])
        _check_nascent(nascent, paths, factuals, eps, want, tolerances(True))


nascent_by_hand = Exercise(
    "04", "nascent_by_hand", "The nascent counterfactual, by hand", ("nascent",), _grade_nascent,
    hidden=_hidden_nascent,
    hint="""
        For a path of shape (S + 1, D) (row 0 is the factual), the L∞ distance of every state is
        np.abs(path - factual).max(axis=1). Keep the states with distance ≤ ε and return the last of them
        (np.flatnonzero(inside)[-1]); row 0 always qualifies.""",
    solution='''
        def nascent(path, factual, epsilon):
            """The last state of one search path (S + 1, D) with ‖x_t − x‖∞ ≤ ε (row 0 is the factual itself)."""
            inside = np.abs(path - factual).max(axis=1) <= epsilon
            return path[np.flatnonzero(inside)[-1]]


        by_hand = np.array([nascent(res.path[k], factuals[k], EPS) for k in range(len(factuals))])
        print("largest difference to res.nascent:", float(np.abs(by_hand - res.nascent).max()))''')


# ---------------------------------------------------------------------------------------- PGD grid
def _grade_pgd(paper_curves, *, models, x, y, strict=False):
    from .. import defaults
    from ..evaluation import robust_accuracy

    tol = tolerances(strict)
    curves = mapping(paper_curves, "paper_curves", list(models), "models")
    grid = np.asarray(defaults.ROBUST_EPSILONS, np.float64)
    want = {}
    for name, m in models.items():
        c = curves[name]
        if not isinstance(c, dict) or not {"epsilon", "accuracy", "attack"} <= set(c):
            raise Mistake(f"`paper_curves[{name!r}]` should be what ev.robust_accuracy returns (a dict with "
                          f"'epsilon', 'accuracy' and 'attack')")
        if str(c["attack"]).lower() != "pgd":
            raise Mistake(f"`paper_curves[{name!r}]` comes from the {str(c['attack']).upper()} attack; pass "
                          f"attack=\"pgd\"")
        eps = np.asarray(c["epsilon"], np.float64)
        if not close(eps, grid, **tol):
            if eps.size and eps.max() > grid.max() + 1e-9:
                raise Mistake(f"`paper_curves[{name!r}]` uses an ε grid up to {eps.max():g}; the paper's grid is "
                              f"cftkit.defaults.ROBUST_EPSILONS (0 to 0.1)")
            raise Mistake(f"`paper_curves[{name!r}]` is not on the paper's grid cftkit.defaults.ROBUST_EPSILONS")
        acc = array(c["accuracy"], f"paper_curves[{name!r}]['accuracy']", shape=grid.shape)
        want[name] = np.asarray(robust_accuracy(m, x, y, grid, attack="pgd")["accuracy"], np.float64)
        if not close(acc, want[name], **tol):
            raise Mistake(f"`paper_curves[{name!r}]['accuracy']` does not match PGD on `x_test, y_test` (the lesson's "
                          f"300 test points, default PGD settings: 40 steps of 0.01, seed 0)")
    if set(want) == {"BL", "CT"}:
        gap = want["CT"] - want["BL"]
        j = int(np.argmax(np.abs(gap)))
        return (f"On this grid the largest gap is {gap[j]:+.3f} (CT − BL) at ε = {grid[j]:.3f}: at such small ε "
                f"the two models are hard to tell apart.")
    return None


pgd_paper_grid = Exercise(
    "04", "pgd_paper_grid", "PGD robust accuracy on the paper's ε grid", ("paper_curves",), _grade_pgd,
    hint="""
        paper_curves = {name: ev.robust_accuracy(m, x_test, y_test, cftkit.defaults.ROBUST_EPSILONS,
        attack="pgd") for name, m in models.items()}; then draw them with plots.robust_accuracy_curves.""",
    solution='''
        paper_grid = cftkit.defaults.ROBUST_EPSILONS
        paper_curves = {name: ev.robust_accuracy(m, x_test, y_test, paper_grid, attack="pgd") for name, m in models.items()}
        plots.robust_accuracy_curves(paper_curves, title="PGD on the paper's ε grid", ylim=(0.8, 1.01))
        plt.show()
        for name, r in paper_curves.items():
            print(f"{name}: " + "  ".join(f"{a:.3f}" for a in r["accuracy"]))''')

EXERCISES = (nascent_by_hand, pgd_paper_grid)
