"""cftkit.plots: each view draws the expected artists from plain inputs; the pure helpers compute the right thing."""

import ast
import io
import pathlib

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

import cftkit  # noqa: E402
import keras  # noqa: E402
from cftkit import plots  # noqa: E402

from conftest import LINEAR_C as C, LINEAR_W as W  # noqa: E402  # linear test model: logits = [0, W·(x1 − C)], boundary at x1 = C

pytestmark = pytest.mark.usefixtures("close_figures")


@pytest.fixture(scope="module")
def three_class():
    return cftkit.build_classifier(2, 3, hidden=(8,), seed=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 2.0, size=(60, 2)).astype(np.float32)
    return x, (x[:, 0] > C).astype(int)


@pytest.fixture(scope="module")
def result(linear, data):
    x = data[0][data[0][:, 0] < 0][:4]
    return cftkit.search(linear, x, [1] * len(x), generator="generic", max_steps=40, threshold=0.6,
                         return_path=True)


def _contours(ax):
    return [c for c in ax.collections if isinstance(c, ContourSet)]


def _gid(ax, gid):
    return [a for a in list(ax.collections) + list(ax.lines) if a.get_gid() == gid]


# ----------------------------------------------------------------------------- pure helpers
def test_plane_grid_and_limits():
    xx, yy, pts = plots.plane_grid((0, 1), (-2, 2), 5)
    assert xx.shape == yy.shape == (5, 5) and pts.shape == (25, 2) and pts.dtype == np.float32
    assert pts[:, 0].min() == 0 and pts[:, 1].max() == 2
    with pytest.raises(ValueError, match="resolution"):
        plots.plane_grid((0, 1), (0, 1), 1)
    with pytest.raises(ValueError, match="limits"):
        plots.plane_grid((1, 0), (0, 1), 5)
    assert plots.data_limits(np.array([[0, 1], [2, 3.0]]), padding=0.5) == ((-0.5, 2.5), (0.5, 3.5))


def test_decision_and_energy_surfaces(linear, three_class):
    s = plots.decision_surface(linear, (-1, 2), (-1, 1), resolution=31)
    assert s.kind == "proba" and s.n_classes == 2 and s.z.shape == (31, 31)
    p = 1 / (1 + np.exp(-W * (s.xx - C)))
    np.testing.assert_allclose(s.z, p, atol=1e-5)
    hard = plots.decision_surface(linear, (-1, 2), (-1, 1), resolution=11, proba=False)
    assert hard.kind == "class" and set(np.unique(hard.z)) == {0.0, 1.0}
    s3 = plots.decision_surface(three_class, (-1, 1), (-1, 1), resolution=11)
    assert s3.kind == "class" and s3.n_classes == 3 and set(np.unique(s3.z)) <= {0.0, 1.0, 2.0}
    e = plots.energy_surface(linear, 1, (-1, 2), (-1, 1), resolution=11)
    np.testing.assert_allclose(e.z, -W * (e.xx - C), atol=1e-5)
    assert e.kind == "energy" and e.target == 1
    with pytest.raises(ValueError, match="target"):
        plots.energy_surface(linear, 2, (-1, 2), (-1, 1), resolution=5)


def test_path_points_trims_to_steps(result):
    for i in range(len(result)):
        pts = plots.path_points(result, i)
        assert pts.shape == (int(result.steps[i]) + 1, 2)
        np.testing.assert_allclose(pts[0], result.factual[i])
        np.testing.assert_allclose(pts[-1], result.counterfactual[i], atol=1e-6)
    assert plots.path_points(result, 0, upto=1).shape == (2, 2)


def test_reachable_box():
    lo, hi = plots.reachable_box([0.5, 0.5, 0.5, 0.5], [0] * 4, [1] * 4, ["both", "increase", "decrease", "none"])
    np.testing.assert_allclose(lo, [0, 0.5, 0, 0.5])
    np.testing.assert_allclose(hi, [1, 1, 0.5, 0.5])


