"""Lesson 07 · Real data: the most-changed feature, and an MNIST frame that may not change."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, array, close, diagnose, mapping, tolerances

SIDE = 28


def _changes(result, name, valid_only=True, signed=False):
    delta = np.asarray(result.counterfactuals, np.float64) - np.asarray(result.factuals, np.float64)
    delta = delta if signed else np.abs(delta)
    rows = np.asarray(result.records["model"]) == name
    if valid_only:
        rows &= np.asarray(result.records["valid"], bool)
    return delta, rows


def _grade_changed(mean_change, top_feature, *, result, dataset, strict=False):
    tol = tolerances(strict)
    names = [str(n) for n in dict.fromkeys(np.asarray(result.records["model"]).tolist())]
    means = mapping(mean_change, "mean_change", names, "models")
    tops = mapping(top_feature, "top_feature", names, "models")
    features = list(dataset.feature_names)
    same = True
    for name in names:
        delta, rows = _changes(result, name)
        want = delta[rows].mean(axis=0)
        got = array(means[name], f"mean_change[{name!r}]", shape=want.shape)
        if not close(got, want, **tol):
            signed, _ = _changes(result, name, signed=True)
            everything, all_rows = _changes(result, name, valid_only=False)
            diagnose(got, {
                f"`mean_change[{name!r}]` averages the signed change x′ − x, so ups and downs cancel; take its "
                f"absolute value first": signed[rows].mean(axis=0),
                f"`mean_change[{name!r}]` is a sum over the counterfactuals; take the mean": delta[rows].sum(axis=0),
                f"`mean_change[{name!r}]` uses every counterfactual of {name}; keep only the valid ones "
                f"(ch_res.records[\"valid\"])": everything[all_rows].mean(axis=0),
                f"`mean_change[{name!r}]` mixes the models' counterfactuals; select the rows with "
                f"ch_res.records[\"model\"] == {name!r}": delta[np.asarray(result.records["valid"], bool)].mean(axis=0),
            }, f"`mean_change[{name!r}]` is not the mean |x′ − x| per feature over {name}'s valid counterfactuals",
               **tol)
        top = tops[name]
        want_top = features[int(np.argmax(want))]
        if isinstance(top, (int, np.integer)) and not isinstance(top, bool):
            raise Mistake(f"`top_feature[{name!r}]` is an index ({int(top)}); give the feature's name, "
                          f"ch.feature_names[{int(top)}]")
        if str(top) != want_top:
            raise Mistake(f"`top_feature[{name!r}]` = {top!r} is not the feature with the largest mean change in "
                          f"`mean_change[{name!r}]` (np.argmax, then ch.feature_names)")
        everything, all_rows = _changes(result, name, valid_only=False)
        same &= features[int(np.argmax(everything[all_rows].mean(axis=0)))] == want_top
    note = ", ".join(f"{n}: {tops[n]}" for n in names)
    if same:
        return f"{note}. Restricting to the valid counterfactuals does not change the answer here."
    return f"{note}. Restricting to the valid counterfactuals changes the answer for at least one model."


most_changed = Exercise(
    "07", "most_changed", "The most-changed feature of valid counterfactuals", ("mean_change", "top_feature"),
    _grade_changed,
    hint="""
        change = np.abs(ch_res.counterfactuals - ch_res.factuals) has one row per protocol counterfactual.
        For a model, rows = (ch_res.records["model"] == name) & ch_res.records["valid"]; its mean change is
        change[rows].mean(axis=0) and the top feature is ch.feature_names[np.argmax(...)].""",
    solution='''
        change = np.abs(ch_res.counterfactuals - ch_res.factuals)
        mean_change, top_feature = {}, {}
        for name in ("BL", "CT"):
            rows = (ch_res.records["model"] == name) & ch_res.records["valid"]
            mean_change[name] = change[rows].mean(axis=0)
            top_feature[name] = ch.feature_names[int(np.argmax(mean_change[name]))]
            print(f"{name}: {rows.sum()} valid counterfactuals, most changed feature: {top_feature[name]}")''')


# ------------------------------------------------------------------------------------------ the frame
def _columns(cols):
    return {SIDE * r + c for r in range(SIDE) for c in cols}


FRAME = _columns((*range(5), *range(SIDE - 5, SIDE)))


def _search(model, factuals, targets, constraints):
    import cftkit

    return np.asarray(cftkit.search(model, factuals, targets, constraints=constraints, threshold=0.5, max_steps=50,
                                    cost_weight=0.0, energy_weight=1.0).counterfactual, np.float64)


def _grade_frame(border, cf_frame, *, model, factuals, targets, constraints, strict=False):
    tol = tolerances(strict)
    try:
        given = {int(j) for j in np.asarray(list(border)).reshape(-1)}
    except (TypeError, ValueError):
        raise Mistake("`border` should be a list of pixel indices (ints)") from None
    protected = set(constraints.immutable_features)
    if not FRAME <= given or not given <= FRAME | protected:
        rows = {SIDE * r + c for r in (*range(5), *range(SIDE - 5, SIDE)) for c in range(SIDE)}
        if given == rows or given <= rows:
            raise Mistake("`border` holds pixel *rows*; pixel (r, c) is feature 28·r + c, so the five leftmost "
                          "columns are [28 * r + c for r in range(28) for c in range(5)]")
        if given == _columns((*range(4), *range(24, SIDE))) or given == _columns((*range(6), *range(22, SIDE))):
            raise Mistake("`border` has the wrong number of columns: five on each side, c in range(5) and "
                          "range(23, 28)")
        if given == _columns(range(5)) or given == _columns(range(23, SIDE)):
            raise Mistake("`border` has only one side: add the five rightmost columns (c in range(23, 28)) or the "
                          "five leftmost (c in range(5))")
        missing = sorted(FRAME - given)
        raise Mistake(f"`border` is not the five leftmost and five rightmost columns (e.g. pixel {missing[0] if missing else sorted(given - FRAME - protected)[0]} "
                      f"is {'missing' if missing else 'not a border pixel'})")
    x = np.asarray(factuals, np.float64)
    cf = array(cf_frame, "cf_frame", shape=x.shape)
    frame = sorted(FRAME)
    moved = np.abs(cf - x)[:, frame].max()
    if moved > 1e-6:
        if close(cf, _search(model, factuals, targets, constraints), **tol):
            raise Mistake("`cf_frame` was searched with the old constraints (only the rows protected); make the "
                          "border immutable too: constraints.with_immutable(border)")
        raise Mistake(f"a border pixel of `cf_frame` changed (by up to {moved:.3f}): search with constraints that "
                      f"make the border immutable")
    want = _search(model, factuals, targets, constraints.with_immutable(frame))
    if not close(cf, want, **tol):
        raise Mistake("`cf_frame` does not match a search of CT's six images with the frame immutable and the "
                      "settings above (threshold=0.5, max_steps=50, cost_weight=0.0, energy_weight=1.0)")
    return "No pixel of the frame changed; the counterfactuals draw only inside it."


border_frame = Exercise(
    "07", "border_frame", "Protect the left and right borders too", ("border", "cf_frame"), _grade_frame,
    hint="""
        Pixel (r, c) of a 28 × 28 image is feature 28·r + c. The border columns are c in range(5) and
        range(23, 28), for every row r in range(28). frame = mn_protected.constraints.with_immutable(border);
        search mn_ct's counterfactuals of `x` (targets `targets`) with constraints=frame and the settings of
        the cell above.""",
    solution='''
        border = [28 * r + c for r in range(28) for c in (*range(5), *range(23, 28))]
        frame = mn_protected.constraints.with_immutable(border)
        cf_frame = cftkit.search(mn_ct, x, targets, constraints=frame, threshold=0.5, max_steps=50,
                                 cost_weight=0.0, energy_weight=1.0).counterfactual
        print("largest change in a border column:", float(np.abs(cf_frame - x)[:, border].max()))
        fig = plots.mnist_grid(cf_frame, nrow=1, titles=[f"CT → {t}" for t in targets])''')

EXERCISES = (most_changed, border_frame)
