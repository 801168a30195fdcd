"""Tests of the batched counterfactual search.

Described in docs/method.md#algorithm-1 (steps 4–8) and docs/method.md#counterfactual-search.

The property tests draw random MLP *weights* (not new models, see conftest), random domains,
mutability words, factuals inside the domain, targets, T ∈ [0, 15], τ, η, λ_cost, λ_egy and ε, and
check the engine's invariants on every example.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cftkit
from cftkit import keras, tf
from cftkit.generators import ECCCoGenerator, GenericGenerator, energy_decay

from conftest import MLP_SHAPES, make_mlp

N_EXAMPLES = 1000


# ----------------------------------------------------------------------------- random cases
@dataclasses.dataclass
class Case:
    shape: tuple
    n: int
    seed: int
    weight_scale: float
    mutability: list
    bound_kinds: list
    targets: list
    max_steps: int
    threshold: float
    learning_rate: float
    generator: str
    cost_weight: float
    energy_weight: float
    nascent_epsilon: float


@st.composite
def cases(draw, *, max_n: int = 5, max_steps=st.integers(0, 15), generators=("generic", "eccco"),
          max_weight_scale: float = 3.0, max_learning_rate: float = 5.0):
    d, k = draw(st.sampled_from(MLP_SHAPES))
    n = draw(st.integers(1, max_n))
    return Case(
        shape=(d, k), n=n,
        seed=draw(st.integers(0, 2**32 - 1)),
        weight_scale=draw(st.floats(0.1, max_weight_scale)),
        mutability=draw(st.lists(st.sampled_from(cftkit.MUTABILITIES), min_size=d, max_size=d)),
        bound_kinds=draw(st.lists(st.sampled_from(["both", "both", "lower", "upper", "none"]), min_size=d,
                                  max_size=d)),
        targets=draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)),
        max_steps=draw(max_steps),
        threshold=draw(st.floats(0.05, 0.95)),
        # large steps make the domain projection (clamping) bite
        learning_rate=draw(st.one_of(st.floats(0.0, min(0.5, max_learning_rate)),
                                     st.floats(min(0.5, max_learning_rate), max_learning_rate))),
        generator=draw(st.sampled_from(generators)),
        cost_weight=draw(st.sampled_from([0.0, 0.001]) | st.floats(0.0, 1.0)),
        energy_weight=draw(st.sampled_from([0.0, 5.0]) | st.floats(0.0, 10.0)),
        nascent_epsilon=draw(st.sampled_from([0.0, 0.3]) | st.floats(0.0, 1.0)),
    )


def materialize(case: Case, models: dict):
    """Set random weights on the shared model; draw a domain and factuals inside it (float32-exact)."""
    d, k = case.shape
    rng = np.random.default_rng(case.seed)
    model = models[case.shape]
    for v in model.weights:  # (assign is cheaper than get_weights + set_weights)
        v.assign((rng.standard_normal(tuple(v.shape)) * case.weight_scale).astype(np.float32))
    lower = np.full(d, -np.inf)
    upper = np.full(d, np.inf)
    for j, kind in enumerate(case.bound_kinds):
        lo = rng.uniform(-3.0, 1.0)
        width = rng.choice([rng.uniform(0.01, 0.3), rng.uniform(0.3, 4.0)])
        if kind in ("both", "lower"):
            lower[j] = lo
        if kind in ("both", "upper"):
            upper[j] = lo + width
    constraints = cftkit.Constraints(lower=lower, upper=upper, mutability=case.mutability)
    lo32, hi32 = constraints.lower.astype(np.float64), constraints.upper.astype(np.float64)
    lo_f = np.where(np.isfinite(lo32), lo32, np.where(np.isfinite(hi32), hi32 - 3.0, -2.0))
    hi_f = np.where(np.isfinite(hi32), hi32, lo_f + 3.0)
    x = rng.uniform(lo_f, hi_f, size=(case.n, d))
    # put some coordinates exactly on a (finite) bound
    on_lo = (rng.random((case.n, d)) < 0.15) & np.isfinite(lo32)
    on_hi = (rng.random((case.n, d)) < 0.15) & np.isfinite(hi32)
    x = np.where(on_lo, lo32, np.where(on_hi, hi32, x)).astype(np.float32)
    # float32 rounding is monotone, so the factuals are exactly inside the float32 domain
    assert np.all(x >= constraints.lower) and np.all(x <= constraints.upper)
    kwargs = dict(generator=case.generator, constraints=constraints, max_steps=case.max_steps,
                  threshold=case.threshold, learning_rate=case.learning_rate, cost_weight=case.cost_weight,
                  energy_weight=case.energy_weight, nascent_epsilon=case.nascent_epsilon)
    return model, x, np.asarray(case.targets, dtype=np.int32), constraints, kwargs


def target_probability(model, x, targets):
    logits = np.asarray(model(x, training=False), dtype=np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p[np.arange(len(targets)), targets]


def all_states(res):
    """Counterfactual, nascent and every path state as one (M, D) array."""
    d = res.factual.shape[1]
    return np.concatenate([res.counterfactual, res.nascent, res.path.reshape(-1, d)])


# ----------------------------------------------------------------------------- property tests
@settings(max_examples=N_EXAMPLES, deadline=None)
@given(case=cases())
def test_mutability_is_respected(random_mlps, case):
    model, x, y, c, kw = materialize(case, random_mlps)
    res = cftkit.search(model, x, y, return_path=True, **kw)
    path = res.path  # (N, S + 1, D)
    assert path.shape[0] == case.n and path.shape[2] == x.shape[1]
    for j, m in enumerate(case.mutability):
        xj = x[:, j]
        states = [res.counterfactual[:, j], res.nascent[:, j]] + [path[:, t, j] for t in range(path.shape[1])]
        if m == "none":
            for s in states:
                np.testing.assert_array_equal(s, xj, err_msg=f"immutable feature {j} changed")
        elif m == "increase":
            for s in states:
                assert np.all(s >= xj), f"increase-only feature {j} decreased"
            assert np.all(np.diff(path[:, :, j], axis=1) >= 0), f"increase-only feature {j} stepped down"
        elif m == "decrease":
            for s in states:
                assert np.all(s <= xj), f"decrease-only feature {j} increased"
            assert np.all(np.diff(path[:, :, j], axis=1) <= 0), f"decrease-only feature {j} stepped up"


@settings(max_examples=N_EXAMPLES, deadline=None)
@given(case=cases())
def test_every_state_is_inside_the_domain(random_mlps, case):
    model, x, y, c, kw = materialize(case, random_mlps)
    res = cftkit.search(model, x, y, return_path=True, **kw)
    states = all_states(res)
    assert np.all(np.isfinite(states))
    assert np.all(states >= c.lower), "a state is below its lower bound"
    assert np.all(states <= c.upper), "a state is above its upper bound"


@settings(max_examples=N_EXAMPLES, deadline=None)
@given(case=cases())
def test_mature_iff_target_probability_reaches_threshold(random_mlps, case):
    model, x, y, c, kw = materialize(case, random_mlps)
    res = cftkit.search(model, x, y, **kw)
    # one model call on [factuals; counterfactuals]
    p_factual, p = np.split(target_probability(model, np.concatenate([x, res.counterfactual]), np.r_[y, y]), 2)
    tau = case.threshold
    # The engine decides maturity with its own float32 graph forward pass; recomputing p eagerly can
    # differ by a few ULPs, so samples within 1e-5 of τ are not allowed to decide the assertion.
    tol = 1e-5
    searched = ~res.already_valid
    np.testing.assert_array_equal(res.already_valid[np.abs(p_factual - tau) > tol],
                                  (p_factual >= tau)[np.abs(p_factual - tau) > tol])
    clear = searched & (np.abs(p - tau) > tol)
    np.testing.assert_array_equal(res.mature[clear], (p >= tau)[clear])
    np.testing.assert_allclose(res.probability[searched], p[searched], atol=1e-5)
    assert not np.any(res.mature & res.already_valid)
    # a mature sample stopped: it used at most T steps; a non-mature, searched one used all T
    assert np.all(res.steps <= case.max_steps)
    assert np.all(res.steps[searched & ~res.mature] == case.max_steps)
    assert res.validity == pytest.approx(np.mean(res.mature))


@settings(max_examples=N_EXAMPLES, deadline=None)
@given(case=cases(max_n=3, max_weight_scale=1.0, max_learning_rate=0.5))
def test_batch_equals_one_at_a_time(random_mlps, case):
    """Each sample's search is independent of the others in its batch.

    The only expected difference is float32 rounding: TF's matmul sums in a batch-size-dependent
    order, which moves states by ~1e-7 relative.  In this well-conditioned regime (|W| ≲ 1, η ≤ 0.5;
    η up to 0.5 is 5× the default) the observed maximum over 11 000 comparisons was 4e-7, so
    rtol = atol = 1e-5 is tight.  (With |W| ~ 3 and η ~ 2 the softmax saturates and such rounding
    is amplified chaotically over the steps, up to ~1e-3, which says nothing about batching.)
    """
    model, x, y, c, kw = materialize(case, random_mlps)
    batch = cftkit.search(model, x, y, **kw)
    for i in range(case.n):
        one = cftkit.search(model, x[i:i + 1], y[i:i + 1], **kw)
        np.testing.assert_allclose(one.counterfactual[0], batch.counterfactual[i], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(one.nascent[0], batch.nascent[i], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(one.probability[0], batch.probability[i], rtol=0, atol=1e-5)
        assert one.steps[0] == batch.steps[i]
        assert one.mature[0] == batch.mature[i]
        assert one.already_valid[0] == batch.already_valid[i]


@settings(max_examples=N_EXAMPLES, deadline=None)
@given(case=cases(max_steps=st.just(0)))
def test_zero_steps_returns_the_factuals(random_mlps, case):
    model, x, y, c, kw = materialize(case, random_mlps)
    res = cftkit.search(model, x, y, return_path=True, **kw)
    np.testing.assert_array_equal(res.counterfactual, x)
    np.testing.assert_array_equal(res.nascent, x)
    np.testing.assert_array_equal(res.path, x[:, None, :])
    assert np.all(res.steps == 0)
    assert not res.mature.any()


@settings(max_examples=N_EXAMPLES, deadline=None)
@given(case=cases())
def test_nascent_is_last_path_state_within_epsilon(random_mlps, case):
    model, x, y, c, kw = materialize(case, random_mlps)
    res = cftkit.search(model, x, y, return_path=True, **kw)
    eps = np.float32(case.nascent_epsilon)
    # the engine compares ‖x_t − x‖∞ ≤ ε in float32; do the same (a float64 difference of two
    # float32 numbers can exceed a float32 ε by one rounding error)
    dist = np.max(np.abs(res.nascent - x), axis=1)
    assert np.all(dist <= eps)
    path_dist = np.max(np.abs(res.path - x[:, None, :]), axis=2)  # (N, S + 1), float32
    assert np.all(path_dist[:, 0] == 0)  # the path starts at the factual
    for i in range(case.n):
        last = int(np.flatnonzero(path_dist[i] <= eps).max())
        np.testing.assert_array_equal(res.nascent[i], res.path[i, last])
    # the counterfactual itself is the nascent one whenever it stayed within ε
    inside = np.max(np.abs(res.counterfactual - x), axis=1) <= eps
    np.testing.assert_array_equal(res.nascent[inside], res.counterfactual[inside])


@settings(max_examples=N_EXAMPLES, deadline=None)
@given(case=cases())
def test_finished_samples_stop_moving(random_mlps, case):
    model, x, y, c, kw = materialize(case, random_mlps)
    res = cftkit.search(model, x, y, return_path=True, **kw)
    n_iterations = res.path.shape[1] - 1  # S: loop iterations run (all samples share the loop)
    assert res.steps.max(initial=0) <= n_iterations <= case.max_steps
    for i in range(case.n):
        s = int(res.steps[i])
        np.testing.assert_array_equal(res.path[i, s:], np.broadcast_to(res.counterfactual[i], res.path[i, s:].shape))
    assert np.all(res.steps[res.already_valid] == 0)


@settings(max_examples=N_EXAMPLES, deadline=None)
@given(case=cases())
def test_already_valid_factuals_are_returned_unchanged(random_mlps, case):
    model, x, y, c, kw = materialize(case, random_mlps)
    # make the first factual's target its most likely class, so that low thresholds are met at once
    logits = np.asarray(model(x, training=False))
    y = y.copy()
    y[0] = int(np.argmax(logits[0]))
    kw["threshold"] = min(kw["threshold"], 0.999 / case.shape[1])  # p(argmax) >= 1/K > τ
    res = cftkit.search(model, x, y, return_path=True, **kw)
    assert res.already_valid[0]
    av = res.already_valid
    np.testing.assert_array_equal(res.counterfactual[av], x[av])
    np.testing.assert_array_equal(res.nascent[av], x[av])
    np.testing.assert_array_equal(res.path[av], np.broadcast_to(x[av][:, None, :], res.path[av].shape))
    assert not res.mature[av].any()
    assert np.all(res.steps[av] == 0)
    p_factual = target_probability(model, x, y)
    assert np.all(p_factual[av] >= kw["threshold"] - 1e-5)


@settings(max_examples=200, deadline=None)
@given(case=cases())
def test_return_path_does_not_change_the_result(random_mlps, case):
    model, x, y, c, kw = materialize(case, random_mlps)
    a = cftkit.search(model, x, y, **kw)
    b = cftkit.search(model, x, y, return_path=True, **kw)
    assert a.path is None
    for name in ("counterfactual", "nascent", "steps", "mature", "already_valid"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-6, err_msg=name)


# ----------------------------------------------------------------------------- deterministic checks
def test_step_is_plain_gradient_descent_on_the_generic_loss():
    """One Generic step from x equals x − η·∇[CE(f(x), y⁺) + λ_cost‖x − x₀‖₁] (with ∇‖·‖₁ = 0 at x₀)."""
    model = make_mlp(3, 2)
    rng = np.random.default_rng(1)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = np.argmin(np.asarray(model(x)), axis=1).astype(np.int32)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=model(xt)))
    expected = x - 0.25 * tape.gradient(loss, xt).numpy()
    res = cftkit.search(model, x, y, generator="generic", max_steps=1, threshold=0.999, learning_rate=0.25,
                        cost_weight=0.7, return_path=True)
    np.testing.assert_allclose(res.counterfactual, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.path[:, 1], expected, rtol=1e-5, atol=1e-6)
    assert np.all(res.steps == 1)


def test_eccco_step_matches_hand_computed_gradient():
    """One ECCCo step = x − η·∇[CE + λ_cost‖x − x₀‖₁ + λ_egy·φ₁·(E + r·E²)], E = −f(x)[y⁺] (docs/method.md#eccco)."""
    model = make_mlp(2, 3)
    rng = np.random.default_rng(7)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.standard_normal((5, 2)).astype(np.float32)
    y = np.argmin(np.asarray(model(x)), axis=1).astype(np.int32)
    T, lam, r, eta = 50, 3.0, 1e-3, 0.2
    phi1 = 0.2 * (2 + 1) ** -0.9  # b = round(50/25) = 2, a = b/10, t = 1
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        logits = model(xt)
        energy = -tf.gather(logits, y, axis=1, batch_dims=1)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
                             + lam * phi1 * (energy + r * energy ** 2))
    expected = x - eta * tape.gradient(loss, xt).numpy()
    res = cftkit.search(model, x, y, generator="eccco", max_steps=T, threshold=0.999, learning_rate=eta,
                        cost_weight=0.5, energy_weight=lam, return_path=True)
    np.testing.assert_allclose(res.path[:, 1], expected, rtol=1e-5, atol=1e-6)
    generic = cftkit.search(model, x, y, generator="generic", max_steps=T, threshold=0.999, learning_rate=eta,
                            cost_weight=0.5, return_path=True)
    assert not np.allclose(generic.path[:, 1], expected, rtol=1e-5, atol=1e-6)  # the energy term matters