# ----------------------------------------------------------------------------- figures
def test_decision_boundary_binary(linear, data):
    x, y = data
    ax = plots.decision_boundary(linear, x, y, resolution=25, feature_names=("age", "income"), title="BL")
    assert isinstance(ax, plt.Axes)
    contours = _contours(ax)
    assert len(contours) == 2  # filled probability map + the p = 0.5 line
    assert list(contours[1].levels) == [0.5]
    scatters = [c for c in ax.collections if not isinstance(c, ContourSet)]
    assert len(scatters) == 2 and sum(len(c.get_offsets()) for c in scatters) == len(x)
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("age", "income", "BL")
    assert ax.get_legend() is not None


def test_decision_boundary_multiclass_and_options(three_class, data):
    x, _ = data
    y = np.arange(len(x)) % 3
    fig, ax = plt.subplots()
    out = plots.decision_boundary(three_class, x, y, ax=ax, resolution=20, max_points=10, legend=False)
    assert out is ax and _contours(ax)
    scatters = [c for c in ax.collections if not isinstance(c, ContourSet)]
    assert sum(len(c.get_offsets()) for c in scatters) == 10  # thinned deterministically
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.decision_boundary(three_class, np.zeros((5, 3)), np.zeros(5), resolution=5)
    with pytest.raises(ValueError, match=r"y must have one label per point of x \(%d\); got 5" % len(x)):
        plots.decision_boundary(three_class, x, y[:5], resolution=5)
    with pytest.raises(ValueError, match=r"y must hold integer class indices"):
        plots.decision_boundary(three_class, x, y + 0.5, resolution=5)
    probs = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match=r"model must return logits, but its output applies softmax"):
        plots.decision_boundary(probs, x, y, resolution=5)


def test_decision_boundary_is_deterministic(linear, data):
    def png():
        fig, ax = plt.subplots(figsize=(3, 3))
        plots.decision_boundary(linear, *data, ax=ax, resolution=20)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return buf.getvalue()

    assert png() == png()


def test_counterfactual_paths_artists(result):
    ax = plots.counterfactual_paths(result, epsilon=0.3)
    lines = _gid(ax, "cftkit-path")
    assert len(lines) == len(result)
    for i, line in enumerate(lines):
        assert len(line.get_xdata()) == int(result.steps[i]) + 1
    assert len(_gid(ax, "cftkit-factual")[0].get_offsets()) == len(result)
    n_mature = int(result.mature.sum())
    assert n_mature > 0
    assert len(_gid(ax, "cftkit-mature")[0].get_offsets()) == n_mature
    if n_mature < len(result):
        assert len(_gid(ax, "cftkit-not-mature")[0].get_offsets()) == len(result) - n_mature
    assert len(ax.patches) == len(result)  # one ε-square per factual
    assert _gid(ax, "cftkit-nascent")  # the first steps stay inside ε = 0.3
    assert not plots.counterfactual_paths(result, show_nascent=False, ax=plt.subplots()[1]).patches


def test_counterfactual_paths_reveal_and_dict_input(result):
    ax = plots.counterfactual_paths(result, upto=1, max_paths=2)
    lines = _gid(ax, "cftkit-path")
    assert len(lines) == 2 and all(len(line.get_xdata()) == 2 for line in lines)
    assert _gid(ax, "cftkit-current") and not _gid(ax, "cftkit-mature")  # not finished yet
    as_dict = {"path": result.path, "steps": result.steps}
    ax2 = plots.counterfactual_paths(as_dict, ax=plt.subplots()[1])
    assert len(_gid(ax2, "cftkit-path")) == len(result)
    no_path = cftkit.SearchResult(**{**result.__dict__, "path": None})
    with pytest.raises(ValueError, match="return_path=True"):
        plots.counterfactual_paths(no_path)


