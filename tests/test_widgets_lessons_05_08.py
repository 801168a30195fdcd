"""The widgets of lessons 05–08 and the stored results they read: each builds headless, each control
changes what is drawn, bad arguments are errors naming the argument; the trainer shows no maturity
for vanilla epochs; the change table marks changes against mutability; the stored-results loader
checks its files."""

import base64
import copy
import json
import math

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import cftkit  # noqa: E402
from cftkit import experiments, keras, plots, presets, widgets as cw  # noqa: E402
from cftkit.datasets import Dataset  # noqa: E402
from cftkit.evaluation import ProtocolResult, compare  # noqa: E402
from cftkit.widgets import results as wres, tabular as wtab  # noqa: E402

pytestmark = pytest.mark.usefixtures("close_figures")
RES = 16


def _png(view):
    return cw.figure_png(view.draw())


def _changes(view, control, value):
    """Set ``control`` to ``value``; return (PNG before, PNG after) of ``view``."""
    before = _png(view)
    assert control.value != value
    control.value = value
    assert view.last_error is None, view.last_error
    return before, _png(view)


# ----------------------------------------------------------------------------- 05: CTTrainer, vanilla
def test_unsearched_epochs_are_masked_not_zero():
    logs = {"loss": 0.3, "accuracy": 0.9, "ct_maturity": 0.0, "ct_search_steps": 0.0, "ct_div": 0.0, "ct_skipped": 0.0}
    masked = cw.mask_unsearched(logs, "vanilla")
    assert all(math.isnan(masked[k]) for k in ("ct_maturity", "ct_search_steps", "ct_div"))
    assert masked["loss"] == 0.3 and masked["ct_skipped"] == 0.0 and logs["ct_maturity"] == 0.0  # a copy
    searched = {"loss": 0.3, "ct_maturity": 0.0, "ct_search_steps": 30.0}  # no CE matured: a real 0
    assert cw.mask_unsearched(searched, "full") == searched
    assert math.isnan(cw.mask_unsearched({"ct_maturity": 0.0, "ct_search_steps": 0.0}, "full")["ct_maturity"])
    assert cw.mask_unsearched({"loss": 1.0}, None) == {"loss": 1.0}  # a plain Keras model
    assert cw.training_status(logs, "vanilla") == "loss 0.3000, accuracy 0.900, no search in vanilla training"
    assert cw.training_status(searched, "full").endswith("maturity 0.00")


def test_training_history_leaves_gaps_for_unsearched_epochs():
    h = {"loss": [1.0, 0.8, 0.6], "accuracy": [0.5, 0.6, 0.7], "ct_maturity": [np.nan, np.nan, np.nan],
         "ct_search_steps": [np.nan, np.nan, np.nan]}
    fig = plots.training_history(h)
    mat_ax, steps_ax = fig.axes[1], fig.axes[2]
    assert [ln.get_label() for ln in mat_ax.lines] == ["accuracy"]  # no maturity line at 0
    assert any("no search" in t.get_text() for t in mat_ax.texts)
    assert [t.get_text() for t in steps_ax.texts] == ["no search in these epochs\n(vanilla training)"]
    fig = plots.training_history({"ct_maturity": [np.nan, 0.5, 0.75]})
    y = fig.axes[1].lines[0].get_ydata()
    assert np.isnan(y[0]) and list(y[1:]) == [0.5, 0.75]  # a gap, then values


def test_ct_trainer_vanilla_shows_no_maturity(moons):
    clf = cftkit.build_classifier(2, 2, hidden=(8,), seed=0)
    model = cftkit.CounterfactualModel(clf, objective="vanilla", n_ce=20, max_steps=3, threshold=0.6)
    model.compile(metrics=["accuracy"], run_eagerly=True)
    trainer = cw.CTTrainer(model, moons, n_train=40, batch_size=20, epochs=1, resolution=RES)
    trainer._on_train_clicked(trainer.train_button)
    assert trainer.last_error is None, trainer.last_error
    assert "no search in vanilla training" in trainer.status.value and "maturity" not in trainer.status.value
    h = trainer.dashboard.callback.history
    assert np.isnan(h["ct_maturity"]).all() and np.isnan(h["ct_search_steps"]).all()
    assert trainer.last_history.history["ct_maturity"] == [0.0]  # Keras' own log says 0: the trainer hides it
    fig = trainer.dashboard.callback.draw()
    assert not any(ln.get_label() == "maturity" for ax in fig.axes for ln in ax.lines)

    trainer.objective.value = "full"  # then CT: the curve starts after the gap
    trainer._on_train_clicked(trainer.train_button)
    assert trainer.last_error is None, trainer.last_error
    mat = trainer.dashboard.callback.history["ct_maturity"]
    assert np.isnan(mat[0]) and np.isfinite(mat[1]) and "maturity" in trainer.status.value


