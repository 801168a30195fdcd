"""Tests of the evaluation protocol (docs/method.md#evaluation-protocol): evaluate_counterfactuals and compare."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cftkit import keras
import cftkit.evaluation as ev
from cftkit.constraints import Constraints
from cftkit.datasets import Dataset

SMALL = dict(n_runs=3, n_individuals=8, energy_weights=(0.1, 5.0), max_steps=10, jit_compile=False)


def mlp(ds, seed, epochs=3):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((ds.n_features,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(ds.n_classes)])
    model.compile(keras.optimizers.Adam(3e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ds.x_train, ds.y_train, epochs=epochs, batch_size=256, verbose=0)
    return model


def linear_model(w, b):
    w = np.asarray(w, np.float32)
    layer = keras.layers.Dense(w.shape[1])
    model = keras.Sequential([keras.Input((w.shape[0],)), layer])
    layer.set_weights([w, np.asarray(b, np.float32)])
    return model


@pytest.fixture(scope="module")
def two_models(moons):
    """The moons dataset (tests/conftest.py) and two tiny MLPs trained with different seeds."""
    return moons, {"CT": mlp(moons, 1), "BL": mlp(moons, 2)}


@pytest.fixture(scope="module")
def small_result(two_models):
    ds, models = two_models
    return ev.evaluate_counterfactuals(models, ds, seed=4, **SMALL)


# ----------------------------------------------------------------------------- shapes and consistency
def test_protocol_shapes_and_finite_values(small_result):
    res = small_result
    assert res.models == ("CT", "BL")
    assert res.metrics == ("validity", "cost", "ip", "ip_star[0.5]", "ip_star[5]")
    for name in res.models:
        assert set(res.per_run[name]) == set(res.metrics)
        for m, v in res.per_run[name].items():
            assert v.shape == (3,), m
            assert np.all(np.isfinite(v)), (name, m, v)
            assert res.per_run_lambda[name][m].shape == (3, 2)
        assert 0.0 <= res.validity[name] <= 1.0 and res.missing[name] == 0
    assert len(res.records["run"]) == 2 * 3 * 2 * 8
    assert res.counterfactuals.shape == (96, 2) and res.factuals.shape == (96, 2)
    assert all(len(col) == 96 for col in res.records.values())
    assert "rows=96" in repr(res) and set(res.summary()) == {"CT", "BL"}


def test_labels_shared_and_factuals_predicted_as_label(small_result, two_models):
    ds, models = two_models
    rec = small_result.records
    ct, bl = rec["model"] == "CT", rec["model"] == "BL"
    for col in ("run", "lambda_index", "individual", "factual_label", "target"):
        np.testing.assert_array_equal(rec[col][ct], rec[col][bl])
    assert np.all(rec["target"] != rec["factual_label"])
    for name, mask in (("CT", ct), ("BL", bl)):
        pred = ev.predict(models[name], ds.x_test[rec["test_index"][mask]])
        np.testing.assert_array_equal(pred, rec["factual_label"][mask])
    np.testing.assert_array_equal(rec["energy_weight"], np.asarray((0.1, 5.0), np.float32)[rec["lambda_index"]])


def test_per_ce_metrics_match_metric_functions(small_result, two_models):
    ds, models = two_models
    res, rec = small_result, small_result.records
    for name in res.models:
        m = rec["model"] == name
        valid = ev.validity(models[name], res.counterfactuals[m], rec["target"][m])
        np.testing.assert_array_equal(rec["valid"][m], valid)
        np.testing.assert_allclose(rec["cost"][m], ev.cost(res.counterfactuals[m], ds.x_test[rec["test_index"][m]]))
        np.testing.assert_allclose(rec["ip"][m], ev.implausibility(res.counterfactuals[m], rec["target"][m],
                                                                   ds.x_test, ds.y_test))


def test_aggregation_valid_only_then_lambda_mean(small_result):
    """Recompute docs/method.md#aggregation-and-significance from the per-CE records with explicit loops."""
    res, rec = small_result, small_result.records
    for name in res.models:
        for metric in ("cost", "ip", "ip_star[5]", "validity"):
            per_run = []
            for r in range(3):
                per_l = []
                for lam in range(2):
                    m = (rec["model"] == name) & (rec["run"] == r) & (rec["lambda_index"] == lam)
                    if metric == "validity":
                        per_l.append(rec["valid"][m].mean())
                    else:
                        vals = rec[metric][m & rec["valid"]]
                        if metric.startswith("ip_star"):
                            vals = np.maximum(vals, 0.0)  # clamped before aggregation
                        per_l.append(vals.mean() if vals.size else np.nan)
                per_run.append(np.nanmean(per_l))
            np.testing.assert_allclose(res.per_run[name][metric], per_run, rtol=1e-12, err_msg=f"{name} {metric}")


