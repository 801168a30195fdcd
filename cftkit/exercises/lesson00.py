"""Lesson 00 · Start here: implausibility by hand, and whether the generator matters."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, array, call, close, diagnose, mapping, number, rng, tolerances

MODELS = ("BL", "CT")


def _l1_variants(cf, points):
    d = points - cf
    return {
        "`mean_l1` uses the Euclidean (ℓ2) distance; IP uses the ℓ1 distance, the sum of the absolute "
        "differences over the features: np.abs(points - cf).sum(axis=1)": np.linalg.norm(d, axis=1).mean(),
        "`mean_l1` averages squared distances; IP uses the ℓ1 distance, the sum of the absolute differences "
        "|x′ − x| over the features": (d ** 2).sum(axis=1).mean(),
        "`mean_l1` sums the distances over the points; IP is their mean (divide by the number of points)":
            np.abs(d).sum(),
        "`mean_l1` averages over the features too: sum |x′ − x| over the features, then take the mean over "
        "the points": np.abs(d).mean(),
        "`mean_l1` measures the distance to the mean of the points; IP averages the distances to every point":
            np.abs(points.mean(axis=0) - cf).sum(),
        "`mean_l1` uses x − x′ without the absolute value: negative differences cancel positive ones":
            d.sum(axis=1).mean(),
    }


def _check_mean_l1(mean_l1, cf, points, tol):
    got = number(call(mean_l1, cf, points, name="mean_l1"), "mean_l1(cf, points)")
    want = float(np.abs(points - cf).sum(axis=1).mean())
    if not close(got, want, **tol):
        diagnose(got, _l1_variants(cf, points), "`mean_l1(cf, points)` does not return the mean ℓ1 distance from "
                 "`cf` to the rows of `points`: np.abs(points - cf).sum(axis=1).mean()", **tol)


def _grade_ip(mean_l1, ip_bl, ip_ct, *, results, dataset, i, strict=False):
    from ..evaluation import implausibility

    tol = tolerances(strict)
    x, y = np.asarray(dataset.x_test, np.float64), np.asarray(dataset.y_test)
    r = results["CT"]
    _check_mean_l1(mean_l1, np.asarray(r.counterfactual[i], np.float64), x[y == int(r.target[i])], tol)
    values = {}
    for name, value in (("BL", ip_bl), ("CT", ip_ct)):
        res, other = results[name], results["CT" if name == "BL" else "BL"]
        cf, target = np.asarray(res.counterfactual[i], np.float64), int(res.target[i])
        got = number(value, f"ip_{name.lower()}")
        want = float(implausibility(cf[None], [target], x, y)[0])
        if not close(got, want, **tol):
            other_cf = np.asarray(other.counterfactual[i], np.float64)
            diagnose(got, {
                f"`ip_{name.lower()}` is measured against the factual's class; IP compares a counterfactual with "
                f"the real points of its *target* class y⁺ = results[\"{name}\"].target[i]":
                    np.abs(x[y != target] - cf).sum(axis=1).mean(),
                f"`ip_{name.lower()}` uses every test point; IP uses only the points of the target class "
                f"(ds.x_test[ds.y_test == y⁺])": np.abs(x - cf).sum(axis=1).mean(),
                f"`ip_{name.lower()}` is the other model's value: BL's counterfactual is results[\"BL\"], CT's is "
                f"results[\"CT\"]": np.abs(x[y == int(other.target[i])] - other_cf).sum(axis=1).mean(),
            }, f"`ip_{name.lower()}` is not the IP of {name}'s counterfactual for factual i: apply mean_l1 to "
               f"results[\"{name}\"].counterfactual[i] and the test points of its target class", **tol)
        values[name] = got
    if values["CT"] < values["BL"]:
        return (f"CT's counterfactual lies closer to real data of its target class (IP {values['CT']:.2f}) than "
                f"BL's ({values['BL']:.2f}).")
    return f"IP: BL {values['BL']:.2f}, CT {values['CT']:.2f}."


def _hidden_ip(mean_l1, ip_bl, ip_ct, *, results, dataset, i):
    _grade_ip(mean_l1, ip_bl, ip_ct, results=results, dataset=dataset, i=i, strict=True)
    g = rng(0)
    for d in (1, 3, 7):
        _check_mean_l1(mean_l1, g.normal(size=d), g.normal(size=(25, d)) * 2.0, tolerances(True))


ip_by_hand = Exercise(
    "00", "ip_by_hand", "IP of one counterfactual, by hand", ("mean_l1", "ip_bl", "ip_ct"), _grade_ip,
    hidden=_hidden_ip,
    hint="""
        IP(x′, y⁺) is the mean over the test points x⁺ of class y⁺ of the ℓ1 distance Σ_j |x′_j − x⁺_j|.
        With `points` an (M, D) array and `cf` a (D,) array, `np.abs(points - cf)` is (M, D): sum it over
        the features (axis=1), then average over the points. The target of factual i under a model is
        `results[name].target[i]`; its points are `ds.x_test[ds.y_test == target]`.""",
    solution='''
        def mean_l1(cf, points):
            """The mean ℓ1 distance from one point `cf` (D,) to the rows of `points` (M, D)."""
            return float(np.abs(points - cf).sum(axis=1).mean())


        ip_bl = mean_l1(results["BL"].counterfactual[i], ds.x_test[ds.y_test == results["BL"].target[i]])
        ip_ct = mean_l1(results["CT"].counterfactual[i], ds.x_test[ds.y_test == results["CT"].target[i]])
        print(f"IP of BL's counterfactual {ip_bl:.3f}, of CT's {ip_ct:.3f}")''')


# --------------------------------------------------------------------------------- generic generator
def _search_stats(models, x_eval, dataset, search_kw, **changes):
    import cftkit
    from ..evaluation import implausibility, predict, validity

    out = {}
    for name, m in models.items():
        targets = 1 - predict(m, x_eval)
        kw = dict(search_kw, **changes)
        cf = cftkit.search(m, x_eval, targets, **kw).counterfactual
        valid = validity(m, cf, targets)
        ip = implausibility(cf, targets, dataset.x_test, dataset.y_test)
        out[name] = {"valid": float(valid.mean()), "ip": float(ip.mean()), "ip_valid": float(ip[valid].mean())
                     if valid.any() else float("nan"), "n_valid": float(valid.sum())}
    return out


def _grade_generic(generic_valid, generic_ip, *, models, x_eval, dataset, search_kw, strict=False):
    tol = tolerances(strict)
    names = list(models)
    valid_given = mapping(generic_valid, "generic_valid", names, "models")
    ip_given = mapping(generic_ip, "generic_ip", names, "models")
    kw = {k: v for k, v in search_kw.items() if k != "generator"}
    want = _search_stats(models, x_eval, dataset, kw, generator="generic")
    eccco = {}

    def eccco_stat(name, key):
        if not eccco:
            eccco.update(_search_stats(models, x_eval, dataset, kw, generator="eccco"))
        return eccco[name][key]

    for name in names:
        v = number(valid_given[name], f"generic_valid[{name!r}]")
        if not close(v, want[name]["valid"], **tol):
            diagnose(v, {
                f"`generic_valid[{name!r}]` counts the valid counterfactuals; give the share (the mean of "
                f"ev.validity(...), between 0 and 1)": want[name]["n_valid"],
                f"`generic_valid[{name!r}]` is the ECCCo result: pass generator=\"generic\" to cftkit.search":
                    lambda: eccco_stat(name, "valid"),
            }, f"`generic_valid[{name!r}]` is not the share of valid counterfactuals of a Generic search with the "
               f"lesson's settings (cftkit.search(m, x_eval, 1 - ev.predict(m, x_eval), generator=\"generic\", "
               f"**search_kw))", **tol)
        ip = number(ip_given[name], f"generic_ip[{name!r}]")
        if not close(ip, want[name]["ip"], **tol):
            diagnose(ip, {
                f"`generic_ip[{name!r}]` is the ECCCo result: pass generator=\"generic\" to cftkit.search":
                    lambda: eccco_stat(name, "ip"),
                f"`generic_ip[{name!r}]` averages over the valid counterfactuals only; the lesson's comparison "
                f"averages IP over all 250": want[name]["ip_valid"],
            }, f"`generic_ip[{name!r}]` is not the mean IP of {name}'s Generic counterfactuals for `x_eval` "
               f"(targets 1 − prediction, reference ds.x_test / ds.y_test)", **tol)
    if len(names) == 2 and set(names) == set(MODELS):
        better = "still lower" if want["CT"]["ip"] < want["BL"]["ip"] else "no longer lower"
        return (f"With the Generic generator CT's mean IP is {better} than BL's ({want['CT']['ip']:.3f} vs "
                f"{want['BL']['ip']:.3f}): the model, not the search, makes the counterfactuals plausible.")
    return None


generic_search = Exercise(
    "00", "generic_search", "Does the generator matter? The comparison with generator=\"generic\"",
    ("generic_valid", "generic_ip"), _grade_generic,
    hint="""
        Copy the loop of the 250-point comparison and add generator="generic" to the cftkit.search call
        (the other settings stay `**search_kw`). Store floats per model name: the share of valid
        counterfactuals, ev.validity(m, cf, targets).mean(), and the mean IP,
        ev.implausibility(cf, targets, ds.x_test, ds.y_test).mean().""",
    solution='''
        generic_valid, generic_ip = {}, {}
        for name, m in models.items():
            targets = 1 - ev.predict(m, x_eval)
            cf = cftkit.search(m, x_eval, targets, generator="generic", **search_kw).counterfactual
            generic_valid[name] = float(ev.validity(m, cf, targets).mean())
            generic_ip[name] = float(ev.implausibility(cf, targets, ds.x_test, ds.y_test).mean())
        for name in models:
            print(f"{name} (generic): valid {generic_valid[name]:.2f}, mean IP {generic_ip[name]:.3f}")''')

EXERCISES = (ip_by_hand, generic_search)