def _output_png(output):
    assert len(output.outputs) == 1
    return base64.b64decode(output.outputs[0]["data"]["image/png"])


def test_ct_trainer_controls_change_the_figure(moons):
    clf = cftkit.build_classifier(2, 2, hidden=(8,), seed=0)
    model = cftkit.CounterfactualModel(clf, n_ce=20, max_steps=3, threshold=0.6)
    model.compile(metrics=["accuracy"], run_eagerly=True)
    trainer = cw.CTTrainer(model, moons, n_train=40, batch_size=20, epochs=1, resolution=RES)
    out = trainer.dashboard.output
    first = _output_png(out)  # drawn before any training: the untrained boundary, the next fit's settings
    assert trainer.dashboard.callback.n_draws == 0 and "next fit: full" in trainer.dashboard.callback.note
    seen = [first]
    for control, value in ((trainer.lambda_div, 0.1), (trainer.lambda_reg, 0.2), (trainer.lambda_adv, 0.3),
                           (trainer.objective, "energy"), (trainer.epochs, 2)):
        control.value = value
        assert trainer.last_error is None, trainer.last_error
        png = _output_png(out)
        assert png not in seen, control.description
        seen.append(png)
    trainer.epochs.value = 1
    trainer._on_train_clicked(trainer.train_button)
    assert trainer.last_error is None and _output_png(out) not in seen


# ----------------------------------------------------------------------------- 06: EvaluationExplorer
def _protocol_result(n_runs=8, lambdas=(0.1, 1.0), scales=(0.5, 5.0)):
    rng = np.random.default_rng(0)
    n_l = len(lambdas)
    metrics = ("validity", "cost", "ip") + tuple(f"ip_star[{ls:g}]" for ls in scales)

    def levels(model):
        out = {"validity": np.clip(rng.uniform(0.8, 1.0, (n_runs, n_l)) if model == "CT" else
                                   rng.uniform(0.0, 0.3, (n_runs, n_l)), 0, 1),
               "cost": rng.uniform(1.0, 1.2, (n_runs, n_l)) * (0.8 if model == "CT" else 1.0),
               "ip": rng.uniform(1.5, 1.7, (n_runs, n_l)) * (0.6 if model == "CT" else 1.0),
               "ip_star[0.5]": rng.uniform(0.4, 0.5, (n_runs, n_l)) * (0.1 if model == "CT" else 1.0),
               # near-zero levels: single BL runs at 1e-5 make the ratios explode
               "ip_star[5]": rng.uniform(0.0005, 0.002, (n_runs, n_l))}
        if model == "BL":
            out["ip_star[5]"][0] = 1e-5
        return out

    per_run_lambda = {m: levels(m) for m in ("CT", "BL")}
    per_run = {m: {k: v.mean(axis=1) for k, v in d.items()} for m, d in per_run_lambda.items()}
    return ProtocolResult(models=("CT", "BL"), metrics=metrics, per_run=per_run, per_run_lambda=per_run_lambda,
                          validity={m: float(per_run[m]["validity"].mean()) for m in per_run}, missing={"CT": 0, "BL": 0},
                          records={"run": np.zeros(0)}, counterfactuals=None, factuals=None, energy_weights=lambdas,
                          length_scales=scales, n_runs=n_runs, n_individuals=5, settings={}, timings={})