def test_ip_star_group_value_equals_mmd_when_not_subsampled(two_models):
    ds, models = two_models
    res = ev.evaluate_counterfactuals(models, ds, seed=5, mmd_max_samples=1000, length_scales=(0.5,), **SMALL)
    rec = res.records
    assert res.metrics[-1] == "ip_star[0.5]"
    checked = 0
    for g in np.unique(rec["group"])[:6]:
        rows = np.flatnonzero(rec["group"] == g)
        if rows.size < 2:
            assert np.isnan(rec["ip_star[0.5]"][rows[0]])
            continue
        t = rec["target"][rows[0]]
        assert np.all(rec["target"][rows] == t) and len(np.unique(rec["model"][rows])) == 1
        assert len(np.unique(rec["run"][rows])) == 1 and len(np.unique(rec["lambda_index"][rows])) == 1
        assert rec["group_size"][rows[0]] == rows.size
        # All CEs of the group (valid or not) against all target-class test points.
        expected = ev.mmd(res.counterfactuals[rows], ds.x_test[ds.y_test == t], length_scale=0.5)
        np.testing.assert_allclose(rec["ip_star[0.5]"][rows], expected, rtol=1e-9, atol=1e-12)
        checked += 1
    assert checked >= 3


def test_protocol_is_seeded(two_models, small_result):
    ds, models = two_models
    again = ev.evaluate_counterfactuals(models, ds, seed=4, **SMALL)
    for c in ("test_index", "target", "valid", "cost"):
        np.testing.assert_array_equal(again.records[c], small_result.records[c])
    other = ev.evaluate_counterfactuals(models, ds, seed=6, **SMALL)
    assert not np.array_equal(other.records["test_index"], small_result.records["test_index"])
    # A model's draws depend on its name, not on which other models are evaluated with it.
    alone = ev.evaluate_counterfactuals({"BL": models["BL"]}, ds, seed=4, **SMALL)
    bl = small_result.records["model"] == "BL"
    np.testing.assert_array_equal(alone.records["test_index"], small_result.records["test_index"][bl])


def test_immutable_feature_is_not_changed(two_models):
    ds, models = two_models
    cons = ds.with_immutable().constraints
    res = ev.evaluate_counterfactuals(models, ds, seed=7, constraints=cons, threshold=0.5, **SMALL)
    np.testing.assert_allclose(res.counterfactuals[:, 0], cons.clip(res.factuals)[:, 0], atol=1e-6)
    assert res.settings["constraints"]["mutability"] == ["none", "both"]


def test_model_predicting_no_point_of_a_label_is_recorded_missing(two_models):
    ds, models = two_models
    always0 = linear_model([[0.0, 0.0], [0.0, 0.0]], [50.0, 0.0])  # predicts class 0 everywhere
    res = ev.evaluate_counterfactuals({"CT": models["CT"], "C0": always0}, ds, seed=8, **SMALL)
    n_label1 = int(np.sum(res.records["factual_label"][res.records["model"] == "CT"] == 1))
    assert res.missing["C0"] == n_label1 > 0 and res.missing["CT"] == 0
    assert np.sum(res.records["model"] == "C0") == 48 - n_label1
    assert res.validity["C0"] == 0.0  # its counterfactuals can never reach class 1
    assert np.all(np.isnan(res.per_run["C0"]["cost"]))
    comp = ev.compare(res, "CT", "C0")
    assert comp["cost"].n_runs == 0 and np.isnan(comp["cost"].reduction_pct)


