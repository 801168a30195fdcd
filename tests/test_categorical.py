"""Actionability guarantees of ``cftkit.search(..., categorical=True)`` (issue 12, item 1).

The per-step projection snaps declared one-hot groups and rounds declared binary columns, and it must
keep every constraint: immutable columns and groups never move, one-directional columns never move
against their direction, the state stays in the domain, groups stay valid one-hots and binary
columns stay in {0, 1}.  The property tests draw random layouts, mutabilities, factuals and model
weights; the models are built once per module (``cftkit.search`` caches one traced function per model
object), so the examples only reassign weights.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cftkit
from cftkit import Constraints, MUTABILITIES, keras, tf
from cftkit.search import _CACHE, project_categorical

from conftest import make_mlp

#: (n_features, n_classes) of the property tests' models
SHAPES = ((4, 2), (6, 3), (9, 2))
MAX_STEPS = 12


@pytest.fixture(scope="module")
def models() -> dict:
    return {shape: make_mlp(*shape) for shape in SHAPES}


def _linear_on_second_column() -> "keras.Model":
    """2 features, logits [0, 2·(x[:, 1] − 0.5)]: only the second column matters."""
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    m.set_weights([np.array([[0.0, 0.0], [0.0, 2.0]], np.float32), np.array([0.0, -1.0], np.float32)])
    return m


def _invariants(states, factual, c: Constraints, where=""):
    """Assert every promise of the constraints for ``states`` (..., N, D) relative to ``factual`` (N, D)."""
    f = np.broadcast_to(factual, states.shape)
    mut = np.array(c.mutability)
    for kind, bad in (("immutable moved", (mut == "none") & (states != f)),
                      ("increase-only decreased", (mut == "increase") & (states < f)),
                      ("decrease-only increased", (mut == "decrease") & (states > f)),
                      ("below the domain", states < c.lower), ("above the domain", states > c.upper)):
        assert not bad.any(), f"{where}: {kind} at {np.argwhere(bad)[:3].tolist()}"
    for g in c.categorical_groups:
        block = states[..., list(g)]
        assert np.all((block == 0) | (block == 1)) and np.all(block.sum(-1) == 1), f"{where}: group {g} not one-hot"
    b = list(c.binary_features)
    assert np.all(np.isin(states[..., b], (0.0, 1.0))), f"{where}: binary column not in {{0, 1}}"


@st.composite
def layouts(draw, shapes=SHAPES):
    """A random Constraints (groups, binary columns, mutabilities and domains by the rules) and a seed."""
    d, k = draw(st.sampled_from(shapes))
    perm = draw(st.permutations(range(d)))
    groups, pos = [], 0
    for _ in range(draw(st.integers(0, 3))):
        size = draw(st.integers(2, 3))
        if pos + size > d:
            break
        groups.append(list(perm[pos:pos + size]))  # not sorted: ties must still go to the lowest index
        pos += size
    binary = [j for j in perm[pos:] if draw(st.booleans())]
    mut, lower, upper = ["both"] * d, [0.0] * d, [1.0] * d
    for g in groups:
        m = draw(st.sampled_from(("both", "none")))
        lo, hi = draw(st.sampled_from(((0.0, 1.0), (-0.6, 1.0), (-0.6, 1.5))))  # like the tabular domains
        for j in g:
            mut[j], lower[j], upper[j] = m, lo, hi
    for j in perm[pos:]:
        mut[j] = draw(st.sampled_from(MUTABILITIES))
        if j not in binary:  # continuous; (0, 1) is a min-max-scaled feature, which must never be rounded
            lower[j], upper[j] = draw(st.sampled_from(((0.0, 1.0), (-1.0, 1.0), (-2.5, 1.5))))
    c = Constraints(lower=lower, upper=upper, mutability=mut, categorical_groups=groups, binary_features=binary)
    return (d, k), c, draw(st.integers(0, 2**31 - 1))


def _factuals(c: Constraints, n: int, rng) -> np.ndarray:
    """Valid factuals: continuous values in the domain (some on a bound), one-hot groups, 0/1 binary columns."""
    x = rng.uniform(c.lower, c.upper, size=(n, c.n_features))
    on_bound = rng.random(x.shape) < 0.15
    x = np.where(on_bound, np.where(rng.random(x.shape) < 0.5, c.lower, c.upper), x)
    for g in c.categorical_groups:
        x[:, list(g)] = np.eye(len(g))[rng.integers(0, len(g), n)]
    b = list(c.binary_features)
    x[:, b] = rng.integers(0, 2, (n, len(b)))
    return x.astype(np.float32)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=layouts(), generator=st.sampled_from(("eccco", "generic")), n=st.integers(1, 6),
       learning_rate=st.sampled_from((0.1, 0.5, 2.0)), scale=st.sampled_from((0.5, 2.0, 5.0)))
def test_categorical_search_keeps_every_constraint(models, case, generator, n, learning_rate, scale):
    shape, c, seed = case
    rng = np.random.default_rng(seed)
    model = models[shape]
    model.set_weights([scale * rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    x = _factuals(c, n, rng)
    t = rng.integers(0, shape[1], n)
    res = cftkit.search(model, x, t, generator=generator, constraints=c, categorical=True, return_path=True,
                        max_steps=MAX_STEPS, learning_rate=learning_rate, threshold=0.99)
    np.testing.assert_array_equal(res.factual, x)
    _invariants(res.path, x[:, None, :], c, "path")
    _invariants(res.counterfactual, x, c, "counterfactual")
    _invariants(res.nascent, x, c, "nascent")
    moved = res.counterfactual != x  # what the run exercised (see --hypothesis-show-statistics)
    grouped = [j for g in c.categorical_groups for j in g]
    event(f"a group changed category: {bool(moved[:, grouped].any())}")
    event(f"a binary column flipped: {bool(moved[:, list(c.binary_features)].any())}")
    directional = [j for j, m in enumerate(c.mutability) if m in ("increase", "decrease")]
    event(f"a one-directional column moved: {bool(moved[:, directional].any())}")
    # and the numpy decoding used by the protocol leaves a projected state as it is
    np.testing.assert_array_equal(c.decode_categorical(res.counterfactual, factual=x), res.counterfactual)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=layouts(shapes=((4, 2), (6, 2), (9, 2))), n=st.integers(1, 8), spread=st.sampled_from((0.3, 1.0, 3.0)),
       grid=st.booleans())
def test_numpy_decoding_and_tf_projection_agree_and_keep_every_constraint(case, n, spread, grid):
    """decode_categorical (numpy) and project_categorical (TF) are one rule, on any x (ties and .5 included)."""
    _, c, seed = case
    rng = np.random.default_rng(seed)
    f = _factuals(c, n, rng)
    x = f + spread * rng.standard_normal(f.shape).astype(np.float32)
    if grid:  # ties inside groups and exact halves for the rounding
        x = np.round(x * 2) / 2
    x = x.astype(np.float32)
    groups, binary = c.categorical_arrays()
    inc, dec = c.masks()
    tf_out = project_categorical(tf.constant(x), tf.constant(f), tf.constant(groups), tf.constant(binary),
                                 tf.constant(inc), tf.constant(dec)).numpy()
    np_out = c.decode_categorical(x, factual=f)
    np.testing.assert_array_equal(tf_out, np_out)
    other = ~(binary | (groups.sum(0) > 0))
    np.testing.assert_array_equal(np_out[:, other], x[:, other])  # continuous columns untouched
    cat = Constraints(lower=np.where(other, -np.inf, c.lower), upper=np.where(other, np.inf, c.upper),
                      mutability=np.where(other, "both", c.mutability).tolist(),
                      categorical_groups=c.categorical_groups, binary_features=c.binary_features)
    _invariants(np_out, f, cat, "decoded")  # the categorical columns keep every promise, whatever x was


# ----------------------------------------------------------------------------- regressions (fail on the old code)
def test_min_max_scaled_immutable_feature_is_never_rounded():
    """BUG (issue 12): a [0, 1]-domain column counted as binary: the immutable 0.613 became 1.0."""
    c = Constraints(lower=[0, 0], upper=[1, 1], mutability=["none", "both"])
    model = _linear_on_second_column()
    x = np.array([[0.613, 0.2], [0.25, 0.1]], np.float32)
    res = cftkit.search(model, x, [1, 1], constraints=c, categorical=True, return_path=True, max_steps=40,
                        learning_rate=0.1, threshold=0.6)
    np.testing.assert_array_equal(res.path[:, :, 0], np.broadcast_to(x[:, :1], res.path.shape[:2]))
    np.testing.assert_array_equal(res.counterfactual[:, 0], x[:, 0])
    assert res.mature.all()
    assert not np.isin(res.counterfactual[:, 1], (0.0, 1.0)).any()  # the mutable [0, 1] column stays continuous
    np.testing.assert_array_equal(c.decode_categorical(res.counterfactual, factual=x), res.counterfactual)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_one_directional_columns_keep_their_direction_under_categorical(jit_compile):
    """BUG (issue 12): increase-only 0.3 was rounded down to 0, decrease-only 0.7 up to 1 (even at step 0)."""
    keras.utils.set_random_seed(3)
    model = make_mlp(3, 2)
    c = Constraints(lower=[0, 0, 0], upper=[1, 1, 1], mutability=["increase", "decrease", "both"])
    rng = np.random.default_rng(0)
    x = np.c_[np.full(16, 0.3), np.full(16, 0.7), rng.uniform(0, 1, 16)].astype(np.float32)
    t = 1 - np.argmax(model.predict(x, verbose=0), axis=1)
    res = cftkit.search(model, x, t, constraints=c, categorical=True, max_steps=20, learning_rate=1.0,
                        jit_compile=jit_compile)
    assert np.all(res.counterfactual[:, 0] >= 0.3) and np.all(res.counterfactual[:, 1] <= 0.7)
    assert np.all(res.nascent[:, 0] >= 0.3) and np.all(res.nascent[:, 1] <= 0.7)
    if not jit_compile:
        path = cftkit.search(model, x, t, constraints=c, categorical=True, max_steps=20, learning_rate=1.0,
                             return_path=True).path
        assert np.all(path[:, :, 0] >= 0.3) and np.all(path[:, :, 1] <= 0.7)


def test_non_one_hot_factual_group_is_an_error_naming_row_and_group():
    """BUG (issue 12): [0.5, 0.5] was snapped to a category (and rewrote immutable group columns)."""
    model = make_mlp(3, 2)
    c = Constraints(lower=[0, 0, -1], upper=[1, 1, 1], categorical_groups=[[0, 1]], mutability=["none", "none", "both"],
                    feature_names=["color=red", "color=blue", "age"])
    x = np.array([[1, 0, 0.1], [0.5, 0.5, 0.2]], np.float32)
    with pytest.raises(ValueError, match=r"factuals\[1\]: one-hot group 0 \(columns \[0, 1\]: 'color=red', "
                                         r"'color=blue'\) is not one-hot: \[0\.5, 0\.5\]"):
        cftkit.search(model, x, [1, 1], constraints=c, categorical=True)
    assert model not in _CACHE  # raised before anything was traced
    res = cftkit.search(model, x, [1, 1], constraints=c, categorical=False, max_steps=2)  # continuous: allowed
    np.testing.assert_array_equal(res.counterfactual[:, :2], x[:, :2])


def test_non_binary_factual_in_a_binary_column_is_an_error():
    model = make_mlp(3, 2)
    c = Constraints(n_features=3, binary_features=[2])
    with pytest.raises(ValueError, match=r"factuals\[0\]: binary feature 2 \(x2\) = 0\.25, but a binary feature"):
        cftkit.search(model, [[0.0, 0.0, 0.25]], [1], constraints=c, categorical=True)
    with pytest.raises(TypeError, match=r"categorical must be a bool"):
        cftkit.search(model, [[0.0, 0.0, 1.0]], [1], constraints=c, categorical="yes")


def test_projection_keeps_the_factual_where_rounding_would_break_a_direction():
    """By construction: even for states the masked search never produces (e.g. a latent generator's)."""
    c = Constraints(n_features=5, categorical_groups=[[0, 1]], binary_features=[2, 3, 4],
                    mutability=["none", "none", "increase", "decrease", "none"])
    f = np.array([[1, 0, 1, 0, 1], [0, 1, 0, 1, 0]], np.float32)
    x = np.array([[0.1, 0.9, 0.3, 0.8, 0.2], [0.8, 0.2, 0.8, 0.2, 0.9]], np.float32)
    want = np.array([[1, 0, 1, 0, 1],   # group immutable; 0.3 → 0 would decrease; 0.8 → 1 would increase
                     [0, 1, 1, 0, 0]], np.float32)  # 0.8 → 1 may increase, 0.2 → 0 may decrease
    groups, binary = c.categorical_arrays()
    inc, dec = c.masks()
    got = project_categorical(tf.constant(x), tf.constant(f), tf.constant(groups), tf.constant(binary),
                              tf.constant(inc), tf.constant(dec)).numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(c.decode_categorical(x, factual=f), want)
    # without a factual, x is its own reference: protected columns are snapped only where that is allowed
    np.testing.assert_array_equal(c.decode_categorical(x), np.float32([[0.1, 0.9, 0.3, 0.8, 0.2], [0.8, 0.2, 1, 0, 0.9]]))
    with pytest.raises(ValueError, match=r"factual\[0\]: one-hot group 0"):
        c.decode_categorical(x, factual=[[0.5, 0.5, 1, 0, 1], [0, 1, 0, 1, 0]])


def test_ties_in_a_group_go_to_the_lowest_column_in_tf_and_numpy():
    c = Constraints(n_features=4, categorical_groups=[[3, 1, 2]])
    x = np.array([[0.0, 0.5, 0.2, 0.5], [0.0, 0.4, 0.4, 0.4], [0.0, 0.1, 0.7, 0.7]], np.float32)
    want = np.array([[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], np.float32)
    groups, binary = c.categorical_arrays()
    inc, dec = c.masks()
    got = project_categorical(tf.constant(x), tf.constant(x), tf.constant(groups), tf.constant(binary),
                              tf.constant(inc), tf.constant(dec)).numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(c.decode_categorical(x), want)


def _revise_case(d=6, n=32):
    vae = cftkit.revise.VAE(n_features=d, seed=0)
    clf = cftkit.build_classifier(d, 2, seed=0)
    rng = np.random.default_rng(1)
    x = np.zeros((n, d), np.float32)
    x[np.arange(n), rng.integers(0, 2, n)] = 1.0
    x[:, 2:5] = rng.integers(0, 2, (n, 3))
    x[:, 5] = rng.uniform(-1, 1, n)
    t = 1 - np.argmax(clf.predict(x, verbose=0), 1)
    return clf, cftkit.revise.REVISEGenerator(vae), x, t


def test_revise_with_categorical_never_moves_an_immutable_group():
    """REVISE ignores mutability in latent space; the categorical projection still keeps an immutable group.

    BUG (issue 12): the projection argmaxed the decoded state without looking at mutability."""
    clf, gen, x, t = _revise_case()
    c = Constraints(lower=[0, 0, -2, -2, -2, -2], upper=[1, 1, 2, 2, 2, 2], categorical_groups=[[0, 1]],
                    mutability=["none", "none", "both", "both", "both", "both"])
    path = cftkit.search(clf, x, t, generator=gen, constraints=c, categorical=True, return_path=True, max_steps=10,
                         seed=3).path
    np.testing.assert_array_equal(path[:, :, :2], np.broadcast_to(x[:, None, :2], path[:, :, :2].shape))
    assert np.any(path[:, :, 2:] != x[:, None, 2:])  # the decoder does move the free columns


def test_revise_with_categorical_keeps_binary_columns_immutable_and_one_directional():
    clf, gen, x, t = _revise_case()
    c = Constraints(lower=[0, 0, 0, 0, 0, -2], upper=[1, 1, 1, 1, 1, 2], categorical_groups=[[0, 1]],
                    mutability=["both", "both", "none", "increase", "decrease", "both"], binary_features=[2, 3, 4])
    path = cftkit.search(clf, x, t, generator=gen, constraints=c, categorical=True, return_path=True, max_steps=10,
                         seed=3).path
    _invariants(path, x[:, None, :], c, "REVISE path")
    assert np.any(path[:, :, :2] != x[:, None, :2])  # the mutable group does change category


def test_protocol_decoding_keeps_an_immutable_min_max_scaled_feature():
    """BUG (issue 12): evaluate_counterfactuals rounded a protected [0, 1] feature before the metrics."""
    import cftkit.evaluation as ev
    from cftkit.datasets import Dataset

    rng = np.random.default_rng(0)
    x = np.c_[rng.uniform(0, 1, 300), rng.uniform(0, 1, 300)].astype(np.float32)
    y = (x[:, 1] > 0.5).astype(np.int32)
    c = Constraints(lower=[0, 0], upper=[1, 1], mutability=["none", "both"], feature_names=["age01", "income"])
    ds = Dataset("toy", x[:200], y[:200], x[200:], y[200:], ("age01", "income"), c)
    res = ev.evaluate_counterfactuals({"M": _linear_on_second_column()}, ds, constraints=c, seed=0, n_runs=2, n_individuals=6,
                                      energy_weights=(0.1,), max_steps=30, threshold=0.6, jit_compile=False)
    np.testing.assert_array_equal(res.counterfactuals[:, 0], res.factuals[:, 0])
    assert not np.all(np.isin(res.counterfactuals[:, 1], (0.0, 1.0)))


@pytest.mark.parametrize("name", ["adult", "credit_default"])
def test_paper_tabular_datasets_fit_the_categorical_rules(name, monkeypatch, tmp_path):
    """Adult and Credit declare no binary columns and only mutable groups; their factuals are valid one-hots."""
    import os
    from pathlib import Path

    data = Path(os.environ.get("CFTKIT_TEST_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    if not (data / name).is_dir():
        pytest.skip(f"{data / name} is absent")
    monkeypatch.setenv("CFTKIT_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    ds = cftkit.datasets.load(name, data_home=data)
    for c in (ds.constraints, ds.with_immutable().constraints):
        assert c.binary_features == ()
        assert all(c.mutability[j] == "both" for g in c.categorical_groups for j in g)
    protected = ds.with_immutable().constraints
    assert protected.immutable_features == ds.protected
    for x in (ds.x_pool, ds.x_test):
        c.check_categorical(c.clip(x))  # what search(..., categorical=True) checks
    np.testing.assert_array_equal(c.decode_categorical(ds.x_test, factual=ds.x_test), ds.x_test)
    clf = cftkit.build_classifier(ds.n_features, 2, seed=0)
    x = c.clip(ds.x_test[:16])
    t = 1 - np.argmax(clf.predict(x, verbose=0), 1)
    res = cftkit.search(clf, x, t, constraints=protected, categorical=True, max_steps=5, learning_rate=1.0,
                        return_path=True)
    _invariants(res.path, x[:, None, :], protected, name)