def test_paired_comparison_matches_the_protocols_compare():
    res = _protocol_result()
    table = compare(res, "CT", "BL")
    for metric in ("ip", "cost", "ip_star[0.5]", "ip_star[5]"):
        c = cw.paired_comparison(*cw.run_values(res, metric))
        assert c["reduction_pct"] == pytest.approx(table[metric].reduction_pct)
        assert c["reduction_sd"] == pytest.approx(table[metric].reduction_sd)
        assert c["significant"] == table[metric].significant
        assert c["ci"] == pytest.approx((table[metric].ci_low, table[metric].ci_high))
    stable = cw.paired_comparison(*cw.run_values(res, "ip"))
    assert not stable["degenerate"] and stable["ratio_of_means_pct"] == pytest.approx(stable["reduction_pct"], abs=2)
    shaky = cw.paired_comparison(*cw.run_values(res, "ip_star", length_scale=5.0))
    assert shaky["degenerate"] and "near 0" in shaky["degenerate_reason"]
    one = cw.run_values(res, "ip", energy_weight=1.0)
    assert np.allclose(one[0], res.per_run_lambda["CT"]["ip"][:, 1])
    empty = cw.paired_comparison([np.nan], [1.0])
    assert empty["n_runs"] == 0 and math.isnan(empty["reduction_pct"]) and not empty["significant"]


def test_evaluation_explorer_controls_change_the_figure():
    ex = cw.EvaluationExplorer(_protocol_result())
    assert isinstance(ex, ipywidgets.VBox) and repr(ex) == "<EvaluationExplorer>"
    assert len(ex.output.outputs) == 1 and ex.current["n_runs"] == 8
    before, after = _changes(ex, ex.metric, "cost")
    assert before != after and "cost" in ex.summary.value
    before, after = _changes(ex, ex.energy_weight, 1.0)
    assert before != after and "λ_egy = 1" in ex.summary.value
    before, after = _changes(ex, ex.length_scale, 0.5)  # ℓ shows IP* at that length scale
    assert before != after and ex.metric.value == "ip_star"
    before, after = _changes(ex, ex.length_scale, 5.0)
    assert before != after and "degenerate" in ex.summary.value
    ex.metric.value = "validity"
    assert "reduction" not in ex.summary.value and ex.last_error is None


def test_evaluation_explorer_bad_arguments_name_the_argument():
    res = _protocol_result()
    with pytest.raises(TypeError, match="result"):
        cw.EvaluationExplorer({"CT": 1})
    with pytest.raises(ValueError, match="metric"):
        cw.EvaluationExplorer(res, metric="accuracy")
    with pytest.raises(ValueError, match="length_scale"):
        cw.EvaluationExplorer(res, length_scale=2.0)
    with pytest.raises(ValueError, match="energy_weight"):
        cw.EvaluationExplorer(res, energy_weight=5.0)
    with pytest.raises(ValueError, match="treated"):
        cw.EvaluationExplorer(res, treated="AR")
    with pytest.raises(ValueError, match="length_scale"):
        cw.run_values(res, "ip_star")


# ----------------------------------------------------------------------------- 07: CounterfactualTable
def test_mutability_marks():
    delta = [0.5, -0.5, 0.5, -0.5, 0.0, 0.3, -0.3, 1e-6]
    mut = ["both", "both", "increase", "increase", "none", "none", "decrease", "none"]
    assert cw.mutability_respected(delta, mut).tolist() == [True, True, True, False, True, False, True, True]
    assert cw.mutability_respected([0.3], ["decrease"]).tolist() == [False]
    with pytest.raises(ValueError, match="mutability"):
        cw.mutability_respected([0.1, 0.2], ["both"])
    with pytest.raises(ValueError, match="mutability"):
        cw.mutability_respected([0.1], ["sideways"])


def _table_data():
    """A 4-feature table: z-scored income and age (age immutable), a one-hot colour (red/blue)."""
    rng = np.random.default_rng(0)
    n = 40
    x = np.column_stack([rng.normal(size=n), rng.normal(size=n), np.zeros(n), np.zeros(n)]).astype(np.float32)
    x[np.arange(n), 2 + (np.arange(n) % 2)] = 1.0
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    names = ("income", "age", "colour=red", "colour=blue")
    c = cftkit.Constraints.from_data(x, n_std=2, categorical_groups=[[2, 3]], feature_names=names)
    c = c.with_immutable([1])
    info = {"standardized": {"features": [0, 1], "mean": [50.0, 40.0], "std": [10.0, 5.0]}}
    return Dataset("toy", x, y, x, y, names, c, protected=(1,), class_names=("low", "high"), info=info)