def test_categorical_columns_are_decoded_before_metrics():
    rng = np.random.default_rng(0)
    n = 400
    x = np.c_[rng.normal(size=n), np.eye(2)[rng.integers(0, 2, n)]].astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    cons = Constraints.from_data(x, categorical_groups=[[1, 2]])
    ds = Dataset("toy", x[:300], y[:300], x[300:], y[300:], ("a", "b", "c"), cons)
    model = linear_model([[2.0, -2.0], [0.3, -0.3], [-0.3, 0.3]], [0.0, 0.0])
    res = ev.evaluate_counterfactuals({"M": model}, ds, seed=1, **SMALL)
    onehot = res.counterfactuals[:, 1:]
    assert np.all(np.isin(onehot, [0.0, 1.0])) and np.all(onehot.sum(1) == 1)
    raw = ev.evaluate_counterfactuals({"M": model}, ds, seed=1, decode_categorical=False, **SMALL)
    assert not np.all(np.isin(raw.counterfactuals[:, 1:], [0.0, 1.0]))


def test_protocol_with_xla_search(two_models):
    ds, models = two_models
    kw = dict(SMALL, jit_compile=True, n_runs=2, n_individuals=5)
    res = ev.evaluate_counterfactuals({"BL": models["BL"]}, ds, seed=9, **kw)
    ref = ev.evaluate_counterfactuals({"BL": models["BL"]}, ds, seed=9, **dict(kw, jit_compile=False))
    np.testing.assert_array_equal(res.records["test_index"], ref.records["test_index"])
    np.testing.assert_allclose(res.counterfactuals, ref.counterfactuals, atol=1e-4)
    assert all(np.all(np.isfinite(v)) for v in res.per_run["BL"].values())


# ----------------------------------------------------------------------------- compare / reduction / significance
def test_reduction_formula():
    t, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 4.0])
    ratio = t / b
    pct, sd = ev.reduction(t, b)
    assert pct == pytest.approx((1 - ratio.mean()) * 100)
    assert sd == pytest.approx(100 * ratio.std(ddof=1))
    assert ev.reduction([2.0], [1.0])[0] == pytest.approx(-100.0) and np.isnan(ev.reduction([2.0], [1.0])[1])
    assert ev.reduction([1.0, 1.0], [0.0, 2.0])[0] == pytest.approx(50.0)  # a zero baseline run is dropped
    with pytest.raises(ValueError, match="one value per run"):
        ev.reduction([1.0, 2.0], [1.0])


def test_percentile_significance_on_synthetic_deltas():
    rng = np.random.default_rng(1)
    sig, lo, hi = ev.percentile_significance(rng.normal(0.5, 0.1, 100), 0.01)
    assert sig and 0 < lo < 0.5 < hi
    sig, lo, hi = ev.percentile_significance(rng.normal(0.0, 1.0, 100), 0.01)
    assert not sig and lo < 0 < hi
    sig, *_ = ev.percentile_significance(-rng.uniform(0.1, 1.0, 100), 0.01)
    assert sig  # clearly negative deltas are significant too
    # Quantiles: linear interpolation at α/2 and 1 − α/2.
    d = np.arange(101.0)
    assert ev.percentile_significance(d, 0.1)[1:] == pytest.approx((5.0, 95.0))
    with pytest.raises(ValueError, match="alpha"):
        ev.percentile_significance(d, 1.5)


def _fake_result(ct, bl, metric="ip"):
    return ev.ProtocolResult(models=("CT", "BL"), metrics=(metric,), per_run={"CT": {metric: ct}, "BL": {metric: bl}},
                             per_run_lambda={}, validity={}, missing={}, records={"run": np.zeros(0)},
                             counterfactuals=None, factuals=None, energy_weights=(1.0,), length_scales=(5.0,),
                             n_runs=len(ct), n_individuals=1, settings={}, timings={})


