"""Tests of :class:`cftkit.Constraints` (docs/method.md#domains, #mutability-and-categorical-features)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import cftkit
from cftkit import Constraints, defaults


# ----------------------------------------------------------------------------- from_data
X_HAND = np.array([[0.0, 10.0], [1.0, 10.0], [2.0, 10.0], [3.0, 50.0]])


def test_from_data_matches_hand_computation_n_std_2():
    # column 0: μ = 1.5, σ = √1.25;        μ ± 2σ = 1.5 ∓ 2.2360680 → [−0.7360680, 3.7360680] (wider than data)
    # column 1: μ = 20,  σ = √300 = 17.32; μ ± 2σ = [−14.641016, 54.641016]   (wider than data)
    c = Constraints.from_data(X_HAND, n_std=2)
    s0, s1 = math.sqrt(1.25), math.sqrt(300.0)
    np.testing.assert_allclose(c.lower, [1.5 - 2 * s0, 20 - 2 * s1], rtol=1e-6)
    np.testing.assert_allclose(c.upper, [1.5 + 2 * s0, 20 + 2 * s1], rtol=1e-6)
    assert c.mutability == ("both", "both")


def test_from_data_matches_hand_computation_n_std_1():
    # column 0: μ ± σ = [0.381966, 2.618034] is inside the data range [0, 3] → data min and max
    # column 1: μ ± σ = [2.679492, 37.320508]: the lower bound is μ − σ, the upper bound the data max 50
    c = Constraints.from_data(X_HAND, n_std=1)
    s1 = math.sqrt(300.0)
    np.testing.assert_allclose(c.lower, [0.0, 20 - s1], rtol=1e-6)
    np.testing.assert_allclose(c.upper, [3.0, 50.0], rtol=1e-6)


def test_from_data_default_is_two_standard_deviations():
    assert defaults.N_STD == 2.0
    assert Constraints.from_data(X_HAND) == Constraints.from_data(X_HAND, n_std=2)
    assert Constraints.from_data(X_HAND) != Constraints.from_data(X_HAND, n_std=3)


def test_from_data_n_std_zero_gives_data_range():
    c = Constraints.from_data(X_HAND, n_std=0)
    np.testing.assert_array_equal(c.lower, X_HAND.min(axis=0))
    np.testing.assert_array_equal(c.upper, X_HAND.max(axis=0))


def test_from_data_passes_options_through():
    c = Constraints.from_data(X_HAND, feature_names=["a", "b"], immutable=[1])
    assert c.feature_names == ("a", "b")
    assert c.mutability == ("both", "none")
    c = Constraints.from_data(X_HAND, mutability=["increase", "decrease"])
    assert c.mutability == ("increase", "decrease")


@settings(max_examples=200, deadline=None)
@given(x=hnp.arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(1, 4)),
                    elements=st.floats(-1e3, 1e3, allow_nan=False)),
       n_std=st.floats(0, 4))
def test_from_data_formula_and_containment(x, n_std):
    c = Constraints.from_data(x, n_std=n_std)
    x32 = x.astype(np.float32).astype(np.float64)  # from_data works on float32 data
    mu, sd = x32.mean(axis=0), x32.std(axis=0)
    lo = np.minimum(mu - n_std * sd, x32.min(axis=0))
    hi = np.maximum(mu + n_std * sd, x32.max(axis=0))
    np.testing.assert_allclose(c.lower, lo.astype(np.float32), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c.upper, hi.astype(np.float32), rtol=1e-6, atol=1e-6)
    # the data is exactly inside its own inferred domain
    assert np.all(x.astype(np.float32) >= c.lower) and np.all(x.astype(np.float32) <= c.upper)
    c.check(x)


@pytest.mark.parametrize("n_std", [-1.0, float("nan"), float("inf")])
def test_from_data_rejects_bad_n_std(n_std):
    with pytest.raises(ValueError, match="n_std"):
        Constraints.from_data(X_HAND, n_std=n_std)


def test_from_data_rejects_bad_data():
    with pytest.raises(ValueError, match=r"x must have shape \(N, D\)"):
        Constraints.from_data(np.zeros(3))
    with pytest.raises(ValueError, match=r"x contains NaN or inf"):
        Constraints.from_data(np.array([[0.0, np.nan]]))


# ----------------------------------------------------------------------------- construction
def test_defaults_are_unbounded_and_fully_mutable():
    c = Constraints(n_features=3)
    assert c.n_features == 3
    assert np.all(np.isneginf(c.lower)) and np.all(np.isposinf(c.upper))
    assert c.mutability == ("both",) * 3
    assert c.lower.dtype == np.float32 and c.upper.dtype == np.float32
    assert c.protected_features == () and c.immutable_features == ()


def test_one_sided_bounds():
    c = Constraints(lower=[0.0, -np.inf], upper=None)
    assert c.n_features == 2
    assert c.lower[0] == 0 and np.isneginf(c.lower[1]) and np.all(np.isposinf(c.upper))


@pytest.mark.parametrize("kwargs, match", [
    (dict(lower=[0, 0], upper=[1, 1, 1]), r"constraint lists have different lengths.*'lower': 2.*'upper': 3"),
    (dict(lower=[0, 0], mutability=["both"]), r"different lengths.*'mutability': 1"),
    (dict(upper=[1, 1], feature_names=["a", "b", "c"]), r"different lengths.*'feature_names': 3"),
    (dict(lower=[0, 0], n_features=3), r"different lengths.*'n_features': 3"),
    (dict(lower=[0, 2], upper=[1, 1]), r"lower > upper for feature 1 \(x1\): 2.0 > 1.0"),
    (dict(lower=[0, 2], upper=[1, 1], feature_names=["a", "age"]), r"lower > upper for feature 1 \('age'\)"),
    (dict(mutability=["both", "sometimes"]), r"unknown mutability 'sometimes' for feature 1"),
    (dict(mutability="none"), r"mutability must be a 1-D list"),
    (dict(lower=[[0, 1]]), r"lower must be a 1-D list"),
    (dict(lower=[0, np.nan]), r"lower contains NaN \(feature 1\)"),
    (dict(), r"needs at least one of"),
    (dict(n_features=0), r"at least one feature"),
    (dict(n_features=3, categorical_groups=[[0]]), r"categorical_groups.*>= 2 columns"),
    (dict(n_features=3, categorical_groups=[[1, 3]]), r"categorical_groups: column 3 out of range"),
    (dict(n_features=3, categorical_groups=[[0, 1], [1, 2]]), r"categorical_groups: column 1 appears in more"),
])
def test_bad_constraints(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Constraints(**kwargs)


def test_constraints_are_immutable_values():
    c = Constraints(lower=[0, 0], upper=[1, 1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lower = np.zeros(2)
    assert c == Constraints(lower=[0.0, 0.0], upper=[1.0, 1.0])
    assert c != Constraints(lower=[0.0, 0.0], upper=[1.0, 2.0])


# ----------------------------------------------------------------------------- mutability
def test_with_immutable_by_index_and_by_name():
    c = Constraints(lower=[0, 0, 0], upper=[1, 1, 1], feature_names=["age", "income", "debt"])
    by_index = c.with_immutable([0, 2])
    by_name = c.with_immutable(["age", "debt"])
    mixed = c.with_immutable(["age", 2])
    assert by_index.mutability == ("none", "both", "none")
    assert by_name == by_index and mixed == by_index
    assert by_index.immutable_features == (0, 2)
    assert c.mutability == ("both", "both", "both")  # the original is untouched (a copy is returned)
    np.testing.assert_array_equal(by_name.lower, c.lower)
    np.testing.assert_array_equal(by_name.upper, c.upper)
    assert c.with_immutable(np.array([0, 2])) == by_index  # numpy integers are indices too
    for bad in ([0.5], [True]):  # not silently truncated to feature 0
        with pytest.raises(TypeError, match=r"features must be feature indices \(int\) or names \(str\)"):
            c.with_immutable(bad)


def test_with_mutability_and_masks():
    c = Constraints(n_features=4).with_mutability([1], "increase").with_mutability([2], "decrease") \
        .with_immutable([3])
    assert c.mutability == ("both", "increase", "decrease", "none")
    assert c.protected_features == (1, 2, 3) and c.immutable_features == (3,)
    inc, dec = c.masks()
    np.testing.assert_array_equal(inc, [True, True, False, False])
    np.testing.assert_array_equal(dec, [True, False, True, False])
    assert c.unconstrained_mutability().mutability == ("both",) * 4


def test_with_mutability_rejects_unknown_features_and_words():
    c = Constraints(n_features=2, feature_names=["a", "b"])
    with pytest.raises(ValueError, match=r"unknown feature name 'c'"):
        c.with_immutable(["c"])
    with pytest.raises(ValueError, match=r"feature index 2 out of range for 2 features"):
        c.with_immutable([2])
    with pytest.raises(ValueError, match=r"unknown mutability 'up'"):
        c.with_mutability([0], "up")
    with pytest.raises(ValueError, match=r"unknown feature name 'a'"):
        Constraints(n_features=2).with_immutable(["a"])  # no names known


# ----------------------------------------------------------------------------- check / clip
def test_check_names_the_offending_row_and_feature():
    c = Constraints(lower=[0, 0], upper=[1, 1], feature_names=["age", "income"])
    x = np.array([[0.5, 0.5], [0.5, 1.5]])
    with pytest.raises(ValueError, match=r"x\[1\] is outside the domain: feature 1 \('income'\) = 1\.5 is above"):
        c.check(x, "x")
    with pytest.raises(ValueError, match=r"feature 0 \('age'\) = -0\.5 is below its lower bound 0"):
        c.check([[-0.5, 0.5]])
    with pytest.raises(ValueError, match=r"must have 2 features"):
        c.check(np.zeros((1, 3)))
    np.testing.assert_array_equal(c.check(x[:1]), x[:1].astype(np.float32))


def test_clip_projects_onto_the_box():
    c = Constraints(lower=[0, -np.inf], upper=[1, 2])
    out = c.clip([[-1.0, -5.0], [0.5, 3.0]])
    np.testing.assert_array_equal(out, [[0.0, -5.0], [0.5, 2.0]])


# ----------------------------------------------------------------------------- categorical decoding
def test_decode_categorical_one_hot_group_and_binary_columns():
    # col 0: declared binary; cols 1–3: one-hot group; col 4: continuous with a wider domain → untouched;
    # cols 5–6: a group; col 7: domain exactly [0, 1] but not declared binary → continuous, untouched.
    c = Constraints(lower=[0, 0, 0, 0, -1, 0, 0, 0], upper=[1, 1, 1, 1, 2, 1, 1, 1],
                    categorical_groups=[[1, 2, 3], [5, 6]], binary_features=[0])
    assert c.binary_features == (0,)
    x = np.array([[0.7, 0.2, 0.5, 0.3, 0.42, 0.1, 0.2, 0.613],
                  [0.2, 0.9, -0.1, 0.4, 1.7, 0.8, 0.3, 0.2],
                  [1.6, 0.0, 0.0, 0.05, -0.3, 0.45, 0.55, 0.5]], np.float32)
    x_before = x.copy()
    out = c.decode_categorical(x)
    np.testing.assert_array_equal(x, x_before)  # input not modified
    np.testing.assert_array_equal(out[:, 0], [1.0, 0.0, 1.0])  # rounded, then clipped to {0, 1}
    np.testing.assert_array_equal(out[:, 1:4], [[0, 1, 0], [1, 0, 0], [0, 0, 1]])  # argmax
    np.testing.assert_array_equal(out[:, 4], x[:, 4])  # continuous column unchanged
    np.testing.assert_array_equal(out[:, 5:7], [[0, 1], [1, 0], [0, 1]])
    np.testing.assert_array_equal(out[:, 7], x[:, 7])  # a [0, 1] domain alone does not make a column binary
    for g in c.categorical_groups:
        np.testing.assert_array_equal(out[:, list(g)].sum(axis=1), 1.0)
        assert set(np.unique(out[:, list(g)])) <= {0.0, 1.0}


@settings(max_examples=200, deadline=None)
@given(x=hnp.arrays(np.float32, st.tuples(st.integers(1, 8), st.just(5)),
                    elements=st.floats(-2, 3, width=32)))
def test_decode_categorical_always_gives_valid_one_hot(x):
    c = Constraints(lower=[0, 0, 0, 0, -5], upper=[1, 1, 1, 1, 5], categorical_groups=[[1, 2, 3]],
                    binary_features=[0])
    out = c.decode_categorical(x)
    grp = out[:, 1:4]
    assert np.all(grp.sum(axis=1) == 1) and np.all((grp == 0) | (grp == 1))
    np.testing.assert_array_equal(np.argmax(grp, axis=1), np.argmax(x[:, 1:4], axis=1))
    assert np.all(np.isin(out[:, 0], [0.0, 1.0]))
    np.testing.assert_array_equal(out[:, 4], x[:, 4])


# ----------------------------------------------------------------------------- serialisation
def test_config_round_trip_with_infinite_bounds_names_and_groups():
    c = Constraints(lower=[0, -np.inf, 0, 0], upper=[np.inf, 5, 1, 1], mutability=["none", "increase", "both", "both"],
                    categorical_groups=[[2, 3]], feature_names=["age", "debt", "red", "blue"])
    cfg = c.get_config()
    cfg2 = json.loads(json.dumps(cfg))  # JSON-serialisable (no inf, no numpy types)
    c2 = Constraints.from_config(cfg2)
    assert c2 == c
    np.testing.assert_array_equal(c2.lower, c.lower)
    np.testing.assert_array_equal(c2.upper, c.upper)
    assert c2.mutability == c.mutability and c2.feature_names == c.feature_names
    assert c2.categorical_groups == ((2, 3),)
    assert cfg["lower"][1] is None and cfg["upper"][0] is None


def test_config_round_trip_of_inferred_domain():
    c = Constraints.from_data(X_HAND, immutable=[0])
    c2 = Constraints.from_config(c.get_config())
    assert c2 == c
    np.testing.assert_array_equal(c2.lower, c.lower)


def test_constraints_exported_at_top_level():
    assert cftkit.Constraints is Constraints
    assert cftkit.MUTABILITIES == ("both", "increase", "decrease", "none")


def test_expanded_to_contains_new_points_and_keeps_the_rest():
    c = Constraints(lower=[0, 0], upper=[1, 1], mutability=["none", "increase"], feature_names=["a", "b"])
    x = np.array([[-0.5, 0.5], [0.5, 1.25]], np.float32)
    with pytest.raises(ValueError, match="outside the domain"):
        c.check(x)
    e = c.expanded_to(x)
    e.check(x)
    np.testing.assert_array_equal(e.lower, [-0.5, 0.0])
    np.testing.assert_array_equal(e.upper, [1.0, 1.25])
    assert e.mutability == c.mutability and e.feature_names == c.feature_names
    np.testing.assert_array_equal(c.lower, [0, 0])  # original untouched
    assert c.expanded_to([[0.5, 0.5]]) == c  # points inside: same domain


@pytest.mark.parametrize("make, name", [
    (lambda: Constraints(lower=["a", "b"]), "lower"),
    (lambda: Constraints(upper=[1.0, "x"]), "upper"),
    (lambda: Constraints.from_data(X_HAND, n_std="2"), "n_std"),
])
def test_non_numeric_constraint_arguments_are_named(make, name):
    """BUG (see report): numpy's bare conversion error (or a ufunc TypeError) escapes unnamed."""
    with pytest.raises((TypeError, ValueError), match=name):
        make()


