# ---
# jupyter:
#   jupytext:
#     formats: ipynb,src//py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Actionability: domains and mutability
#
# [Open on Binder](https://mybinder.org/v2/gh/cftkit/cftkit/main?urlpath=lab/tree/notebooks/student/02_actionability.ipynb) · [Open in Colab](https://colab.research.google.com/github/cftkit/cftkit/blob/main/notebooks/student/02_actionability.ipynb) — the student version: exercises with
# checks, no solutions.
#
# A counterfactual that asks someone to become younger, or to move outside any realistic range, is
# useless. `cftkit.Constraints` describes, per feature,
#
# - a **domain** [lower, upper]: the search projects (clips) every step back into this box;
# - a **mutability**: `"both"`, `"increase"` (only up), `"decrease"` (only down) or `"none"`
#   (immutable). The search masks each step Δ accordingly *before* it is taken.
#
# **Learning goals**
# - build constraints and pass them to `cftkit.search`;
# - see that an immutable feature never changes and an increase-only feature never decreases;
# - explore how constraints reshape counterfactuals with the `ActionabilityExplorer` widget;
# - recognise when a constraint makes a counterfactual impossible.

# %%
# Colab only: install cftkit from its repository (it is not on PyPI), keeping Colab's own TensorFlow.
# Anywhere else (Binder, your own JupyterLab) this cell does nothing.
import importlib.util
import subprocess
import sys


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


if "google.colab" in sys.modules and not _importable("cftkit"):
    package = "cftkit" if _importable("tensorflow") else "cftkit[cpu]"  # never tensorflow-cpu beside tensorflow
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet",
                           f"{package} @ git+https://github.com/cftkit/cftkit"])
    importlib.invalidate_caches()

# %%
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow reads both variables when it is imported,
_ = os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # so they come before anything imports it

# %%
import logging

import keras
import matplotlib.pyplot as plt
import numpy as np

import cftkit
from cftkit import evaluation as ev, plots, widgets
from cftkit.exercises import lesson02 as ex  # the exercises' checks: ex.<name>.check(...), .hint(), .solution()

cftkit.seed_everything(0, threads=2)  # Python, NumPy, TF and Keras seeds; 2 threads give the same numbers everywhere
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # no "tf.function retracing" notes: cftkit traces one
                                                         # search graph per model and setting, on purpose

# %% [markdown]
# ## 1. A model and its domain
#
# The paper's *linearly separable* data: two Gaussian blobs that differ in **both** features, so
# there are many ways to cross the boundary. The domain is inferred from the training data
# (min/max, or mean ± 2 standard deviations if wider).

# %%
ds = cftkit.datasets.load("linearly_separable")
preset = cftkit.presets.get("linearly_separable")
x_train, y_train = ds.x_train[:600], ds.y_train[:600]
constraints = ds.constraints.expanded_to(ds.x_test)
print(constraints.feature_names, constraints.mutability)
print("lower", np.round(constraints.lower, 2), "upper", np.round(constraints.upper, 2))

# %%
ADAM_LR = 10 * preset.learning_rate  # 10x the paper's Adam step: seconds of training instead of minutes


def train(objective, epochs=30, **changes):
    """The paper's MLP (one hidden layer of 32 ReLUs), trained with `objective` on (x_train, y_train)."""
    model = cftkit.CounterfactualModel(cftkit.build_classifier(2, 2, seed=0), constraints=ds.constraints,
                                       **preset.replace(**changes).model_kwargs(objective))
    model.compile(optimizer=keras.optimizers.Adam(ADAM_LR, epsilon=preset.adam_epsilon), metrics=["accuracy"],
                  steps_per_execution=20)
    return model, model.fit(x_train, y_train, batch_size=preset.batch_size, epochs=epochs, shuffle=False, verbose=0)


# %%
model, _ = train("vanilla")
print(f"test accuracy {ev.accuracy(model, ds.x_test, ds.y_test):.3f}")