def test_energy_landscape(linear):
    ax = plots.energy_landscape(linear, 1, (-1, 2), (-1, 1), resolution=20)
    assert _contours(ax) and "energy" in ax.get_title()
    assert len(ax.figure.axes) == 2  # + colorbar
    assert ax.get_xlim() == (-1.0, 2.0)


def test_constraint_region(linear, data):
    ax = plots.decision_boundary(linear, *data, resolution=10)
    plots.constraint_region([-0.5, -0.5], [1.5, 0.8], ax=ax, factual=[0.0, 0.0], mutability=["increase", "both"])
    labels = [p.get_label() for p in ax.patches]
    assert labels == ["domain", "reachable"]
    reach = ax.patches[1]
    assert reach.get_x() == 0.0 and reach.get_width() == pytest.approx(1.5)
    plots.constraint_region([-0.5, -0.5], [1.5, 0.8], ax=ax, factual=[0.0, 0.0], mutability=["none", "both"])
    assert ax.lines[-1].get_label() == "reachable"  # an immutable feature leaves a line


HISTORY = {"loss": [1.0, 0.8, 0.7], "ct_clf": [0.6, 0.5, 0.45], "ct_div": [0.1, 0.05, 0.0],
           "ct_reg": [0.2, 0.1, 0.1], "ct_adv": [0.3, 0.3, 0.2], "ct_maturity": [0.2, 0.6, 0.9],
           "accuracy": [0.7, 0.8, 0.9], "ct_search_steps": [20.0, 10.0, 4.0]}


def test_training_history_panels():
    fig = plots.training_history(HISTORY)
    loss_ax, mat_ax, steps_ax = fig.axes
    assert [ax.get_title() for ax in fig.axes] == list(plots.HISTORY_PANELS)
    assert len(loss_ax.lines) == 5 and len(mat_ax.lines) == 2 and len(steps_ax.lines) == 1
    assert list(loss_ax.lines[0].get_xdata()) == [1, 2, 3]

    class FakeHistory:  # keras.callbacks.History-like
        history = {"loss": [1.0, 0.5]}

    fig2 = plots.training_history(FakeHistory(), keys=["loss", "val_loss"])
    assert len(fig2.axes) == 1 and len(fig2.axes[0].lines) == 1
    fig3 = plots.training_history({"loss": [1.0]})
    assert any(t.get_text() == "not recorded" for t in fig3.axes[2].texts)
    with pytest.raises(ValueError, match="axes"):
        plots.training_history(HISTORY, axes=[plt.subplots()[1]])
    with pytest.raises(TypeError):
        plots.training_history([1, 2])


def test_training_overview_with_boundary(linear, data):
    fig = plots.training_overview(HISTORY, model=linear, x=data[0], y=data[1], resolution=15, title="epoch 3")
    assert len(fig.axes) == 4 and fig.axes[3].get_title() == "decision boundary"
    assert _contours(fig.axes[3])
    assert len(plots.training_overview(HISTORY).axes) == 3  # no model/data: curves only


def test_compare_boundaries(linear, three_class, data, result):
    x, y = data
    fig = plots.compare_boundaries({"BL": linear, "CT": linear}, x, y, {"CT": result}, resolution=15)
    bl, ct = fig.axes
    assert (bl.get_title(), ct.get_title()) == ("BL", "CT")
    assert not _gid(bl, "cftkit-path") and len(_gid(ct, "cftkit-path")) == len(result)
    assert bl.get_xlim() == ct.get_xlim() and _contours(bl) and _contours(ct)
    assert fig.legends  # one shared legend below the panels
    with pytest.raises(ValueError, match="unknown models"):
        plots.compare_boundaries({"BL": linear}, x, y, {"CT": result})
    with pytest.raises(ValueError, match="need 2 axes; got 1"):
        plots.compare_boundaries({"BL": linear, "CT": linear}, x, y, axes=[plt.subplots()[1]])


