"""Lesson 08 · Reproduce: two ways to average, and what counts as agreeing with the paper."""

from __future__ import annotations

import math

import numpy as np

from ._core import Exercise, Mistake, call, close, diagnose, mapping, number, rng, tolerances


def _grade_averages(ratio_of_means, differs_most, *, result, strict=False):
    from ..experiments import TABLE_METRICS

    tol = tolerances(strict)
    metrics = list(TABLE_METRICS)
    if isinstance(ratio_of_means, dict) and set(ratio_of_means) == set(TABLE_METRICS.values()):
        raise Mistake("`ratio_of_means` is keyed by the evaluation's metric names; use the keys of "
                      "experiments.TABLE_METRICS (the keys of `result`: " + ", ".join(metrics) + ")")
    given = mapping(ratio_of_means, "ratio_of_means", metrics, "metrics")
    want = {}
    for m in metrics:
        ct, bl = float(result[m]["ct_mean"]), float(result[m]["bl_mean"])
        want[m] = (1 - ct / bl) * 100
        got = number(given[m], f"ratio_of_means[{m!r}]")
        if not close(got, want[m], **tol):
            diagnose(got, {
                f"`ratio_of_means[{m!r}]` is a fraction; the table's numbers are percentages (× 100)": 1 - ct / bl,
                f"`ratio_of_means[{m!r}]` divides BL by CT; the reduction is (1 − mean CT / mean BL)·100":
                    (1 - bl / ct) * 100,
                f"`ratio_of_means[{m!r}]` is CT/BL·100; the reduction is 1 minus that ratio, times 100": ct / bl * 100,
                f"`ratio_of_means[{m!r}]` is the table's mean of ratios (reduction_pct); compute it from "
                f"ct_mean and bl_mean": float(result[m]["reduction_pct"]),
                f"`ratio_of_means[{m!r}]` has the wrong sign: (1 − ct_mean / bl_mean)·100": (ct / bl - 1) * 100,
            }, f"`ratio_of_means[{m!r}]` is not (1 − result[{m!r}][\"ct_mean\"] / result[{m!r}][\"bl_mean\"])·100", **tol)
    gaps = {m: abs(want[m] - float(result[m]["reduction_pct"])) for m in metrics}
    top = max(gaps, key=gaps.get)
    if differs_most != top:
        signed = max(metrics, key=lambda m: want[m] - float(result[m]["reduction_pct"]))
        if differs_most == signed and signed != top:
            raise Mistake("`differs_most` compares signed differences; the largest gap is the largest *absolute* "
                          "difference between the two averages")
        raise Mistake(f"`differs_most` = {differs_most!r} is not the metric whose mean of ratios and ratio of means "
                      f"differ most (by absolute difference)")
    return (f"{top} differs most (by {gaps[top]:.1f} points): with near-zero per-run values, a few runs with a tiny "
            f"BL value give huge ratios that dominate the mean of ratios.")


two_averages = Exercise(
    "08", "two_averages", "Mean of ratios vs ratio of means", ("ratio_of_means", "differs_most"), _grade_averages,
    hint="""
        For each metric m in experiments.TABLE_METRICS, result[m] has "ct_mean", "bl_mean" and "reduction_pct"
        (the table's mean of ratios). The ratio of means is (1 − ct_mean / bl_mean)·100; `differs_most` is
        the m with the largest abs(ratio_of_means[m] − result[m]["reduction_pct"]).""",
    solution='''
        ratio_of_means = {metric: (1 - result[metric]["ct_mean"] / result[metric]["bl_mean"]) * 100
                          for metric in experiments.TABLE_METRICS}
        differs_most = max(ratio_of_means, key=lambda m: abs(ratio_of_means[m] - result[m]["reduction_pct"]))
        for metric, value in ratio_of_means.items():
            print(f"{metric:12} mean of ratios {result[metric]['reduction_pct']:8.2f}   ratio of means {value:8.2f}")
        print("differs most:", differs_most)''')


