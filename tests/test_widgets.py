"""cftkit.widgets: the explorers build without a browser, their controls change what is computed, the
training dashboard redraws on epoch end and the trainer writes its sliders into the model."""

import base64

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import cftkit  # noqa: E402
from cftkit import keras, widgets as cw  # noqa: E402


pytestmark = pytest.mark.usefixtures("close_figures")
RES = 16  # grid resolution of the test figures


@pytest.fixture(scope="module")
def other_linear():
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    m.set_weights([np.array([[0.0, 4.0], [0.0, 1.0]], np.float32), np.array([0.0, -1.0], np.float32)])
    return m


@pytest.fixture(scope="module")
def left_index(moons):
    """A test point left of the linear model's boundary (predicted 0, target 1 reachable by moving right)."""
    return int(np.flatnonzero(moons.x_test[:, 0] < -0.5)[0])


def _png(output):
    assert len(output.outputs) == 1
    item = output.outputs[0]
    assert item["output_type"] == "display_data"
    png = base64.b64decode(item["data"]["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return png


def _paths(fig):
    return [line for ax in fig.axes for line in ax.lines if line.get_gid() == "cftkit-path"]


# ----------------------------------------------------------------------------- pure helpers
def test_show_figure_writes_png_and_closes():
    out = ipywidgets.Output()
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    item = cw.show_figure(out, fig)
    _png(out)
    assert item["data"]["text/plain"].startswith("<Figure size")
    assert not plt.fignum_exists(fig.number)
    cw.show_figure(out, cw.new_figure())
    assert len(out.outputs) == 1  # replaced, not appended


def test_helpers(linear, moons):
    x, y, names, c, _ = cw.dataset_arrays(moons, "test")
    assert x.shape == (900, 2) and names == ("x1", "x2")
    c.check(x)  # the test split lies inside the (expanded) domain
    xt, yt, names2, c2, _ = cw.dataset_arrays((np.zeros((4, 3)), [0, 1, 0, 1]))
    assert names2 == ("x1", "x2", "x3") and c2.n_features == 3
    with pytest.raises(ValueError, match="split"):
        cw.dataset_arrays(moons, "holdout")
    (x0, x1), (y0, y1) = cw.view_limits(c, x)
    assert x0 < c.lower[0] and x1 > c.upper[0] and y0 < c.lower[1]
    assert cw.resolve_target(linear, [-1.0, 0.0]) == 1 and cw.resolve_target(linear, [2.0, 0.0]) == 0
    assert cw.resolve_target(linear, [-1.0, 0.0], 0) == 0
    c3 = cw.constraints_from_controls([0, 0], [1, 2], ["none", "increase"], ["a", "b"])
    assert c3.mutability == ("none", "increase") and c3.upper.tolist() == [1.0, 2.0]
    res = cw.run_search(linear, [-1.0, 0.0], 1, constraints=c, generator="generic", max_steps=30)
    p = cw.path_probabilities(linear, res)
    assert len(p) == int(res.steps[0]) + 1 and p[0] < 0.5 <= p[-1] and np.all(np.diff(p) > 0)


# ----------------------------------------------------------------------------- SearchExplorer
def test_search_explorer_controls_drive_the_search(linear, moons, left_index):
    ex = cw.SearchExplorer(linear, moons, index=left_index, resolution=RES, threshold=0.5)
    assert isinstance(ex, ipywidgets.VBox) and repr(ex) == "<SearchExplorer>"
    res = ex.current_result
    assert res.path is not None and int(res.target[0]) == 1 and bool(res.mature[0])
    _png(ex.output)
    assert "mature" in ex.summary.value and ex.step.value == ex.step.max == int(res.steps[0])

    ex.threshold.value = 0.99  # unreachable inside the domain: every step is used, never mature
    ex.max_steps.value = 3
    assert int(ex.current_result.steps[0]) == 3 and not ex.current_result.mature[0]
    ex.max_steps.value = 7
    assert int(ex.current_result.steps[0]) == 7 and ex.play.max == 7
    ex.max_steps.value = 50
    ex.threshold.value = 0.5  # threshold changes maturity
    assert bool(ex.current_result.mature[0]) and int(ex.current_result.steps[0]) < 50

    generic_before = ex.current_result.counterfactual.copy()
    ex.generator.value = "generic"
    assert not np.allclose(ex.current_result.counterfactual, generic_before)

    n = ex.n_draws
    ex.step.value = 1  # playback: only a redraw, path revealed up to step 1
    assert ex.n_draws == n + 1
    assert [len(line.get_xdata()) for line in _paths(ex.draw())] == [2]
    assert "step 1:" in ex.summary.value

    ex.target.value = 0  # the factual's own predicted class: already valid, not searched
    assert bool(ex.current_result.already_valid[0]) and int(ex.current_result.steps[0]) == 0
    assert ex.last_error is None


def test_errors_from_controls_are_shown(linear, moons, monkeypatch):
    ex = cw.SearchExplorer(linear, moons, resolution=RES)

    def broken():
        raise RuntimeError("search failed <here>")

    monkeypatch.setattr(ex, "compute", broken)
    ex.max_steps.value = 5  # an observer: the error goes to the summary, not into the kernel log
    assert isinstance(ex.last_error, RuntimeError)
    assert "RuntimeError: search failed &lt;here&gt;" in ex.summary.value
    with pytest.raises(RuntimeError):
        ex.update()  # direct calls still raise



@pytest.mark.parametrize("view", ["SearchExplorer", "SideBySide", "ActionabilityExplorer"])
def test_bad_start_values_are_errors_not_clipped_sliders(linear, moons, view):
    make = getattr(cw, view)
    n = len(moons.x_test)
    for kwargs, exc, match in [
            (dict(index=n), ValueError, rf"index must be a point of the split, in \[0, {n - 1}\]; got {n}"),
            (dict(index=-1), ValueError, r"index must be an integer >= 0"),
            (dict(target=2), ValueError, r"target must be -1 .* or a class index in \[0, 1\]; got 2"),
            (dict(threshold=1.5), ValueError, r"threshold must be in the open interval \(0, 1\)"),
            (dict(max_steps=-3), ValueError, r"max_steps must be an integer >= 0"),
            (dict(learning_rate=-0.1), ValueError, r"learning_rate must be a finite number >= 0")]:
        with pytest.raises(exc, match=match):
            make(linear, moons, resolution=RES, **kwargs)
    with pytest.raises(ValueError, match=r"model takes inputs with 3 features, but the factuals have 2"):
        make(cftkit.build_classifier(3, 2), moons, resolution=RES)
    # values outside a slider's default range are kept, not clipped
    w = make(linear, moons, resolution=RES, threshold=0.01, max_steps=300)
    assert w.threshold.value == pytest.approx(0.01) and w.max_steps.value == 300
    if view != "ActionabilityExplorer":
        w = make(linear, moons, resolution=RES, learning_rate=2.5, cost_weight=3.0)
        assert w.learning_rate.value == 2.5 and w.cost_weight.value == 3.0

def test_search_explorer_free_point_and_energy(linear, moons, left_index):
    ex = cw.SearchExplorer(linear, moons, index=left_index, resolution=RES)
    assert ex.x1.disabled and not ex.index.disabled
    ex.point_mode.value = "xy"
    assert ex.index.disabled and not ex.x1.disabled
    ex.x1.value = -0.25
    ex.x2.value = 0.75
    np.testing.assert_allclose(ex.current_result.factual[0], [-0.25, 0.75], atol=1e-6)
    ex.index.value = left_index + 1  # moves the free point too, without searching twice
    np.testing.assert_allclose([ex.x1.value, ex.x2.value], moons.x_test[left_index + 1], atol=1e-6)
    ex.background.value = "energy"
    fig = ex.draw()
    assert len(fig.axes) == 2 and fig.axes[0].get_title().startswith("eccco: step")  # plot + colorbar
    assert ex.last_error is None
    with pytest.raises(ValueError, match="D = 2"):
        cw.SearchExplorer(linear, (np.zeros((4, 3), np.float32), [0, 1, 0, 1]))


# ----------------------------------------------------------------------------- SideBySide
def test_side_by_side_models_and_generators(linear, other_linear, moons, left_index):
    sbs = cw.SideBySide({"BL": linear, "CT": other_linear}, moons, index=left_index, resolution=RES)
    assert set(sbs.current_results) == {"BL", "CT"}
    for r in sbs.current_results.values():  # same factual and target in every panel
        np.testing.assert_allclose(r.factual, moons.x_test[left_index:left_index + 1])
        assert int(r.target[0]) == 1
    fig = sbs.draw()
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["BL", "CT"] and len(_paths(fig)) == 2
    _png(sbs.output)
    before = {k: int(r.steps[0]) for k, r in sbs.current_results.items()}
    sbs.threshold.value = 0.99
    sbs.max_steps.value = 4
    assert {k: int(r.steps[0]) for k, r in sbs.current_results.items()} == {"BL": 4, "CT": 4} != before

    gens = cw.SideBySide(linear, moons, generators=("generic", "eccco"), index=left_index, resolution=RES)
    assert list(gens.current_results) == ["generic", "eccco"] and gens.generator.disabled
    a, b = gens.current_results.values()
    assert not np.allclose(a.counterfactual, b.counterfactual)
    assert sbs.last_error is None and gens.last_error is None


# ----------------------------------------------------------------------------- ActionabilityExplorer
def test_actionability_explorer_constraints_hold(linear, moons, left_index):
    ae = cw.ActionabilityExplorer(linear, moons, index=left_index, resolution=RES)
    x0 = ae.current_result.factual[0].copy()
    assert ae.current_result.counterfactual[0, 0] > x0[0]  # the target lies to the right
    _png(ae.output)

    ae.mutability[0].value = "none"
    assert ae.current_constraints.mutability == ("none", "both")
    assert ae.current_result.counterfactual[0, 0] == pytest.approx(x0[0])
    assert not ae.current_result.mature[0]  # this model only responds to feature 0

    ae.mutability[0].value = "decrease"
    assert ae.current_result.counterfactual[0, 0] <= x0[0] + 1e-6

    ae.mutability[0].value = "both"
    lo, hi = ae.domain[0].value
    ae.domain[0].value = (lo, 0.0)  # the boundary (x1 = 0.5) is now outside the domain
    cf = ae.current_result.counterfactual[0]
    assert cf[0] <= 0.0 + 1e-6 and not ae.current_result.mature[0]
    labels = [p.get_label() for p in ae.draw().axes[0].patches]
    assert "domain" in labels and "reachable" in labels

    ae.x1.value = 0.3  # outside the narrowed domain: clipped, and said so
    assert ae.current_result.factual[0, 0] == pytest.approx(0.0)
    assert "clipped" in ae.summary.value and ae.last_error is None


# ----------------------------------------------------------------------------- training
def test_live_plot_callback_redraws_every_k_epochs(linear, moons):
    cb = cw.LivePlotCallback(every=2, x=moons.x_train, y=moons.y_train, resolution=RES, max_points=100)
    cb.set_model(linear)
    assert cb.x.shape == (100, 2) and cb.output.outputs == ()
    cb.on_epoch_end(0, {"loss": 1.0, "ct_maturity": 0.2})
    assert cb.n_draws == 0 and cb.output.outputs == ()  # throttled
    cb.on_epoch_end(1, {"loss": 0.5, "ct_maturity": 0.4, "val_loss": np.float32(0.6)})
    assert cb.n_draws == 1
    _png(cb.output)
    cb.on_epoch_end(2, {"loss": 0.4, "ct_maturity": 0.5})
    cb.on_train_end()
    assert cb.n_draws == 2  # the last (odd) epoch is drawn at the end of training
    h = cb.history
    assert h["loss"] == [1.0, 0.5, 0.4] and np.isnan(h["val_loss"][0]) and h["val_loss"][1] == pytest.approx(0.6)
    fig = cb.draw()
    assert len(fig.axes) == 4 and fig.axes[-1].get_title() == "decision boundary"
    cb.reset()
    assert cb.epoch_logs == [] and cb.output.outputs == ()
    with pytest.raises(ValueError, match="every"):
        cw.LivePlotCallback(every=0)


def test_ct_trainer_sliders_and_train_click(moons):
    clf = cftkit.build_classifier(2, 2, hidden=(8,), seed=0)
    model = cftkit.CounterfactualModel(clf, n_ce=20, max_steps=3, threshold=0.6, lambda_div=0.5)
    model.compile(metrics=["accuracy"], run_eagerly=True)  # eager: no train_step tracing in this quick test
    trainer = cw.CTTrainer(model, moons, n_train=40, batch_size=20, epochs=1, resolution=RES)
    assert isinstance(trainer, ipywidgets.VBox) and trainer.lambda_div.value == pytest.approx(0.5)

    trainer.lambda_div.value = 0.2
    trainer.lambda_reg.value = 0.05
    trainer.lambda_adv.value = 0.0
    hp = model.hyperparameters
    assert (hp["lambda_div"], hp["lambda_reg"], hp["lambda_adv"]) == pytest.approx((0.2, 0.05, 0.0))
    trainer.objective.value = "energy"
    assert model.objective == "energy"

    trainer._on_train_clicked(trainer.train_button)
    assert trainer.last_error is None, trainer.last_error
    assert len(trainer.last_history.history["loss"]) == 1
    assert {"ct_div", "ct_maturity", "ct_search_steps"} <= set(trainer.last_history.history)
    cb = trainer.dashboard.callback
    assert len(cb.epoch_logs) == 1 and cb.n_draws == 1
    _png(trainer.dashboard.output)
    assert "energy: trained 1 epoch" in trainer.status.value and not trainer.train_button.disabled

    model.n_ce = 10**6  # an error during fit is shown, not raised out of the click handler
    trainer._on_train_clicked(None)
    assert trainer.last_error is not None and "Error" in trainer.status.value
    with pytest.raises(TypeError, match="CounterfactualModel"):
        cw.CTTrainer(clf, moons)