def test_counterfactual_changes_decode_and_mark():
    ds = _table_data()
    dec = cw.feature_decoder(ds)
    assert dec.numeric == {0: (50.0, 10.0), 1: (40.0, 5.0)} and dec.groups == (("colour", (2, 3), ("red", "blue")),)
    x = np.array([0.0, 1.0, 1.0, 0.0])
    xc = np.array([1.0, 0.0, 0.0, 1.0])  # income +1 sd, age −1 sd (immutable!), red → blue
    rows = cw.counterfactual_changes(x, xc, ds.constraints.mutability, decoder=dec)
    by = {r["feature"]: r for r in rows}
    assert by["income"]["factual"] == "50" and by["income"]["counterfactual"] == "60" and by["income"]["respects"]
    assert by["age"]["change"] == "-5" and by["age"]["mutability"] == "none" and not by["age"]["respects"]
    assert by["colour"]["change"] == "red → blue" and by["colour"]["respects"]
    model_units = {r["feature"]: r for r in cw.counterfactual_changes(x, xc, ds.constraints.mutability, decoder=dec,
                                                                      units="model")}
    assert model_units["income"]["counterfactual"] == "1" and model_units["age"]["change"] == "-1"
    same = cw.counterfactual_changes(x, x, ds.constraints.mutability, decoder=dec)
    assert [r["feature"] for r in same] == ["age"] and same[0]["respects"] and not same[0]["changed"]
    assert cw.counterfactual_changes(x, x, ds.constraints.mutability, decoder=dec, show_restricted=False) == []
    assert "NO" in wtab.changes_text(rows) and "✗" in wtab.changes_html(rows)
    with pytest.raises(ValueError, match="units"):
        cw.counterfactual_changes(x, xc, ds.constraints.mutability, units="dollars")
    ax = plots.feature_changes(rows)
    colors = {t.get_text(): p.get_facecolor() for t, p in zip(ax.get_yticklabels(), ax.patches)}
    assert matplotlib.colors.to_hex(colors["age"]) == "#b2182b"  # red: a broken constraint


@pytest.fixture(scope="module")
def table_models():
    def linear(w):
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        m.set_weights([np.array([[0.0, w[0]], [0.0, w[1]], [0.0, 0.0], [0.0, 0.5]], np.float32), np.zeros(2, np.float32)])
        return m
    return {"BL": linear((2.0, 2.0)), "CT": linear((1.0, 3.0))}


def test_counterfactual_table_controls_change_the_figure(table_models):
    ds = _table_data()
    view = cw.CounterfactualTable(table_models, ds, max_steps=20)
    assert repr(view) == "<CounterfactualTable>" and view.units.value == "real" and not view.units.disabled
    assert "<table>" in view.table.value and len(view.output.outputs) == 1
    by = {r["feature"]: r for r in view.current_rows}
    assert by["age"]["changed"] is False and by["age"]["respects"]  # enforced: age stays
    for control, value in ((view.model, lambda: "CT"), (view.index, lambda: 3),
                           (view.target, lambda: view.current_target),  # the same class as "auto", chosen
                           (view.target, lambda: 1 - view.current_target),  # the predicted class: nothing to do
                           (view.units, lambda: "model")):
        before, after = _changes(view, control, value())
        assert before != after, control.description
    view.units.value, view.target.value = "real", -1
    before, after = _changes(view, view.enforce, False)  # ignoring mutability: age moves, and is marked
    assert before != after
    by = {r["feature"]: r for r in view.current_rows}
    assert by["age"]["changed"] and not by["age"]["respects"] and "break" in view.summary.value


def test_counterfactual_table_bad_arguments(table_models):
    ds = _table_data()
    with pytest.raises(ValueError, match="index"):
        cw.CounterfactualTable(table_models, ds, index=10_000)
    with pytest.raises(ValueError, match="units"):
        cw.CounterfactualTable(table_models, ds, units="dollars")
    with pytest.raises(ValueError, match="target"):
        cw.CounterfactualTable(table_models, ds, target=7)
    with pytest.raises(ValueError, match="constraints describe 2 features"):
        cw.CounterfactualTable(table_models, ds, constraints=cftkit.Constraints(n_features=2))
    with pytest.raises(ValueError, match="models"):
        cw.CounterfactualTable({}, ds)
    plain = cw.CounterfactualTable(table_models["BL"], (ds.x_test, ds.y_test))  # no units: model units only
    assert plain.units.disabled and plain.units.value == "model"


