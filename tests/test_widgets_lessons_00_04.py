"""The widgets of lessons 00–04 (SideBySide with a point picker, SearchExplorer, ActionabilityExplorer,
EnergyExplorer, NascentExplorer): they build headless, every control changes the drawn figure, bad
arguments are clear errors, legends stay off the data, and the pure helpers behind them
(:mod:`cftkit.energy`, :func:`cftkit.widgets.nascent_step`, long search paths) compute what they claim.
The lessons themselves: a widget in each, and no later cell drives a widget the student sees."""

import ast
import json
import pathlib

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import cftkit  # noqa: E402
from cftkit import energy, keras, plots, widgets as cw  # noqa: E402

pytestmark = pytest.mark.usefixtures("close_figures")
RES = 16  # grid resolution of the test figures
ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSONS = [p for p in sorted((ROOT / "notebooks" / "src").glob("0[0-4]_*.py"))]


@pytest.fixture(scope="module")
def other_linear():
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    m.set_weights([np.array([[0.0, 4.0], [0.0, 1.0]], np.float32), np.array([0.0, -1.0], np.float32)])
    return m


@pytest.fixture(scope="module")
def mlp():
    return cftkit.build_classifier(2, 2, hidden=(8,), seed=3)


@pytest.fixture(scope="module")
def left_index(moons):
    """A test point left of the linear model's boundary (predicted 0, target 1 reachable by moving right)."""
    return int(np.flatnonzero(moons.x_test[:, 0] < -0.5)[0])


def _png(w):
    return cw.figure_png(w.draw())


def _caption_inside(fig):
    """The settings caption is drawn, and inside the figure (a long one wraps instead of running off)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    text = fig._suptitle
    assert text is not None and text.get_text()
    box, page = text.get_window_extent(canvas.get_renderer()), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, (text.get_text(), box, page)


def _assert_each_control_changes_the_figure(w, changes):
    """Set each control in turn (``[(control, new value)]``) and check the PNG changed each time."""
    before = _png(w)
    for ctrl, value in changes:
        old = ctrl.value
        assert value != old, f"{ctrl.description}: the new value equals the old one"
        ctrl.value = value
        assert w.last_error is None, f"{ctrl.description} -> {value!r}: {w.last_error!r}"
        _caption_inside(w.draw())
        after = _png(w)
        assert after != before, f"changing {ctrl.description!r} ({old!r} -> {value!r}) left the figure as it was"
        before = after


def _boxes(widget):
    """Every widget under ``widget`` (the displayed tree)."""
    out = [widget]
    for child in getattr(widget, "children", ()):
        out += _boxes(child)
    return out


def _legends_off_the_data(fig):
    """No legend's drawn box overlaps an axes that shows data (colour bars excluded)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends, "no legend drawn"
    data_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    for leg in legends:
        box = leg.get_window_extent(renderer)
        for ax in data_axes:
            if leg.axes is ax or leg in fig.legends:
                assert not box.overlaps(ax.get_window_extent(renderer)), \
                    f"a legend ({[t.get_text() for t in leg.get_texts()][:3]}…) covers the axes {ax.get_title()!r}"