# ----------------------------------------------------------------------------- input checks of groups, binary columns, names
@pytest.mark.parametrize("groups", [[[0.5, 1.7]], [[0, 1.0]], [[True, 1]], [[0, None]], [[np.float64(1), 2]]])
def test_categorical_group_indices_must_be_integers(groups):
    """BUG (issue 12): [[0.5, 1.7]] was silently truncated to the group (0, 1)."""
    with pytest.raises(TypeError, match=r"categorical_groups must hold column indices \(int\) or feature names"):
        Constraints(n_features=3, categorical_groups=groups)


def test_categorical_group_indices_may_be_numpy_integers_or_arrays():
    c = Constraints(n_features=4, categorical_groups=[np.array([0, 1]), [np.int64(2), np.int32(3)]])
    assert c.categorical_groups == ((0, 1), (2, 3)) and all(type(i) is int for g in c.categorical_groups for i in g)
    assert Constraints(n_features=4, categorical_groups=np.array([[0, 1], [2, 3]])) == c
    assert Constraints(n_features=4, categorical_groups=None).categorical_groups == ()


@pytest.mark.parametrize("groups", [[0, 1], (0, 1), np.array([0, 1]), ["a", "b"], "ab", 3])
def test_flat_categorical_groups_say_a_list_of_groups_is_expected(groups):
    """BUG (issue 12): a flat list [0, 1] failed with "'int' object is not iterable"."""
    with pytest.raises(TypeError, match=r"categorical_groups must be a list of one-hot groups, each a list of "
                                        r"column indices.*e\.g\. \[\[0, 1\]\]"):
        Constraints(n_features=3, feature_names=["a", "b", "c"], categorical_groups=groups)


