"""Tests of the four synthetic datasets (docs/datasets.md#synthetic-data, #linearly-separable-and-overlapping).

Expected values are derived from the generative laws, not copied from a run:

* pool = 3600 points, validation = 600 (class-stratified: floor(600/3600 · n_c) per class plus the
  leftover rows to the largest remainders), train = 3000, test = 900;
* LS/OL: class c ~ N(centre_c, σ²I) with the fixed centres and σ = 0.5 / 2.0;
* moons: class 0 = (cos θ, sin θ), class 1 = (cos θ + 1, −sin θ + 0.3), θ ~ U(0, π), noise 0.1, so
  E[class 0] = (0, 2/π) and E[class 1] = (1, 0.3 − 2/π);
* circles: class 0 has radius 0.01 (+ noise 0.15 per coordinate), class 1 radius 1.

Tolerances are ≥ 4 standard errors of the estimate for the ~1 800–2 250 points per class.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import cftkit
from cftkit.datasets import stratified_split

NAMES = ("linearly_separable", "overlapping", "circles", "moons")
CENTRES = np.array([[-5.30, 2.08], [-1.13, 5.58]])


@pytest.fixture(scope="module")
def data():
    return {name: cftkit.datasets.load(name, seed=0) for name in NAMES}


def all_points(ds):
    """Pool (train + val) and test together: 4 500 i.i.d. draws of the generative law."""
    return np.concatenate([ds.x_pool, ds.x_test]), np.concatenate([ds.y_pool, ds.y_test])


# ----------------------------------------------------------------------------- shapes and splits
def expected_val_counts(class_sizes, n_val):
    """floor(n_val/N · n_c) per class, the rows left over to the largest remainders (cftkit's rule;
    the reference floors only, which leaves 599 instead of 600)."""
    sizes = np.asarray(class_sizes)
    quota = n_val / sizes.sum() * sizes
    counts = np.floor(quota).astype(int)
    for j in np.argsort(-(quota - counts), kind="stable")[: n_val - counts.sum()]:
        counts[j] += 1
    return counts


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_stratified_split(data, name):
    ds = data[name]
    n_c = np.bincount(ds.y_pool, minlength=2)
    assert n_c.sum() == 3600
    val_c = np.bincount(ds.y_val, minlength=2)
    np.testing.assert_array_equal(val_c, expected_val_counts(n_c, 600))
    # stratified: each class within one row of its exact share, and nothing is lost to flooring
    assert np.all(np.abs(val_c - 600 / 3600 * n_c) < 1)
    assert np.all(val_c >= np.floor(600 / 3600 * n_c))
    assert ds.x_val.shape == (600, 2) and ds.x_train.shape == (3000, 2) and ds.x_test.shape == (900, 2)
    assert ds.y_train.shape == (3000,) and ds.y_val.shape == (600,) and ds.y_test.shape == (900,)
    assert ds.n_features == 2 and ds.n_classes == 2
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert ds.feature_names == ("x1", "x2")
    assert set(np.unique(ds.y_pool)) == {0, 1}
    assert np.all(np.isfinite(ds.x_pool)) and np.all(np.isfinite(ds.x_test))


def test_stratified_split_keeps_order_and_fills_n_val():
    y = np.array([0] * 7 + [1] * 13 + [2] * 10)
    rng = np.random.default_rng(0)
    tr, va = stratified_split(y, 6, rng)
    assert np.all(np.diff(tr) > 0)  # training part keeps its original order
    assert sorted(np.r_[tr, va].tolist()) == list(range(len(y)))
    # quotas 6/30 · (7, 13, 10) = (1.4, 2.6, 2.0): floors (1, 2, 2), the spare row to the largest remainder
    np.testing.assert_array_equal(np.bincount(y[va], minlength=3), [1, 3, 2])
    np.testing.assert_array_equal(expected_val_counts([7, 13, 10], 6), [1, 3, 2])
    with pytest.raises(ValueError, match="n_val"):
        stratified_split(y, 31, rng)


@pytest.mark.parametrize("name", NAMES)
def test_train_val_test_are_disjoint(data, name):
    ds = data[name]
    rows = lambda x: {tuple(r) for r in x.tolist()}  # noqa: E731
    tr, va, te = rows(ds.x_train), rows(ds.x_val), rows(ds.x_test)
    assert len(tr) == len(ds.x_train) and not (tr & va) and not (tr & te) and not (va & te)


# ----------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_data_other_seed_other_data(data, name):
    a, b = data[name], cftkit.datasets.load(name, seed=0)
    for attr in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    np.testing.assert_array_equal(a.constraints.lower, b.constraints.lower)
    c = cftkit.datasets.load(name, seed=1)
    assert c.x_train.shape[1] == 2 and len(c.x_test) == 900
    assert not np.array_equal(a.x_test, c.x_test)
    assert not np.array_equal(a.x_train[:100], c.x_train[:100])


def test_aliases_and_case_insensitive_names(data):
    for alias, name in [("ls", "linearly_separable"), ("lin_sep", "linearly_separable"), ("OL", "overlapping"),
                        ("over", "overlapping"), ("circ", "circles"), ("Moon", "moons"), ("MOONS", "moons")]:
        ds = cftkit.datasets.load(alias)
        assert ds.name == name
        np.testing.assert_array_equal(ds.x_train, data[name].x_train)
    assert set(NAMES) <= set(cftkit.datasets.available())


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match=r"unknown dataset name 'mnist_fashion'"):
        cftkit.datasets.load("mnist_fashion")
    with pytest.raises(TypeError, match=r"name must be a dataset name"):
        cftkit.datasets.load(3)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0; got -1"):
        cftkit.datasets.load("moons", seed=-1)
    with pytest.raises(TypeError, match=r"seed must be an integer >= 0; got 'a'"):
        cftkit.datasets.load("moons", seed="a")


# ----------------------------------------------------------------------------- distributions
@pytest.mark.parametrize("name", NAMES)
def test_classes_are_balanced(data, name):
    ds = data[name]
    for y in (ds.y_train, ds.y_test):
        assert 0.45 <= np.mean(y) <= 0.55


@pytest.mark.parametrize("name, std, tol_mean", [("linearly_separable", 0.5, 0.06), ("overlapping", 2.0, 0.2)])
def test_blob_centres_and_spread(data, name, std, tol_mean):
    x, y = all_points(data[name])
    for c in (0, 1):
        xc = x[y == c]
        # standard error of a class mean: std/√2250 = 0.011 (LS), 0.042 (OL)
        np.testing.assert_allclose(xc.mean(axis=0), CENTRES[c], atol=tol_mean)
        np.testing.assert_allclose(xc.std(axis=0), [std, std], rtol=0.08)
        assert abs(np.corrcoef(xc.T)[0, 1]) < 0.1  # isotropic


def test_overlapping_is_wider_than_linearly_separable(data):
    x_ls, y_ls = all_points(data["linearly_separable"])
    x_ol, y_ol = all_points(data["overlapping"])
    for c in (0, 1):
        ratio = x_ol[y_ol == c].std(axis=0) / x_ls[y_ls == c].std(axis=0)
        assert np.all((3.5 < ratio) & (ratio < 4.5))  # 2.0 / 0.5 = 4
    # LS is (almost surely) linearly separable along the centre line; OL overlaps a lot
    d = CENTRES[1] - CENTRES[0]
    mid = CENTRES.mean(axis=0)
    acc = lambda x, y: np.mean(((x - mid) @ d > 0) == (y == 1))  # noqa: E731
    assert acc(x_ls, y_ls) > 0.999
    # Bayes accuracy of OL = Φ(|Δ|/(2σ)) = Φ(5.44/4) ≈ 0.913
    bayes = 0.5 * (1 + math.erf(np.linalg.norm(d) / 4 / math.sqrt(2)))
    assert abs(acc(x_ol, y_ol) - bayes) < 0.03


def test_blob_centres_geometry():
    d = CENTRES[1] - CENTRES[0]
    assert np.linalg.norm(d) == pytest.approx(5.44, abs=0.01)
    assert math.degrees(math.atan2(d[1], d[0])) == pytest.approx(40.0, abs=0.5)
    # the origin lies (nearly) on the perpendicular bisector: equidistant from both centres
    assert np.linalg.norm(CENTRES[0]) == pytest.approx(np.linalg.norm(CENTRES[1]), abs=0.02)
    np.testing.assert_allclose(cftkit.datasets.synthetic.BLOB_CENTRES, CENTRES)


def test_moons_geometry(data):
    x, y = all_points(data["moons"])
    x0, x1 = x[y == 0], x[y == 1]
    # E[cos θ] = 0, E[sin θ] = 2/π for θ ~ U(0, π); sd of cos θ is 1/√2 → standard error ≈ 0.015
    np.testing.assert_allclose(x0.mean(axis=0), [0.0, 2 / np.pi], atol=0.06)
    np.testing.assert_allclose(x1.mean(axis=0), [1.0, 0.3 - 2 / np.pi], atol=0.06)
    # radial structure: distance to each moon's centre ≈ 1 with noise 0.1
    r0 = np.linalg.norm(x0, axis=1)
    r1 = np.linalg.norm(x1 - [1.0, 0.3], axis=1)
    for r in (r0, r1):
        assert abs(np.mean(r) - 1.0) < 0.03
        assert 0.08 < np.std(r) < 0.12
    # upper vs lower half-circles (noise is 0.1, so 4.5 sd margins)
    assert np.mean(x0[:, 1] > -0.45) > 0.999
    assert np.mean(x1[:, 1] < 0.3 + 0.45) > 0.999


def test_circles_geometry(data):
    x, y = all_points(data["circles"])
    inner, outer = x[y == 0], x[y == 1]
    np.testing.assert_allclose(inner.mean(axis=0), [0.0, 0.0], atol=0.02)  # se = 0.15/√2250 = 0.003
    np.testing.assert_allclose(inner.std(axis=0), [0.15, 0.15], rtol=0.08)  # √(0.15² + 0.01²/2) ≈ 0.1502
    r = np.linalg.norm(outer, axis=1)
    assert abs(np.mean(r) - 1.0) < 0.03
    assert 0.12 < np.std(r) < 0.18
    assert np.linalg.norm(outer.mean(axis=0)) < 0.1  # uniform angle


# ----------------------------------------------------------------------------- constraints
@pytest.mark.parametrize("name", NAMES)
def test_domain_contains_train_and_val_and_matches_from_data(data, name):
    ds = data[name]
    c = ds.constraints
    assert np.all(ds.x_pool >= c.lower) and np.all(ds.x_pool <= c.upper)
    c.check(ds.x_train)
    c.check(ds.x_val)
    expected = cftkit.Constraints.from_data(ds.x_pool, n_std=cftkit.defaults.N_STD)
    np.testing.assert_array_equal(c.lower, expected.lower)
    np.testing.assert_array_equal(c.upper, expected.upper)
    assert np.all(np.isfinite(c.lower)) and np.all(np.isfinite(c.upper))
    assert c.mutability == ("both", "both")  # mutability runs opt in via with_immutable()
    assert c.feature_names == ("x1", "x2")


@pytest.mark.parametrize("name", NAMES)
def test_protected_feature_is_the_first(data, name):
    ds = data[name]
    assert ds.protected == (0,)
    protected = ds.with_immutable()
    assert protected.constraints.mutability == ("none", "both")
    assert ds.constraints.mutability == ("both", "both")  # copy, original untouched
    np.testing.assert_array_equal(protected.constraints.lower, ds.constraints.lower)
    assert ds.with_mutability([1], "increase").constraints.mutability == ("both", "increase")