# ----------------------------------------------------------------------------- cftkit.energy
def test_energy_terms_match_numpy(mlp):
    rng = np.random.default_rng(0)
    x_cf, x_plus = rng.normal(size=(5, 2)).astype("float32"), rng.normal(size=(5, 2)).astype("float32")
    target = np.array([0, 1, 1, 0, 1])
    terms = energy.energy_terms(mlp, x_cf, x_plus, target)
    rows = np.arange(5)
    e_cf = -np.asarray(mlp(x_cf))[rows, target]
    e_plus = -np.asarray(mlp(x_plus))[rows, target]
    np.testing.assert_allclose(terms.e_cf, e_cf, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(terms.e_plus, e_plus, rtol=1e-5, atol=1e-6)
    assert terms.div == pytest.approx(np.mean(e_plus - e_cf), rel=1e-5, abs=1e-6)
    assert terms.ridge == pytest.approx(np.mean(e_plus ** 2 + e_cf ** 2), rel=1e-5)
    w = terms.weighted(0.5, 2.0)
    assert w["div"] == pytest.approx(0.5 * terms.div) and w["ridge"] == pytest.approx(2.0 * terms.ridge)
    assert w["total"] == pytest.approx(w["div"] + w["ridge"])
    one = energy.energy_terms(mlp, x_cf[1], x_plus[1], 1)  # one tuple: (D,) points and an int target
    assert one.div == pytest.approx(float(e_plus[1] - e_cf[1]), rel=1e-5, abs=1e-6)
    # the package's training function agrees (weight 1 per tuple, mean over 5)
    div, reg = cftkit.training.contrastive_divergence_and_ridge(terms.e_plus.astype("float32"),
                                                                terms.e_cf.astype("float32"), 1.0, 5.0)
    assert float(div) == pytest.approx(terms.div, rel=1e-5, abs=1e-6)
    assert float(reg) == pytest.approx(terms.ridge, rel=1e-5)


def test_energy_terms_errors(mlp):
    with pytest.raises(ValueError, match=r"x_plus must have one row per counterfactual \(2\); got 1"):
        energy.energy_terms(mlp, np.zeros((2, 2)), np.zeros((1, 2)), 0)
    with pytest.raises(ValueError, match=r"x_plus must have 2 features"):
        energy.energy_terms(mlp, np.zeros((1, 2)), np.zeros((1, 3)), 0)
    with pytest.raises(ValueError, match=r"target must be class indices in \[0, 1\]"):
        energy.energy_terms(mlp, [0.0, 0.0], [1.0, 1.0], 2)
    with pytest.raises(ValueError, match="x_cf contains NaN"):
        energy.energy_terms(mlp, [np.nan, 0.0], [1.0, 1.0], 0)
    with pytest.raises(ValueError, match="lambda_div must be a finite number >= 0"):
        energy.EnergyTerms(np.zeros(1), np.zeros(1)).weighted(-1.0, 0.0)
    for kwargs, match in [(dict(steps=-1), "steps must be an integer >= 0"),
                          (dict(learning_rate=-0.1), "learning_rate must be a finite number >= 0"),
                          (dict(lambda_reg=float("nan")), "lambda_reg must be a finite number >= 0")]:
        args = dict(lambda_div=1.0, lambda_reg=0.5, learning_rate=0.1, steps=2) | kwargs
        with pytest.raises((ValueError, TypeError), match=match):
            energy.descend_div_ridge(mlp, [0.0, 0.0], [1.0, 1.0], 1, **args)
    with pytest.raises(TypeError, match="keras.Model"):
        energy.trainable_copy(lambda x: x)


def test_one_gradient_step_by_hand(linear):
    """Linear logits f(x)[1] = w·x + b: E(x) = −(w·x + b); the gradient of λ_div·div + λ_reg·ridge
    with respect to (w, b) in closed form."""
    x_cf, x_plus = np.array([-1.0, 0.5], np.float32), np.array([1.5, -0.5], np.float32)
    ld, lr_, eta = 0.7, 0.3, 0.05
    kernel, bias = (np.asarray(v, np.float64) for v in linear.get_weights())
    e_cf = -(kernel[:, 1] @ x_cf + bias[1])
    e_plus = -(kernel[:, 1] @ x_plus + bias[1])
    grad_w = ld * (-(x_plus - x_cf)) + lr_ * (2 * e_plus * -x_plus + 2 * e_cf * -x_cf)
    grad_b = lr_ * (2 * e_plus * -1 + 2 * e_cf * -1)
    copy, history = energy.descend_div_ridge(linear, x_cf, x_plus, 1, lambda_div=ld, lambda_reg=lr_,
                                             learning_rate=eta, steps=1)
    new_kernel, new_bias = copy.get_weights()
    np.testing.assert_allclose(new_kernel[:, 1], kernel[:, 1] - eta * grad_w, rtol=1e-5, atol=1e-6)
    assert new_bias[1] == pytest.approx(bias[1] - eta * grad_b, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(new_kernel[:, 0], kernel[:, 0])  # the other class's logit has no gradient
    assert len(history) == 2 and history[0].e_cf[0] == pytest.approx(e_cf, rel=1e-5)
    after = energy.energy_terms(copy, x_cf, x_plus, 1)
    assert history[1].div == pytest.approx(after.div, rel=1e-5) and history[1].ridge == pytest.approx(after.ridge)
    # the model itself is untouched
    np.testing.assert_array_equal(linear.get_weights()[0], kernel.astype(np.float32))


def test_descend_div_ridge_does_what_the_terms_say(linear, mlp):
    x_cf, x_plus = [-1.0, 0.5], [1.5, -0.5]
    _, div_only = energy.descend_div_ridge(linear, x_cf, x_plus, 1, lambda_div=1.0, lambda_reg=0.0,
                                           learning_rate=0.05, steps=10)
    divs = [h.div for h in div_only]
    assert len(div_only) == 11 and np.all(np.diff(divs) < 0)  # div alone: lowered without bound
    assert div_only[-1].e_plus[0] < div_only[0].e_plus[0] and div_only[-1].e_cf[0] > div_only[0].e_cf[0]
    copy, ridge_only = energy.descend_div_ridge(mlp, x_cf, x_plus, 1, lambda_div=0.0, lambda_reg=1.0,
                                                learning_rate=0.05, steps=10)
    assert ridge_only[-1].ridge < ridge_only[0].ridge  # the ridge pulls the energies towards 0
    # a copy is reused (weights reset first): same history again, the model unchanged
    again, history2 = energy.descend_div_ridge(mlp, x_cf, x_plus, 1, lambda_div=0.0, lambda_reg=1.0,
                                               learning_rate=0.05, steps=10, copy=copy)
    assert again is copy and history2[-1].ridge == pytest.approx(ridge_only[-1].ridge, rel=1e-6)
    # η far too large: the descent stops before the step that overflows, with finite weights
    big, hist = energy.descend_div_ridge(linear, [9.0, 0.0], x_plus, 1, lambda_div=1.0, lambda_reg=2.0,
                                         learning_rate=0.2, steps=80)
    assert 1 < len(hist) < 81 and all(np.isfinite(h.ridge) for h in hist)
    assert all(np.all(np.isfinite(w)) for w in big.get_weights())
    none, zero = energy.descend_div_ridge(mlp, x_cf, x_plus, 1, lambda_div=1.0, lambda_reg=1.0, learning_rate=0.1,
                                          steps=0)
    assert len(zero) == 1
    for a, b in zip(none.get_weights(), mlp.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_trainable_copy_of_a_counterfactual_model(mlp):
    model = cftkit.CounterfactualModel(mlp, n_ce=4)
    copy = energy.trainable_copy(model)
    assert copy is not mlp and copy.trainable
    for a, b in zip(copy.get_weights(), mlp.get_weights()):
        np.testing.assert_array_equal(a, b)
    terms = energy.energy_terms(model, [0.0, 0.0], [1.0, 1.0], 1)
    assert terms.div == pytest.approx(energy.energy_terms(mlp, [0.0, 0.0], [1.0, 1.0], 1).div)


# ----------------------------------------------------------------------------- EnergyExplorer
def test_energy_explorer_controls(linear, other_linear, moons):
    ee = cw.EnergyExplorer({"BL": linear, "CT": other_linear}, moons, target=1, x_cf=[-1.0, 0.0],
                           x_plus=[1.0, 0.5], steps=3, resolution=RES, max_points=60)
    assert isinstance(ee, ipywidgets.VBox) and repr(ee) == "<EnergyExplorer>"
    assert ee.output.outputs and "div = E(x⁺) − E(x′)" in ee.summary.value
    t = ee.current_terms
    expected = energy.energy_terms(linear, [-1.0, 0.0], [1.0, 0.5], 1)
    assert t.div == pytest.approx(expected.div, rel=1e-5) and len(ee.current_history) == 4
    assert ee.current_history[0].div == pytest.approx(t.div, rel=1e-6)
    fig = ee.draw()
    assert len(fig.axes) == 5  # before, after, energies, terms, colour bar
    assert ee.model in _boxes(ee)
    _assert_each_control_changes_the_figure(ee, [
        (ee.model, "CT"), (ee.target, 0), (ee.cf_x1, -0.5), (ee.cf_x2, 0.25), (ee.plus_x1, 1.5), (ee.plus_x2, -0.25),
        (ee.lambda_div, 1.0), (ee.lambda_reg, 0.0), (ee.steps, 0), (ee.learning_rate, 0.1)])
    assert len(ee.current_history) == 1 and ee.n_draws >= 11
    ee.steps.value = 5  # λ_reg = 0: div only, the energies of x⁺ and x′ move apart
    divs = [h.div for h in ee.current_history]
    assert len(divs) == 6 and np.all(np.diff(divs) < 0)
    single = cw.EnergyExplorer(linear, moons, resolution=RES, max_points=60)
    assert single.model not in _boxes(single)  # one model: no dropdown that could change nothing
    assert single.last_error is None and ee.last_error is None


def test_energy_explorer_bad_arguments(linear, moons):
    for kwargs, match in [(dict(target=2), r"target must be a class index in \[0, 1\]; got 2"),
                          (dict(target=-1), r"target must be a class index"),
                          (dict(lambda_div=-1.0), "lambda_div must be a finite number >= 0"),
                          (dict(lambda_reg=float("inf")), "lambda_reg must be a finite number >= 0"),
                          (dict(learning_rate=-0.5), "learning_rate must be a finite number >= 0"),
                          (dict(steps=-2), "steps must be an integer >= 0"),
                          (dict(x_cf=[1.0, 2.0, 3.0]), r"x_cf must be one finite 2-D point"),
                          (dict(x_plus=[np.nan, 0.0]), r"x_plus must be one finite 2-D point")]:
        with pytest.raises((ValueError, TypeError), match=match):
            cw.EnergyExplorer(linear, moons, resolution=RES, **kwargs)
    with pytest.raises(ValueError, match="non-empty"):
        cw.EnergyExplorer({}, moons)
    with pytest.raises(ValueError, match="D = 2"):
        cw.EnergyExplorer(linear, (np.zeros((4, 3), np.float32), [0, 1, 0, 1]))
    # start values beyond the slider defaults are kept, not clipped
    ee = cw.EnergyExplorer(linear, moons, resolution=RES, max_points=40, steps=80, lambda_div=3.0, x_cf=[9.0, 0.0],
                           lambda_reg=2.0, learning_rate=0.2)
    assert ee.steps.value == 80 and ee.lambda_div.value == 3.0 and ee.cf_x1.value == 9.0
    assert ee.last_error is None and len(ee.current_history) < 81  # it overflowed: stopped, and said so
    assert "stopped after" in ee.summary.value and "stopped after" in ee.draw().get_suptitle()


def test_energy_explorer_errors_go_to_the_summary(linear, moons, monkeypatch):
    ee = cw.EnergyExplorer(linear, moons, resolution=RES, max_points=40)

    def broken():
        raise RuntimeError("no <energy>")

    monkeypatch.setattr(ee, "compute", broken)
    ee.lambda_div.value = 1.0
    assert isinstance(ee.last_error, RuntimeError) and "no &lt;energy&gt;" in ee.summary.value


# ----------------------------------------------------------------------------- nascent counterfactuals
@pytest.mark.parametrize("eta", [0.02, 0.3])
def test_nascent_step_is_the_search_nascent(mlp, moons, eta):
    x = moons.x_test[:12]
    targets = 1 - np.argmax(np.asarray(mlp(x)), axis=1)
    for eps in (0.0, 0.05, 0.2, 10.0):
        res = cftkit.search(mlp, x, targets, generator="generic", learning_rate=eta, threshold=0.9, max_steps=30,
                            nascent_epsilon=eps, return_path=True)
        for i in range(len(x)):
            k = cw.nascent_step(res, eps, i)
            pts = plots.path_points(res, i)
            np.testing.assert_array_equal(pts[k], res.nascent[i])
            d = cw.linf_distances(res, i)
            assert len(d) == int(res.steps[i]) + 1 and d[0] == 0.0
            np.testing.assert_allclose(d, np.max(np.abs(pts - pts[0]), axis=1))
            assert k == 0 or d[k] <= np.float32(eps)
            if eps == 0.0:
                assert k == 0
            if eps == 10.0:
                assert k == int(res.steps[i])  # the whole path lies in the ball
    with pytest.raises(ValueError, match="epsilon must be a finite number >= 0"):
        cw.nascent_step(res, -0.1)


def test_nascent_explorer_controls(linear, other_linear, moons, left_index):
    ne = cw.NascentExplorer({"BL": linear, "CT": other_linear}, moons, index=left_index, epsilon=0.3,
                            learning_rate=0.05, threshold=0.9, resolution=RES, max_points=60)
    assert repr(ne) == "<NascentExplorer>" and ne.output.outputs
    res = ne.current_result
    np.testing.assert_array_equal(plots.path_points(res)[ne.current_nascent_step], res.nascent[0])
    assert ne.current_nascent_step >= 1 and "x_AE = step" in ne.summary.value
    assert "the model still predicts the true label" in ne.summary.value
    fig = ne.draw()
    assert len(fig.axes) == 3 and any(p.get_label().startswith("ε-ball") for p in fig.axes[0].patches)
    _assert_each_control_changes_the_figure(ne, [
        (ne.epsilon, 0.1), (ne.max_steps, 3), (ne.learning_rate, 0.1), (ne.index, left_index + 1),
        (ne.point_mode, "xy"), (ne.x1, -0.3), (ne.x2, 0.4), (ne.model, "CT")])
    assert int(ne.current_result.steps[0]) <= 3
    ne.epsilon.value = 0.0  # no ball: the nascent counterfactual is the factual itself
    assert ne.current_nascent_step == 0 and "leaves the ε-ball" in ne.summary.value
    assert ne.last_error is None


def test_nascent_explorer_bad_arguments(linear, moons):
    n = len(moons.x_test)
    for kwargs, match in [(dict(epsilon=-0.1), "epsilon must be a finite number >= 0"),
                          (dict(threshold=1.5), r"threshold must be in the open interval \(0, 1\)"),
                          (dict(max_steps=-1), "max_steps must be an integer >= 0"),
                          (dict(learning_rate=-0.1), "learning_rate must be a finite number >= 0"),
                          (dict(index=n), rf"index must be a point of the split, in \[0, {n - 1}\]"),
                          (dict(point=(0.0, 99.0)), "point must lie in the domain"),
                          (dict(point=(0.0,)), r"point must be one finite 2-D point")]:
        with pytest.raises((ValueError, TypeError), match=match):
            cw.NascentExplorer(linear, moons, resolution=RES, **kwargs)
    ne = cw.NascentExplorer(linear, moons, resolution=RES, max_points=40, point=(0.0, 0.25))
    assert ne.point_mode.value == "xy" and not ne.x1.disabled and ne.index.disabled
    np.testing.assert_allclose(ne.current_result.factual[0], [0.0, 0.25], atol=1e-6)
    assert ne.model not in _boxes(ne)


# ----------------------------------------------------------------------------- SideBySide (lesson 00)
def test_side_by_side_point_picker_and_every_control(linear, other_linear, moons, left_index):
    sbs = cw.SideBySide({"BL": linear, "CT": other_linear}, moons, index=left_index, resolution=RES, max_points=60,
                        threshold=0.6)
    assert sbs.generator in _boxes(sbs)  # no fixed generators: the dropdown changes every panel
    _assert_each_control_changes_the_figure(sbs, [
        (sbs.index, left_index + 1), (sbs.point_mode, "xy"), (sbs.x1, -0.75), (sbs.x2, 0.5), (sbs.target, 1),
        (sbs.generator, "generic"), (sbs.learning_rate, 0.2), (sbs.max_steps, 10), (sbs.threshold, 0.7),
        (sbs.cost_weight, 0.01), (sbs.energy_weight, 2.0)])
    for r in sbs.current_results.values():  # the free point is searched in both panels
        np.testing.assert_allclose(r.factual[0], [-0.75, 0.5], atol=1e-6)
    fig = sbs.draw()
    assert fig.legends and not any(ax.get_legend() for ax in fig.axes)  # one legend, under the panels
    _legends_off_the_data(fig)
    assert "τ = 0.700" in fig.get_suptitle() and "free" in fig.get_suptitle()
    start = cw.SideBySide(linear, moons, point=(-0.5, 0.25), resolution=RES, max_points=60)
    np.testing.assert_allclose(start.current_results["model"].factual[0], [-0.5, 0.25], atol=1e-6)
    assert sbs.last_error is None and start.last_error is None


def test_side_by_side_hides_a_generator_dropdown_that_does_nothing(linear, moons, left_index):
    gens = cw.SideBySide(linear, moons, generators=("generic", "eccco"), index=left_index, resolution=RES,
                         max_points=60)
    assert gens.generator not in _boxes(gens) and gens.generator.disabled
    assert [ax.get_title().split(":")[0] for ax in gens.draw().axes] == ["generic", "eccco"]  # the panels say it
    with pytest.raises(ValueError, match="generators must be among"):
        cw.SideBySide(linear, moons, generators=("generic", "revise"), resolution=RES)


# ----------------------------------------------------------------------------- SearchExplorer, ActionabilityExplorer
def test_search_explorer_every_control_and_start_options(linear, moons, left_index):
    ex = cw.SearchExplorer(linear, moons, index=left_index, resolution=RES, max_points=60, threshold=0.6,
                           learning_rate=0.05)
    _assert_each_control_changes_the_figure(ex, [
        (ex.index, left_index + 1), (ex.point_mode, "xy"), (ex.x1, -0.75), (ex.x2, 0.5), (ex.target, 1),
        (ex.generator, "generic"), (ex.learning_rate, 0.1), (ex.max_steps, 12), (ex.threshold, 0.7),
        (ex.cost_weight, 0.01), (ex.energy_weight, 2.0), (ex.background, "energy"), (ex.step, 1)])
    _legends_off_the_data(ex.draw())
    start = cw.SearchExplorer(linear, moons, point=(0.0, 0.0), background="energy", max_steps=2, resolution=RES)
    assert start.point_mode.value == "xy" and start.background.value == "energy"
    assert int(start.current_result.steps[0]) <= 2 and len(start.draw().axes) == 2  # plot + colour bar
    with pytest.raises(ValueError, match="background must be one of"):
        cw.SearchExplorer(linear, moons, background="heat", resolution=RES)
    with pytest.raises(ValueError, match="generator must be one of"):
        cw.SearchExplorer(linear, moons, generator="revise", resolution=RES)


def test_actionability_explorer_every_control(linear, moons, left_index):
    ae = cw.ActionabilityExplorer(linear, moons, index=left_index, resolution=RES, max_points=60)
    lo, hi = ae.domain[0].value
    lo2, hi2 = ae.domain[1].value
    _assert_each_control_changes_the_figure(ae, [
        (ae.mutability[0], "increase"), (ae.mutability[1], "none"), (ae.domain[0], (lo, 0.25)),
        (ae.domain[1], (lo2 + 0.25, hi2)), (ae.x1, 0.1), (ae.x2, -0.1), (ae.target, 1), (ae.generator, "generic"),
        (ae.max_steps, 7), (ae.threshold, 0.9)])
    ae.x1.value = 2.0  # beyond the narrowed domain: clipped onto it, but the picked value still shows
    clipped = _png(ae)
    ae.x1.value = 2.1
    assert _png(ae) != clipped and "clipped" in ae.summary.value
    _legends_off_the_data(ae.draw())


def test_controls_wrap_instead_of_squeezing(linear, other_linear, moons):
    """The control columns sit in a wrapping row and keep their width (no readout cut off in a narrow
    notebook); the sliders' readouts have a fixed format."""
    views = [cw.SearchExplorer(linear, moons, resolution=RES, max_points=40),
             cw.SideBySide({"a": linear, "b": other_linear}, moons, resolution=RES, max_points=40),
             cw.ActionabilityExplorer(linear, moons, resolution=RES, max_points=40),
             cw.EnergyExplorer(linear, moons, resolution=RES, max_points=40),
             cw.NascentExplorer(linear, moons, resolution=RES, max_points=40)]
    for v in views:
        row = v.children[0]
        assert isinstance(row, ipywidgets.HBox) and row.layout.flex_flow == "row wrap", type(v).__name__
        assert all(col.layout.flex == "0 0 auto" for col in row.children)
        for w in _boxes(row):
            if isinstance(w, (ipywidgets.FloatSlider, ipywidgets.FloatRangeSlider)):
                assert w.readout_format in (".2f", ".3f"), (type(v).__name__, w.description)


def test_caption_lines_wrap_whole_parts():
    parts = ["factual: point #3", "", "y⁺ auto", "eccco", "η = 0.10", "T = 50"]
    one_line = "factual: point #3  ·  y⁺ auto  ·  eccco  ·  η = 0.10  ·  T = 50"
    assert cw._base.caption_lines(parts, 200) == [one_line]
    lines = cw._base.caption_lines(parts, 30)
    assert lines == ["factual: point #3  ·  y⁺ auto", "eccco  ·  η = 0.10  ·  T = 50"]
    assert cw._base.caption_lines(["a very long part that does not fit"], 5) == ["a very long part that does not fit"]


# ----------------------------------------------------------------------------- plots: long paths, legends
def test_long_paths_are_drawn_faint(linear):
    x = np.array([[-2.0, 0.0], [-0.2, 0.0]], np.float32)
    res = cftkit.search(linear, x, [1, 1], generator="generic", learning_rate=0.01, max_steps=40, threshold=0.99,
                        return_path=True)
    steps = res.steps.tolist()
    assert steps[0] == 40  # cut at T: a long path
    fig, ax = plt.subplots()
    plots.counterfactual_paths(res, ax=ax, long_path=15, legend=True)
    lines = [line for line in ax.lines if line.get_gid() == "cftkit-path"]
    assert [len(line.get_xdata()) for line in lines] == [s + 1 for s in steps]  # every state is still drawn
    for line, s in zip(lines, steps):
        faint = s > 15
        assert (line.get_alpha() < 0.5) == faint and (line.get_marker() in (None, "None", "")) == faint
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "search path (> 15 steps)" in labels
    ax2 = plots.counterfactual_paths(res, ax=plt.subplots()[1], long_path=None, legend=False)
    assert all(line.get_alpha() == 0.75 for line in ax2.lines if line.get_gid() == "cftkit-path")
    with pytest.raises(ValueError, match="long_path must be None or an integer >= 0"):
        plots.counterfactual_paths(res, long_path=-1)


@pytest.mark.parametrize("where", ["outside", "below"])
def test_legends_outside_the_axes(linear, where):
    x = np.array([[-1.0, 0.0]], np.float32)
    res = cftkit.search(linear, x, [1], generator="generic", max_steps=10, return_path=True)
    fig = cw.new_figure((5, 4))
    ax = fig.add_subplot()
    plots.decision_boundary(linear, x, [0], ax=ax, resolution=RES, legend=False)
    plots.counterfactual_paths(res, ax=ax, legend=where)
    _legends_off_the_data(fig)
    with pytest.raises(ValueError, match="legend must be True, False, 'outside' or 'below'"):
        plots.place_legend(ax, "inside")


# ----------------------------------------------------------------------------- the lessons
def _widget_names(tree) -> dict:
    """``{name: class}`` for every ``name = widgets.Class(...)`` in a lesson."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            f = node.value.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "widgets" \
                    and f.attr[0].isupper() and f.attr != "LivePlotCallback":
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        out[t.id] = f.attr
    return out


def _cells(path):
    import jupytext

    nb = jupytext.read(path, fmt="py:percent")
    return [c.source for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem[:2])
def test_lesson_shows_a_widget_and_never_drives_it_afterwards(path):
    """Each of lessons 00–04 leaves a widget as a cell's last expression; no later cell sets a control of a
    displayed widget or redraws it (the saved pictures come from separate instances), so after Run All the
    student's widget is where its "Things to try" start."""
    cells = _cells(path)
    names = _widget_names(ast.parse("\n".join(cells)))
    shown = {}
    for i, src in enumerate(cells):
        body = ast.parse(src).body
        if body and isinstance(body[-1], ast.Expr) and isinstance(body[-1].value, ast.Name) \
                and body[-1].value.id in names:
            shown[body[-1].value.id] = i
    assert shown, f"{path.name}: no widget is displayed"
    for name, i in shown.items():
        for later in cells[i + 1:]:
            for node in ast.walk(ast.parse(later)):
                target = node.value if isinstance(node, ast.Attribute) else None
                while isinstance(target, ast.Attribute):
                    target = target.value
                if isinstance(target, ast.Name) and target.id == name:
                    pytest.fail(f"{path.name}: a cell after the one showing {name!r} uses it: "
                                f"{ast.unparse(node)!r}; draw a separate instance instead")


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem[:2])
def test_executed_lesson_has_a_widget_view(path):
    nb = json.loads((ROOT / "notebooks" / f"{path.stem}.ipynb").read_text(encoding="utf-8"))
    views = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, f"{path.stem}: no widget in the executed notebook"
    for o in views:
        text = "".join(o["data"].get("text/plain", ""))
        assert text.startswith("<") and text.endswith(">") and len(text) < 40, text  # short, fixed reprs