def test_duplicate_feature_names_are_an_error():
    """BUG (issue 12): duplicates were accepted and look-ups by name silently picked the first."""
    with pytest.raises(ValueError, match=r"feature_names must be distinct.*'age' is the name of features 0 and 2"):
        Constraints(n_features=3, feature_names=["age", "income", "age"])
    with pytest.raises(ValueError, match=r"feature_names must be distinct.*'1'"):
        Constraints(n_features=2, feature_names=[1, "1"])  # equal once turned into strings


def test_groups_and_binary_features_by_name():
    names = ["age", "red", "blue", "smoker", "owner"]
    c = Constraints(n_features=5, feature_names=names, categorical_groups=[["red", "blue"]],
                    binary_features=["owner", 3])
    assert c.categorical_groups == ((1, 2),) and c.binary_features == (3, 4)
    assert c == Constraints(n_features=5, feature_names=names, categorical_groups=[[1, 2]], binary_features=[3, 4])
    with pytest.raises(ValueError, match=r"categorical_groups: unknown feature name 'green'"):
        Constraints(n_features=5, feature_names=names, categorical_groups=[["red", "green"]])
    with pytest.raises(ValueError, match=r"binary_features: unknown feature name 'smoker'"):
        Constraints(n_features=5, binary_features=["smoker"])  # no names known


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(binary_features=[3]), ValueError, r"binary_features: column 3 out of range for 3 features"),
    (dict(binary_features=[0.0]), TypeError, r"binary_features must hold column indices \(int\)"),
    (dict(binary_features=[True]), TypeError, r"binary_features must hold column indices \(int\)"),
    (dict(binary_features=2), TypeError, r"binary_features must be a list of column indices.*e\.g\. \[3\]"),
    (dict(binary_features=[2, 2]), ValueError, r"binary_features: column 2 \(x2\) is listed more than once"),
    (dict(binary_features=[1], categorical_groups=[[0, 1]]), ValueError,
     r"binary_features: column 1 \(x1\) is in one-hot group 0 \[0, 1\]; a column is either binary or part of"),
    (dict(binary_features=[2], lower=[0, 0, -1]), ValueError,
     r"binary_features: feature 2 \(x2\) must have the domain \[0, 1\]; got \[-1, 1\]"),
    (dict(binary_features=[2], upper=[1, 1, 2]), ValueError, r"feature 2 \(x2\) must have the domain \[0, 1\]; got \[0, 2\]"),
    (dict(binary_features=[2], lower=[0, 0, 0.5], upper=[1, 1, 1]), ValueError, r"got \[0\.5, 1\]"),
])
def test_bad_binary_features(kwargs, error, match):
    with pytest.raises(error, match=match):
        Constraints(n_features=3, **kwargs)