# ----------------------------------------------------------------------------- 08: stored results
def _fake_results(name="circles", seeds=(0, 1), quick=False, shift=0.0):
    """A results dict with the layout of reproduce() (its own aggregate), with made-up numbers."""
    preset = presets.get(name)
    per_seed = []
    for i, s in enumerate(seeds):
        cells = {}
        for j, key in enumerate(experiments.TABLE_METRICS):
            bl = 2.0 + j
            ct = bl * (0.4 + 0.1 * i + shift)
            cells[key] = {"bl_mean": bl, "ct_mean": ct, "reduction_pct": (1 - ct / bl) * 100, "reduction_sd": 1.0,
                          "significant": True, "ci": [-1.0, -0.5], "paper_v3": experiments._paper(preset, key)}
        per_seed.append({"seed": s, **cells, "accuracy": {"bl": 0.99, "ct": 0.98, "ct_protected": 0.97},
                         "validity": {"bl": 0.5 + 0.1 * i, "ct": 1.0, "bl_constrained": 0.45, "ct_constrained": 0.7}})
    protocol = {"epochs": 20 if quick else preset.epochs, "runs": 10 if quick else preset.eval_runs,
                "individuals_per_lambda": preset.eval_individuals, "energy_weights": [0.1, 0.5, 1.0, 5.0, 10.0],
                "seeds": list(seeds), "quick": quick, "overrides": {}}
    result = {"dataset": preset.dataset, "protocol": protocol, "seeds": per_seed, **experiments.aggregate(per_seed),
              "wall_time_s": 1.0}
    return json.loads(json.dumps(experiments._jsonable(result)))  # as read back from results.json


def _write(root, result):
    d = root / result["dataset"]
    d.mkdir(parents=True, exist_ok=True)
    (d / "results.json").write_text(json.dumps(result))
    return d / "results.json"


def test_stored_results_loader_reads_and_checks(tmp_path):
    _write(tmp_path, _fake_results("circles"))
    _write(tmp_path, _fake_results("moons", seeds=(0,), quick=True))
    assert experiments.stored_datasets(tmp_path) == ("circles", "moons")
    res = experiments.stored_results("circ", root=tmp_path)  # aliases as in presets.get
    assert res["dataset"] == "circles" and res["ip"]["reduction_pct"] == pytest.approx(55.0)
    assert experiments.is_full_protocol(res) and not experiments.is_full_protocol(
        experiments.stored_results("moons", root=tmp_path))
    assert experiments.protocol_summary(res).startswith("full protocol: 2 training seeds, 100 epochs, 100 runs")
    with pytest.raises(FileNotFoundError, match="no stored results for 'overlapping'.*cftkit reproduce"):
        experiments.stored_results("overlapping", root=tmp_path)
    with pytest.raises(ValueError, match="unknown preset"):
        experiments.stored_results("iris", root=tmp_path)


def test_stored_results_loader_names_what_is_wrong(tmp_path):
    good = _fake_results("circles")
    path = _write(tmp_path, good)

    def fails(mutate, match):
        bad = copy.deepcopy(good)
        mutate(bad)
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=match):
            experiments.stored_results("circles", root=tmp_path)

    fails(lambda r: r["ip"].pop("bl_mean"), r"\['ip'\] has no 'bl_mean' entry")
    fails(lambda r: r.pop("validity"), "has no 'validity' entry")
    fails(lambda r: r["protocol"].pop("seeds"), r"\['protocol'\] has no 'seeds' entry")
    fails(lambda r: r["cost"].update(reduction_pct="36 %"), r"\['cost'\]\['reduction_pct'\] must be a number")
    fails(lambda r: r["seeds"][1]["ip_star_5.0"].pop("ct_mean"), r"\['seeds'\]\[1\]\['ip_star_5.0'\] has no 'ct_mean'")
    fails(lambda r: r["seeds"].pop(), "one entry per training seed")
    fails(lambda r: r["ip"]["paper_v3"].pop("significant"), r"\['ip'\]\['paper_v3'\] has no 'significant'")
    fails(lambda r: r.update(dataset="moons"), "holds the results of 'moons', not of 'circles'")
    fails(lambda r: r.update(dataset="iris"), "must name one of the paper's datasets")
    path.write_text("{not json")
    with pytest.raises(ValueError, match="results.json: not valid JSON"):
        experiments.stored_results("circles", root=tmp_path)
    nan_cell = copy.deepcopy(good)
    nan_cell["ip_star_0.5"]["bl_mean"] = None  # NaN is stored as null
    path.write_text(json.dumps(nan_cell))
    assert math.isnan(experiments.stored_results("circles", root=tmp_path)["ip_star_0.5"]["bl_mean"])