# --------------------------------------------------------------------------------------- agreement
def _want_within(ours, paper, tolerance):
    from ..experiments import agreement

    return agreement(ours, paper, tolerance).startswith("within")


def _variants(ours, paper, tolerance):
    return {
        "`within` uses an absolute tolerance; it is relative to the paper's value: |ours − paper| ≤ tolerance·|paper|":
            abs(ours - paper) <= tolerance * 100,
        "`within` uses an absolute tolerance (±tolerance itself); it is relative to the paper's value: "
        "|ours − paper| ≤ tolerance·|paper|": abs(ours - paper) <= tolerance,
        "`within` forgets the absolute value of the paper's number: for a negative paper value tolerance·paper is "
        "negative and nothing is ever within; use tolerance·|paper|": abs(ours - paper) <= tolerance * paper,
        "`within` measures the tolerance relative to our value; it is relative to the paper's: "
        "|ours − paper| ≤ tolerance·|paper|": abs(ours - paper) <= tolerance * abs(ours),
        "`within` only compares the signs; the size must be within ±tolerance·|paper| as well": ours * paper > 0,
        "`within` uses a strict inequality; the boundary counts as within (≤)": abs(ours - paper) < tolerance * abs(paper),
    }


def _check_within(within, pairs, tolerance, where):
    for ours, paper in pairs:
        if not (math.isfinite(ours) and math.isfinite(paper)):
            continue
        got = call(within, ours, paper, tolerance, name="within")
        if not isinstance(got, (bool, np.bool_)):
            raise Mistake(f"`within` should return a bool; got {type(got).__name__}")
        want = _want_within(ours, paper, tolerance)
        if bool(got) != want:
            for message, value in _variants(ours, paper, tolerance).items():
                if bool(value) == bool(got) and all(
                        bool(_variants(o, p, tolerance)[message]) == bool(call(within, o, p, tolerance, name="within"))
                        for o, p in pairs if math.isfinite(o) and math.isfinite(p)):
                    raise Mistake(message)
            raise Mistake(f"`within({ours:.4g}, {paper:.4g}, {tolerance:g})` returns {bool(got)} ({where}); within "
                          f"means |ours − paper| ≤ tolerance·|paper|")


def _cells(stored):
    from ..experiments import paper_comparison

    return [(c["ours"], c["paper"]) for r in stored.values() for c in paper_comparison(r)["metrics"].values()]


def _grade_within(within, *, stored, strict=False):
    pairs = _cells(stored)
    _check_within(within, pairs, 0.5, "a cell of the stored results")
    n = sum(_want_within(o, p, 0.5) for o, p in pairs)
    return f"{n} of {len(pairs)} cells agree with the paper within ±50 %."


def _hidden_within(within, *, stored):
    _grade_within(within, stored=stored)
    g = rng(8)
    pairs = [(float(a), float(b)) for a, b in g.normal(scale=40, size=(30, 2))]
    pairs += [(60.0, 40.0), (-10.0, -12.0), (-20.0, -12.0), (5.0, -5.0), (0.0, 0.0), (0.1, 0.0)]
    for tol in (0.5, 0.25):
        _check_within(within, pairs, tol, "hidden cases")


agreement = Exercise(
    "08", "agreement", "What counts as agreeing with the paper?", ("within",), _grade_within, hidden=_hidden_within,
    hint="""
        Agreement is relative to the paper's own number: |ours − paper| ≤ tolerance·|paper| (≤, not <). The
        absolute value matters when the paper's reduction is negative. Return a bool.""",
    solution='''
        def within(ours, paper, tolerance=0.5):
            """True when our reduction is within ±tolerance·|paper| of the paper's (which implies the same sign)."""
            return bool(abs(ours - paper) <= tolerance * abs(paper))


        n_within = sum(within(c["ours"], c["paper"]) for _, c in cells)
        print(f"{n_within} of {len(cells)} cells within ±50 % of the paper's value")''')

EXERCISES = (two_averages, agreement)