def test_binary_features_are_declared_never_inferred_and_default_to_domain_0_1():
    c = Constraints(lower=[0, 0, -1], upper=[1, 1, 1])  # a [0, 1] domain alone is continuous
    assert c.binary_features == ()
    c = Constraints(n_features=3, binary_features=[1])
    np.testing.assert_array_equal(c.lower, [-np.inf, 0, -np.inf])
    np.testing.assert_array_equal(c.upper, [np.inf, 1, np.inf])
    c = Constraints(lower=[-2, 0, 0], binary_features=[1])  # explicit lower, upper defaulted for the binary one
    np.testing.assert_array_equal(c.upper, [np.inf, 1, np.inf])


def test_from_data_passes_binary_features_with_the_domain_0_1():
    x = np.array([[0.0, 1.0, 0.3], [2.0, 0.0, 0.9], [1.0, 1.0, 0.5]])
    c = Constraints.from_data(x, n_std=2, binary_features=["b"], feature_names=["a", "b", "c"])
    assert c.binary_features == (1,)
    assert (c.lower[1], c.upper[1]) == (0.0, 1.0)
    free = Constraints.from_data(x, n_std=2)
    assert free.lower[1] < 0 and free.upper[1] > 1 and free.binary_features == ()  # not inferred
    np.testing.assert_array_equal(c.lower[[0, 2]], free.lower[[0, 2]])
    with pytest.raises(ValueError, match=r"binary_features: x\[0, 2\] = 0\.3, but a binary feature holds 0 or 1"):
        Constraints.from_data(x, binary_features=[2])