def test_robust_accuracy_curves():
    eps = np.linspace(0, 0.1, 10)
    curves = {"BL": (eps, np.linspace(0.9, 0.2, 10)), "CT": {"epsilon": eps, "accuracy": np.linspace(0.9, 0.6, 10)}}
    ax = plots.robust_accuracy_curves(curves, title="Adult")
    assert [line.get_label() for line in ax.lines] == ["BL", "CT"]
    assert all(len(line.get_xdata()) == 10 for line in ax.lines)
    assert ax.get_title() == "Adult" and ax.get_ylabel() == "accuracy"
    with pytest.raises(ValueError, match="length"):
        plots.robust_accuracy_curves({"BL": ([0, 0.1], [1.0])})


def test_mnist_grid_and_mask_overlay():
    imgs = np.linspace(-1, 1, 5 * 784, dtype=np.float32).reshape(5, 784)
    fig = plots.mnist_grid(imgs, nrow=2, titles=list("abcde"))
    assert len(fig.axes) == 6  # 2 × 3 grid, the last cell empty
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5 and shown[0].images[0].get_array().shape == (28, 28)
    assert [ax.get_title() for ax in shown] == list("abcde")
    assert shown[0].images[0].get_clim() == (-1.0, 1.0)
    assert plots.mnist_grid(imgs.reshape(5, 28, 28), nrow=1).axes[0].images
    with pytest.raises(ValueError, match="images"):
        plots.mnist_grid(np.zeros((2, 10)), nrow=1)
    protected = list(range(0, 140)) + list(range(644, 784))
    ax = plots.protected_mask_overlay(imgs[0], protected)
    assert len(ax.images) == 2 and isinstance(ax.images[1], AxesImage)
    alpha = ax.images[1].get_array()[..., 3]
    assert (alpha > 0).sum() == len(protected) and alpha[:5].all() and not alpha[5:23].any()


def test_reduction_bars():
    table = {"IP": (40.0, (35.0, 3.0)), "IP*": (None, 60.0), "cost": (-5.0, -3.0)}
    ax = plots.reduction_bars(table, title="Moons")
    assert len(ax.containers) >= 2 and len(ax.patches) == 6
    assert [t.get_text() for t in ax.get_xticklabels()] == ["IP", "IP*", "cost"]
    assert not ax.patches[1].get_visible()  # "ours" IP* is missing
    assert ax.patches[0].get_height() == 40.0 and ax.patches[5].get_height() == -3.0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ours", "paper"]
    with pytest.raises(ValueError, match="needs 2 values"):
        plots.reduction_bars({"IP": (1.0,)})


def test_implausibility_illustration():
    ref = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]], np.float32)
    ax = plots.implausibility_illustration([1.0, 1.0], ref, max_lines=3)
    assert "2.000" in ax.get_title()  # mean ℓ1 distance: (2 + 2 + 2) / 3
    assert len(ax.lines) == 3


# ----------------------------------------------------------------------------- architecture
def test_core_never_imports_views():
    """architecture.md: matplotlib/ipywidgets and the view modules appear only in the views (and the CLI layer)."""
    root = pathlib.Path(cftkit.__file__).parent
    views = {"experiments.py", "cli.py", "__init__.py"}
    view_packages = {root / "plots", root / "widgets"}
    banned = ("matplotlib", "ipywidgets", "IPython", "cftkit.plots", "cftkit.widgets")
    offenders = []
    assert all(p.is_dir() for p in view_packages)
    for path in root.rglob("*.py"):
        if (path.parent == root and path.name in views) or path.parent in view_packages:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module or ''}.{a.name}" for a in node.names]
                names += [a.name for a in node.names if node.level and a.name in ("plots", "widgets")]
            else:
                continue
            if any(n.startswith(banned) or n in ("plots", "widgets") or n.endswith((".plots", ".widgets"))
                   for n in names):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, offenders