# %% [markdown]
# ## 2. Domains: the search stays inside the box
#
# Ten factuals of class 0 searched twice: with the inferred domain, and with x2 capped at 3.5.
# Under the cap the paths run into the wall and slide along it; `plots.constraint_region` draws the
# box (dashed).

# %%
factuals = ds.x_test[ds.y_test == 0][:10]
targets = np.ones(len(factuals), int)
capped = cftkit.Constraints(lower=constraints.lower, upper=[constraints.upper[0], 3.5],
                            feature_names=ds.feature_names)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True, layout="constrained")
for ax, (title, c) in zip(axes, {"inferred domain": constraints, "x2 ≤ 3.5": capped}.items()):
    r = cftkit.search(model, factuals, targets, constraints=c, return_path=True)
    plots.decision_boundary(model, ds.x_test, ds.y_test, ax=ax, max_points=300, legend=False, title=title)
    plots.constraint_region(c.lower, c.upper, ax=ax)
    plots.counterfactual_paths(r, ax=ax, legend=False)
    print(f"{title}: max x2 of the counterfactuals {r.counterfactual[:, 1].max():.3f}, mature {r.mature.mean():.2f}")
plt.show()

# %% [markdown]
# ## 3. Mutability: immutable and increase-only features
#
# `with_mutability`/`with_immutable` return modified copies. Below, five factuals of each class
# under three settings. With x1 immutable every path is vertical. With x2 increase-only, the paths
# from class 0 (which go up anyway) are unchanged, while those from class 1 may no longer go down and
# run horizontally instead.

# %%
factuals = np.r_[ds.x_test[ds.y_test == 0][:5], ds.x_test[ds.y_test == 1][:5]]
targets = np.r_[np.ones(5, int), np.zeros(5, int)]
settings = {"both free": constraints,
            "x1 immutable": constraints.with_immutable(["x1"]),
            "x2 increase-only": constraints.with_mutability(["x2"], "increase")}
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharey=True, layout="constrained")
for ax, (title, c) in zip(axes, settings.items()):
    r = cftkit.search(model, factuals, targets, constraints=c, return_path=True)
    plots.decision_boundary(model, ds.x_test, ds.y_test, ax=ax, max_points=300, legend=False, title=title)
    plots.counterfactual_paths(r, ax=ax, legend=False)
plt.show()

# %% [markdown]
# Pictures can mislead, so check the promise on every test point, in both directions (class 0 → 1
# and 1 → 0):

# %%
x_all, t_all = ds.x_test, 1 - ev.predict(model, ds.x_test)
for title, c in settings.items():
    r = cftkit.search(model, x_all, t_all, constraints=c)
    delta = r.counterfactual - x_all
    print(f"{title:17s}: max |Δx1| {np.abs(delta[:, 0]).max():.3f}, min Δx2 {delta[:, 1].min():+.3f}, "
          f"mature {r.mature.mean():.2f}")

# %% [markdown]
# With x1 immutable, |Δx1| is exactly 0 for all 900 counterfactuals; with x2 increase-only, Δx2 is
# never negative. Some counterfactuals become **impossible**: with x1 fixed, a point at the far left
# of class 0 (or the far right of class 1) would have to leave the domain in x2 to cross the
# boundary, so its search stops at the wall without reaching τ (not mature). The next figure shows
# which ones.

# %%
r = cftkit.search(model, x_all, t_all, constraints=settings["x1 immutable"])
ax = plots.decision_boundary(model, x_all, ds.y_test, max_points=300, legend=False,
                             title=f"x1 immutable: {(~r.mature).sum()} searches failed")
ax.scatter(*x_all[~r.mature].T, s=40, marker="X", color="k", label="not mature")
plots.place_legend(ax, "outside")
plt.show()