def test_compare_on_synthetic_ratios():
    rng = np.random.default_rng(2)
    bl = rng.uniform(1.0, 2.0, 100)
    better = _fake_result(0.7 * bl + rng.normal(0, 0.01, 100), bl)
    c = ev.compare(better)["ip"]
    ratio = better.per_run["CT"]["ip"] / bl
    assert c.reduction_pct == pytest.approx((1 - ratio.mean()) * 100) and 29 < c.reduction_pct < 31
    assert c.reduction_sd == pytest.approx(100 * ratio.std(ddof=1))
    assert c.significant and c.ci_high < 0 and c.n_runs == 100
    assert c.treated_mean == pytest.approx(better.per_run["CT"]["ip"].mean())
    assert str(c).endswith("*")
    noise = _fake_result(bl + rng.normal(0, 0.3, 100), bl)
    assert not ev.compare(noise)["ip"].significant


def test_compare_on_protocol_result(small_result):
    comp = ev.compare(small_result, "CT", "BL")
    assert set(comp) == {"cost", "ip", "ip_star[0.5]", "ip_star[5]"}
    for name, c in comp.items():
        t, b = small_result.per_run["CT"][name], small_result.per_run["BL"][name]
        assert c.reduction_pct == pytest.approx(ev.reduction(t, b)[0])
        assert c.significant == ev.percentile_significance(np.abs(t) - np.abs(b))[0]
        assert c.n_runs == 3
    assert set(ev.compare(small_result, metrics="validity")) == {"validity"}
    with pytest.raises(ValueError, match="treated='XX' is not a model"):
        ev.compare(small_result, "XX", "BL")
    with pytest.raises(ValueError, match="unknown metric"):
        ev.compare(small_result, metrics=["nope"])


# ----------------------------------------------------------------------------- bad inputs
def test_protocol_bad_inputs(two_models):
    ds, models = two_models
    with pytest.raises(ValueError, match="n_runs must be an integer >= 1"):
        ev.evaluate_counterfactuals(models, ds, n_runs=0)
    with pytest.raises(ValueError, match="n_individuals"):
        ev.evaluate_counterfactuals(models, ds, n_individuals=0)
    with pytest.raises(TypeError, match="models must be a non-empty dict"):
        ev.evaluate_counterfactuals({}, ds)
    with pytest.raises(TypeError, match="models must be a non-empty dict"):
        ev.evaluate_counterfactuals([models["CT"]], ds)
    with pytest.raises(ValueError, match="energy_weights must be finite and >= 0"):
        ev.evaluate_counterfactuals(models, ds, energy_weights=(1.0, -1.0))
    with pytest.raises(ValueError, match="length_scales must be > 0"):
        ev.evaluate_counterfactuals(models, ds, length_scales=(0.5, 0.0))
    with pytest.raises(ValueError, match="threshold"):
        ev.evaluate_counterfactuals(models, ds, threshold=1.5)
    with pytest.raises(ValueError, match="split must be"):
        ev.evaluate_counterfactuals(models, ds, split="val")
    with pytest.raises(TypeError, match="dataset must be a cftkit.datasets.Dataset"):
        ev.evaluate_counterfactuals(models, (ds.x_test, ds.y_test))
    with pytest.raises(ValueError, match="constraints describe 3 features"):
        ev.evaluate_counterfactuals(models, ds, constraints=Constraints(n_features=3))
    one_class = dataclasses.replace(ds, y_train=np.zeros_like(ds.y_train), y_val=np.zeros_like(ds.y_val),
                                    y_test=np.zeros_like(ds.y_test))
    with pytest.raises(ValueError, match="at least 2 classes"):
        ev.evaluate_counterfactuals(models, one_class)
    three = linear_model(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"models\['M3'\] returns 3 logits but the dataset has 2 classes"):
        ev.evaluate_counterfactuals({"M3": three}, ds)
    bad_labels = dataclasses.replace(ds, y_test=np.where(ds.y_test == 1, 7, 0).astype(np.int32))
    with pytest.raises(ValueError, match="returns 2 logits but the dataset has 8 classes"):
        ev.evaluate_counterfactuals(models, bad_labels)
    negative = dataclasses.replace(ds, y_test=(ds.y_test - 1).astype(np.int32))
    with pytest.raises(ValueError, match="y_test must hold class indices >= 0"):
        ev.evaluate_counterfactuals(models, negative)