def test_config_round_trip_and_equality_include_binary_features():
    c = Constraints(n_features=4, binary_features=[3], categorical_groups=[[0, 1]], mutability=["none"] * 2 + ["both", "increase"])
    cfg = json.loads(json.dumps(c.get_config()))
    assert cfg["binary_features"] == [3]
    c2 = Constraints.from_config(cfg)
    assert c2 == c and c2.binary_features == (3,)
    assert c != Constraints(lower=c.lower, upper=c.upper, mutability=c.mutability, categorical_groups=[[0, 1]])
    old = {k: v for k, v in cfg.items() if k != "binary_features"}  # a config saved before binary_features
    assert Constraints.from_config(old).binary_features == ()


@pytest.mark.parametrize("mutability", [["increase", "increase", "both"], ["decrease", "decrease", "both"],
                                        ["none", "both", "both"], ["both", "increase", "both"]])
def test_a_one_hot_group_has_one_mutability_both_or_none(mutability):
    with pytest.raises(ValueError, match=r"categorical_groups: one-hot group 0 \(columns \[0, 1\]: 'r', 'g'\) has "
                                         r"mutabilities .*all columns of a group must share one mutability, 'both' "
                                         r"or 'none'.*with_immutable\(\[0, 1\]\)"):
        Constraints(n_features=3, categorical_groups=[[0, 1]], mutability=mutability, feature_names=["r", "g", "z"])