# %% [markdown]
# ### Exercise 1 — The mutability mask by hand
#
# Before every step the search masks the step Δ = −η∇ feature by feature, so that no feature moves in a
# direction its mutability forbids. Write `mask_step(delta, mutability)`: for steps `delta` of shape `(N, D)`
# and one mutability per feature (`"both"`, `"increase"`, `"decrease"` or `"none"`), return the masked
# steps as a new array (leave `delta` itself unchanged).
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.mask_step.hint()` gives a hint,
# `ex.mask_step.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "mask_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mask_step(delta, mutability):
    """The steps Δ (N, D) with each feature's change limited by its mutability ("both", "increase",
    "decrease" or "none"), as the search masks every step before it takes it."""
    ### BEGIN SOLUTION
    delta = np.array(delta, dtype=float)
    for j, m in enumerate(mutability):
        if m == "increase":
            delta[:, j] = np.maximum(delta[:, j], 0.0)
        elif m == "decrease":
            delta[:, j] = np.minimum(delta[:, j], 0.0)
        elif m == "none":
            delta[:, j] = 0.0
    return delta
    ### END SOLUTION


print(mask_step([[0.5, -0.5], [-0.2, 0.3]], ["increase", "none"]))

# %% nbgrader={"grade": true, "grade_id": "mask_step_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.mask_step.assert_correct(mask_step, settings=settings)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.mask_step.assert_hidden(mask_step, settings=settings)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Explore it yourself: `ActionabilityExplorer`
#
# In a live notebook: choose each feature's mutability, narrow its domain with the range sliders and
# move the factual with the two *factual* sliders (inline images take no clicks). The green region
# is what the factual can reach under the constraints; the summary line says whether the search
# succeeded.

# %%
explorer = widgets.ActionabilityExplorer(model, ds, index=0)
explorer

# %% [markdown]
# Widgets need a running kernel (a notebook viewed without one shows none), so here is also, as a
# plain picture, a second explorer with x1 made immutable from code (the explorer above stays as you left it): the reachable region collapses to a vertical line
# through the factual.

# %%
fixed_x1 = widgets.ActionabilityExplorer(model, ds, index=0)
fixed_x1.mutability[0].value = "none"
display(fixed_x1.draw())
print(f"Δ = {np.round(fixed_x1.current_result.counterfactual[0] - fixed_x1.factual(), 3)}, "
      f"mature {fixed_x1.current_result.mature[0]}")

# %% [markdown]
# ### Exercise 2 — Decrease-only
#
# Make **x1 decrease-only** (x2 stays free) and search counterfactuals for all test points (`x_all`, targets
# `t_all`). Store the largest change of x1, Δx1 = x′₁ − x₁, in `max_dx1` (no counterfactual may increase x1,
# so it must be ≤ 0) and the share of mature counterfactuals per target class in
# `mature_by_target = {0: …, 1: …}`. Which direction of change (0 → 1 or 1 → 0) suffers, and why?
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.decrease_only.hint()` gives a hint,
# `ex.decrease_only.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "decrease_only", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
decrease = constraints.with_mutability(["x1"], "decrease")
r = cftkit.search(model, x_all, t_all, constraints=decrease)
max_dx1 = float((r.counterfactual - x_all)[:, 0].max())
mature_by_target = {t: float(r.mature[t_all == t].mean()) for t in (0, 1)}
### END SOLUTION
print(f"max Δx1 {max_dx1:+.3f}; mature: " + ", ".join(f"target {t} {v:.2f}" for t, v in mature_by_target.items()))

# %% nbgrader={"grade": true, "grade_id": "decrease_only_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.decrease_only.assert_correct(max_dx1, mature_by_target, model=model, x=x_all, targets=t_all, constraints=constraints)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.decrease_only.assert_hidden(max_dx1, mature_by_target, model=model, x=x_all, targets=t_all, constraints=constraints)
### END HIDDEN TESTS

# %% [markdown]
# ## What to try next
#
# - In the explorer, make *both* features immutable: what does the search return?
# - Put a factual outside a narrowed domain with the sliders: the explorer first clips it onto the
#   domain (the summary says so). Where do you see the same clipping in `cftkit.search`'s loop?
# - During counterfactual **training**, the same constraints also protect features in the loss
#   (`cftkit.training.protect`): lesson 03 shows the loss terms, and the paper's "mutability" runs
#   train with protected features.