def _push_up_model():
    """Linear 2-class model whose class-1 logit margin is 2·x₀ (gradient pushes x₀ up for target 1)."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.set_weights([np.array([[-1.0, 1.0], [0.0, 0.0]], np.float32), np.zeros(2, np.float32)])
    return model


def test_nascent_epsilon_boundary_is_inclusive():
    # x₀ is clamped to the upper bound 0.25 after the first (large) step: ‖x₁ − x‖∞ = 0.25 = ε exactly
    model = _push_up_model()
    c = cftkit.Constraints(lower=[-1.0, -1.0], upper=[0.25, 1.0], mutability=["both", "none"])
    x = np.zeros((1, 2), np.float32)
    res = cftkit.search(model, x, [1], constraints=c, max_steps=3, threshold=0.99, learning_rate=10.0,
                        nascent_epsilon=0.25, return_path=True)
    np.testing.assert_array_equal(res.counterfactual, [[0.25, 0.0]])
    np.testing.assert_array_equal(res.nascent, [[0.25, 0.0]])  # ‖·‖∞ ≤ ε, not < ε (docs/method.md#algorithm-1, step 8)
    res = cftkit.search(model, x, [1], constraints=c, max_steps=3, threshold=0.99, learning_rate=10.0,
                        nascent_epsilon=0.2, return_path=True)
    np.testing.assert_array_equal(res.nascent, x)  # no state within ε: the clean factual


def test_xla_compiled_search_matches_graph_search():
    model = make_mlp(2, 2)
    rng = np.random.default_rng(3)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.standard_normal((20, 2)).astype(np.float32)
    kw = dict(max_steps=15, threshold=0.7, learning_rate=0.1)
    a = cftkit.search(model, x, 1, jit_compile=True, **kw)
    b = cftkit.search(model, x, 1, **kw)
    np.testing.assert_allclose(a.counterfactual, b.counterfactual, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.mature, b.mature)


def test_factual_accepted_within_tolerance_keeps_its_immutable_feature():
    """BUG (see report): ``Constraints.check`` accepts factuals up to atol=1e-5 outside the domain,
    but the search then clamps them, so an *immutable* feature changes, path[0] != factual, and the
    nascent counterfactual (initialised with the unclamped factual) can lie outside the domain.

    Either rejecting such factuals, or snapping them onto the domain before the search (and
    returning the snapped factual in ``SearchResult.factual``), satisfies this test.
    """
    model = _push_up_model()
    c = cftkit.Constraints(lower=[0.0, 0.0], upper=[1.0, 1.0], mutability=["none", "both"])
    x = np.array([[-5e-6, 0.5], [1.000005, 0.5]], np.float32)  # within check()'s tolerance
    try:
        res = cftkit.search(model, x, [0, 1], constraints=c, max_steps=3, threshold=0.99,
                            nascent_epsilon=0.0, return_path=True)
    except ValueError as exc:  # a strict domain check is an acceptable fix
        assert "outside the domain" in str(exc)
        return
    np.testing.assert_array_equal(res.counterfactual[:, 0], res.factual[:, 0])  # immutable feature
    np.testing.assert_array_equal(res.path[:, 0], res.factual)  # the path starts at the factual
    for states in (res.counterfactual, res.nascent, res.factual):
        assert np.all(states >= c.lower) and np.all(states <= c.upper)


def test_energy_decay_matches_the_reference_schedule():
    # docs/method.md#eccco: φ_t = a·(b + t)^(−0.9), b = round(T/25), a = b/10, t = step + 1
    assert float(energy_decay(0, 30)) == pytest.approx(0.1 * 2.0 ** -0.9, rel=1e-6)  # φ₁ = 0.0536
    assert float(energy_decay(29, 30)) == pytest.approx(0.1 * 31.0 ** -0.9, rel=1e-6)  # φ₃₀ = 0.00455
    assert float(energy_decay(0, 50)) == pytest.approx(0.2 * 3.0 ** -0.9, rel=1e-6)  # φ₁ = 0.0744
    assert float(energy_decay(0, 12)) == 0.0  # T < 13: b = 0, no energy penalty
    assert float(energy_decay(0, 13)) > 0.0


def test_results_shapes_and_dtypes(random_mlps):
    model = random_mlps[(3, 3)]
    x = np.zeros((4, 3), np.float32)
    res = cftkit.search(model, x, 2, max_steps=3)
    assert res.counterfactual.shape == (4, 3) and res.nascent.shape == (4, 3)
    assert res.mature.dtype == bool and res.already_valid.dtype == bool
    assert res.steps.shape == (4,) and np.issubdtype(res.steps.dtype, np.integer)
    assert np.all(res.target == 2) and len(res) == 4


# ----------------------------------------------------------------------------- trained model
N_FACTUALS = 500


@pytest.fixture(scope="module")
def moons_factuals(moons, moons_mlp):
    x = moons.x_test[:N_FACTUALS]
    pred = np.argmax(moons_mlp.predict(x, verbose=0), axis=1)
    return x, (1 - pred).astype(np.int32)


def test_trained_moons_mlp_is_accurate(moons_mlp_accuracy):
    assert moons_mlp_accuracy >= 0.85


def test_eccco_reaches_target_on_trained_moons_mlp(moons_mlp, moons_factuals):
    x, y = moons_factuals
    res = cftkit.search(moons_mlp, x, y, generator="eccco")  # defaults: T=50, τ=0.5, η=0.1, λ_egy=5
    searched = ~res.already_valid
    assert searched.sum() >= 0.95 * len(x)
    rate = np.mean(res.mature[searched])
    assert rate >= 0.95, f"ECCCo maturity rate {rate:.3f} < 0.95"
    # mature counterfactuals are valid: the model now predicts the target
    pred = np.argmax(moons_mlp.predict(res.counterfactual[res.mature], verbose=0), axis=1)
    assert np.mean(pred == y[res.mature]) >= 0.99


def test_eccco_reaches_target_at_paper_test_time_settings(moons, moons_mlp, moons_factuals):
    # docs/method.md#test-time-search-settings: τ = 0.95, λ_cost = 0, T = 50, inside the data domain
    # (expanded to the test factuals, a few of which lie outside the domain inferred from train + validation)
    x, y = moons_factuals
    c = moons.constraints.expanded_to(x)
    res = cftkit.search(moons_mlp, x, y, generator="eccco", constraints=c, threshold=0.95, cost_weight=0.0,
                        energy_weight=1.0, max_steps=50)
    assert np.mean(res.mature[~res.already_valid]) >= 0.95
    assert np.all(res.counterfactual >= c.lower) and np.all(res.counterfactual <= c.upper)
    assert np.all(res.probability[res.mature] >= 0.95 - 1e-6)


def test_generic_also_reaches_target_on_trained_moons_mlp(moons_mlp, moons_factuals):
    x, y = moons_factuals
    res = cftkit.search(moons_mlp, x, y, generator="generic")
    assert np.mean(res.mature[~res.already_valid]) >= 0.95


def test_eccco_with_zero_energy_weight_equals_generic(moons_mlp, moons_factuals):
    x, y = moons_factuals
    kw = dict(max_steps=50, threshold=0.9, cost_weight=0.001)
    generic = cftkit.search(moons_mlp, x, y, generator="generic", **kw)
    eccco = cftkit.search(moons_mlp, x, y, generator="eccco", energy_weight=0.0, **kw)
    np.testing.assert_array_equal(eccco.counterfactual, generic.counterfactual)
    np.testing.assert_array_equal(eccco.steps, generic.steps)
    np.testing.assert_array_equal(eccco.mature, generic.mature)
    np.testing.assert_array_equal(eccco.nascent, generic.nascent)


def test_eccco_energy_term_changes_the_search(moons_mlp, moons_factuals):
    x, y = moons_factuals
    kw = dict(max_steps=50, threshold=0.99, cost_weight=0.0)
    generic = cftkit.search(moons_mlp, x, y, generator="generic", **kw)
    eccco = cftkit.search(moons_mlp, x, y, generator="eccco", energy_weight=5.0, **kw)
    assert not np.allclose(eccco.counterfactual, generic.counterfactual)
    # per-sample energy weights: zero weight rows match Generic, the others match scalar ECCCo
    ew = np.where(np.arange(len(x)) % 2 == 0, 0.0, 5.0)
    mixed = cftkit.search(moons_mlp, x, y, generator="eccco", energy_weight=ew, **kw)
    np.testing.assert_array_equal(mixed.counterfactual[::2], generic.counterfactual[::2])
    np.testing.assert_allclose(mixed.counterfactual[1::2], eccco.counterfactual[1::2], atol=1e-5)


def test_eccco_energy_vanishes_for_short_searches(moons_mlp, moons_factuals):
    # T < 13 → b = round(T/25) = 0 → φ_t = 0 (docs/method.md#eccco): ECCCo equals Generic
    x, y = moons_factuals
    kw = dict(max_steps=12, threshold=0.9, cost_weight=0.001)
    generic = cftkit.search(moons_mlp, x, y, generator=GenericGenerator(), **kw)
    eccco = cftkit.search(moons_mlp, x, y, generator=ECCCoGenerator(), energy_weight=10.0, **kw)
    np.testing.assert_array_equal(eccco.counterfactual, generic.counterfactual)


def test_generator_names_are_case_insensitive(moons_mlp, moons_factuals):
    x, y = moons_factuals
    a = cftkit.search(moons_mlp, x[:20], y[:20], generator="ECCCo", max_steps=20)
    b = cftkit.search(moons_mlp, x[:20], y[:20], generator="eccco", max_steps=20)
    np.testing.assert_array_equal(a.counterfactual, b.counterfactual)


# ----------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def model2():
    model = make_mlp(2, 2)
    return model


X2 = np.array([[0.1, 0.2], [0.3, -0.4]], np.float32)


@pytest.mark.parametrize("factuals, match", [
    (np.zeros(2, np.float32), r"factuals.*rank 2"),
    (np.zeros((1, 2, 2), np.float32), r"factuals.*rank 2"),
    (np.zeros((0, 2), np.float32), r"factuals.*at least one row"),
    (np.array([[0.0, np.nan]], np.float32), r"factuals.*NaN or inf"),
    (np.array([[np.inf, 0.0]], np.float32), r"factuals.*NaN or inf"),
])
def test_bad_factuals(model2, factuals, match):
    with pytest.raises(ValueError, match=match):
        cftkit.search(model2, factuals, 0)


def test_factuals_with_wrong_feature_count(model2):
    with pytest.raises(ValueError, match=r"factuals"):
        cftkit.search(model2, np.zeros((2, 3), np.float32), [0, 1])
    with pytest.raises(ValueError, match=r"constraints describe 2 features but factuals have 3"):
        cftkit.search(model2, np.zeros((2, 3), np.float32), [0, 1], constraints=cftkit.Constraints(n_features=2))


def test_non_numeric_factuals(model2):
    with pytest.raises(TypeError, match=r"factuals"):
        cftkit.search(model2, [["a", "b"]], 0)


@pytest.mark.parametrize("targets, match", [
    ([0, 2], r"targets must be class indices in \[0, 1\]"),
    ([-1, 0], r"targets must be class indices"),
    (5, r"targets must be class indices"),
    ([0, 1, 1], r"targets must have one entry per factual \(length 2\)"),
    ([0], r"targets must have one entry per factual"),
    ([[0], [1]], r"targets must be a 1-D array"),
    ([0.5, 1.0], r"targets must hold integer class indices"),
])
def test_bad_targets(model2, targets, match):
    with pytest.raises(ValueError, match=match):
        cftkit.search(model2, X2, targets)


def test_model_must_be_a_multi_logit_classifier():
    single = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"model must be a classifier .*K >= 2"):
        cftkit.search(single, X2, [0, 0])
    with pytest.raises(TypeError, match=r"model must be a keras.Model"):
        cftkit.search("not a model", X2, [0, 0])



def _ends_in(kind):
    hidden = [keras.Input((2,)), keras.layers.Dense(4, activation="relu")]
    if kind == "dense-softmax":
        return keras.Sequential(hidden + [keras.layers.Dense(2, activation="softmax")])
    if kind == "softmax-layer":
        return keras.Sequential(hidden + [keras.layers.Dense(2), keras.layers.Softmax()])
    if kind == "activation-layer":
        return keras.Sequential(hidden + [keras.layers.Dense(2), keras.layers.Activation("sigmoid")])
    inner = keras.Sequential(hidden + [keras.layers.Dense(2, activation="softmax")])
    return keras.Sequential([keras.Input((2,)), inner])  # nested


@pytest.mark.parametrize("kind", ["dense-softmax", "softmax-layer", "activation-layer", "nested"])
def test_models_that_return_probabilities_are_rejected(kind):
    model = _ends_in(kind)
    act = "sigmoid" if kind == "activation-layer" else "softmax"
    with pytest.raises(ValueError, match=rf"model must return logits, but its output applies {act}"):
        cftkit.search(model, X2, [0, 1])
    with pytest.raises(ValueError, match=rf"classifier must return logits, but its output applies {act}"):
        cftkit.CounterfactualModel(model)
    # logits with a relu/linear head are fine, and so is a CounterfactualModel wrapping them
    ok = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
    assert cftkit.search(ok, X2, [0, 1]).counterfactual.shape == X2.shape
    assert cftkit.search(cftkit.CounterfactualModel(ok), X2, [0, 1]).counterfactual.shape == X2.shape


class _SoftmaxInCall(keras.Model):
    """Subclassed classifier that applies softmax (or sigmoid) inside call(): no layer shows it."""

    def __init__(self, kind="softmax"):
        super().__init__()
        self.kind = kind
        self.hidden = keras.layers.Dense(4, activation="relu")
        self.out = keras.layers.Dense(3)

    def call(self, x, training=False):
        z = self.out(self.hidden(x))
        return keras.ops.softmax(z) if self.kind == "softmax" else keras.ops.sigmoid(z)


def _hidden_probability_models():
    x = keras.Input((2,))
    functional = keras.Model(x, keras.ops.softmax(keras.layers.Dense(2)(keras.layers.Dense(4, activation="relu")(x))))
    functional_sigmoid = keras.Model(x, keras.ops.sigmoid(keras.layers.Dense(2)(x)))
    sub, sub_sigmoid = _SoftmaxInCall("softmax"), _SoftmaxInCall("sigmoid")
    for m in (sub, sub_sigmoid):
        m(np.zeros((1, 2), np.float32))  # build
    return {"functional-ops-softmax": (functional, "softmax"), "functional-ops-sigmoid": (functional_sigmoid, "sigmoid"),
            "subclassed-softmax": (sub, "softmax"), "subclassed-sigmoid": (sub_sigmoid, "sigmoid")}


@pytest.mark.parametrize("kind", ["functional-ops-softmax", "functional-ops-sigmoid", "subclassed-softmax",
                                  "subclassed-sigmoid"])
def test_probability_outputs_without_a_softmax_layer_are_rejected(kind):
    model, act = _hidden_probability_models()[kind]
    with pytest.raises(ValueError, match=rf"model must return logits, but .*{act}.*assume_logits=True"):
        cftkit.search(model, X2, [0, 1])
    if kind.startswith("functional"):  # CounterfactualModel needs a model with declared inputs
        with pytest.raises(ValueError, match=rf"classifier must return logits, but .*{act}"):
            cftkit.CounterfactualModel(model)
    with pytest.raises(ValueError, match=r"must return logits"):  # the evaluation checks through the same hook
        cftkit.evaluation.fgsm(model, X2, [0, 1], epsilon=0.1)


def test_a_subclassed_probability_model_is_rejected_by_counterfactual_model():
    inp = keras.Input((2,))
    inner = _SoftmaxInCall("softmax")
    wrapped = keras.Model(inp, inner(inp))  # declared inputs, softmax hidden inside a subclassed layer
    with pytest.raises(ValueError, match=r"classifier must return logits, but its outputs look like softmax"):
        cftkit.CounterfactualModel(wrapped)


def test_logits_in_unit_interval_are_a_false_alarm_that_can_be_overridden():
    """A logit model whose outputs happen to stay in [0, 1] (tiny weights, biases 0.3/0.5) looks like
    sigmoid probabilities; ``assume_logits=True`` accepts it, here and everywhere after."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.set_weights([np.full((2, 2), 1e-5, np.float32), np.array([0.3, 0.5], np.float32)])
    with pytest.raises(ValueError, match=r"look like sigmoid probabilities"):
        cftkit.search(model, X2, [0, 1], max_steps=1)
    res = cftkit.search(model, X2, [0, 1], max_steps=1, assume_logits=True)
    assert res.counterfactual.shape == X2.shape
    assert cftkit.search(model, X2, [0, 1], max_steps=1).counterfactual.shape == X2.shape  # remembered
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    other.set_weights([np.full((2, 2), 1e-5, np.float32), np.array([0.3, 0.5], np.float32)])
    ct = cftkit.CounterfactualModel(other, assume_logits=True)
    assert ct.get_config()["assume_logits"] is True
    with pytest.raises(TypeError, match="assume_logits must be a bool"):
        cftkit.search(model, X2, [0, 1], assume_logits="yes")