def test_shipped_results_load():
    names = experiments.stored_datasets()
    assert set(names) == set(presets.SYNTHETIC + presets.REAL), "a dataset lacks its stored results.json"
    for name in names:
        res = experiments.stored_results(name)
        cmp = experiments.paper_comparison(res)
        assert set(cmp["metrics"]) == set(experiments.PAPER_COLUMNS)
        assert len(res["seeds"]) == (10 if name in presets.SYNTHETIC else 1) or not experiments.is_full_protocol(res)


def test_paper_comparison_and_agreement():
    res = _fake_results("circles", seeds=(0, 1))
    cmp = experiments.paper_comparison(res)
    ip = cmp["metrics"]["ip"]
    assert ip["ours"] == pytest.approx(55.0) and (ip["low"], ip["high"]) == pytest.approx((50.0, 60.0))
    assert ip["paper"] == 58.88 and ip["paper_bl"] == 2.36 and ip["agreement"] == "within ±50 %"
    assert cmp["validity"]["paper"]["bl"] == 0.51 and cmp["validity"]["ours"]["bl"] == pytest.approx(0.55)
    one = experiments.paper_comparison(res, 1)
    assert one["label"] == "seed 1" and one["metrics"]["ip"]["ours"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="seed"):
        experiments.paper_comparison(res, 7)
    assert experiments.agreement(-2.5, -1.93) == "within ±50 %" and experiments.agreement(-3.0, -1.93) == "same sign"
    assert experiments.agreement(float("nan"), 1.0) == "n/a" and experiments.agreement(5.0, -5.0) == "opposite sign"
    text = wres.comparison_text(cmp)
    assert text.splitlines()[0].startswith("circles (mean over 2 seeds; full protocol")
    assert "58.9 %*" in text and "0.51 / 1.00" in text
    overview = wres.overview_text({"circles": res})
    assert "55.0 / 58.9 ✓" in overview


def test_results_explorer_controls_change_the_figure():
    results = {"circles": _fake_results("circles", seeds=(0, 1, 2)),
               "moons": _fake_results("moons", seeds=(0,), shift=0.3)}
    ex = cw.ResultsExplorer(results)
    assert repr(ex) == "<ResultsExplorer>" and ex.dataset.value == "circles" and ex.seed.value == -1
    assert "<table>" in ex.table.value and len(ex.output.outputs) == 1
    before, after = _changes(ex, ex.metric, "cost")
    assert before != after and "cost" in ex.summary.value
    before, after = _changes(ex, ex.seed, 2)
    assert before != after and ex.current["label"] == "seed 2"
    before, after = _changes(ex, ex.dataset, "moons")
    assert before != after and ex.seed.value == -1 and [v for _, v in ex.seed.options] == [-1, 0]
    assert ex.current["dataset"] == "moons"


def test_results_explorer_bad_arguments(tmp_path):
    results = {"circles": _fake_results("circles")}
    with pytest.raises(ValueError, match="dataset"):
        cw.ResultsExplorer(results, dataset="moons")
    with pytest.raises(ValueError, match="metric"):
        cw.ResultsExplorer(results, metric="accuracy")
    with pytest.raises(ValueError, match="seed"):
        cw.ResultsExplorer(results, seed=9)
    with pytest.raises(TypeError, match="results"):
        cw.ResultsExplorer([1, 2])
    broken = _fake_results("circles")
    del broken["ip"]["ct_mean"]
    with pytest.raises(ValueError, match=r"results\['circles'\]: \['ip'\] has no 'ct_mean'"):
        cw.ResultsExplorer({"circles": broken})
    with pytest.raises(FileNotFoundError, match="no stored results"):
        cw.ResultsExplorer(root=tmp_path)


def test_results_explorer_on_the_shipped_results():
    ex = cw.ResultsExplorer()
    assert ex.dataset.options[0] == "linearly_separable"
    ex.dataset.value = "mnist"  # IP* at ℓ = 0.5 is NaN there: still drawn
    assert ex.last_error is None and len(ex.output.outputs) == 1