def test_with_mutability_on_part_of_a_group_names_the_group():
    c = Constraints(n_features=4, categorical_groups=[[1, 2, 3]])
    with pytest.raises(ValueError, match=r"one-hot group 0 \(columns \[1, 2, 3\].*\('none', 'both', 'both'\)"):
        c.with_immutable([1])
    with pytest.raises(ValueError, match=r"one-hot group 0 .*\('increase', 'increase', 'increase'\)"):
        c.with_mutability([1, 2, 3], "increase")
    whole = c.with_immutable([1, 2, 3])
    assert whole.mutability == ("both", "none", "none", "none")
    assert whole.with_mutability([1, 2, 3], "both") == c
    assert c.with_mutability([0], "increase").mutability[0] == "increase"  # columns outside groups: any word


def test_check_categorical_names_row_and_group_or_column():
    c = Constraints(n_features=5, categorical_groups=[[0, 1], [2, 3]], binary_features=[4],
                    feature_names=["a=1", "a=2", "b=1", "b=2", "smoker"])
    good = np.array([[1, 0, 0, 1, 1], [0, 1, 1, 0, 0]], np.float32)
    np.testing.assert_array_equal(c.check_categorical(good), good)
    for row, bad_row, match in [
        (1, [0, 1, 0.5, 0.5, 0], r"factuals\[1\]: one-hot group 1 \(columns \[2, 3\]: 'b=1', 'b=2'\) is not one-hot: "
                                 r"\[0\.5, 0\.5\]"),
        (1, [0, 1, 0, 0, 0], r"factuals\[1\]: one-hot group 1 .*\[0, 0\]"),
        (1, [1, 1, 0, 1, 0], r"factuals\[1\]: one-hot group 0 .*\[1, 1\]"),
        (1, [1, 0, 0, 1, 0.613], r"factuals\[1\]: binary feature 4 \('smoker'\) = 0\.613, but a binary feature holds"),
        (1, [2, -1, 0, 1, 0], r"factuals\[1\]: one-hot group 0 .*\[2, -1\]"),  # sums to 1, but not 0/1
    ]:
        x = good.copy()
        x[row] = bad_row
        with pytest.raises(ValueError, match=match):
            c.check_categorical(x)


@pytest.mark.parametrize("side", ["lower", "upper"])
def test_bounds_that_overflow_float32_are_an_error(side):
    kwargs = {"lower": [-1.0, -1.0], "upper": [1.0, 1.0]}
    kwargs[side][1] = 1e39 if side == "upper" else -1e39
    with pytest.raises(ValueError, match=rf"{side} of feature 1 \(x1\) = .*too large for float32"):
        cftkit.Constraints(**kwargs)
    kwargs[side][1] = np.inf if side == "upper" else -np.inf  # an explicit infinite bound is unbounded, as documented
    assert not np.isfinite(getattr(cftkit.Constraints(**kwargs), side)[1])