def test_constant_or_logit_outputs_are_not_taken_for_probabilities():
    from cftkit.search import looks_like_probabilities

    assert looks_like_probabilities(np.zeros((5, 2))) is None  # a zero-weight model: no evidence
    assert looks_like_probabilities(np.tile([0.3, 0.7], (5, 1))) is None  # constant rows summing to 1
    assert looks_like_probabilities(np.array([[0.1, 0.9], [0.5, 0.5]])) == "softmax"
    assert looks_like_probabilities(np.array([[0.1, 0.2], [0.5, 0.9]])) == "sigmoid"
    assert looks_like_probabilities(np.array([[0.1, 1.2], [0.5, 0.5]])) is None
    fresh = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    assert cftkit.search(fresh, X2, [0, 1], max_steps=1).counterfactual.shape == X2.shape


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(max_steps=2**31), ValueError, r"max_steps must be an integer <= 2147483647 \(it is stored as int32\)"),
    (dict(max_steps=2**32 + 3), ValueError, r"max_steps must be an integer <= 2147483647"),
    (dict(learning_rate=1e300), ValueError, r"learning_rate .*too large for float32"),
    (dict(nascent_epsilon=1e39), ValueError, r"nascent_epsilon .*too large for float32"),
    (dict(threshold=1 - 1e-10), ValueError, r"threshold .*rounds to 1.0 in float32"),
    (dict(cost_weight=1e300), ValueError, r"cost_weight must be finite in float32"),
    (dict(energy_weight=[1.0, 1e40]), ValueError, r"energy_weight must be finite in float32, the dtype it is stored in; entry 1"),
    (dict(seed=2**31), ValueError, r"seed must be an integer <= 2147483647"),
    (dict(seed=-1), ValueError, r"seed must be an integer >= 0"),
])
def test_numbers_are_checked_in_the_dtype_they_are_stored_in(model2, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cftkit.search(model2, X2, [1, 0], **kwargs)


def test_model_hyperparameters_are_checked_in_their_dtype():
    clf = cftkit.build_classifier(2, 2, seed=0)
    for kwargs, match in [(dict(max_steps=2**31), r"max_steps must be an integer <= 2147483647"),
                          (dict(lambda_div=1e300), r"lambda_div .*too large for float32"),
                          (dict(search_learning_rate=1e39), r"search_learning_rate .*too large for float32"),
                          (dict(threshold=0.99999999999), r"threshold .*rounds to 1.0"),
                          (dict(seed=2**31), r"seed must be an integer <= 2147483647")]:
        with pytest.raises(ValueError, match=match):
            cftkit.CounterfactualModel(clf, **kwargs)
    model = cftkit.CounterfactualModel(clf)
    with pytest.raises(ValueError, match=r"lambda_reg .*too large for float32"):
        model.lambda_reg = 1e300
    assert model.lambda_reg == pytest.approx(0.1)  # unchanged after the rejected assignment


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(max_steps=-1), ValueError, r"max_steps must be an integer >= 0"),
    (dict(max_steps=2.5), TypeError, r"max_steps"),
    (dict(threshold=0.0), ValueError, r"threshold must be in the open interval \(0, 1\)"),
    (dict(threshold=1.0), ValueError, r"threshold must be in the open interval"),
    (dict(threshold=1.5), ValueError, r"threshold"),
    (dict(threshold=-0.2), ValueError, r"threshold"),
    (dict(threshold="high"), TypeError, r"threshold"),
    (dict(generator="dice"), ValueError, r"unknown generator 'dice'"),
    (dict(generator="revise"), ValueError, r"generator='revise' needs a fitted VAE"),
    (dict(generator=3), TypeError, r"generator must be a name"),
    (dict(cost_weight=-0.1), ValueError, r"cost_weight must be finite and >= 0"),
    (dict(energy_weight=-1.0), ValueError, r"energy_weight must be finite and >= 0"),
    (dict(energy_weight=[1.0, -1.0]), ValueError, r"energy_weight must be finite and >= 0"),
    (dict(cost_weight=[1.0, 1.0, 1.0]), ValueError, r"cost_weight must be a scalar or a vector with one entry"),
    (dict(energy_weight=np.nan), ValueError, r"energy_weight"),
    (dict(learning_rate=-0.1), ValueError, r"learning_rate"),
    (dict(nascent_epsilon=-0.1), ValueError, r"nascent_epsilon"),
    (dict(return_path=1), TypeError, r"return_path must be a bool"),
    (dict(constraints=[(-1, 1), (-1, 1)]), TypeError, r"constraints must be a cftkit.Constraints"),
])
def test_bad_search_options(model2, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cftkit.search(model2, X2, [1, 0], **kwargs)


def test_factual_outside_its_domain_names_the_feature(model2):
    c = cftkit.Constraints(lower=[-1, 0], upper=[1, 1], feature_names=["income", "age"])
    with pytest.raises(ValueError, match=r"factuals\[1\] is outside the domain: feature 1 \('age'\)"):
        cftkit.search(model2, X2, [1, 0], constraints=c)
    c = cftkit.Constraints(lower=[-1, -1], upper=[0.2, 1])
    with pytest.raises(ValueError, match=r"feature 0 \(x0\).*above its upper bound"):
        cftkit.search(model2, X2, [1, 0], constraints=c)


@pytest.mark.parametrize("kwargs, name", [
    (dict(targets="a"), "targets"),
    (dict(cost_weight="abc"), "cost_weight"),
    (dict(energy_weight=[1.0, "b"]), "energy_weight"),
    (dict(seed="s"), "seed"),
])
def test_non_numeric_arguments_are_named(model2, kwargs, name):
    """BUG (see report): these raise numpy's bare "could not convert string to float: 'abc'" /
    int()'s "invalid literal", which does not say which argument was wrong."""
    targets = kwargs.pop("targets", [1, 0])
    with pytest.raises((TypeError, ValueError), match=name):
        cftkit.search(model2, X2, targets, **kwargs)


def test_categorical_projection_keeps_one_hot_groups_valid_at_every_step():
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    c = cftkit.Constraints(lower=[-3, 0, 0, 0, 0], upper=[3, 1, 1, 1, 1], categorical_groups=[[1, 2, 3]],
                           binary_features=[4])
    rng = np.random.default_rng(0)
    x = np.zeros((64, 5), np.float32)
    x[:, 0] = rng.uniform(-1, 1, 64)
    x[np.arange(64), 1 + rng.integers(0, 3, 64)] = 1.0
    x[:, 4] = rng.integers(0, 2, 64)  # a declared binary column
    t = 1 - model.predict(x, verbose=0).argmax(1)
    res = cftkit.search(model, x, t, constraints=c, categorical=True, return_path=True, max_steps=20,
                        learning_rate=2.0, threshold=0.9)
    states = res.path.reshape(-1, 5)
    np.testing.assert_array_equal(states[:, 1:4].sum(1), 1.0)
    assert set(np.unique(states[:, 1:4])) <= {0.0, 1.0} and set(np.unique(states[:, 4])) <= {0.0, 1.0}
    assert np.any(res.counterfactual[:, 1:4] != x[:, 1:4])  # categories do change when the gradient says so
    free = cftkit.search(model, x, t, constraints=c, categorical=False, max_steps=20, learning_rate=2.0,
                         threshold=0.9)
    assert not np.all(np.isin(free.counterfactual[:, 1:4], [0.0, 1.0]))  # continuous without projection


def _models_through_every_cached_function(n):
    from cftkit.evaluation import attribution, robustness

    x = np.zeros((4, 2), np.float32)
    y = np.array([0, 1, 0, 1])
    for seed in range(n):
        m = cftkit.build_classifier(2, 2, seed=seed)
        cftkit.search(m, x, y, max_steps=2)
        robustness.fgsm(m, x, y, 0.1)
        attribution.integrated_gradients(m, x, y)
        yield m


def test_per_model_functions_do_not_warn_about_retracing(caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for _ in _models_through_every_cached_function(7):
            pass
    assert "retracing" not in caplog.text


def test_per_model_function_caches_do_not_keep_models_alive():
    import gc
    import weakref

    refs = [weakref.ref(m) for m in _models_through_every_cached_function(4)]
    gc.collect()
    assert all(r() is None for r in refs)
